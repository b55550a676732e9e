//! What operators ask of the SQLite journal (list, show, retry, discard, replay) and the
//! purge; each call is one short transaction on the writer thread.

use rusqlite::{OptionalExtension, Row, params};

use super::writer::{WRITE, Writer};
use crate::journal::rows::{
    DETAIL_COLUMNS, ListPage, PAGE, PURGE_BATCH, PurgedBatch, ReplayCandidate, SUMMARY_COLUMNS,
    count_u32,
};
use crate::journal::{
    AttemptRecord, DeliveryDetail, DeliveryId, DeliveryState, DeliverySummary, JournalError,
    RetryTarget,
};

/// Deletes up to [`PURGE_BATCH`] entries after `after_id` that no delivery needs any more.
pub(super) fn purge_batch(
    writer: &mut Writer,
    cutoff_ms: i64,
    after_id: i64,
) -> Result<PurgedBatch, JournalError> {
    let deleted: Vec<(i64, i64)> = writer
        .connection
        .prepare_cached(
            "DELETE FROM journal_entries WHERE id IN ( \
                 SELECT e.id FROM journal_entries e WHERE e.id > ?1 AND e.received_at_ms < ?2 \
                 AND NOT EXISTS (SELECT 1 FROM journal_deliveries d WHERE d.entry_id = e.id \
                     AND (d.state <> 'delivered' OR d.delivered_at_ms >= ?2)) \
                 ORDER BY e.id LIMIT ?3) \
             RETURNING id, bytes",
        )?
        .query_map(params![after_id, cutoff_ms, PURGE_BATCH as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let bytes: i64 = deleted.iter().map(|(_, bytes)| bytes).sum();
    writer
        .bounds
        .removed(deleted.len() as u64, bytes.max(0) as u64);
    Ok(PurgedBatch {
        entries: deleted.len() as u64,
        last_id: deleted.iter().map(|(id, _)| *id).max(),
        more: deleted.len() >= PURGE_BATCH,
    })
}

/// A summary from the first columns of a row of [`SUMMARY_COLUMNS`].
fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<DeliverySummary> {
    let state: String = row.get(5)?;
    let state = DeliveryState::parse(&state).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, error.into())
    })?;
    Ok(DeliverySummary {
        id: row.get(0)?,
        entry_id: row.get(1)?,
        handler: row.get(2)?,
        command: row.get(3)?,
        sdk_app_id: row.get::<_, i64>(4)? as u64,
        state,
        attempts: count_u32(row.get(6)?),
        received_at_ms: row.get(7)?,
        next_attempt_at_ms: row.get(8)?,
        delivered_at_ms: row.get(9)?,
        last_error: row.get(10)?,
        dead_reason: row.get(11)?,
        idempotency_key: row.get(12)?,
        conversation_key: row.get(13)?,
    })
}

/// One page of `list`, newest first.
pub(super) fn list_page(
    writer: &mut Writer,
    page: &ListPage,
) -> Result<Vec<DeliverySummary>, JournalError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id \
         WHERE (?1 IS NULL OR d.handler = ?1 OR (d.handler > ?1 || '.' AND d.handler < ?1 || '/')) \
         AND (?2 IS NULL OR d.state = ?2) \
         AND (?3 IS NULL OR d.received_at_ms >= ?3) AND (?4 IS NULL OR d.received_at_ms < ?4) \
         AND (?5 IS NULL OR d.id < ?5) ORDER BY d.id DESC LIMIT ?6"
    );
    Ok(writer
        .connection
        .prepare_cached(&sql)?
        .query_map(
            params![
                page.handler,
                page.state,
                page.since_ms,
                page.until_ms,
                page.before_id,
                page.limit
            ],
            summary_from_row,
        )?
        .collect::<Result<_, _>>()?)
}

