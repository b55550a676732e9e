//! One store suite, run against SQLite and against the PostgreSQL server.

use std::collections::BTreeMap;
use std::time::Duration;

use chathook_read_receipt::model::{MessageKey, ReceiptState};
use chathook_read_receipt::store::{Durability, PURGE_BATCH, Store, StoreError, StoreOptions};
use chathook_tests::*;
use sqlx::Connection as _;

async fn open(database_url: String) -> Store {
    Store::open(&StoreOptions {
        database_url,
        max_connections: 4,
        busy_timeout: Duration::from_secs(2),
        max_batch: 64,
        write_timeout: Duration::from_secs(2),
        durability: Durability::Full,
    })
    .await
    .expect("store opens")
}

/// A stored message's readers, in order.
fn names(readers: &std::collections::BTreeSet<String>) -> Vec<&str> {
    readers.iter().map(String::as_str).collect()
}

fn key(group: &str, seq: i64) -> MessageKey {
    MessageKey {
        sdk_app_id: 7,
        group_id: group.into(),
        msg_seq: seq,
    }
}

fn state(
    read: Option<i64>,
    unread: Option<i64>,
    time: Option<i64>,
    readers: &[&str],
) -> ReceiptState {
    ReceiptState {
        group_type: Some("Public".into()),
        read_num: read,
        unread_num: unread,
        first_event_time_ms: time,
        last_event_time_ms: time,
        readers: readers.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn one(key: MessageKey, state: ReceiptState) -> BTreeMap<MessageKey, ReceiptState> {
    BTreeMap::from([(key, state)])
}

/// Runs the suite on a fresh store at `url`, then reopens it: nothing is migrated twice and
/// the data is still there.
async fn suite(url: String) {
    check(open(url.clone()).await).await;
    let reopened = open(url).await;
    assert_eq!(
        reopened
            .list(7, "concurrent", -1, 1000)
            .await
            .unwrap()
            .len(),
        200
    );
}

async fn check(store: Store) {
    // The merge rule holds in SQL, whatever the order, including NULLs (absent fields).
    let updates = [
        state(Some(1), Some(9), Some(100), &["a"]),
        state(None, None, None, &[]),
        state(Some(5), Some(4), Some(300), &["b", "c"]),
        state(Some(3), Some(6), Some(200), &["a", "d"]),
    ];
    for (group, order) in [
        ("forward", [0, 1, 2, 3]),
        ("backward", [3, 2, 1, 0]),
        ("mixed", [2, 0, 3, 1]),
    ] {
        for index in order {
            store
                .record(one(key(group, 1), updates[index].clone()))
                .await
                .unwrap();
        }
        // And once more: duplicates change nothing.
        store
            .record(one(key(group, 1), updates[order[0]].clone()))
            .await
            .unwrap();
    }
    let forward = store.get(7, "forward", 1).await.unwrap().unwrap();
    assert_eq!(forward.state.read_num, Some(5));
    assert_eq!(forward.state.unread_num, Some(4));
    assert_eq!(forward.state.first_event_time_ms, Some(100));
    assert_eq!(forward.state.last_event_time_ms, Some(300));
    assert_eq!(names(&forward.state.readers), ["a", "b", "c", "d"]);
    for group in ["backward", "mixed"] {
        let other = store.get(7, group, 1).await.unwrap().unwrap();
        assert_eq!(
            (
                other.state.read_num,
                other.state.unread_num,
                &other.state.readers
            ),
            (
                forward.state.read_num,
                forward.state.unread_num,
                &forward.state.readers
            )
        );
        assert_eq!(
            (
                other.state.first_event_time_ms,
                other.state.last_event_time_ms
            ),
            (
                forward.state.first_event_time_ms,
                forward.state.last_event_time_ms
            )
        );
    }

    // Many receipts and readers in one record (more rows than one INSERT carries) are
    // written all together.
    let mut big = BTreeMap::new();
    for seq in 0..1200 {
        big.insert(
            key("big", seq),
            state(Some(seq), Some(1), Some(1), &["x", "y"]),
        );
    }
    store.record(big).await.unwrap();
    let page = store.list(7, "big", -1, 1000).await.unwrap();
    assert_eq!(page.len(), 1000);
    assert_eq!(names(&page[0].state.readers), ["x", "y"]);
    let rest = store
        .list(7, "big", page.last().unwrap().key.msg_seq, 1000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 200);
    assert_eq!(rest.last().unwrap().key.msg_seq, 1199);

    // Concurrent records are grouped and all committed.
    let transactions_before = store.transactions_committed();
    let mut writers = tokio::task::JoinSet::new();
    for seq in 0..200 {
        let store = store.clone();
        writers.spawn(async move {
            store
                .record(one(
                    key("concurrent", seq),
                    state(Some(1), Some(1), Some(1), &["r"]),
                ))
                .await
        });
    }
    while let Some(result) = writers.join_next().await {
        result.unwrap().unwrap();
    }
    let transactions = store.transactions_committed() - transactions_before;
    assert!(
        transactions < 100,
        "200 concurrent records took {transactions} transactions: no group commit"
    );
    assert_eq!(
        store.list(7, "concurrent", -1, 1000).await.unwrap().len(),
        200
    );
    assert!(store.get(7, "concurrent", 200).await.unwrap().is_none());
    assert!(
        store.get(8, "concurrent", 1).await.unwrap().is_none(),
        "apps are kept apart"
    );

    // Retention: nothing is younger than an hour ago... everything is older than "in an hour".
    assert_eq!(store.purge(Duration::from_secs(3600)).await.unwrap(), 0);
    store.check().await.unwrap();
}

#[tokio::test]
async fn the_store_suite_passes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/receipts.db");
    suite(format!("sqlite://{}", path.display())).await;
    assert!(
        dir.path().join("nested/dir/receipts.db-wal").exists(),
        "WAL mode"
    );
}

#[tokio::test]
async fn the_store_suite_passes_on_postgres() {
    let schema = fresh_postgres_schema().await;
    suite(schema.url.clone()).await;
}

#[tokio::test]
async fn retention_purges_old_messages_with_their_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(format!("sqlite://{}", dir.path().join("r.db").display())).await;
    store
        .record(one(
            key("old", 1),
            state(Some(1), Some(1), Some(1), &["a", "b"]),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.purge(Duration::from_secs(3600)).await.unwrap(), 0);
    assert_eq!(store.purge(Duration::from_millis(10)).await.unwrap(), 1);
    assert!(store.get(7, "old", 1).await.unwrap().is_none());
    // Its readers went with it: a new record of the same message starts empty.
    store
        .record(one(key("old", 1), state(Some(1), Some(1), Some(1), &[])))
        .await
        .unwrap();
    assert!(
        store
            .get(7, "old", 1)
            .await
            .unwrap()
            .unwrap()
            .state
            .readers
            .is_empty()
    );
}

#[tokio::test]
async fn an_unsupported_url_is_a_clear_error() {
    let error = Store::open(&StoreOptions {
        database_url: "mysql://localhost/x".into(),
        max_connections: 1,
        busy_timeout: Duration::from_secs(1),
        max_batch: 1,
        write_timeout: Duration::from_secs(2),
        durability: Durability::Full,
    })
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "database_url \"mysql://localhost/x\" is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
    );
}

