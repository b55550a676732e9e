//! What delivery workers and `/readyz` ask of the PostgreSQL journal: claims (`FOR UPDATE
//! SKIP LOCKED`), settlements, leases given back, counts and the probe.

use bytes::Bytes;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::journal::bounds::Bounds;
use crate::journal::rows::{
    CLAIMED_COLUMNS, ClaimRequest, OpenCount, Settlement, count_u32, from_unix_ms, now_ms,
    per_handler,
};
use crate::journal::{Claimed, JournalStats, Settled, StoredCallback};

/// Leases the due deliveries `claim` asks for. Rows another replica is leasing at this
/// moment are skipped, not waited for; a row it leased already is no longer due.
pub(super) async fn claim(
    pool: &PgPool,
    claim: &ClaimRequest,
) -> Result<Vec<Claimed>, sqlx::Error> {
    // A delivery is held back, when ordered, by an earlier pending delivery of its key,
    // leased or not: that is what keeps a key's entries in arrival order.
    let sql = format!(
        "WITH due AS ( \
             SELECT d.id FROM journal_deliveries d \
             WHERE d.handler = $1 AND d.state = 'pending' AND d.next_at_ms <= $2 \
             AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $2) \
             AND (NOT $3 OR d.conversation_key IS NULL OR NOT EXISTS ( \
                 SELECT 1 FROM journal_deliveries h WHERE h.handler = d.handler \
                 AND h.conversation_key = d.conversation_key AND h.state = 'pending' \
                 AND h.id < d.id)) \
             ORDER BY d.next_at_ms, d.id LIMIT $4 FOR UPDATE SKIP LOCKED), \
         leased AS ( \
             UPDATE journal_deliveries d SET lease_owner = $5, lease_until_ms = $6 \
             FROM due WHERE d.id = due.id RETURNING d.*) \
         SELECT {CLAIMED_COLUMNS} FROM leased d JOIN journal_entries e ON e.id = d.entry_id \
         ORDER BY d.id"
    );
    let rows = sqlx::query(&sql)
        .bind(&claim.handler)
        .bind(claim.now_ms)
        .bind(claim.ordered)
        .bind(claim.limit)
        .bind(&claim.owner)
        .bind(claim.lease_until_ms)
        .fetch_all(pool)
        .await?;
    rows.iter().map(claimed_from_row).collect()
}

/// A claimed delivery from a row of [`CLAIMED_COLUMNS`].
fn claimed_from_row(row: &PgRow) -> Result<Claimed, sqlx::Error> {
    let attempts_total: i64 = row.try_get(3)?;
    Ok(Claimed {
        id: row.try_get(0)?,
        entry_id: row.try_get(1)?,
        handler: row.try_get(2)?,
        attempt: count_u32(attempts_total + 1),
        round_attempts: count_u32(row.try_get(4)?),
        round_started_at: from_unix_ms(row.try_get(5)?),
        callback: StoredCallback {
            sdk_app_id: row.try_get::<i64, _>(6)? as u64,
            command: row.try_get(7)?,
            client_ip: row.try_get(8)?,
            opt_platform: row.try_get(9)?,
            request_time: row.try_get(10)?,
            received_at: from_unix_ms(row.try_get(11)?),
            body: Bytes::from(row.try_get::<Vec<u8>, _>(12)?),
            decision: row.try_get(13)?,
            conversation_key: row.try_get(14)?,
            idempotency_key: row.try_get(15)?,
        },
    })
}

/// When `handler`'s earliest unleased (or expired) pending delivery is due.
pub(super) async fn next_due(pool: &PgPool, handler: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(next_at_ms) FROM journal_deliveries WHERE handler = $1 \
         AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms <= $2)",
    )
    .bind(handler)
    .bind(now_ms())
    .fetch_one(pool)
    .await
}

