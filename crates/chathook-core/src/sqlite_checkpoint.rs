//! SQLite's WAL checkpoints, run beside a store's writer so that no commit waits for one: for
//! every SQLite store with a writer thread of its own (the journal, the read-receipt store).
//!
//! Left to SQLite (`wal_autocheckpoint`), the connection whose commit takes the WAL past its
//! threshold copies the WAL into the database file and syncs it inside that commit, and every
//! write queued behind it waits. Here the writer's connection never checkpoints on its own
//! ([`Checkpointer::configure_writer`]); a thread with a connection of its own runs passive
//! checkpoints, which never block the writer, woken by its commits; and the writer finishes
//! one between two batches only when the passive ones fall behind.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sqlite_files::SqliteFiles;

/// Pages the WAL may still hold after a passive checkpoint before the writer finishes one
/// itself between two batches (milliseconds: the passive checkpoint copied the rest). Under
/// constant load a passive checkpoint rarely catches up with the writer, and only a WAL
/// checkpointed to its end starts over from its beginning.
///
/// This and [`CHECKPOINT_INTERVAL`] were chosen on the read-receipt benchmark's many-groups
/// workload (1000 groups, 20% redelivered, 64 connections): against 8192 pages and 100 ms,
/// small and frequent checkpoints cut p99 from 32-36 ms to 21-23 ms and the slowest request
/// from 47-52 ms to 28-34 ms, at the same throughput within noise. Each checkpoint's sync then
/// flushes less, and delays the writer's own sync of the WAL less.
const WAL_RESTART_PAGES: i64 = 2048;
/// What the WAL file is cut back to once it starts over.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// Least time between two checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

/// Why a checkpointer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its connection could not be opened or set up.
    #[error("cannot open the checkpointer's connection: {0}")]
    Connection(#[from] rusqlite::Error),
    /// Its thread could not be started.
    #[error("cannot start the checkpointer thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The writer's side of the checkpointer; dropping it ends the thread and waits for it, so
/// that the store's files are closed by the time its writer is done.
pub struct Checkpointer {
    /// Wakes it after a commit; full when a checkpoint is already due. `None` once dropped.
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    /// Set when the WAL stays longer than [`WAL_RESTART_PAGES`]: the writer then finishes a
    /// checkpoint itself. Not the checkpointer: a restart it made would look to the writer
    /// like another process's write and cost the writer its whole page cache.
    restart_due: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The store, as its log lines name it.
    store: &'static str,
}

impl Checkpointer {
    /// Sets up the writer's own connection for it: no checkpoint of its own at commit, and a
    /// WAL cut back to a bounded size once it starts over.
    pub fn configure_writer(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        connection.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
    }

    /// Starts a thread named `thread_name` with its own connection that copies committed WAL
    /// pages into the database file while the writer goes on committing, woken by the
    /// writer's commits and ending with the writer. `synchronous` is the store's level
    /// (`FULL`, `NORMAL`); `store` names the store in its warnings.
    pub fn start(
        files: Arc<SqliteFiles>,
        busy_timeout: Duration,
        synchronous: &'static str,
        thread_name: &str,
        store: &'static str,
    ) -> Result<Self, StartError> {
        let connection = open_connection(files.database(), busy_timeout, synchronous)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let long_wal = Arc::clone(&restart_due);
        let thread = std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || checkpoint_when_woken(&connection, &files, &woken, &long_wal, store))?;
        Ok(Self {
            wake: Some(wake),
            restart_due,
            thread: Some(thread),
            store,
        })
    }

    /// After a commit.
    pub fn committed(&self) {
        // Full: a checkpoint is already due. Gone: the checkpointer died, and said so.
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }

    /// Between two batches, on the writer's connection, once its files were checked (a
    /// checkpoint writes through the -shm mapping): if the WAL stayed too long, checkpoints
    /// it to its end so that the next write starts it over.
    pub fn restart_if_due(&self, connection: &rusqlite::Connection) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(error) =
                connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
        {
            tracing::warn!(%error, store = self.store, "checkpoint failed; will retry");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after at most one more checkpoint.
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_connection(
    database: &Path,
    busy_timeout: Duration,
    synchronous: &'static str,
) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(database)?;
    connection.busy_timeout(busy_timeout)?;
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    Ok(connection)
}

/// The checkpointer thread: a passive checkpoint after each wake-up, at most one per
/// [`CHECKPOINT_INTERVAL`], until the writer is gone.
fn checkpoint_when_woken(
    connection: &rusqlite::Connection,
    files: &SqliteFiles,
    woken: &std::sync::mpsc::Receiver<()>,
    long_wal: &AtomicBool,
    store: &'static str,
) {
    let mut warned: Option<Instant> = None;
    while woken.recv().is_ok() {
        // A checkpoint writes through the -shm mapping: not once a file was made immutable
        // (a SIGBUS), nor into files no longer at their paths.
        if files.check().is_err() {
            continue;
        }
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
                    tracing::warn!(%error, store, "checkpoint failed; will retry");
                    warned = Some(Instant::now());
                }
            }
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits of 40 pages of 4 KiB each.
    fn write_pages(writer: &rusqlite::Connection, commits: std::ops::Range<i64>) {
        for commit in commits {
            let transaction = writer.unchecked_transaction().unwrap();
            for row in 0..40 {
                transaction
                    .execute(
                        "INSERT INTO t (id, v) VALUES (?1, zeroblob(4000))",
                        [commit * 40 + row],
                    )
                    .unwrap();
            }
            transaction.commit().unwrap();
        }
    }

    /// A writer committing with no checkpoint of its own: nothing reaches the database file
    /// until the checkpointer is woken; a reader holding an old snapshot stops its passive
    /// checkpoint half way, which leaves the log long, and the writer's restart then copies
    /// the rest and starts the log over.
    #[test]
    fn the_checkpointer_copies_the_log_and_the_writer_restarts_it_when_long() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        let _: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .unwrap();
        Checkpointer::configure_writer(&writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let files = Arc::new(SqliteFiles::opened(&path).unwrap());
        let checkpointer = Checkpointer::start(
            files,
            Duration::from_secs(5),
            "FULL",
            "test-checkpointer",
            "test",
        )
        .unwrap();
        let database_bytes = || std::fs::metadata(&path).unwrap().len();
        let half = 1600 * 4000;
        write_pages(&writer, 0..40);
        let reader = rusqlite::Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        write_pages(&writer, 40..80);
        // With SQLite's automatic checkpoint, the commit past 1000 pages would have copied.
        assert!(database_bytes() < half / 10, "{} bytes", database_bytes());
        checkpointer.committed();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !checkpointer.restart_due.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(checkpointer.restart_due.load(Ordering::Relaxed));
        let copied = database_bytes();
        assert!((half..2 * half).contains(&copied), "{copied} bytes");
        reader.execute_batch("COMMIT").unwrap();
        checkpointer.restart_if_due(&writer);
        assert!(database_bytes() >= 2 * half, "{} bytes", database_bytes());
        assert!(!checkpointer.restart_due.load(Ordering::Relaxed));
        writer
            .execute("INSERT INTO t (id, v) VALUES (-1, x'00')", [])
            .unwrap();
        let frames: i64 = writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap();
        assert!(frames < 10, "the log started over: {frames} frames");
    }
}
