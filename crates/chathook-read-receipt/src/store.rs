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

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Row};
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
    /// The store could not be opened. Holds the URL with any password redacted, and the cause
    /// as text with any occurrence of the password redacted too.
    #[error("cannot open the read receipt store at {url}: {reason}")]
    Open {
        /// `database_url`, password redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The data directory could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// PostgreSQL could not be reached or refused chathook: which server, and what to check.
    #[error("{0}")]
    Connect(String),
    /// The SQLite writer's connection failed.
    #[error("read receipt store: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The database refused this callback's data itself (a value it cannot hold, a key too
    /// long for its index): sending it again cannot succeed. The handler answers 400.
    #[error("the database cannot store this callback: {0}")]
    InvalidData(String),
    /// A write did not finish within `write_timeout_ms`; its connection was dropped.
    #[error(
        "read receipt write did not finish within write_timeout_ms ({0} ms); its connection was dropped"
    )]
    WriteTimeout(u64),
    /// The writer has been inside one write for longer than `write_timeout_ms`.
    #[error(
        "the read receipt writer has been in one write for {stuck_ms} ms, more than write_timeout_ms ({timeout_ms} ms)"
    )]
    WriterStuck {
        /// How long so far.
        stuck_ms: u64,
        /// `write_timeout_ms`.
        timeout_ms: u64,
    },
    /// The SQLite file the store opened is no longer at its path: what is written goes to a
    /// file nobody will open again.
    #[error("database file {0} was removed or replaced; restart chathook")]
    FileReplaced(String),
    /// The last write failed and the writer is too busy to be probed.
    #[error("the last read receipt write failed and the writer is busy")]
    LastWriteFailed,
    /// The writer thread could not be started.
    #[error("cannot start the read receipt writer: {0}")]
    WriterStart(#[source] Arc<std::io::Error>),
    /// The writer is gone: the process is shutting down, or the writer died (see the log).
    #[error("read receipt writer stopped")]
    WriterStopped,
}

impl StoreError {
    /// The database's words when it refused the data itself rather than failing: PostgreSQL's
    /// SQLSTATE classes 22 (data exception, e.g. a NUL byte in TEXT) and 54 (program limit
    /// exceeded, e.g. a key too long for a b-tree), SQLite's too-big, constraint and type
    /// errors. Such an error is about one callback, not about the database, so it is worth
    /// retrying the rest of its batch without it; a connection error or a timeout is not.
    fn data_problem(&self) -> Option<String> {
        match self {
            Self::Database(error) => match error.as_ref() {
                sqlx::Error::Database(database)
                    if database
                        .code()
                        .is_some_and(|code| code.starts_with("22") || code.starts_with("54")) =>
                {
                    Some(database.message().to_owned())
                }
                _ => None,
            },
            Self::Sqlite(error) => match error.as_ref() {
                rusqlite::Error::SqliteFailure(failure, message)
                    if matches!(
                        failure.code,
                        rusqlite::ErrorCode::TooBig
                            | rusqlite::ErrorCode::ConstraintViolation
                            | rusqlite::ErrorCode::TypeMismatch
                    ) =>
                {
                    Some(message.clone().unwrap_or_else(|| failure.to_string()))
                }
                _ => None,
            },
            Self::InvalidData(problem) => Some(problem.clone()),
            _ => None,
        }
    }

    /// This error as a callback's answer: [`StoreError::InvalidData`] if the data was refused.
    fn for_one_callback(self) -> Self {
        match self.data_problem() {
            Some(problem) => Self::InvalidData(problem),
            None => self,
        }
    }
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
    let unsupported = || StoreError::UnsupportedUrl(chathook_core::redact::url(url));
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
    /// Longest one write transaction may take. PostgreSQL: the client drops the connection
    /// after it, and the server ends statements and abandoned transactions after it (so a
    /// client that vanished mid-transaction does not hold row locks). Both: a writer inside one
    /// write for longer is reported not ready.
    pub write_timeout: Duration,
    /// What a commit survives.
    pub durability: Durability,
}

