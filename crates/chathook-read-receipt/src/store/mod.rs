//! Durable storage of receipt state in SQLite or PostgreSQL, with group commit.
//!
//! Every write goes through one writer per process: for SQLite a thread with its own
//! connection and prepared statements, for PostgreSQL a task sending each batch as column
//! arrays. Callbacks that arrive while a transaction is in flight queue up and are committed
//! together in the next one, so a busy server pays one commit (one fsync) for many callbacks,
//! and each callback still gets its answer only after its own data is committed. A batch is
//! written in key order, so replicas sharing one PostgreSQL database lock rows in the same
//! order and cannot deadlock. Reads go through a connection pool.
//!
//! Failure is kept as small as it can be. A batch the database refuses as data (a value it
//! cannot hold) is committed again callback by callback, so only the callback at fault fails;
//! a connection error or a timeout fails the batch at once. A PostgreSQL write that does not
//! finish within the write timeout drops its connection, and the server ends the abandoned
//! transaction by the same timeout, so a network that stops answering costs one batch, not
//! the writer, nor the row locks another replica needs. A SQLite commit first checks that the
//! file it writes is still the one at the path. Readiness reports a stuck writer, a removed
//! file and failed writes, and after a failure probes the write path so it recovers by itself.
//! The retention purge deletes in small transactions so that writers never wait long.

mod batch;
mod error;
mod failure_log;
mod health;
mod migrations;
mod postgres;
mod sqlite;
mod url;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathook_core::sqlite_files::SqliteFiles;
use sqlx::Row;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use self::batch::{Batches, Job, Work};
use self::health::WriterHealth;
use self::url::{Backend, backend, open_failed};
use crate::model::{MessageKey, ReceiptState};

pub use self::error::StoreError;
pub use self::url::check_database_url;

/// How to open the store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `sqlite://path` or `postgres://...`.
    pub database_url: String,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a connection or (SQLite) a lock before failing.
    pub busy_timeout: Duration,
    /// Most callbacks committed in one transaction.
    pub max_batch: usize,
    /// Longest one write transaction may take. PostgreSQL: the client drops the connection
    /// after it, and the server ends statements and abandoned transactions after it (so a
    /// client that vanished mid-transaction does not hold row locks). Both: a writer inside one
    /// write for longer is reported not ready.
    pub write_timeout: Duration,
    /// What a commit survives.
    pub durability: Durability,
}

/// What an acknowledged callback survives: `[handlers.read_receipt] durability`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A power loss: SQLite syncs its log at every commit (`synchronous = FULL`); PostgreSQL
    /// keeps its own settings (`synchronous_commit = on` unless the server says otherwise).
    #[default]
    Full,
    /// A crash of chathook, not of the machine: SQLite syncs its log only at checkpoints
    /// (`synchronous = NORMAL`), so a power loss or kernel crash may lose the last commits;
    /// PostgreSQL answers a commit before flushing its log (`synchronous_commit = off` for
    /// chathook's sessions), so a crash of the database server may lose them.
    Normal,
}

/// One message's stored state, as the API returns it: the message, then what is known of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredReceipt {
    /// Which message.
    #[serde(flatten)]
    pub key: MessageKey,
    /// Its receipts, merged over every callback.
    #[serde(flatten)]
    pub state: ReceiptState,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool: the SQL is the same text for both
