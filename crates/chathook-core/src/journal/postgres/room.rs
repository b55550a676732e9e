//! Making room under `max_entries` and `max_bytes`: the oldest entries whose deliveries were
//! all delivered (kept only for replay) are deleted before their retention ends, when an
//! append would pass a bound or `purge` finds the journal above 90% of one.

use sqlx::{PgConnection, PgPool};

use crate::journal::bounds::{Bounds, Room};
use crate::journal::rows::{PURGE_BATCH, PurgedBatch};

/// Candidates read per query: enough for an append's room at once, few enough to stay cheap.
const CANDIDATES: i64 = 64;

/// Deletes, in the caller's transaction, the oldest fully delivered entries, at most
/// `at_most`, until `need` is freed or none is left; returns what was freed and the highest
/// id deleted.
pub(super) async fn free_delivered(
    connection: &mut PgConnection,
    need: Room,
    at_most: u64,
) -> Result<(Room, Option<i64>), sqlx::Error> {
    let mut freed = Room::default();
    let mut last_id = None;
    let mut after_id = 0;
    let short = |freed: Room| {
        (freed.entries < need.entries || freed.bytes < need.bytes) && freed.entries < at_most
    };
    while short(freed) {
        // Through the delivered deliveries' index, so that a journal holding only pending or
        // dead ones (truly full) answers at once instead of walking every entry.
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT entry_id FROM journal_deliveries WHERE state = 'delivered' \
             AND entry_id > $1 ORDER BY entry_id LIMIT $2",
        )
        .bind(after_id)
        .bind(CANDIDATES)
        .fetch_all(&mut *connection)
        .await?;
        let Some(&last) = candidates.last() else {
            break;
        };
        after_id = last;
        // Locked first, skipping those a replay is scheduling (it holds them FOR KEY
        // SHARE); the delete then checks the deliveries again with a snapshot taken after
        // the locks, so no delivery made pending meanwhile is deleted with its entry.
        let locked: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, bytes FROM journal_entries WHERE id = ANY($1) ORDER BY id \
             FOR UPDATE SKIP LOCKED",
        )
        .bind(&candidates)
        .fetch_all(&mut *connection)
        .await?;
        let mut chosen = Vec::new();
        let mut planned = freed;
        for (id, bytes) in locked {
            if !short(planned) {
                break;
            }
            chosen.push(id);
            planned.entries += 1;
            planned.bytes += bytes.max(0) as u64;
        }
        let deleted: Vec<(i64, i64)> = sqlx::query_as(
            "DELETE FROM journal_entries e WHERE e.id = ANY($1) AND NOT EXISTS ( \
                 SELECT 1 FROM journal_deliveries o WHERE o.entry_id = e.id \
                 AND o.state <> 'delivered') \
             RETURNING id, bytes",
        )
        .bind(&chosen)
        .fetch_all(&mut *connection)
        .await?;
        for (id, bytes) in deleted {
            freed.entries += 1;
            freed.bytes += bytes.max(0) as u64;
            last_id = last_id.max(Some(id));
        }
    }
    Ok((freed, last_id))
}

/// One `purge` batch beyond retention: frees what holds the journal above 90% of a bound,
/// at most [`PURGE_BATCH`] entries, in one transaction.
pub(super) async fn purge_for_room(
    pool: &PgPool,
    bounds: &Bounds,
) -> Result<PurgedBatch, sqlx::Error> {
    let need = bounds.excess();
    if need.is_empty() {
        return Ok(PurgedBatch::default());
    }
    let mut transaction = pool.begin().await?;
    let (freed, last_id) = free_delivered(&mut transaction, need, PURGE_BATCH as u64).await?;
    transaction.commit().await?;
    bounds.removed(freed.entries, freed.bytes);
    Ok(PurgedBatch {
        entries: freed.entries,
        last_id,
        more: freed.entries > 0,
    })
}
