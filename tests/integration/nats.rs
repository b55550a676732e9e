//! The `nats` plugin against a real NATS server: subjects, bodies and headers, duplicates, an
//! outage in the middle of a load, a `kill -9` while NATS is down, the spool bound, oversized
//! bodies.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chathook_cli::fixtures::FIXTURES;
use chathook_nats::{CLIENT_IP, MSG_ID, OPT_PLATFORM, RECEIVED_AT, REQUEST_TIME, message_id};
use chathook_tests::nats::{OwnNats, SHARED_NATS, delete_stream, read_stream, unique_stream};
use chathook_tests::process::{APP_TOML, RunningBinary, block_on, clean_command, write_config};
use chathook_tests::*;
use serde_json::{Value, json};

const AFTER: &str = "Group.CallbackAfterSendMsg";

/// chathook with the nats plugin (and nothing else) on `url`.
fn nats_config(
    url: &str,
    prefix: &str,
    stream: &str,
    spool: &Path,
    extra: Value,
) -> chathook_core::Config {
    let mut table = json!({
        "servers": [url],
        "subject_prefix": prefix,
        "stream": stream,
        "spool_path": spool,
        "connect_timeout_ms": 500,
    });
    for (key, value) in extra.as_object().expect("an object") {
        table[key] = value.clone();
    }
    let mut config = base_config();
    enable(&mut config, "nats", table);
    config
}

/// Waits until `check` holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// chathook publishing into a stream of its own on the shared NATS server.
struct OnSharedNats {
    server: TestServer,
    prefix: String,
    stream: String,
    _spool: tempfile::TempDir,
}

impl OnSharedNats {
    async fn start(test: &str, extra: Value) -> Self {
        let (prefix, stream) = unique_stream(test);
        let spool = tempfile::tempdir().unwrap();
        let config = nats_config(
            SHARED_NATS,
            &prefix,
            &stream,
            &spool.path().join("spool.db"),
            extra,
        );
        Self {
            server: TestServer::start(config).await,
            prefix,
            stream,
            _spool: spool,
        }
    }

    async fn stored(&self) -> Vec<chathook_tests::nats::Stored> {
        read_stream(SHARED_NATS, &self.stream).await
    }
}

impl Drop for OnSharedNats {
    fn drop(&mut self) {
        let stream = self.stream.clone();
        // Tests clean up the streams they made on the shared server.
        std::thread::spawn(move || block_on(delete_stream(SHARED_NATS, &stream)))
            .join()
            .ok();
    }
}

async fn readyz(server: &TestServer) -> (u16, Value) {
    let (status, body) = server.get("/readyz").await;
    (status, serde_json::from_str(&body).expect("readyz is JSON"))
}

#[tokio::test]
async fn every_family_lands_on_its_subject_with_body_and_headers_intact() {
    let nats = OnSharedNats::start("families", json!({})).await;
    let (server, prefix) = (&nats.server, &nats.prefix);

    let mut sent = BTreeMap::new();
    for (command, body) in FIXTURES {
        let time = now();
        let query = signed_query(command, TOKEN, time);
        let (status, reply) = server.post(&query, *body).await;
        assert_eq!(status, 200, "{command}: {reply}");
        sent.insert(
            format!("{prefix}.{APP_ID}.{command}"),
            (*command, *body, time),
        );
    }
    // Before-callbacks are observed, and may be published just after Chat's answer.
    let mut stored = Vec::new();
    eventually(
        Duration::from_secs(10),
        "every callback stored",
        async || {
            stored = nats.stored().await;
            stored.len() >= sent.len()
        },
    )
    .await;
    assert_eq!(stored.len(), sent.len());
    let families: HashSet<&str> = FIXTURES
        .iter()
        .map(|(c, _)| c.split('.').next().unwrap())
        .collect();
    assert!(families.len() >= 10, "{families:?}");
    for message in &stored {
        let (command, body, time) = sent
            .get(&message.subject)
            .unwrap_or_else(|| panic!("unexpected subject {}", message.subject));
        assert_eq!(
            message.payload,
            body.as_bytes(),
            "{command}: body as Chat sent it"
        );
        assert_eq!(
            message.header(REQUEST_TIME),
            Some(time.to_string().as_str())
        );
        assert_eq!(message.header(CLIENT_IP), Some("127.0.0.1"));
        assert_eq!(message.header(OPT_PLATFORM), Some("Android"));
        assert_eq!(
            message.header(MSG_ID),
            Some(message_id(APP_ID, command, body.as_bytes()).as_str())
        );
        let received: u128 = message.header(RECEIVED_AT).unwrap().parse().unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            received <= now_ms && now_ms - received < 60_000,
            "{received}"
        );
    }
    let published = server.metric("chathook_nats_published_total").await;
    assert_eq!(published, sent.len() as f64);
}

