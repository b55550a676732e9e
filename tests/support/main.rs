//! `chathook-test-server`: the stock chathook CLI with the test-only handlers linked, built the
//! way a team builds its own binary.

use chathook_tests as _;

fn main() -> std::process::ExitCode {
    chathook::main()
}
