//! The link list: every plugin crate the stock `chathook` binary carries.
//!
//! The linker drops the registrations of a crate that nothing names, so a plugin listed only
//! in Cargo.toml would silently serve nothing. Each plugin crate gets one `use ... as _;` line
//! here, and `tests/integration` asserts the exact set of linked handlers.

use chathook_console as _;
use chathook_nats as _;
use chathook_read_receipt as _;
