//! chathook-read-receipt: the `read_receipt` handler plugin.
//!
//! It takes `Group.CallbackAfterReadReceipt`, merges every callback into an exact, durable
//! record of who has read which group message (SQLite by default, PostgreSQL for several
//! replicas), answers OK only once that record is committed, and serves it back under
//! `/api/v1/apps/{sdk_app_id}/groups/{group_id}/read-receipts`.
//!
//! It is the reference plugin: typed config with unknown keys refused, the callback read with
//! chathook-protocol's model plus only the store's own limits, a `ready` check of its
//! dependency, and its own read API.

mod api;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chathook_core::{
    Answer, BoxError, Callback, Handler, HandlerError, async_trait, register_handler,
};
use chathook_protocol::request::GroupCallbackAfterReadReceipt;
use serde::{Deserialize, Serialize};

use crate::model::Receipts;
use crate::store::{Durability, Store, StoreError, StoreOptions};

/// `[handlers.read_receipt]`. `Serialize` so that `check-config` shows every setting with its
/// default; `JsonSchema` so that the config reference lists them.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadReceiptConfig {
    /// `sqlite://PATH` (created on first run) or `postgres://USER@HOST/DATABASE`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Connections in the pool.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection or a lock, in milliseconds, before the callback fails.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// Most callbacks committed together in one transaction.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Longest one write may take, in milliseconds. PostgreSQL: the connection is dropped
    /// after it and the server ends the statement or abandoned transaction after it. Both: a
    /// writer inside one write for longer is reported not ready.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// Delete messages not updated for this many days; absent or 0 keeps everything.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// What an acknowledged callback survives: `full` (the default) a power loss, `normal` a
    /// crash of chathook but not of the machine (SQLite) or of the database server
    /// (PostgreSQL).
    #[serde(default)]
    pub durability: Durability,
}

fn default_database_url() -> String {
    "sqlite://data/read_receipts.db".into()
}

fn default_max_connections() -> u32 {
    8
}

fn default_busy_timeout_ms() -> u64 {
    1000
}

fn default_max_batch() -> usize {
    256
}

fn default_write_timeout_ms() -> u64 {
    2000
}

/// The handler: parses, then waits for the group commit.
#[derive(Debug)]
pub struct ReadReceiptHandler {
    store: Store,
    /// Callbacks that carried no receipt, answered OK with nothing stored.
    empty_callbacks: AtomicU64,
}

impl ReadReceiptHandler {
    /// The store, for tests and tools.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Callbacks answered OK with nothing to store (no `GroupMsgReceiptList` entries).
    pub fn empty_callbacks(&self) -> u64 {
        self.empty_callbacks.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Handler for ReadReceiptHandler {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let sdk_app_id = i64::try_from(callback.sdk_app_id())
            .map_err(|_| HandlerError::invalid_body("SdkAppid is too large to store"))?;
        // The typed model reads what Tencent sends; the store's limits (ids over 128 bytes,
        // NUL bytes, numbers beyond BIGINT) are checked before the group commit, so such a
        // callback fails alone instead of failing the batch it would join.
        let typed: GroupCallbackAfterReadReceipt = callback.parse()?;
        let receipts = Receipts::try_from(typed)
            .map_err(|unstorable| HandlerError::invalid_body(unstorable.to_string()))?;
        if receipts.is_empty() {
            let so_far = self.empty_callbacks.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                group_id = %receipts.group_id,
                empty_callbacks = so_far,
                "read receipt callback without GroupMsgReceiptList entries: nothing to store"
            );
            return Ok(Answer::default());
        }
        match self.store.record(receipts.into_states(sdk_app_id)).await {
            Ok(()) => Ok(Answer::default()),
            // The database refused this callback's data: sending it again cannot help.
            Err(error @ StoreError::InvalidData(_)) => {
                Err(HandlerError::invalid_body(error.to_string()))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn ready(&self) -> Result<(), BoxError> {
        Ok(self.store.check().await?)
    }

    fn api_routes(&self) -> Option<axum::Router> {
        Some(api::routes(self.store.clone()))
    }
}

/// Largest `max_batch`: the writer's queue and batch buffers are sized from it.
const MAX_BATCH_LIMIT: usize = 10_000;
/// `write_timeout_ms` bounds: below 10 ms a healthy commit could miss it; above a minute a
/// stuck write would hold every callback long after Chat gave up on them.
const WRITE_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 10..=60_000;
/// Largest `max_connections`: beyond it a pool only takes connection slots from the database.
const MAX_CONNECTIONS_LIMIT: u32 = 1_000;

impl ReadReceiptConfig {
    /// What the types cannot say: ranges and the database scheme. Run by `check-config`,
    /// start-up and `build` alike.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            return Err(format!(
                "max_connections is {} but must be between 1 and {MAX_CONNECTIONS_LIMIT}",
                self.max_connections
            ));
        }
        if !(1..=MAX_BATCH_LIMIT).contains(&self.max_batch) {
            return Err(format!(
                "max_batch is {} but must be between 1 and {MAX_BATCH_LIMIT}",
                self.max_batch
            ));
        }
        if !WRITE_TIMEOUT_MS_RANGE.contains(&self.write_timeout_ms) {
            return Err(format!(
                "write_timeout_ms is {} but must be between {} and {}",
                self.write_timeout_ms,
                WRITE_TIMEOUT_MS_RANGE.start(),
                WRITE_TIMEOUT_MS_RANGE.end()
            ));
        }
        store::check_database_url(&self.database_url).map_err(|error| error.to_string())
    }
}

/// Builds the handler: opens and migrates the store, and starts the retention purge.
pub async fn build(config: ReadReceiptConfig) -> Result<ReadReceiptHandler, BoxError> {
    let store = Store::open(&StoreOptions {
        database_url: config.database_url.clone(),
        max_connections: config.max_connections,
        busy_timeout: Duration::from_millis(config.busy_timeout_ms),
        max_batch: config.max_batch,
        write_timeout: Duration::from_millis(config.write_timeout_ms),
        durability: config.durability,
    })
    .await?;
    if let Some(days) = config.retention_days.filter(|days| *days > 0) {
        tokio::spawn(purge_periodically(store.clone(), days));
    }
    Ok(ReadReceiptHandler {
        store,
        empty_callbacks: AtomicU64::new(0),
    })
}

async fn purge_periodically(store: Store, days: u32) {
    let keep = Duration::from_secs(u64::from(days) * 24 * 3600);
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        match store.purge(keep).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, retention_days = days, "old read receipts purged"),
            Err(error) => tracing::warn!(%error, "read receipt purge failed; will retry"),
        }
    }
}

register_handler! {
    name: "read_receipt",
    commands: [chathook_core::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT],
    config: ReadReceiptConfig,
    validate: ReadReceiptConfig::validate,
    build: build,
}
