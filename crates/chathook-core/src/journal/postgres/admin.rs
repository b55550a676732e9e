//! What operators ask of the PostgreSQL journal (list, show, retry, discard, replay) and the
//! purge; each call is one short statement or transaction.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::journal::bounds::Bounds;
use crate::journal::rows::{
    DETAIL_COLUMNS, ListPage, PAGE, PURGE_BATCH, PurgedBatch, ReplayCandidate, SUMMARY_COLUMNS,
    count_u32,
};
use crate::journal::{
    AttemptRecord, DeliveryDetail, DeliveryId, DeliveryState, DeliverySummary, RetryTarget,
};

/// What makes an entry `e` one no delivery needs any more, `$2` the retention's cutoff.
const UNNEEDED: &str = "e.received_at_ms < $2 AND NOT EXISTS (SELECT 1 FROM journal_deliveries d \
     WHERE d.entry_id = e.id AND (d.state <> 'delivered' OR d.delivered_at_ms >= $2))";

/// Deletes up to [`PURGE_BATCH`] entries after `after_id` that no delivery needs any more.
pub(super) async fn purge_batch(
    pool: &PgPool,
    bounds: &Bounds,
    cutoff_ms: i64,
    after_id: i64,
) -> Result<PurgedBatch, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    // Locked first, skipping the entries a replay is scheduling (it holds them FOR KEY
    // SHARE); the delete checks again with a snapshot taken after the locks, so a delivery
    // a replay made pending meanwhile is never deleted with its entry.
    let locked: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT e.id FROM journal_entries e WHERE e.id > $1 AND {UNNEEDED} \
         ORDER BY e.id LIMIT $3 FOR UPDATE SKIP LOCKED"
    ))
    .bind(after_id)
    .bind(cutoff_ms)
    .bind(PURGE_BATCH as i64)
    .fetch_all(&mut *transaction)
    .await?;
    let deleted: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "DELETE FROM journal_entries e WHERE e.id = ANY($1) AND {UNNEEDED} RETURNING id, bytes"
    ))
    .bind(&locked)
    .bind(cutoff_ms)
    .fetch_all(&mut *transaction)
    .await?;
    transaction.commit().await?;
    let bytes: i64 = deleted.iter().map(|(_, bytes)| bytes).sum();
    bounds.removed(deleted.len() as u64, bytes.max(0) as u64);
    Ok(PurgedBatch {
        entries: deleted.len() as u64,
        // Paging goes by what was locked: a batch deleting fewer is not the last for that.
        last_id: locked.last().copied(),
        more: locked.len() >= PURGE_BATCH,
    })
}

/// A summary from the first columns of a row of [`SUMMARY_COLUMNS`].
fn summary_from_row(row: &PgRow) -> Result<DeliverySummary, sqlx::Error> {
    let state: String = row.try_get(5)?;
    let state = DeliveryState::parse(&state).map_err(|error| sqlx::Error::Decode(error.into()))?;
    Ok(DeliverySummary {
        id: row.try_get(0)?,
        entry_id: row.try_get(1)?,
        handler: row.try_get(2)?,
        command: row.try_get(3)?,
        sdk_app_id: row.try_get::<i64, _>(4)? as u64,
        state,
        attempts: count_u32(row.try_get(6)?),
        received_at_ms: row.try_get(7)?,
        next_attempt_at_ms: row.try_get(8)?,
        delivered_at_ms: row.try_get(9)?,
        last_error: row.try_get(10)?,
        dead_reason: row.try_get(11)?,
        idempotency_key: row.try_get(12)?,
        conversation_key: row.try_get(13)?,
    })
}

/// One page of `list`, newest first.
pub(super) async fn list_page(
    pool: &PgPool,
    page: &ListPage,
) -> Result<Vec<DeliverySummary>, sqlx::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id \
         WHERE ($1::text IS NULL OR d.handler = $1 OR starts_with(d.handler, $1 || '.')) \
         AND ($2::text IS NULL OR d.state = $2) \
         AND ($3::bigint IS NULL OR d.received_at_ms >= $3) \
         AND ($4::bigint IS NULL OR d.received_at_ms < $4) \
         AND ($5::bigint IS NULL OR d.id < $5) ORDER BY d.id DESC LIMIT $6"
    );
    let rows = sqlx::query(&sql)
        .bind(&page.handler)
        .bind(page.state)
        .bind(page.since_ms)
        .bind(page.until_ms)
        .bind(page.before_id)
        .bind(page.limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(summary_from_row).collect()
}

