//! The queued scenario (p): chathook answers once a callback is in the journal, and a worker
//! delivers it to the queued handler afterwards. After each load this waits for the handler's
//! pending deliveries to reach 0 and checks from `/metrics` that every acknowledged callback
//! was delivered; a second phase drives it at a fixed rate, half of (b)'s throughput, for the
//! delivery lag (from the lag histogram's buckets and, exactly, from the journal file's
//! arrival and delivery times); a probe under `strace` counts the journal's syncs during a
//! load, which is what each write costs.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::bench::Bench;
use crate::paced::{self, PacedMeasured};
use crate::scenario::Scenario;
use crate::server::{labelled_series, labelled_value, metrics};
use crate::wrk::{self, Measured};

/// How long the deliveries may take to drain after a load.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// chathook refreshes the pending and journal gauges every 2 s: a read this long after the load
/// ended comes from a refresh made after it.
const GAUGE_REFRESH: Duration = Duration::from_millis(2500);

/// A queued handler's deliveries, by `/metrics`, once drained (or when the wait gave up).
#[derive(Clone, Debug, Default)]
pub(crate) struct Drained {
    /// Successful attempts.
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Deliveries that became dead letters.
    pub dead: u64,
    /// Deliveries still pending at the last read.
    pub pending: u64,
    /// Entries the journal holds (one per callback: a single queued handler).
    pub journaled: u64,
    /// The lag histogram: (upper bound in seconds, cumulative count), in rising order.
    pub lag_buckets: Vec<(f64, u64)>,
    /// The journal file's size (with its WAL) after the run.
    pub disk_bytes: u64,
}

impl Drained {
    /// Whether every acknowledged callback of `acked`, out of `sent`, was delivered exactly
    /// once and nothing is left over.
    pub(crate) fn all_delivered(&self, acked: u64, sent: u64) -> bool {
        (acked..=sent).contains(&self.delivered)
            && self.delivered == self.journaled
            && self.dead == 0
            && self.pending == 0
    }
}

/// Waits, polling `/metrics` with a deadline, until `handler` has no pending deliveries and
/// every journaled entry (at least `acked`) is delivered or dead; returns the last read either
/// way, for the checks to judge.
pub(crate) fn drain(port: u16, handler: &str, acked: u64) -> anyhow::Result<Drained> {
    let load_ended = Instant::now();
    loop {
        let read = read_deliveries(port, handler)?;
        let settled = read.pending == 0
            && read.journaled == read.delivered + read.dead
            && read.delivered + read.dead >= acked;
        if (settled && load_ended.elapsed() >= GAUGE_REFRESH) || load_ended.elapsed() > DRAIN_LIMIT
        {
            return Ok(read);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `handler`'s delivery series from the chathook listening on `port`.
fn read_deliveries(port: u16, handler: &str) -> anyhow::Result<Drained> {
    let response = metrics(port)?;
    let handler_label = format!("handler=\"{handler}\"");
    let attempts = |result: &str| -> anyhow::Result<u64> {
        let result_label = format!("result=\"{result}\"");
        labelled_value(
            &response,
            "chathook_delivery_attempts_total",
            &[&handler_label, &result_label],
        )
        .map(|value| value as u64)
        .with_context(|| format!("no delivery attempts of {handler} ({result}) in /metrics"))
    };
    let pending = labelled_value(&response, "chathook_deliveries_pending", &[&handler_label])
        .with_context(|| format!("no pending deliveries of {handler} in /metrics"))?;
    let journaled = response
        .lines()
        .find_map(|line| {
            line.strip_prefix("chathook_journal_entries ")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .context("no chathook_journal_entries in /metrics")?;
    let mut lag_buckets: Vec<(f64, u64)> =
        labelled_series(&response, "chathook_delivery_lag_seconds_bucket")
            .filter(|(labels, _)| labels.contains(&handler_label.as_str()))
            .filter_map(|(labels, count)| {
                let bound = labels
                    .iter()
                    .find_map(|label| label.strip_prefix("le=\""))?
                    .trim_end_matches('"');
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, count as u64))
            })
            .collect();
    lag_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Drained {
        delivered: attempts("delivered")?,
        retried: attempts("retry")?,
        dead: attempts("dead")?,
        pending: pending as u64,
        journaled: journaled as u64,
        lag_buckets,
        disk_bytes: 0,
    })
}

/// The upper bound, in seconds, of the bucket the `quantile` falls in; `None` when empty.
pub(crate) fn bucket_quantile(buckets: &[(f64, u64)], quantile: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 * quantile).ceil() as u64).max(1);
    buckets
        .iter()
        .find(|(_, cumulative)| *cumulative >= rank)
        .map(|(bound, _)| *bound)
}

