//! The stock `chathook` binary: the CLI of `chathook-cli` with the stock plugins.

// The link list is this package's library (src/plugins.rs): naming it keeps its plugins.
use chathook as _;

fn main() -> std::process::ExitCode {
    chathook_cli::main()
}