/// One delivery, its entry and its attempts.
pub(super) async fn show(
    pool: &PgPool,
    id: DeliveryId,
) -> Result<Option<DeliveryDetail>, sqlx::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, {DETAIL_COLUMNS} FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id WHERE d.id = $1"
    );
    let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(pool).await? else {
        return Ok(None);
    };
    let attempts: Vec<(i64, i64, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT attempt, started_at_ms, ended_at_ms, result, error FROM journal_attempts \
         WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(DeliveryDetail {
        summary: summary_from_row(&row)?,
        attempts: attempts
            .into_iter()
            .map(
                |(attempt, started_at_ms, ended_at_ms, result, error)| AttemptRecord {
                    attempt: count_u32(attempt),
                    started_at_ms,
                    ended_at_ms,
                    result,
                    error,
                },
            )
            .collect(),
        client_ip: row.try_get(14)?,
        opt_platform: row.try_get(15)?,
        body: String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(16)?).into_owned(),
        decision: row.try_get(17)?,
    }))
}

/// The columns a new round sets; `$1` is now.
const NEW_ROUND: &str = "state = 'pending', round_attempts = 0, round_started_at_ms = $1, \
     next_at_ms = $1, delivered_at_ms = NULL, dead_reason = NULL";

/// Starts a new round for the target's deliveries.
pub(super) async fn retry(
    pool: &PgPool,
    target: &RetryTarget,
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let done = match target {
        RetryTarget::One(id) => {
            sqlx::query(&format!(
                "UPDATE journal_deliveries SET {NEW_ROUND} WHERE id = $2 \
                 AND state IN ('dead', 'pending')"
            ))
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?
        }
        RetryTarget::AllDead { handler } => {
            sqlx::query(&format!(
                "UPDATE journal_deliveries SET {NEW_ROUND} WHERE state = 'dead' \
                 AND (handler = $2 OR starts_with(handler, $2 || '.'))"
            ))
            .bind(now_ms)
            .bind(handler)
            .execute(pool)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Deletes a delivery, and its entry if no other delivery is left.
pub(super) async fn discard(
    pool: &PgPool,
    bounds: &Bounds,
    id: DeliveryId,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let entry_id: Option<i64> =
        sqlx::query_scalar("DELETE FROM journal_deliveries WHERE id = $1 RETURNING entry_id")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await?;
    let Some(entry_id) = entry_id else {
        return Ok(false);
    };
    let orphan_bytes: Option<i64> = sqlx::query_scalar(
        "DELETE FROM journal_entries WHERE id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_deliveries WHERE entry_id = $1) RETURNING bytes",
    )
    .bind(entry_id)
    .fetch_optional(&mut *transaction)
    .await?;
    transaction.commit().await?;
    if let Some(bytes) = orphan_bytes {
        bounds.removed(1, bytes.max(0) as u64);
    }
    Ok(true)
}

/// A page of the entries received in `[since_ms, until_ms)`, by id after `after_id`.
pub(super) async fn replay_candidates(
    pool: &PgPool,
    since_ms: i64,
    until_ms: i64,
    after_id: i64,
) -> Result<Vec<ReplayCandidate>, sqlx::Error> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, command FROM journal_entries WHERE received_at_ms >= $1 \
         AND received_at_ms < $2 AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(since_ms)
    .bind(until_ms)
    .bind(after_id)
    .bind(PAGE as i64)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, command)| ReplayCandidate { id, command })
        .collect())
}

/// Gives each entry a pending delivery to `handler` in a new round, unless it has one
/// pending already, in one transaction; returns how many were scheduled.
pub(super) async fn schedule(
    pool: &PgPool,
    handler: &str,
    entry_ids: &[i64],
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    // The entries are locked against a purge (which takes them FOR UPDATE) until the new
    // round commits, so it cannot delete an entry whose delivery this makes pending.
    sqlx::query("SELECT id FROM journal_entries WHERE id = ANY($1) ORDER BY id FOR KEY SHARE")
        .bind(entry_ids)
        .execute(&mut *transaction)
        .await?;
    let done = sqlx::query(&format!(
        "INSERT INTO journal_deliveries AS d (entry_id, handler, state, round_started_at_ms, \
         next_at_ms, received_at_ms, command, conversation_key) \
         SELECT e.id, $2, 'pending', $1, $1, e.received_at_ms, e.command, e.conversation_key \
         FROM journal_entries e WHERE e.id = ANY($3) \
         ON CONFLICT (entry_id, handler) DO UPDATE SET {NEW_ROUND}, lease_owner = NULL, \
         lease_until_ms = NULL WHERE d.state <> 'pending'"
    ))
    .bind(now_ms)
    .bind(handler)
    .bind(entry_ids)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(done.rows_affected())
}
