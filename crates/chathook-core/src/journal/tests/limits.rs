//! Durability, group commit, dedupe, bounds, the probe, reopening, and errors.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::*;

on_both_backends!(
    concurrent_appends_share_transactions_and_survive_a_reopen,
    a_redelivery_inside_the_window_is_journaled_once,
    each_bound_refuses_an_append_and_writes_nothing,
    a_reopened_journal_keeps_everything,
    describe_names_the_database_without_its_password,
);

async fn concurrent_appends_share_transactions_and_survive_a_reopen(db: TestDb) {
    const APPENDS: usize = 200;
    let journal = Arc::new(db.open().await);
    let appends = (0..APPENDS).map(|n| {
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            append_new(
                &journal,
                entry(callback(&format!("k{n}"), "C2C.X", None), &["crm"]),
            )
            .await
        })
    });
    let ids = futures_util::future::join_all(appends).await;
    assert!(ids.iter().all(Result::is_ok));
    let transactions = journal.stats().await.unwrap().append_transactions;
    assert!(
        transactions < APPENDS as u64,
        "{APPENDS} appends took {transactions} transactions"
    );
    eprintln!("{APPENDS} concurrent appends in {transactions} transactions");
    drop(journal);

    let reopened = db.open().await;
    assert_eq!(reopened.stats().await.unwrap().entries, APPENDS as u64);
    assert_eq!(
        claim_all(&reopened, "crm", false, &owner("w")).await.len(),
        APPENDS
    );
}

async fn a_redelivery_inside_the_window_is_journaled_once(db: TestDb) {
    let mut options = db.options();
    options.dedupe_window = Duration::from_secs(60);
    let journal = Journal::open(options).await.unwrap();
    let first = append_new(&journal, entry(callback("same", "C2C.X", None), &["crm"])).await;
    let again = journal
        .append(entry(callback("same", "C2C.X", None), &["crm"]))
        .await;
    assert_eq!(again.unwrap(), Appended::Duplicate(first));
    let mut later = callback("same", "C2C.X", None);
    later.received_at = SystemTime::now() + Duration::from_secs(61);
    let outside = append_new(&journal, entry(later, &["crm"])).await;
    assert_ne!(outside, first);

    // Two copies in one batch: one is written, the other names it.
    let journal = Arc::new(journal);
    let copies = (0..2).map(|_| {
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            journal
                .append(entry(callback("twin", "C2C.X", None), &["crm"]))
                .await
                .unwrap()
        })
    });
    let mut answers: Vec<Appended> = futures_util::future::join_all(copies)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    answers.sort_by_key(|answer| matches!(answer, Appended::Duplicate(_)));
    let (Appended::New(new), Appended::Duplicate(duplicate)) = (answers[0], answers[1]) else {
        panic!("expected one new and one duplicate, got {answers:?}");
    };
    assert_eq!(new, duplicate);
    assert_eq!(journal.stats().await.unwrap().entries, 3);
}

