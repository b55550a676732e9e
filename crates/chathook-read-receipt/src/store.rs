//! Durable storage of receipt state in SQLite or PostgreSQL, with group commit.
//!
//! Every write goes through one writer per process: for SQLite a thread with its own
//! connection and prepared statements, for PostgreSQL a task sending each batch as column
//! arrays. Callbacks that arrive while a transaction is in flight queue up and are committed
//! together in the next one, so a busy server pays one commit (one fsync) for many callbacks,
//! and each callback still gets its answer only after its own data is committed. A batch is
//! written in key order, so replicas sharing one PostgreSQL database lock rows in the same
//! order and cannot deadlock. Reads go through a connection pool.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

use crate::model::{MessageKey, ReceiptState};

/// The schema, as both databases have it.
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// What only SQLite needs on top; interleaved with [`MIGRATIONS`] by version.
static SQLITE_ONLY_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-sqlite");

/// SQLite's migrations: the shared ones and its own, in version order.
#[derive(Debug)]
struct SqliteMigrations;

impl<'s> MigrationSource<'s> for SqliteMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(std::future::ready(sqlite_migrations()))
    }
}

/// The shared migrations and SQLite's own, in version order. The two directories share one
/// numbering; a version used in both is refused here rather than on a deployed database.
fn sqlite_migrations() -> Result<Vec<Migration>, BoxDynError> {
    let mut migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .chain(SQLITE_ONLY_MIGRATIONS.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|migration| migration.version);
    if let Some(pair) = migrations
        .windows(2)
        .find(|pair| pair[0].version == pair[1].version)
    {
        return Err(format!(
            "migration version {} is used twice ({:?} and {:?})",
            pair[0].version, pair[0].description, pair[1].description
        )
        .into());
    }
    Ok(migrations)
}

/// A store error; cheap to clone so one failed batch can answer all its callbacks.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("read receipt store: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The schema could not be migrated.
    #[error("read receipt store migration: {0}")]
    Migration(#[source] Arc<sqlx::migrate::MigrateError>),
    /// The URL names no supported database. Holds the URL with any password redacted.
    #[error(
        "database_url {0:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
    )]
    UnsupportedUrl(String),
    /// The data directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The SQLite writer's connection failed.
    #[error("read receipt store: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The writer thread could not be started.
    #[error("cannot start the read receipt writer: {0}")]
    WriterStart(#[source] Arc<std::io::Error>),
    /// The writer is gone: the process is shutting down, or the writer died (see the log).
    #[error("read receipt writer stopped")]
    WriterStopped,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(error))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend(url: &str) -> Result<Backend, StoreError> {
    let unsupported = || StoreError::UnsupportedUrl(chathook_core::config::redact_url(url));
    if url.starts_with("sqlite:") {
        // The writer has a connection of its own, which an in-memory database would not
        // share; nor would it survive a restart.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(unsupported());
        }
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(unsupported())
    }
}

/// Whether `url` names a database this store can open; errors never show a password.
pub fn check_database_url(url: &str) -> Result<(), StoreError> {
    backend(url).map(drop)
}

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
}

/// One message's stored state, as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredReceipt {
    /// The app.
    pub sdk_app_id: i64,
    /// The group.
    pub group_id: String,
    /// The message.
    pub msg_seq: i64,
    /// The group's type.
    pub group_type: Option<String>,
    /// The largest `ReadNum` seen.
    pub read_num: Option<i64>,
    /// The smallest `UnreadNum` seen.
    pub unread_num: Option<i64>,
    /// Every reader, sorted.
    pub readers: Vec<String>,
    /// Earliest `EventTime`, Unix ms.
    pub first_event_time_ms: Option<i64>,
    /// Latest `EventTime`, Unix ms.
    pub last_event_time_ms: Option<i64>,
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

struct Job {
    states: BTreeMap<MessageKey, ReceiptState>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The read-receipt store: a pool plus the group-commit writer.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    jobs: mpsc::Sender<Job>,
    health: Arc<WriterHealth>,
}

/// What the writer task reports to the rest of the store.
#[derive(Debug, Default)]
struct WriterHealth {
    last_write_failed: AtomicBool,
    transactions: AtomicU64,
}

