//! The journal: where a callback that queued handlers owe is committed before Chat hears OK,
//! and where those handlers' deliveries are claimed, settled, kept as dead letters and
//! replayed.
//!
//! One [`Journal`] over SQLite (a file, one replica: a writer thread of its own, group commit)
//! or PostgreSQL (several replicas share it; claims take `FOR UPDATE SKIP LOCKED`). It stores
//! and answers; it decides nothing: what an attempt's failure means (retry when, or dead) is
//! the delivery workers' policy (`crate::delivery`), handed in as an [`AttemptOutcome`].
//!
//! The unit operators see is a *delivery*: one entry (one callback) owed to one handler,
//! with its attempts. An entry stays while any of its deliveries is pending or dead, and for
//! [`JournalOptions::retention`] after its last one was delivered, so it can be replayed.

mod bounds;
mod error;
mod paging;
mod postgres;
mod rows;
mod sqlite;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use error::JournalError;

/// How long [`Journal::probe`]'s write may take before the journal counts as unwritable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Who holds a lease: one per running process, so a replica's leases can be told apart and
/// taken over once they expire.
pub type LeaseOwner = Arc<str>;

/// A delivery's id, as operators name it (`chathook deliveries show 42`).
pub type DeliveryId = i64;

/// How a journal is opened: `[journal]` as core reads it.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// `sqlite://path` (created if missing, its folder too) or `postgres://...`.
    pub database_url: String,
    /// What a commit survives.
    pub durability: Durability,
    /// How long an entry whose deliveries are all delivered is kept (for replay): at most,
    /// sooner when the bounds need the room (oldest first, see [`Journal::purge`] and
    /// [`Journal::append`]).
    pub retention: Duration,
    /// Most entries held at once. An append that would pass it first deletes the oldest
    /// entries whose deliveries are all delivered; only when what is left is pending or dead
    /// does it fail with [`JournalError::Full`].
    pub max_entries: u64,
    /// Most body bytes held at once; as `max_entries`.
    pub max_bytes: u64,
    /// A callback whose idempotency key an entry received this recently already has is not
    /// journaled again ([`Appended::Duplicate`]).
    pub dedupe_window: Duration,
    /// Most callbacks committed in one transaction.
    pub max_batch: usize,
    /// This process delivers from the journal (it is the server, not `chathook deliveries`):
    /// a SQLite journal, which has one server only, then takes over every lease a previous
    /// process left. An operator's tool must not, or it would free the running server's.
    pub serving: bool,
}

/// What an acknowledged callback survives: `[journal] durability`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A power loss: SQLite syncs its log at every commit (`synchronous = FULL`); PostgreSQL
    /// keeps its own settings.
    #[default]
    Full,
    /// A crash of chathook, not of the machine: SQLite syncs at checkpoints only
    /// (`synchronous = NORMAL`); PostgreSQL sessions use `synchronous_commit = off`.
    Normal,
}

/// One callback as the journal keeps it, with the queued handlers that owe it.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// The callback's facts.
    pub callback: StoredCallback,
    /// The queued handlers it is owed to; at least one.
    pub handlers: Vec<&'static str>,
}

/// The facts of a callback a delivery rebuilds it from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCallback {
    /// `SdkAppid`.
    pub sdk_app_id: u64,
    /// `CallbackCommand`.
    pub command: String,
    /// `ClientIP`.
    pub client_ip: Option<String>,
    /// `OptPlatform`.
    pub opt_platform: Option<String>,
    /// `RequestTime`, as Chat wrote it.
    pub request_time: Option<String>,
    /// When chathook first received it.
    pub received_at: SystemTime,
    /// The JSON body.
    pub body: Bytes,
    /// For a before-callback: the decision Chat got, as JSON (`crate::delivery` writes and
    /// reads it).
    pub decision: Option<String>,
    /// The GroupId, or the C2C pair: ordered delivery keeps one key's entries in order.
    pub conversation_key: Option<String>,
    /// The same for every attempt and for a redelivery of the same body.
    pub idempotency_key: String,
}

