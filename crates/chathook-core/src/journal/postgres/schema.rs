//! The PostgreSQL schema, forward only, versioned in `journal_schema` (sqlx's
//! `_sqlx_migrations` in the same database belongs to another plugin). Replicas starting
//! together migrate one at a time under an advisory lock.

use sqlx::PgPool;

use crate::journal::sqlite::{TABLES, missing_table};

/// The advisory lock migrations hold: "journal" in ASCII.
const MIGRATION_LOCK: i64 = 0x006a_6f75_726e_616c;

/// Each version's statements, in order: version N is the first N applied.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE journal_entries (
    id BIGSERIAL PRIMARY KEY,
    sdk_app_id BIGINT NOT NULL,
    command TEXT NOT NULL,
    client_ip TEXT,
    opt_platform TEXT,
    request_time TEXT,
    received_at_ms BIGINT NOT NULL,
    body BYTEA NOT NULL,
    decision TEXT,
    conversation_key TEXT,
    idempotency_key TEXT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX journal_entries_dedupe ON journal_entries (idempotency_key, received_at_ms);
CREATE INDEX journal_entries_received ON journal_entries (received_at_ms);
CREATE TABLE journal_deliveries (
    id BIGSERIAL PRIMARY KEY,
    entry_id BIGINT NOT NULL REFERENCES journal_entries (id) ON DELETE CASCADE,
    handler TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts_total BIGINT NOT NULL DEFAULT 0,
    round_attempts BIGINT NOT NULL DEFAULT 0,
    round_started_at_ms BIGINT NOT NULL,
    next_at_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    delivered_at_ms BIGINT,
    last_error TEXT,
    dead_reason TEXT,
    received_at_ms BIGINT NOT NULL,
    command TEXT NOT NULL,
    conversation_key TEXT,
    UNIQUE (entry_id, handler)
);
CREATE INDEX journal_deliveries_due ON journal_deliveries (handler, next_at_ms)
    WHERE state = 'pending';
CREATE INDEX journal_deliveries_heads ON journal_deliveries (handler, conversation_key, id)
    WHERE state = 'pending';
CREATE INDEX journal_deliveries_listing ON journal_deliveries (handler, state, id);
CREATE INDEX journal_deliveries_leases ON journal_deliveries (lease_owner)
    WHERE lease_owner IS NOT NULL;
CREATE TABLE journal_attempts (
    delivery_id BIGINT NOT NULL REFERENCES journal_deliveries (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT NOT NULL,
    result TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE TABLE journal_probe (id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL);
",
    r"
-- The entries an append or a purge may free early, oldest first, without walking the
-- pending and dead ones.
CREATE INDEX journal_deliveries_delivered ON journal_deliveries (entry_id)
    WHERE state = 'delivered';
-- What stats() counts per handler, read from the index alone and never from the delivered
-- deliveries kept for replay.
CREATE INDEX journal_deliveries_open ON journal_deliveries (handler, state, received_at_ms)
    WHERE state IN ('pending', 'dead');
",
];

/// Brings the schema to the newest version in one transaction, and checks that its tables
/// are there; why not, in an operator's words.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), String> {
    migrate_and_check(pool)
        .await
        .map_err(|problem| match problem {
            Problem::Database(error) => error.to_string(),
            Problem::Refused(reason) => reason,
        })
}

/// What stops a migration: the database, or what it holds.
enum Problem {
    Database(sqlx::Error),
    Refused(String),
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

async fn migrate_and_check(pool: &PgPool) -> Result<(), Problem> {
    let newest = MIGRATIONS.len() as i64;
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *transaction)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS journal_schema (version BIGINT NOT NULL)")
        .execute(&mut *transaction)
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT version FROM journal_schema")
        .fetch_optional(&mut *transaction)
        .await?;
    let current = match current {
        Some(version) => version,
        None => {
            sqlx::query("INSERT INTO journal_schema (version) VALUES (0)")
                .execute(&mut *transaction)
                .await?;
            0
        }
    };
    if current > newest {
        return Err(Problem::Refused(format!(
            "its schema is version {current}, written by a newer chathook than this one (which \
             knows up to {newest}): run that version, or point journal.database_url elsewhere"
        )));
    }
    for migration in &MIGRATIONS[current as usize..] {
        sqlx::raw_sql(migration).execute(&mut *transaction).await?;
    }
    // A table dropped since its version was recorded is not created again, and every
    // callback owed to a queued handler would fail: the start does instead.
    for table in TABLES {
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::TEXT")
            .bind(table)
            .fetch_one(&mut *transaction)
            .await?;
        if found.is_none() {
            return Err(Problem::Refused(missing_table(table, newest)));
        }
    }
    sqlx::query("UPDATE journal_schema SET version = $1")
        .bind(newest)
        .execute(&mut *transaction)
        .await?;
    Ok(transaction.commit().await?)
}
