//! The queued scenario (p): chathook answers once a callback is in the journal, and a worker
//! delivers it to the queued handler afterwards. After each load this waits for the handler's
//! pending deliveries to reach 0 and checks from `/metrics` that every acknowledged callback
//! was delivered; a second phase drives it at a fixed rate, half of (b)'s throughput, for the
//! delivery lag (from the lag histogram's buckets and, exactly, from the journal file's
//! arrival and delivery times); a probe under `strace` counts the journal's syncs during a
//! load, which is what each write costs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::server::{labelled_series, labelled_value, metrics};

mod phase;
mod write_cost;

pub(crate) use phase::{PacedPhase, QueuedRow};
pub(crate) use write_cost::WriteCost;

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

    /// What [`Drained::all_delivered`] found short, in the report's words.
    pub(crate) fn shortfall(&self, acked: u64, sent: u64) -> String {
        format!(
            "{acked} acknowledged of {sent} sent, but {} delivered, {} dead, {} pending of {} \
             journaled",
            self.delivered, self.dead, self.pending, self.journaled
        )
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
