//! The API under `/api/v1`: extensions' and handlers' routes merged behind the `[api]` bearer
//! token, and the layer that makes every refusal off the callback path JSON and counted.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Counted;
use super::ops::Ops;
use crate::auth::Secret;
use crate::error::StartupError;
use crate::rejection::{ApiError, RefusalReason, Rejection, echo_at_most};

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

/// Every refusal speaks JSON and is counted: axum's own refusals (a wrong method on
/// `/healthz`, a path parameter that is not UTF-8) are plain text, and a handler's API may
/// refuse in its own words. Such replies are counted by status, and a reply that is not JSON
/// gets its text wrapped as `{"error": "..."}`.
pub(crate) async fn json_refusals(
    State(ops): State<Arc<Ops>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(RefusalReason(reason)) = response.extensions().get::<RefusalReason>() {
        // An error from the table (a 503 included), already in JSON.
        ops.metrics.rejection(reason);
        return response;
    }
    let status = response.status();
    if !status.is_client_error() || response.extensions().get::<Counted>().is_some() {
        return response;
    }
    ops.metrics.rejection(match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        _ => "other_refusal",
    });
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("refused").to_owned(),
        // axum quotes the input: readable, but bounded.
        text => echo_at_most(text, 300),
    };
    if ops.log_budget.allow() {
        tracing::warn!(status = status.as_u16(), "request rejected: {message}");
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    let json = axum::Json(json!({ "error": message })).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}
