//! The plugin's metrics, served as `chathook_nats_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The plugin's metrics.
#[derive(Clone, Default)]
pub struct NatsMetrics {
    pub(super) published: Counter,
    pub(super) duplicates: Counter,
    pub(super) spooled: Counter,
    pub(super) drained: Counter,
    pub(super) spool_refused: Counter,
    oversized: Family<ActionLabel, Counter>,
    pub(super) spool_entries: Gauge,
    pub(super) spool_bytes: Gauge,
    pub(super) spool_oldest_age: Gauge,
    publish_latency: LatencyHistogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Clone)]
struct LatencyHistogram(Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self(Histogram::new(exponential_buckets(0.0001, 2.0, 16)))
    }
}

impl NatsMetrics {
    /// Registers every series, as `chathook_nats_*` (the registry adds `chathook_`).
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("nats");
        registry.register(
            "published",
            "Callbacks JetStream acknowledged on first publish",
            self.published.clone(),
        );
        registry.register(
            "duplicates",
            "Publishes JetStream acknowledged as a duplicate of a message already in the stream \
             (same Nats-Msg-Id within the duplicate window)",
            self.duplicates.clone(),
        );
        registry.register(
            "spooled",
            "Callbacks committed to the local spool because JetStream did not acknowledge in time",
            self.spooled.clone(),
        );
        registry.register(
            "drained",
            "Spooled callbacks published to JetStream and removed from the spool",
            self.drained.clone(),
        );
        registry.register(
            "spool_refused",
            "Callbacks answered 500 because the spool was full",
            self.spool_refused.clone(),
        );
        registry.register(
            "oversized",
            "Callbacks larger than the NATS server's max_payload, by the configured action",
            self.oversized.clone(),
        );
        registry.register(
            "spool_entries",
            "Callbacks in the spool now",
            self.spool_entries.clone(),
        );
        registry.register(
            "spool_bytes",
            "Body bytes in the spool now",
            self.spool_bytes.clone(),
        );
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest callback in the spool (0 when empty)",
            self.spool_oldest_age.clone(),
        );
        registry.register(
            "publish_duration_seconds",
            "Time from publish to JetStream's acknowledgement, direct and drained",
            self.publish_latency.0.clone(),
        );
    }

    /// Records how long JetStream took to acknowledge one publish.
    pub(super) fn publish_took(&self, elapsed: std::time::Duration) {
        self.publish_latency.0.observe(elapsed.as_secs_f64());
    }

    /// Counts an oversized callback and what was done with it.
    pub fn oversized(&self, action: &'static str) {
        self.oversized.get_or_create(&ActionLabel { action }).inc();
    }
}
