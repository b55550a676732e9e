//! PostgreSQL: a pool shared by reads and the writer task, which sends each batch as column
//! arrays, within the write timeout on both sides of the connection.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use super::batch::{Batches, Work, answer_probes, commit_jobs};
use super::migrations::{
    MIGRATIONS, PROBE_SDK_APP_ID, PROBE_WRITE, RECEIPT_COLUMNS, TABLES, UPSERT_MERGE,
};
use super::{Durability, PURGE_BATCH, StoreError, StoreOptions, millis, unix_millis};
use crate::model::{MessageKey, ReceiptState};

/// Connects, migrates the schema, and starts the writer on `queue`; returns the pool.
pub(super) async fn open(
    options: &StoreOptions,
    queue: mpsc::Receiver<Work>,
    batches: Batches,
) -> Result<PgPool, StoreError> {
    let base = PgConnectOptions::from_str(&options.database_url)?;
    migrate(&base, options.busy_timeout).await?;
    // PostgreSQL itself ends a statement, or a transaction left idle, after the write
    // timeout: a client that vanished mid-transaction (a network that stops answering
    // rather than refusing) would otherwise hold its row locks, and wedge every other
    // replica writing the same messages, until TCP gives up hours later.
    let timeout_ms = options.write_timeout.as_millis().max(1);
    let mut connect = base.options([
        ("statement_timeout", timeout_ms),
        ("idle_in_transaction_session_timeout", timeout_ms),
    ]);
    if options.durability == Durability::Normal {
        connect = connect.options([("synchronous_commit", "off")]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.busy_timeout)
        .connect_with(connect.clone())
        .await?;
    let writer = PostgresWriter {
        pool: pool.clone(),
        connect,
        timeout: options.write_timeout,
    };
    tokio::spawn(run_writer(writer, queue, batches));
    Ok(pool)
}

/// Runs the migrations on a connection of their own, without the write timeouts: a migration
/// may rightly run longer than any callback's write.
async fn migrate(base: &PgConnectOptions, busy_timeout: Duration) -> Result<(), StoreError> {
    let mut connection =
        match tokio::time::timeout(busy_timeout, PgConnection::connect_with(base)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                let problem = connect_problem(base, Some(&error), busy_timeout);
                return Err(StoreError::Connect(problem));
            }
            Err(_) => {
                return Err(StoreError::Connect(connect_problem(
                    base,
                    None,
                    busy_timeout,
                )));
            }
        };
    MIGRATIONS.run_direct(&mut connection).await?;
    // A table dropped under a recorded migration is not created again by it: every callback
    // would fail, so the start does.
    for table in TABLES {
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::TEXT")
            .bind(table)
            .fetch_one(&mut connection)
            .await?;
        if found.is_none() {
            return Err(StoreError::MissingTable(table));
        }
    }
    connection.close().await?;
    Ok(())
}

/// Why the PostgreSQL server of `options` could not be reached (`error`, or no answer within
/// `timeout`), in words an operator can act on: which host, and whether it refused, did not
/// answer, or rejected the user, the password or the database.
fn connect_problem(
    options: &PgConnectOptions,
    error: Option<&sqlx::Error>,
    timeout: Duration,
) -> String {
    let server = format!(
        "PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    let user = options.get_username();
    let Some(error) = error else {
        return format!(
            "{server} did not answer within busy_timeout_ms ({} ms): check the host, the port \
             and any firewall between",
            timeout.as_millis()
        );
    };
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("{server} refused the connection: is PostgreSQL running there, on that port?")
        }
        sqlx::Error::Io(io) => format!("cannot reach {server}: {io}"),
        sqlx::Error::Tls(tls) => format!("TLS with {server} failed: {tls}"),
        sqlx::Error::Database(database) => match database.code().as_deref() {
            Some("28P01") => {
                format!("{server} rejected the password of user {user:?}: check database_url")
            }
            Some("28000") => format!(
                "{server} rejected user {user:?} ({}): check the user in database_url and \
                 the server's pg_hba.conf",
                database.message()
            ),
            Some("3D000") => format!(
                "{server} has no database {:?}: create it, or fix database_url",
                options.get_database().unwrap_or(user)
            ),
            _ => format!("{server} refused chathook: {}", database.message()),
        },
        other => format!("{server}: {other}"),
    }
}

/// The PostgreSQL writer's pool, and how to open a fresh connection for a probe.
struct PostgresWriter {
    pool: PgPool,
    connect: PgConnectOptions,
    timeout: Duration,
}

/// The PostgreSQL writer: a task on the runtime, one round trip per table per batch.
async fn run_writer(writer: PostgresWriter, mut queue: mpsc::Receiver<Work>, mut batches: Batches) {
    while let Some(other) = batches.receive(&mut queue).await {
        commit_jobs!(&mut batches, |states| writer.write(states).await);
        let health = &*batches.health;
        if !other.probes.is_empty() {
            let probed = {
                let _writing = health.writing();
                writer.probe().await
            };
            answer_probes(health, other.probes, probed);
        }
        // Store::purge runs PostgreSQL's batches on the pool; should one come here, run it.
        for (cutoff_ms, done) in other.purges {
            let _writing = health.writing();
            let _ = done.send(purge(&writer.pool, cutoff_ms, writer.timeout).await);
        }
    }
}

/// Runs `work` on a connection of `pool`, all within `limit`. On timeout the connection is
/// detached and dropped, never returned to the pool: it may be mid-transaction on a network
/// that stopped answering, and the pool's check of a returned connection would wait on it
/// too. PostgreSQL ends the abandoned session's transaction itself (`statement_timeout`,
/// `idle_in_transaction_session_timeout`), releasing its locks.
async fn on_connection<T>(
    pool: &PgPool,
    limit: Duration,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = tokio::time::Instant::now() + limit;
    let timed_out = || StoreError::WriteTimeout(millis(limit));
    let mut connection = tokio::time::timeout_at(deadline, pool.acquire())
        .await
        .map_err(|_| timed_out())??;
    match tokio::time::timeout_at(deadline, work(&mut connection)).await {
        Ok(result) => result,
        Err(_) => {
            drop(connection.detach());
            Err(timed_out())
        }
    }
}

