//! What each write costs: one more full load with chathook under `strace`, counting the
//! journal's syncs (its WAL's: commits and checkpoints; its database file's: checkpoints)
//! made while wrk ran.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::{drain, remove_journal};
use crate::bench::Bench;
use crate::scenario::Scenario;
use crate::wrk::{self, Measured};

/// What the journal's syncs cost during a load, by `strace`.
#[derive(Clone, Debug)]
pub(crate) struct WriteCost {
    /// What wrk measured during the probe (chathook under strace).
    pub measured: Measured,
    /// Seconds of load.
    pub secs: f64,
    /// Syncs of the journal's WAL during the load: one per commit, and one per checkpoint.
    pub wal_syncs: u64,
    /// Syncs of the journal's database file during the load: one per checkpoint.
    pub database_syncs: u64,
}

impl WriteCost {
    /// Commits: the WAL's syncs less those of checkpoints.
    pub(crate) fn commits(&self) -> u64 {
        self.wal_syncs.saturating_sub(self.database_syncs)
    }

    /// Commits per second of load.
    pub(crate) fn commits_per_sec(&self) -> f64 {
        self.commits() as f64 / self.secs.max(1e-3)
    }

    /// Callbacks acknowledged per commit (the appends', claims' and settlements' commits all
    /// counted).
    pub(crate) fn callbacks_per_commit(&self) -> f64 {
        self.measured.acked as f64 / self.commits().max(1) as f64
    }
}

impl Bench {
    /// One more full load of `scenario` with chathook under `strace`, counting the journal's
    /// syncs made while wrk ran.
    pub(crate) fn write_cost(
        &mut self,
        scenario: &Scenario,
        handler: &'static str,
        script: &Path,
    ) -> anyhow::Result<WriteCost> {
        crate::apt::ensure_installed("strace", "-V", "strace")?;
        let trace = self
            .work
            .path()
            .join(format!("{}-syncs.strace", scenario.spec.key));
        let started = self.start_chathook(scenario, None, None, self.duration, Some(&trace))?;
        let port = started.server.port;
        let load_began = unix_secs();
        let measured = wrk::drive(
            &self.pinning,
            script,
            &started.server,
            &started.query,
            self.connections,
            self.duration,
        )?;
        let load_ended = unix_secs();
        drain(port, handler, measured.acked)?;
        // strace is the child; chathook, its tracee, is the one to stop.
        let pid = crate::jetstream::listening_pid(&format!("127.0.0.1:{port}"))
            .context("chathook under strace is not listening")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        let mut server = started.server;
        server.child.wait()?;
        if let Some(journal) = &started.journal {
            remove_journal(journal)?;
        }
        let trace_text = std::fs::read_to_string(&trace)
            .with_context(|| format!("cannot read {}", trace.display()))?;
        std::fs::remove_file(&trace)?;
        let (wal_syncs, database_syncs) = count_syncs(&trace_text, load_began, load_ended);
        Ok(WriteCost {
            measured,
            secs: load_ended - load_began,
            wal_syncs,
            database_syncs,
        })
    }
}

/// The syncs of a `strace -f -ttt -y` trace made between `from` and `until` (Unix seconds):
/// of a `-wal` file, and of a `.db` file.
fn count_syncs(trace: &str, from: f64, until: f64) -> (u64, u64) {
    let (mut wal, mut database) = (0, 0);
    for line in trace.lines() {
        let Some(time) = line.split_whitespace().find_map(|token| {
            token
                .contains('.')
                .then(|| token.parse::<f64>().ok())
                .flatten()
        }) else {
            continue;
        };
        if !(from..=until).contains(&time) {
            continue;
        }
        let Some(file) = line
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(file, _)| file)
        else {
            continue;
        };
        if file.ends_with("-wal") {
            wal += 1;
        } else if file.ends_with(".db") {
            database += 1;
        }
    }
    (wal, database)
}

/// Now, in Unix seconds.
fn unix_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}
