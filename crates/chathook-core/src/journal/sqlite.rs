//! SQLite backend: one writer thread with its own connection does everything, reads too, so
//! nothing waits on SQLite's file locks and appends waiting together share one commit.
//! Every operation is a message to that thread and an answer back.

mod admin;
mod lock;
mod ops;
mod room;
mod schema;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::bounds::Bounds;
use super::rows::{self, ClaimRequest, ListPage, PurgedBatch, ReplayCandidate, Settlement};
use super::{
    AppendLease, Appended, Claimed, DeliveryDetail, DeliveryId, DeliverySummary, Durability,
    JournalError, JournalOptions, JournalStats, NewEntry, RetryTarget, Settled,
};
use writer::{Commits, Message, Writer};

/// How long a statement waits for a lock held by another process on the same file (a
/// `chathook deliveries` run beside the server) before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Deliveries per free slot a worker claims at once (see [`super::Journal::claim_ahead`]).
pub(super) const CLAIM_AHEAD: usize = 16;

/// Messages queued for the writer beyond which callers wait to send.
const QUEUE_DEPTH: usize = 4096;

/// The tables of the newest schema, both backends'.
pub(super) const TABLES: [&str; 4] = [
    "journal_entries",
    "journal_deliveries",
    "journal_attempts",
    "journal_probe",
];

/// Why the journal cannot open when a table of [`TABLES`] is gone though `journal_schema`
/// records `version`: a table dropped since is not created again, and every callback owed to
/// a queued handler would fail.
pub(super) fn missing_table(table: &str, version: i64) -> String {
    format!(
        "it has no table {table}, though journal_schema records schema version {version}: \
         restore the table from a backup, or drop journal_schema and the journal's other tables \
         so that the next start creates them again, empty"
    )
}

/// The SQLite journal: the writer's queue.
pub(super) struct SqliteJournal {
    queue: mpsc::Sender<Message>,
    bounds: Arc<Bounds>,
    description: String,
    /// The writer thread, joined at drop so that the file and the server's lock are given
    /// up by the time the journal is gone (a restart in the same process can open it).
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        // Closing the queue (its only sender is replaced) ends the writer's loop once it has
        // answered what was queued.
        self.queue = mpsc::channel(1).0;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// What a `sqlite:` URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SqliteTarget {
    pub(super) path: PathBuf,
    pub(super) mode: OpenMode,
}

/// The URL's `mode`: SQLite's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpenMode {
    /// `ro`: read only (`chathook deliveries list` on a copy, or a test of the probe).
    Ro,
    /// `rw`: the file must exist.
    Rw,
    /// `rwc`, the default: the file and its folder are created.
    Rwc,
}

impl SqliteTarget {
    /// Reads `sqlite://path` or `sqlite:path`, with an optional `?mode=ro|rw|rwc`; an
    /// in-memory database is refused, since a journal that does not outlive the process
    /// keeps no promise.
    pub(super) fn parse(url: &str) -> Result<Self, JournalError> {
        let unsupported = || JournalError::UnsupportedUrl(crate::redact::url(url));
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(unsupported)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" {
            return Err(unsupported());
        }
        let mut mode = OpenMode::Rwc;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            mode = match pair {
                "mode=ro" => OpenMode::Ro,
                "mode=rw" => OpenMode::Rw,
                "mode=rwc" => OpenMode::Rwc,
                _ => return Err(unsupported()),
            };
        }
        Ok(Self {
            path: PathBuf::from(path),
            mode,
        })
    }
}

impl Durability {
    /// SQLite's `synchronous` for it.
    fn sqlite_synchronous(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(error: rusqlite::Error) -> Self {
        let code = error.sqlite_error_code();
        Self::Database(match code {
            Some(rusqlite::ErrorCode::DiskFull) => format!(
                "the journal's disk is full (SQLite: {error}): free space on it; callbacks owed \
                 to queued handlers are refused until then"
            ),
            Some(rusqlite::ErrorCode::ReadOnly) => format!(
                "the journal's file is read-only (SQLite: {error}): check the permissions of \
                 the file and its folder, and the mode in journal.database_url"
            ),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                format!(
                    "the journal's file is locked by another process for more than {} s \
                     (SQLite: {error})",
                    BUSY_TIMEOUT.as_secs()
                )
            }
            _ => format!("SQLite: {error}"),
        })
    }
}

