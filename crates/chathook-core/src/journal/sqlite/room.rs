//! Making room under `max_entries` and `max_bytes`: the oldest entries whose deliveries were
//! all delivered (kept only for replay) are deleted before their retention ends, when an
//! append would pass a bound or `purge` finds the journal above 90% of one.

use rusqlite::{Connection, params};

use super::writer::{WRITE, Writer};
use crate::journal::JournalError;
use crate::journal::bounds::Room;
use crate::journal::rows::{PURGE_BATCH, PurgedBatch};

/// Candidates read per query: enough for an append's room at once, few enough to stay cheap.
const CANDIDATES: i64 = 64;

/// Deletes the oldest fully delivered entries, at most `at_most`, until `need` is freed or
/// none is left; returns what was freed and the highest id deleted. Runs in the caller's
/// transaction.
pub(super) fn free_delivered(
    connection: &Connection,
    need: Room,
    at_most: u64,
) -> Result<(Room, Option<i64>), JournalError> {
    // Through the delivered deliveries' index, so that a journal holding only pending or
    // dead ones (truly full) answers at once instead of walking every entry.
    let mut candidates = connection.prepare_cached(
        "SELECT DISTINCT d.entry_id, e.bytes FROM journal_deliveries d \
         JOIN journal_entries e ON e.id = d.entry_id \
         WHERE d.state = 'delivered' AND d.entry_id > ?1 AND NOT EXISTS ( \
             SELECT 1 FROM journal_deliveries o WHERE o.entry_id = d.entry_id \
             AND o.state <> 'delivered') \
         ORDER BY d.entry_id LIMIT ?2",
    )?;
    let mut delete = connection.prepare_cached("DELETE FROM journal_entries WHERE id = ?1")?;
    let mut freed = Room::default();
    let mut last_id = None;
    let mut after_id = 0;
    while (freed.entries < need.entries || freed.bytes < need.bytes) && freed.entries < at_most {
        let page: Vec<(i64, i64)> = candidates
            .query_map(params![after_id, CANDIDATES], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        after_id = last;
        for (id, bytes) in page {
            if (freed.entries >= need.entries && freed.bytes >= need.bytes)
                || freed.entries >= at_most
            {
                break;
            }
            delete.execute([id])?;
            freed.entries += 1;
            freed.bytes += bytes.max(0) as u64;
            last_id = Some(id);
        }
    }
    Ok((freed, last_id))
}

/// One `purge` batch beyond retention: frees what holds the journal above 90% of a bound,
/// at most [`PURGE_BATCH`] entries, in one transaction.
pub(super) fn purge_for_room(writer: &mut Writer) -> Result<PurgedBatch, JournalError> {
    let need = writer.bounds.excess();
    if need.is_empty() {
        return Ok(PurgedBatch::default());
    }
    let transaction = writer.connection.transaction_with_behavior(WRITE)?;
    let (freed, last_id) = free_delivered(&transaction, need, PURGE_BATCH as u64)?;
    transaction.commit()?;
    writer.bounds.removed(freed.entries, freed.bytes);
    Ok(PurgedBatch {
        entries: freed.entries,
        last_id,
        more: freed.entries > 0,
    })
}
