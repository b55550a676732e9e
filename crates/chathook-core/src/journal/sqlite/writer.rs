//! The writer thread: opens the file, then takes messages in bursts. Appends and settlements
//! that arrived together are committed in one transaction (one fsync for all of them when it
//! holds an append, none when it holds only settlements); any other operation runs between
//! bursts of those, in the order it arrived.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use tokio::sync::{mpsc, oneshot};

use super::{BUSY_TIMEOUT, OpenMode, SqliteTarget};
use super::{ops, room, schema};
use crate::journal::bounds::{Bounds, Pending};
use crate::journal::rows::{
    ClaimRequest, LeaseAtAppend, Settlement, duration_ms, from_unix_ms, unix_ms,
};
use crate::journal::{
    Appended, Claimed, Durability, JournalError, NewEntry, Settled, StoredCallback,
};
use crate::sqlite_checkpoint::Checkpointer;
use crate::sqlite_files::{FileProblem, SqliteFiles, checkpoint_into_database};

/// How every transaction that writes begins. IMMEDIATE takes the write lock first, so a
/// `chathook deliveries` run writing the same file meanwhile is waited for (the busy
/// timeout); a DEFERRED one would read first, and its write would then fail at once with
/// SQLITE_BUSY_SNAPSHOT, which no busy timeout retries.
pub(super) const WRITE: TransactionBehavior = TransactionBehavior::Immediate;

/// An append waiting for its batch's commit, and where its answer goes.
type PendingAppend = (
    (NewEntry, Option<LeaseAtAppend>),
    oneshot::Sender<Result<(Appended, Vec<Claimed>), JournalError>>,
);

/// A settlement waiting for its batch's commit, and where its answer goes.
type PendingSettle = (Settlement, oneshot::Sender<Result<Settled, JournalError>>);

/// A claim waiting for its batch's commit, and where its answer goes.
type PendingClaim = (
    ClaimRequest,
    oneshot::Sender<Result<Vec<Claimed>, JournalError>>,
);

/// What the writer is asked.
pub(crate) enum Message {
    /// An append, grouped with others into one transaction (boxed: an entry is large, and
    /// most messages are appends anyway).
    Append(Box<PendingAppend>),
    /// An attempt's settlement, grouped like appends: a delivery's attempts end in bursts
    /// (a claim starts several at once), and one transaction for all of them writes each
    /// page they share once.
    Settle(Box<PendingSettle>),
    /// A worker's claim, run in the same transaction after the batch's settlements (which
    /// it therefore sees: a key's next entry is claimable once its head's attempt is
    /// settled) and appends, and answered once that commits.
    Claim(Box<PendingClaim>),
    /// Any other operation, which answers through a channel of its own.
    Run(Box<dyn FnOnce(&mut Writer) + Send>),
}

/// What a commit of the writer's connection waits for, as `synchronous` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Commits {
    /// As `durability` says: appends, and operators' changes.
    Durable,
    /// No fsync of their own: claims, settlements, leases handed back. What they record (a
    /// lease, an attempt's end) may be forgotten by a power loss, and the delivery is then
    /// attempted again, which at least once allows; the next synced commit makes them
    /// durable too, as the WAL is written in order.
    Unsynced,
}

/// How a batch's members are kept apart in its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isolation {
    /// Not at all: the first try.
    None,
    /// Each in a savepoint of its own.
    Savepoints,
}

/// What a batch's transaction wrote, each member's result in its order.
struct Written {
    pending: Pending,
    appended: Vec<Result<(Appended, Vec<Claimed>), JournalError>>,
    settled: Vec<Result<Settled, JournalError>>,
    claimed: Vec<Result<Vec<Claimed>, JournalError>>,
}

/// What arrived together, for one transaction.
struct Batch {
    appends: Vec<PendingAppend>,
    settles: Vec<PendingSettle>,
    claims: Vec<PendingClaim>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.settles.is_empty() && self.claims.is_empty()
    }

    /// Answers every member with `error`.
    fn fail(&mut self, error: &JournalError) {
        for (_, answer) in self.appends.drain(..) {
            let _ = answer.send(Err(error.clone()));
        }
        for (_, answer) in self.settles.drain(..) {
            let _ = answer.send(Err(error.clone()));
        }
        for (_, answer) in self.claims.drain(..) {
            let _ = answer.send(Err(error.clone()));
        }
    }
}

