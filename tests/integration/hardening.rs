//! What an outside probe broke at the HTTP and process level, each case as the probe made it:
//! idle and slow clients, oversized requests, floods of bad input, signals, forged sources and
//! replayed signatures. Every wait is bounded, so a regression fails instead of hanging.

use std::process::Command;
use std::time::Duration;

use chathook_tests::process::{APP_TOML, RunningBinary, block_on, clean_command, write_config};
use chathook_tests::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const COMMAND: &str = "State.StateChange";
/// Generous bound on anything that should happen "soon".
const SOON: Duration = Duration::from_secs(10);

async fn connect(server: &TestServer) -> TcpStream {
    let addr = server.url("").trim_start_matches("http://").to_owned();
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection (bounded), and returns what came.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let read = timeout(SOON, stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&response).into_owned()
}

/// The JSON body of a raw HTTP response.
fn json_body(response: &str) -> Value {
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {response:?}"));
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{body:?} is not JSON: {error}"))
}

fn signed_request(body: &str) -> String {
    format!(
        "POST /callback?{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        fresh_query(COMMAND),
        body.len()
    )
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_counted() {
    let mut config = base_config();
    config.server.idle_timeout_ms = 300;
    let server = TestServer::start(config).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(signed_request(&fixture(COMMAND)).as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // Nothing more is sent: the server closes the connection after the idle timeout.
    read_to_close(&mut stream).await;
    assert_eq!(
        server
            .metric(r#"chathook_connections_closed_total{reason="idle_timeout"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn idle_connections_past_the_cap_are_refused_in_json_and_service_recovers() {
    let mut config = base_config();
    config.server.max_connections = 1000;
    config.server.header_read_timeout_ms = 1500;
    let server = TestServer::start(config).await;
    // More idle connections than the cap: the probe's 1,100 stopped all service.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(connect(&server).await);
    }
    let mut over = connect(&server).await;
    let refused = read_to_close(&mut over).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert_eq!(json_body(&refused)["ErrorCode"], 50301);
    // The idle ones are cut after the header timeout, and service resumes by itself.
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let reply = server
            .client
            .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
            .body(fixture(COMMAND))
            .send()
            .await;
        if let Ok(reply) = reply
            && reply.status() == 200
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "service never resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server
            .metric(r#"chathook_rejections_total{reason="connection_limit"}"#)
            .await
            >= 1.0
    );
    drop(idle);
}

#[tokio::test]
async fn unfinished_headers_get_a_408_in_json() {
    let mut config = base_config();
    config.server.header_read_timeout_ms = 300;
    let server = TestServer::start(config).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let response = read_to_close(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(json_body(&response)["ErrorCode"], 40801);
    assert_eq!(
        server
            .metric(r#"chathook_rejections_total{reason="header_timeout"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn an_unfinished_body_gets_a_408_in_json() {
    let mut config = base_config();
    config.server.body_read_timeout_ms = 300;
    let server = TestServer::start(config).await;
    let mut stream = connect(&server).await;
    let head = format!(
        "POST /callback?{} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"Info\"",
        fresh_query(COMMAND)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_to_close(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    let reply = json_body(&response);
    assert_eq!(reply["ErrorCode"], 40802, "{reply}");
    assert_eq!(
        server
            .metric(r#"chathook_rejections_total{reason="body_timeout"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn requests_hyper_refuses_are_answered_in_json_and_counted() {
    let mut config = base_config();
    config.server.max_header_bytes = 128 * 1024;
    let server = TestServer::start(config).await;
    let cases: [(Vec<u8>, &str, i64, &str); 3] = [
        (
            b"GARBAGE\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            40010,
            "malformed_request",
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            "HTTP/1.1 414",
            41401,
            "uri_too_long",
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n",
                "b".repeat(200_000)
            )
            .into_bytes(),
            "HTTP/1.1 431",
            43101,
            "headers_too_large",
        ),
    ];
    for (request, status_line, code, reason) in cases {
        let mut stream = connect(&server).await;
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(&request).await;
        let response = read_to_close(&mut stream).await;
        assert!(response.starts_with(status_line), "{response}");
        let reply = json_body(&response);
        assert_eq!(reply["ActionStatus"], "FAIL", "{reply}");
        assert_eq!(reply["ErrorCode"], code, "{reply}");
        let series = format!(r#"chathook_rejections_total{{reason="{reason}"}}"#);
        assert_eq!(server.metric(&series).await, 1.0, "{series}");
    }
}

#[tokio::test]
async fn axum_refusals_and_api_refusals_speak_json() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    let response = server
        .client
        .post(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(body["reason"], "method_not_allowed", "{body}");
    // A path parameter that is not UTF-8: the handler's typed extractor refuses it in the
    // API's format, with the table's reason.
    let response = server
        .client
        .get(server.url("/api/v1/probe/%FF%FE"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body["error"].as_str().unwrap().contains("UTF-8"), "{body}");
    assert_eq!(body["reason"], "api_bad_request", "{body}");
    assert_eq!(
        server
            .metric(r#"chathook_rejections_total{reason="api_bad_request"}"#)
            .await,
        1.0
    );
    assert_eq!(
        server
            .metric(r#"chathook_rejections_total{reason="method_not_allowed"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_client_that_sends_its_whole_oversized_body_first_still_reads_the_413() {
    let server = TestServer::start(base_config()).await;
    for chunked in [false, true] {
        let mut stream = connect(&server).await;
        let size = 5 * 1024 * 1024;
        let head = if chunked {
            format!(
                "POST /callback?{} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{size:x}\r\n",
                fresh_query(COMMAND)
            )
        } else {
            format!(
                "POST /callback?{} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n",
                fresh_query(COMMAND)
            )
        };
        let mut request = head.into_bytes();
        request.extend(std::iter::repeat_n(b' ', size));
        // The whole body goes out before the answer is read, as the probe's client did.
        let (mut reader, mut writer) = stream.split();
        let (written, response) = tokio::join!(async { writer.write_all(&request).await }, async {
            let mut response = Vec::new();
            timeout(SOON, reader.read_to_end(&mut response))
                .await
                .expect("bounded")
                .map(|_| response)
        });
        let _ = written;
        let response = String::from_utf8_lossy(&response.expect("no reset")).into_owned();
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
        assert_eq!(json_body(&response)["ErrorCode"], 41301);
        let _ = stream.shutdown().await;
    }
}

#[tokio::test]
async fn an_unauthenticated_sdk_app_id_is_never_echoed_whole() {
    let server = TestServer::start(base_config()).await;
    // As long as the header limit lets through.
    let huge = "9".repeat(10_000);
    let (status, reply) = server
        .post(&format!("SdkAppid={huge}&CallbackCommand={COMMAND}"), "{}")
        .await;
    assert_eq!(status, 400);
    let info = reply["ErrorInfo"].as_str().unwrap();
    assert!(info.len() < 200, "{info}");
    assert!(info.contains("(10000 bytes)"), "{info}");
}

/// The test server binary serving `config` (TOML) from a fresh directory.
fn binary(dir: &tempfile::TempDir, config: &str) -> Command {
    let path = write_config(dir.path(), config);
    let mut command = clean_command(server_binary!(), dir.path());
    command.arg("--config").arg(path);
    command
}

#[test]
fn a_flood_of_bad_requests_is_counted_but_logged_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{APP_TOML}[log]\nrejections_per_second = 5\n");
    let server = RunningBinary::spawn(binary(&dir, &config));
    let url = server.url(&format!("/callback?SdkAppid={}", "7".repeat(10_000)));
    block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let status = client.post(&url).body("{}").send().await.unwrap().status();
            assert_eq!(status, 400);
        }
        // The next second's first refusal reports what the budget held back.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client.post(&url).body("{}").send().await.unwrap();
    });
    let (_, log) = server.stop_within(SOON);
    let logged = log.matches("callback rejected").count();
    assert!((5..=11).contains(&logged), "{logged} refusal lines:\n{log}");
    assert!(log.contains("refusals were not logged"), "{log}");
    assert!(log.len() < 100_000, "the log grew to {} bytes", log.len());
}

#[test]
fn sighup_is_logged_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RunningBinary::spawn(binary(&dir, APP_TOML));
    server.signal("HUP");
    server.next_event("SIGHUP received and ignored");
    assert_eq!(get_status(&server.url("/healthz")), 200);
    let (status, _) = server.stop_within(SOON);
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_finishes_despite_a_half_sent_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{APP_TOML}[server]\nshutdown_timeout_ms = 500\n");
    let server = RunningBinary::spawn(binary(&dir, &config));
    let addr = server.addr.clone();
    let mut half_headers = std::net::TcpStream::connect(&addr).unwrap();
    let mut half_body = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::Write as _;
    half_headers
        .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let time = now();
    let query = format!(
        "SdkAppid=1400000000&CallbackCommand={COMMAND}&Sign={}&RequestTime={time}",
        chathook_core::auth::sign("file-token", time)
    );
    let head =
        format!("POST /callback?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{{");
    half_body.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (status, log) = server.stop_within(SOON);
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("shutdown deadline of 500 ms passed"), "{log}");
}

/// The status of a GET of `url`, from a test that is not async.
fn get_status(url: &str) -> u16 {
    block_on(async { reqwest::get(url).await.unwrap().status().as_u16() })
}

#[tokio::test]
async fn only_allowed_sources_may_call() {
    let mut config = base_config();
    config.auth.allowed_sources = vec!["10.0.0.0/8".parse().unwrap()];
    let server = TestServer::start(config).await;
    let reply = server.post(&fresh_query(COMMAND), fixture(COMMAND)).await;
    assert_fail(&reply, 403, 40302, "127.0.0.1 is not allowed");
    // Without a trusted proxy, X-Forwarded-For is the client's own word: ignored.
    let response = server
        .client
        .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
        .header("X-Forwarded-For", "10.1.2.3")
        .body(fixture(COMMAND))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let mut config = base_config();
    config.auth.allowed_sources = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(COMMAND), fixture(COMMAND)).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_checked() {
    let mut config = base_config();
    config.auth.allowed_sources = vec!["203.0.113.0/24".parse().unwrap()];
    config.auth.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = TestServer::start(config).await;
    let send = |forwarded: &'static str| {
        server
            .client
            .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
            .header("X-Forwarded-For", forwarded)
            .body(fixture(COMMAND))
            .send()
    };
    assert_eq!(send("203.0.113.9").await.unwrap().status(), 200);
    assert_eq!(send("198.51.100.1").await.unwrap().status(), 403);
    // The proxy appends the real client; what the client wrote to the left proves nothing.
    assert_eq!(
        send("203.0.113.9, 198.51.100.1").await.unwrap().status(),
        403
    );
    // Proxies in front of the trusted one are skipped from the right.
    assert_eq!(send("203.0.113.9, 127.0.0.5").await.unwrap().status(), 200);
    assert_eq!(send("not-an-address").await.unwrap().status(), 403);
    assert_eq!(
        server
            .metric(r#"chathook_rejections_total{reason="source_not_allowed"}"#)
            .await,
        3.0
    );
}

#[tokio::test]
async fn the_replay_cache_refuses_a_signed_url_reused_with_another_body() {
    let mut config = base_config();
    config.auth.replay_cache = true;
    let server = TestServer::start(config).await;
    let captured = fresh_query(COMMAND);
    let genuine = fixture(COMMAND);
    let (status, _) = server.post(&captured, genuine.clone()).await;
    assert_eq!(status, 200);
    // Chat delivering the same callback again is fine.
    let (status, _) = server.post(&captured, genuine.clone()).await;
    assert_eq!(status, 200);
    let forged = genuine.replace("Login", "Logout");
    assert_ne!(forged, genuine);
    let reply = server.post(&captured, forged).await;
    assert_fail(&reply, 401, 40106, "different body");

    // Off (the default), the forged body passes: Sign does not cover it.
    let server = TestServer::start(base_config()).await;
    server.post(&captured, genuine.clone()).await;
    let (status, _) = server
        .post(&captured, genuine.replace("Login", "Logout"))
        .await;
    assert_eq!(status, 200);
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn a_thousand_clients_sending_endless_headers_cost_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningBinary::spawn(binary(&dir, APP_TOML));
    let before = rss_kib(server.pid());
    let addr = server.addr.clone();
    let refused = block_on(async {
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let addr = addr.clone();
            clients.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                // Header bytes that never end; before the fix each connection buffered ~400 KB.
                let _ = stream
                    .write_all(b"POST /callback HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                    .await;
                let chunk = vec![b'a'; 64 * 1024];
                for _ in 0..4 {
                    if stream.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let mut response = Vec::new();
                let _ = timeout(SOON, stream.read_to_end(&mut response)).await;
                String::from_utf8_lossy(&response).starts_with("HTTP/1.1 431")
            });
        }
        let mut refused = 0;
        while let Some(result) = clients.join_next().await {
            refused += usize::from(result.unwrap());
        }
        refused
    });
    let grown_mib = rss_kib(server.pid()).saturating_sub(before) / 1024;
    let (_, log) = server.stop_within(SOON);
    assert!(refused >= 900, "only {refused} of 1000 read their 431");
    assert!(
        grown_mib < 100,
        "resident memory grew by {grown_mib} MiB\n{log}"
    );
}

/// The test server under `sh`, with the open-file limit set by `ulimit_args` first.
fn binary_with_file_limit(dir: &tempfile::TempDir, ulimit_args: &str) -> Command {
    let path = write_config(dir.path(), APP_TOML);
    let mut command = clean_command("sh", dir.path());
    command
        .arg("-c")
        .arg(format!("ulimit {ulimit_args} && exec \"$0\" \"$@\""))
        .arg(server_binary!())
        .arg("--config")
        .arg(path);
    command
}

#[test]
fn the_open_file_limit_is_raised_or_its_shortfall_said() {
    const TOO_LOW: &str = "open-file limit is too low";
    // A low soft limit under a high hard one is raised: no warning.
    let dir = tempfile::tempdir().unwrap();
    let server = RunningBinary::spawn(binary_with_file_limit(&dir, "-Sn 256"));
    let (status, log) = server.stop_within(SOON);
    assert!(status.success(), "{log}");
    assert!(!log.contains(TOO_LOW), "{log}");
    // A hard limit under max_connections (1024) is said at start-up.
    let dir = tempfile::tempdir().unwrap();
    let server = RunningBinary::spawn(binary_with_file_limit(&dir, "-n 512"));
    let (status, log) = server.stop_within(SOON);
    assert!(status.success(), "{log}");
    assert!(log.contains(TOO_LOW), "{log}");
}