/// What an acknowledged callback survives: `[handlers.read_receipt] durability`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
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

impl Durability {
    fn sqlite_synchronous(self) -> SqliteSynchronous {
        match self {
            Self::Full => SqliteSynchronous::Full,
            Self::Normal => SqliteSynchronous::Normal,
        }
    }

    /// The value of SQLite's `synchronous` pragma.
    fn sqlite_pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
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

/// One callback's states, and where to send its outcome.
struct Job {
    states: BTreeMap<MessageKey, ReceiptState>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// What the writer is asked to do.
enum Work {
    /// Commit a callback, grouped with the others waiting.
    Record(Job),
    /// Check that a write transaction can commit; clears the last-write-failed flag if so.
    Probe(oneshot::Sender<Result<(), StoreError>>),
    /// Delete one batch of expired messages; SQLite only (it has one writer anyway), so that
    /// callbacks waiting meanwhile are committed between two purge batches.
    Purge {
        cutoff_ms: i64,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
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
    /// SQLite: the file the store opened, to notice it being removed or replaced.
    file: Option<Arc<DatabaseFile>>,
}

/// What the writer reports to the rest of the store.
#[derive(Debug, Default)]
struct WriterHealth {
    last_write_failed: AtomicBool,
    transactions: AtomicU64,
    purge_transactions: AtomicU64,
    /// When the write in progress began, in ms since [`MONOTONIC_EPOCH`] plus one; 0 if none.
    write_started: AtomicU64,
}

/// The origin of [`WriterHealth::write_started`]: monotonic, unlike the wall clock.
static MONOTONIC_EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn monotonic_ms() -> u64 {
    u64::try_from(MONOTONIC_EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl WriterHealth {
    /// Marks a write in progress until the guard drops.
    fn writing(&self) -> Writing<'_> {
        self.write_started
            .store(monotonic_ms().saturating_add(1), Ordering::Relaxed);
        Writing(self)
    }

    /// How long the write in progress has run, if one does.
    fn current_write(&self) -> Option<Duration> {
        match self.write_started.load(Ordering::Relaxed) {
            0 => None,
            started => Some(Duration::from_millis(
                monotonic_ms().saturating_add(1).saturating_sub(started),
            )),
        }
    }

    fn committed(&self) {
        self.last_write_failed.store(false, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }
}

struct Writing<'a>(&'a WriterHealth);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.write_started.store(0, Ordering::Relaxed);
    }
}

impl Store {
    /// Connects, creates or migrates the schema, and starts the writer. Errors never show
    /// the URL's password.
    pub async fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let url = options.database_url.as_str();
        Self::open_unredacted(options)
            .await
            .map_err(|error| match error {
                StoreError::UnsupportedUrl(_) => error,
                error => {
                    // The driver's words, without this crate's prefix: the variant says enough.
                    let reason = match &error {
                        StoreError::Database(cause) => error_chain(cause.as_ref()),
                        StoreError::Sqlite(cause) => error_chain(cause.as_ref()),
                        other => error_chain(other),
                    };
                    StoreError::Open {
                        url: chathook_core::redact::url(url),
                        reason: chathook_core::redact::password_of(url, &reason),
                    }
                }
            })
    }