/// Sends each answer its result.
fn answer_all<T, R>(pending: &mut Vec<(T, oneshot::Sender<R>)>, results: Vec<R>) {
    for ((_, answer), result) in pending.drain(..).zip(results) {
        let _ = answer.send(result);
    }
}

/// What the writer thread opens the journal with.
pub(super) struct Settings {
    pub(super) target: SqliteTarget,
    pub(super) durability: Durability,
    pub(super) dedupe_window: Duration,
    pub(super) max_batch: usize,
    pub(super) bounds: Arc<Bounds>,
    /// Take over the leases a previous server left (see `JournalOptions::serving`).
    pub(super) serving: bool,
}

/// The writer's connection and what appends check.
pub(crate) struct Writer {
    pub(super) connection: Connection,
    pub(super) bounds: Arc<Bounds>,
    dedupe_window_ms: i64,
    /// What appends' commits survive.
    durability: Durability,
    /// The files written, checked before every operation; `None` when opened read-only.
    files: Option<Arc<SqliteFiles>>,
    /// Copies the WAL into the database file beside the writer; `None` when read-only.
    checkpointer: Option<Checkpointer>,
    /// Whether what the old log held was copied into the database once it was found removed.
    rescued: std::cell::Cell<bool>,
    /// Whether a member of the batch being written without savepoints failed after it began
    /// writing (see [`Writer::commit_batch`]).
    failed_unisolated: std::cell::Cell<bool>,
    /// What `synchronous` is set to now: it is changed only when a commit needs the other,
    /// as each change is a statement parsed anew (a pragma takes effect when prepared).
    commits: Commits,
}

/// The writer thread's body: opens, answers `opened`, then serves `queue` until every
/// sender is gone.
pub(super) fn run(
    settings: Settings,
    mut queue: mpsc::Receiver<Message>,
    opened: oneshot::Sender<Result<(), JournalError>>,
) {
    let max_batch = settings.max_batch;
    let mut writer = match Writer::open(settings) {
        Ok(writer) => writer,
        Err(error) => {
            let _ = opened.send(Err(error));
            return;
        }
    };
    let _ = opened.send(Ok(()));
    let mut messages = Vec::with_capacity(max_batch);
    let mut batch = Batch {
        appends: Vec::with_capacity(max_batch),
        settles: Vec::new(),
        claims: Vec::new(),
    };
    while queue.blocking_recv_many(&mut messages, max_batch) > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Append(append) => batch.appends.push(*append),
                Message::Settle(settle) => batch.settles.push(*settle),
                Message::Claim(claim) => batch.claims.push(*claim),
                Message::Run(operation) => {
                    writer.commit_batch(&mut batch);
                    operation(&mut writer);
                }
            }
        }
        writer.commit_batch(&mut batch);
        writer.after_burst();
    }
}

impl Writer {
    /// Sets `synchronous` for the next commits, if it is not so already. A failure leaves it
    /// as it was: the commits are then synced more, or less, than asked, and either is safe
    /// for what is asked to be unsynced; a durable commit asked for is retried next time.
    pub(super) fn commit_as(&mut self, commits: Commits) {
        if self.commits == commits || self.durability == Durability::Normal {
            return;
        }
        let level = match commits {
            Commits::Durable => self.durability.sqlite_synchronous(),
            Commits::Unsynced => Durability::Normal.sqlite_synchronous(),
        };
        if self
            .connection
            .pragma_update(None, "synchronous", level)
            .is_ok()
        {
            self.commits = commits;
        }
    }