impl Store {
    /// Connects, creates or migrates the schema, and starts the writer.
    pub async fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let url = options.database_url.as_str();
        let max_batch = options.max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        let health = Arc::new(WriterHealth::default());
        let pool = if backend(url)? == Backend::Sqlite {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(options.busy_timeout);
            let path = connect.get_filename().to_owned();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect)
                .await?;
            let migrator = Migrator::new(SqliteMigrations)
                .await
                .map_err(|error| StoreError::Migration(Arc::new(error)))?;
            migrate(&migrator, &pool).await?;
            let connection = open_sqlite_writer(&path, options.busy_timeout)?;
            let health = Arc::clone(&health);
            std::thread::Builder::new()
                .name("read-receipt-writer".into())
                .spawn(move || sqlite_writer(connection, queue, max_batch, health))
                .map_err(|error| StoreError::WriterStart(Arc::new(error)))?;
            Pool::Sqlite(pool)
        } else {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect)
                .await?;
            migrate(&MIGRATIONS, &pool).await?;
            tokio::spawn(postgres_writer(
                pool.clone(),
                queue,
                max_batch,
                Arc::clone(&health),
            ));
            Pool::Postgres(pool)
        };
        Ok(Self { pool, jobs, health })
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
            .send(Job { states, done })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        committed.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Ready when the writer runs, the database answers and the last write did not fail.
    pub async fn check(&self) -> Result<(), StoreError> {
        if self.jobs.is_closed() {
            return Err(StoreError::WriterStopped);
        }
        with_pool!(&self.pool, pool => sqlx::query("SELECT 1 FROM read_receipts LIMIT 1")
            .fetch_optional(pool)
            .await
            .map(drop))?;
        if self.health.last_write_failed.load(Ordering::Relaxed) {
            return Err(StoreError::Database(Arc::new(sqlx::Error::Protocol(
                "the last write failed".into(),
            ))));
        }
        Ok(())
    }

    /// Transactions committed so far; fewer than records under load, thanks to group commit.
    pub fn transactions_committed(&self) -> u64 {
        self.health.transactions.load(Ordering::Relaxed)
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
                        sdk_app_id,
                        group_id: group_id.to_owned(),
                        msg_seq: row.try_get("msg_seq")?,
                        group_type: row.try_get("group_type")?,
                        read_num: row.try_get("read_num")?,
                        unread_num: row.try_get("unread_num")?,
                        readers: Vec::new(),
                        first_event_time_ms: row.try_get("first_event_time_ms")?,
                        last_event_time_ms: row.try_get("last_event_time_ms")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            (rows, readers)
        });
        let mut rows = rows;
        let mut readers = readers.into_iter().peekable();
        for row in &mut rows {
            while let Some((seq, _)) = readers.peek() {
                if *seq < row.msg_seq {
                    readers.next();
                } else if *seq == row.msg_seq {
                    let (_, account) = readers.next().expect("peeked");
                    row.readers.push(account);
                } else {
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// Deletes messages not written for `older_than`; returns how many.
    pub async fn purge(&self, older_than: Duration) -> Result<u64, StoreError> {
        let cutoff =
            unix_millis().saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
        let purged = with_pool!(&self.pool, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM read_receipt_readers WHERE (sdk_app_id, group_id, msg_seq) IN \
                 (SELECT sdk_app_id, group_id, msg_seq FROM read_receipts WHERE updated_at_ms < $1)",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
            let deleted = sqlx::query("DELETE FROM read_receipts WHERE updated_at_ms < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            deleted
        });
        Ok(purged)
    }
}

async fn migrate<'a, A: sqlx::Acquire<'a>>(migrator: &Migrator, pool: A) -> Result<(), StoreError>
where
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator
        .run(pool)
        .await
        .map_err(|error| StoreError::Migration(Arc::new(error)))
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.display().to_string(),
        source: Arc::new(source),
    })
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Held by a writer for its whole life: a writer that panics says so, since from then on every
/// read receipt is answered 500 and `/readyz` is 503 until the process restarts.
struct WriterExit;

