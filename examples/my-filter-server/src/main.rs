//! Our chathook: the chathook command line with the plugins we link, and nothing else.

// The link list. The linker drops the registrations of a crate nothing names, so each plugin
// this binary serves gets a line; a stock plugin the same way (`use chathook_read_receipt as _;`).
use example_my_filter as _;

fn main() -> std::process::ExitCode {
    chathook_cli::main()
}
