//! SQLite: a pool for reads, and one writer thread with its own connection and prepared
//! statements, which also runs the purge and checks before each write and each commit that
//! the database and its log are still the files at their paths, and writable.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use chathook_core::sqlite_checkpoint::{self, Checkpointer};
use chathook_core::sqlite_files::{FileProblem, SqliteFiles, checkpoint_into_database};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::mpsc;

use super::batch::{Batches, Work, answer_probes, commit_jobs};
use super::migrations::{
    PROBE_SDK_APP_ID, PROBE_WRITE, RECEIPT_COLUMNS, SqliteMigrations, TABLES, UPSERT_MERGE,
    migrate_sqlite,
};
use super::{Durability, PURGE_BATCH, StoreError, StoreOptions, unix_millis};
use crate::model::{MessageKey, ReceiptState};

/// The writer's page cache, in KiB: most of the hot pages of a store of ten million
/// messages in a thousand groups.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

impl Durability {
    fn sqlite_synchronous(self) -> SqliteSynchronous {
        match self {
            Self::Full => SqliteSynchronous::Full,
            Self::Normal => SqliteSynchronous::Normal,
        }
    }

    /// The value of SQLite's `synchronous` pragma.
    pub(super) fn sqlite_pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Opens (creating if need be) and migrates the database, and starts its writer on `queue`.
/// Returns the read pool and the files as opened.
pub(super) async fn open(
    options: &StoreOptions,
    queue: mpsc::Receiver<Work>,
    batches: Batches,
) -> Result<(SqlitePool, Arc<SqliteFiles>), StoreError> {
    let connect = SqliteConnectOptions::from_str(&options.database_url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(options.durability.sqlite_synchronous())
        .busy_timeout(options.busy_timeout);
    let path = connect.get_filename().to_owned();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    // Before SQLite maps an immutable -shm: a write through that mapping is a SIGBUS.
    SqliteFiles::check_before_open(&path)?;
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
    let migrator = Migrator::new(SqliteMigrations).await?;
    migrate_sqlite(&migrator, &pool).await?;
    check_tables(&pool).await?;
    // After the migration, so that the log exists and is recorded too.
    let files = Arc::new(SqliteFiles::opened(&path)?);
    let writer = SqliteWriter {
        connection: open_writer_connection(&path, options)?,
        checkpointer: Checkpointer::start(
            Arc::clone(&files),
            options.busy_timeout,
            options.durability.sqlite_pragma(),
            "read-receipt-checkpointer",
            "read receipt",
        )?,
        files: Arc::clone(&files),
        rescued: false,
    };
    std::thread::Builder::new()
        .name("read-receipt-writer".into())
        .spawn(move || run_writer(writer, queue, batches))
        .map_err(|error| StoreError::WriterStart(Arc::new(error)))?;
    Ok((pool, files))
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        path: dir.display().to_string(),
        source: Arc::new(source),
    })
}

/// The SQLite writer's connection, the files it must still be writing to, and the
/// checkpointer it tells of each commit.
struct SqliteWriter {
    connection: rusqlite::Connection,
    files: Arc<SqliteFiles>,
    checkpointer: Checkpointer,
    /// Whether what the old log held was copied into the database once it was found removed.
    rescued: bool,
}

/// The SQLite writer: a thread of its own with its own connection, so a batch costs one
/// hand-off from the runtime instead of one per statement, and the statements stay prepared.
fn run_writer(mut writer: SqliteWriter, mut queue: mpsc::Receiver<Work>, mut batches: Batches) {
    while let Some(other) = batches.receive_blocking(&mut queue) {
        commit_jobs!(&mut batches, |states| writer.write(states));
        let health = &*batches.health;
        // Not on a file made immutable: a checkpoint writes through the -shm mapping.
        if writer.files.check().is_ok() {
            let _writing = health.writing();
            writer.checkpointer.restart_if_due(&writer.connection);
        }
        if !other.probes.is_empty() {
            let probed = {
                let _writing = health.writing();
                writer.probe()
            };
            answer_probes(health, other.probes, probed);
        }
        for (cutoff_ms, done) in other.purges {
            let _writing = health.writing();
            let _ = done.send(writer.purge(cutoff_ms));
        }
    }
}

