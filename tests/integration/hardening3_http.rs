//! The third probe's findings at the HTTP edge, each against the real binary: idle timeouts
//! after every kind of reply, IPv4 callers of a dual-stack listener, disallowed sources and
//! connection slots, `/readyz` under a flood of probes, a half-closed POST, the exact header
//! limit, and a bounded clock skew.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use chathook_tests::process::{APP_TOML, RunningBinary, block_on, clean_command, write_config};
use chathook_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;

const COMMAND: &str = "State.StateChange";
/// Generous bound on anything that should happen "soon".
const SOON: Duration = Duration::from_secs(10);
/// The signed app of [`APP_TOML`].
const FILE_TOKEN: &str = "file-token";
/// The API token of the configs below.
const API_BEARER: &str = "hardening3-api-token";

/// The test server binary serving `config` (TOML) from `dir`.
fn binary(dir: &tempfile::TempDir, config: &str) -> Command {
    let path = write_config(dir.path(), config);
    let mut command = clean_command(server_binary!(), dir.path());
    command.arg("--config").arg(path);
    command
}

/// The test server binary listening on `listen` instead of `127.0.0.1:0`: the variable is
/// set by `sh` after [`RunningBinary::spawn`] sets its own, so this one wins.
fn binary_listening_on(dir: &tempfile::TempDir, config: &str, listen: &str) -> Command {
    let path = write_config(dir.path(), config);
    let mut command = clean_command("sh", dir.path());
    command
        .arg("-c")
        .arg(format!(
            "CHATHOOK_SERVER__LISTEN_ADDR='{listen}' exec \"$0\" \"$@\""
        ))
        .arg(server_binary!())
        .arg("--config")
        .arg(path);
    command
}

/// A query Chat would sign for [`APP_TOML`]'s app, now.
fn file_app_query() -> String {
    let time = now();
    format!(
        "SdkAppid=1400000000&CallbackCommand={COMMAND}&Sign={}&RequestTime={time}",
        chathook_core::auth::sign(FILE_TOKEN, time)
    )
}

/// A signed callback as raw HTTP/1.1, with `extra` header lines.
fn signed_callback(extra: &str) -> String {
    let body = fixture(COMMAND);
    format!(
        "POST /callback?{} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        file_app_query(),
        body.len()
    )
}

/// The status of one request sent raw on a fresh connection from `addr`.
async fn status_of(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = [0u8; 12];
    timeout(SOON, stream.read_exact(&mut head))
        .await
        .expect("a reply in time")
        .expect("a reply");
    String::from_utf8_lossy(&head).into_owned()
}

/// Each kind of reply the probe left connections open after, and the status it gets.
fn reply_kinds() -> Vec<(&'static str, String, &'static str)> {
    let get = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    vec![
        ("/readyz", get("/readyz", ""), "200"),
        ("/metrics", get("/metrics", ""), "200"),
        ("/console", get("/console", ""), "200"),
        ("a 404", get("/nowhere", ""), "404"),
        (
            "an unsigned POST",
            "POST /callback?SdkAppid=1400000000&CallbackCommand=State.StateChange HTTP/1.1\r\n\
             Host: x\r\nContent-Length: 2\r\n\r\n{}"
                .to_owned(),
            "401",
        ),
        (
            "an API read",
            get(
                "/api/v1/callbacks?limit=1",
                &format!("Authorization: Bearer {API_BEARER}\r\n"),
            ),
            "200",
        ),
    ]
}

/// Sends `request` on `count` connections at once and returns, for each, its status and how
/// long after its reply the server closed it (`None`: still open after `bound`).
async fn replies_then_close(
    addr: &str,
    request: &str,
    count: usize,
    bound: Duration,
) -> Vec<(String, Option<Duration>)> {
    let mut clients = JoinSet::new();
    for _ in 0..count {
        let (addr, request) = (addr.to_owned(), request.to_owned());
        clients.spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connect");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.expect("a reply");
            let replied = Instant::now();
            let mut rest = Vec::new();
            let closed = timeout(bound, stream.read_to_end(&mut rest)).await;
            let status = String::from_utf8_lossy(&head[9..12]).into_owned();
            (status, closed.is_ok().then(|| replied.elapsed()))
        });
    }
    let mut results = Vec::new();
    while let Some(result) = clients.join_next().await {
        results.push(result.expect("a client task"));
    }
    results
}

