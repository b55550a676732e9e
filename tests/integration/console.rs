//! The recent-callbacks buffer over real HTTP: `/api/v1/callbacks` and its filters, the live
//! stream, a stalled reader, counts, the overview, and that no record carries a secret.

use std::time::Duration;

use chathook_core::auth::sign;
use chathook_tests::*;
use serde_json::{Value, json};

const AFTER: &str = "Group.CallbackAfterSendMsg";
const BEFORE: &str = "Group.CallbackBeforeSendMsg";
const UNROUTED: &str = "State.StateChange";
const UNKNOWN_APP_ID: u64 = 1_400_000_777;

/// How long a test waits for something the server does at once.
const PATIENCE: Duration = Duration::from_secs(10);

fn tag(test: &str) -> String {
    format!("console-{test}-{}", std::process::id())
}

async fn api(server: &TestServer, path: &str) -> (u16, Value) {
    let response = server
        .client
        .get(server.url(path))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

async fn callbacks(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, body) = api(server, &format!("/api/v1/callbacks?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["callbacks"].as_array().expect("callbacks").clone()
}

fn commands_of(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record["command"].as_str().unwrap_or("-"))
        .collect()
}

/// A query signed with a token the app does not have, `age` seconds ago.
fn forged_query(command: &str, age: u64) -> String {
    signed_query(command, "not-the-token", now() - age)
}

fn unknown_app_query(command: &str) -> String {
    format!("SdkAppid={UNKNOWN_APP_ID}&CallbackCommand={command}&contenttype=json")
}

/// Reads Server-Sent Events from a streaming response.
struct Events {
    response: reqwest::Response,
    pending: String,
}

#[derive(Debug)]
struct Event {
    name: String,
    id: Option<String>,
    data: String,
}

impl Events {
    async fn open(server: &TestServer, query: &str) -> Self {
        let response = server
            .client
            .get(server.url(&format!("/api/v1/callbacks/stream?{query}")))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("stream opened");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        let mut events = Self {
            response,
            pending: String::new(),
        };
        let open = events.next().await.expect("an open event");
        assert_eq!(open.name, "open", "{open:?}");
        events
    }

    /// The next event, or `None` when the stream ended or nothing came within [`PATIENCE`].
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut event = Event {
                    name: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut fields = 0;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.name = name.trim().to_owned();
                        fields += 1;
                    } else if let Some(id) = line.strip_prefix("id:") {
                        event.id = Some(id.trim().to_owned());
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                        fields += 1;
                    }
                }
                // A keep-alive comment is a block with no fields.
                if fields > 0 {
                    return Some(event);
                }
                continue;
            }
            // A timeout, the end, or a connection cut at shutdown: no more events.
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `callback` event's record.
    async fn next_record(&mut self) -> Option<Value> {
        loop {
            let event = self.next().await?;
            if event.name == "callback" {
                let record: Value = serde_json::from_str(&event.data).expect("record JSON");
                assert_eq!(event.id.as_deref(), Some(&*record["id"].to_string()));
                return Some(record);
            }
        }
    }
}

fn with_recorder(config: &mut chathook_core::Config, which: &str, table: Value) {
    enable(config, &format!("recorder_{which}"), table);
}