impl SqliteJournal {
    /// Starts the writer thread, which opens, migrates, clears the leases a previous process
    /// left (a SQLite journal has one replica, so they are nobody's now) and counts.
    pub(super) async fn open(options: &JournalOptions) -> Result<Self, JournalError> {
        let target = SqliteTarget::parse(&options.database_url)?;
        let description = format!(
            "sqlite {} ({})",
            target.path.display(),
            durability_name(options.durability)
        );
        let bounds = Arc::new(Bounds::new(options.max_entries, options.max_bytes));
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (opened, ready) = oneshot::channel();
        let open_failed = |reason: String| JournalError::Open {
            url: crate::redact::url(&options.database_url),
            reason,
        };
        // Taken before the writer opens the file, whose first act is to free the leases.
        let server_lock = if options.serving {
            lock::hold(&target).map_err(open_failed)?
        } else {
            None
        };
        let settings = writer::Settings {
            target,
            durability: options.durability,
            dedupe_window: options.dedupe_window,
            max_batch: options.max_batch.max(1),
            bounds: Arc::clone(&bounds),
            serving: options.serving,
        };
        let writer_thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || {
                // Held until the writer, the only user of the file, is done with it.
                let _server_lock = server_lock;
                writer::run(settings, receiver, opened)
            })
            .map_err(|error| open_failed(format!("cannot start its writer thread: {error}")))?;
        match ready.await {
            Ok(Ok(())) => Ok(Self {
                queue,
                bounds,
                description,
                writer: Some(writer_thread),
            }),
            Ok(Err(error)) => Err(open_failed(match error {
                JournalError::Database(reason) => reason,
                other => other.to_string(),
            })),
            Err(_) => Err(open_failed(
                "its writer thread stopped while opening".into(),
            )),
        }
    }

    pub(super) fn describe(&self) -> String {
        self.description.clone()
    }

    /// Runs `operation` on the writer thread and returns its answer; what it commits is
    /// synced as `durability` says.
    async fn call<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut Writer) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.call_committing(Commits::Durable, operation).await
    }

    /// [`Self::call`], with the commits `operation` makes synced as `commits` says.
    async fn call_committing<T: Send + 'static>(
        &self,
        commits: Commits,
        operation: impl FnOnce(&mut Writer) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (answer, answered) = oneshot::channel();
        let message = Message::Run(Box::new(move |writer: &mut Writer| {
            writer.commit_as(commits);
            let _ = answer.send(writer.check_files().and_then(|()| operation(writer)));
        }));
        self.queue
            .send(message)
            .await
            .map_err(|_| JournalError::Closed)?;
        answered.await.map_err(|_| JournalError::Closed)?
    }

    pub(super) async fn append(&self, entry: NewEntry) -> Result<Appended, JournalError> {
        Ok(self.append_leasing(entry, None).await?.0)
    }

    pub(super) async fn append_leasing(
        &self,
        entry: NewEntry,
        lease: Option<AppendLease>,
    ) -> Result<(Appended, Vec<Claimed>), JournalError> {
        let (answer, answered) = oneshot::channel();
        let lease = lease.map(|lease| rows::LeaseAtAppend::new(&lease));
        self.queue
            .send(Message::Append(Box::new(((entry, lease), answer))))
            .await
            .map_err(|_| JournalError::Closed)?;
        answered.await.map_err(|_| JournalError::Closed)?
    }

    pub(super) async fn claim(&self, claim: ClaimRequest) -> Result<Vec<Claimed>, JournalError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Message::Claim(Box::new((claim, answer))))
            .await
            .map_err(|_| JournalError::Closed)?;
        answered.await.map_err(|_| JournalError::Closed)?
    }

    pub(super) async fn next_due(&self, handler: String) -> Result<Option<i64>, JournalError> {
        self.call(move |writer| ops::next_due(writer, &handler))
            .await
    }

    /// Queues `settlement` for the writer; the answer comes once it is committed.
    pub(super) async fn queue_settle(
        &self,
        settlement: Settlement,
    ) -> Result<oneshot::Receiver<Result<Settled, JournalError>>, JournalError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Message::Settle(Box::new((settlement, answer))))
            .await
            .map_err(|_| JournalError::Closed)?;
        Ok(answered)
    }

    pub(super) async fn release(&self, owner: String) -> Result<u64, JournalError> {
        self.call_committing(Commits::Unsynced, move |writer| {
            ops::release(writer, &owner)
        })
        .await
    }

    pub(super) async fn stats(&self) -> Result<JournalStats, JournalError> {
        let mut stats = self.call(ops::stats).await?;
        stats.append_transactions = self.bounds.append_transactions();
        Ok(stats)
    }

    pub(super) async fn probe(&self) -> Result<(), JournalError> {
        self.call(ops::probe).await
    }

    pub(super) async fn purge_batch(
        &self,
        cutoff_ms: i64,
        after_id: i64,
    ) -> Result<PurgedBatch, JournalError> {
        self.call(move |writer| admin::purge_batch(writer, cutoff_ms, after_id))
            .await
    }

    pub(super) async fn purge_for_room(&self) -> Result<PurgedBatch, JournalError> {
        self.call(room::purge_for_room).await
    }

    pub(super) async fn list_page(
        &self,
        page: ListPage,
    ) -> Result<Vec<DeliverySummary>, JournalError> {
        self.call(move |writer| admin::list_page(writer, &page))
            .await
    }

    pub(super) async fn show(
        &self,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, JournalError> {
        self.call(move |writer| admin::show(writer, id)).await
    }

    pub(super) async fn retry(
        &self,
        target: RetryTarget,
        now_ms: i64,
    ) -> Result<u64, JournalError> {
        self.call(move |writer| admin::retry(writer, &target, now_ms))
            .await
    }

    pub(super) async fn discard(&self, id: DeliveryId) -> Result<bool, JournalError> {
        self.call(move |writer| admin::discard(writer, id)).await
    }

    pub(super) async fn replay_candidates(
        &self,
        since_ms: i64,
        until_ms: i64,
        after_id: i64,
    ) -> Result<Vec<ReplayCandidate>, JournalError> {
        self.call(move |writer| admin::replay_candidates(writer, since_ms, until_ms, after_id))
            .await
    }

    pub(super) async fn schedule(
        &self,
        handler: String,
        entry_ids: Vec<i64>,
        now_ms: i64,
    ) -> Result<u64, JournalError> {
        self.call(move |writer| admin::schedule(writer, &handler, &entry_ids, now_ms))
            .await
    }
}

/// `full` or `normal`, as `[journal] durability` is written.
pub(super) fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "full",
        Durability::Normal => "normal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_and_a_mode_and_never_memory() {
        let target = SqliteTarget::parse("sqlite://data/journal.db").unwrap();
        assert_eq!(target.path, PathBuf::from("data/journal.db"));
        assert_eq!(target.mode, OpenMode::Rwc);
        let target = SqliteTarget::parse("sqlite:///var/lib/j.db?mode=ro").unwrap();
        assert_eq!(target.path, PathBuf::from("/var/lib/j.db"));
        assert_eq!(target.mode, OpenMode::Ro);
        assert_eq!(
            SqliteTarget::parse("sqlite:j.db?mode=rw").unwrap().mode,
            OpenMode::Rw
        );
        for refused in [
            "sqlite::memory:",
            "sqlite://j.db?mode=memory",
            "sqlite://",
            "sqlite://j.db?cache=shared",
        ] {
            let error = SqliteTarget::parse(refused).unwrap_err();
            assert!(
                matches!(error, JournalError::UnsupportedUrl(ref url) if url == refused),
                "{refused}: {error}"
            );
        }
    }
}
