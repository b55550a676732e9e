//! The append writer: a task that takes every append waiting (up to `max_batch`) and commits
//! them in one transaction of three statements, whatever their number: find duplicates,
//! insert the entries, insert their deliveries (column arrays, `UNNEST`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{ErrorText, room};
use crate::journal::bounds::{Bounds, Pending};
use crate::journal::rows::{duration_ms, unix_ms};
use crate::journal::{Appended, JournalError, NewEntry};

/// An append and where its answer goes.
pub(crate) type AppendJob = (NewEntry, oneshot::Sender<Result<Appended, JournalError>>);

/// The writer's queue.
pub(super) type AppendQueue = mpsc::Sender<AppendJob>;

/// Appends queued beyond which callers wait to send.
const QUEUE_DEPTH: usize = 4096;

/// What the writer needs.
pub(super) struct Settings {
    pub(super) pool: PgPool,
    pub(super) bounds: Arc<Bounds>,
    pub(super) errors: ErrorText,
    pub(super) dedupe_window: Duration,
    pub(super) max_batch: usize,
}

/// Starts the writer task; it ends when the queue's last sender is dropped.
pub(super) fn start(settings: Settings) -> AppendQueue {
    let (queue, mut receiver) = mpsc::channel::<AppendJob>(QUEUE_DEPTH);
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(settings.max_batch);
        while receiver.recv_many(&mut jobs, settings.max_batch).await > 0 {
            commit(&settings, &mut jobs).await;
        }
    });
    queue
}

/// What becomes of one job of a batch.
enum Plan {
    /// Answered already (a duplicate of a committed entry, a bound, a bad entry).
    Answered(Result<Appended, JournalError>),
    /// Inserted, as the n-th new entry of the batch.
    Insert(usize),
    /// The same idempotency key as the n-th new entry of this batch.
    SameAs(usize),
}

/// Commits `jobs` in one transaction and answers each of them.
async fn commit(settings: &Settings, jobs: &mut Vec<AppendJob>) {
    let mut pending = Pending::default();
    let result = async {
        let mut transaction = settings.pool.begin().await?;
        let plans = plan(settings, &mut transaction, jobs, &mut pending).await?;
        let inserts: Vec<&NewEntry> = jobs
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| matches!(plan, Plan::Insert(_)))
            .map(|((entry, _), _)| entry)
            .collect();
        let ids = insert(&mut transaction, &inserts).await?;
        transaction.commit().await?;
        Ok::<_, sqlx::Error>((plans, ids))
    }
    .await;
    match result {
        Ok((plans, ids)) => {
            settings.bounds.added(pending);
            for ((_, answer), plan) in jobs.drain(..).zip(plans) {
                let _ = answer.send(match plan {
                    Plan::Answered(answered) => answered,
                    Plan::Insert(new) => Ok(Appended::New(ids[new])),
                    Plan::SameAs(new) => Ok(Appended::Duplicate(ids[new])),
                });
            }
        }
        Err(error) => {
            let error = settings.errors.database(error);
            for (_, answer) in jobs.drain(..) {
                let _ = answer.send(Err(error.clone()));
            }
        }
    }
}

/// Decides each job's fate: duplicates of committed entries (one query for the batch),
/// duplicates within the batch, bounds; what is left is inserted.
async fn plan(
    settings: &Settings,
    transaction: &mut Transaction<'_, Postgres>,
    jobs: &[AppendJob],
    pending: &mut Pending,
) -> Result<Vec<Plan>, sqlx::Error> {
    let window_ms = duration_ms(settings.dedupe_window);
    let keys: Vec<&str> = jobs
        .iter()
        .map(|(entry, _)| entry.callback.idempotency_key.as_str())
        .collect();
    let oldest_ms = jobs
        .iter()
        .map(|(entry, _)| unix_ms(entry.callback.received_at))
        .min()
        .unwrap_or(0);
    let earlier: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT idempotency_key, id, received_at_ms FROM journal_entries \
         WHERE idempotency_key = ANY($1) AND received_at_ms >= $2 ORDER BY id",
    )
    .bind(&keys)
    .bind(oldest_ms.saturating_sub(window_ms))
    .fetch_all(&mut **transaction)
    .await?;
    let mut committed: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for (key, id, received_at_ms) in &earlier {
        committed
            .entry(key)
            .or_default()
            .push((*id, *received_at_ms));
    }
    let mut in_batch: HashMap<&str, (usize, i64)> = HashMap::new();
    let mut plans = Vec::with_capacity(jobs.len());
    let mut inserts = 0;
    for (entry, _) in jobs {
        let callback = &entry.callback;
        let key = callback.idempotency_key.as_str();
        let cutoff_ms = unix_ms(callback.received_at).saturating_sub(window_ms);
        let duplicate = committed
            .get(key)
            .and_then(|found| found.iter().find(|(_, at)| *at >= cutoff_ms));
        let plan = if entry.handlers.is_empty() {
            Plan::Answered(Err(JournalError::Database(
                "an entry must be owed to at least one queued handler".into(),
            )))
        } else if let Some((id, _)) = duplicate {
            Plan::Answered(Ok(Appended::Duplicate(*id)))
        } else if let Some((new, _)) = in_batch.get(key).filter(|(_, at)| *at >= cutoff_ms) {
            Plan::SameAs(*new)
        } else {
            let bytes = callback.body.len() as u64;
            let need = settings.bounds.shortfall(pending, bytes);
            if !need.is_empty() {
                let (freed, _) = room::free_delivered(transaction, need, u64::MAX).await?;
                pending.freed.entries += freed.entries;
                pending.freed.bytes += freed.bytes;
            }
            match settings.bounds.admit(pending, bytes) {
                Err(full) => Plan::Answered(Err(full)),
                Ok(()) => {
                    in_batch.insert(key, (inserts, unix_ms(callback.received_at)));
                    inserts += 1;
                    Plan::Insert(inserts - 1)
                }
            }
        };
        plans.push(plan);
    }
    Ok(plans)
}