/// The deliveries [`Journal::append_leasing`] leases to the appending process in the append's
/// own commit, so that it hands them to its workers in memory instead of claiming them.
#[derive(Clone, Debug)]
pub struct AppendLease {
    /// Who holds the leases.
    pub owner: LeaseOwner,
    /// How long from now.
    pub lease: Duration,
    /// The handlers of the entry whose deliveries to lease, each with whether it is
    /// ordered: an ordered handler's delivery is leased only when its conversation key has no
    /// earlier pending delivery, which must go first.
    pub handlers: Vec<(&'static str, bool)>,
}

/// What [`Journal::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Committed as a new entry.
    New(i64),
    /// An entry with its idempotency key arrived within the dedupe window: nothing was
    /// written; that entry's id.
    Duplicate(i64),
}

/// A delivery claimed by [`Journal::claim`], leased to the claimer.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The delivery.
    pub id: DeliveryId,
    /// The entry's id.
    pub entry_id: i64,
    /// The handler it is owed to.
    pub handler: String,
    /// The callback.
    pub callback: StoredCallback,
    /// This attempt's number over the delivery's whole life: 1 for the first.
    pub attempt: u32,
    /// Attempts made since it was last (re)scheduled by arrival, `retry` or `replay`, this
    /// one not included: what `max_attempts` counts.
    pub round_attempts: u32,
    /// When the current round began (arrival, `retry` or `replay`): what `max_age` counts from.
    pub round_started_at: SystemTime,
}

/// One attempt as it ended, for [`Journal::settle`].
#[derive(Clone, Debug)]
pub struct Attempt {
    /// When the handler was called.
    pub started_at: SystemTime,
    /// When it returned (or was cut off).
    pub ended_at: SystemTime,
    /// What happens next.
    pub outcome: AttemptOutcome,
}

/// What an attempt's end means for its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// It succeeded: the delivery is delivered.
    Delivered,
    /// It failed and is tried again at `at`.
    Retry {
        /// The error, as logged (already free of credentials).
        error: String,
        /// When it becomes claimable again.
        at: SystemTime,
    },
    /// It failed for good (a permanent error, `max_attempts` or `max_age`): a dead letter.
    Dead {
        /// The error, as logged.
        error: String,
        /// Why it will not be retried: `permanent`, `max_attempts`, `max_age`.
        reason: &'static str,
    },
}

/// What [`Journal::settle`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Recorded.
    Recorded,
    /// The lease had expired and another claimer holds the delivery now: the attempt is kept
    /// in its history, its state is the other claimer's to settle.
    LeaseLost,
}

/// A delivery's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for an attempt (or in one).
    Pending,
    /// Delivered.
    Delivered,
    /// A dead letter: waiting for an operator's `retry` or `discard`.
    Dead,
}

impl DeliveryState {
    /// Its name, as the API and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }
}

