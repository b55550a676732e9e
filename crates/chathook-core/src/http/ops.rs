//! The operational routes (`/healthz`, `/readyz`, `/metrics`) and the refusals of requests
//! off the callback path (an unknown path, a wrong method).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::task::JoinSet;

use super::mark_counted;
use crate::delivery::Deliveries;
use crate::handler::{ErrorChain, Handler};
use crate::metrics::Metrics;
use crate::rejection::{ApiError, Rejection, echo};
use crate::tap::Taps;

/// How long `/readyz` waits for one handler's dependency check.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What the operational routes read.
pub(crate) struct Ops {
    pub(crate) handlers: Vec<(&'static str, Arc<dyn Handler>)>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) taps: Taps,
    /// The journal, when a queued handler is enabled: `/readyz` checks it can write.
    pub(crate) deliveries: Option<Arc<Deliveries>>,
}

pub(crate) async fn method_not_allowed(State(ops): State<Arc<Ops>>, method: Method) -> Response {
    let rejection = Rejection::MethodNotAllowed(echo(method.as_str()));
    ops.taps.refused(&rejection);
    let mut response = rejection.into_response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    mark_counted(response)
}

/// A route off the callback path asked with a method it does not take: refused in the API's
/// format, counted by [`super::count_refusals`].
pub(crate) async fn route_method_not_allowed(method: Method) -> ApiError {
    ApiError::from_rejection(Rejection::MethodNotAllowed(echo(method.as_str())))
}

pub(crate) async fn not_found(State(ops): State<Arc<Ops>>, uri: Uri) -> Response {
    let rejection = Rejection::NotFound(echo(uri.path()));
    ops.taps.refused(&rejection);
    mark_counted(rejection.into_response())
}

pub(crate) async fn healthz() -> Response {
    axum::Json(json!({ "status": "alive" })).into_response()
}

pub(crate) async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    // Checked concurrently, so one hung dependency costs one timeout, not one per handler.
    let mut checks = JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (name, handler) in &ops.handlers {
        let (name, handler) = (*name, Arc::clone(handler));
        let check = checks.spawn(async move {
            match tokio::time::timeout(READY_CHECK_TIMEOUT, handler.ready()).await {
                Ok(Ok(())) => true,
                Ok(Err(error)) => {
                    tracing::warn!(handler = name, "not ready: {}", ErrorChain(error.as_ref()));
                    false
                }
                Err(_) => {
                    tracing::warn!(handler = name, "not ready: readiness check timed out");
                    false
                }
            }
        });
        names.insert(check.id(), name);
    }
    let mut handlers = serde_json::Map::new();
    let mut ready = true;
    while let Some(checked) = checks.join_next_with_id().await {
        // A check that panicked is a handler that is not ready, under its own name.
        let (id, handler_ready) = checked.unwrap_or_else(|error| (error.id(), false));
        let name = names[&id];
        ready &= handler_ready;
        let status = if handler_ready { "ready" } else { "not ready" };
        handlers.insert(name.to_owned(), status.into());
    }
    let details: serde_json::Map<String, serde_json::Value> = ops
        .handlers
        .iter()
        .filter_map(|(name, handler)| Some(((*name).to_owned(), handler.status()?)))
        .collect();
    let journal = match &ops.deliveries {
        Some(deliveries) => {
            let (journal_ready, status) = deliveries.readiness().await;
            ready &= journal_ready;
            Some(status)
        }
        None => None,
    };
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let mut body = json!({ "status": word, "handlers": handlers });
    if !details.is_empty() {
        body["details"] = details.into();
    }
    if let Some(journal) = journal {
        body["journal"] = journal;
    }
    (status, axum::Json(body)).into_response()
}

pub(crate) async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ops.metrics.encode(),
    )
        .into_response()
}
