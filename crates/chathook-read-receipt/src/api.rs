//! The read API, mounted by the core under `/api/v1` behind the `[api]` bearer token.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chathook_core::ApiError;

use crate::store::{Store, StoredReceipt};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub(crate) fn routes(store: Store) -> Router {
    Router::new()
        .route(
            "/apps/{sdk_app_id}/groups/{group_id}/read-receipts",
            get(list_receipts),
        )
        .route(
            "/apps/{sdk_app_id}/groups/{group_id}/read-receipts/{msg_seq}",
            get(get_receipt),
        )
        .with_state(store)
}

/// A failed query: logged with its cause, told to the caller only as unavailable.
fn unavailable(error: crate::store::StoreError) -> ApiError {
    tracing::error!(%error, "read receipt query failed");
    ApiError::unavailable("the read receipt store is unavailable")
}

fn bad_request(message: String) -> ApiError {
    ApiError::bad_request(message)
}

fn non_negative(name: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|value| *value >= 0)
        .ok_or_else(|| {
            bad_request(format!(
                "{name} must be a non-negative integer, not {text:?}"
            ))
        })
}

/// A group id the store could hold: longer ones, or ones with a NUL byte, are never stored,
/// and would only cost a query (or a database error) to say so.
fn check_group_id(group_id: &str) -> Result<(), ApiError> {
    match crate::model::identifier_problem(group_id) {
        Some(problem) => Err(bad_request(format!("invalid group_id: {problem}"))),
        None => Ok(()),
    }
}

async fn get_receipt(
    State(store): State<Store>,
    Path((sdk_app_id, group_id, msg_seq)): Path<(String, String, String)>,
) -> Result<Json<StoredReceipt>, ApiError> {
    let sdk_app_id = non_negative("sdk_app_id", &sdk_app_id)?;
    let msg_seq = non_negative("msg_seq", &msg_seq)?;
    check_group_id(&group_id)?;
    store
        .get(sdk_app_id, &group_id, msg_seq)
        .await
        .map_err(unavailable)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no read receipt for message {msg_seq} of group {group_id:?} in app {sdk_app_id}"
            ))
        })
}

async fn list_receipts(
    State(store): State<Store>,
    Path((sdk_app_id, group_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let sdk_app_id = non_negative("sdk_app_id", &sdk_app_id)?;
    check_group_id(&group_id)?;
    if let Some(unknown) = params
        .keys()
        .find(|key| !matches!(key.as_str(), "after_seq" | "limit"))
    {
        return Err(bad_request(format!(
            "unknown query parameter {unknown:?}; expected after_seq and limit"
        )));
    }
    let after_seq = match params.get("after_seq") {
        Some(text) => non_negative("after_seq", text)?,
        None => -1,
    };
    let limit = match params.get("limit") {
        Some(text) => {
            let limit = non_negative("limit", text)?;
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(bad_request(format!(
                    "limit must be between 1 and {MAX_LIMIT}, not {limit}"
                )));
            }
            limit
        }
        None => DEFAULT_LIMIT,
    };
    // One extra row tells whether another page follows.
    let mut items = store
        .list(sdk_app_id, &group_id, after_seq, limit + 1)
        .await
        .map_err(unavailable)?;
    let has_more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_after_seq = if has_more {
        items.last().map(|item| item.key.msg_seq)
    } else {
        None
    };
    Ok(Json(Page {
        items,
        next_after_seq,
    })
    .into_response())
}

/// One page of a group's messages; `next_after_seq` is the cursor for the next page.
#[derive(serde::Serialize)]
struct Page {
    items: Vec<StoredReceipt>,
    next_after_seq: Option<i64>,
}
