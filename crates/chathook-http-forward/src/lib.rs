//! chathook-http-forward: the `http_forward` handler, which forwards verified callbacks to
//! the team's own HTTP services, the way webhook gateways deliver: signed, retried,
//! observable; and lets such a service decide before-callbacks, with chathook holding Chat's
//! deadline and checking the decision.
//!
//! Each `[[handlers.http_forward.endpoints]]` is one destination of the handler, with its own
//! commands, signing secrets, timeout, headers, TLS settings and retry policy. A
//! non-deciding endpoint's callbacks are queued entries of the journal: each attempt POSTs
//! the body exactly as Chat sent it, with the query's facts in `Chathook-*` headers (the
//! `nats` plugin's names) and a Standard Webhooks signature (`webhook-id` = the delivery's
//! idempotency key, the same on every attempt; `webhook-timestamp`; `webhook-signature`, one
//! `v1,` per secret). 2xx is delivered; a timeout, no connection, a 5xx or a 429 is retried
//! (after `Retry-After`); another 4xx is dead unless `retry_statuses` lists it; a redirect
//! is never followed. A deciding endpoint (`decides = true`, before-callbacks only) is called
//! inline within what is left of the deadline, and its JSON reply is Chat's answer once the
//! protocol crate has checked its codes and fields for the command; otherwise the fallback
//! answers, and the reason is counted (`chathook_http_forward_decision_fallbacks_total`) and
//! shown in the console record. The manual is `docs/http-forward.md`.

mod config;
mod decision;
mod endpoint;
mod handler;
mod metrics;
mod request;
mod signing;

pub use crate::config::{EndpointConfig, HttpForwardConfig, TlsConfig};
pub use crate::decision::{FallbackReason, Refused, read_decision};
pub use crate::endpoint::{DECISION_READ_MAX, Endpoint, retry_after};
pub use crate::handler::HttpForward;
pub use crate::metrics::ForwardMetrics;
pub use crate::request::{
    CLIENT_IP, COMMAND, OPT_PLATFORM, RECEIVED_AT, REQUEST_TIME, SDK_APP_ID, WEBHOOK_ID,
    WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
