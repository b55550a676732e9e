//! PostgreSQL backend: several replicas share one journal. Appends go to a writer task that
//! commits whatever arrived together as one multi-row transaction; claims lease rows with
//! `FOR UPDATE SKIP LOCKED`, so two replicas never hold the same delivery.

mod admin;
mod ops;
mod room;
mod schema;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::bounds::Bounds;
use super::rows::{ClaimRequest, ListPage, PurgedBatch, ReplayCandidate, Settlement};
use super::{
    Appended, Claimed, DeliveryDetail, DeliveryId, DeliverySummary, Durability, JournalError,
    JournalOptions, JournalStats, NewEntry, RetryTarget, Settled,
};
use writer::AppendQueue;

/// Connections each replica keeps: the writer's, claims of a few handlers, an operator.
const MAX_CONNECTIONS: u32 = 8;

/// How long getting a connection may take before the operation fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// PostgreSQL ends a statement, or a transaction left idle, after this long, so a replica
/// that vanished mid-transaction does not hold its row locks for the time TCP takes to give
/// up.
const SERVER_TIMEOUT_MS: u64 = 30_000;

/// The PostgreSQL journal.
pub(super) struct PostgresJournal {
    pool: PgPool,
    appends: AppendQueue,
    bounds: Arc<Bounds>,
    errors: ErrorText,
    description: String,
}

/// Turns sqlx's errors into [`JournalError`]s that never show the URL's password.
#[derive(Clone, Debug)]
pub(super) struct ErrorText {
    url: Arc<str>,
}

impl ErrorText {
    /// `error` in an operator's words, with the password redacted wherever it appears.
    pub(super) fn database(&self, error: sqlx::Error) -> JournalError {
        let code = match &error {
            sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
            _ => None,
        };
        let text = error.to_string();
        let text = match code.as_deref() {
            Some("53100") => format!(
                "the journal's disk is full (PostgreSQL: {text}): free space on the server; \
                 callbacks owed to queued handlers are refused until then"
            ),
            Some("25006") => format!(
                "the journal's database is read-only (PostgreSQL: {text}): is this a standby?"
            ),
            _ => format!("PostgreSQL: {text}"),
        };
        JournalError::Database(self.redact(&text))
    }

    fn redact(&self, text: &str) -> String {
        crate::redact::password_of(&self.url, &crate::redact::credentials_in(text))
    }

    /// A failure to open, naming the URL (redacted).
    fn open_failed(&self, reason: &str) -> JournalError {
        JournalError::Open {
            url: crate::redact::url(&self.url),
            reason: self.redact(reason),
        }
    }
}

impl PostgresJournal {
    /// Connects, migrates, counts and starts the writer task.
    pub(super) async fn open(options: &JournalOptions) -> Result<Self, JournalError> {
        let errors = ErrorText {
            url: Arc::from(options.database_url.as_str()),
        };
        let mut connect = PgConnectOptions::from_str(&options.database_url)
            .map_err(|error| errors.open_failed(&error.to_string()))?
            .options([
                ("statement_timeout", SERVER_TIMEOUT_MS),
                ("idle_in_transaction_session_timeout", SERVER_TIMEOUT_MS),
            ]);
        if options.durability == Durability::Normal {
            connect = connect.options([("synchronous_commit", "off")]);
        }
        let description = format!(
            "postgres {}@{}:{}/{} ({})",
            connect.get_username(),
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or(connect.get_username()),
            super::sqlite::durability_name(options.durability)
        );
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect)
            .await
            .map_err(|error| errors.open_failed(&error.to_string()))?;
        schema::migrate(&pool)
            .await
            .map_err(|reason| errors.open_failed(&reason))?;
        let bounds = Arc::new(Bounds::new(options.max_entries, options.max_bytes));
        ops::count(&pool, &bounds)
            .await
            .map_err(|error| errors.open_failed(&error.to_string()))?;
        let appends = writer::start(writer::Settings {
            pool: pool.clone(),
            bounds: Arc::clone(&bounds),
            errors: errors.clone(),
            dedupe_window: options.dedupe_window,
            max_batch: options.max_batch.max(1),
        });
        Ok(Self {
            pool,
            appends,
            bounds,
            errors,
            description,
        })
    }

    pub(super) fn describe(&self) -> String {
        self.description.clone()
    }

    /// `result`'s error in an operator's words.
    fn check<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, JournalError> {
        result.map_err(|error| self.errors.database(error))
    }

    pub(super) async fn append(&self, entry: NewEntry) -> Result<Appended, JournalError> {
        let (answer, answered) = oneshot::channel();
        self.appends
            .send((entry, answer))
            .await
            .map_err(|_: mpsc::error::SendError<_>| JournalError::Closed)?;
        answered.await.map_err(|_| JournalError::Closed)?
    }

    pub(super) async fn claim(&self, claim: ClaimRequest) -> Result<Vec<Claimed>, JournalError> {
        self.check(ops::claim(&self.pool, &claim).await)
    }

    pub(super) async fn next_due(&self, handler: String) -> Result<Option<i64>, JournalError> {
        self.check(ops::next_due(&self.pool, &handler).await)
    }

    pub(super) async fn settle(&self, settlement: Settlement) -> Result<Settled, JournalError> {
        self.check(ops::settle(&self.pool, &settlement).await)
    }

    pub(super) async fn release(&self, owner: String) -> Result<u64, JournalError> {
        self.check(ops::release(&self.pool, &owner).await)
    }

    pub(super) async fn stats(&self) -> Result<JournalStats, JournalError> {
        let mut stats = self.check(ops::stats(&self.pool, &self.bounds).await)?;
        stats.append_transactions = self.bounds.append_transactions();
        Ok(stats)
    }

    pub(super) async fn probe(&self) -> Result<(), JournalError> {
        self.check(ops::probe(&self.pool).await)
    }

    pub(super) async fn purge_batch(
        &self,
        cutoff_ms: i64,
        after_id: i64,
    ) -> Result<PurgedBatch, JournalError> {
        self.check(admin::purge_batch(&self.pool, &self.bounds, cutoff_ms, after_id).await)
    }

    pub(super) async fn purge_for_room(&self) -> Result<PurgedBatch, JournalError> {
        self.check(room::purge_for_room(&self.pool, &self.bounds).await)
    }

    pub(super) async fn list_page(
        &self,
        page: ListPage,
    ) -> Result<Vec<DeliverySummary>, JournalError> {
        self.check(admin::list_page(&self.pool, &page).await)
    }

    pub(super) async fn show(
        &self,
        id: DeliveryId,
    ) -> Result<Option<DeliveryDetail>, JournalError> {
        self.check(admin::show(&self.pool, id).await)
    }

    pub(super) async fn retry(
        &self,
        target: RetryTarget,
        now_ms: i64,
    ) -> Result<u64, JournalError> {
        self.check(admin::retry(&self.pool, &target, now_ms).await)
    }

    pub(super) async fn discard(&self, id: DeliveryId) -> Result<bool, JournalError> {
        self.check(admin::discard(&self.pool, &self.bounds, id).await)
    }

    pub(super) async fn replay_candidates(
        &self,
        since_ms: i64,
        until_ms: i64,
        after_id: i64,
    ) -> Result<Vec<ReplayCandidate>, JournalError> {
        self.check(admin::replay_candidates(&self.pool, since_ms, until_ms, after_id).await)
    }

    pub(super) async fn schedule(
        &self,
        handler: String,
        entry_ids: Vec<i64>,
        now_ms: i64,
    ) -> Result<u64, JournalError> {
        self.check(admin::schedule(&self.pool, &handler, &entry_ids, now_ms).await)
    }
}
