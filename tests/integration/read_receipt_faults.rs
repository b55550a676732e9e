//! The read_receipt store when its database misbehaves: locked, blackholed, removed, or
//! misconfigured. Every wait is bounded.

use std::future::Future;
use std::time::Duration;

use chathook_tests::process::{self, RunningBinary, clean_command};
use chathook_tests::proxy::{FaultProxy, host_of, with_host};
use chathook_tests::*;
use serde_json::{Value, json};

use crate::read_receipt::{COMMAND, api_get, receipt_body, sqlite_server};

/// `future`, or a panic naming `what` after `seconds`.
async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {seconds} s"))
}

/// Polls `/readyz` until it answers `status`; panics after `seconds`.
async fn readyz_becomes(server: &TestServer, status: u16, seconds: u64) {
    within(seconds, &format!("/readyz {status}"), async {
        loop {
            if server.get("/readyz").await.0 == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn readiness_recovers_on_its_own_once_writes_can_commit_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({ "busy_timeout_ms": 100 })).await;
    let url = format!("sqlite://{}", dir.path().join("receipts.db").display());
    let mut blocker = lock_sqlite(&url).await;
    let (status, _) = server
        .post(
            &fresh_query(COMMAND),
            receipt_body("g", 1, &[(1, 1, 1, &["a"])]),
        )
        .await;
    assert_eq!(status, 500);
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 503, "still locked: a probe cannot commit either");

    // The lock goes; nothing is sent, yet readiness comes back: a load balancer gating on it
    // would never send the write that used to be needed.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    readyz_becomes(&server, 200, 10).await;
    assert_eq!(
        server
            .metric(
                r#"chathook_callbacks_total{command="Group.CallbackAfterReadReceipt",outcome="ok"}"#
            )
            .await,
        0.0,
        "no callback succeeded in between"
    );
}

/// A replica's server on PostgreSQL at `url`.
async fn postgres_replica(url: &str, settings: Value) -> TestServer {
    let mut settings = settings;
    settings["database_url"] = url.into();
    let mut config = base_config();
    enable(&mut config, "read_receipt", settings);
    TestServer::start(config).await
}

#[tokio::test]
async fn a_blackholed_postgres_fails_callbacks_fast_releases_its_locks_and_recovers() {
    let schema = fresh_postgres_schema().await;
    let direct = schema.url.clone();
    let proxy = FaultProxy::start(host_of(&direct).await).await;
    // Replica A reaches PostgreSQL through the proxy, replica B directly; one schema.
    let a = postgres_replica(
        &with_host(&direct, proxy.addr()),
        json!({ "write_timeout_ms": 500, "busy_timeout_ms": 500 }),
    )
    .await;
    let b = postgres_replica(&direct, json!({})).await;
    let message = receipt_body("@TGS#shared", 1, &[(1, 1, 5, &["a"])]);
    let (status, _) = a.post(&fresh_query(COMMAND), message.clone()).await;
    assert_eq!(status, 200);

    // The network stops answering just as A commits: its transaction holds the row's lock.
    proxy.blackhole_when_client_sends(b"COMMIT");
    let update = receipt_body("@TGS#shared", 2, &[(1, 2, 4, &["b"])]);
    let (status, reply) = within(5, "A's answer", a.post(&fresh_query(COMMAND), update)).await;
    assert!(proxy.is_blackholed(), "the proxy saw the COMMIT");
    assert_eq!(status, 500, "{reply}");
    readyz_becomes(&a, 503, 5).await;

    // B writes the same message: PostgreSQL ended A's abandoned transaction by itself.
    let from_b = receipt_body("@TGS#shared", 3, &[(1, 3, 3, &["c"])]);
    let (status, reply) = within(10, "B's answer", b.post(&fresh_query(COMMAND), from_b)).await;
    assert_eq!(status, 200, "{reply}");
    let (status, stored) = api_get(
        &b,
        &format!("/apps/{APP_ID}/groups/%40TGS%23shared/read-receipts/1"),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["read_num"], 3);

    // The network heals: A is ready again with no restart and no callback sent, then
    // stores callbacks again.
    proxy.heal();
    readyz_becomes(&a, 200, 10).await;
    let again = receipt_body("@TGS#shared", 4, &[(1, 4, 2, &["b"])]);
    let (status, reply) = within(
        5,
        "A's answer after healing",
        a.post(&fresh_query(COMMAND), again),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (_, stored) = api_get(
        &b,
        &format!("/apps/{APP_ID}/groups/%40TGS%23shared/read-receipts/1"),
    )
    .await;
    assert_eq!(stored["read_num"], 4);
    assert_eq!(stored["readers"], json!(["a", "b", "c"]));
}

/// A config for the real binary: the test app, read_receipt on `database_url`.
fn binary_config(database_url: &str, extra: &str) -> String {
    format!(
        "[apps.main]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\
         [handlers.read_receipt]\nenabled = true\ndatabase_url = \"{database_url}\"\n{extra}\n"
    )
}

/// Whether the log has a WARN line announcing a new empty store at `path`.
fn announces_new_store(log: &[String], path: &str) -> bool {
    log.iter().any(|line| {
        let entry: Value = serde_json::from_str(line).unwrap_or_default();
        entry["level"] == "WARN"
            && entry["message"].as_str().is_some_and(|message| {
                message.starts_with(&format!(
                    "creating a new empty read receipt store at {path}"
                ))
            })
    })
}

#[tokio::test]
async fn a_removed_data_directory_fails_callbacks_and_readiness_and_a_new_store_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), &binary_config("sqlite://data/receipts.db", ""));
    let serve = || {
        let mut command = clean_command(server_binary!(), dir.path());
        command.args(["serve", "--config"]).arg(&config);
        RunningBinary::spawn(command)
    };
    let http = reqwest::Client::new();
    let post = async |running: &RunningBinary, body: String| {
        let response = http
            .post(running.url(&format!("/callback?{}", fresh_query(COMMAND))))
            .body(body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };

    // First run: the new store is announced. Second run on the same file: it is not.
    let first = serve();
    assert!(
        announces_new_store(&first.log, "data/receipts.db"),
        "{}",
        first.log.join("\n")
    );
    assert_eq!(
        post(&first, receipt_body("g", 1, &[(1, 1, 1, &["a"])])).await,
        200
    );
    drop(first.stop());
    let second = serve();
    assert!(
        !announces_new_store(&second.log, "data/receipts.db"),
        "{}",
        second.log.join("\n")
    );

    // The data directory goes away under the running server.
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    assert_eq!(
        post(&second, receipt_body("g", 2, &[(2, 1, 1, &["a"])])).await,
        500
    );
    let response = http.get(second.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let (_, log) = second.stop();
    assert!(
        log.contains("database file data/receipts.db was removed or replaced; restart chathook"),
        "{log}"
    );
    // What was acknowledged before the removal is gone with it; a restart says so.
    let third = serve();
    assert!(
        announces_new_store(&third.log, "data/receipts.db"),
        "{}",
        third.log.join("\n")
    );
}

/// Runs the binary's `args` with `config` and returns (success, stdout + stderr). Killed if it
/// is still running after 20 s (a `serve` that should have failed).
fn run_binary(config_text: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), config_text);
    let mut child = clean_command(server_binary!(), dir.path())
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The `error: ...` line of a failed run.
fn error_line(text: &str) -> &str {
    text.lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"))
}