    async fn open_unredacted(options: &StoreOptions) -> Result<Self, StoreError> {
        let url = options.database_url.as_str();
        let max_batch = options.max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        let health = Arc::new(WriterHealth::default());
        let mut file = None;
        let pool = if backend(url)? == Backend::Sqlite {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(options.durability.sqlite_synchronous())
                .busy_timeout(options.busy_timeout);
            let path = connect.get_filename().to_owned();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            if !path.exists() {
                // Expected once; any other time it means the data went away (a removed
                // volume, a changed database_url) and the operator should hear of it.
                tracing::warn!(
                    path = %path.display(),
                    "creating a new empty read receipt store at {}: expected on the first run only; \
                     otherwise the previous store was removed or database_url changed",
                    path.display()
                );
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect)
                .await?;
            let migrator = Migrator::new(SqliteMigrations)
                .await
                .map_err(migration_error)?;
            migrate_sqlite(&migrator, &pool).await?;
            let connection = open_sqlite_writer(&path, options.busy_timeout, options.durability)?;
            let checkpointer =
                Checkpointer::start(&path, options.busy_timeout, options.durability)?;
            let opened = Arc::new(DatabaseFile::opened(path)?);
            file = Some(Arc::clone(&opened));
            let writer = SqliteWriter {
                connection,
                file: opened,
                checkpointer,
            };
            let health = Arc::clone(&health);
            std::thread::Builder::new()
                .name("read-receipt-writer".into())
                .spawn(move || sqlite_writer(writer, queue, max_batch, health))
                .map_err(|error| StoreError::WriterStart(Arc::new(error)))?;
            Pool::Sqlite(pool)
        } else {
            let base = PgConnectOptions::from_str(url)?;
            // Migrations on a connection of their own, without the write timeouts below: a
            // migration may rightly run longer than any callback's write.
            let mut connection =
                match tokio::time::timeout(options.busy_timeout, PgConnection::connect_with(&base))
                    .await
                {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => {
                        return Err(StoreError::Connect(postgres_connect_problem(
                            &base,
                            Some(&error),
                            options.busy_timeout,
                        )));
                    }
                    Err(_) => {
                        return Err(StoreError::Connect(postgres_connect_problem(
                            &base,
                            None,
                            options.busy_timeout,
                        )));
                    }
                };
            MIGRATIONS
                .run_direct(&mut connection)
                .await
                .map_err(migration_error)?;
            connection.close().await?;
            // PostgreSQL itself ends a statement, or a transaction left idle, after the write
            // timeout: a client that vanished mid-transaction (a network that stops answering
            // rather than refusing) would otherwise hold its row locks, and wedge every other
            // replica writing the same messages, until TCP gives up hours later.
            let timeout_ms = options.write_timeout.as_millis().max(1);
            let mut connect = base.options([
                ("statement_timeout", timeout_ms),
                ("idle_in_transaction_session_timeout", timeout_ms),
            ]);
            if options.durability == Durability::Normal {
                connect = connect.options([("synchronous_commit", "off")]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.busy_timeout)
                .connect_with(connect.clone())
                .await?;
            let writer = PostgresWriter {
                pool: pool.clone(),
                connect,
                timeout: options.write_timeout,
            };
            tokio::spawn(postgres_writer(
                writer,
                queue,
                max_batch,
                Arc::clone(&health),
            ));
            Pool::Postgres(pool)
        };
        Ok(Self {
            pool,
            jobs,
            health,
            write_timeout: options.write_timeout,
            file,
        })
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
        if let Some(file) = &self.file {
            file.check()?;
        }
        with_pool!(&self.pool, pool => sqlx::query("SELECT 1 FROM read_receipts LIMIT 1")
            .fetch_optional(pool)
            .await
            .map(drop))?;
        if self.health.last_write_failed.load(Ordering::Relaxed) {
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

    /// Purge transactions committed so far: [`Store::purge`] deletes in batches of
    /// [`PURGE_BATCH`] messages.
    pub fn purge_transactions(&self) -> u64 {
        self.health.purge_transactions.load(Ordering::Relaxed)
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
                Pool::Postgres(pool) => purge_postgres(pool, cutoff_ms, self.write_timeout).await?,
            };
            self.health
                .purge_transactions
                .fetch_add(1, Ordering::Relaxed);
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

/// Why the PostgreSQL server of `options` could not be reached (`error`, or no answer within
/// `timeout`), in words an operator can act on: which host, and whether it refused, did not
/// answer, or rejected the user, the password or the database.
fn postgres_connect_problem(
    options: &PgConnectOptions,
    error: Option<&sqlx::Error>,
    timeout: Duration,
) -> String {
    let server = format!(
        "PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    let user = options.get_username();
    let Some(error) = error else {
        return format!(
            "{server} did not answer within busy_timeout_ms ({} ms): check the host, the port \
             and any firewall between",
            timeout.as_millis()
        );
    };
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("{server} refused the connection: is PostgreSQL running there, on that port?")
        }
        sqlx::Error::Io(io) => format!("cannot reach {server}: {io}"),
        sqlx::Error::Tls(tls) => format!("TLS with {server} failed: {tls}"),
        sqlx::Error::Database(database) => match database.code().as_deref() {
            Some("28P01") => {
                format!("{server} rejected the password of user {user:?}: check database_url")
            }
            Some("28000") => format!(
                "{server} rejected user {user:?} ({}): check the user in database_url and \
                 the server's pg_hba.conf",
                database.message()
            ),
            Some("3D000") => format!(
                "{server} has no database {:?}: create it, or fix database_url",
                options.get_database().unwrap_or(user)
            ),
            _ => format!("{server} refused chathook: {}", database.message()),
        },
        other => format!("{server}: {other}"),
    }
}

/// `error` and its causes on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Several variants show their source in their own message already.
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn migration_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migration(Arc::new(error))
}

/// SQLite's migration, boxed: `Migrator::run`'s `Acquire` bound is too general for the
/// compiler to prove the caller's future `Send` otherwise.
fn migrate_sqlite<'a>(
    migrator: &'a Migrator,
    pool: &'a SqlitePool,
) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
    Box::pin(async move { migrator.run(pool).await.map_err(migration_error) })
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

/// Merges a batch's callbacks into one state per message. The callbacks keep their own
/// states, in case the batch must be retried one callback at a time.
fn merge(jobs: &[Job]) -> BTreeMap<MessageKey, ReceiptState> {
    let mut merged: BTreeMap<MessageKey, ReceiptState> = BTreeMap::new();
    for job in jobs {
        for (key, state) in &job.states {
            match merged.get_mut(key) {
                Some(known) => known.merge(state.clone()),
                None => {
                    merged.insert(key.clone(), state.clone());
                }
            }
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
            health.committed();
            tracing::debug!(callbacks = jobs.len(), messages, "read receipts committed");
        }
        Err(error @ StoreError::InvalidData(_)) => {
            // The database works; it refused this one callback's data.
            tracing::warn!(%error, "read receipt callback refused by the database; answered 400");
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

/// The work taken off the queue besides callbacks.
#[derive(Default)]
struct Other {
    /// Readiness checks still waiting for an answer; one probe answers them all.
    probes: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// Purge batches: (cutoff, where to answer).
    purges: Vec<(i64, oneshot::Sender<Result<u64, StoreError>>)>,
}

/// Separates the callbacks to commit from the other work taken off the queue. Probes whose
/// `/readyz` already gave up are dropped: a database that does not answer would otherwise
/// have the writer run one stale probe after another while callbacks wait.
fn split(taken: &mut Vec<Work>, jobs: &mut Vec<Job>) -> Other {
    let mut other = Other::default();
    for work in taken.drain(..) {
        match work {
            Work::Record(job) => jobs.push(job),
            Work::Probe(done) if done.is_closed() => {}
            Work::Probe(done) => other.probes.push(done),
            Work::Purge { cutoff_ms, done } => other.purges.push((cutoff_ms, done)),
        }
    }
    other
}

/// Answers readiness probes; a successful probe clears the last-write-failed flag.
fn answer_probes(
    health: &WriterHealth,
    probes: Vec<oneshot::Sender<Result<(), StoreError>>>,
    probed: Result<(), StoreError>,
) {
    if probed.is_ok() {
        health.last_write_failed.store(false, Ordering::Relaxed);
    }
    for done in probes {
        let _ = done.send(probed.clone());
    }
}

/// Commits `$jobs` in one transaction written by `$write` (an expression using the states
/// bound to `$states`), and answers each callback.
///
/// If the database refuses the batch's data itself (see [`StoreError::data_problem`]), one
/// callback it cannot store would otherwise fail every callback grouped with it, and Chat
/// does not send after-callbacks again: so each callback is then committed on its own, and
/// only the one refused fails (400). Any other error (connection, timeout, lock) fails the
/// batch at once with 500: retrying callback by callback would only multiply the wait.
///
/// A macro rather than a function because the SQLite writer is blocking and the PostgreSQL
/// writer is async; the logic must be the same.
macro_rules! commit_jobs {
    ($health:expr, $jobs:expr, |$states:ident| $write:expr) => {{
        let health: &WriterHealth = $health;
        let jobs: &mut Vec<Job> = $jobs;
        let merged;
        let $states: &BTreeMap<MessageKey, ReceiptState> = if let [job] = jobs.as_slice() {
            &job.states
        } else {
            merged = merge(jobs);
            &merged
        };
        let messages = $states.len();
        let result = {
            let _writing = health.writing();
            $write
        };
        match result {
            Err(error) if jobs.len() > 1 && error.data_problem().is_some() => {
                tracing::warn!(
                    callbacks = jobs.len(),
                    %error,
                    "the database refused a read receipt batch's data; committing its callbacks one by one"
                );
                let mut broken: Option<StoreError> = None;
                for job in jobs.drain(..) {
                    let outcome = match &broken {
                        Some(error) => Err(error.clone()),
                        None => {
                            let $states = &job.states;
                            let result = {
                                let _writing = health.writing();
                                $write
                            };
                            match result.map_err(StoreError::for_one_callback) {
                                Ok(()) => {
                                    health.committed();
                                    Ok(())
                                }
                                Err(error @ StoreError::InvalidData(_)) => {
                                    tracing::warn!(%error, "read receipt callback refused by the database; answered 400");
                                    Err(error)
                                }
                                Err(error) => {
                                    health.last_write_failed.store(true, Ordering::Relaxed);
                                    tracing::error!(%error, "read receipt write failed; the rest of the batch is answered 500");
                                    broken = Some(error.clone());
                                    Err(error)
                                }
                            }
                        }
                    };
                    let _ = job.done.send(outcome);
                }
            }
            result => settle(health, jobs, messages, result.map_err(StoreError::for_one_callback)),
        }
    }};
}

/// The SQLite writer's connection, the file it must still be writing to, and the checkpointer
/// it tells of each commit.
struct SqliteWriter {
    connection: rusqlite::Connection,
    file: Arc<DatabaseFile>,
    checkpointer: Checkpointer,
}

/// The SQLite writer: a thread of its own with its own connection, so a batch costs one
/// hand-off from the runtime instead of one per statement, and the statements stay prepared.
fn sqlite_writer(
    mut writer: SqliteWriter,
    mut queue: mpsc::Receiver<Work>,
    max_batch: usize,
    health: Arc<WriterHealth>,
) {
    let _exit = WriterExit;
    let mut taken = Vec::with_capacity(max_batch);
    let mut jobs = Vec::with_capacity(max_batch);
    while let Some(work) = queue.blocking_recv() {
        taken.push(work);
        while taken.len() < max_batch {
            let Ok(work) = queue.try_recv() else { break };
            taken.push(work);
        }
        let other = split(&mut taken, &mut jobs);
        if !jobs.is_empty() {
            commit_jobs!(&health, &mut jobs, |states| writer.write(states));
        }
        {
            let _writing = health.writing();
            writer.checkpointer.restart_if_due(&writer.connection);
        }
        if !other.probes.is_empty() {
            let probed = {
                let _writing = health.writing();
                writer.probe()
            };
            answer_probes(&health, other.probes, probed);
        }
        for (cutoff_ms, done) in other.purges {
            let _writing = health.writing();
            let _ = done.send(writer.purge(cutoff_ms));
        }
    }
}

fn open_sqlite_writer(
    path: &Path,
    busy_timeout: Duration,
    durability: Durability,
) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(busy_timeout)?;
    // FULL: a commit survives power loss, not only a crash; group commit pays for it. WAL is
    // already on: the pool set it, and it is a property of the database file.
    connection.pragma_update(None, "synchronous", durability.sqlite_pragma())?;
    // Checkpoints are the checkpointer's: run by the writer, SQLite's automatic checkpoint
    // copies the WAL into the database and syncs it inside a callback's commit, stalling every
    // callback waiting behind it.
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    // A write touches a leaf per group written, of both tables, plus the index of update
    // times, and the interior pages above them; with thousands of groups and millions of
    // messages the default 2 MiB cache would re-read them from the file at every commit. The
    // cache is the bulk of chathook's memory: 32 MiB keeps peak RSS near 50 MiB.
    connection.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(connection)
}

/// The writer's page cache, in KiB: most of the hot pages of a store of ten million
/// messages in a thousand groups.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// Pages the WAL may still hold after a passive checkpoint before the writer finishes one
/// itself between two batches (milliseconds: the passive checkpoint copied the rest). Under
/// constant load a passive checkpoint rarely catches up with the writer, and only a WAL
/// checkpointed to its end starts over from its beginning.
///
/// This and [`CHECKPOINT_INTERVAL`] were chosen on the benchmark's many-groups workload
/// (1000 groups, 20% redelivered, 64 connections): against 8192 pages and 100 ms, small and
/// frequent checkpoints cut p99 from 32-36 ms to 21-23 ms and the slowest request from
/// 47-52 ms to 28-34 ms, at the same throughput within noise. Each checkpoint's sync then
/// flushes less, and delays the writer's own sync of the WAL less.
const WAL_RESTART_PAGES: i64 = 2048;
/// What the WAL file is cut back to once it starts over.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// Least time between two checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

/// The writer's side of the checkpointer.
struct Checkpointer {
    /// Wakes it after a commit; full when a checkpoint is already due.
    wake: std::sync::mpsc::SyncSender<()>,
    /// Set when the WAL stays longer than [`WAL_RESTART_PAGES`]: the writer then finishes a
    /// checkpoint itself. Not the checkpointer: a restart it made would look to the writer
    /// like another process's write and cost the writer its whole page cache.
    restart_due: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts a thread with its own connection that copies committed WAL pages into the
    /// database file while the writer goes on committing, woken by the writer's commits and
    /// ending with the writer.
    fn start(
        path: &Path,
        busy_timeout: Duration,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(busy_timeout)?;
        connection.pragma_update(None, "synchronous", durability.sqlite_pragma())?;
        connection.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let long_wal = Arc::clone(&restart_due);
        std::thread::Builder::new()
            .name("read-receipt-checkpointer".into())
            .spawn(move || {
                let mut warned: Option<Instant> = None;
                while woken.recv().is_ok() {
                    // A passive checkpoint never blocks the writer.
                    match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        row.get::<_, i64>(1)
                    }) {
                        Ok(wal_pages) if wal_pages > WAL_RESTART_PAGES => {
                            long_wal.store(true, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        // The WAL grows meanwhile, and the next commit tries again.
                        Err(error) => {
                            if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                                tracing::warn!(%error, "read receipt checkpoint failed; will retry");
                                warned = Some(Instant::now());
                            }
                        }
                    }
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                }
            })
            .map_err(|error| StoreError::WriterStart(Arc::new(error)))?;
        Ok(Self { wake, restart_due })
    }

    /// After a commit.
    fn committed(&self) {
        // Full: a checkpoint is already due. Gone: the checkpointer died, and said so.
        let _ = self.wake.try_send(());
    }

    /// Between two batches: if the WAL stayed too long, checkpoint it to its end so that the
    /// next write starts it over.
    fn restart_if_due(&self, connection: &rusqlite::Connection) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(error) =
                connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
        {
            tracing::warn!(%error, "read receipt checkpoint failed; will retry");
        }
    }
}

impl SqliteWriter {
    fn write(&mut self, states: &BTreeMap<MessageKey, ReceiptState>) -> Result<(), StoreError> {
        let now = unix_millis();
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
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
        // Last thing before the commit: a commit into a file no longer at its path would be
        // acknowledged and then lost at the next start.
        self.file.check()?;
        transaction.commit()?;
        self.checkpointer.committed();
        Ok(())
    }

