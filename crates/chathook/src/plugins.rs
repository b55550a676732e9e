//! chathook: the stock binary, and as a library the link list: every plugin crate the stock
//! `chathook` carries. A binary that names this crate (`use chathook as _;`) links exactly
//! these, as the test server and the integration tests do.
//!
//! The linker drops the registrations of a crate that nothing names, so a plugin listed only
//! in Cargo.toml would silently serve nothing. Each plugin crate gets one `use ... as _;` line
//! here, and `tests/integration` asserts the exact set of linked handlers.

use chathook_console as _;
use chathook_http_forward as _;
use chathook_nats as _;
use chathook_read_receipt as _;
