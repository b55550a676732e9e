//! CPU pinning: the bench machine has 2 cores, and a server sharing its core with wrk would
//! measure wrk's cost as its own. `taskset` puts the server under test on one and wrk on the
//! other. A deployment runs unpinned, though, with the server's worker threads free to wake
//! each other across cores, which a pinned server (one worker) never does: so every scenario
//! also runs [`Placement::Unpinned`], the servers and wrk free on every CPU.

use std::path::Path;
use std::process::{Command, Stdio};

/// Where a run's servers and load generator may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Placement {
    /// The server on one CPU, wrk on another.
    Pinned,
    /// Both free on every CPU, as a deployment runs.
    Unpinned,
}

impl Placement {
    /// For the table and the progress lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Placement::Pinned => "pinned",
            Placement::Unpinned => "unpinned",
        }
    }
}

/// `--pinning`: which placements every scenario runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PinningChoice {
    Pinned,
    Unpinned,
    /// Pinned, then unpinned, each scenario's runs back to back.
    Both,
}

impl PinningChoice {
    pub(crate) fn placements(self) -> &'static [Placement] {
        match self {
            PinningChoice::Pinned => &[Placement::Pinned],
            PinningChoice::Unpinned => &[Placement::Unpinned],
            PinningChoice::Both => &[Placement::Pinned, Placement::Unpinned],
        }
    }
}

/// The bench machine has 2 cores: pinned, the server under test gets one, wrk the other.
pub(crate) struct Pinning {
    /// The first two CPUs this process may run on, when taskset can pin to them.
    pair: Option<(usize, usize)>,
    /// Whether the servers and wrk are pinned to `pair` now.
    pub(crate) placement: Placement,
}

impl Pinning {
    /// Pins when taskset is there and this process may use two CPUs or more.
    pub(crate) fn detect() -> Self {
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let cpus = allowed_cpus();
        let pair = match cpus.as_slice() {
            [server, load, ..] if taskset => Some((*server, *load)),
            _ => None,
        };
        Self {
            pair,
            placement: Placement::Pinned,
        }
    }

    /// How `placement` puts the servers and wrk, for the report's first line.
    pub(crate) fn describe(&self, placement: Placement) -> String {
        match (placement, self.pair) {
            (Placement::Unpinned, _) => "unpinned: servers and wrk free on every CPU".into(),
            (Placement::Pinned, Some((server, load))) => {
                format!("pinned: server on CPU {server}, wrk on CPU {load}")
            }
            (Placement::Pinned, None) => {
                "pinned asked, not possible (taskset missing or fewer than 2 CPUs)".into()
            }
        }
    }

    fn pinned(&self, cpu: Option<usize>, program: &Path) -> Command {
        let cpu = cpu.filter(|_| self.placement == Placement::Pinned);
        match cpu {
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.args(["-c", &cpu.to_string()]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// `exe` on the server's CPU (when pinned).
    pub(crate) fn server(&self, exe: &Path) -> Command {
        self.pinned(self.pair.map(|(server, _)| server), exe)
    }

    /// wrk on the other CPU (when pinned).
    pub(crate) fn load(&self) -> Command {
        self.load_program(Path::new("wrk"))
    }

    /// Another load generator (the paced driver) on wrk's CPU.
    pub(crate) fn load_program(&self, program: &Path) -> Command {
        self.pinned(self.pair.map(|(_, load)| load), program)
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list`, e.g. `0-1` or `2,5-7`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
    else {
        return Vec::new();
    };
    list.trim()
        .split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((first, last)) => Some(first.parse().ok()?..=last.parse().ok()?),
            None => {
                let cpu = part.parse().ok()?;
                Some(cpu..=cpu)
            }
        })
        .flatten()
        .collect()
}
