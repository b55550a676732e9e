//! Prometheus metrics: callbacks by command and outcome, rejections by reason, each handler's
//! results and latency.
//!
//! Label values are closed sets or `&'static str` only: commands come from the documented
//! table or from handler registrations and config, anything else is `other`, so a caller
//! cannot grow the series set.

use std::time::Duration;

pub use prometheus_client;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use crate::callback::{HandlerResult, Outcome};
use crate::config::Fallback;
use crate::rejection::Rejection;

/// The `reason` labels of `chathook_connections_closed_total`.
pub const CONNECTION_CLOSE_REASONS: [&str; 3] =
    ["idle_timeout", "shutdown_deadline", "accept_failed"];

macro_rules! label_value {
    ($($kind:ty),+) => {$(
        impl EncodeLabelValue for $kind {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )+};
}

label_value!(Outcome, HandlerResult, Fallback);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    command: &'static str,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    handler: &'static str,
    command: &'static str,
    result: HandlerResult,
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
    decision: Fallback,
}

type LatencyFamily = Family<HandlerLabels, Histogram, fn() -> Histogram>;

/// The service's metrics, one set per server (so tests running several servers don't mix).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    callbacks: Family<CallbackLabels, Counter>,
    rejections: Family<ReasonLabels, Counter>,
    fallbacks: Family<FallbackLabels, Counter>,
    handler_results: Family<ResultLabels, Counter>,
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
        let handler_results = Family::default();
        registry.register(
            "chathook_handler_results",
            "Handler calls by handler, command and result (ok, invalid_body, failed, panicked, \
             timed_out, undocumented_code); a callback with several handlers counts once each",
            handler_results.clone(),
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
            handler_results,
            handler_latency,
        }
    }
}

impl Metrics {
    /// Where a handler registers its own metrics: names get the `chathook_` prefix.
    pub fn handler_registry(&mut self) -> &mut Registry {
        self.registry.sub_registry_with_prefix("chathook")
    }

    /// Creates every series a running server can be expected to count, at 0, so dashboards
    /// and alerts see them before the first event: callbacks for each routed command and
    /// `other` by outcome, every rejection reason, each decider's fallbacks (both decisions),
    /// each handler's results per command, and each reason chathook closes a connection.
    ///
    /// Commands no handler serves are left out: every documented command times every outcome
    /// would be hundreds of series that mostly can never move; `other` carries a 0 for each
    /// outcome, so a `sum by (outcome)` exists from the start anyway.
    pub fn start_at_zero(&self, routes: impl IntoIterator<Item = RouteSeries>) {
        let mut commands = vec!["other"];
        for route in routes {
            commands.push(route.command);
            if let Some(decider) = route.before_decider {
                for decision in [Fallback::Allow, Fallback::Deny] {
                    drop(self.fallbacks.get_or_create(&FallbackLabels {
                        handler: decider,
                        command: route.command,
                        decision,
                    }));
                }
            }
            for handler in route.handlers {
                for result in HandlerResult::ALL {
                    drop(self.handler_results.get_or_create(&ResultLabels {
                        handler,
                        command: route.command,
                        result,
                    }));
                }
            }
        }
        for command in commands {
            for outcome in Outcome::ALL {
                drop(
                    self.callbacks
                        .get_or_create(&CallbackLabels { command, outcome }),
                );
            }
        }
        for reason in Rejection::ALL_REASONS {
            drop(self.rejections.get_or_create(&ReasonLabels { reason }));
        }
        for reason in CONNECTION_CLOSE_REASONS {
            drop(self.connections_cut.get_or_create(&ReasonLabels { reason }));
        }
    }

    /// Counts an authenticated callback.
    pub fn callback(&self, command: &'static str, outcome: Outcome) {
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
    pub fn fallback(&self, handler: &'static str, command: &'static str, decision: Fallback) {
        let labels = FallbackLabels {
            handler,
            command,
            decision,
        };
        self.fallbacks.get_or_create(&labels).inc();
    }

    /// Counts one handler call's result and records how long it took.
    pub fn handler_result(
        &self,
        handler: &'static str,
        command: &'static str,
        result: HandlerResult,
        took: Duration,
    ) {
        self.handler_results
            .get_or_create(&ResultLabels {
                handler,
                command,
                result,
            })
            .inc();
        self.handler_latency
            .get_or_create(&HandlerLabels { handler, command })
            .observe(took.as_secs_f64());
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
        debug_assert!(
            CONNECTION_CLOSE_REASONS.contains(&reason),
            "{reason} is not in CONNECTION_CLOSE_REASONS"
        );
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

/// The series one route moves, for [`Metrics::start_at_zero`].
#[derive(Debug)]
pub struct RouteSeries {
    /// The command's label.
    pub command: &'static str,
    /// A before-callback's decider, whose fallbacks are counted.
    pub before_decider: Option<&'static str>,
    /// Every handler of the route.
    pub handlers: Vec<&'static str>,
}

/// Decrements its gauge when dropped, however the request or connection ends.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