/// databases, only the driver types differ.
macro_rules! with_pool {
    ($pool_enum:expr, $pool:ident => $body:expr) => {
        match $pool_enum {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Most messages deleted by one purge transaction: small enough that a writer waiting behind
/// it waits milliseconds, not the seconds a million-row delete takes.
pub const PURGE_BATCH: usize = 1000;

/// The read-receipt store: a pool plus the group-commit writer.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    jobs: mpsc::Sender<Work>,
    health: Arc<WriterHealth>,
    write_timeout: Duration,
    /// SQLite: the files the store opened, to notice them being removed, replaced or made
    /// immutable.
    files: Option<Arc<SqliteFiles>>,
}

impl Store {
    /// Connects, creates or migrates the schema, and starts the writer. Errors never show
    /// the URL's password.
    pub async fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let url = options.database_url.as_str();
        let max_batch = options.max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        let health = Arc::new(WriterHealth::default());
        let batches = Batches::new(max_batch, Arc::clone(&health));
        let (pool, files) = match backend(url)? {
            Backend::Sqlite => sqlite::open(options, queue, batches)
                .await
                .map(|(pool, files)| (Pool::Sqlite(pool), Some(files))),
            Backend::Postgres => postgres::open(options, queue, batches)
                .await
                .map(|pool| (Pool::Postgres(pool), None)),
        }
        .map_err(|error| open_failed(url, error))?;
        let store = Self {
            pool,
            jobs,
            health,
            write_timeout: options.write_timeout,
            files,
        };
        store.probe_at_start(url).await;
        Ok(store)
    }

    /// A real write once at start-up: a store that opens but cannot be written (a full disk,
    /// a read-only file) is not ready from the start, rather than after the first callback
    /// fails. It still starts, and becomes ready on its own once a probe's write commits.
    async fn probe_at_start(&self, url: &str) {
        let (done, probed) = oneshot::channel();
        if self.jobs.send(Work::Probe(done)).await.is_err() {
            return;
        }
        if let Ok(Err(error)) = probed.await {
            self.health.write_failed();
            tracing::warn!(
                database_url = %chathook_core::redact::url(url),
                %error,
                "the read receipt store opened but a test write failed; not ready until one \
                 commits"
            );
        }
    }

    /// Merges `states` into the store; returns once they are committed.
    pub async fn record(
        &self,
        states: BTreeMap<MessageKey, ReceiptState>,
    ) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Work::Record(Job { states, done }))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        committed.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Ready when the writer runs and is not stuck in a write, the SQLite file is still the
    /// one opened, the database answers, and writes can commit. After a failed write this
    /// probes the write path itself, so readiness comes back on its own when the database
    /// does: a load balancer that waits for it would never send the write that tells.
    pub async fn check(&self) -> Result<(), StoreError> {
        if self.jobs.is_closed() {
            return Err(StoreError::WriterStopped);
        }
        if let Some(stuck) = self
            .health
            .current_write()
            .filter(|running| *running > self.write_timeout)
        {
            return Err(StoreError::WriterStuck {
                stuck_ms: millis(stuck),
                timeout_ms: millis(self.write_timeout),
            });
        }
        self.check_files()?;
        with_pool!(&self.pool, pool => sqlx::query("SELECT 1 FROM read_receipts LIMIT 1")
            .fetch_optional(pool)
            .await
            .map(drop))?;
        if self.health.last_write_failed() {
            let (done, probed) = oneshot::channel();
            self.jobs
                .try_send(Work::Probe(done))
                .map_err(|error| match error {
                    mpsc::error::TrySendError::Full(_) => StoreError::LastWriteFailed,
                    mpsc::error::TrySendError::Closed(_) => StoreError::WriterStopped,
                })?;
            probed.await.map_err(|_| StoreError::WriterStopped)??;
        }
        Ok(())
    }

    /// SQLite: whether its files are still the ones opened and writable. Before anything
    /// that reads through the pool too: a read writes to the -shm mapping, which is a SIGBUS
    /// once the file is immutable.
    fn check_files(&self) -> Result<(), StoreError> {
        match &self.files {
            Some(files) => files.check().map_err(StoreError::File),
            None => Ok(()),
        }
    }

    /// Transactions committed so far; fewer than records under load, thanks to group commit.
    pub fn transactions_committed(&self) -> u64 {
        self.health.transactions()
    }

    /// One message's state.
    pub async fn get(
        &self,
        sdk_app_id: i64,
        group_id: &str,
        msg_seq: i64,
    ) -> Result<Option<StoredReceipt>, StoreError> {
        let mut page = self
            .page(sdk_app_id, group_id, msg_seq - 1, Some(msg_seq), 1)
            .await?;
        Ok(page.pop())
    }

    /// Up to `limit` messages of a group with `msg_seq > after_seq`, in `msg_seq` order.
    pub async fn list(
        &self,
        sdk_app_id: i64,
        group_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        self.page(sdk_app_id, group_id, after_seq, None, limit)
            .await
    }

    async fn page(
        &self,
        sdk_app_id: i64,
        group_id: &str,
        after_seq: i64,
        up_to_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        self.check_files()?;
        let up_to = up_to_seq.unwrap_or(i64::MAX);
        let (rows, readers) = with_pool!(&self.pool, pool => {
            let rows = sqlx::query(
                "SELECT msg_seq, group_type, read_num, unread_num, first_event_time_ms, \
                 last_event_time_ms FROM read_receipts \
                 WHERE sdk_app_id = $1 AND group_id = $2 AND msg_seq > $3 AND msg_seq <= $4 \
                 ORDER BY msg_seq LIMIT $5",
            )
            .bind(sdk_app_id)
            .bind(group_id)
            .bind(after_seq)
            .bind(up_to)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let last = rows.last().map(|row| row.try_get::<i64, _>("msg_seq")).transpose()?;
            let readers = match last {
                None => Vec::new(),
                Some(last) => sqlx::query(
                    "SELECT msg_seq, member_account FROM read_receipt_readers \
                     WHERE sdk_app_id = $1 AND group_id = $2 AND msg_seq > $3 AND msg_seq <= $4 \
                     ORDER BY msg_seq, member_account",
                )
                .bind(sdk_app_id)
                .bind(group_id)
                .bind(after_seq)
                .bind(last)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok((row.try_get::<i64, _>("msg_seq")?, row.try_get::<String, _>("member_account")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?,
            };
            let rows = rows
                .into_iter()
                .map(|row| {
                    Ok(StoredReceipt {
                        key: MessageKey {
                            sdk_app_id,
                            group_id: group_id.to_owned(),
                            msg_seq: row.try_get("msg_seq")?,
                        },
                        state: ReceiptState {
                            group_type: row.try_get("group_type")?,
                            read_num: row.try_get("read_num")?,
                            unread_num: row.try_get("unread_num")?,
                            readers: BTreeSet::new(),
                            first_event_time_ms: row.try_get("first_event_time_ms")?,
                            last_event_time_ms: row.try_get("last_event_time_ms")?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            (rows, readers)
        });
        let mut rows = rows;
        // Both lists are in `msg_seq` order: one pass hands each row its readers.
        let mut readers = readers.into_iter().peekable();
        for row in &mut rows {
            let msg_seq = row.key.msg_seq;
            while readers.next_if(|(seq, _)| *seq < msg_seq).is_some() {}
            while let Some((_, account)) = readers.next_if(|(seq, _)| *seq == msg_seq) {
                row.state.readers.insert(account);
            }
        }
        Ok(rows)
    }

    /// Purge transactions committed so far: [`Store::purge`] deletes in batches of
    /// [`PURGE_BATCH`] messages.
    pub fn purge_transactions(&self) -> u64 {
        self.health.purge_transactions()
    }

    /// Deletes messages not written for `older_than`, with their readers; returns how many.
    ///
    /// One transaction per [`PURGE_BATCH`] messages, yielding between them, so callbacks keep
    /// being committed while a large backlog is purged. A message written again while the
    /// purge runs is kept (SQLite: the writer runs the batches itself; PostgreSQL: rows are
    /// locked before they are deleted, and rows a writer holds are skipped).
    pub async fn purge(&self, older_than: Duration) -> Result<u64, StoreError> {
        let cutoff_ms =
            unix_millis().saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
        let mut purged = 0;
        loop {
            let deleted = match &self.pool {
                Pool::Sqlite(_) => {
                    let (done, deleted) = oneshot::channel();
                    self.jobs
                        .send(Work::Purge { cutoff_ms, done })
                        .await
                        .map_err(|_| StoreError::WriterStopped)?;
                    deleted.await.map_err(|_| StoreError::WriterStopped)??
                }
                Pool::Postgres(pool) => {
                    postgres::purge(pool, cutoff_ms, self.write_timeout).await?
                }
            };
            self.health.purged();
            purged += deleted;
            if deleted < PURGE_BATCH as u64 {
                return Ok(purged);
            }
            tokio::task::yield_now().await;
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_receipt_is_shown_as_one_flat_object_in_a_fixed_order() {
        let stored = StoredReceipt {
            key: MessageKey {
                sdk_app_id: 1400000000,
                group_id: "@TGS#1".into(),
                msg_seq: 3,
            },
            state: ReceiptState {
                group_type: Some("Public".into()),
                read_num: Some(2),
                unread_num: None,
                readers: ["bob".to_owned(), "alice".to_owned()].into(),
                first_event_time_ms: Some(10),
                last_event_time_ms: Some(20),
            },
        };
        assert_eq!(
            serde_json::to_string(&stored).unwrap(),
            r#"{"sdk_app_id":1400000000,"group_id":"@TGS#1","msg_seq":3,"group_type":"Public","read_num":2,"unread_num":null,"readers":["alice","bob"],"first_event_time_ms":10,"last_event_time_ms":20}"#
        );
    }
}