#[tokio::test]
async fn an_in_memory_sqlite_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://receipts.db?mode=memory"] {
        let error = Store::open(&StoreOptions {
            database_url: url.into(),
            max_connections: 1,
            busy_timeout: Duration::from_secs(1),
            max_batch: 1,
            write_timeout: Duration::from_secs(2),
            durability: Durability::Full,
        })
        .await
        .unwrap_err();
        assert!(
            error.to_string().contains("is not supported"),
            "{url}: {error}"
        );
    }
}

#[tokio::test]
async fn a_sqlite_database_from_the_first_schema_is_upgraded_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        // The store as first released: the shared migrations only.
        let mut old = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::migrate!("../crates/chathook-read-receipt/migrations")
            .run(&mut old)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO read_receipts VALUES (7, 'g', 1, 'Public', 2, 3, 10, 20, 0);
             INSERT INTO read_receipt_readers VALUES (7, 'g', 1, 'a'), (7, 'g', 1, 'b');",
        )
        .execute(&mut old)
        .await
        .unwrap();
    }

    let store = open(url).await;
    let kept = store
        .get(7, "g", 1)
        .await
        .unwrap()
        .expect("the row survives");
    assert_eq!(names(&kept.state.readers), ["a", "b"]);
    assert_eq!(
        (kept.state.read_num, kept.state.unread_num),
        (Some(2), Some(3))
    );
    store
        .record(one(key("g", 1), state(Some(5), Some(1), Some(30), &["c"])))
        .await
        .unwrap();
    let merged = store.get(7, "g", 1).await.unwrap().unwrap();
    assert_eq!(names(&merged.state.readers), ["a", "b", "c"]);
    assert_eq!(merged.state.read_num, Some(5));
    assert_eq!(merged.state.last_event_time_ms, Some(30));
}

