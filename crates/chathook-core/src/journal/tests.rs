//! The journal's tests, against a real SQLite file in a tempdir and a database of their own
//! on the local PostgreSQL (`TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`), created per test and dropped after.

mod delivery;
mod limits;
mod operators;
mod room;
mod sqlite_file;
mod stats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::*;

/// Runs each named `async fn(TestDb)` once per backend, as `<name>::sqlite` and
/// `<name>::postgres`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$test(crate::journal::tests::TestDb::sqlite()).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$test(crate::journal::tests::TestDb::postgres().await).await
                }
            }
        )*
    };
}
pub(super) use on_both_backends;

/// A database for one test: a tempdir's file, or a PostgreSQL database dropped with it.
pub(super) struct TestDb {
    pub(super) url: String,
    dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

/// The PostgreSQL server the tests use, as a URL of its `test` database.
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a postgres URL has a path");
    format!("{server}/{database}")
}

impl TestDb {
    pub(super) fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a tempdir");
        let url = format!("sqlite://{}/nested/journal.db", dir.path().display());
        Self {
            url,
            dir: Some(dir),
            postgres: None,
        }
    }

    pub(super) async fn postgres() -> Self {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let server = postgres_server();
        let name = format!(
            "journal_test_{}_{}_{}",
            std::process::id(),
            rows::now_ms(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
            .await
            .expect("the local PostgreSQL (TEST_POSTGRES_URL) is reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("a test database is created");
        Self {
            url: with_database(&server, &name),
            dir: None,
            postgres: Some((server, name)),
        }
    }

    pub(super) fn is_sqlite(&self) -> bool {
        self.dir.is_some()
    }

    /// Options with roomy bounds and windows, as a test starts from.
    pub(super) fn options(&self) -> JournalOptions {
        JournalOptions {
            database_url: self.url.clone(),
            durability: Durability::Full,
            retention: Duration::from_secs(3600),
            max_entries: 1_000_000,
            max_bytes: 1 << 30,
            dedupe_window: Duration::from_secs(600),
            max_batch: 256,
            serving: true,
        }
    }

    pub(super) async fn open(&self) -> Journal {
        Journal::open(self.options())
            .await
            .expect("the journal opens")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
            })
        });
        if let Ok(Err(error)) = dropped.join() {
            eprintln!("could not drop a test database: {error}");
        }
    }
}

/// A callback of `command` with its own idempotency key, received now.
pub(super) fn callback(key: &str, command: &str, conversation: Option<&str>) -> StoredCallback {
    StoredCallback {
        sdk_app_id: 1_400_000_000,
        command: command.to_owned(),
        client_ip: Some("203.0.113.7".to_owned()),
        opt_platform: Some("RESTAPI".to_owned()),
        request_time: Some("1700000000".to_owned()),
        received_at: SystemTime::now(),
        body: Bytes::from(format!(
            r#"{{"CallbackCommand":"{command}","Key":"{key}"}}"#
        )),
        decision: None,
        conversation_key: conversation.map(str::to_owned),
        idempotency_key: key.to_owned(),
    }
}

/// An entry owed to `handlers`.
pub(super) fn entry(callback: StoredCallback, handlers: &[&'static str]) -> NewEntry {
    NewEntry {
        callback,
        handlers: handlers.to_vec(),
    }
}

/// Appends and returns the new entry's id.
pub(super) async fn append_new(journal: &Journal, new: NewEntry) -> i64 {
    match journal.append(new).await.expect("the append commits") {
        Appended::New(id) => id,
        other => panic!("expected a new entry, got {other:?}"),
    }
}

pub(super) fn owner(name: &str) -> LeaseOwner {
    LeaseOwner::from(name)
}

/// An attempt that ended now with `outcome`.
pub(super) fn attempt(outcome: AttemptOutcome) -> Attempt {
    Attempt {
        started_at: SystemTime::now(),
        ended_at: SystemTime::now(),
        outcome,
    }
}

/// A retry due at once.
pub(super) fn retry_now(error: &str) -> AttemptOutcome {
    AttemptOutcome::Retry {
        error: error.to_owned(),
        at: SystemTime::now(),
    }
}

/// A dead letter.
pub(super) fn dead(error: &str) -> AttemptOutcome {
    AttemptOutcome::Dead {
        error: error.to_owned(),
        reason: "max_attempts",
    }
}

/// Claims every due delivery of `handler` for `owner` (ordered or not), leased for a minute.
pub(super) async fn claim_all(
    journal: &Journal,
    handler: &str,
    ordered: bool,
    owner: &LeaseOwner,
) -> Vec<Claimed> {
    journal
        .claim(handler, ordered, 1000, Duration::from_secs(60), owner)
        .await
        .expect("the claim runs")
}

/// The entry ids of `claimed`, in order.
pub(super) fn entry_ids(claimed: &[Claimed]) -> Vec<i64> {
    claimed.iter().map(|delivery| delivery.entry_id).collect()
}