/// Adds `more`'s counts to `total`'s, bucket by bucket (the runs' histograms as one).
pub(crate) fn add_buckets(total: &mut Vec<(f64, u64)>, more: &[(f64, u64)]) {
    if total.is_empty() {
        total.extend_from_slice(more);
        return;
    }
    for ((_, count), (_, extra)) in total.iter_mut().zip(more) {
        *count += extra;
    }
}

/// Deletes the journal file and its WAL and shared memory, returning the bytes the file and its
/// WAL held.
pub(crate) fn remove_journal(journal: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", journal.display());
        if let Ok(metadata) = std::fs::metadata(&path) {
            if suffix != "-shm" {
                bytes += metadata.len();
            }
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {path}"))?;
        }
    }
    Ok(bytes)
}

/// The second phase: a fixed rate, and the delivery lag it gave.
#[derive(Clone, Debug)]
pub(crate) struct PacedPhase {
    /// What the driver measured.
    pub measured: PacedMeasured,
    /// Whose throughput the rate is half of, e.g. "(b)".
    pub rate_of: String,
    /// The deliveries, once drained.
    pub drained: Drained,
    /// Every delivery's lag, from the journal's arrival and delivery times (milliseconds,
    /// whole), sorted.
    pub exact_lags_ms: Vec<i64>,
}

impl PacedPhase {
    /// The `quantile` of the exact lags, in milliseconds.
    pub(crate) fn exact_lag_ms(&self, quantile: f64) -> Option<i64> {
        let count = self.exact_lags_ms.len();
        (count > 0).then(|| {
            self.exact_lags_ms[((count as f64 * quantile).ceil() as usize).clamp(1, count) - 1]
        })
    }
}

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
    /// The second phase of `scenario`: a fresh chathook driven at `rate` for the run's
    /// duration, drained, and its delivery lags read.
    pub(crate) fn paced_phase(
        &mut self,
        scenario: &Scenario,
        handler: &'static str,
        rate: f64,
        rate_of: String,
    ) -> anyhow::Result<PacedPhase> {
        let started = self.start_chathook(scenario, None, None, self.duration, None)?;
        let port = started.server.port;
        let measured = paced::drive(
            &self.pinning,
            &self.exe,
            port,
            &started.query,
            rate,
            self.duration,
            self.connections,
        )?;
        let mut drained = drain(port, handler, measured.acked)?;
        started.server.stop()?;
        let journal = started.journal.context("a queued scenario has a journal")?;
        let exact_lags_ms = self.runtime.block_on(journal_lags_ms(&journal, handler))?;
        drained.disk_bytes = remove_journal(&journal)?;
        if measured.errors > 0 {
            self.problems.push(format!(
                "({}) at a fixed rate, {} requests failed or were not answered 200",
                scenario.spec.key, measured.errors
            ));
        }
        if !drained.all_delivered(measured.acked, measured.sent) {
            self.problems.push(format!(
                "({}) at a fixed rate, {} acknowledged of {} sent, but {} delivered, {} dead, \
                 {} pending of {} journaled",
                scenario.spec.key,
                measured.acked,
                measured.sent,
                drained.delivered,
                drained.dead,
                drained.pending,
                drained.journaled
            ));
        }
        let phase = PacedPhase {
            measured,
            rate_of,
            drained,
            exact_lags_ms,
        };
        println!(
            "    at {:.0} req/s (half of {}): answered {:.0}/s, p99 {:.2} ms; delivered {} of {} \
             acknowledged; lag p50 {} ms, p99 {} ms",
            rate,
            phase.rate_of,
            phase.measured.answered_per_sec,
            phase.measured.p99_ms,
            phase.drained.delivered,
            phase.measured.acked,
            phase.exact_lag_ms(0.5).unwrap_or_default(),
            phase.exact_lag_ms(0.99).unwrap_or_default()
        );
        Ok(phase)
    }

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

/// Every delivered delivery's lag of `handler` in the journal at `journal`, in milliseconds,
/// sorted.
async fn journal_lags_ms(journal: &Path, handler: &str) -> anyhow::Result<Vec<i64>> {
    use sqlx::Connection as _;

    let url = format!("sqlite://{}?mode=ro", journal.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .with_context(|| format!("cannot open the journal {}", journal.display()))?;
    let lags = sqlx::query_scalar(
        "SELECT delivered_at_ms - received_at_ms FROM journal_deliveries \
         WHERE handler = ?1 AND state = 'delivered' ORDER BY 1",
    )
    .bind(handler)
    .fetch_all(&mut connection)
    .await
    .context("cannot read the journal's delivery times")?;
    Ok(lags)
}
