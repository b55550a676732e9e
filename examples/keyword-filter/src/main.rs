//! A team's own chathook binary: every stock plugin (through the `chathook` library) plus the
//! keyword filter. Run it like the stock one: `example-keyword-filter serve --config PATH`.

// The link line: without it the linker drops the filter's registration.
use example_keyword_filter as _;

fn main() -> std::process::ExitCode {
    chathook::main()
}