#[test]
fn bad_store_settings_fail_check_config_and_serve_alike_and_never_print_a_password() {
    for (extra, problem) in [
        (
            "max_batch = 0",
            "max_batch is 0 but must be between 1 and 10000",
        ),
        ("max_batch = 1e16", "max_batch"),
        (
            "write_timeout_ms = 0",
            "write_timeout_ms is 0 but must be between 10 and 60000",
        ),
    ] {
        let config = binary_config("sqlite://data/receipts.db", extra);
        let (checked, check_text) = run_binary(&config, &["check-config"]);
        let (served, serve_text) = run_binary(&config, &["serve"]);
        assert!(!checked && !served, "{extra}:\n{check_text}\n{serve_text}");
        assert!(error_line(&check_text).contains(problem), "{check_text}");
        assert_eq!(error_line(&check_text), error_line(&serve_text), "{extra}");
    }

    // A durability that does not exist names the ones that do.
    let config = binary_config("sqlite://data/receipts.db", "durability = \"fast\"");
    let (checked, text) = run_binary(&config, &["check-config"]);
    assert!(!checked, "{text}");
    let line = error_line(&text);
    assert!(
        line.contains("durability")
            && line.contains("fast")
            && line.contains("full")
            && line.contains("normal"),
        "{text}"
    );

    let config = binary_config("mysql://u:s3cret@h/db", "");
    for verb in ["check-config", "serve"] {
        let (ok, text) = run_binary(&config, &[verb]);
        assert!(!ok, "{verb}:\n{text}");
        assert!(
            !text.contains("s3cret"),
            "{verb} printed the password:\n{text}"
        );
        assert!(
            error_line(&text).contains(
                "database_url \"mysql://u:[redacted]@h/db\" is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
            ),
            "{verb}:\n{text}"
        );
    }

    // A database that refuses the connection: only serve connects.
    let config = binary_config("postgres://u:s3cret@127.0.0.1:1/db", "");
    let (ok, text) = run_binary(&config, &["serve"]);
    assert!(!ok, "{text}");
    assert!(
        !text.contains("s3cret"),
        "serve printed the password:\n{text}"
    );
    assert!(
        error_line(&text).contains(
            "cannot open the read receipt store at postgres://u:[redacted]@127.0.0.1:1/db"
        ),
        "{text}"
    );
}
