//! The operational routes (`/healthz`, `/readyz` with `ops/readiness.rs`, `/metrics`) and the
//! refusals of requests off the callback path (an unknown path, a wrong method).

mod readiness;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::mark_counted;
use crate::delivery::Deliveries;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::rejection::{ApiError, Rejection, echo};
use crate::tap::Taps;

pub(crate) use readiness::Readiness;

/// What the operational routes read.
pub(crate) struct Ops {
    pub(crate) handlers: Vec<(&'static str, Arc<dyn Handler>)>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) taps: Taps,
    /// The journal, when a queued handler is enabled: `/readyz` checks it can write.
    pub(crate) deliveries: Option<Arc<Deliveries>>,
    /// `/readyz`'s cached answer and what it last logged.
    pub(crate) readiness: Arc<Readiness>,
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
    let (ready, body) = ops.readiness.answer(&ops).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
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