impl PostgresWriter {
    /// Upserts a batch as column arrays: the statements' text never changes with the batch
    /// size, so they stay prepared, and there is no bind-parameter limit to split around.
    async fn write(&self, states: &BTreeMap<MessageKey, ReceiptState>) -> Result<(), StoreError> {
        let (receipts, readers) = Columns::of(states);
        on_connection(&self.pool, self.timeout, async |connection| {
            let mut transaction = connection.begin().await?;
            sqlx::query(&UPSERT_RECEIPTS)
                .bind(&receipts.sdk_app_ids)
                .bind(&receipts.group_ids)
                .bind(&receipts.msg_seqs)
                .bind(&receipts.group_types)
                .bind(&receipts.read_nums)
                .bind(&receipts.unread_nums)
                .bind(&receipts.first_event_times)
                .bind(&receipts.last_event_times)
                .bind(unix_millis())
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&readers.sdk_app_ids)
            .bind(&readers.group_ids)
            .bind(&readers.msg_seqs)
            .bind(&readers.accounts)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            Ok(())
        })
        .await
    }

    /// Whether a write commits, on a fresh connection (after a failure the pooled ones prove
    /// nothing about reaching the database now), with a real write: a receipt and a reader
    /// written and deleted again in one transaction, which fails where a callback's would (a
    /// full disk, a read-only standby, a table gone).
    async fn probe(&self) -> Result<(), StoreError> {
        let probe = async {
            let mut connection = PgConnection::connect_with(&self.connect).await?;
            let mut transaction = connection.begin().await?;
            for statement in PROBE_WRITE {
                sqlx::query(statement)
                    .bind(PROBE_SDK_APP_ID)
                    .bind("")
                    .bind(0_i64)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
            connection.close().await?;
            Ok(())
        };
        tokio::time::timeout(self.timeout, probe)
            .await
            .map_err(|_| StoreError::WriteTimeout(millis(self.timeout)))?
    }
}

/// Deletes up to [`PURGE_BATCH`] messages written before `cutoff_ms`, with their readers, in
/// one statement (one transaction); returns how many. The batch's rows are locked in key
/// order (the order writers lock in, so no deadlock) and rows a writer holds are skipped: a
/// message being written again is not expired, and its readers are never deleted without it.
pub(super) async fn purge(
    pool: &PgPool,
    cutoff_ms: i64,
    limit: Duration,
) -> Result<u64, StoreError> {
    on_connection(pool, limit, async |connection| {
        Ok(sqlx::query(
            "WITH doomed AS ( \
                 SELECT sdk_app_id, group_id, msg_seq FROM read_receipts \
                 WHERE (sdk_app_id, group_id, msg_seq) IN ( \
                     SELECT sdk_app_id, group_id, msg_seq FROM read_receipts \
                     WHERE updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2) \
                 AND updated_at_ms < $1 \
                 ORDER BY sdk_app_id, group_id, msg_seq \
                 FOR UPDATE SKIP LOCKED \
             ), readers AS ( \
                 DELETE FROM read_receipt_readers AS r USING doomed AS d \
                 WHERE r.sdk_app_id = d.sdk_app_id AND r.group_id = d.group_id \
                 AND r.msg_seq = d.msg_seq \
             ) \
             DELETE FROM read_receipts AS r USING doomed AS d \
             WHERE r.sdk_app_id = d.sdk_app_id AND r.group_id = d.group_id \
             AND r.msg_seq = d.msg_seq",
        )
        .bind(cutoff_ms)
        .bind(PURGE_BATCH as i64)
        .execute(connection)
        .await?
        .rows_affected())
    })
    .await
}

/// A batch as PostgreSQL arrays, one per column.
#[derive(Default)]
struct Columns<'a> {
    sdk_app_ids: Vec<i64>,
    group_ids: Vec<&'a str>,
    msg_seqs: Vec<i64>,
    group_types: Vec<Option<&'a str>>,
    read_nums: Vec<Option<i64>>,
    unread_nums: Vec<Option<i64>>,
    first_event_times: Vec<Option<i64>>,
    last_event_times: Vec<Option<i64>>,
    accounts: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    /// The receipt rows and the reader rows of `states`.
    fn of(states: &'a BTreeMap<MessageKey, ReceiptState>) -> (Self, Self) {
        let mut receipts = Self::default();
        let mut readers = Self::default();
        for (key, state) in states {
            receipts.push_key(key);
            receipts.group_types.push(state.group_type.as_deref());
            receipts.read_nums.push(state.read_num);
            receipts.unread_nums.push(state.unread_num);
            receipts.first_event_times.push(state.first_event_time_ms);
            receipts.last_event_times.push(state.last_event_time_ms);
            for account in &state.readers {
                readers.push_key(key);
                readers.accounts.push(account);
            }
        }
        (receipts, readers)
    }

    fn push_key(&mut self, key: &'a MessageKey) {
        self.sdk_app_ids.push(key.sdk_app_id);
        self.group_ids.push(&key.group_id);
        self.msg_seqs.push(key.msg_seq);
    }
}

/// A batch of receipts as column arrays, all stamped with `$9`.
static UPSERT_RECEIPTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO read_receipts ({RECEIPT_COLUMNS}) \
         SELECT batch.*, $9 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], \
         $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[]) AS batch{UPSERT_MERGE}"
    )
});