impl Drop for WriterExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "read receipt writer panicked: read receipts are answered 500 until chathook restarts"
            );
        }
    }
}

/// Merges a batch's callbacks into one state per message.
fn merge(jobs: &mut [Job]) -> BTreeMap<MessageKey, ReceiptState> {
    let mut merged: BTreeMap<MessageKey, ReceiptState> = BTreeMap::new();
    for job in jobs {
        for (key, state) in std::mem::take(&mut job.states) {
            merged.entry(key).or_default().merge(state);
        }
    }
    merged
}

/// Answers every callback of a batch with the batch's outcome.
fn settle(
    health: &WriterHealth,
    jobs: &mut Vec<Job>,
    messages: usize,
    result: Result<(), StoreError>,
) {
    match &result {
        Ok(()) => {
            health.last_write_failed.store(false, Ordering::Relaxed);
            health.transactions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(callbacks = jobs.len(), messages, "read receipts committed");
        }
        Err(error) => {
            health.last_write_failed.store(true, Ordering::Relaxed);
            tracing::error!(callbacks = jobs.len(), %error, "read receipt batch failed; callbacks answered 500");
        }
    }
    for job in jobs.drain(..) {
        let _ = job.done.send(result.clone());
    }
}

/// The SQLite writer: a thread of its own with its own connection, so a batch costs one
/// hand-off from the runtime instead of one per statement, and the statements stay prepared.
fn sqlite_writer(
    mut connection: rusqlite::Connection,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    health: Arc<WriterHealth>,
) {
    let _exit = WriterExit;
    let mut jobs = Vec::with_capacity(max_batch);
    while let Some(job) = queue.blocking_recv() {
        jobs.push(job);
        while jobs.len() < max_batch {
            let Ok(job) = queue.try_recv() else { break };
            jobs.push(job);
        }
        let states = merge(&mut jobs);
        let result = write_sqlite(&mut connection, &states);
        settle(&health, &mut jobs, states.len(), result);
    }
}

fn open_sqlite_writer(
    path: &Path,
    busy_timeout: Duration,
) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(busy_timeout)?;
    // FULL: a commit survives power loss, not only a crash; group commit pays for it. WAL is
    // already on: the pool set it, and it is a property of the database file.
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

fn write_sqlite(
    connection: &mut rusqlite::Connection,
    states: &BTreeMap<MessageKey, ReceiptState>,
) -> Result<(), StoreError> {
    let now = unix_millis();
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut receipt = transaction.prepare_cached(&SQLITE_UPSERT_RECEIPT)?;
        let mut reader = transaction.prepare_cached(
            "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?;
        for (key, state) in states {
            receipt.execute(rusqlite::params![
                key.sdk_app_id,
                key.group_id,
                key.msg_seq,
                state.group_type,
                state.read_num,
                state.unread_num,
                state.first_event_time_ms,
                state.last_event_time_ms,
                now,
            ])?;
            for account in &state.readers {
                reader.execute(rusqlite::params![
                    key.sdk_app_id,
                    key.group_id,
                    key.msg_seq,
                    account
                ])?;
            }
        }
    }
    transaction.commit()?;
    Ok(())
}

/// The PostgreSQL writer: a task on the runtime, one round trip per table per batch.
async fn postgres_writer(
    pool: PgPool,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    health: Arc<WriterHealth>,
) {
    let _exit = WriterExit;
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let states = merge(&mut jobs);
        let result = write_postgres(&pool, &states).await;
        settle(&health, &mut jobs, states.len(), result);
    }
}

