//! The command line: the real binary, its environment mapping, its exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chathook_tests::*;
use serde_json::Value;

/// The test server binary, run from an empty directory so no stray config is picked up.
fn chathook(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(server_binary!());
    command.current_dir(dir.path()).env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("CHATHOOK_") {
            command.env_remove(key);
        }
    }
    command
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("chathook.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const APP_TOML: &str = "[apps.main]\nsdk_app_id = 1400000000\ntokens = [\"file-token\"]\n";

#[test]
fn environment_variables_override_the_file_with_double_underscore_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, APP_TOML);
    let output = chathook(&dir)
        .args(["check-config", "--config"])
        .arg(&config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", "0.0.0.0:9000")
        .env("CHATHOOK_DISPATCH__HANDLER_TIMEOUT_MS", "900")
        .env("CHATHOOK_APPS__PROD__SDK_APP_ID", "1400000001")
        .env(
            "CHATHOOK_APPS__PROD__TOKENS",
            r#"["0123456", "secret-two"]"#,
        )
        .env("CHATHOOK_HANDLERS__PROBE__ENABLED", "true")
        .env("CHATHOOK_HANDLERS__PROBE__DELAY_MS", "25")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("config is valid"), "{stderr}");
    let effective: toml::Value = toml::from_str(&stdout).unwrap();
    assert_eq!(
        effective["server"]["listen_addr"].as_str(),
        Some("0.0.0.0:9000")
    );
    assert_eq!(
        effective["dispatch"]["handler_timeout_ms"].as_integer(),
        Some(900)
    );
    assert_eq!(
        effective["apps"]["prod"]["sdk_app_id"].as_integer(),
        Some(1_400_000_001)
    );
    assert_eq!(
        effective["apps"]["main"]["sdk_app_id"].as_integer(),
        Some(1_400_000_000)
    );
    assert_eq!(
        effective["handlers"]["probe"]["enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        effective["handlers"]["probe"]["delay_ms"].as_integer(),
        Some(25)
    );
    assert_eq!(
        effective["apps"]["prod"]["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{stdout}"
    );
    for secret in ["0123456", "secret-two", "file-token"] {
        assert!(
            !stdout.contains(secret),
            "secret {secret} printed:\n{stdout}"
        );
    }
}

#[test]
fn an_all_digit_token_from_the_environment_must_be_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let output = chathook(&dir)
        .arg("check-config")
        .env("CHATHOOK_APPS__PROD__SDK_APP_ID", "1400000001")
        .env("CHATHOOK_APPS__PROD__TOKENS", "[0123456]")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("a secret must be a string"), "{stderr}");
    assert!(stderr.contains("APPS.PROD.TOKENS"), "{stderr}");
    assert!(!stderr.contains("123456"), "{stderr}");
}

#[test]
fn a_named_config_file_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = chathook(&dir)
        .args(["check-config", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "error: config file missing.toml does not exist\n"
    );
    let output = chathook(&dir)
        .arg("check-config")
        .env("CHATHOOK_CONFIG", "also-missing.toml")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "error: config file also-missing.toml does not exist\n"
    );
}

#[test]
fn a_start_up_error_exits_non_zero_and_names_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!("{APP_TOML}[handlers.prob]\nenabled = true\n"),
    );
    let output = chathook(&dir)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("config table [handlers.prob] names no linked handler"),
        "{stderr}"
    );
}

#[test]
fn sign_prints_the_documented_vector() {
    let dir = tempfile::tempdir().unwrap();
    let output = chathook(&dir)
        .args(["sign", "--token", "xxxxyyyy", "--time", "1669872112"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112\n"
    );
}

#[test]
fn handlers_prints_the_routing_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &format!("{APP_TOML}[handlers.probe]\nenabled = true\n"),
    );
    let output = chathook(&dir)
        .arg("handlers")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let row = |command: &str| -> Vec<String> {
        table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(command))
            .unwrap_or_else(|| panic!("no row for {command}:\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("Group.CallbackBeforeSendMsg"),
        ["Group.CallbackBeforeSendMsg", "before", "probe", "enabled"]
    );
    assert_eq!(
        row("State.StateChange"),
        ["State.StateChange", "after", "probe", "enabled"]
    );
    assert_eq!(
        row("Sns.CallbackFriendAdd"),
        ["Sns.CallbackFriendAdd", "after", "-", "unrouted"]
    );
    assert_eq!(row("Sns.CallbackPrevFriendAdd")[1], "before");
    // A linked handler without an enabled table is listed as disabled.
    assert_eq!(
        row("Group.CallbackAfterReadReceipt"),
        [
            "Group.CallbackAfterReadReceipt",
            "after",
            "read_receipt",
            "disabled"
        ]
    );
}

#[test]
fn serve_listens_where_the_environment_says_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned_app = "[apps.dev]\nsdk_app_id = 1400000009\nallow_unsigned = true\n";
    let config = write_config(&dir, &format!("{APP_TOML}{unsigned_app}"));
    let mut child = chathook(&dir)
        .arg("--config")
        .arg(&config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .env("CHATHOOK_SERVER__CALLBACK_PATH", "/im/callback")
        .env("CHATHOOK_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        assert!(Instant::now() < deadline, "no listening line");
        let line = lines.next().expect("log line").unwrap();
        log.push(line.clone());
        let entry: Value = serde_json::from_str(&line).expect("json log line");
        if entry["message"] == "listening" {
            assert_eq!(entry["callback_path"], "/im/callback");
            break entry["addr"].as_str().unwrap().to_owned();
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let time = now();
        let url = format!(
            "http://{addr}/im/callback?SdkAppid=1400000000&CallbackCommand=State.StateChange&Sign={}&RequestTime={time}",
            chathook_core::auth::sign("file-token", time)
        );
        let response = reqwest::Client::new().post(url).body(fixture("State.StateChange")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    });

    // One JSON line per callback, with the span's fields.
    let answered: Value = loop {
        let line = lines.next().expect("log line").unwrap();
        log.push(line.clone());
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["message"] == "callback answered" {
            break entry;
        }
    };
    assert_eq!(answered["outcome"], "unrouted");
    assert_eq!(answered["span"]["command"], "State.StateChange");
    assert_eq!(answered["span"]["sdk_app_id"], 1_400_000_000u64);
    assert!(answered["latency_ms"].as_f64().is_some());

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    log.extend(lines.map(Result::unwrap));
    let log = log.join("\n");
    assert!(log.contains("app accepts unsigned callbacks"), "{log}");
    assert!(log.contains("SIGTERM received; shutting down"), "{log}");
    assert!(
        !log.contains("file-token"),
        "a token reached the log:\n{log}"
    );
}
