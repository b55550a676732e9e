//! What delivery workers and `/readyz` ask of the SQLite journal: claims, settlements,
//! leases given back, counts and the probe. Each runs on the writer thread.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::writer::{WRITE, Writer};
use crate::journal::rows::{
    CLAIMED_COLUMNS, ClaimRequest, OpenCount, Settlement, count_u32, from_unix_ms, now_ms,
    per_handler,
};
use crate::journal::{Claimed, JournalError, JournalStats, Settled, StoredCallback};

/// Leases the due deliveries `claim` asks for, inside the transaction the writer has open
/// for a batch.
pub(super) fn claim(
    connection: &Connection,
    claim: &ClaimRequest,
) -> Result<Vec<Claimed>, JournalError> {
    // A delivery is held back, when ordered, by an earlier pending delivery of its key,
    // leased or not: that is what keeps a key's entries in arrival order.
    let sql = format!(
        "SELECT {CLAIMED_COLUMNS} FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id \
         WHERE d.handler = ?1 AND d.state = 'pending' AND d.next_at_ms <= ?2 \
         AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= ?2) \
         AND (?3 = 0 OR d.conversation_key IS NULL OR NOT EXISTS ( \
             SELECT 1 FROM journal_deliveries h WHERE h.handler = d.handler \
             AND h.conversation_key = d.conversation_key AND h.state = 'pending' \
             AND h.id < d.id)) \
         ORDER BY d.next_at_ms, d.id LIMIT ?4"
    );
    let claimed = connection
        .prepare_cached(&sql)?
        .query_map(
            params![claim.handler, claim.now_ms, claim.ordered, claim.limit],
            claimed_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lease = connection.prepare_cached(
        "UPDATE journal_deliveries SET lease_owner = ?2, lease_until_ms = ?3 WHERE id = ?1",
    )?;
    for delivery in &claimed {
        lease.execute(params![delivery.id, claim.owner, claim.lease_until_ms])?;
    }
    Ok(claimed)
}

/// A claimed delivery from a row of [`CLAIMED_COLUMNS`].
fn claimed_from_row(row: &Row<'_>) -> rusqlite::Result<Claimed> {
    let attempts_total: i64 = row.get(3)?;
    Ok(Claimed {
        id: row.get(0)?,
        entry_id: row.get(1)?,
        handler: row.get(2)?,
        attempt: count_u32(attempts_total + 1),
        round_attempts: count_u32(row.get(4)?),
        round_started_at: from_unix_ms(row.get(5)?),
        callback: StoredCallback {
            sdk_app_id: row.get::<_, i64>(6)? as u64,
            command: row.get(7)?,
            client_ip: row.get(8)?,
            opt_platform: row.get(9)?,
            request_time: row.get(10)?,
            received_at: from_unix_ms(row.get(11)?),
            body: Bytes::from(row.get::<_, Vec<u8>>(12)?),
            decision: row.get(13)?,
            conversation_key: row.get(14)?,
            idempotency_key: row.get(15)?,
        },
    })
}

/// When `handler`'s earliest unleased (or expired) pending delivery is due.
pub(super) fn next_due(writer: &mut Writer, handler: &str) -> Result<Option<i64>, JournalError> {
    Ok(writer
        .connection
        .prepare_cached(
            "SELECT MIN(next_at_ms) FROM journal_deliveries WHERE handler = ?1 \
             AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms <= ?2)",
        )?
        .query_row(params![handler, now_ms()], |row| row.get(0))?)
}

/// Records the attempt, and its outcome if the lease is still the settler's, inside the
/// transaction the writer has open for a batch of settlements. The lease is checked by the
/// update itself, so the common case is two statements.
pub(super) fn settle(
    connection: &Connection,
    settlement: &Settlement,
) -> Result<Settled, JournalError> {
    let outcome: Option<i64> = connection
        .prepare_cached(
            "UPDATE journal_deliveries SET state = ?2, attempts_total = attempts_total + 1, \
             round_attempts = round_attempts + 1, next_at_ms = COALESCE(?3, next_at_ms), \
             lease_owner = NULL, lease_until_ms = NULL, \
             delivered_at_ms = COALESCE(?4, delivered_at_ms), \
             last_error = COALESCE(?5, last_error), dead_reason = ?6 \
             WHERE id = ?1 AND lease_owner = ?7 RETURNING attempts_total",
        )?
        .query_row(
            params![
                settlement.id,
                settlement.state,
                settlement.next_at_ms,
                settlement.delivered_at_ms,
                settlement.error,
                settlement.dead_reason,
                settlement.owner,
            ],
            |row| row.get(0),
        )
        .optional()?;
    let (settled, attempt) = match outcome {
        Some(attempt) => (Settled::Recorded, attempt),
        None => {
            // The attempt happened, so it counts in the delivery's life (its numbers stay
            // unique); its state is the new claimer's to settle.
            let counted: Option<i64> = connection
                .prepare_cached(
                    "UPDATE journal_deliveries SET attempts_total = attempts_total + 1 \
                     WHERE id = ?1 RETURNING attempts_total",
                )?
                .query_row([settlement.id], |row| row.get(0))
                .optional()?;
            // Discarded meanwhile: there is no history left to add to.
            let Some(attempt) = counted else {
                return Ok(Settled::LeaseLost);
            };
            (Settled::LeaseLost, attempt)
        }
    };
    connection
        .prepare_cached(
            "INSERT INTO journal_attempts (delivery_id, attempt, started_at_ms, ended_at_ms, \
             result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            settlement.id,
            attempt,
            settlement.started_at_ms,
            settlement.ended_at_ms,
            settlement.result,
            settlement.error,
        ])?;
    Ok(settled)
}

/// Gives back `owner`'s leases.
pub(super) fn release(writer: &mut Writer, owner: &str) -> Result<u64, JournalError> {
    let released = writer
        .connection
        .prepare_cached(
            "UPDATE journal_deliveries SET lease_owner = NULL, lease_until_ms = NULL \
             WHERE lease_owner = ?1",
        )?
        .execute([owner])?;
    Ok(released as u64)
}

/// Counts: entries and bytes as the writer keeps them (it is the only one, so they are
/// exact), per handler from the index of pending and dead deliveries only, so the cost is
/// that of the backlog, not of everything kept for replay.
pub(super) fn stats(writer: &mut Writer) -> Result<JournalStats, JournalError> {
    let held = writer.bounds.held();
    let counts = writer
        .connection
        .prepare_cached(
            "SELECT handler, state, COUNT(*), MIN(received_at_ms) FROM journal_deliveries \
             WHERE state IN ('pending', 'dead') GROUP BY handler, state ORDER BY handler",
        )?
        .query_map([], |row| {
            Ok(OpenCount {
                handler: row.get(0)?,
                state: row.get(1)?,
                count: row.get(2)?,
                oldest_ms: row.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JournalStats {
        entries: held.entries,
        bytes: held.bytes,
        handlers: per_handler(counts),
        append_transactions: 0,
    })
}

/// A write that commits: fails on a read-only file, a full disk, a file locked by another
/// process.
pub(super) fn probe(writer: &mut Writer) -> Result<(), JournalError> {
    let transaction = writer.connection.transaction_with_behavior(WRITE)?;
    transaction
        .prepare_cached("INSERT OR REPLACE INTO journal_probe (id, at_ms) VALUES (1, ?1)")?
        .execute([now_ms()])?;
    transaction
        .prepare_cached("DELETE FROM journal_probe")?
        .execute([])?;
    transaction.commit()?;
    Ok(())
}
