//! Prometheus metrics: callbacks by command and outcome, rejections by reason, handler latency.
//!
//! Label values are `&'static str` only: commands come from the documented table or from
//! handler registrations, anything else is `other`, so a caller cannot grow the series set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::protocol::known_command;
use crate::registry::Route;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    command: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabels {
    handler: &'static str,
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    handler: &'static str,
    command: &'static str,
    decision: &'static str,
}

type LatencyFamily = Family<HandlerLabels, Histogram, fn() -> Histogram>;

/// The service's metrics, one set per server (so tests running several servers don't mix).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    callbacks: Family<CallbackLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    fallbacks: Family<FallbackLabels, Counter>,
    handler_latency: LatencyFamily,
    in_flight: Gauge,
    connections_open: Gauge,
    connections_cut: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let callbacks = Family::default();
        registry.register(
            "chathook_callbacks",
            "Authenticated callbacks by command and outcome",
            callbacks.clone(),
        );
        let rejections = Family::default();
        registry.register(
            "chathook_rejections",
            "Requests refused, by reason",
            rejections.clone(),
        );
        let fallbacks = Family::default();
        registry.register(
            "chathook_fallbacks",
            "Before-callbacks answered with the configured fallback because the handler failed",
            fallbacks.clone(),
        );
        let handler_latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 16)));
        registry.register(
            "chathook_handler_duration_seconds",
            "Time a handler took, including failures and timeouts",
            handler_latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "chathook_callbacks_in_flight",
            "Callback requests being processed now",
            in_flight.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "chathook_connections_open",
            "HTTP connections open now",
            connections_open.clone(),
        );
        let connections_cut = Family::default();
        registry.register(
            "chathook_connections_closed",
            "Connections chathook closed itself, by reason (idle_timeout, shutdown_deadline, \
             accept_failed); refusals are in chathook_rejections",
            connections_cut.clone(),
        );
        Self {
            in_flight,
            connections_open,
            connections_cut,
            registry,
            callbacks,
            rejections,
            fallbacks,
            handler_latency,
        }
    }
}

impl Metrics {
    /// Counts an authenticated callback.
    pub fn callback(&self, command: &'static str, outcome: &'static str) {
        self.callbacks
            .get_or_create(&CallbackLabels { command, outcome })
            .inc();
    }

    /// Counts a refused request.
    pub fn rejection(&self, reason: &'static str) {
        self.rejections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a fallback decision.
    pub fn fallback(&self, route: &Route, decision: &'static str) {
        let labels = FallbackLabels {
            handler: route.handler_name,
            command: route.command,
            decision,
        };
        self.fallbacks.get_or_create(&labels).inc();
    }

    /// Records how long a handler took.
    pub fn handler_latency(&self, route: &Route, seconds: f64) {
        let labels = HandlerLabels {
            handler: route.handler_name,
            command: route.command,
        };
        self.handler_latency.get_or_create(&labels).observe(seconds);
    }

    /// Counts a request as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Counts an open connection until the guard drops.
    pub fn connection_open(&self) -> InFlight {
        self.connections_open.inc();
        InFlight(self.connections_open.clone())
    }

    /// Counts a connection chathook closed itself (an idle timeout, the shutdown deadline).
    pub fn connection_cut(&self, reason: &'static str) {
        self.connections_cut
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The label for `command`: itself if documented or routed, else `other`.
pub fn command_label(command: &str, route: Option<&Route>) -> &'static str {
    match (route, known_command(command)) {
        (Some(route), _) => route.command,
        (None, Some(known)) => known.name,
        (None, None) => "other",
    }
}

/// Decrements its gauge when dropped, however the request or connection ends.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
