//! The bench's databases: a fresh SQLite file or PostgreSQL schema per run, pre-filled stores
//! for the growth scenarios, the row counts the zero-loss checks compare, and clean-up.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chathook_read_receipt::store::Durability;
use sqlx::Connection as _;

use crate::APP_ID;

/// Which database a read-receipt scenario stores into.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Database {
    /// A file in the bench's temporary directory.
    Sqlite,
    /// A schema of its own on the PostgreSQL server.
    Postgres,
}

/// A new database of `kind`, as a URL: a file `name`.db in `dir`, or a fresh schema on the
/// PostgreSQL server at `postgres`.
pub(crate) async fn fresh(
    kind: Database,
    dir: &Path,
    name: &str,
    postgres: &str,
) -> anyhow::Result<String> {
    match kind {
        Database::Sqlite => Ok(format!(
            "sqlite://{}",
            dir.join(format!("{name}.db")).display()
        )),
        Database::Postgres => postgres_schema(postgres).await,
    }
}

/// Grows the new store at `url` to `messages` messages of `groups` groups (the many-groups
/// workload's), its schema made as chathook makes it.
pub(crate) async fn prefill(url: &str, messages: u64, groups: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let store =
        chathook_read_receipt::store::Store::open(&chathook_read_receipt::store::StoreOptions {
            database_url: url.to_owned(),
            max_connections: 1,
            busy_timeout: Duration::from_secs(5),
            max_batch: 1,
            write_timeout: Duration::from_secs(60),
            durability: Durability::Full,
        })
        .await?;
    drop(store);
    crate::workload::prefill(url, APP_ID as i64, messages, groups).await?;
    println!(
        "    pre-filled {messages} messages in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// How a bench database URL names its PostgreSQL schema.
const SEARCH_PATH: &str = "options=-c%20search_path%3D";

/// A fresh schema on the PostgreSQL server, as a database URL.
async fn postgres_schema(base: &str) -> anyhow::Result<String> {
    let schema = format!(
        "chathook_bench_{}_{}",
        std::process::id(),
        chathook_core::auth::unix_now()
    );
    let mut connection = sqlx::PgConnection::connect(base)
        .await
        .with_context(|| format!("PostgreSQL at {base} (set --postgres-url)"))?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut connection)
        .await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{separator}{SEARCH_PATH}{schema}"))
}

/// Messages and reader rows in the store at `url`.
pub(crate) async fn count_rows(url: &str) -> anyhow::Result<(u64, u64)> {
    const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM read_receipts), \
                          (SELECT COUNT(*) FROM read_receipt_readers)";
    let (messages, readers): (i64, i64) = if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query_as(COUNTS).fetch_one(&mut connection).await?
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::query_as(COUNTS).fetch_one(&mut connection).await?
    };
    Ok((messages as u64, readers as u64))
}

/// Removes a bench database: the SQLite file and its WAL, or the PostgreSQL schema made for it.
pub(crate) async fn drop_database(url: &str) -> anyhow::Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
        return Ok(());
    }
    if let Some((base, schema)) = url.split_once(SEARCH_PATH) {
        let mut connection = sqlx::PgConnection::connect(base.trim_end_matches(['?', '&'])).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut connection)
            .await?;
    }
    Ok(())
}