    /// Whether a write transaction can take the lock and commit, on the file still in place.
    fn probe(&mut self) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        self.file.check()?;
        transaction.commit()?;
        Ok(())
    }

    /// Deletes up to [`PURGE_BATCH`] messages written before `cutoff_ms`, with their readers,
    /// in one transaction; returns how many.
    fn purge(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let expired = transaction
            .prepare_cached(
                "SELECT sdk_app_id, group_id, msg_seq FROM read_receipts \
                 WHERE updated_at_ms < ?1 ORDER BY updated_at_ms LIMIT ?2",
            )?
            .query_map(rusqlite::params![cutoff_ms, PURGE_BATCH as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        {
            let mut readers = transaction.prepare_cached(
                "DELETE FROM read_receipt_readers \
                 WHERE sdk_app_id = ?1 AND group_id = ?2 AND msg_seq = ?3",
            )?;
            let mut receipts = transaction.prepare_cached(
                "DELETE FROM read_receipts WHERE sdk_app_id = ?1 AND group_id = ?2 AND msg_seq = ?3",
            )?;
            for (sdk_app_id, group_id, msg_seq) in &expired {
                readers.execute(rusqlite::params![sdk_app_id, group_id, msg_seq])?;
                receipts.execute(rusqlite::params![sdk_app_id, group_id, msg_seq])?;
            }
        }
        self.file.check()?;
        transaction.commit()?;
        self.checkpointer.committed();
        Ok(expired.len() as u64)
    }
}

/// The SQLite file as opened: its path and identity (device and inode on Unix).
#[derive(Debug)]
struct DatabaseFile {
    path: PathBuf,
    identity: (u64, u64),
}

impl DatabaseFile {
    fn opened(path: PathBuf) -> Result<Self, StoreError> {
        let identity = file_identity(&path)
            .map_err(|_| StoreError::FileReplaced(path.display().to_string()))?;
        Ok(Self { path, identity })
    }

    /// Whether the path still names the file opened: connections keep writing to a removed
    /// (or replaced) file without an error, and what they write is gone at the next start.
    /// One `stat`, cheap next to a commit.
    fn check(&self) -> Result<(), StoreError> {
        match file_identity(&self.path) {
            Ok(identity) if identity == self.identity => Ok(()),
            _ => Err(StoreError::FileReplaced(self.path.display().to_string())),
        }
    }
}

#[cfg(unix)]
fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// Elsewhere only a removal is noticed.
#[cfg(not(unix))]
fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    std::fs::metadata(path).map(|_| (0, 0))
}

/// The PostgreSQL writer's pool, and how to open a fresh connection for a probe.
struct PostgresWriter {
    pool: PgPool,
    connect: PgConnectOptions,
    timeout: Duration,
}

/// The PostgreSQL writer: a task on the runtime, one round trip per table per batch.
async fn postgres_writer(
    writer: PostgresWriter,
    mut queue: mpsc::Receiver<Work>,
    max_batch: usize,
    health: Arc<WriterHealth>,
) {
    let _exit = WriterExit;
    let mut taken = Vec::with_capacity(max_batch);
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut taken, max_batch).await > 0 {
        let other = split(&mut taken, &mut jobs);
        if !jobs.is_empty() {
            commit_jobs!(&health, &mut jobs, |states| writer.write(states).await);
        }
        if !other.probes.is_empty() {
            let probed = {
                let _writing = health.writing();
                writer.probe().await
            };
            answer_probes(&health, other.probes, probed);
        }
        // Store::purge runs PostgreSQL's batches on the pool; should one come here, run it.
        for (cutoff_ms, done) in other.purges {
            let _writing = health.writing();
            let _ = done.send(purge_postgres(&writer.pool, cutoff_ms, writer.timeout).await);
        }
    }
}

/// Runs `work` on a connection of `pool`, all within `limit`. On timeout the connection is
/// detached and dropped, never returned to the pool: it may be mid-transaction on a network
/// that stopped answering, and the pool's check of a returned connection would wait on it
/// too. PostgreSQL ends the abandoned session's transaction itself (`statement_timeout`,
/// `idle_in_transaction_session_timeout`), releasing its locks.
async fn on_connection<T>(
    pool: &PgPool,
    limit: Duration,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = tokio::time::Instant::now() + limit;
    let timed_out = || StoreError::WriteTimeout(millis(limit));
    let mut connection = tokio::time::timeout_at(deadline, pool.acquire())
        .await
        .map_err(|_| timed_out())??;
    match tokio::time::timeout_at(deadline, work(&mut connection)).await {
        Ok(result) => result,
        Err(_) => {
            drop(connection.detach());
            Err(timed_out())
        }
    }
}

impl PostgresWriter {
    /// Upserts a batch as column arrays: the statements' text never changes with the batch
    /// size, so they stay prepared, and there is no bind-parameter limit to split around.
    async fn write(&self, states: &BTreeMap<MessageKey, ReceiptState>) -> Result<(), StoreError> {
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
        on_connection(&self.pool, self.timeout, async |connection| {
            let mut transaction = connection.begin().await?;
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
        })
        .await
    }

