//! The bench's outside tools (wrk, valgrind) from Debian's packages when they are missing, so
//! that a fresh CI machine or container runs the bench with no setup step.

use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

/// Makes sure `program` runs, installing Debian's `package` with apt-get if it does not.
/// `probe` is an argument the program accepts without side effects (`--version`); only whether
/// the program starts is judged, since `wrk --version` exits non-zero.
pub(crate) fn ensure_installed(program: &str, probe: &str, package: &str) -> anyhow::Result<()> {
    let present = || {
        Command::new(program)
            .arg(probe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if present() {
        return Ok(());
    }
    println!("{program} is missing; installing it from Debian's packages");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", package][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("cannot run apt-get")?;
        ensure!(
            status.success(),
            "apt-get {} failed: install {program} by hand (apt-get install {package})",
            args.join(" ")
        );
    }
    ensure!(present(), "{program} still missing after apt-get install");
    Ok(())
}
