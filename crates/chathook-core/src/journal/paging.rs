//! The operations that walk many rows in pages, the same over both backends: each page is
//! one short call, so appends are committed between them, and filters that only Rust can
//! run (a command pattern) run here.

use super::rows::{self, ListPage, PAGE, PurgedBatch};
use super::{DeliverySummary, Journal, JournalError, ListFilter, ReplayRequest, on_backend};

/// [`Journal::purge`]: batches of at most [`rows::PURGE_BATCH`] entries until one is short, first
/// beyond retention, then beyond 90% of a bound.
pub(super) async fn purge(journal: &Journal) -> Result<u64, JournalError> {
    let cutoff_ms = rows::now_ms().saturating_sub(rows::duration_ms(journal.retention));
    let mut purged = 0;
    let mut after_id = 0;
    loop {
        let batch: PurgedBatch =
            on_backend!(journal, backend => backend.purge_batch(cutoff_ms, after_id).await)?;
        purged += batch.entries;
        match batch.last_id {
            Some(last_id) if batch.more => after_id = last_id,
            _ => break,
        }
    }
    // Retention is at most: while a bound is nearly reached, delivered entries go sooner, so
    // the room appends would otherwise have to make is made here, off the callback path.
    loop {
        let batch: PurgedBatch = on_backend!(journal, backend => backend.purge_for_room().await)?;
        purged += batch.entries;
        if !batch.more {
            return Ok(purged);
        }
    }
}

/// [`Journal::list`]: pages newest first until `limit` deliveries pass the command filter.
pub(super) async fn list(
    journal: &Journal,
    filter: &ListFilter,
) -> Result<Vec<DeliverySummary>, JournalError> {
    let mut page = ListPage {
        handler: filter.handler.clone(),
        state: filter.state.map(|state| state.as_str()),
        since_ms: filter.since.map(rows::unix_ms),
        until_ms: filter.until.map(rows::unix_ms),
        before_id: filter.before_id,
        limit: i64::try_from(filter.limit).unwrap_or(i64::MAX),
    };
    let Some(command) = &filter.command else {
        return on_backend!(journal, backend => backend.list_page(page).await);
    };
    // With a command filter, a page may keep few of its rows: read pages of a fixed size.
    page.limit = PAGE as i64;
    let mut kept = Vec::new();
    while kept.len() < filter.limit {
        let rows: Vec<DeliverySummary> =
            on_backend!(journal, backend => backend.list_page(page.clone()).await)?;
        let short = rows.len() < PAGE;
        page.before_id = rows.last().map(|row| row.id);
        kept.extend(rows.into_iter().filter(|row| command(&row.command)));
        if short {
            break;
        }
    }
    kept.truncate(filter.limit);
    Ok(kept)
}

/// [`Journal::replay`]: the range's entries in pages by id, the command filter run on each
/// page, the entries passing it scheduled page by page.
pub(super) async fn replay(journal: &Journal, request: ReplayRequest) -> Result<u64, JournalError> {
    let since_ms = rows::unix_ms(request.since);
    let until_ms = rows::unix_ms(request.until);
    let now_ms = rows::now_ms();
    let mut scheduled = 0;
    let mut after_id = 0;
    loop {
        let candidates = on_backend!(journal, backend => {
            backend.replay_candidates(since_ms, until_ms, after_id).await
        })?;
        let Some(last) = candidates.last() else {
            return Ok(scheduled);
        };
        after_id = last.id;
        let short = candidates.len() < PAGE;
        let entry_ids: Vec<i64> = candidates
            .into_iter()
            .filter(|candidate| {
                request
                    .command
                    .as_ref()
                    .is_none_or(|pass| pass(&candidate.command))
            })
            .map(|candidate| candidate.id)
            .collect();
        if !entry_ids.is_empty() {
            let handler = request.handler.clone();
            scheduled += on_backend!(journal, backend => {
                backend.schedule(handler, entry_ids, now_ms).await
            })?;
        }
        if short {
            return Ok(scheduled);
        }
    }
}
