//! One SQLite file, two journals on it: the server's and an operator's
//! (`chathook deliveries`), as two processes would open it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_never_fail_while_an_operator_writes_the_same_file() {
    let db = TestDb::sqlite();
    let server = Arc::new(db.open().await);
    append_new(&server, entry(callback("seed", "C2C.X", None), &["crm"])).await;
    let mut operator_options = db.options();
    operator_options.serving = false;
    let operator = Journal::open(operator_options).await.unwrap();
    let seed = operator
        .list(&ListFilter {
            limit: 1,
            ..ListFilter::default()
        })
        .await
        .unwrap()[0]
        .id;

    let appending = Arc::new(AtomicBool::new(true));
    let retries = Arc::new(AtomicU64::new(0));
    let retrying = tokio::spawn({
        let (appending, retries) = (Arc::clone(&appending), Arc::clone(&retries));
        async move {
            // A pending delivery's retry always writes (it is due now again), so every one
            // commits and moves the file under the server's transactions.
            while appending.load(Ordering::Relaxed) {
                let retried = operator.retry(RetryTarget::One(seed)).await;
                assert_eq!(retried.expect("the operator's retry commits"), 1);
                retries.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let appenders = (0..8).map(|appender| {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for n in 0..40 {
                let key = format!("{appender}-{n}");
                let appended = server.append(entry(callback(&key, "C2C.X", None), &["crm"]));
                if let Err(error) = appended.await {
                    failed.push(error.to_string());
                }
            }
            failed
        })
    });
    let failed: Vec<String> = futures_util::future::join_all(appenders)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    appending.store(false, Ordering::Relaxed);
    retrying.await.unwrap();
    assert!(failed.is_empty(), "appends failed: {failed:?}");
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the operator wrote meanwhile"
    );
    assert_eq!(server.stats().await.unwrap().entries, 321);
}

#[tokio::test]
async fn a_second_server_on_the_same_file_is_refused_and_an_operator_is_not() {
    let db = TestDb::sqlite();
    let first = db.open().await;
    let refused = Journal::open(db.options()).await.err().expect("refused");
    let message = refused.to_string();
    assert!(matches!(refused, JournalError::Open { .. }), "{message}");
    assert!(
        message.contains("another chathook server holds its lock file"),
        "{message}"
    );
    assert!(message.contains("/nested/journal.db.lock"), "{message}");

    let mut operator_options = db.options();
    operator_options.serving = false;
    let operator = Journal::open(operator_options)
        .await
        .expect("no lock needed");
    append_new(&first, entry(callback("k", "C2C.X", None), &["crm"])).await;
    assert_eq!(
        operator
            .list(&ListFilter {
                limit: 10,
                ..ListFilter::default()
            })
            .await
            .unwrap()
            .len(),
        1,
        "it reads the server's file"
    );

    // The lock lives as long as the journal: once it is gone, the next server starts.
    drop(first);
    let next = db.open().await;
    assert_eq!(next.stats().await.unwrap().entries, 1);
}

/// A member of a batch that fails after it began writing (here the second delivery of an
/// entry owed twice to one handler, refused by the table's uniqueness) is undone alone: the
/// batch, first written without savepoints, is written again with them, and every other
/// append of it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_failing_part_way_leaves_the_rest_of_its_batch_be() {
    let db = TestDb::sqlite();
    let journal = Arc::new(db.open().await);
    let appends = (0..50).map(|n| {
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            let handlers: &[&'static str] = if n == 25 { &["crm", "crm"] } else { &["crm"] };
            let sent = callback(&format!("k{n}"), "C2C.X", None);
            journal.append(entry(sent, handlers)).await
        })
    });
    let answers = futures_util::future::join_all(appends).await;
    for (n, answer) in answers.into_iter().enumerate() {
        let answer = answer.expect("the task ran");
        if n == 25 {
            let error = answer.expect_err("a delivery owed twice is refused");
            assert!(error.to_string().contains("UNIQUE"), "{error}");
        } else {
            assert!(matches!(answer, Ok(Appended::New(_))), "{n}: {answer:?}");
        }
    }
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.entries, 49, "the failed entry's row is undone too");
    let deliveries = claim_all(&journal, "crm", false, &owner("a")).await;
    assert_eq!(deliveries.len(), 49);
}
