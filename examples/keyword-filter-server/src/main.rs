//! A team's own chathook binary: the chathook CLI with the keyword filter linked, and none of
//! the stock plugins (so neither sqlx nor async-nats is built). Run it like the stock one:
//! `cargo run -p example-keyword-filter-server -- serve --config PATH`.

// The link list: without a line here the linker drops a plugin's registration. A stock plugin
// joins with its own line (`use chathook_read_receipt as _;`) and its Cargo.toml dependency.
use example_keyword_filter as _;

fn main() -> std::process::ExitCode {
    chathook_cli::main()
}