/// The writer's own connection, set up for group commit.
fn open_writer_connection(
    path: &Path,
    options: &StoreOptions,
) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(options.busy_timeout)?;
    // FULL: a commit survives power loss, not only a crash; group commit pays for it. WAL is
    // already on: the pool set it, and it is a property of the database file.
    connection.pragma_update(None, "synchronous", options.durability.sqlite_pragma())?;
    // Checkpoints are the checkpointer's: run by the writer, SQLite's automatic checkpoint
    // copies the WAL into the database and syncs it inside a callback's commit, stalling every
    // callback waiting behind it.
    Checkpointer::configure_writer(&connection)?;
    // A write touches a leaf per group written, of both tables, plus the index of update
    // times, and the interior pages above them; with thousands of groups and millions of
    // messages the default 2 MiB cache would re-read them from the file at every commit. The
    // cache is the bulk of chathook's memory: 32 MiB keeps peak RSS near 50 MiB.
    connection.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(connection)
}

impl SqliteWriter {
    fn write(&mut self, states: &BTreeMap<MessageKey, ReceiptState>) -> Result<(), StoreError> {
        // Before the transaction too: beginning one writes to the -shm mapping.
        self.check_files()?;
        let now = unix_millis();
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut receipt = transaction.prepare_cached(&UPSERT_RECEIPT)?;
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
        if let Err(problem) = self.files.check() {
            drop(transaction);
            self.rescue_if_replaced();
            return Err(problem.into());
        }
        transaction.commit()?;
        self.checkpointer.committed();
        Ok(())
    }

    /// Whether a write commits, with a real write: what a callback writes (a receipt and a
    /// reader), written and deleted again in one transaction, so that it needs as much room
    /// in the log as a callback. An empty transaction commits on a full disk or a read-only
    /// file, where every callback's write fails.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.check_files()?;
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // A key no callback has: Chat's SdkAppid is never negative.
        let key = rusqlite::params![PROBE_SDK_APP_ID, "", 0];
        for statement in PROBE_WRITE {
            transaction.prepare_cached(statement)?.execute(key)?;
        }
        if let Err(problem) = self.files.check() {
            drop(transaction);
            self.rescue_if_replaced();
            return Err(problem.into());
        }
        transaction.commit()?;
        self.checkpointer.committed();
        Ok(())
    }

    /// Whether the files are still the ones opened and writable; if they were removed or
    /// replaced, rescues what the old log holds first.
    fn check_files(&mut self) -> Result<(), StoreError> {
        let checked = self.files.check();
        if checked.is_err() {
            self.rescue_if_replaced();
        }
        checked.map_err(StoreError::from)
    }

    /// Once the log (or the database) is found removed at its path: copies what the log still
    /// open holds into the database file, so what was acknowledged survives a crash.
    fn rescue_if_replaced(&mut self) {
        if self.rescued || !self.files.replaced() {
            return;
        }
        self.rescued = true;
        match checkpoint_into_database(&self.connection) {
            Ok(true) => tracing::warn!(
                path = %self.files.database().display(),
                "read receipt store: its files were removed or replaced; what was committed \
                 is copied into the database file still open; restart chathook"
            ),
            Ok(false) | Err(_) => tracing::error!(
                path = %self.files.database().display(),
                "read receipt store: its files were removed or replaced and what was committed \
                 could not all be copied into the database file; restart chathook"
            ),
        }
    }

    /// Deletes up to [`PURGE_BATCH`] messages written before `cutoff_ms`, with their readers,
    /// in one transaction; returns how many.
    fn purge(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.check_files()?;
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
        self.files.check()?;
        transaction.commit()?;
        self.checkpointer.committed();
        Ok(expired.len() as u64)
    }
}

/// One receipt row; the statement is built once, not per batch.
static UPSERT_RECEIPT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO read_receipts ({RECEIPT_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9){UPSERT_MERGE}"
    )
});

/// Whether every table in [`TABLES`] is there.
async fn check_tables(pool: &SqlitePool) -> Result<(), StoreError> {
    for table in TABLES {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
                .bind(table)
                .fetch_optional(pool)
                .await?;
        if found.is_none() {
            return Err(StoreError::MissingTable(table));
        }
    }
    Ok(())
}

impl From<sqlite_checkpoint::StartError> for StoreError {
    fn from(error: sqlite_checkpoint::StartError) -> Self {
        match error {
            sqlite_checkpoint::StartError::Connection(error) => Self::Sqlite(Arc::new(error)),
            sqlite_checkpoint::StartError::Thread(error) => Self::WriterStart(Arc::new(error)),
        }
    }
}

impl From<FileProblem> for StoreError {
    fn from(problem: FileProblem) -> Self {
        Self::File(problem)
    }
}