/// Inserts the entries and their deliveries; returns the entries' ids, in order.
async fn insert(
    transaction: &mut Transaction<'_, Postgres>,
    entries: &[&NewEntry],
) -> Result<Vec<i64>, sqlx::Error> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    // Ids taken first and given out here, in the batch's order, so that ids follow arrival
    // whatever order PostgreSQL evaluates rows in (ordered delivery gates on delivery ids),
    // and each entry's deliveries know its id without relying on RETURNING's order.
    let ids = take_ids(transaction, "journal_entries_id_seq", entries.len()).await?;
    let callbacks = entries.iter().map(|entry| &entry.callback);
    let column = |field: fn(&crate::journal::StoredCallback) -> Option<String>| {
        callbacks.clone().map(field).collect::<Vec<_>>()
    };
    sqlx::query(
        "INSERT INTO journal_entries (id, sdk_app_id, command, client_ip, opt_platform, \
         request_time, received_at_ms, body, decision, conversation_key, idempotency_key, bytes) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::bigint[], $8::bytea[], $9::text[], $10::text[], $11::text[], \
         $12::bigint[])",
    )
    .bind(&ids)
    .bind(
        callbacks
            .clone()
            .map(|c| c.sdk_app_id as i64)
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .clone()
            .map(|c| c.command.clone())
            .collect::<Vec<_>>(),
    )
    .bind(column(|c| c.client_ip.clone()))
    .bind(column(|c| c.opt_platform.clone()))
    .bind(column(|c| c.request_time.clone()))
    .bind(
        callbacks
            .clone()
            .map(|c| unix_ms(c.received_at))
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .clone()
            .map(|c| c.body.to_vec())
            .collect::<Vec<_>>(),
    )
    .bind(column(|c| c.decision.clone()))
    .bind(column(|c| c.conversation_key.clone()))
    .bind(
        callbacks
            .clone()
            .map(|c| c.idempotency_key.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .clone()
            .map(|c| c.body.len() as i64)
            .collect::<Vec<_>>(),
    )
    .execute(&mut **transaction)
    .await?;
    let mut owed_entry = Vec::new();
    let mut owed_handler = Vec::new();
    for (entry, id) in entries.iter().zip(&ids) {
        for handler in &entry.handlers {
            owed_entry.push(*id);
            owed_handler.push(*handler);
        }
    }
    let delivery_ids = take_ids(transaction, "journal_deliveries_id_seq", owed_entry.len()).await?;
    sqlx::query(
        "INSERT INTO journal_deliveries (id, entry_id, handler, state, round_started_at_ms, \
         next_at_ms, received_at_ms, command, conversation_key) \
         SELECT owed.id, e.id, owed.handler, 'pending', e.received_at_ms, e.received_at_ms, \
         e.received_at_ms, e.command, e.conversation_key \
         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[]) AS owed (id, entry_id, handler) \
         JOIN journal_entries e ON e.id = owed.entry_id",
    )
    .bind(&delivery_ids)
    .bind(&owed_entry)
    .bind(&owed_handler)
    .execute(&mut **transaction)
    .await?;
    Ok(ids)
}

/// `count` values of `sequence`, ascending: the ids of rows to insert in that order.
async fn take_ids(
    transaction: &mut Transaction<'_, Postgres>,
    sequence: &str,
    count: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval($1::regclass) FROM generate_series(1, $2)")
            .bind(sequence)
            .bind(count as i64)
            .fetch_all(&mut **transaction)
            .await?;
    // The set is what the sequence gave; its order is sorted here rather than assumed.
    ids.sort_unstable();
    Ok(ids)
}
