//! `/api/v1/deliveries`: the journal's deliveries for operators, behind the API token. Paths
//! are relative to it; the list is the nest's own path, `/api/v1/deliveries` (axum's `nest`
//! does not serve it with a trailing slash).
//!
//! | method and path            | what it does                                              |
//! |----------------------------|-----------------------------------------------------------|
//! | `GET /` (no slash)         | list: `handler`, `state`, `command`, `since`, `until`, `before`, `limit` |
//! | `GET /summary`             | pending, dead and oldest pending age per queued handler; the journal's size |
//! | `GET /{id}`                | one delivery with its attempts and callback               |
//! | `POST /{id}/retry`         | a dead delivery pending again (a pending one due now)     |
//! | `POST /{id}/discard`       | removes a delivery and its attempts                       |
//! | `POST /retry?handler=H`    | every dead delivery of `H` pending again                  |
//! | `POST /replay`             | `{"handler", "since", "until", "command"?}`: re-delivers a range |
//!
//! Discarding is a `POST` to an action path, like retry, rather than a `DELETE`: both change a
//! delivery's fate, the console's buttons call them alike, and a proxy that drops or caches
//! `DELETE` differently cannot split them. Each action answers the count it affected
//! (`{"retried": n}`, `{"discarded": 1}`, `{"replayed": n}`).
//!
//! A handler named in a filter, `retry` or `replay` must be one of the queued handlers the
//! service was built with: a typo is refused rather than answered with an empty list.

mod actions;
mod clock;
pub mod operator;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::extract::{ApiPath, ApiQuery, Limit, NonNegative};
use crate::journal::{DeliveryId, HandlerStats, Journal, JournalError, handler_selects};
use crate::rejection::{ApiError, echo};
use operator::{ListCriteria, unix_ms};

/// What every route reads: the journal and the queued handlers' names.
pub(super) struct Deliveries {
    journal: Arc<Journal>,
    queued: Vec<&'static str>,
}

impl Deliveries {
    /// `name` if it is a queued handler or has queued destinations, else a 404 naming it and
    /// the queued ones.
    fn queued_handler(&self, name: &str) -> Result<(), ApiError> {
        if self
            .queued
            .iter()
            .any(|queued| handler_selects(name, queued))
        {
            return Ok(());
        }
        Err(ApiError::not_found(unknown_handler(name, &self.queued)))
    }
}

/// `name` is not queued, in words that list the queued handlers.
fn unknown_handler(name: &str, queued: &[&str]) -> String {
    let known = if queued.is_empty() {
        "no handler is queued".to_owned()
    } else {
        format!("queued: {}", queued.join(", "))
    };
    format!("no queued handler {:?} ({known})", echo(name))
}

/// A journal failure as the API answers it: 503, the cause in the log only (internal text
/// never reaches a response).
fn unavailable(error: JournalError) -> ApiError {
    tracing::warn!(%error, "deliveries API: journal error");
    ApiError::unavailable("the journal cannot answer now; chathook's log says why")
}

/// The routes, relative: the service nests them at `/api/v1/deliveries`.
pub(crate) fn deliveries_routes(journal: Arc<Journal>, queued: Vec<&'static str>) -> Router {
    let state = Arc::new(Deliveries { journal, queued });
    Router::new()
        .route("/", get(list))
        .route("/summary", get(summary))
        .route("/retry", post(actions::retry_all_dead))
        .route("/replay", post(actions::replay))
        .route("/{id}", get(show))
        .route("/{id}/retry", post(actions::retry_one))
        .route("/{id}/discard", post(actions::discard))
        .with_state(state)
}

/// The list's query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    handler: Option<String>,
    state: Option<String>,
    command: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<NonNegative>,
    #[serde(default)]
    limit: Limit<100, 1000>,
}

/// A delivery's id in the path.
#[derive(Debug, Deserialize)]
struct IdPath {
    id: NonNegative,
}

impl IdPath {
    fn id(&self) -> DeliveryId {
        self.id.get()
    }
}

async fn list(
    State(deliveries): State<Arc<Deliveries>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let criteria = ListCriteria {
        handler: query.handler,
        state: query.state,
        command: query.command,
        since: query.since,
        until: query.until,
    };
    let limit = query.limit.get() as usize;
    let filter = criteria
        .to_filter(query.before.map(NonNegative::get), limit, SystemTime::now())
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    if let Some(handler) = &filter.handler {
        deliveries.queued_handler(handler)?;
    }
    let listed = deliveries
        .journal
        .list(&filter)
        .await
        .map_err(unavailable)?;
    // A full page may have more behind it: the caller asks again with `before`.
    let next_before = (listed.len() == limit)
        .then(|| listed.last().map(|delivery| delivery.id))
        .flatten();
    let body = serde_json::json!({ "deliveries": listed, "next_before": next_before });
    Ok(axum::Json(body).into_response())
}

/// One handler's line of the summary.
#[derive(Debug, Serialize)]
struct HandlerSummary {
    handler: String,
    /// Whether the service delivers to it; a handler no longer queued can still hold dead
    /// letters.
    queued: bool,
    pending: u64,
    dead: u64,
    oldest_pending_ms: Option<i64>,
    oldest_pending_age_ms: Option<i64>,
}

/// Every queued handler (at 0 when the journal holds nothing for it), then any other handler
/// the journal still holds deliveries of.
fn handler_summaries(
    queued: &[&'static str],
    stats: Vec<HandlerStats>,
    now_ms: i64,
) -> Vec<HandlerSummary> {
    let line = |handler: String, stats: Option<&HandlerStats>| {
        let oldest = stats.and_then(|stats| stats.oldest_pending_ms);
        HandlerSummary {
            queued: queued.contains(&handler.as_str()),
            handler,
            pending: stats.map_or(0, |stats| stats.pending),
            dead: stats.map_or(0, |stats| stats.dead),
            oldest_pending_ms: oldest,
            oldest_pending_age_ms: oldest.map(|oldest| now_ms.saturating_sub(oldest).max(0)),
        }
    };
    let mut lines: Vec<HandlerSummary> = queued
        .iter()
        .map(|name| {
            line(
                (*name).to_owned(),
                stats.iter().find(|s| s.handler == *name),
            )
        })
        .collect();
    lines.extend(
        stats
            .iter()
            .filter(|stats| !queued.contains(&stats.handler.as_str()))
            .map(|stats| line(stats.handler.clone(), Some(stats))),
    );
    lines
}

async fn summary(State(deliveries): State<Arc<Deliveries>>) -> Result<Response, ApiError> {
    let stats = deliveries.journal.stats().await.map_err(unavailable)?;
    let handlers = handler_summaries(
        &deliveries.queued,
        stats.handlers,
        unix_ms(SystemTime::now()),
    );
    let body = serde_json::json!({
        "journal": {
            "database": deliveries.journal.describe(),
            "entries": stats.entries,
            "bytes": stats.bytes,
        },
        "handlers": handlers,
    });
    Ok(axum::Json(body).into_response())
}

async fn show(
    State(deliveries): State<Arc<Deliveries>>,
    ApiPath(path): ApiPath<IdPath>,
) -> Result<Response, ApiError> {
    let detail = deliveries
        .journal
        .show(path.id())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| no_delivery(path.id()))?;
    Ok(axum::Json(detail).into_response())
}

/// 404 for a delivery id the journal does not hold.
fn no_delivery(id: DeliveryId) -> ApiError {
    ApiError::not_found(format!("no delivery {id}"))
}