/// Fills `url`'s store with `count` messages of group "expired", each with two readers,
/// last written at the Unix epoch: the state of a store with a large purge backlog.
async fn prefill_expired(url: &str, count: i64) {
    let receipts = "INSERT INTO read_receipts (sdk_app_id, group_id, msg_seq, group_type, read_num, \
        unread_num, first_event_time_ms, last_event_time_ms, updated_at_ms) \
        SELECT 7, 'expired', i, 'Public', 1, 1, 1, 1, 0 FROM numbers";
    let readers = "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
        SELECT 7, 'expired', i, reader FROM numbers, (SELECT 'a' AS reader UNION ALL SELECT 'b') AS r";
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        for insert in [receipts, readers] {
            sqlx::query(&format!(
                "WITH RECURSIVE numbers(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM numbers \
                 WHERE i < {}) {insert}",
                count - 1
            ))
            .execute(&mut connection)
            .await
            .unwrap();
        }
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        for insert in [receipts, readers] {
            sqlx::query(&format!(
                "WITH numbers(i) AS (SELECT generate_series(0, {})) {insert}",
                count - 1
            ))
            .execute(&mut connection)
            .await
            .unwrap();
        }
    }
}

/// Rows of group "expired" left in both tables.
async fn expired_rows(url: &str) -> (i64, i64) {
    let count = "SELECT (SELECT COUNT(*) FROM read_receipts WHERE group_id = 'expired'), \
        (SELECT COUNT(*) FROM read_receipt_readers WHERE group_id = 'expired')";
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(count)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(count)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    }
}

/// A purge of a large backlog commits in many small transactions, and callbacks are committed
/// while it runs; fresh messages are kept.
async fn purge_in_batches(url: String) {
    const EXPIRED: i64 = 40_000;
    let store = open(url.clone()).await;
    store
        .record(one(
            key("fresh", 1),
            state(Some(1), Some(1), Some(1), &["f"]),
        ))
        .await
        .unwrap();
    prefill_expired(&url, EXPIRED).await;

    let before = store.purge_transactions();
    let purge = tokio::spawn({
        let store = store.clone();
        async move { store.purge(Duration::from_secs(3600)).await }
    });
    // Once the purge has committed a batch, records still go through while it goes on.
    tokio::time::timeout(Duration::from_secs(30), async {
        while store.purge_transactions() == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the purge commits a first batch");
    for seq in 2..5 {
        tokio::time::timeout(
            Duration::from_secs(10),
            store.record(one(
                key("fresh", seq),
                state(Some(1), Some(1), Some(1), &["f"]),
            )),
        )
        .await
        .expect("a record completes while the purge runs")
        .unwrap();
    }
    assert!(
        !purge.is_finished(),
        "records completed while the purge was still running"
    );
    let purged = tokio::time::timeout(Duration::from_secs(60), purge)
        .await
        .expect("the purge ends")
        .unwrap()
        .unwrap();
    assert_eq!(purged, EXPIRED as u64);
    let transactions = store.purge_transactions() - before;
    assert!(
        transactions >= (EXPIRED as u64).div_ceil(PURGE_BATCH as u64),
        "{EXPIRED} messages purged in {transactions} transactions"
    );
    assert_eq!(
        expired_rows(&url).await,
        (0, 0),
        "readers go with their message"
    );
    let fresh = store.list(7, "fresh", -1, 10).await.unwrap();
    assert_eq!(fresh.len(), 4, "fresh messages are kept");
    assert_eq!(names(&fresh[0].state.readers), ["f"]);
}

#[tokio::test]
async fn a_purge_backlog_is_deleted_in_small_transactions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    purge_in_batches(format!("sqlite://{}", dir.path().join("p.db").display())).await;
}

#[tokio::test]
async fn a_purge_backlog_is_deleted_in_small_transactions_on_postgres() {
    let schema = fresh_postgres_schema().await;
    purge_in_batches(schema.url.clone()).await;
}

#[tokio::test]
async fn a_writer_stuck_in_one_write_longer_than_the_write_timeout_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    // A lock wait (busy_timeout) far longer than the write timeout: the writer blocks.
    let store = Store::open(&StoreOptions {
        database_url: url.clone(),
        max_connections: 2,
        busy_timeout: Duration::from_secs(5),
        max_batch: 8,
        write_timeout: Duration::from_millis(100),
        durability: Durability::Full,
    })
    .await
    .unwrap();
    store.check().await.unwrap();
    let mut blocker = lock_sqlite(&url).await;
    let record = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .record(one(key("stuck", 1), state(Some(1), Some(1), Some(1), &[])))
                .await
        }
    });
    let error = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            match store.check().await {
                Err(error @ StoreError::WriterStuck { .. }) => return error,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the stuck writer is reported");
    assert!(
        error
            .to_string()
            .contains("more than write_timeout_ms (100 ms)"),
        "{error}"
    );
    // The lock goes: the write completes and the store is ready again.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), record)
        .await
        .expect("the write completes")
        .unwrap()
        .unwrap();
    store.check().await.unwrap();
}
