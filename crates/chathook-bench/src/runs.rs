//! One run of a scenario's two servers: the bare baseline, then chathook configured for the
//! scenario, each started pinned, driven by wrk and stopped.

use std::path::{Path, PathBuf};

use crate::bench::Bench;
use crate::jetstream::{JetStreamRun, listening_pid};
use crate::queued::{self, Drained};
use crate::receiver::Receiver;
use crate::scenario::{Scenario, durability_name};
use crate::server::{Server, free_port, handled_ok, metric_value, process_cpu_secs};
use crate::wrk::{self, Measured};
use crate::{APP_ID, TOKEN};

impl Bench {
    /// The bare axum baseline driven with the scenario's requests for `--duration`.
    pub(crate) fn baseline(&self, scenario: &Scenario, script: &Path) -> anyhow::Result<Measured> {
        let port = free_port()?;
        let mut server = self.pinning.server(&self.exe);
        server.args(["baseline", &format!("127.0.0.1:{port}")]);
        let baseline_server = Server::start(server, port)?;
        let query = format!(
            "SdkAppid={APP_ID}&CallbackCommand={}",
            scenario.spec.command
        );
        wrk::drive(
            &self.pinning,
            script,
            &baseline_server,
            &query,
            self.connections,
            self.duration,
        )
    }