async fn each_bound_refuses_an_append_and_writes_nothing(db: TestDb) {
    let mut options = db.options();
    options.max_entries = 2;
    let journal = Journal::open(options.clone()).await.unwrap();
    for key in ["k1", "k2"] {
        append_new(&journal, entry(callback(key, "C2C.X", None), &["crm"])).await;
    }
    let refused = journal
        .append(entry(callback("k3", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(
            refused,
            Err(JournalError::Full {
                what: "entries",
                key: "max_entries",
                limit: 2
            })
        ),
        "{refused:?}"
    );
    let duplicate = journal
        .append(entry(callback("k1", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(duplicate, Ok(Appended::Duplicate(_))),
        "a duplicate writes nothing"
    );
    assert_eq!(journal.stats().await.unwrap().entries, 2);
    // Room is made by a discard, not only by a purge.
    let claimed = claim_all(&journal, "crm", false, &owner("w")).await;
    journal.discard(claimed[0].id).await.unwrap();
    append_new(&journal, entry(callback("k3", "C2C.X", None), &["crm"])).await;
    drop(journal);

    let body_bytes = callback("k4", "C2C.X", None).body.len() as u64;
    options.max_entries = 100;
    options.max_bytes = 2 * body_bytes + body_bytes / 2;
    let journal = Journal::open(options).await.unwrap();
    let refused = journal
        .append(entry(callback("k4", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(
            refused,
            Err(JournalError::Full {
                what: "bytes",
                key: "max_bytes",
                ..
            })
        ),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("journal.max_bytes"), "{message}");
    assert_eq!(journal.stats().await.unwrap().entries, 2);
}

async fn a_reopened_journal_keeps_everything(db: TestDb) {
    let journal = db.open().await;
    for key in ["k1", "k2"] {
        append_new(&journal, entry(callback(key, "C2C.X", None), &["crm"])).await;
    }
    let gone = owner("gone");
    let claimed = claim_all(&journal, "crm", false, &gone).await;
    journal
        .settle(claimed[0].id, &gone, attempt(retry_now("down")))
        .await
        .unwrap();
    claim_all(&journal, "crm", false, &gone).await;
    drop(journal);

    let reopened = db.open().await;
    let shown = reopened.show(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(shown.attempts.len(), 1);
    assert_eq!(reopened.stats().await.unwrap().entries, 2);
    let after_restart = claim_all(&reopened, "crm", false, &owner("next")).await;
    if db.is_sqlite() {
        // One replica: whatever was leased belonged to the process that is gone.
        assert_eq!(after_restart.len(), 2, "SQLite clears leases at open");
        // Claims come longest due first, and the retried one is due later than the other.
        let retried = after_restart.iter().find(|d| d.id == claimed[0].id);
        assert_eq!(retried.map(|d| d.attempt), Some(2));
    } else {
        // Another replica may still hold them: they wait for their leases to expire.
        assert!(
            after_restart.is_empty(),
            "PostgreSQL leases outlive a reopen"
        );
    }
}

async fn describe_names_the_database_without_its_password(db: TestDb) {
    let journal = db.open().await;
    let described = journal.describe();
    if db.is_sqlite() {
        assert!(described.starts_with("sqlite /"), "{described}");
        assert!(
            described.ends_with("/nested/journal.db (full)"),
            "{described}"
        );
    } else {
        assert!(described.starts_with("postgres postgres@"), "{described}");
        assert!(described.ends_with(" (full)"), "{described}");
    }
    journal
        .probe()
        .await
        .expect("a writable journal passes the probe");
}

#[tokio::test]
async fn a_read_only_sqlite_journal_opens_but_fails_the_probe() {
    let db = TestDb::sqlite();
    let journal = db.open().await;
    append_new(&journal, entry(callback("k", "C2C.X", None), &["crm"])).await;
    drop(journal);
    let mut options = db.options();
    options.database_url = format!("{}?mode=ro", db.url);
    let read_only = Journal::open(options)
        .await
        .expect("a read-only journal opens");
    assert_eq!(read_only.stats().await.unwrap().entries, 1, "it reads");
    let probe = read_only.probe().await.unwrap_err().to_string();
    assert!(probe.contains("read-only"), "{probe}");
    let append = read_only
        .append(entry(callback("k2", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(append, Err(JournalError::Database(_))),
        "{append:?}"
    );
}

#[tokio::test]
async fn unsupported_and_unreachable_urls_never_show_a_password() {
    for url in [
        "mysql://app:s3cretpw@db/chat",
        "sqlite::memory:",
        "sqlite://j.db?mode=memory",
    ] {
        let mut options = TestDb::sqlite().options();
        options.database_url = url.to_owned();
        let error = Journal::open(options).await.err().expect("refused");
        assert!(matches!(error, JournalError::UnsupportedUrl(_)), "{error}");
        let message = error.to_string();
        assert!(message.contains("journal.database_url"), "{message}");
        assert!(!message.contains("s3cretpw"), "{message}");
    }
    let server = with_database(&postgres_server(), "journal_no_such_database");
    let url = server.replacen("://postgres@", "://postgres:s3cretpw@", 1);
    assert!(
        url.contains("s3cretpw"),
        "the test URL has a password: {url}"
    );
    let mut options = TestDb::sqlite().options();
    options.database_url = url;
    let error = Journal::open(options)
        .await
        .err()
        .expect("no such database");
    let message = error.to_string();
    assert!(matches!(error, JournalError::Open { .. }), "{message}");
    assert!(!message.contains("s3cretpw"), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
    assert!(message.contains("journal_no_such_database"), "{message}");
}

/// Appends per second on SQLite, durability full, 64 concurrent appenders for 5 s:
/// `cargo test -p chathook-core --lib sqlite_append_rate -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn sqlite_append_rate() {
    let db = TestDb::sqlite();
    let journal = Arc::new(db.open().await);
    let until = Instant::now() + Duration::from_secs(5);
    let appenders = (0..64).map(|appender| {
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            let mut appended = 0u64;
            while Instant::now() < until {
                let key = format!("{appender}-{appended}");
                let mut sent = callback(&key, "C2C.CallbackAfterSendMsg", Some("c2c:a:b"));
                sent.body = Bytes::from(vec![b'x'; 600]);
                append_new(&journal, entry(sent, &["crm"])).await;
                appended += 1;
            }
            appended
        })
    });
    let total: u64 = futures_util::future::join_all(appenders)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let transactions = journal.stats().await.unwrap().append_transactions;
    eprintln!(
        "{total} appends in 5 s: {} per second, {transactions} transactions ({:.1} per commit)",
        total / 5,
        total as f64 / transactions as f64
    );
}
