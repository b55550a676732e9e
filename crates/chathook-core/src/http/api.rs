//! The API under `/api/v1`: extensions' and handlers' routes merged behind the `[api]` bearer
//! token, and the layer that counts every refusal off the callback path.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::WWW_AUTHENTICATE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::Counted;
use super::ops::Ops;
use crate::auth::Secret;
use crate::error::StartupError;
use crate::rejection::{ApiError, RefusalReason, Rejection};

/// Merges `routes` (each named for the error when two overlap) behind the bearer check, or
/// `None` when there are none or no `[api]` token (then the API is not served at all).
pub(crate) fn api_router(
    tokens: &[Secret],
    routes: impl IntoIterator<Item = (&'static str, Router)>,
) -> Result<Option<Router>, StartupError> {
    let mut merged: Option<Router> = None;
    for (name, routes) in routes {
        if tokens.is_empty() {
            tracing::warn!(
                handler = name,
                "handler has API routes but [api] has no tokens: API not served"
            );
            continue;
        }
        let base = merged.take().unwrap_or_default();
        // axum panics on overlapping routes; turn that into an error that names the handler.
        let merged_routes = std::panic::catch_unwind(AssertUnwindSafe(|| base.merge(routes)))
            .map_err(|_| StartupError::ApiRoutesOverlap { handler: name })?;
        merged = Some(merged_routes);
    }
    Ok(merged.map(|api| {
        api.layer(middleware::from_fn_with_state(
            Arc::new(tokens.to_vec()),
            require_bearer,
        ))
    }))
}

async fn require_bearer(
    State(tokens): State<Arc<Vec<Secret>>>,
    request: Request,
    next: Next,
) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| {
            let (scheme, token) = value.as_bytes().split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
        });
    // Every token is compared, whatever matches, so timing reveals nothing.
    let authorized = presented.is_some_and(|presented| {
        tokens
            .iter()
            .fold(false, |found, token| found | token.matches(presented))
    });
    if authorized {
        return next.run(request).await;
    }
    let refusal = if presented.is_some() {
        Rejection::ApiTokenInvalid
    } else {
        Rejection::ApiTokenMissing
    };
    let mut response = ApiError::from_rejection(refusal).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Counts every refusal of the routes off the callback path by its reason: errors of the
/// table (`ApiError`, a 503 included) mark their responses with it. Nothing is rewritten: the
/// routes refuse in the API's format themselves (typed extractors, `method_not_allowed`,
/// `not_found`), and a response already counted (`Counted`) is left alone.
pub(crate) async fn count_refusals(
    State(ops): State<Arc<Ops>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(RefusalReason(reason)) = response.extensions().get::<RefusalReason>()
        && response.extensions().get::<Counted>().is_none()
    {
        ops.metrics.rejection(reason);
    }
    response
}
