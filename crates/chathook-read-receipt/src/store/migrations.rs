//! The schema: migrations both databases share, and SQLite's own, run in one version order;
//! and the one statement both writers share, the upsert that applies the merge rule.

use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::sqlite::SqlitePool;

use super::StoreError;

/// The schema, as both databases have it.
pub(super) static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// What only SQLite needs on top; interleaved with [`MIGRATIONS`] by version.
static SQLITE_ONLY_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-sqlite");

/// SQLite's migrations: the shared ones and its own, in version order.
#[derive(Debug)]
pub(super) struct SqliteMigrations;

impl<'s> MigrationSource<'s> for SqliteMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(std::future::ready(sqlite_migrations()))
    }
}

/// The shared migrations and SQLite's own, in version order. The two directories share one
/// numbering; a version used in both is refused here rather than on a deployed database.
fn sqlite_migrations() -> Result<Vec<Migration>, BoxDynError> {
    let mut migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .chain(SQLITE_ONLY_MIGRATIONS.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|migration| migration.version);
    if let Some(pair) = migrations
        .windows(2)
        .find(|pair| pair[0].version == pair[1].version)
    {
        return Err(format!(
            "migration version {} is used twice ({:?} and {:?})",
            pair[0].version, pair[0].description, pair[1].description
        )
        .into());
    }
    Ok(migrations)
}

/// SQLite's migration, boxed: `Migrator::run`'s `Acquire` bound is too general for the
/// compiler to prove the caller's future `Send` otherwise.
pub(super) fn migrate_sqlite<'a>(
    migrator: &'a Migrator,
    pool: &'a SqlitePool,
) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
    Box::pin(async move { Ok(migrator.run(pool).await?) })
}

/// The probe's row key: no callback has a negative SdkAppid.
pub(super) const PROBE_SDK_APP_ID: i64 = -1;

/// The probe's write, on the key `$1, $2, $3`: a receipt and a reader, as a callback writes,
/// then both deleted. The same text for both databases.
pub(super) const PROBE_WRITE: [&str; 4] = [
    "INSERT INTO read_receipts (sdk_app_id, group_id, msg_seq, updated_at_ms) \
     VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
    "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
     VALUES ($1, $2, $3, '') ON CONFLICT DO NOTHING",
    "DELETE FROM read_receipt_readers WHERE sdk_app_id = $1 AND group_id = $2 AND msg_seq = $3",
    "DELETE FROM read_receipts WHERE sdk_app_id = $1 AND group_id = $2 AND msg_seq = $3",
];

/// The tables the writer and the readers use, each checked at start-up: the migrations may
/// be recorded as applied while a table they created was dropped since.
pub(super) const TABLES: [&str; 2] = ["read_receipts", "read_receipt_readers"];

/// The columns of a receipt row, in the order both writers bind them.
pub(super) const RECEIPT_COLUMNS: &str = "sdk_app_id, group_id, msg_seq, group_type, read_num, unread_num, \
    first_event_time_ms, last_event_time_ms, updated_at_ms";

/// The merge rule of [`ReceiptState::merge`] as an upsert: a NULL never replaces a value.
pub(super) const UPSERT_MERGE: &str = " ON CONFLICT (sdk_app_id, group_id, msg_seq) DO UPDATE SET \
    group_type = CASE WHEN read_receipts.group_type IS NULL \
        OR excluded.group_type > read_receipts.group_type \
        THEN excluded.group_type ELSE read_receipts.group_type END, \
    read_num = CASE WHEN read_receipts.read_num IS NULL \
        OR excluded.read_num > read_receipts.read_num \
        THEN excluded.read_num ELSE read_receipts.read_num END, \
    unread_num = CASE WHEN read_receipts.unread_num IS NULL \
        OR excluded.unread_num < read_receipts.unread_num \
        THEN excluded.unread_num ELSE read_receipts.unread_num END, \
    first_event_time_ms = CASE WHEN read_receipts.first_event_time_ms IS NULL \
        OR excluded.first_event_time_ms < read_receipts.first_event_time_ms \
        THEN excluded.first_event_time_ms ELSE read_receipts.first_event_time_ms END, \
    last_event_time_ms = CASE WHEN read_receipts.last_event_time_ms IS NULL \
        OR excluded.last_event_time_ms > read_receipts.last_event_time_ms \
        THEN excluded.last_event_time_ms ELSE read_receipts.last_event_time_ms END, \
    updated_at_ms = excluded.updated_at_ms";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_runs_the_shared_migrations_and_its_own_in_one_order() {
        let versions: Vec<i64> = sqlite_migrations()
            .expect("no version is used twice")
            .iter()
            .map(|migration| migration.version)
            .collect();
        assert_eq!(versions, [20261122000001, 20261122000002]);
    }
}