/// A command filter: `crate::pattern`'s match of the operator's pattern.
pub type CommandFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Whether a `handler` filter (of [`ListFilter`], [`RetryTarget::AllDead`]) takes the
/// deliveries of `name`: its own, and for a handler that fans out, every destination's
/// (`http_forward` takes `http_forward.crm`), as the backends' queries select them.
pub fn handler_selects(handler: &str, name: &str) -> bool {
    name.strip_prefix(handler)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Which deliveries [`Journal::list`] returns, newest first.
#[derive(Clone, Default)]
pub struct ListFilter {
    /// Only this handler's, or its destinations' ([`handler_selects`]).
    pub handler: Option<String>,
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Only entries whose command passes.
    pub command: Option<CommandFilter>,
    /// Only entries received at or after.
    pub since: Option<SystemTime>,
    /// Only entries received before.
    pub until: Option<SystemTime>,
    /// Only deliveries with ids below this (paging: the last id of the previous page).
    pub before_id: Option<DeliveryId>,
    /// At most this many.
    pub limit: usize,
}

/// A settlement handed to the journal ([`Journal::hand_over`]), recorded or on its way to be.
pub struct Settling(SettlingState);

enum SettlingState {
    /// On SQLite: in the writer's queue, ahead of any claim asked for after it.
    Queued(tokio::sync::oneshot::Receiver<Result<Settled, JournalError>>),
    /// On PostgreSQL: recorded already.
    Done(Result<Settled, JournalError>),
}

impl Settling {
    /// What recording it came to.
    pub async fn recorded(self) -> Result<Settled, JournalError> {
        match self.0 {
            SettlingState::Queued(answer) => answer.await.map_err(|_| JournalError::Closed)?,
            SettlingState::Done(settled) => settled,
        }
    }
}

/// One delivery in a list.
#[derive(Clone, Debug, Serialize)]
pub struct DeliverySummary {
    /// The delivery.
    pub id: DeliveryId,
    /// Its entry.
    pub entry_id: i64,
    /// The handler it is owed to.
    pub handler: String,
    /// `CallbackCommand`.
    pub command: String,
    /// `SdkAppid`.
    pub sdk_app_id: u64,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made over its whole life.
    pub attempts: u32,
    /// When the callback arrived, Unix milliseconds.
    pub received_at_ms: i64,
    /// When it is next claimable, Unix milliseconds (pending only).
    pub next_attempt_at_ms: Option<i64>,
    /// When it was delivered, Unix milliseconds.
    pub delivered_at_ms: Option<i64>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Why it is dead (`permanent`, `max_attempts`, `max_age`).
    pub dead_reason: Option<String>,
    /// The idempotency key the handler sees.
    pub idempotency_key: String,
    /// The ordering key, if any.
    pub conversation_key: Option<String>,
}

/// One attempt as kept.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptRecord {
    /// Its number over the delivery's life, from 1.
    pub attempt: u32,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Unix milliseconds.
    pub ended_at_ms: i64,
    /// `delivered`, `retry`, `dead`.
    pub result: String,
    /// The error, for a failed attempt.
    pub error: Option<String>,
}

/// One delivery with its attempts and its callback, for `show`.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// `ClientIP`.
    pub client_ip: Option<String>,
    /// `OptPlatform`.
    pub opt_platform: Option<String>,
    /// The body, as text (it is JSON).
    pub body: String,
    /// The stored decision of a before-callback, as JSON text.
    pub decision: Option<String>,
}

/// Which dead letters [`Journal::retry`] makes pending again.
#[derive(Clone, Debug)]
pub enum RetryTarget {
    /// This one (dead or pending: a pending one is made claimable now).
    One(DeliveryId),
    /// Every dead delivery of this handler.
    AllDead {
        /// The handler, or a handler whose destinations' ([`handler_selects`]).
        handler: String,
    },
}

/// What [`Journal::replay`] re-delivers.
#[derive(Clone)]
pub struct ReplayRequest {
    /// The handler to deliver to (it need not have had them before).
    pub handler: String,
    /// Entries received at or after.
    pub since: SystemTime,
    /// Entries received before.
    pub until: SystemTime,
    /// Only entries whose command passes.
    pub command: Option<CommandFilter>,
}

/// The journal's state, for metrics and `/readyz`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStats {
    /// Entries held.
    pub entries: u64,
    /// Their body bytes.
    pub bytes: u64,
    /// Per handler, by name.
    pub handlers: Vec<HandlerStats>,
    /// Transactions that committed appends since this process opened the journal: with
    /// group commit, fewer than the appends.
    pub append_transactions: u64,
}

/// One handler's deliveries.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HandlerStats {
    /// The handler.
    pub handler: String,
    /// Pending deliveries.
    pub pending: u64,
    /// When the oldest pending delivery's callback arrived, Unix milliseconds.
    pub oldest_pending_ms: Option<i64>,
    /// Dead letters.
    pub dead: u64,
}