#[tokio::test]
async fn a_duplicate_delivery_is_stored_once() {
    let nats = OnSharedNats::start("duplicate", json!({})).await;
    let server = &nats.server;
    // Chat's second delivery is signed anew, with another RequestTime: the body is the same.
    for time in [now() - 1, now()] {
        let (status, reply) = server
            .post(&signed_query(AFTER, TOKEN, time), fixture(AFTER))
            .await;
        assert_eq!(status, 200, "{reply}");
    }
    assert_eq!(nats.stored().await.len(), 1);
    assert_eq!(server.metric("chathook_nats_duplicates_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stopped_mid_load_loses_nothing_and_keeps_each_publishers_order() {
    let mut nats = OwnNats::start();
    let (prefix, stream) = unique_stream("outage");
    let spool = tempfile::tempdir().unwrap();
    let config = nats_config(
        &nats.url(),
        &prefix,
        &stream,
        &spool.path().join("spool.db"),
        json!({ "publish_timeout_ms": 300 }),
    );
    let server = std::sync::Arc::new(TestServer::start(config).await);
    const PUBLISHERS: usize = 8;
    const EACH: usize = 150;
    let mut load = tokio::task::JoinSet::new();
    for publisher in 0..PUBLISHERS {
        let server = std::sync::Arc::clone(&server);
        load.spawn(async move {
            let mut acknowledged = Vec::new();
            for seq in 0..EACH {
                let body = json!({
                    "CallbackCommand": AFTER,
                    "GroupId": format!("@TGS#publisher{publisher}"),
                    "Seq": seq,
                })
                .to_string();
                let (status, _) = server.post(&fresh_query(AFTER), body).await;
                if status == 200 {
                    acknowledged.push(seq);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (publisher, acknowledged)
        });
    }
    // Mid-load: NATS goes away for a second, then comes back on the same store.
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nats.restart();
    let mut acknowledged = BTreeMap::new();
    while let Some(done) = load.join_next().await {
        let (publisher, seqs) = done.unwrap();
        acknowledged.insert(publisher, seqs);
    }
    let total: usize = acknowledged.values().map(Vec::len).sum();
    assert_eq!(total, PUBLISHERS * EACH, "every callback was acknowledged");
    assert!(
        server.metric("chathook_nats_spooled_total").await > 0.0,
        "the outage was meant to make chathook spool"
    );
    eventually(Duration::from_secs(30), "the spool drained", async || {
        let (_, ready) = readyz(&server).await;
        ready["details"]["nats"]["spool"]["entries"] == 0
            && ready["details"]["nats"]["mode"] == "direct"
    })
    .await;
    let stored = read_stream(&nats.url(), &stream).await;
    let mut seen: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for message in &stored {
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        let publisher: usize = body["GroupId"].as_str().unwrap()["@TGS#publisher".len()..]
            .parse()
            .unwrap();
        seen.entry(publisher)
            .or_default()
            .push(body["Seq"].as_u64().unwrap() as usize);
    }
    for (publisher, seqs) in &acknowledged {
        // Exactly once each, none missing, in the order that publisher sent them.
        assert_eq!(seen.get(publisher), Some(seqs), "publisher {publisher}");
    }
    assert_eq!(stored.len(), total);
    let drained = server.metric("chathook_nats_drained_total").await;
    assert!(drained > 0.0);
}

/// The test server binary with `tables` after the file app.
fn serve_binary(dir: &Path, tables: &str) -> RunningBinary {
    let config = write_config(dir, &format!("{APP_TOML}{tables}"));
    let mut command = clean_command(server_binary!(), dir);
    command.arg("--config").arg(config);
    RunningBinary::spawn(command)
}

fn nats_table(url: &str, prefix: &str, stream: &str, extra: &str) -> String {
    format!(
        "[handlers.nats]\nenabled = true\nservers = [\"{url}\"]\nsubject_prefix = \"{prefix}\"\n\
         stream = \"{stream}\"\nspool_path = \"spool/nats.db\"\nconnect_timeout_ms = 300\n{extra}"
    )
}

fn post_file_app(server: &RunningBinary, body: String) -> u16 {
    let url = server.url(&format!(
        "/callback?{}",
        signed_query(AFTER, "file-token", now())
    ));
    block_on(async {
        reqwest::Client::new()
            .post(url)
            .body(body)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    })
}

#[test]
fn the_spool_survives_kill_9_while_nats_is_down_and_drains_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = OwnNats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (prefix, stream) = unique_stream("kill9");
    let tables = nats_table(&url, &prefix, &stream, "");
    // NATS is down from the start: every callback goes to the spool.
    let server = serve_binary(dir.path(), &tables);
    for seq in 0..20 {
        let body = json!({ "CallbackCommand": AFTER, "Seq": seq }).to_string();
        assert_eq!(post_file_app(&server, body), 200, "callback {seq}");
    }
    server.signal("KILL");
    drop(server);

    // What is left is there for an operator to see.
    let config = dir.path().join("chathook.toml");
    let shown = clean_command(server_binary!(), dir.path())
        .args(["nats", "spool", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        stdout.contains("spool spool/nats.db: 20 entries"),
        "{stdout}"
    );

    let nats = OwnNats::on(port);
    let server = serve_binary(dir.path(), &tables);
    // Said at start-up, before `listening`.
    assert!(
        server
            .log
            .iter()
            .any(|line| line.contains("the spool holds callbacks from before")),
        "{}",
        server.log.join("\n")
    );
    block_on(eventually(
        Duration::from_secs(30),
        "the spool drained",
        async || read_stream(&nats.url(), &stream).await.len() == 20,
    ));
    let stored = block_on(read_stream(&nats.url(), &stream));
    let seqs: Vec<u64> = stored
        .iter()
        .map(|m| {
            serde_json::from_slice::<Value>(&m.payload).unwrap()["Seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "in arrival order");
    let _ = server.stop();
}

#[test]
fn the_spool_bound_answers_500_and_not_ready_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = OwnNats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (prefix, stream) = unique_stream("bound");
    // A JetStream request times out (publish_timeout_ms) before start-up stops waiting for
    // NATS (connect_timeout_ms): still a NATS that is down, not a misconfigured stream.
    let tables = nats_table(
        &url,
        &prefix,
        &stream,
        "spool_max_entries = 3\npublish_timeout_ms = 100\n",
    );
    let mut server = serve_binary(dir.path(), &tables);
    let body = |seq: u32| json!({ "CallbackCommand": AFTER, "Seq": seq }).to_string();
    for seq in 0..3 {
        assert_eq!(post_file_app(&server, body(seq)), 200);
    }
    assert_eq!(post_file_app(&server, body(3)), 500, "past the bound");
    server.next_event("handler failed: the spool is full (3 entries");
    let readyz = || {
        block_on(async {
            let response = reqwest::get(server.url("/readyz")).await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        })
    };
    let (status, body_json) = readyz();
    assert_eq!(status, 503, "{body_json}");
    assert_eq!(body_json["handlers"]["nats"], "not ready");
    assert_eq!(body_json["details"]["nats"]["spool"]["entries"], 3);

    // NATS comes: the spool drains, chathook is ready again and takes callbacks.
    let nats = OwnNats::on(port);
    block_on(eventually(
        Duration::from_secs(30),
        "ready again",
        async || reqwest::get(server.url("/readyz")).await.unwrap().status() == 200,
    ));
    assert_eq!(post_file_app(&server, body(4)), 200);
    block_on(eventually(
        Duration::from_secs(10),
        "all four stored",
        async || read_stream(&nats.url(), &stream).await.len() == 4,
    ));
    let _ = server.stop();
}

#[tokio::test]
async fn oversized_bodies_are_rejected_or_skipped_as_configured_and_counted() {
    for (oversized, status, action) in [("reject", 500, "rejected"), ("skip", 200, "skipped")] {
        let test = format!("oversized_{oversized}");
        let nats = OnSharedNats::start(&test, json!({ "oversized": oversized })).await;
        let server = &nats.server;
        // 1.5 MiB: under chathook's 4 MiB body limit, over NATS's 1 MiB max_payload.
        let big = json!({ "CallbackCommand": AFTER, "Pad": "x".repeat(1536 * 1024) }).to_string();
        let (got, reply) = server.post(&fresh_query(AFTER), big).await;
        assert_eq!(got, status, "{oversized}: {reply}");
        let counted = format!(r#"chathook_nats_oversized_total{{action="{action}"}}"#);
        assert_eq!(server.metric(&counted).await, 1.0, "{oversized}");
        // The next, ordinary callback is published as usual.
        let (got, _) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
        assert_eq!(got, 200);
        assert_eq!(
            nats.stored().await.len(),
            1,
            "{oversized}: only the ordinary one is in the stream"
        );
        assert_eq!(server.metric("chathook_nats_spooled_total").await, 0.0);
    }
}

#[tokio::test]
async fn a_stream_that_does_not_take_chathooks_subjects_is_a_start_up_error() {
    let (prefix, stream) = unique_stream("check");
    let spool = tempfile::tempdir().unwrap();
    let config = nats_config(
        SHARED_NATS,
        &prefix,
        &stream,
        &spool.path().join("spool.db"),
        json!({ "stream_setup": "check" }),
    );
    let error = match TestServer::try_start(config).await {
        Ok(_) => panic!("started without its stream"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with(&format!(
            "handler nats failed to build: stream {stream} is not usable"
        )),
        "{error}"
    );
}

#[test]
fn chathook_nats_spool_drain_publishes_a_stopped_chathooks_spool() {
    let dir = tempfile::tempdir().unwrap();
    let port = OwnNats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (prefix, stream) = unique_stream("drain_cli");
    let server = serve_binary(dir.path(), &nats_table(&url, &prefix, &stream, ""));
    for seq in 0..5 {
        let body = json!({ "CallbackCommand": AFTER, "Seq": seq }).to_string();
        assert_eq!(post_file_app(&server, body), 200);
    }
    let spool_tool = |drain: bool| {
        let mut command = clean_command(server_binary!(), dir.path());
        command
            .args(["nats", "spool", "--config"])
            .arg(dir.path().join("chathook.toml"));
        if drain {
            command.arg("--drain");
        }
        command.output().unwrap()
    };
    let stdout = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // While chathook runs, the spool can be looked at but not drained from outside.
    assert!(stdout(spool_tool(false)).contains("5 entries"));
    let refused = spool_tool(true);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is in use by another process (a running chathook drains its own spool"),
        "{stderr}"
    );
    let (status, _) = server.stop();
    assert!(status.success());

    let nats = OwnNats::on(port);
    let spool_tool = |drain: bool| stdout(spool_tool(drain));
    let drained = spool_tool(true);
    assert!(drained.contains("5 entries"), "{drained}");
    assert!(
        drained.contains(&format!("published 5 spooled callbacks to stream {stream}")),
        "{drained}"
    );
    assert!(spool_tool(false).contains("0 entries"));
    let stored = block_on(read_stream(&nats.url(), &stream));
    let seqs: Vec<u64> = stored
        .iter()
        .map(|m| {
            serde_json::from_slice::<Value>(&m.payload).unwrap()["Seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_stream_deleted_under_chathook_is_created_again_and_nothing_is_lost() {
    let nats = OnSharedNats::start("recreated", json!({})).await;
    let server = &nats.server;
    let (status, _) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    assert_eq!(status, 200);
    delete_stream(SHARED_NATS, &nats.stream).await;
    let body = json!({ "CallbackCommand": AFTER, "After": "deletion" }).to_string();
    let (status, reply) = server.post(&fresh_query(AFTER), body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    let mut stored = Vec::new();
    eventually(
        Duration::from_secs(10),
        "the stream made again",
        async || {
            stored = nats.stored().await;
            !stored.is_empty()
        },
    )
    .await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payload, body.as_bytes());
}

#[tokio::test]
async fn a_jetstream_that_stops_answering_is_spooled_within_the_handler_deadline() {
    let (prefix, stream) = unique_stream("blackhole");
    let proxy = chathook_tests::proxy::FaultProxy::start("127.0.0.1:4222".parse().unwrap()).await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = nats_config(
        &format!("nats://{}", proxy.addr()),
        &prefix,
        &stream,
        &spool.path().join("spool.db"),
        // Longer than the whole handler deadline: the deadline, not this, must bound the wait.
        json!({ "publish_timeout_ms": 1500 }),
    );
    config.dispatch.handler_timeout_ms = 400;
    let server = TestServer::start(config).await;
    let (status, _) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    assert_eq!(status, 200);
    // The connection stays open and says nothing: no error, no acknowledgement.
    proxy.blackhole();
    let body = json!({ "CallbackCommand": AFTER, "During": "blackhole" }).to_string();
    let (status, reply) = server.post(&fresh_query(AFTER), body).await;
    assert_eq!(status, 200, "spooled in time: {reply}");
    assert_eq!(server.metric("chathook_nats_spooled_total").await, 1.0);
    assert_eq!(
        server
            .metric(r#"chathook_handler_results_total{handler="nats",command="Group.CallbackAfterSendMsg",result="ok"}"#)
            .await,
        2.0
    );
    proxy.heal();
    drop(server);
    delete_stream(SHARED_NATS, &stream).await;
}

#[tokio::test]
async fn credentials_are_used_and_refused_ones_stop_the_start_up() {
    let nats = OwnNats::with_args(
        OwnNats::free_port(),
        &["--user", "chathook", "--pass", "s3cret"],
    );
    let (prefix, stream) = unique_stream("credentials");
    let spool = tempfile::tempdir().unwrap();
    let config = |password: &str| {
        nats_config(
            &nats.url(),
            &prefix,
            &stream,
            // A spool each: the first server's stays locked while its task lives on.
            &spool.path().join(format!("{password}.db")),
            json!({ "user": "chathook", "password": password }),
        )
    };
    let server = TestServer::start(config("s3cret")).await;
    let (status, _) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    assert_eq!(status, 200);
    assert_eq!(server.metric("chathook_nats_published_total").await, 1.0);
    drop(server);

    let error = match TestServer::try_start(config("wrong")).await {
        Ok(_) => panic!("started with refused credentials"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(&format!(
            "NATS at {} refused chathook's credentials",
            nats.url()
        )),
        "{error}"
    );
    assert!(
        !error.contains("wrong"),
        "the password is never shown: {error}"
    );
}

#[tokio::test]
async fn line_breaks_in_the_query_cannot_stop_the_drainer() {
    let port = OwnNats::free_port();
    let (prefix, stream) = unique_stream("crlf");
    let spool = tempfile::tempdir().unwrap();
    let config = nats_config(
        &format!("nats://127.0.0.1:{port}"),
        &prefix,
        &stream,
        &spool.path().join("spool.db"),
        json!({ "connect_timeout_ms": 200 }),
    );
    let server = TestServer::start(config).await;
    // ClientIP and OptPlatform are not signed: a replayed URL can carry anything in them.
    let query =
        fresh_query(AFTER).replace("ClientIP=127.0.0.1", "ClientIP=1.2.3.4%0D%0AX-Forged:%201");
    for body in [
        fixture(AFTER),
        json!({ "CallbackCommand": AFTER, "N": 2 }).to_string(),
    ] {
        let (status, reply) = server.post(&query, body).await;
        assert_eq!(status, 200, "spooled: {reply}");
    }
    let nats = OwnNats::on(port);
    let mut stored = Vec::new();
    eventually(Duration::from_secs(20), "both drained", async || {
        stored = read_stream(&nats.url(), &stream).await;
        stored.len() == 2
    })
    .await;
    assert_eq!(stored[0].header(CLIENT_IP), Some("1.2.3.4  X-Forged: 1"));
    assert!(stored[0].header("X-Forged").is_none());
}

#[tokio::test]
async fn as_an_observer_it_never_holds_up_the_decision() {
    let (prefix, stream) = unique_stream("observer");
    let proxy = chathook_tests::proxy::FaultProxy::start("127.0.0.1:4222".parse().unwrap()).await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = nats_config(
        &format!("nats://{}", proxy.addr()),
        &prefix,
        &stream,
        &spool.path().join("spool.db"),
        json!({ "publish_timeout_ms": 1000 }),
    );
    // probe decides Group.CallbackBeforeSendMsg; nats (decides = false by its registration)
    // observes it.
    enable(&mut config, "probe", json!({ "decide": 1 }));
    let server = TestServer::start(config).await;
    proxy.blackhole();
    let before = "Group.CallbackBeforeSendMsg";
    let (status, reply) = server.post(&fresh_query(before), fixture(before)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["ErrorCode"], 1, "probe's decision: {reply}");
    // The answer came while nats was still waiting for JetStream: nothing is spooled yet.
    assert_eq!(server.metric("chathook_nats_spooled_total").await, 0.0);
    eventually(
        Duration::from_secs(5),
        "the observer spooled it",
        async || server.metric("chathook_nats_spooled_total").await == 1.0,
    )
    .await;
    assert_eq!(server.metric("chathook_nats_spool_entries").await, 1.0);
    proxy.heal();
    drop(server);
    delete_stream(SHARED_NATS, &stream).await;
}
