//! Queued handlers end to end, on a real server with its journal in a real SQLite file: every
//! callback answered OK reaches the handler (after retries, after an operator's retry, in
//! order per conversation), dead letters keep every attempt, replay re-delivers a time range,
//! and a full journal answers 500 and makes `/readyz` not ready without losing anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chathook_core::Config;
use chathook_core::journal::{DeliveryState, Journal, ListFilter, ReplayRequest, RetryTarget};
use chathook_tests::flaky::{AttemptLine, read_attempts};
use chathook_tests::*;
use serde_json::{Value, json};

/// The after-callback the tests send, numbered with a `Seq` field.
pub(crate) const COMMAND: &str = "Group.CallbackAfterSendMsg";

/// A group message callback numbered `seq` in group `group`.
pub(crate) fn numbered_body(group: &str, seq: u64) -> String {
    let mut body: Value = serde_json::from_str(&fixture(COMMAND)).unwrap();
    body["GroupId"] = group.into();
    body["Seq"] = seq.into();
    body.to_string()
}

/// A journal at `dir/journal.db` and `flaky` enabled with `settings` (its `record` file is
/// `dir/attempts.log`) and a fast retry policy merged with `queue`.
pub(crate) fn queued_config(dir: &Path, settings: Value, queue: Value) -> Config {
    let mut config = base_config();
    config.journal.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    let mut table = json!({
        "record": dir.join("attempts.log"),
        "queue": {"backoff_initial_ms": 20, "backoff_max_ms": 200, "backoff_jitter": 0.0},
    });
    for (key, value) in settings.as_object().unwrap() {
        table[key] = value.clone();
    }
    for (key, value) in queue.as_object().unwrap() {
        table["queue"][key] = value.clone();
    }
    enable(&mut config, "flaky", table);
    config
}

/// Polls `condition` every 20 ms until it holds, or panics with `what` after `limit`.
pub(crate) async fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Successful attempts per idempotency key.
pub(crate) fn delivered(attempts: &[AttemptLine]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for attempt in attempts.iter().filter(|attempt| attempt.ok) {
        *counts.entry(attempt.key.as_str()).or_insert(0) += 1;
    }
    counts
}

async fn post_numbered(server: &TestServer, group: &str, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let reply = server
            .post(&fresh_query(COMMAND), numbered_body(group, seq))
            .await;
        assert_eq!(reply.0, 200, "callback {seq}: {}", reply.1);
        assert_eq!(reply.1["ErrorCode"], 0, "{}", reply.1);
    }
}

async fn journal_of(dir: &Path) -> Journal {
    let mut options = Config::default().journal.options();
    options.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    Journal::open(options).await.expect("the journal opens")
}

fn record(dir: &Path) -> PathBuf {
    dir.join("attempts.log")
}