/// Records the attempt, and its outcome if the lease is still the settler's.
pub(super) async fn settle(pool: &PgPool, settlement: &Settlement) -> Result<Settled, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let found: Option<(Option<String>, i64)> = sqlx::query_as(
        "SELECT lease_owner, attempts_total FROM journal_deliveries WHERE id = $1 FOR UPDATE",
    )
    .bind(settlement.id)
    .fetch_optional(&mut *transaction)
    .await?;
    // Discarded meanwhile: there is no history left to add to.
    let Some((lease_owner, attempts_total)) = found else {
        return Ok(Settled::LeaseLost);
    };
    sqlx::query(
        "INSERT INTO journal_attempts (delivery_id, attempt, started_at_ms, ended_at_ms, \
         result, error) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(settlement.id)
    .bind(attempts_total + 1)
    .bind(settlement.started_at_ms)
    .bind(settlement.ended_at_ms)
    .bind(settlement.result)
    .bind(&settlement.error)
    .execute(&mut *transaction)
    .await?;
    let settled = if lease_owner.as_deref() == Some(settlement.owner.as_str()) {
        sqlx::query(
            "UPDATE journal_deliveries SET state = $2, attempts_total = attempts_total + 1, \
             round_attempts = round_attempts + 1, next_at_ms = COALESCE($3, next_at_ms), \
             lease_owner = NULL, lease_until_ms = NULL, \
             delivered_at_ms = COALESCE($4, delivered_at_ms), \
             last_error = COALESCE($5, last_error), dead_reason = $6 WHERE id = $1",
        )
        .bind(settlement.id)
        .bind(settlement.state)
        .bind(settlement.next_at_ms)
        .bind(settlement.delivered_at_ms)
        .bind(&settlement.error)
        .bind(settlement.dead_reason)
        .execute(&mut *transaction)
        .await?;
        Settled::Recorded
    } else {
        // The attempt happened, so it counts in the delivery's life (its numbers stay
        // unique); its state is the new claimer's to settle.
        sqlx::query(
            "UPDATE journal_deliveries SET attempts_total = attempts_total + 1 WHERE id = $1",
        )
        .bind(settlement.id)
        .execute(&mut *transaction)
        .await?;
        Settled::LeaseLost
    };
    transaction.commit().await?;
    Ok(settled)
}

/// Gives back `owner`'s leases.
pub(super) async fn release(pool: &PgPool, owner: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE journal_deliveries SET lease_owner = NULL, lease_until_ms = NULL \
         WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Sets the bounds' counts from the table.
pub(super) async fn count(pool: &PgPool, bounds: &Bounds) -> Result<(u64, u64), sqlx::Error> {
    let (entries, bytes): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(bytes), 0)::BIGINT FROM journal_entries")
            .fetch_one(pool)
            .await?;
    let (entries, bytes) = (entries.max(0) as u64, bytes.max(0) as u64);
    bounds.resynchronise(entries, bytes);
    Ok((entries, bytes))
}

/// Counts, per handler from the index of pending and dead deliveries only; resynchronises
/// the bounds, which other replicas' appends and purges move too.
pub(super) async fn stats(pool: &PgPool, bounds: &Bounds) -> Result<JournalStats, sqlx::Error> {
    let (entries, bytes) = count(pool, bounds).await?;
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT handler, state, COUNT(*), MIN(received_at_ms) FROM journal_deliveries \
         WHERE state IN ('pending', 'dead') GROUP BY handler, state ORDER BY handler",
    )
    .fetch_all(pool)
    .await?;
    let counts = rows
        .into_iter()
        .map(|(handler, state, count, oldest_ms)| OpenCount {
            handler,
            state,
            count,
            oldest_ms,
        })
        .collect();
    Ok(JournalStats {
        entries,
        bytes,
        handlers: per_handler(counts),
        append_transactions: 0,
    })
}

/// A write that commits: fails on a read-only server, a full disk, a lost connection.
pub(super) async fn probe(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let id: i64 = sqlx::query_scalar("INSERT INTO journal_probe (at_ms) VALUES ($1) RETURNING id")
        .bind(now_ms())
        .fetch_one(&mut *transaction)
        .await?;
    sqlx::query("DELETE FROM journal_probe WHERE id = $1")
        .bind(id)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await
}
