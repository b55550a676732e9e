//! The local spool: callbacks JetStream could not take, committed to SQLite before Chat is
//! answered OK, kept in arrival order until the drainer has published them.
//!
//! One thread owns the connection. Appends that arrive together are committed in one
//! transaction (group commit), so a burst during an outage costs one fsync per batch rather
//! than one per callback.

mod rescue;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chathook_core::sqlite_files::SqliteFiles;
use tokio::sync::{mpsc, oneshot};

use crate::message::Outgoing;
use writer::{Writer, count, open_connection};

/// Why the spool could not do something.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The bound is reached: the callback cannot be kept.
    #[error(
        "the spool is full ({entries} entries, {bytes} bytes; bounds {max_entries} entries, \
         {max_bytes} bytes): JetStream has been unreachable too long"
    )]
    Full {
        /// Entries held.
        entries: u64,
        /// Body bytes held.
        bytes: u64,
        /// `spool_max_entries`.
        max_entries: u64,
        /// `spool_max_bytes`.
        max_bytes: u64,
    },
    /// SQLite refused.
    #[error("spool database {path}: {source}")]
    Database {
        /// The spool file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file's directory could not be created.
    #[error("cannot create the spool directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the spool.
    #[error(
        "the spool {path} is in use by another process (a running chathook drains its own \
         spool; stop it first)"
    )]
    InUse {
        /// The spool file.
        path: PathBuf,
    },
    /// The spool's file was replaced by another, or cannot be written.
    #[error("spool: {0}")]
    File(chathook_core::sqlite_files::FileProblem),
    /// The writer thread is gone (it only stops when the process does).
    #[error("the spool writer has stopped")]
    Stopped,
}

/// One spooled callback, as the drainer reads it back.
#[derive(Debug)]
pub struct Spooled {
    /// Its row, for removal once published.
    pub id: i64,
    /// What to publish.
    pub message: Outgoing,
}

/// What the spool holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Entries held.
    pub entries: u64,
    /// Body bytes held.
    pub bytes: u64,
    /// When the oldest entry was spooled, in Unix milliseconds.
    pub oldest_ms: Option<i64>,
}

/// Where the writer thread answers one piece of work.
pub(super) type Answer<T> = oneshot::Sender<Result<T, SpoolError>>;

/// One piece of work for the writer thread.
pub(super) enum Work {
    Append(Outgoing, Answer<()>),
    Oldest(usize, Answer<Vec<Spooled>>),
    /// Deletes published entries, or with `bury` moves entries that can never be published
    /// to the `spool_dead` table.
    Remove {
        ids: Vec<i64>,
        bury: bool,
        done: Answer<()>,
    },
}

/// The spool's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Most entries.
    pub max_entries: u64,
    /// Most body bytes.
    pub max_bytes: u64,
}

/// A handle on the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    queue: mpsc::UnboundedSender<Work>,
    counters: Arc<Counters>,
    path: Arc<Path>,
    bounds: Bounds,
}

/// Kept current by the writer thread, read by anyone without a query.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) entries: AtomicU64,
    pub(super) bytes: AtomicU64,
    /// `i64::MIN` when empty.
    pub(super) oldest_ms: AtomicI64,
}

impl Spool {
    /// Opens (creating if needed) the spool at `path` and starts its writer thread.
    pub fn open(path: &Path, bounds: Bounds) -> Result<Self, SpoolError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|source| SpoolError::Directory {
                path: dir.to_owned(),
                source,
            })?;
        }
        let database = |source| SpoolError::Database {
            path: path.to_owned(),
            source,
        };
        // One process at a time: two drainers would publish the same entries, each with
        // counters the other makes stale.
        let lock_path = path.with_extension("lock");
        let lock = std::fs::File::create(&lock_path).map_err(|source| SpoolError::Directory {
            path: lock_path.clone(),
            source,
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::InUse {
                    path: path.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(SpoolError::Directory {
                    path: lock_path,
                    source,
                });
            }
        }
        rescue::adopt_leftover(path).map_err(|source| SpoolError::Directory {
            path: path.to_owned(),
            source,
        })?;
        // Before SQLite maps an immutable -shm: a write through that mapping is a SIGBUS.
        SqliteFiles::check_before_open(path).map_err(SpoolError::File)?;
        let connection = open_connection(path).map_err(database)?;
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            connection,
            // Once the tables were written, so that the log exists and is recorded too.
            files: SqliteFiles::opened(path).map_err(SpoolError::File)?,
            counters: Arc::clone(&counters),
            bounds,
            path: path.to_owned(),
            _lock: lock,
        };
        writer.refresh().map_err(database)?;
        let (queue, work) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("nats-spool".into())
            .spawn(move || writer.run(work))
            .map_err(|source| SpoolError::Directory {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            queue,
            counters,
            path: path.into(),
            bounds,
        })
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its bounds.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Queues `message` for the end of the spool now, and returns the commit to wait for:
    /// appends are committed in the order they were queued, which is what keeps the spool in
    /// arrival order when the caller queues under its own lock.
    pub fn append(
        &self,
        message: Outgoing,
    ) -> impl Future<Output = Result<(), SpoolError>> + use<> {
        self.ask(|done| Work::Append(message, done))
    }

    /// The oldest `limit` entries, oldest first.
    pub async fn oldest(&self, limit: usize) -> Result<Vec<Spooled>, SpoolError> {
        self.ask(|done| Work::Oldest(limit, done)).await
    }

    /// Deletes published entries.
    pub async fn remove(&self, ids: Vec<i64>) -> Result<(), SpoolError> {
        self.ask(|done| Work::Remove {
            ids,
            bury: false,
            done,
        })
        .await
    }

    /// Moves entries that can never be published out of the way, into `spool_dead`, where
    /// an operator can still read them.
    pub async fn bury(&self, ids: Vec<i64>) -> Result<(), SpoolError> {
        self.ask(|done| Work::Remove {
            ids,
            bury: true,
            done,
        })
        .await
    }

    /// Queues `work` for the writer thread now; the answer comes when it is done.
    fn ask<T: Send + 'static, W: FnOnce(Answer<T>) -> Work>(
        &self,
        work: W,
    ) -> impl Future<Output = Result<T, SpoolError>> + use<T, W> {
        let (done, answer) = oneshot::channel();
        let queued = self.queue.send(work(done)).is_ok();
        async move {
            if !queued {
                return Err(SpoolError::Stopped);
            }
            answer.await.map_err(|_| SpoolError::Stopped)?
        }
    }

    /// What the spool at `path` holds, read without taking it over (a running chathook may
    /// own it): for `chathook nats spool`.
    pub fn peek(path: &Path) -> Result<(SpoolStats, u64), SpoolError> {
        let database = |source| SpoolError::Database {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            return Ok((SpoolStats::default(), 0));
        }
        let connection =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(database)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(database)?;
        let stats = count(&connection).map_err(database)?;
        let dead: i64 = connection
            .query_row("SELECT COUNT(*) FROM spool_dead", [], |row| row.get(0))
            .unwrap_or(0);
        Ok((stats, dead as u64))
    }

    /// What it holds now.
    pub fn stats(&self) -> SpoolStats {
        let oldest = self.counters.oldest_ms.load(Ordering::Acquire);
        SpoolStats {
            entries: self.counters.entries.load(Ordering::Acquire),
            bytes: self.counters.bytes.load(Ordering::Acquire),
            oldest_ms: (oldest != i64::MIN).then_some(oldest),
        }
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
