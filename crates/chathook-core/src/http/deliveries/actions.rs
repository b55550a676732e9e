//! The routes that change deliveries: retry one or every dead one of a handler, discard one,
//! replay a range. Each answers the count it affected.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::operator::replay_request;
use super::{Deliveries, IdPath, no_delivery, unavailable, unknown_handler};
use crate::extract::{ApiPath, ApiQuery};
use crate::journal::{DeliveryState, RetryTarget};
use crate::rejection::ApiError;

pub(super) async fn retry_one(
    State(deliveries): State<Arc<Deliveries>>,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Response, ApiError> {
    let id = path.id();
    let detail = deliveries
        .journal
        .show(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_delivery(id))?;
    if detail.summary.state == DeliveryState::Delivered {
        return Err(ApiError::bad_request(format!(
            "delivery {id} is delivered: retry is for dead or pending deliveries; replay \
             (POST /api/v1/deliveries/replay) delivers a range again"
        )));
    }
    let retried = deliveries
        .journal
        .retry(RetryTarget::One(id))
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(json!({ "retried": retried })).into_response())
}

/// `POST /retry`'s one parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryAllQuery {
    handler: String,
}

pub(super) async fn retry_all_dead(
    State(deliveries): State<Arc<Deliveries>>,
    ApiQuery(query): ApiQuery<RetryAllQuery>,
) -> Result<Response, ApiError> {
    let handler = query.handler.trim().to_owned();
    deliveries.queued_handler(&handler)?;
    let retried = deliveries
        .journal
        .retry(RetryTarget::AllDead { handler })
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(json!({ "retried": retried })).into_response())
}

pub(super) async fn discard(
    State(deliveries): State<Arc<Deliveries>>,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Response, ApiError> {
    let id = path.id();
    let discarded = deliveries.journal.discard(id).await.map_err(unavailable)?;
    if !discarded {
        return Err(no_delivery(id));
    }
    Ok(axum::Json(json!({ "discarded": 1 })).into_response())
}

/// `POST /replay`'s JSON body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    handler: String,
    since: String,
    until: String,
    command: Option<String>,
}

pub(super) async fn replay(
    State(deliveries): State<Arc<Deliveries>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(&body);
    let body: ReplayBody = serde_path_to_error::deserialize(&mut json).map_err(|error| {
        let field = error.path().to_string();
        let problem = error.into_inner();
        if field == "." {
            ApiError::bad_request(format!("the replay body: {problem}"))
        } else {
            ApiError::bad_request(format!("the replay body's {field}: {problem}"))
        }
    })?;
    let request = replay_request(
        &body.handler,
        &body.since,
        &body.until,
        body.command.as_deref(),
        SystemTime::now(),
    )
    .map_err(|error| ApiError::bad_request(error.to_string()))?;
    if !deliveries.queued.contains(&request.handler.as_str()) {
        return Err(ApiError::bad_request(format!(
            "handler: {}",
            unknown_handler(&request.handler, &deliveries.queued)
        )));
    }
    let replayed = deliveries
        .journal
        .replay(request)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(json!({ "replayed": replayed })).into_response())
}