/// The journal.
pub struct Journal {
    backend: Backend,
    /// [`JournalOptions::retention`], which `purge` counts from.
    retention: Duration,
}

enum Backend {
    Sqlite(sqlite::SqliteJournal),
    Postgres(postgres::PostgresJournal),
}

/// Runs the same call on whichever backend the journal has: both have the same operations.
macro_rules! on_backend {
    ($journal:expr, $backend:ident => $call:expr) => {
        match &$journal.backend {
            $crate::journal::Backend::Sqlite($backend) => $call,
            $crate::journal::Backend::Postgres($backend) => $call,
        }
    };
}
use on_backend;

impl Journal {
    /// Opens (creating and migrating) the journal `options` names.
    pub async fn open(options: JournalOptions) -> Result<Self, JournalError> {
        let url = options.database_url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::SqliteJournal::open(&options).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::PostgresJournal::open(&options).await?)
        } else {
            return Err(JournalError::UnsupportedUrl(crate::redact::url(url)));
        };
        Ok(Self {
            backend,
            retention: options.retention,
        })
    }

    /// The database, its password redacted, for logs and `/readyz`.
    pub fn describe(&self) -> String {
        on_backend!(self, journal => journal.describe())
    }

    /// Commits `entry`, grouped with others arriving meanwhile into one transaction. Returns
    /// once it is durable (as `durability` says). If it would pass a bound, the oldest
    /// entries whose deliveries were all delivered are deleted first to make room.
    pub async fn append(&self, entry: NewEntry) -> Result<Appended, JournalError> {
        on_backend!(self, journal => journal.append(entry).await)
    }

    /// [`Journal::append`], with the new deliveries `lease` names leased to its owner in the
    /// same commit and returned as claimed (attempt 1, round 1): a claim would return them
    /// only once the lease expires, as any other. On PostgreSQL, whose claims run beside the
    /// appends and where another replica may be the one with room, none are leased.
    pub async fn append_leasing(
        &self,
        entry: NewEntry,
        lease: AppendLease,
    ) -> Result<(Appended, Vec<Claimed>), JournalError> {
        match &self.backend {
            Backend::Sqlite(journal) => journal.append_leasing(entry, Some(lease)).await,
            Backend::Postgres(journal) => Ok((journal.append(entry).await?, Vec::new())),
        }
    }

    /// Whether [`Journal::append_leasing`] leases anything on this backend.
    pub fn leases_at_append(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Leases up to `limit` due deliveries of `handler` to `owner` until `lease` from now,
    /// longest due first (a backlog of retries does not starve new arrivals). With `ordered`, only the oldest pending delivery of each conversation
    /// key is due (a key's later entries wait for it to be delivered or dead).
    pub async fn claim(
        &self,
        handler: &str,
        ordered: bool,
        limit: usize,
        lease: Duration,
        owner: &LeaseOwner,
    ) -> Result<Vec<Claimed>, JournalError> {
        let claim = rows::ClaimRequest::new(handler, ordered, limit, lease, owner);
        on_backend!(self, journal => journal.claim(claim).await)
    }

    /// When `handler`'s next pending delivery becomes due, if it has one not leased.
    pub async fn next_due(&self, handler: &str) -> Result<Option<SystemTime>, JournalError> {
        let due_ms = on_backend!(self, journal => journal.next_due(handler.to_owned()).await)?;
        Ok(due_ms.map(rows::from_unix_ms))
    }

    /// Records an attempt of a delivery `owner` claimed, and its outcome.
    pub async fn settle(
        &self,
        id: DeliveryId,
        owner: &LeaseOwner,
        attempt: Attempt,
    ) -> Result<Settled, JournalError> {
        self.hand_over(id, owner, attempt).await.recorded().await
    }

    /// [`Journal::settle`] in two steps: this returns once a claim asked for afterwards sees
    /// the settlement (a key's next entry is claimable once its head's attempt is settled),
    /// and [`Settling::recorded`] once it is recorded. On SQLite that is as soon as it is in
    /// the writer's queue, so a worker's slot is free for the next delivery without waiting
    /// for the commit; on PostgreSQL, whose claims run beside settlements, once recorded.
    pub async fn hand_over(
        &self,
        id: DeliveryId,
        owner: &LeaseOwner,
        attempt: Attempt,
    ) -> Settling {
        let settle = rows::Settlement::new(id, owner, &attempt);
        Settling(match &self.backend {
            Backend::Sqlite(journal) => match journal.queue_settle(settle).await {
                Ok(answer) => SettlingState::Queued(answer),
                Err(error) => SettlingState::Done(Err(error)),
            },
            Backend::Postgres(journal) => SettlingState::Done(journal.settle(settle).await),
        })
    }

    /// How many deliveries per free slot a worker should claim at once. A SQLite claim goes
    /// through the one writer thread and waits for a group commit, so each should take enough
    /// to keep the slots busy until the next one; PostgreSQL claims run beside the writer,
    /// and longer leases (which claiming ahead needs) would delay another replica's takeover
    /// of a dead one's.
    pub fn claim_ahead(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(_) => sqlite::CLAIM_AHEAD,
            Backend::Postgres(_) => 1,
        }
    }

    /// Gives back `owner`'s leases (at shutdown), so the next start claims them at once.
    pub async fn release(&self, owner: &LeaseOwner) -> Result<u64, JournalError> {
        on_backend!(self, journal => journal.release(owner.to_string()).await)
    }

    /// Counts, for metrics and `/readyz`; also resynchronises the bound checks' counts.
    pub async fn stats(&self) -> Result<JournalStats, JournalError> {
        on_backend!(self, journal => journal.stats().await)
    }

    /// A real write (and its rollback or delete): whether the journal can take callbacks.
    pub async fn probe(&self) -> Result<(), JournalError> {
        let probed = tokio::time::timeout(PROBE_TIMEOUT, async {
            on_backend!(self, journal => journal.probe().await)
        });
        probed.await.unwrap_or_else(|_| {
            Err(JournalError::Database(format!(
                "a test write did not finish within {} s",
                PROBE_TIMEOUT.as_secs()
            )))
        })
    }

    /// Deletes entries whose deliveries were all delivered longer than `retention` ago,
    /// entries left with no delivery at all (all discarded), and, while the journal is above
    /// 90% of `max_entries` or `max_bytes`, the oldest entries whose deliveries were all
    /// delivered, whatever their age. Returns how many.
    pub async fn purge(&self) -> Result<u64, JournalError> {
        paging::purge(self).await
    }

    /// Deliveries passing `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<DeliverySummary>, JournalError> {
        paging::list(self, filter).await
    }

    /// One delivery with its attempts, if it exists.
    pub async fn show(&self, id: DeliveryId) -> Result<Option<DeliveryDetail>, JournalError> {
        on_backend!(self, journal => journal.show(id).await)
    }

    /// Makes dead deliveries pending again, due now, as a new round. Returns how many.
    pub async fn retry(&self, target: RetryTarget) -> Result<u64, JournalError> {
        on_backend!(self, journal => journal.retry(target, rows::now_ms()).await)
    }

    /// Removes a delivery (and its attempts). `false` if there was none.
    pub async fn discard(&self, id: DeliveryId) -> Result<bool, JournalError> {
        on_backend!(self, journal => journal.discard(id).await)
    }

    /// Schedules every entry of the request's range and command filter for delivery to its
    /// handler, due now, as a new round: a delivered or dead delivery becomes pending again,
    /// an entry the handler never had gets a delivery; one already pending is left alone.
    /// Returns how many were scheduled.
    pub async fn replay(&self, request: ReplayRequest) -> Result<u64, JournalError> {
        paging::replay(self, request).await
    }
}
