//! SQLite's WAL checkpoints, run beside the writer so that no callback's commit waits for one.

use std::sync::Arc;

use chathook_core::sqlite_files::SqliteFiles;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Durability, StoreError};

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
pub(super) const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// Least time between two checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

/// The writer's side of the checkpointer.
pub(super) struct Checkpointer {
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
    pub(super) fn start(
        files: Arc<SqliteFiles>,
        busy_timeout: Duration,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(files.database())?;
        connection.busy_timeout(busy_timeout)?;
        connection.pragma_update(None, "synchronous", durability.sqlite_pragma())?;
        connection.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let long_wal = Arc::clone(&restart_due);
        std::thread::Builder::new()
            .name("read-receipt-checkpointer".into())
            .spawn(move || checkpoint_when_woken(&connection, &files, &woken, &long_wal))
            .map_err(|error| StoreError::WriterStart(Arc::new(error)))?;
        Ok(Self { wake, restart_due })
    }

    /// After a commit.
    pub(super) fn committed(&self) {
        // Full: a checkpoint is already due. Gone: the checkpointer died, and said so.
        let _ = self.wake.try_send(());
    }

    /// Between two batches: if the WAL stayed too long, checkpoint it to its end so that the
    /// next write starts it over.
    pub(super) fn restart_if_due(&self, connection: &rusqlite::Connection) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(error) =
                connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
        {
            tracing::warn!(%error, "read receipt checkpoint failed; will retry");
        }
    }
}

/// The checkpointer thread: a passive checkpoint after each wake-up, at most one per
/// [`CHECKPOINT_INTERVAL`], until the writer is gone.
fn checkpoint_when_woken(
    connection: &rusqlite::Connection,
    files: &SqliteFiles,
    woken: &std::sync::mpsc::Receiver<()>,
    long_wal: &AtomicBool,
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
                    tracing::warn!(%error, "read receipt checkpoint failed; will retry");
                    warned = Some(Instant::now());
                }
            }
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}