#[test]
fn idle_connections_are_cut_after_every_kind_of_reply() {
    const IDLE: Duration = Duration::from_millis(1000);
    const MARGIN: Duration = Duration::from_secs(4);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{APP_TOML}[server]\nidle_timeout_ms = {}\nmax_connections = 1500\n\
         [api]\ntokens = [\"{API_BEARER}\"]\n",
        IDLE.as_millis()
    );
    let server = RunningBinary::spawn(binary(&dir, &config));
    let addr = server.addr.clone();
    for (kind, request, status) in reply_kinds() {
        let results = block_on(replies_then_close(&addr, &request, 1000, IDLE + MARGIN));
        let wrong = results.iter().filter(|(got, _)| got != status).count();
        assert_eq!(
            wrong, 0,
            "{wrong} of 1000 replies to {kind} were not {status}"
        );
        let open = results
            .iter()
            .filter(|(_, closed)| closed.is_none())
            .count();
        assert_eq!(
            open,
            0,
            "{open} of 1000 connections were still open {:?} after a reply to {kind}",
            IDLE + MARGIN
        );
    }
    let answered = block_on(status_of(&addr, &signed_callback("")));
    assert_eq!(answered, "HTTP/1.1 200");
    let (status, log) = server.stop_within(SOON);
    assert!(status.success(), "{log}");
}

#[test]
fn ipv4_callers_of_a_dual_stack_listener_match_ipv4_sources() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{APP_TOML}[auth]\nallowed_sources = [\"127.0.0.1/32\"]\n");
    let server = RunningBinary::spawn(binary_listening_on(&dir, &config, "[::]:0"));
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let ipv4 = format!("127.0.0.1:{port}");
    // The peer is ::ffff:127.0.0.1 on a dual-stack socket: the same address as 127.0.0.1.
    assert_eq!(
        block_on(status_of(&ipv4, &signed_callback(""))),
        "HTTP/1.1 200"
    );
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{APP_TOML}[auth]\nallowed_sources = [\"203.0.113.0/24\"]\n\
         trusted_proxies = [\"127.0.0.1/32\"]\n"
    );
    let server = RunningBinary::spawn(binary_listening_on(&dir, &config, "[::]:0"));
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let ipv4 = format!("127.0.0.1:{port}");
    for (forwarded, expected) in [
        ("203.0.113.9", "HTTP/1.1 200"),
        ("::ffff:203.0.113.9", "HTTP/1.1 200"),
        ("203.0.113.9, ::ffff:127.0.0.1", "HTTP/1.1 200"),
        ("198.51.100.1", "HTTP/1.1 403"),
        ("::ffff:198.51.100.1", "HTTP/1.1 403"),
    ] {
        let request = signed_callback(&format!("X-Forwarded-For: {forwarded}\r\n"));
        assert_eq!(
            block_on(status_of(&ipv4, &request)),
            expected,
            "X-Forwarded-For: {forwarded}"
        );
    }
}

/// A connection to `addr` from the local address `from`.
async fn connect_from(from: &str, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse::<SocketAddr>().unwrap())
        .unwrap();
    socket
        .connect(addr.parse().unwrap())
        .await
        .expect("connect")
}

