//! The stock `chathook` binary: the core plus the plugins in the link list.

fn main() -> std::process::ExitCode {
    chathook::main()
}
