//! The operators' API over the journal (placeholder until the deliveries-ops branch lands).

use std::sync::Arc;

use axum::Router;

use crate::journal::Journal;

/// The deliveries API's routes, relative to `/api/v1/deliveries`.
pub(crate) fn deliveries_routes(journal: Arc<Journal>, queued: Vec<&'static str>) -> Router {
    let _ = (journal, queued);
    Router::new()
}
