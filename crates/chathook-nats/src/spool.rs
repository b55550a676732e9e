//! The local spool: callbacks JetStream could not take, committed to SQLite before Chat is
//! answered OK, kept in arrival order until the drainer has published them.
//!
//! One thread owns the connection. Appends that arrive together are committed in one
//! transaction (group commit), so a burst during an outage costs one fsync per batch rather
//! than one per callback.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::message::Outgoing;

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 512;

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
type Answer<T> = oneshot::Sender<Result<T, SpoolError>>;

enum Work {
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
struct Counters {
    entries: AtomicU64,
    bytes: AtomicU64,
    /// `i64::MIN` when empty.
    oldest_ms: AtomicI64,
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
        let connection = open_connection(path).map_err(database)?;
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            connection,
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

fn open_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an entry Chat was told OK about survives power loss, not only a crash.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS spool (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             subject TEXT NOT NULL,
             msg_id TEXT NOT NULL,
             headers TEXT NOT NULL,
             body BLOB NOT NULL,
             spooled_at_ms INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS spool_dead (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             subject TEXT NOT NULL,
             msg_id TEXT NOT NULL,
             headers TEXT NOT NULL,
             body BLOB NOT NULL,
             spooled_at_ms INTEGER NOT NULL
         );",
    )?;
    Ok(connection)
}

struct Writer {
    connection: rusqlite::Connection,
    counters: Arc<Counters>,
    bounds: Bounds,
    path: PathBuf,
    /// Held as long as the writer runs: the spool's one-process lock.
    _lock: std::fs::File,
}

impl Writer {
    fn run(mut self, mut work: mpsc::UnboundedReceiver<Work>) {
        let mut appends = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = work.blocking_recv() {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Work::Append(message, done) => appends.push((message, done)),
                    // Reads and removals see every append queued before them.
                    other => {
                        self.commit(&mut appends);
                        self.serve(other);
                    }
                }
                if appends.len() < MAX_BATCH {
                    next = work.try_recv().ok();
                }
            }
            self.commit(&mut appends);
        }
    }

    fn serve(&mut self, work: Work) {
        match work {
            Work::Append(..) => unreachable!("appends are batched"),
            Work::Oldest(limit, done) => {
                let _ = done.send(self.read_oldest(limit).map_err(|e| self.error(e)));
            }
            Work::Remove { ids, bury, done } => {
                let removed = self.delete(&ids, bury);
                let _ = done.send(removed.map_err(|e| self.error(e)));
            }
        }
    }

    fn error(&self, source: rusqlite::Error) -> SpoolError {
        SpoolError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Commits the batch in one transaction, refusing what would pass the bounds.
    fn commit(&mut self, appends: &mut Vec<(Outgoing, oneshot::Sender<Result<(), SpoolError>>)>) {
        if appends.is_empty() {
            return;
        }
        let mut entries = self.counters.entries.load(Ordering::Acquire);
        let mut bytes = self.counters.bytes.load(Ordering::Acquire);
        let mut accepted = Vec::with_capacity(appends.len());
        let mut refused = Vec::new();
        for (message, done) in appends.drain(..) {
            let size = message.body.len() as u64;
            if entries + 1 > self.bounds.max_entries || bytes + size > self.bounds.max_bytes {
                refused.push(done);
                continue;
            }
            entries += 1;
            bytes += size;
            accepted.push((message, done));
        }
        let full = || SpoolError::Full {
            entries,
            bytes,
            max_entries: self.bounds.max_entries,
            max_bytes: self.bounds.max_bytes,
        };
        for done in refused {
            let _ = done.send(Err(full()));
        }
        if accepted.is_empty() {
            return;
        }
        let now = unix_ms();
        match self.insert(&accepted, now) {
            Ok(()) => {
                self.counters.entries.store(entries, Ordering::Release);
                self.counters.bytes.store(bytes, Ordering::Release);
                let _ = self.counters.oldest_ms.compare_exchange(
                    i64::MIN,
                    now,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                for (_, done) in accepted {
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) => {
                tracing::error!(path = %self.path.display(), %error, "spool commit failed");
                for (_, done) in accepted {
                    let _ = done.send(Err(self.error(clone_error(&error))));
                }
            }
        }
    }

    fn insert(
        &mut self,
        accepted: &[(Outgoing, oneshot::Sender<Result<(), SpoolError>>)],
        now: i64,
    ) -> rusqlite::Result<()> {
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO spool (subject, msg_id, headers, body, spooled_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (message, _) in accepted {
                let headers =
                    serde_json::to_string(&message.headers).expect("headers serialize to JSON");
                insert.execute(rusqlite::params![
                    message.subject,
                    message.msg_id,
                    headers,
                    &message.body[..],
                    now
                ])?;
            }
        }
        transaction.commit()
    }

    fn read_oldest(&mut self, limit: usize) -> rusqlite::Result<Vec<Spooled>> {
        let mut select = self.connection.prepare_cached(
            "SELECT id, subject, msg_id, headers, body FROM spool ORDER BY id LIMIT ?1",
        )?;
        let rows = select.query_map([limit as i64], |row| {
            let headers: String = row.get(3)?;
            let headers = serde_json::from_str(&headers).map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            })?;
            Ok(Spooled {
                id: row.get(0)?,
                message: Outgoing {
                    subject: row.get(1)?,
                    msg_id: row.get(2)?,
                    headers,
                    body: row.get::<_, Vec<u8>>(4)?.into(),
                },
            })
        })?;
        rows.collect()
    }

    /// Deletes (or, `bury`ing, moves to `spool_dead`) the entries, and updates the counters
    /// from what was deleted: no scan of the table, however large it has grown.
    fn delete(&mut self, ids: &[i64], bury: bool) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        let mut removed_bytes = 0u64;
        let mut removed = 0u64;
        {
            let mut keep = transaction.prepare_cached(
                "INSERT INTO spool_dead (subject, msg_id, headers, body, spooled_at_ms) \
                 SELECT subject, msg_id, headers, body, spooled_at_ms FROM spool WHERE id = ?1",
            )?;
            let mut delete = transaction
                .prepare_cached("DELETE FROM spool WHERE id = ?1 RETURNING length(body)")?;
            for id in ids {
                if bury {
                    keep.execute([id])?;
                }
                let mut rows = delete.query([id])?;
                if let Some(row) = rows.next()? {
                    removed += 1;
                    removed_bytes += row.get::<_, i64>(0)? as u64;
                }
            }
        }
        let oldest: Option<i64> = transaction
            .query_row(
                "SELECT spooled_at_ms FROM spool ORDER BY id LIMIT 1",
                [],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                error => Err(error),
            })?;
        transaction.commit()?;
        let counters = &self.counters;
        let entries = counters
            .entries
            .load(Ordering::Acquire)
            .saturating_sub(removed);
        counters.entries.store(entries, Ordering::Release);
        let bytes = counters
            .bytes
            .load(Ordering::Acquire)
            .saturating_sub(removed_bytes);
        counters.bytes.store(bytes, Ordering::Release);
        counters
            .oldest_ms
            .store(oldest.unwrap_or(i64::MIN), Ordering::Release);
        Ok(())
    }

    /// Reads the counters back from the table (once, at start-up).
    fn refresh(&self) -> rusqlite::Result<()> {
        let stats = count(&self.connection)?;
        self.counters
            .entries
            .store(stats.entries, Ordering::Release);
        self.counters.bytes.store(stats.bytes, Ordering::Release);
        self.counters
            .oldest_ms
            .store(stats.oldest_ms.unwrap_or(i64::MIN), Ordering::Release);
        Ok(())
    }
}

/// What the table holds, counted.
fn count(connection: &rusqlite::Connection) -> rusqlite::Result<SpoolStats> {
    let (entries, bytes, oldest): (i64, i64, Option<i64>) = connection.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(body)), 0), MIN(spooled_at_ms) FROM spool",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(SpoolStats {
        entries: entries as u64,
        bytes: bytes as u64,
        oldest_ms: oldest,
    })
}

/// rusqlite's error is not `Clone`; every caller of a failed batch gets its words.
fn clone_error(error: &rusqlite::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(error.to_string().into())
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
