//! The SQLite schema, forward only. Its version is kept in `journal_schema`, not in sqlx's
//! `_sqlx_migrations` nor in `user_version`, which other tables of the same file may own.

use rusqlite::{Connection, OptionalExtension};

use super::writer::WRITE;
use crate::journal::JournalError;
use crate::journal::sqlite::{TABLES, missing_table};

/// Each version's statements, in order: version N is the first N applied.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE journal_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sdk_app_id INTEGER NOT NULL,
    command TEXT NOT NULL,
    client_ip TEXT,
    opt_platform TEXT,
    request_time TEXT,
    received_at_ms INTEGER NOT NULL,
    body BLOB NOT NULL,
    decision TEXT,
    conversation_key TEXT,
    idempotency_key TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX journal_entries_dedupe ON journal_entries (idempotency_key, received_at_ms);
CREATE INDEX journal_entries_received ON journal_entries (received_at_ms);
CREATE TABLE journal_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL REFERENCES journal_entries (id) ON DELETE CASCADE,
    handler TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts_total INTEGER NOT NULL DEFAULT 0,
    round_attempts INTEGER NOT NULL DEFAULT 0,
    round_started_at_ms INTEGER NOT NULL,
    next_at_ms INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until_ms INTEGER,
    delivered_at_ms INTEGER,
    last_error TEXT,
    dead_reason TEXT,
    received_at_ms INTEGER NOT NULL,
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
    delivery_id INTEGER NOT NULL REFERENCES journal_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER NOT NULL,
    result TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE TABLE journal_probe (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
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

/// Brings the schema to the newest version, in one transaction; on a read-only connection
/// only checks that it is there already.
pub(super) fn migrate(connection: &mut Connection, read_only: bool) -> Result<(), JournalError> {
    let newest = MIGRATIONS.len() as i64;
    let exists: Option<i64> = connection
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_schema'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let current = match exists {
        Some(_) => {
            connection.query_row("SELECT version FROM journal_schema", [], |row| row.get(0))?
        }
        None => 0,
    };
    if current > newest {
        return Err(JournalError::Database(format!(
            "its schema is version {current}, written by a newer chathook than this one \
             (which knows up to {newest}): run that version, or point journal.database_url \
             elsewhere"
        )));
    }
    if current == newest {
        return check_tables(connection, current);
    }
    if read_only {
        return Err(JournalError::Database(format!(
            "it is opened read-only and its schema is version {current}, not {newest}: open it \
             once read-write"
        )));
    }
    let transaction = connection.transaction_with_behavior(WRITE)?;
    if exists.is_none() {
        transaction.execute_batch(
            "CREATE TABLE journal_schema (version INTEGER NOT NULL);
             INSERT INTO journal_schema (version) VALUES (0);",
        )?;
    }
    for migration in &MIGRATIONS[current as usize..] {
        transaction.execute_batch(migration)?;
    }
    transaction.execute("UPDATE journal_schema SET version = ?1", [newest])?;
    transaction.commit()?;
    Ok(())
}

/// Whether every table of the schema is there: one dropped since its version was recorded is
/// not created again, and every callback owed to a queued handler would fail.
fn check_tables(connection: &Connection, version: i64) -> Result<(), JournalError> {
    for table in TABLES {
        let found: Option<i64> = connection
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()?;
        if found.is_none() {
            return Err(JournalError::Database(missing_table(table, version)));
        }
    }
    Ok(())
}
