//! `chathook-test-server`: the stock chathook CLI with the test-only handlers linked, built the
//! way a team builds its own binary.

// The stock link list, and the test-only handlers of this package's library.
use chathook as _;
use chathook_tests as _;

fn main() -> std::process::ExitCode {
    chathook_cli::main()
}
