//! The read API, mounted by the core under `/api/v1` behind the `[api]` bearer token.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chathook_core::ApiError;
use chathook_core::extract::{ApiPath, ApiQuery, Limit, NonNegative};
use serde::Deserialize;

use crate::store::{Store, StoredReceipt};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

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

/// A group id the store could hold: longer ones, or ones with a NUL byte, are never stored,
/// and would only cost a query (or a database error) to say so.
fn check_group_id(group_id: &str) -> Result<(), ApiError> {
    match crate::model::identifier_problem(group_id) {
        Some(problem) => Err(ApiError::bad_request(format!(
            "invalid group_id: {problem}"
        ))),
        None => Ok(()),
    }
}

/// `/apps/{sdk_app_id}/groups/{group_id}/read-receipts/{msg_seq}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagePath {
    sdk_app_id: NonNegative,
    group_id: String,
    msg_seq: NonNegative,
}

async fn get_receipt(
    State(store): State<Store>,
    ApiPath(path): ApiPath<MessagePath>,
) -> Result<Json<StoredReceipt>, ApiError> {
    let MessagePath {
        sdk_app_id,
        group_id,
        msg_seq,
    } = path;
    check_group_id(&group_id)?;
    store
        .get(sdk_app_id.get(), &group_id, msg_seq.get())
        .await
        .map_err(unavailable)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no read receipt for message {msg_seq} of group {group_id:?} in app {sdk_app_id}"
            ))
        })
}

/// `/apps/{sdk_app_id}/groups/{group_id}/read-receipts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPath {
    sdk_app_id: NonNegative,
    group_id: String,
}

/// `?after_seq=&limit=`: the cursor (messages after it) and the page size.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after_seq: Option<NonNegative>,
    #[serde(default)]
    limit: Limit<DEFAULT_LIMIT, MAX_LIMIT>,
}

async fn list_receipts(
    State(store): State<Store>,
    ApiPath(path): ApiPath<GroupPath>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    check_group_id(&path.group_id)?;
    let after_seq = query.after_seq.map_or(-1, NonNegative::get);
    let limit = usize::try_from(query.limit.get()).unwrap_or(usize::MAX);
    // One extra row tells whether another page follows.
    let mut items = store
        .list(
            path.sdk_app_id.get(),
            &path.group_id,
            after_seq,
            i64::from(query.limit.get()) + 1,
        )
        .await
        .map_err(unavailable)?;
    let has_more = items.len() > limit;
    items.truncate(limit);
    let next_after_seq = if has_more {
        items.last().map(|item| item.key.msg_seq)
    } else {
        None
    };
    Ok(Json(Page {
        items,
        next_after_seq,
    }))
}

/// One page of a group's messages; `next_after_seq` is the cursor for the next page.
#[derive(serde::Serialize)]
struct Page {
    items: Vec<StoredReceipt>,
    next_after_seq: Option<i64>,
}