#[tokio::test]
async fn records_say_what_happened_and_the_filters_select_them() {
    let tag = tag("fields");
    let mut config = base_config();
    // A 14 s old signature is checked, not refused as stale.
    config.auth.max_clock_skew_secs = 60;
    with_recorder(&mut config, "a", json!({ "commands": [AFTER], "tag": tag }));
    let server = TestServer::start(config).await;
    let started_ms = now() * 1000;

    assert_eq!(
        server.post(&fresh_query(AFTER), fixture(AFTER)).await.0,
        200
    );
    let unrouted = server.post(&fresh_query(UNROUTED), fixture(UNROUTED)).await;
    assert_eq!(unrouted.0, 200, "{:?}", unrouted.1);
    assert_eq!(
        server
            .post(&forged_query(AFTER, 14), fixture(AFTER))
            .await
            .0,
        401
    );
    assert_eq!(
        server
            .post(&unknown_app_query(AFTER), fixture(AFTER))
            .await
            .0,
        403
    );

    let all = callbacks(&server, "").await;
    assert_eq!(all.len(), 4, "{all:#?}");
    // Newest first.
    let ids: Vec<u64> = all.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [4, 3, 2, 1]);
    let (unknown, forged, unrouted, ok) = (&all[0], &all[1], &all[2], &all[3]);

    assert_eq!(ok["app"], "main");
    assert_eq!(ok["sdk_app_id"], APP_ID);
    assert_eq!(ok["command"], AFTER);
    assert_eq!(ok["kind"], "after");
    assert_eq!(ok["outcome"], "ok");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["client_ip"], "127.0.0.1");
    assert_eq!(ok["opt_platform"], "Android");
    assert_eq!(ok["body_bytes"], fixture(AFTER).len());
    assert!(ok.get("body").is_none(), "bodies are off by default: {ok}");
    assert!(ok["latency_ms"].as_f64().unwrap() > 0.0, "{ok}");
    assert!(ok["unix_ms"].as_u64().unwrap() >= started_ms, "{ok}");
    assert!(ok["time"].as_str().unwrap().ends_with('Z'), "{ok}");
    assert_eq!(ok["reason"], Value::Null);
    assert_eq!(ok["explanation"], Value::Null);
    let handler = &ok["handlers"][0];
    assert_eq!(handler["name"], "recorder_a");
    assert_eq!(handler["role"], "runs");
    assert_eq!(handler["result"], "ok");
    assert_eq!(handler["error"], Value::Null);

    assert_eq!(unrouted["outcome"], "unrouted");
    assert_eq!(unrouted["handlers"], json!([]));

    assert_eq!(forged["outcome"], "rejected");
    assert_eq!(forged["status"], 401);
    assert_eq!(forged["reason"], "sign_mismatch");
    assert_eq!(forged["error"], "Sign does not match any token of this app");
    assert_eq!(forged["app"], "main");
    // Unauthenticated: what it claims to be is not recorded.
    assert_eq!(forged["command"], Value::Null);
    assert_eq!(forged["client_ip"], Value::Null);
    let age = forged["request_age_secs"].as_i64().unwrap();
    assert!((14..=16).contains(&age), "{forged}");
    assert_eq!(
        forged["explanation"],
        format!("Sign mismatch: app main, RequestTime {age} s old")
    );

    assert_eq!(unknown["reason"], "unknown_app");
    assert_eq!(unknown["status"], 403);
    assert_eq!(unknown["app"], Value::Null);
    assert_eq!(unknown["sdk_app_id"], UNKNOWN_APP_ID);
    assert_eq!(
        unknown["explanation"],
        format!("Unknown app: SdkAppid {UNKNOWN_APP_ID}")
    );

    // Filters.
    assert_eq!(
        commands_of(&callbacks(&server, "command=Group.*").await),
        [AFTER]
    );
    assert_eq!(
        commands_of(&callbacks(&server, "command=*,!Group.*").await),
        [UNROUTED]
    );
    assert_eq!(
        commands_of(&callbacks(&server, "command=State.StateChange,Group.*:after").await),
        [UNROUTED, AFTER]
    );
    let rejected = callbacks(&server, "outcome=rejected").await;
    assert_eq!(rejected.len(), 2);
    assert_eq!(callbacks(&server, "outcome=ok,unrouted").await.len(), 2);
    assert_eq!(callbacks(&server, "app=main").await.len(), 3);
    assert_eq!(callbacks(&server, &format!("app={APP_ID}")).await.len(), 3);
    assert_eq!(
        callbacks(&server, &format!("app={UNKNOWN_APP_ID}"))
            .await
            .len(),
        1
    );
    assert_eq!(callbacks(&server, "app=nobody").await.len(), 0);
    assert_eq!(callbacks(&server, "after=2").await.len(), 2);
    assert_eq!(callbacks(&server, "limit=1").await[0]["id"], 4);
    assert_eq!(callbacks(&server, "since=1h").await.len(), 4);
    assert_eq!(
        callbacks(&server, &format!("since={}", now() + 60))
            .await
            .len(),
        0
    );
    assert_eq!(
        callbacks(
            &server,
            "since=2020-01-01T00:00:00Z&outcome=rejected&app=main"
        )
        .await
        .len(),
        1
    );

    for (query, words) in [
        (
            "outcome=fine",
            "outcome \"fine\" is not one of ok, fallback",
        ),
        ("command=Group.", "command Group."),
        ("since=yesterday", "RFC 3339"),
        ("after=-1", "after must be a non-negative integer"),
        ("limit=0", "limit must be at least 1"),
        ("colour=red", "unknown query parameter `colour`"),
    ] {
        let (status, body) = api(&server, &format!("/api/v1/callbacks?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["reason"], "api_bad_request", "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(words), "{query}: {error}");
    }

    let (status, _) = server.get("/api/v1/callbacks").await;
    assert_eq!(status, 401, "the list is behind the API token");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn failures_fallbacks_and_late_observers_are_recorded_per_handler() {
    let tag = tag("handlers");
    let mut config = base_config();
    config.dispatch.handler_timeout_ms = 500;
    with_recorder(
        &mut config,
        "a",
        json!({ "commands": [AFTER], "tag": tag, "fail": "error" }),
    );
    with_recorder(
        &mut config,
        "b",
        json!({ "commands": [AFTER, BEFORE], "tag": tag, "decides": true, "fail": "error" }),
    );
    with_recorder(
        &mut config,
        "c",
        json!({ "commands": [BEFORE], "tag": tag, "decides": false, "delay_ms": 300 }),
    );
    let server = TestServer::start(config).await;
    let mut stream = Events::open(&server, "").await;

    assert_eq!(
        server.post(&fresh_query(AFTER), fixture(AFTER)).await.0,
        500
    );
    let failed = &callbacks(&server, "").await[0];
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["status"], 500);
    assert_eq!(failed["reason"], "handler_failed");
    let handlers = failed["handlers"].as_array().unwrap();
    assert_eq!(handlers.len(), 2, "{failed}");
    for handler in handlers {
        assert_eq!(handler["result"], "failed", "{handler}");
        assert_eq!(handler["role"], "runs");
        let error = handler["error"].as_str().unwrap();
        let name = handler["name"].as_str().unwrap();
        assert_eq!(
            error,
            format!("failed: {name} could not forward the callback")
        );
    }
    let explanation = failed["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with(&format!(
            "Handler failed: app main, {AFTER}: recorder_a failed: "
        )),
        "{explanation}"
    );
    assert!(explanation.contains("recorder_b failed"), "{explanation}");

    // The decider fails, the fallback answers; the observer finishes after the answer.
    assert_eq!(
        server.post(&fresh_query(BEFORE), fixture(BEFORE)).await.0,
        200
    );
    let fallback = &callbacks(&server, "outcome=fallback").await[0];
    assert_eq!(fallback["kind"], "before");
    assert_eq!(fallback["reason"], "fallback");
    let roles: Vec<(&str, &str)> = fallback["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap(), h["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("recorder_b", "decides"), ("recorder_c", "observes")]
    );
    assert_eq!(fallback["handlers"][0]["result"], "failed");
    assert_eq!(
        fallback["handlers"][1]["result"],
        Value::Null,
        "still running"
    );
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let record = &callbacks(&server, "outcome=fallback").await[0];
        if record["handlers"][1]["result"] == "ok" {
            assert!(record["handlers"][1]["latency_ms"].as_f64().unwrap() >= 300.0);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{record}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The stream had the record when it was answered, then gets it again, whole, as an update.
    assert_eq!(stream.next_record().await.unwrap()["outcome"], "failed");
    let answered = stream.next_record().await.unwrap();
    assert_eq!(answered["outcome"], "fallback");
    let update = loop {
        let event = stream.next().await.expect("an update");
        if event.name == "update" {
            assert_eq!(event.id, None, "an update does not move a reader's last id");
            break serde_json::from_str::<Value>(&event.data).unwrap();
        }
    };
    assert_eq!(update["id"], answered["id"]);
    assert_eq!(update["handlers"][1]["name"], "recorder_c");
    assert_eq!(update["handlers"][1]["result"], "ok");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_stream_delivers_callbacks_sent_after_it_opened_and_resumes_after_an_id() {
    let mut config = base_config();
    set_console(&mut config, "capture_bodies", true);
    let server = TestServer::start(config).await;
    assert_eq!(
        server
            .post(&fresh_query(UNROUTED), fixture(UNROUTED))
            .await
            .0,
        200
    );

    let mut everything = Events::open(&server, "").await;
    let mut refusals = Events::open(&server, "outcome=rejected").await;
    assert_eq!(
        server.metric("chathook_console_streams").await,
        2.0,
        "both readers counted"
    );
    assert_eq!(
        server.post(&fresh_query(AFTER), fixture(AFTER)).await.0,
        200
    );
    assert_eq!(
        server.post(&forged_query(AFTER, 3), fixture(AFTER)).await.0,
        401
    );

    let first = everything
        .next_record()
        .await
        .expect("the unrouted callback");
    // Sent before the stream opened: not repeated.
    assert_eq!(first["id"], 2);
    assert_eq!(first["command"], AFTER);
    assert_eq!(first["body"], fixture(AFTER));
    assert_eq!(first["body_truncated"], false);
    let second = everything.next_record().await.expect("the refusal");
    assert_eq!(second["reason"], "sign_mismatch");
    let refusal = refusals.next_record().await.expect("the refusal");
    assert_eq!(refusal["id"], 3, "the filtered stream skips the ok one");

    // Resuming after id 1 sends what was buffered since, then goes on live.
    let mut resumed = Events::open(&server, "after=1").await;
    assert_eq!(resumed.next_record().await.unwrap()["id"], 2);
    assert_eq!(resumed.next_record().await.unwrap()["id"], 3);
    assert_eq!(
        server
            .post(&fresh_query(UNROUTED), fixture(UNROUTED))
            .await
            .0,
        200
    );
    assert_eq!(resumed.next_record().await.unwrap()["id"], 4);

    let (status, body) = api(&server, "/api/v1/callbacks/stream?outcome=late").await;
    assert_eq!(status, 400, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_stalled_stream_reader_slows_no_callback_and_is_told_what_it_missed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut config = base_config();
    set_console(&mut config, "capture_bodies", true);
    set_console(&mut config, "body_bytes", 64 * 1024);
    let server = TestServer::start(config).await;

    // A reader that asks and then reads nothing: its socket's small receive window fills, then
    // the server's send buffer, then its place in the feed.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut stalled = socket.connect(addr).await.expect("connect");
    stalled
        .write_all(
            format!(
                "GET /api/v1/callbacks/stream HTTP/1.1\r\nHost: chathook\r\n\
                 Authorization: Bearer {API_TOKEN}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while server.metric("chathook_console_streams").await < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // 1500 records of 60 KB: far more than the socket buffers and the feed's 1024 places.
    let padding = "x".repeat(60 * 1024);
    let body = json!({ "CallbackCommand": UNROUTED, "Info": {"Action": "Login"}, "Pad": padding })
        .to_string();
    let sent = 1500;
    for _ in 0..sent {
        // Were callbacks held up by the reader, this would fail rather than hang.
        let query = fresh_query(UNROUTED);
        let posted = server.post(&query, body.clone());
        let (status, reply) = tokio::time::timeout(PATIENCE, posted)
            .await
            .expect("a callback is answered while the reader stalls");
        assert_eq!(status, 200, "{reply}");
    }

    // Reading at last, it is told how many it missed.
    let mut text = Vec::new();
    let mut buffer = vec![0; 1 << 20];
    let missed = loop {
        let read = tokio::time::timeout(PATIENCE, stalled.read(&mut buffer))
            .await
            .expect("the stream goes on")
            .unwrap();
        assert!(read > 0, "the stream ended");
        text.extend_from_slice(&buffer[..read]);
        let seen = String::from_utf8_lossy(&text);
        if let Some(at) = seen.find("event: missed\ndata: ") {
            let rest = &seen[at + "event: missed\ndata: ".len()..];
            if let Some(end) = rest.find('\n') {
                let notice: Value = serde_json::from_str(&rest[..end]).unwrap();
                break notice["missed"].as_u64().unwrap();
            }
        }
        // Only the tail can hold a notice not yet seen whole.
        if text.len() > 1 << 21 {
            text.drain(..text.len() - 4096);
        }
    };
    assert!(missed > 0 && missed < sent, "missed {missed}");
    assert_eq!(
        server.metric("chathook_console_stream_missed_total").await as u64,
        missed,
        "counted once, as told"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn nothing_secret_appears_in_any_record() {
    let mut config = base_config();
    set_console(&mut config, "capture_bodies", true);
    let server = TestServer::start(config).await;
    let mut stream = Events::open(&server, "").await;
    let time = now();
    let current = signed_query(AFTER, TOKEN, time);
    let previous = signed_query(AFTER, OLD_TOKEN, time);
    let forged = signed_query(AFTER, "not-the-token", time);
    for query in [&current, &previous, &forged] {
        server.post(query, fixture(AFTER)).await;
    }
    let mut streamed = String::new();
    for _ in 0..3 {
        streamed.push_str(&stream.next_record().await.unwrap().to_string());
    }
    let (_, listed) = api(&server, "/api/v1/callbacks").await;
    let (_, overview) = api(&server, "/api/v1/overview").await;
    let everything = format!("{streamed}{listed}{overview}");
    for secret in [
        TOKEN.to_owned(),
        OLD_TOKEN.to_owned(),
        API_TOKEN.to_owned(),
        "not-the-token".to_owned(),
        sign(TOKEN, time),
        sign(OLD_TOKEN, time),
        sign("not-the-token", time),
        "Sign=".to_owned(),
        "RequestTime=".to_owned(),
    ] {
        assert!(!everything.contains(&secret), "{secret} in {everything}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn counts_and_the_overview_describe_the_service() {
    let tag = tag("overview");
    let mut config = base_config();
    with_recorder(&mut config, "a", json!({ "commands": [AFTER], "tag": tag }));
    let server = TestServer::start(config).await;
    server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    server.post(&forged_query(AFTER, 1), fixture(AFTER)).await;
    server.post(&forged_query(AFTER, 1), fixture(AFTER)).await;

    let (status, counts) = api(&server, "/api/v1/callbacks/counts?minutes=5").await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["bucket_secs"], 10);
    let buckets = counts["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 30);
    let sum = |key: &str, name: &str| -> u64 {
        buckets
            .iter()
            .filter_map(|bucket| bucket[key][name].as_u64())
            .sum()
    };
    assert_eq!(sum("outcomes", "ok"), 1);
    assert_eq!(sum("outcomes", "rejected"), 2);
    assert_eq!(sum("reasons", "sign_mismatch"), 2);
    let totals: u64 = buckets.iter().map(|b| b["total"].as_u64().unwrap()).sum();
    assert_eq!(totals, 3);
    let starts: Vec<u64> = buckets
        .iter()
        .map(|b| b["start_ms"].as_u64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|pair| pair[1] == pair[0] + 10_000),
        "{starts:?}"
    );
    let (status, body) = api(&server, "/api/v1/callbacks/counts?minutes=0").await;
    assert_eq!(status, 400, "{body}");

    let (status, overview) = api(&server, "/api/v1/overview").await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["recent"], 1000);
    assert_eq!(overview["capture_bodies"], false);
    assert!(
        overview["apps"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "main", "sdk_app_id": APP_ID}))
    );
    assert_eq!(overview["handlers"], json!([{"name": "recorder_a"}]));
    let routes = overview["routes"].as_array().unwrap();
    let after = routes.iter().find(|r| r["command"] == AFTER).unwrap();
    assert_eq!(after["enabled"], true);
    assert_eq!(after["kind"], "after");
    assert_eq!(after["open"], false);
    assert_eq!(after["decider"], Value::Null);
    let recorder = after["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "recorder_a")
        .unwrap();
    assert_eq!(recorder["role"], "runs");
    assert_eq!(recorder["source"], format!("config {AFTER:?}"));
    let unrouted = routes.iter().find(|r| r["command"] == UNROUTED).unwrap();
    assert_eq!(unrouted["enabled"], false);

    let page = server
        .client
        .get(server.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(page.text().await.unwrap().contains("/console/console.js"));
    let script = server
        .client
        .get(server.url("/console/console.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_buffer_off_the_api_and_the_page_say_so() {
    let mut config = base_config();
    set_console(&mut config, "recent", 0);
    let server = TestServer::start(config).await;
    server.post(&fresh_query(UNROUTED), fixture(UNROUTED)).await;
    for path in [
        "/api/v1/callbacks",
        "/api/v1/callbacks/stream",
        "/api/v1/overview",
    ] {
        let (status, body) = api(&server, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("[console] recent = 0"), "{error}");
    }
    let (status, page) = server.get("/console").await;
    assert_eq!(status, 404);
    assert!(
        page.contains("the recent-callbacks buffer is off ([console] recent = 0)"),
        "{page}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn open_streams_end_when_the_server_shuts_down() {
    let mut config = base_config();
    // Were the streams left open, stopping would wait this long for them.
    config.server.shutdown_timeout_ms = 120_000;
    let server = TestServer::start(config).await;
    let mut stream = Events::open(&server, "").await;
    tokio::time::timeout(PATIENCE, server.stop())
        .await
        .expect("shutdown does not wait for the stream")
        .unwrap();
    assert!(stream.next().await.is_none(), "the stream ended");
}

#[tokio::test]
async fn a_reader_resuming_after_records_the_buffer_no_longer_holds_is_told_how_many() {
    let mut config = base_config();
    set_console(&mut config, "recent", 3);
    let server = TestServer::start(config).await;
    for _ in 0..6 {
        assert_eq!(
            server
                .post(&fresh_query(UNROUTED), fixture(UNROUTED))
                .await
                .0,
            200
        );
    }
    // It saw record 1; 2 and 3 have left the buffer, which holds 4 to 6.
    let mut resumed = Events::open(&server, "after=1").await;
    let missed = resumed.next().await.unwrap();
    assert_eq!(missed.name, "missed", "{missed:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&missed.data).unwrap(),
        json!({"missed": 2})
    );
    for id in 4..=6 {
        assert_eq!(resumed.next_record().await.unwrap()["id"], id);
    }
    assert_eq!(
        server.metric("chathook_console_stream_missed_total").await,
        2.0
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_listed_record_keeps_its_fields_in_order_and_the_list_says_the_newest_id() {
    let server = TestServer::start(base_config()).await;
    server.post(&fresh_query(UNROUTED), fixture(UNROUTED)).await;
    server
        .post(&forged_query(UNROUTED, 1), fixture(UNROUTED))
        .await;
    let text = server
        .client
        .get(server.url("/api/v1/callbacks?outcome=unrouted"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["last_id"], 2, "the newest record, filtered or not");
    assert_eq!(listed["callbacks"].as_array().unwrap().len(), 1);
    let id = text.find("\"id\"").unwrap();
    let time = text.find("\"time\"").unwrap();
    let outcome = text.find("\"outcome\"").unwrap();
    let handlers = text.find("\"handlers\"").unwrap();
    assert!(id < time && time < outcome && outcome < handlers, "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_outlives_the_idle_timeout_while_it_is_read() {
    let mut config = base_config();
    config.server.idle_timeout_ms = 300;
    let server = TestServer::start(config).await;
    let mut stream = Events::open(&server, "").await;
    // Five idle timeouts with no callback: the keep-alives keep it open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        server
            .post(&fresh_query(UNROUTED), fixture(UNROUTED))
            .await
            .0,
        200
    );
    let record = stream
        .next_record()
        .await
        .expect("the stream is still open");
    assert_eq!(record["command"], UNROUTED);
    assert_eq!(
        server
            .metric(r#"chathook_connections_closed_total{reason="idle_timeout"}"#)
            .await,
        0.0
    );
    server.stop().await.unwrap();
}