#[test]
fn a_disallowed_source_holds_no_connection_slot() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{APP_TOML}[server]\nmax_connections = 100\nheader_read_timeout_ms = 60000\n\
         [auth]\nallowed_sources = [\"127.0.0.1/32\"]\n"
    );
    let server = RunningBinary::spawn(binary(&dir, &config));
    let addr = server.addr.clone();
    block_on(async {
        // Idle connections from outside allowed_sources, more than the cap.
        let mut idle = Vec::new();
        for _ in 0..110 {
            idle.push(connect_from("127.0.0.2", &addr).await);
        }
        // Each is refused at once, in JSON, and closed.
        for stream in &mut idle {
            let mut reply = Vec::new();
            timeout(SOON, stream.read_to_end(&mut reply))
                .await
                .expect("a disallowed source's connection was kept open")
                .expect("read the refusal");
            let reply = String::from_utf8_lossy(&reply);
            assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
            assert!(reply.contains("40302"), "{reply}");
        }
        let mut allowed = connect_from("127.0.0.1", &addr).await;
        allowed
            .write_all(signed_callback("").as_bytes())
            .await
            .unwrap();
        let mut head = [0u8; 12];
        timeout(SOON, allowed.read_exact(&mut head))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    });
}

#[test]
fn readyz_warns_once_per_change_and_caches_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{APP_TOML}[handlers.probe]\nenabled = true\nready = false\n");
    let server = RunningBinary::spawn(binary(&dir, &config));
    let url = server.url("/readyz");
    let started = Instant::now();
    block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            let status = client.get(&url).send().await.unwrap().status();
            assert_eq!(status, 503);
        }
    });
    let seconds = started.elapsed().as_secs();
    let (_, log) = server.stop_within(SOON);
    let warned = log
        .lines()
        .filter(|line| line.contains("not ready") && line.contains("WARN"))
        .count();
    assert_eq!(
        warned, 1,
        "{warned} not-ready lines for 300 probes in {seconds} s of one unchanged state:\n{log}"
    );
}

#[test]
fn a_complete_post_then_a_half_close_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningBinary::spawn(binary(&dir, APP_TOML));
    let addr = server.addr.clone();
    let reply = block_on(async {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(signed_callback("").as_bytes())
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
        let mut reply = Vec::new();
        timeout(SOON, stream.read_to_end(&mut reply))
            .await
            .expect("the connection closes")
            .expect("read the reply");
        String::from_utf8_lossy(&reply).into_owned()
    });
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
}

/// A GET of `/healthz` whose head (request line, headers and the blank line) is `size` bytes.
fn head_of_size(size: usize) -> String {
    let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = size - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(pad))
}

#[test]
fn max_header_bytes_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 65536;
    let config = format!("{APP_TOML}[server]\nmax_header_bytes = {limit}\n");
    let server = RunningBinary::spawn(binary(&dir, &config));
    let addr = server.addr.clone();
    block_on(async {
        assert_eq!(status_of(&addr, &head_of_size(limit)).await, "HTTP/1.1 200");
        // With the next request in the same write, so one read takes the head and more.
        let pipelined = format!("{}{}", head_of_size(limit), head_of_size(100));
        assert_eq!(status_of(&addr, &pipelined).await, "HTTP/1.1 200");
        for over in [1, 100, limit / 10] {
            assert_eq!(
                status_of(&addr, &head_of_size(limit + over)).await,
                "HTTP/1.1 431",
                "a head {over} bytes over the limit"
            );
        }
    });
}

#[test]
fn an_unbounded_clock_skew_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{APP_TOML}[auth]\nmax_clock_skew_secs = 999999999999\n");
    let path = write_config(dir.path(), &config);
    for verb in ["check-config", "serve"] {
        let output = clean_command(server_binary!(), dir.path())
            .arg(verb)
            .arg("--config")
            .arg(&path)
            .env("CHATHOOK_SERVER__LISTEN_ADDR", "127.0.0.1:0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{verb} accepted it: {stderr}");
        assert!(
            stderr.contains("auth.max_clock_skew_secs") && stderr.contains("at most"),
            "{verb}: {stderr}"
        );
    }
    // The bound itself passes.
    let config = format!("{APP_TOML}[auth]\nmax_clock_skew_secs = 300\n");
    let path = write_config(dir.path(), &config);
    let output = clean_command(server_binary!(), dir.path())
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