    /// chathook serving the scenario, driven by wrk, then stopped as in production; for a
    /// queued scenario, stopped only once its deliveries are drained.
    pub(crate) fn chathook(
        &self,
        scenario: &Scenario,
        script: &Path,
        database: Option<&str>,
        stream: Option<&JetStreamRun>,
    ) -> anyhow::Result<ChathookRun> {
        let secs = if scenario.spec.soak {
            self.soak_secs
        } else {
            self.duration
        };
        let started = self.start_chathook(scenario, database, stream, secs, None)?;
        let port = started.server.port;
        // NATS's own CPU time while wrk drives chathook; NATS is not pinned.
        let nats_pid = stream.and_then(|stream| listening_pid(&stream.url));
        let nats_cpu_before = nats_pid.map(process_cpu_secs).transpose()?;
        let measured = wrk::drive(
            &self.pinning,
            script,
            &started.server,
            &started.query,
            self.connections,
            secs,
        )?;
        let nats_cpu_secs = match (nats_pid, nats_cpu_before) {
            (Some(pid), Some(before)) => Some(process_cpu_secs(pid)? - before),
            _ => None,
        };
        let spooled = stream
            .map(|_| metric_value(port, "chathook_nats_spooled_total"))
            .transpose()?;
        let handled = scenario
            .spec
            .handled_by
            .iter()
            .map(|&name| Ok((name, handled_ok(port, name)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut drained = scenario
            .spec
            .queued
            .map(|handler| queued::drain(port, handler, measured.acked))
            .transpose()?;
        let peak_rss_mib = started.server.peak_rss_mib()?;
        started.server.stop()?;
        if let (Some(drained), Some(journal)) = (drained.as_mut(), &started.journal) {
            drained.disk_bytes = queued::remove_journal(journal)?;
        }
        Ok(ChathookRun {
            measured,
            peak_rss_mib,
            handled,
            spooled,
            nats_cpu_secs,
            drained,
        })
    }

    /// chathook started for `scenario`, listening; under `strace` writing to `traced` when
    /// given (the write-cost probe).
    pub(crate) fn start_chathook(
        &self,
        scenario: &Scenario,
        database: Option<&str>,
        stream: Option<&JetStreamRun>,
        secs: u64,
        traced: Option<&Path>,
    ) -> anyhow::Result<Started> {
        let port = free_port()?;
        let journal = scenario.spec.queued.map(|_| {
            self.work
                .path()
                .join(format!("{}-journal-{port}.db", scenario.spec.key))
        });
        let config = self.work.path().join(format!("{}.toml", scenario.spec.key));
        let mut toml = chathook_config(port, scenario, database, stream, secs);
        if let Some(journal) = &journal {
            toml = toml.replace("{journal}", &format!("sqlite://{}", journal.display()));
        }
        let receiver = toml
            .contains("{receiver}")
            .then(Receiver::start)
            .transpose()?;
        if let Some(receiver) = &receiver {
            toml = toml.replace("{receiver}", &receiver.url());
        }
        std::fs::write(&config, toml)?;
        let mut server = match traced {
            Some(output) => {
                let mut strace = self.pinning.server(Path::new("strace"));
                // Only the syncs stop the process (seccomp-bpf), and `-y` names each one's
                // file, so the WAL's (commits) and the database's (checkpoints) can be told
                // apart.
                strace
                    .args(["-f", "--seccomp-bpf", "-qq", "-ttt", "-y", "-e"])
                    .arg("trace=fsync,fdatasync")
                    .arg("-o")
                    .arg(output)
                    .arg(&self.exe);
                strace
            }
            None => self.pinning.server(&self.exe),
        };
        server
            .arg("chathook")
            .arg("serve")
            .arg("--config")
            .arg(&config);
        let server = Server::start(server, port)?;
        Ok(Started {
            server,
            query: signed_query(scenario.spec.command),
            journal,
            _receiver: receiver,
        })
    }
}

/// chathook as [`Bench::start_chathook`] started it.
pub(crate) struct Started {
    /// The server (or strace, tracing it).
    pub server: Server,
    /// The signed query string of the scenario's command, valid for the run.
    pub query: String,
    /// The journal file, for a queued scenario.
    pub journal: Option<PathBuf>,
    /// The forwarding scenario's receiver, serving as long as chathook may forward to it.
    _receiver: Option<Receiver>,
}

/// The query string Chat would send for `command`, signed now.
fn signed_query(command: &str) -> String {
    let time = chathook_core::auth::unix_now();
    format!(
        "SdkAppid={APP_ID}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Android&Sign={}&RequestTime={time}",
        chathook_core::auth::sign(TOKEN, time)
    )
}

/// What one chathook run gave.
pub(crate) struct ChathookRun {
    /// What wrk measured.
    pub measured: Measured,
    /// chathook's peak resident memory.
    pub peak_rss_mib: f64,
    /// Each handler of `handled_by`'s successful calls.
    pub handled: Vec<(&'static str, u64)>,
    /// `chathook_nats_spooled_total`, for the JetStream scenario.
    pub spooled: Option<u64>,
    /// The NATS server's CPU time while wrk ran, when its process was found.
    pub nats_cpu_secs: Option<f64>,
    /// For a queued scenario: its deliveries once drained.
    pub drained: Option<Drained>,
}

/// chathook's config for a scenario. The query string is signed once per run, so the accepted
/// clock skew must outlast the run.
fn chathook_config(
    port: u16,
    scenario: &Scenario,
    database: Option<&str>,
    stream: Option<&JetStreamRun>,
    secs: u64,
) -> String {
    let mut handlers = scenario
        .spec
        .handlers
        .replace("{db}", database.unwrap_or(""))
        .replace("{durability}", durability_name(scenario.spec.durability));
    if let Some(stream) = stream {
        handlers = handlers
            .replace("{nats}", &stream.url)
            .replace("{stream}", &stream.name)
            .replace("{prefix}", &stream.prefix)
            .replace("{spool}", &stream.spool.display().to_string());
    }
    let skew = secs + 60;
    // The default size.
    let console = console_toml(scenario.spec.recent.then_some(1000));
    format!(
        "[server]\nlisten_addr = \"127.0.0.1:{port}\"\n\n[auth]\nmax_clock_skew_secs = {skew}\n\n\
         [apps.bench]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\n{console}\n{handlers}"
    )
}

/// `[console]` (and `[api]`) of a chathook config: a recent-callbacks buffer of `recent`
/// records, or none. It is kept only while an API token can read it.
pub(crate) fn console_toml(recent: Option<usize>) -> String {
    match recent {
        Some(recent) => {
            format!("[api]\ntokens = [\"bench-api-token\"]\n\n[console]\nrecent = {recent}\n")
        }
        None => "[console]\nrecent = 0\n".into(),
    }
}
