//! Scenario (f)'s JetStream side: a stream of its own per run, counted and deleted afterwards,
//! and the NATS server's process found so that its CPU time can be noted.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Scenario (f)'s stream on the NATS server: created by chathook's `nats` handler at start-up
/// (`stream_setup = "create"`), counted and deleted by the bench, deleted on drop if a run is
/// cut short.
pub(crate) struct JetStreamRun {
    /// The NATS server.
    pub url: String,
    /// The run's stream.
    pub name: String,
    /// The run's subject prefix.
    pub prefix: String,
    /// chathook's spool file for the run.
    pub spool: PathBuf,
    deleted: bool,
}

impl JetStreamRun {
    /// A stream name and subject prefix no other run uses, and a spool in `dir`.
    pub(crate) fn new(url: &str, dir: &Path) -> Self {
        let id = format!("{}_{}", std::process::id(), chathook_core::auth::unix_now());
        Self {
            url: url.to_owned(),
            name: format!("CHATHOOK_BENCH_{id}"),
            prefix: format!("chathook_bench_{id}"),
            spool: dir.join("nats-spool.db"),
            deleted: false,
        }
    }

    /// The messages the stream holds; the stream is deleted whether or not counting worked.
    pub(crate) async fn count_and_delete(&mut self) -> anyhow::Result<u64> {
        let client = async_nats::connect(&self.url)
            .await
            .with_context(|| format!("NATS at {} (set --nats-url)", self.url))?;
        let context = async_nats::jetstream::new(client);
        let counted = async {
            let mut stream = context.get_stream(&self.name).await?;
            anyhow::Ok(stream.info().await?.state.messages)
        }
        .await;
        context.delete_stream(&self.name).await?;
        self.deleted = true;
        counted
    }
}

impl Drop for JetStreamRun {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _ = runtime.block_on(async {
            let context = async_nats::jetstream::new(async_nats::connect(&self.url).await?);
            context.delete_stream(&self.name).await?;
            anyhow::Ok(())
        });
    }
}

/// The process listening on the port of `url`, found through `/proc`: the listening socket's
/// inode in `/proc/net/tcp{,6}`, then the process holding a descriptor on it. `None` when it is
/// not visible (another user's process, another network namespace, a remote server).
pub(crate) fn listening_pid(url: &str) -> Option<u32> {
    let port: u16 = url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(&"0A"), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listens_on_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
                == Some(port);
            if listens_on_port {
                sockets.push(PathBuf::from(format!("socket:[{inode}]")));
            }
        }
    }
    if sockets.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| sockets.contains(&link)) {
                return Some(pid);
            }
        }
    }
    None
}

/// What scenario (f) found once the run was over.
pub(crate) struct JetStreamResult {
    /// Messages in the stream.
    pub held: u64,
    /// `chathook_nats_spooled_total`: callbacks that went to the spool instead.
    pub spooled: u64,
    /// The NATS server's CPU time per stored callback while wrk ran, when its process was
    /// found.
    pub nats_cpu_us_per_callback: Option<f64>,
}
