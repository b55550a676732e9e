//! The delivery series on `/metrics`: pending deliveries and the oldest one's age per
//! handler, attempts by result, dead letters, delivery lag, and the journal's size.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::journal::JournalStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabel {
    handler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    handler: &'static str,
    result: &'static str,
}

/// An attempt's result label: `delivered`, `retry` or `dead`.
pub(crate) const ATTEMPT_RESULTS: [&str; 3] = ["delivered", "retry", "dead"];

type LagFamily = Family<HandlerLabel, Histogram, fn() -> Histogram>;

/// The delivery series, registered under the `chathook_` prefix.
#[derive(Clone, Debug)]
pub(crate) struct DeliveryMetrics {
    pending: Family<HandlerLabel, Gauge>,
    oldest_pending: Family<HandlerLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    dead: Family<HandlerLabel, Gauge>,
    attempts: Family<AttemptLabels, Counter>,
    dead_letters: Family<HandlerLabel, Counter>,
    lag: LagFamily,
    entries: Gauge,
    bytes: Gauge,
}

impl DeliveryMetrics {
    /// Registers the series in `registry` (the one handlers get: `chathook_` prefixed), each
    /// of `handlers` at 0.
    pub(crate) fn register(registry: &mut Registry, handlers: &[&'static str]) -> Self {
        let metrics = Self {
            pending: Family::default(),
            oldest_pending: Family::default(),
            dead: Family::default(),
            attempts: Family::default(),
            dead_letters: Family::default(),
            // From 1 ms to about 37 hours: a first attempt's lag and a long outage's.
            lag: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 28))
            }),
            entries: Gauge::default(),
            bytes: Gauge::default(),
        };
        registry.register(
            "deliveries_pending",
            "Deliveries owed to a queued handler and not yet delivered (nor dead)",
            metrics.pending.clone(),
        );
        registry.register(
            "deliveries_oldest_pending_age_seconds",
            "Age of the oldest pending delivery's callback, per queued handler",
            metrics.oldest_pending.clone(),
        );
        registry.register(
            "deliveries_dead",
            "Dead letters waiting for an operator's retry or discard, per queued handler",
            metrics.dead.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts by queued handler and result (delivered, retry, dead)",
            metrics.attempts.clone(),
        );
        registry.register(
            "dead_letters",
            "Deliveries that became dead letters, per queued handler",
            metrics.dead_letters.clone(),
        );
        registry.register(
            "delivery_lag_seconds",
            "Time from a callback's arrival to its successful delivery, per queued handler",
            metrics.lag.clone(),
        );
        registry.register(
            "journal_entries",
            "Callbacks held in the journal",
            metrics.entries.clone(),
        );
        registry.register(
            "journal_bytes",
            "Body bytes held in the journal",
            metrics.bytes.clone(),
        );
        for &handler in handlers {
            let label = HandlerLabel { handler };
            // Created, not set: each series is listed at 0 from the start.
            drop(metrics.pending.get_or_create(&label));
            drop(metrics.oldest_pending.get_or_create(&label));
            drop(metrics.dead.get_or_create(&label));
            drop(metrics.dead_letters.get_or_create(&label));
            for result in ATTEMPT_RESULTS {
                drop(
                    metrics
                        .attempts
                        .get_or_create(&AttemptLabels { handler, result }),
                );
            }
        }
        metrics
    }

    /// One attempt's end: `result` is one of [`ATTEMPT_RESULTS`]; `lag` for a delivered one.
    pub(crate) fn attempt(
        &self,
        handler: &'static str,
        result: &'static str,
        lag: Option<Duration>,
    ) {
        self.attempts
            .get_or_create(&AttemptLabels { handler, result })
            .inc();
        if result == "dead" {
            self.dead_letters
                .get_or_create(&HandlerLabel { handler })
                .inc();
        }
        if let Some(lag) = lag {
            self.lag
                .get_or_create(&HandlerLabel { handler })
                .observe(lag.as_secs_f64());
        }
    }

    /// The journal's counts, as last read.
    pub(crate) fn journal(&self, stats: &JournalStats, handlers: &[&'static str]) {
        self.entries.set(saturating_i64(stats.entries));
        self.bytes.set(saturating_i64(stats.bytes));
        let now_ms = unix_ms(SystemTime::now());
        for &handler in handlers {
            let label = HandlerLabel { handler };
            let counts = stats
                .handlers
                .iter()
                .find(|counts| counts.handler == handler);
            let pending = counts.map_or(0, |counts| counts.pending);
            let dead = counts.map_or(0, |counts| counts.dead);
            let age = counts
                .and_then(|counts| counts.oldest_pending_ms)
                .map_or(0.0, |oldest| (now_ms - oldest).max(0) as f64 / 1000.0);
            self.pending
                .get_or_create(&label)
                .set(saturating_i64(pending));
            self.dead.get_or_create(&label).set(saturating_i64(dead));
            self.oldest_pending.get_or_create(&label).set(age);
        }
    }
}

fn saturating_i64(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// `time` as Unix milliseconds.
pub(crate) fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}