#[tokio::test]
async fn a_handler_failing_its_first_attempts_gets_every_callback_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = queued_config(dir.path(), json!({"fail_first": 2}), json!({}));
    let server = TestServer::start(config).await;
    post_numbered(&server, "@TGS#retry", 0..20).await;
    let log = record(dir.path());
    wait_until(Duration::from_secs(20), "every callback delivered", || {
        delivered(&read_attempts(&log)).len() == 20
    })
    .await;
    let attempts = read_attempts(&log);
    for (key, count) in delivered(&attempts) {
        assert_eq!(count, 1, "{key} delivered {count} times");
        let mine: Vec<_> = attempts.iter().filter(|a| a.key == key).collect();
        let numbers: Vec<u32> = mine.iter().map(|a| a.attempt).collect();
        assert_eq!(
            numbers,
            [1, 2, 3],
            "{key}: attempts in order, the third succeeds"
        );
        assert!(mine.iter().all(|a| a.delivery == mine[0].delivery));
        // The backoff: the second attempt waited at least the initial 20 ms.
        assert!(mine[1].start_ms >= mine[0].end_ms + 15, "{mine:?}");
    }
    let series = |result: &str| {
        format!("chathook_delivery_attempts_total{{handler=\"flaky\",result=\"{result}\"}}")
    };
    assert_eq!(server.metric(&series("retry")).await, 40.0);
    assert_eq!(server.metric(&series("delivered")).await, 20.0);
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("chathook_delivery_lag_seconds_count{handler=\"flaky\"} 20"),
        "{text}"
    );

    let journal = journal_of(dir.path()).await;
    let shown = journal.show(attempts[0].delivery).await.unwrap().unwrap();
    assert_eq!(shown.summary.state, DeliveryState::Delivered);
    let results: Vec<&str> = shown.attempts.iter().map(|a| a.result.as_str()).collect();
    assert_eq!(results, ["retry", "retry", "delivered"]);
    assert!(
        shown.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("downstream is down")
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn dead_letters_keep_every_attempt_and_are_retried_or_discarded_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "").unwrap();
    let settings = json!({"fail_while": broken});
    let config = queued_config(dir.path(), settings, json!({"max_attempts": 3}));
    let server = TestServer::start(config).await;
    post_numbered(&server, "@TGS#dead", 0..6).await;
    let journal = journal_of(dir.path()).await;
    let dead = ListFilter {
        handler: Some("flaky".into()),
        state: Some(DeliveryState::Dead),
        limit: 100,
        ..ListFilter::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while journal.list(&dead).await.unwrap().len() < 6 {
        assert!(Instant::now() < deadline, "not every delivery died");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letters = journal.list(&dead).await.unwrap();
    for letter in &letters {
        assert_eq!(letter.attempts, 3);
        assert_eq!(letter.dead_reason.as_deref(), Some("max_attempts"));
        let shown = journal.show(letter.id).await.unwrap().unwrap();
        assert_eq!(shown.attempts.len(), 3);
        assert!(
            shown
                .attempts
                .iter()
                .all(|a| a.error.as_deref().is_some_and(|e| e.contains("down")))
        );
    }
    assert!(delivered(&read_attempts(&record(dir.path()))).is_empty());

    let discarded = letters[0].id;
    assert!(journal.discard(discarded).await.unwrap());
    assert!(journal.show(discarded).await.unwrap().is_none());
    std::fs::remove_file(&broken).unwrap();
    let retried = journal
        .retry(RetryTarget::AllDead {
            handler: "flaky".into(),
        })
        .await
        .unwrap();
    assert_eq!(retried, 5);
    let log = record(dir.path());
    wait_until(
        Duration::from_secs(10),
        "the retried letters delivered",
        || delivered(&read_attempts(&log)).len() == 5,
    )
    .await;
    let attempts = read_attempts(&log);
    assert!(attempts.iter().all(|a| a.delivery != discarded || !a.ok));
    let series = "chathook_dead_letters_total{handler=\"flaky\"}";
    assert_eq!(server.metric(series).await, 6.0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn ordered_delivery_holds_back_only_the_failing_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "").unwrap();
    let settings = json!({"fail_while": broken, "fail_group": "@TGS#stuck"});
    let queue = json!({"ordered": true, "concurrency": 8, "max_attempts": 1000});
    let server = TestServer::start(queued_config(dir.path(), settings, queue)).await;
    for seq in 0..5 {
        post_numbered(&server, "@TGS#stuck", seq..seq + 1).await;
        post_numbered(&server, "@TGS#flowing", seq..seq + 1).await;
    }
    let log = record(dir.path());
    let oks = |group: &str| -> Vec<u64> {
        read_attempts(&log)
            .into_iter()
            .filter(|a| a.ok && a.group.as_deref() == Some(group))
            .map(|a| a.seq.unwrap())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while oks("@TGS#flowing").len() != 5 {
        assert!(
            Instant::now() < deadline,
            "flowing group not delivered: {:#?}",
            read_attempts(&log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(oks("@TGS#flowing"), [0, 1, 2, 3, 4], "in arrival order");
    // The stuck group's head is retried; nothing behind it is attempted meanwhile.
    wait_until(Duration::from_secs(5), "the head retried", || {
        read_attempts(&log)
            .iter()
            .filter(|a| a.group.as_deref() == Some("@TGS#stuck"))
            .count()
            >= 3
    })
    .await;
    let stuck: Vec<u64> = read_attempts(&log)
        .into_iter()
        .filter(|a| a.group.as_deref() == Some("@TGS#stuck"))
        .map(|a| a.seq.unwrap())
        .collect();
    assert!(
        stuck.iter().all(|seq| *seq == 0),
        "only the head is tried: {stuck:?}"
    );
    std::fs::remove_file(&broken).unwrap();
    wait_until(Duration::from_secs(10), "the stuck group delivered", || {
        oks("@TGS#stuck").len() == 5
    })
    .await;
    assert_eq!(oks("@TGS#stuck"), [0, 1, 2, 3, 4]);
    // One at a time: no two attempts of the group overlapped.
    let mut spans: Vec<(u128, u128)> = read_attempts(&log)
        .into_iter()
        .filter(|a| a.group.as_deref() == Some("@TGS#stuck"))
        .map(|a| (a.start_ms, a.end_ms))
        .collect();
    spans.sort_unstable();
    assert!(
        spans.windows(2).all(|pair| pair[0].1 <= pair[1].0),
        "{spans:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_journal_answers_500_and_is_not_ready_and_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "").unwrap();
    let mut config = queued_config(
        dir.path(),
        json!({"fail_while": broken}),
        json!({"max_attempts": 1000}),
    );
    config.journal.max_entries = 5;
    let server = TestServer::start(config).await;
    post_numbered(&server, "@TGS#full", 0..5).await;
    let refused = server
        .post(&fresh_query(COMMAND), numbered_body("@TGS#full", 5))
        .await;
    assert_fail(&refused, 500, 50003, "journal");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let (status, text) = server.get("/readyz").await;
        if status == 503 {
            break text;
        }
        assert!(Instant::now() < deadline, "still ready: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["journal"]["status"], "not ready", "{ready}");
    assert!(
        ready["journal"]["problem"]
            .as_str()
            .unwrap()
            .contains("max_entries"),
        "{ready}"
    );

    std::fs::remove_file(&broken).unwrap();
    let log = record(dir.path());
    wait_until(
        Duration::from_secs(10),
        "the acknowledged five delivered",
        || delivered(&read_attempts(&log)).len() == 5,
    )
    .await;
    let seqs: std::collections::BTreeSet<u64> = read_attempts(&log)
        .into_iter()
        .filter(|a| a.ok)
        .map(|a| a.seq.unwrap())
        .collect();
    assert_eq!(seqs, (0..5).collect());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn replay_redelivers_exactly_the_entries_of_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(queued_config(dir.path(), json!({}), json!({}))).await;
    let log = record(dir.path());
    post_numbered(&server, "@TGS#replay", 0..3).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let since = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    post_numbered(&server, "@TGS#replay", 3..7).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let until = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    post_numbered(&server, "@TGS#replay", 7..10).await;
    wait_until(Duration::from_secs(10), "the first delivery of all", || {
        delivered(&read_attempts(&log)).len() == 10
    })
    .await;
    let journal = journal_of(dir.path()).await;
    let request = ReplayRequest {
        handler: "flaky".into(),
        since,
        until,
        command: None,
    };
    assert_eq!(journal.replay(request).await.unwrap(), 4);
    wait_until(
        Duration::from_secs(10),
        "the replayed four delivered",
        || read_attempts(&log).iter().filter(|a| a.ok).count() == 14,
    )
    .await;
    let mut again: Vec<u64> = Vec::new();
    for (key, count) in delivered(&read_attempts(&log)) {
        if count == 2 {
            let seq = read_attempts(&log)
                .into_iter()
                .find(|a| a.key == key)
                .unwrap()
                .seq;
            again.push(seq.unwrap());
        }
    }
    again.sort_unstable();
    assert_eq!(again, [3, 4, 5, 6]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_chat_redelivery_of_the_same_body_is_journaled_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(queued_config(dir.path(), json!({}), json!({}))).await;
    let body = numbered_body("@TGS#dup", 1);
    for _ in 0..3 {
        let reply = server.post(&fresh_query(COMMAND), body.clone()).await;
        assert_eq!(reply.0, 200, "{}", reply.1);
    }
    let log = record(dir.path());
    wait_until(Duration::from_secs(10), "delivered", || {
        !read_attempts(&log).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = read_attempts(&log);
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unwritable_journal_answers_500_within_the_deadline_and_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let config = queued_config(dir.path(), json!({}), json!({}));
    let url = config.journal.database_url.clone();
    let server = TestServer::start(config).await;
    post_numbered(&server, "@TGS#locked", 0..3).await;
    // Another process holds SQLite's write lock: nothing can commit.
    let blocker = lock_sqlite(&url).await;
    let started = Instant::now();
    let refused = server
        .post(&fresh_query(COMMAND), numbered_body("@TGS#locked", 3))
        .await;
    assert_fail(&refused, 500, 50003, "journal");
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "answered after Chat's deadline: {:?}",
        started.elapsed()
    );
    let (status, text) = server.get("/readyz").await;
    assert_eq!(status, 503, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["journal"]["status"], "not ready", "{ready}");
    drop(blocker);
    post_numbered(&server, "@TGS#locked", 4..5).await;
    let log = record(dir.path());
    wait_until(
        Duration::from_secs(15),
        "every acknowledged callback delivered",
        || {
            let seqs: std::collections::BTreeSet<u64> = read_attempts(&log)
                .into_iter()
                .filter(|a| a.ok)
                .filter_map(|a| a.seq)
                .collect();
            [0, 1, 2, 4].iter().all(|seq| seqs.contains(seq))
        },
    )
    .await;
    let (status, text) = server.get("/readyz").await;
    assert_eq!(status, 200, "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_queued_observer_of_a_before_callback_gets_the_decision_chat_got() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = queued_config(
        dir.path(),
        json!({"commands": ["Group.CallbackBeforeSendMsg"]}),
        json!({}),
    );
    enable(&mut config, "denier", json!({"fallback": "deny"}));
    let server = TestServer::start(config).await;
    let command = "Group.CallbackBeforeSendMsg";
    let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
    assert_eq!(status, 200, "{reply}");
    let code = reply["ErrorCode"].as_u64().unwrap();
    assert_ne!(code, 0, "the deny fallback answered: {reply}");
    let log = record(dir.path());
    wait_until(Duration::from_secs(10), "the observer called", || {
        !read_attempts(&log).is_empty()
    })
    .await;
    let attempts = read_attempts(&log);
    assert_eq!(attempts[0].decision, Some(code as u32), "{attempts:?}");
    server.stop().await.unwrap();
}