/// One delivery, its entry and its attempts.
pub(super) fn show(
    writer: &mut Writer,
    id: DeliveryId,
) -> Result<Option<DeliveryDetail>, JournalError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, {DETAIL_COLUMNS} FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id WHERE d.id = ?1"
    );
    let detail = writer
        .connection
        .prepare_cached(&sql)?
        .query_row([id], |row| {
            Ok(DeliveryDetail {
                summary: summary_from_row(row)?,
                attempts: Vec::new(),
                client_ip: row.get(14)?,
                opt_platform: row.get(15)?,
                body: String::from_utf8_lossy(&row.get::<_, Vec<u8>>(16)?).into_owned(),
                decision: row.get(17)?,
            })
        })
        .optional()?;
    let Some(mut detail) = detail else {
        return Ok(None);
    };
    detail.attempts = writer
        .connection
        .prepare_cached(
            "SELECT attempt, started_at_ms, ended_at_ms, result, error FROM journal_attempts \
             WHERE delivery_id = ?1 ORDER BY attempt",
        )?
        .query_map([id], |row| {
            Ok(AttemptRecord {
                attempt: count_u32(row.get(0)?),
                started_at_ms: row.get(1)?,
                ended_at_ms: row.get(2)?,
                result: row.get(3)?,
                error: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(detail))
}

/// The columns a new round sets; `?1` is now.
const NEW_ROUND: &str = "state = 'pending', round_attempts = 0, round_started_at_ms = ?1, \
     next_at_ms = ?1, delivered_at_ms = NULL, dead_reason = NULL";

/// Starts a new round for the target's deliveries.
pub(super) fn retry(
    writer: &mut Writer,
    target: &RetryTarget,
    now_ms: i64,
) -> Result<u64, JournalError> {
    let retried = match target {
        RetryTarget::One(id) => writer
            .connection
            .prepare_cached(&format!(
                "UPDATE journal_deliveries SET {NEW_ROUND} WHERE id = ?2 \
                 AND state IN ('dead', 'pending')"
            ))?
            .execute(params![now_ms, id])?,
        RetryTarget::AllDead { handler } => writer
            .connection
            .prepare_cached(&format!(
                "UPDATE journal_deliveries SET {NEW_ROUND} WHERE state = 'dead' \
                 AND (handler = ?2 OR (handler > ?2 || '.' AND handler < ?2 || '/'))"
            ))?
            .execute(params![now_ms, handler])?,
    };
    Ok(retried as u64)
}

/// Deletes a delivery, and its entry if no other delivery is left.
pub(super) fn discard(writer: &mut Writer, id: DeliveryId) -> Result<bool, JournalError> {
    let transaction = writer.connection.transaction_with_behavior(WRITE)?;
    let entry_id: Option<i64> = transaction
        .prepare_cached("DELETE FROM journal_deliveries WHERE id = ?1 RETURNING entry_id")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    let Some(entry_id) = entry_id else {
        return Ok(false);
    };
    let orphan_bytes: Option<i64> = transaction
        .prepare_cached(
            "DELETE FROM journal_entries WHERE id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM journal_deliveries WHERE entry_id = ?1) RETURNING bytes",
        )?
        .query_row([entry_id], |row| row.get(0))
        .optional()?;
    transaction.commit()?;
    if let Some(bytes) = orphan_bytes {
        writer.bounds.removed(1, bytes.max(0) as u64);
    }
    Ok(true)
}

/// A page of the entries received in `[since_ms, until_ms)`, by id after `after_id`.
pub(super) fn replay_candidates(
    writer: &mut Writer,
    since_ms: i64,
    until_ms: i64,
    after_id: i64,
) -> Result<Vec<ReplayCandidate>, JournalError> {
    Ok(writer
        .connection
        .prepare_cached(
            "SELECT id, command FROM journal_entries WHERE received_at_ms >= ?1 \
             AND received_at_ms < ?2 AND id > ?3 ORDER BY id LIMIT ?4",
        )?
        .query_map(params![since_ms, until_ms, after_id, PAGE as i64], |row| {
            Ok(ReplayCandidate {
                id: row.get(0)?,
                command: row.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// Gives each entry a pending delivery to `handler` in a new round, unless it has one
/// pending already; returns how many were scheduled.
pub(super) fn schedule(
    writer: &mut Writer,
    handler: &str,
    entry_ids: &[i64],
    now_ms: i64,
) -> Result<u64, JournalError> {
    let transaction = writer.connection.transaction_with_behavior(WRITE)?;
    let mut scheduled = 0;
    {
        let mut upsert = transaction.prepare_cached(&format!(
            "INSERT INTO journal_deliveries (entry_id, handler, state, round_started_at_ms, \
             next_at_ms, received_at_ms, command, conversation_key) \
             SELECT id, ?2, 'pending', ?1, ?1, received_at_ms, command, conversation_key \
             FROM journal_entries WHERE id = ?3 \
             ON CONFLICT (entry_id, handler) DO UPDATE SET {NEW_ROUND}, lease_owner = NULL, \
             lease_until_ms = NULL WHERE journal_deliveries.state <> 'pending'"
        ))?;
        for entry_id in entry_ids {
            scheduled += upsert.execute(params![now_ms, handler, entry_id])? as u64;
        }
    }
    transaction.commit()?;
    Ok(scheduled)
}
