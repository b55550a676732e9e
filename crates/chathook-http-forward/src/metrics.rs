//! The plugin's metrics, served as `chathook_http_forward_*`. The platform already counts
//! every call and every delivery attempt by handler and result; what only this plugin knows
//! is why a remote decision was not used.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::decision::FallbackReason;

/// The plugin's metrics, shared by its endpoints.
#[derive(Clone, Default)]
pub struct ForwardMetrics {
    decision_fallbacks: Family<FallbackLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    endpoint: String,
    reason: &'static str,
}

impl ForwardMetrics {
    /// Registers every series, as `chathook_http_forward_*` (the registry adds `chathook_`).
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("http_forward");
        registry.register(
            "decision_fallbacks",
            "Before-callbacks a deciding endpoint did not decide, so the fallback answered, by \
             endpoint and reason (timeout, connect, status, invalid_json, invalid_code, \
             invalid_fields)",
            self.decision_fallbacks.clone(),
        );
    }

    /// Counts one fallback of `endpoint` for `reason`.
    pub fn fell_back(&self, endpoint: &str, reason: FallbackReason) {
        self.decision_fallbacks
            .get_or_create(&FallbackLabels {
                endpoint: endpoint.to_owned(),
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Makes every reason's series of `endpoint` exist at 0, so a dashboard's rate of it is
    /// defined before the first fallback.
    pub fn declare(&self, endpoint: &str) {
        for reason in FallbackReason::ALL {
            drop(self.decision_fallbacks.get_or_create(&FallbackLabels {
                endpoint: endpoint.to_owned(),
                reason: reason.as_str(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_are_counted_by_endpoint_and_reason() {
        let metrics = ForwardMetrics::default();
        metrics.declare("moderation");
        metrics.fell_back("moderation", FallbackReason::Timeout);
        metrics.fell_back("moderation", FallbackReason::Timeout);
        metrics.fell_back("moderation", FallbackReason::InvalidFields);
        let mut registry = Registry::with_prefix("chathook");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let line = |reason: &str| {
            format!(
                "chathook_http_forward_decision_fallbacks_total{{endpoint=\"moderation\",reason=\"{reason}\"}}"
            )
        };
        assert!(text.contains(&format!("{} 2\n", line("timeout"))), "{text}");
        assert!(
            text.contains(&format!("{} 1\n", line("invalid_fields"))),
            "{text}"
        );
        assert!(text.contains(&format!("{} 0\n", line("status"))), "{text}");
    }
}