    fn open(settings: Settings) -> Result<Self, JournalError> {
        let SqliteTarget { path, mode } = &settings.target;
        let flags = match mode {
            OpenMode::Ro => OpenFlags::SQLITE_OPEN_READ_ONLY,
            OpenMode::Rw => OpenFlags::SQLITE_OPEN_READ_WRITE,
            OpenMode::Rwc => {
                if let Some(folder) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder).map_err(|error| {
                        JournalError::Database(format!(
                            "cannot create its folder {}: {error}",
                            folder.display()
                        ))
                    })?;
                }
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if *mode != OpenMode::Ro {
            // Before SQLite maps an immutable -shm: a write through that mapping is a SIGBUS.
            SqliteFiles::check_before_open(path)?;
        }
        let mut connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let read_only = connection.is_readonly(rusqlite::DatabaseName::Main)?;
        if !read_only {
            // WAL: a commit appends to the log and syncs it once, and readers of another
            // process (`chathook deliveries`) do not block the writer.
            let _: String =
                connection
                    .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            connection.pragma_update(
                None,
                "synchronous",
                settings.durability.sqlite_synchronous(),
            )?;
            // Checkpoints are the checkpointer's: run by the writer, SQLite's automatic
            // checkpoint copies the WAL into the database file and syncs it inside a commit,
            // and every callback queued behind it waits.
            Checkpointer::configure_writer(&connection)?;
        }
        connection.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut connection, read_only)?;
        if !read_only && settings.serving {
            // One server only: every lease is a previous process's, which is gone.
            connection.execute(
                "UPDATE journal_deliveries SET lease_owner = NULL, lease_until_ms = NULL \
                 WHERE lease_owner IS NOT NULL",
                [],
            )?;
        }
        // Once a transaction ran in WAL mode, so that the log exists and is recorded too.
        let files = (!read_only)
            .then(|| SqliteFiles::opened(path).map(Arc::new))
            .transpose()?;
        let checkpointer = files
            .as_ref()
            .map(|files| {
                Checkpointer::start(
                    Arc::clone(files),
                    BUSY_TIMEOUT,
                    settings.durability.sqlite_synchronous(),
                    "journal-checkpointer",
                    "journal",
                )
            })
            .transpose()
            .map_err(|error| JournalError::Database(error.to_string()))?;
        let writer = Self {
            connection,
            bounds: settings.bounds,
            dedupe_window_ms: duration_ms(settings.dedupe_window),
            durability: settings.durability,
            files,
            checkpointer,
            rescued: std::cell::Cell::new(false),
            failed_unisolated: std::cell::Cell::new(false),
            commits: Commits::Durable,
        };
        writer.count()?;
        Ok(writer)
    }

    /// Whether the database and its log are still the files opened, and writable: before
    /// every operation (even a read writes to the -shm mapping) and before every commit. Once
    /// they are found removed or replaced, what the old log holds is copied into the database
    /// file still open, so what was acknowledged survives a crash.
    pub(super) fn check_files(&self) -> Result<(), JournalError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let Err(problem) = files.check() else {
            return Ok(());
        };
        if !self.rescued.get() && files.replaced() {
            self.rescued.set(true);
            let path = files.database().display().to_string();
            match checkpoint_into_database(&self.connection) {
                Ok(true) => tracing::warn!(
                    path,
                    "the journal's files were removed or replaced; what was committed is copied \
                     into the database file still open; restart chathook"
                ),
                Ok(false) | Err(_) => tracing::error!(
                    path,
                    "the journal's files were removed or replaced and what was committed could \
                     not all be copied into the database file; restart chathook"
                ),
            }
        }
        Err(problem.into())
    }

    /// After each burst of messages, whatever it committed: wakes the checkpointer, and
    /// finishes a checkpoint it could not (files checked first: a checkpoint writes through
    /// the -shm mapping).
    fn after_burst(&self) {
        let Some(checkpointer) = &self.checkpointer else {
            return;
        };
        checkpointer.committed();
        if self
            .files
            .as_ref()
            .is_some_and(|files| files.check().is_ok())
        {
            checkpointer.restart_if_due(&self.connection);
        }
    }

    /// Sets the bounds' counts from the table.
    pub(super) fn count(&self) -> Result<(u64, u64), JournalError> {
        let (entries, bytes): (i64, i64) = self
            .connection
            .prepare_cached("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM journal_entries")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let (entries, bytes) = (entries.max(0) as u64, bytes.max(0) as u64);
        self.bounds.resynchronise(entries, bytes);
        Ok((entries, bytes))
    }

    /// Commits what `batch` holds in one transaction and answers each member: synced as
    /// `durability` says when it holds an append, else unsynced. A failure of one is undone
    /// and leaves the others be; a failed commit answers every one with its error, and
    /// counts none of the appends.
    ///
    /// The batch is first written with no savepoints: each costs a statement journal, into
    /// which SQLite copies every page a member touches first, and the copies spill to a
    /// temporary file past 64 KiB. Only if a member fails after it began writing is that
    /// transaction rolled back and the batch written again with each member in a savepoint.
    fn commit_batch(&mut self, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        self.commit_as(if batch.appends.is_empty() {
            Commits::Unsynced
        } else {
            Commits::Durable
        });
        let written = match self.write_batch(batch, Isolation::None) {
            Ok(None) => self.write_batch(batch, Isolation::Savepoints),
            other => other,
        };
        match written {
            Ok(Some(written)) => {
                if !batch.appends.is_empty() {
                    self.bounds.added(written.pending);
                }
                answer_all(&mut batch.appends, written.appended);
                answer_all(&mut batch.settles, written.settled);
                answer_all(&mut batch.claims, written.claimed);
            }
            Ok(None) => unreachable!("with savepoints, a member's failure is its own result"),
            Err(error) => batch.fail(&error),
        }
    }

    /// Writes and commits `batch` in one transaction; `None` when, without savepoints, a
    /// member failed part way (the transaction is then rolled back).
    fn write_batch(
        &self,
        batch: &Batch,
        isolation: Isolation,
    ) -> Result<Option<Written>, JournalError> {
        self.failed_unisolated.set(false);
        let mut written = Written {
            pending: Pending::default(),
            appended: Vec::with_capacity(batch.appends.len()),
            settled: Vec::with_capacity(batch.settles.len()),
            claimed: Vec::with_capacity(batch.claims.len()),
        };
        self.check_files()?;
        let transaction = Transaction::new_unchecked(&self.connection, WRITE)?;
        // Settlements first: an attempt's end frees the room a bound may need, and lets the
        // claims below take the next entry of its conversation.
        for (settlement, _) in &batch.settles {
            let settled = self.isolated(isolation, || ops::settle(&self.connection, settlement));
            written.settled.push(settled);
        }
        for ((entry, lease), _) in &batch.appends {
            let appended = self.append_one(entry, lease.as_ref(), &mut written.pending, isolation);
            written.appended.push(appended);
        }
        for (claim, _) in &batch.claims {
            let claimed = self.isolated(isolation, || ops::claim(&self.connection, claim));
            written.claimed.push(claimed);
        }
        if self.failed_unisolated.get() {
            // Dropped: rolled back.
            return Ok(None);
        }
        // Last thing before the commit: a commit into a file no longer at its path would be
        // acknowledged and then lost at the next start.
        self.check_files()?;
        transaction.commit()?;
        Ok(Some(written))
    }

    /// One entry of a batch; its writes `isolated` so that its failure leaves the others be.
    fn append_one(
        &self,
        entry: &NewEntry,
        lease: Option<&LeaseAtAppend>,
        pending: &mut Pending,
        isolation: Isolation,
    ) -> Result<(Appended, Vec<Claimed>), JournalError> {
        let callback = &entry.callback;
        if entry.handlers.is_empty() {
            return Err(JournalError::Database(
                "an entry must be owed to at least one queued handler".into(),
            ));
        }
        let received_at_ms = unix_ms(callback.received_at);
        let earlier: Option<i64> = self
            .connection
            .prepare_cached(
                "SELECT id FROM journal_entries WHERE idempotency_key = ?1 \
                 AND received_at_ms >= ?2 ORDER BY id LIMIT 1",
            )?
            .query_row(
                params![
                    callback.idempotency_key,
                    received_at_ms.saturating_sub(self.dedupe_window_ms)
                ],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = earlier {
            return Ok((Appended::Duplicate(id), Vec::new()));
        }
        let bytes = callback.body.len() as u64;
        let need = self.bounds.shortfall(pending, bytes);
        if !need.is_empty() {
            let (freed, _) = self.isolated(isolation, || {
                room::free_delivered(&self.connection, need, u64::MAX)
            })?;
            pending.freed.entries += freed.entries;
            pending.freed.bytes += freed.bytes;
        }
        self.bounds.admit(pending, bytes)?;
        match self.isolated(isolation, || self.insert(entry, lease, received_at_ms)) {
            Ok((id, leased)) => Ok((Appended::New(id), leased)),
            Err(error) => {
                pending.entries -= 1;
                pending.bytes -= bytes;
                Err(error)
            }
        }
    }

    /// Runs `work`, which writes, as `isolation` says: in a savepoint, so that its failure
    /// undoes its own writes and leaves the rest of the batch be; or bare, its failure
    /// recorded so that the batch is written again in savepoints.
    fn isolated<T>(
        &self,
        isolation: Isolation,
        work: impl FnOnce() -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        match isolation {
            Isolation::Savepoints => self.in_savepoint(work),
            Isolation::None => {
                let done = work();
                if done.is_err() {
                    self.failed_unisolated.set(true);
                }
                done
            }
        }
    }

    /// Runs `work` inside a savepoint, so that its failure undoes its own writes and leaves
    /// the rest of the batch be.
    fn in_savepoint<T>(
        &self,
        work: impl FnOnce() -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        self.connection
            .prepare_cached("SAVEPOINT journal_entry")?
            .execute([])?;
        let done = work();
        if done.is_err() {
            self.connection
                .prepare_cached("ROLLBACK TO journal_entry")?
                .execute([])?;
        }
        self.connection
            .prepare_cached("RELEASE journal_entry")?
            .execute([])?;
        done
    }

    /// Inserts the entry and one pending delivery per handler, those `lease` names leased to
    /// its owner; returns the entry's id and the leased deliveries as a claim would.
    fn insert(
        &self,
        entry: &NewEntry,
        lease: Option<&LeaseAtAppend>,
        received_at_ms: i64,
    ) -> Result<(i64, Vec<Claimed>), JournalError> {
        let callback = &entry.callback;
        let id: i64 = self
            .connection
            .prepare_cached(
                "INSERT INTO journal_entries (sdk_app_id, command, client_ip, opt_platform, \
                 request_time, received_at_ms, body, decision, conversation_key, \
                 idempotency_key, bytes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            )?
            .query_row(
                params![
                    callback.sdk_app_id as i64,
                    callback.command,
                    callback.client_ip,
                    callback.opt_platform,
                    callback.request_time,
                    received_at_ms,
                    callback.body.as_ref(),
                    callback.decision,
                    callback.conversation_key,
                    callback.idempotency_key,
                    callback.body.len() as i64,
                ],
                |row| row.get(0),
            )?;
        let mut leased = Vec::new();
        for handler in &entry.handlers {
            let lease = match lease.and_then(|lease| Some((lease, lease.ordered(handler)?))) {
                Some((lease, ordered)) if !ordered || !self.key_pending(handler, callback)? => {
                    Some(lease)
                }
                _ => None,
            };
            let Some(lease) = lease else {
                self.connection
                    .prepare_cached(
                        "INSERT INTO journal_deliveries (entry_id, handler, state, \
                         round_started_at_ms, next_at_ms, received_at_ms, command, \
                         conversation_key) VALUES (?1, ?2, 'pending', ?3, ?3, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        id,
                        handler,
                        received_at_ms,
                        callback.command,
                        callback.conversation_key
                    ])?;
                continue;
            };
            let delivery: i64 = self
                .connection
                .prepare_cached(
                    "INSERT INTO journal_deliveries (entry_id, handler, state, \
                     round_started_at_ms, next_at_ms, received_at_ms, command, \
                     conversation_key, lease_owner, lease_until_ms) \
                     VALUES (?1, ?2, 'pending', ?3, ?3, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                )?
                .query_row(
                    params![
                        id,
                        handler,
                        received_at_ms,
                        callback.command,
                        callback.conversation_key,
                        lease.owner,
                        lease.lease_until_ms
                    ],
                    |row| row.get(0),
                )?;
            // As a claim reads it back: times in whole milliseconds.
            let received_at = from_unix_ms(received_at_ms);
            leased.push(Claimed {
                id: delivery,
                entry_id: id,
                handler: (*handler).to_owned(),
                callback: StoredCallback {
                    received_at,
                    ..callback.clone()
                },
                attempt: 1,
                round_attempts: 0,
                round_started_at: received_at,
            });
        }
        Ok((id, leased))
    }

    /// Whether `handler` has a pending delivery of `callback`'s conversation already, which
    /// an ordered handler must deliver first.
    fn key_pending(&self, handler: &str, callback: &StoredCallback) -> Result<bool, JournalError> {
        let Some(key) = &callback.conversation_key else {
            return Ok(false);
        };
        Ok(self
            .connection
            .prepare_cached(
                "SELECT 1 FROM journal_deliveries WHERE handler = ?1 AND conversation_key = ?2 \
                 AND state = 'pending' LIMIT 1",
            )?
            .query_row(params![handler, key], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

impl From<FileProblem> for JournalError {
    fn from(problem: FileProblem) -> Self {
        Self::Database(format!("the journal's file {problem}"))
    }
}