/// Upserts a batch as column arrays: the statements' text never changes with the batch size,
/// so they stay prepared, and there is no bind-parameter limit to split around.
async fn write_postgres(
    pool: &PgPool,
    states: &BTreeMap<MessageKey, ReceiptState>,
) -> Result<(), StoreError> {
    let mut receipts = Columns::default();
    let mut readers = Columns::default();
    for (key, state) in states {
        receipts.push_key(key);
        receipts.group_types.push(state.group_type.as_deref());
        receipts.read_nums.push(state.read_num);
        receipts.unread_nums.push(state.unread_num);
        receipts.first_event_times.push(state.first_event_time_ms);
        receipts.last_event_times.push(state.last_event_time_ms);
        for account in &state.readers {
            readers.push_key(key);
            readers.accounts.push(account);
        }
    }
    let mut transaction = pool.begin().await?;
    sqlx::query(&POSTGRES_UPSERT_RECEIPTS)
        .bind(&receipts.sdk_app_ids)
        .bind(&receipts.group_ids)
        .bind(&receipts.msg_seqs)
        .bind(&receipts.group_types)
        .bind(&receipts.read_nums)
        .bind(&receipts.unread_nums)
        .bind(&receipts.first_event_times)
        .bind(&receipts.last_event_times)
        .bind(unix_millis())
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&readers.sdk_app_ids)
    .bind(&readers.group_ids)
    .bind(&readers.msg_seqs)
    .bind(&readers.accounts)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(())
}

/// A batch as PostgreSQL arrays, one per column.
#[derive(Default)]
struct Columns<'a> {
    sdk_app_ids: Vec<i64>,
    group_ids: Vec<&'a str>,
    msg_seqs: Vec<i64>,
    group_types: Vec<Option<&'a str>>,
    read_nums: Vec<Option<i64>>,
    unread_nums: Vec<Option<i64>>,
    first_event_times: Vec<Option<i64>>,
    last_event_times: Vec<Option<i64>>,
    accounts: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn push_key(&mut self, key: &'a MessageKey) {
        self.sdk_app_ids.push(key.sdk_app_id);
        self.group_ids.push(&key.group_id);
        self.msg_seqs.push(key.msg_seq);
    }
}

/// One receipt row; the statement is built once, not per batch.
static SQLITE_UPSERT_RECEIPT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO read_receipts ({RECEIPT_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9){UPSERT_MERGE}"
    )
});

/// A batch of receipts as column arrays, all stamped with `$9`.
static POSTGRES_UPSERT_RECEIPTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO read_receipts ({RECEIPT_COLUMNS}) \
         SELECT batch.*, $9 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], \
         $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[]) AS batch{UPSERT_MERGE}"
    )
});

const RECEIPT_COLUMNS: &str = "sdk_app_id, group_id, msg_seq, group_type, read_num, unread_num, \
    first_event_time_ms, last_event_time_ms, updated_at_ms";

/// The merge rule of [`ReceiptState::merge`] as an upsert: a NULL never replaces a value.
const UPSERT_MERGE: &str = " ON CONFLICT (sdk_app_id, group_id, msg_seq) DO UPDATE SET \
    group_type = CASE WHEN read_receipts.group_type IS NULL \
        OR excluded.group_type > read_receipts.group_type \
        THEN excluded.group_type ELSE read_receipts.group_type END, \
    read_num = CASE WHEN read_receipts.read_num IS NULL \
        OR excluded.read_num > read_receipts.read_num \
        THEN excluded.read_num ELSE read_receipts.read_num END, \
    unread_num = CASE WHEN read_receipts.unread_num IS NULL \
        OR excluded.unread_num < read_receipts.unread_num \
        THEN excluded.unread_num ELSE read_receipts.unread_num END, \
    first_event_time_ms = CASE WHEN read_receipts.first_event_time_ms IS NULL \
        OR excluded.first_event_time_ms < read_receipts.first_event_time_ms \
        THEN excluded.first_event_time_ms ELSE read_receipts.first_event_time_ms END, \
    last_event_time_ms = CASE WHEN read_receipts.last_event_time_ms IS NULL \
        OR excluded.last_event_time_ms > read_receipts.last_event_time_ms \
        THEN excluded.last_event_time_ms ELSE read_receipts.last_event_time_ms END, \
    updated_at_ms = excluded.updated_at_ms";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_runs_the_shared_migrations_and_its_own_in_one_order() {
        let versions: Vec<i64> = sqlite_migrations()
            .expect("no version is used twice")
            .iter()
            .map(|migration| migration.version)
            .collect();
        assert_eq!(versions, [20261122000001, 20261122000002]);
    }
}
