//! The writer thread: the spool's SQLite connection, group commit of the appends that arrive
//! together, reads and removals in queue order, and the counters kept from what it wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chathook_core::sqlite_files::SqliteFiles;
use tokio::sync::{mpsc, oneshot};

use super::{Bounds, Counters, SpoolError, SpoolStats, Spooled, Work, unix_ms};
use crate::message::Outgoing;

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 512;

pub(super) fn open_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
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

/// The one owner of the spool's connection, on a thread of its own.
pub(super) struct Writer {
    pub(super) connection: rusqlite::Connection,
    /// The files written, checked before every write.
    pub(super) files: SqliteFiles,
    pub(super) counters: Arc<Counters>,
    pub(super) bounds: Bounds,
    pub(super) path: PathBuf,
    /// Held as long as the writer runs: the spool's one-process lock.
    pub(super) _lock: std::fs::File,
}

impl Writer {
    pub(super) fn run(mut self, mut work: mpsc::UnboundedReceiver<Work>) {
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
                let removed = self
                    .ensure_files()
                    .and_then(|()| self.delete(&ids, bury).map_err(|e| self.error(e)));
                let _ = done.send(removed);
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
        if let Err(error) = self.ensure_files() {
            tracing::error!(path = %self.path.display(), %error, "spool commit refused");
            for (_, done) in accepted {
                let _ = done.send(Err(repeat(&error, &self.path)));
            }
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
        // Last thing before the commit: one into a file no longer at its path would be
        // acknowledged and then lost at the next start.
        if let Err(problem) = self.files.check() {
            return Err(rusqlite::Error::ToSqlConversionFailure(problem.into()));
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
    pub(super) fn refresh(&self) -> rusqlite::Result<()> {
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
pub(super) fn count(connection: &rusqlite::Connection) -> rusqlite::Result<SpoolStats> {
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

/// `error` again, for each callback of a refused batch.
fn repeat(error: &SpoolError, path: &Path) -> SpoolError {
    match error {
        SpoolError::File(problem) => SpoolError::File(problem.clone()),
        other => SpoolError::Database {
            path: path.to_owned(),
            source: rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
        },
    }
}