    /// Whether a write transaction commits, on a fresh connection: after a failure the
    /// pooled ones prove nothing about reaching the database now.
    async fn probe(&self) -> Result<(), StoreError> {
        let probe = async {
            let mut connection = PgConnection::connect_with(&self.connect).await?;
            let mut transaction = connection.begin().await?;
            // Assigns a transaction id: fails where writes would (a read-only standby).
            sqlx::query("SELECT txid_current()")
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
            connection.close().await?;
            Ok(())
        };
        tokio::time::timeout(self.timeout, probe)
            .await
            .map_err(|_| StoreError::WriteTimeout(millis(self.timeout)))?
    }
}

/// Deletes up to [`PURGE_BATCH`] messages written before `cutoff_ms`, with their readers, in
/// one statement (one transaction); returns how many. The batch's rows are locked in key
/// order (the order writers lock in, so no deadlock) and rows a writer holds are skipped: a
/// message being written again is not expired, and its readers are never deleted without it.
async fn purge_postgres(pool: &PgPool, cutoff_ms: i64, limit: Duration) -> Result<u64, StoreError> {
    on_connection(pool, limit, async |connection| {
        Ok(sqlx::query(
            "WITH doomed AS ( \
                 SELECT sdk_app_id, group_id, msg_seq FROM read_receipts \
                 WHERE (sdk_app_id, group_id, msg_seq) IN ( \
                     SELECT sdk_app_id, group_id, msg_seq FROM read_receipts \
                     WHERE updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2) \
                 AND updated_at_ms < $1 \
                 ORDER BY sdk_app_id, group_id, msg_seq \
                 FOR UPDATE SKIP LOCKED \
             ), readers AS ( \
                 DELETE FROM read_receipt_readers AS r USING doomed AS d \
                 WHERE r.sdk_app_id = d.sdk_app_id AND r.group_id = d.group_id \
                 AND r.msg_seq = d.msg_seq \
             ) \
             DELETE FROM read_receipts AS r USING doomed AS d \
             WHERE r.sdk_app_id = d.sdk_app_id AND r.group_id = d.group_id \
             AND r.msg_seq = d.msg_seq",
        )
        .bind(cutoff_ms)
        .bind(PURGE_BATCH as i64)
        .execute(connection)
        .await?
        .rows_affected())
    })
    .await
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
