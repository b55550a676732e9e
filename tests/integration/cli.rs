//! The command line: the real binary, its environment mapping, its exit codes.

use std::process::Command;

use chathook_tests::process::{self, APP_TOML, RunningBinary, block_on, clean_command};
use chathook_tests::*;
use serde_json::Value;

/// The test server binary, run from an empty directory so no stray config is picked up.
fn chathook(dir: &tempfile::TempDir) -> Command {
    clean_command(server_binary!(), dir.path())
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    process::write_config(dir.path(), text)
}

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
    assert!(
        stderr.contains("CHATHOOK_APPS__PROD__TOKENS: a secret must be a string"),
        "{stderr}"
    );
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

/// `chathook handlers` output without the stock `nats` plugin, which, linked and disabled, is
/// listed on every row it would serve (all of them): these tests are about the others.
/// The table without nats, which serves every command by default and would pad every row.
fn without_disabled_nats(stdout: Vec<u8>) -> String {
    String::from_utf8(stdout)
        .unwrap()
        .replace(", nats disabled (default \"*\")", "")
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
    let table = without_disabled_nats(output.stdout);
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
        [
            "Group.CallbackBeforeSendMsg",
            "before",
            "probe",
            "decides",
            "(code),",
            "denier",
            "disabled",
            "(code)"
        ]
    );
    // crm_sync, flaky and rival, linked but disabled, are listed with what they would serve.
    assert_eq!(
        row("State.StateChange"),
        [
            "State.StateChange",
            "after",
            "probe",
            "runs",
            "(code),",
            "crm_sync",
            "disabled",
            "(default",
            "\"after\"),",
            "flaky",
            "disabled",
            "(default",
            "\"after\"),",
            "rival",
            "disabled",
            "(code)"
        ]
    );
    // Nothing enabled serves it: unrouted, with the disabled handlers that would.
    assert_eq!(
        row("Sns.CallbackFriendAdd"),
        [
            "Sns.CallbackFriendAdd",
            "after",
            "-",
            "unrouted,",
            "crm_sync",
            "disabled",
            "(default",
            "\"after\"),",
            "flaky",
            "disabled",
            "(default",
            "\"after\")"
        ]
    );
    assert_eq!(row("Sns.CallbackPrevFriendAdd")[1], "before");
    // A linked handler without an enabled table is listed as disabled.
    assert_eq!(
        row("Group.CallbackAfterReadReceipt"),
        [
            "Group.CallbackAfterReadReceipt",
            "after",
            "-",
            "unrouted,",
            "crm_sync",
            "disabled",
            "(default",
            "\"after\"),",
            "flaky",
            "disabled",
            "(default",
            "\"after\"),",
            "read_receipt",
            "disabled",
            "(code),",
            "recorder_c",
            "disabled",
            "(default",
            "\"Group.*:after\")"
        ]
    );
}

#[test]
fn handlers_shows_fan_out_deciders_observers_and_pattern_sources() {
    let dir = tempfile::tempdir().unwrap();
    let tables = "[handlers.probe]\nenabled = true\n\
                  [handlers.recorder_a]\nenabled = true\ntag = \"cli\"\ncommands = [\"*\"]\ndecides = false\n\
                  [handlers.recorder_b]\nenabled = true\ntag = \"cli\"\ncommands = [\"Group.*:after\", \"Nova.CallbackAfterLaunch\"]\n";
    let config = write_config(&dir, &format!("{APP_TOML}{tables}"));
    let output = chathook(&dir)
        .arg("handlers")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // A name the table lacks is allowed (Tencent adds commands) but most often a typo.
    assert!(
        stderr.contains(
            "warning: handler recorder_b: commands pattern \"Nova.CallbackAfterLaunch\" matches \
             no command in the table"
        ),
        "{stderr}"
    );
    let table = without_disabled_nats(output.stdout);
    let row = |command: &str| -> &str {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("no row for {command}:\n{table}"))
    };
    fn columns(line: &str) -> Vec<&str> {
        line.split("  ")
            .filter(|column| !column.is_empty())
            .map(str::trim)
            .collect()
    }
    assert_eq!(
        columns(row("Group.CallbackBeforeSendMsg")),
        [
            "Group.CallbackBeforeSendMsg",
            "before",
            "probe decides (code), recorder_a observes (config \"*\"), denier disabled (code)"
        ]
    );
    assert_eq!(
        columns(row("Group.CallbackAfterSendMsg")),
        [
            "Group.CallbackAfterSendMsg",
            "after",
            "probe runs (code), recorder_a runs (config \"*\"), recorder_b runs (config \
             \"Group.*:after\"), crm_sync disabled (default \"after\"), flaky disabled \
             (default \"after\"), recorder_c disabled (default \"Group.*:after\")"
        ]
    );
    assert_eq!(
        columns(row("Nova.CallbackAfterLaunch")),
        [
            "Nova.CallbackAfterLaunch",
            "after",
            "recorder_a runs (config \"*\"), recorder_b runs (config \
             \"Nova.CallbackAfterLaunch\"), crm_sync disabled (default \"after\"), flaky \
             disabled (default \"after\")"
        ]
    );
    // Commands the table lacks still reach a "*" handler, by family and kind.
    let open: Vec<_> = table
        .lines()
        .filter(|line| line.contains("(not in the table)"))
        .collect();
    assert!(
        open.iter().any(|line| columns(line)
            == ["* (not in the table)", "before", "recorder_a observes (config \"*\"), (no decider: answered as dispatch.unrouted says)"]),
        "{table}"
    );
    assert!(
        open.iter().any(|line| columns(line)
            == [
                "Group.* (not in the table)",
                "after",
                "recorder_a runs (config \"*\"), recorder_b runs (config \"Group.*:after\")"
            ]),
        "{table}"
    );
}

#[test]
fn serve_listens_where_the_environment_says_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned_app = "[apps.dev]\nsdk_app_id = 1400000009\nallow_unsigned = true\n";
    let config = write_config(&dir, &format!("{APP_TOML}{unsigned_app}"));
    let mut command = chathook(&dir);
    command
        .arg("--config")
        .arg(&config)
        .env("CHATHOOK_SERVER__CALLBACK_PATH", "/im/callback")
        .env("CHATHOOK_LOG__CALLBACKS", "true");
    let mut server = RunningBinary::spawn(command);
    let addr = server.addr.clone();

    block_on(async {
        let time = now();
        let url = format!(
            "http://{addr}/im/callback?SdkAppid=1400000000&CallbackCommand=State.StateChange&Sign={}&RequestTime={time}",
            chathook_core::auth::sign("file-token", time)
        );
        let response = reqwest::Client::new()
            .post(url)
            .body(fixture("State.StateChange"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    });

    // One JSON line per callback, every field on the line itself.
    let answered = server.next_event("callback answered");
    assert_eq!(answered["outcome"], "unrouted");
    assert_eq!(answered["command"], "State.StateChange");
    assert_eq!(answered["sdk_app_id"], 1_400_000_000u64);
    assert_eq!(answered["status"], 200);
    assert!(answered["latency_ms"].as_f64().is_some(), "{answered}");
    // Rounded to whole microseconds: `0.483`, never `0.48313700000000004`.
    let latency = answered["latency_ms"].to_string();
    let decimals = latency
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    assert!(
        decimals <= 3 && !latency.contains('e'),
        "latency_ms {latency} has more than 3 decimals"
    );

    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(log.contains("/im/callback"), "{log}");
    assert!(log.contains("app accepts unsigned callbacks"), "{log}");
    assert!(log.contains("SIGTERM received; shutting down"), "{log}");
    assert!(
        !log.contains("file-token"),
        "a token reached the log:\n{log}"
    );
}

#[test]
fn by_default_only_problems_are_logged_per_callback() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, APP_TOML);
    let mut command = chathook(&dir);
    command.arg("--config").arg(&config);
    let mut server = RunningBinary::spawn(command);
    let url = |sign: &str, time: u64| {
        server.url(&format!(
            "/callback?SdkAppid=1400000000&CallbackCommand=State.StateChange&Sign={sign}&RequestTime={time}"
        ))
    };
    let time = now();
    let (good, forged) = (
        url(&chathook_core::auth::sign("file-token", time), time),
        url(&"0".repeat(64), time),
    );
    block_on(async {
        let client = reqwest::Client::new();
        for (url, status) in [(good, 200), (forged, 401)] {
            let response = client
                .post(url)
                .body(fixture("State.StateChange"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status);
        }
    });

    // The forged one is logged with what was known of it; the accepted one is not logged.
    let rejected = server.next_event("callback rejected");
    assert_eq!(rejected["level"], "WARN");
    assert_eq!(rejected["reason"], "sign_mismatch");
    assert_eq!(rejected["status"], 401);
    assert_eq!(rejected["sdk_app_id"], 1_400_000_000u64);
    assert_eq!(rejected["app"], "main");
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!log.contains("callback answered"), "{log}");
}

/// Runs the binary to completion off the async runtime.
async fn run(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn send_posts_a_signed_callback_and_prints_the_reply() {
    let mut config = base_config();
    enable(&mut config, "probe", serde_json::json!({}));
    let server = TestServer::start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/callback");

    // The bundled sample, signed with an explicit token.
    let mut command = chathook(&dir);
    command.args([
        "send",
        "State.StateChange",
        "--url",
        &url,
        "--sdk-app-id",
        &APP_ID.to_string(),
        "--token",
        TOKEN,
    ]);
    let output = run(command).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let (status_line, reply) = stdout.split_once('\n').unwrap();
    assert_eq!(status_line, "HTTP 200");
    let reply: Value = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(reply["Handler"], "probe");
    assert_eq!(reply["To_Account"], "testuser316");
    assert_eq!(reply["OptPlatform"], "RESTAPI");

    // --app reads id and token from the config; --body - reads standard input.
    let config_path = write_config(
        &dir,
        &format!("[apps.main]\nsdk_app_id = {APP_ID}\ntokens = [\"{OLD_TOKEN}\"]\n"),
    );
    let mut command = chathook(&dir);
    command
        .args([
            "send",
            "State.StateChange",
            "--url",
            &url,
            "--app",
            "main",
            "--body",
            "-",
            "--config",
        ])
        .arg(&config_path)
        .stdin(std::process::Stdio::piped());
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"Info":{"Action":"Logout","To_Account":"from-stdin"}}"#)
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(r#""To_Account":"from-stdin""#),
        "{}",
        text(&output.stdout)
    );

    // --body FILE, and a refusal: printed, and a failing exit status.
    let body = dir.path().join("body.json");
    std::fs::write(&body, fixture("State.StateChange")).unwrap();
    let mut command = chathook(&dir);
    command
        .args([
            "send",
            "State.StateChange",
            "--url",
            &url,
            "--sdk-app-id",
            &APP_ID.to_string(),
            "--token",
            "wrong",
            "--body",
        ])
        .arg(&body);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).starts_with("HTTP 401\n"),
        "{}",
        text(&output.stdout)
    );
    assert!(text(&output.stdout).contains("Sign does not match"));
    assert_eq!(
        text(&output.stderr),
        "error: the callback was not accepted (HTTP 401)\n"
    );
}

#[test]
fn fixtures_lists_every_bundled_sample_and_prints_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = chathook(&dir).arg("fixtures").output().unwrap();
    assert!(output.status.success());
    let listed: Vec<String> = text(&output.stdout)
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_owned())
        .collect();
    // Every file in the fixtures folder is bundled, and every sample the protocol reference
    // ships (when it sits beside the repository, as on CI) is among them.
    let bundled_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/chathook-protocol/samples/requests");
    let shared_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    let mut expected: Vec<String> = std::fs::read_dir(bundled_dir)
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    if let Ok(shared) = std::fs::read_dir(shared_dir) {
        for entry in shared {
            let name = entry
                .unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned();
            assert!(
                listed.contains(&name),
                "{name} is in shared/fixtures but not bundled"
            );
        }
    }
    assert!(
        text(&output.stdout).lines().any(|line| line
            .split_whitespace()
            .eq(["Group.CallbackBeforeSendMsg", "before"])),
        "before-callbacks are marked"
    );

    let output = chathook(&dir)
        .args(["fixtures", "Group.CallbackAfterReadReceipt"])
        .output()
        .unwrap();
    let body: Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    assert_eq!(body["CallbackCommand"], "Group.CallbackAfterReadReceipt");

    let output = chathook(&dir)
        .args(["fixtures", "Nope.Nothing"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "error: no bundled sample for Nope.Nothing; `chathook fixtures` lists them\n"
    );
}

#[test]
fn verify_url_explains_each_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, APP_TOML);
    let verify = |url: String, token: Option<&str>| {
        let mut command = chathook(&dir);
        command.args(["verify-url", &url, "--config"]).arg(&config);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        let output = command.output().unwrap();
        (output.status.code(), text(&output.stdout))
    };
    let base = "http://example.com/callback?SdkAppid=1400000000&CallbackCommand=State.StateChange";
    let fresh = |token: &str, time: u64| {
        format!(
            "{base}&Sign={}&RequestTime={time}",
            chathook_core::auth::sign(token, time)
        )
    };

    let (code, out) = verify(fresh("file-token", now()), None);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok    Sign             matches the token"),
        "{out}"
    );
    assert!(out.ends_with("verdict: accepted\n"), "{out}");

    // A token on the command line is checked instead of the configured ones.
    let (code, out) = verify(fresh("console-token", now()), Some("console-token"));
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = verify(
        "http://example.com/callback?SdkAppid=1400000077&CallbackCommand=State.StateChange".into(),
        Some("t"),
    );
    assert_eq!(code, Some(1));
    assert!(
        out.contains("FAIL  SdkAppid         SdkAppid 1400000077 is not a configured app"),
        "{out}"
    );
    assert!(
        out.contains("verdict: refused with HTTP 403 (unknown_app)"),
        "{out}"
    );

    let (code, out) = verify(base.into(), None);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("FAIL  Sign             Sign query parameter is missing"),
        "{out}"
    );
    assert!(
        out.contains("verdict: refused with HTTP 401 (sign_missing)"),
        "{out}"
    );

    let stale = now() - 600;
    let (code, out) = verify(fresh("file-token", stale), None);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("FAIL  RequestTime      RequestTime is -60"),
        "{out}"
    );
    assert!(out.contains("more than the allowed 10 s"), "{out}");
    assert!(
        out.contains("ok    Sign             matches the token"),
        "the signature itself is fine: {out}"
    );
    assert!(out.contains("(request_time_skewed)"), "{out}");

    let (code, out) = verify(fresh("wrong-token", now()), None);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("FAIL  Sign             Sign does not match any token of this app"),
        "{out}"
    );
    assert!(
        out.contains("verdict: refused with HTTP 401 (sign_mismatch)"),
        "{out}"
    );
}

#[tokio::test]
async fn send_works_for_every_documented_command_without_a_body() {
    let server = TestServer::start(base_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/callback");
    let app_id = APP_ID.to_string();
    let mut sent = 0;
    for command in chathook_core::protocol::KNOWN_COMMANDS {
        let mut send = chathook(&dir);
        send.args(["send", command.name, "--url", &url]).args([
            "--sdk-app-id",
            &app_id,
            "--token",
            TOKEN,
        ]);
        let output = run(send).await;
        assert!(
            output.status.success(),
            "send {}: {}{}",
            command.name,
            text(&output.stdout),
            text(&output.stderr)
        );
        sent += 1;
    }
    // The 60 Chat commands and the CallKit and RoomKit ones, which have no sample.
    assert!(sent > 60, "{sent}");
}

/// What Kubernetes injects into every pod for a Service named `chathook`.
const KUBERNETES_SERVICE_ENV: [(&str, &str); 3] = [
    ("CHATHOOK_PORT", "tcp://10.0.0.1:8080"),
    ("CHATHOOK_SERVICE_HOST", "10.0.0.1"),
    ("CHATHOOK_PORT_8080_TCP_ADDR", "10.0.0.1"),
];

#[test]
fn variables_that_cannot_be_config_keys_are_ignored_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, APP_TOML);
    let output = chathook(&dir)
        .args(["check-config", "--config"])
        .arg(&config)
        .envs(KUBERNETES_SERVICE_ENV)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("config is valid"), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("not config keys"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].starts_with("warning: "), "{stderr}");
    for (name, _) in KUBERNETES_SERVICE_ENV {
        assert!(warnings[0].contains(name), "{name} not named:\n{stderr}");
    }
    assert!(
        !stderr.contains("10.0.0.1"),
        "a value was printed:\n{stderr}"
    );

    let mut command = chathook(&dir);
    command
        .arg("--config")
        .arg(&config)
        .envs(KUBERNETES_SERVICE_ENV);
    let server = RunningBinary::spawn(command);
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}");
    let warnings: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| {
            entry["message"]
                .as_str()
                .is_some_and(|message| message.contains("not config keys"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert_eq!(warnings[0]["level"], "WARN", "{log}");
    for (name, _) in KUBERNETES_SERVICE_ENV {
        assert!(warnings[0].to_string().contains(name), "{name}: {log}");
    }
    assert!(!log.contains("10.0.0.1"), "a value was logged:\n{log}");
}

#[test]
fn a_typo_under_a_known_section_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, APP_TOML);
    let output = chathook(&dir)
        .args(["check-config", "--config"])
        .arg(&config)
        .envs(KUBERNETES_SERVICE_ENV)
        .env("CHATHOOK_SERVER__LISTEN_ADR", "0.0.0.0:9000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "CHATHOOK_SERVER__LISTEN_ADR: unknown key; did you mean CHATHOOK_SERVER__LISTEN_ADDR?"
        ),
        "{stderr}"
    );
}

#[test]
fn version_names_the_linked_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let output = chathook(&dir).arg("--version").output().unwrap();
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let line = stdout.trim_end();
    assert!(line.starts_with("chathook "), "{line}");
    let plugins = line
        .split_once("(plugins: ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no plugin list: {line}"));
    let plugins: Vec<&str> = plugins.split(", ").collect();
    // The test server links what this test binary links: the stock plugins and the test ones.
    let linked: Vec<&str> = chathook_core::linked_handlers()
        .iter()
        .map(|registration| registration.name())
        .collect();
    assert_eq!(plugins, linked, "{line}");
}

#[test]
fn a_plugin_tool_is_a_verb_and_gets_its_handlers_settings_checked_as_serve_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |config_text: &str, extra: &[&str]| {
        let config = write_config(&dir, config_text);
        let output = chathook(&dir)
            .args(["probe", "show", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };
    // Its table, defaults filled in by its config type; `--config` reaches the tool.
    let (code, stdout, stderr) = run(
        &format!("{APP_TOML}[handlers.probe]\nenabled = true\ndelay_ms = 7\n"),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("probe delay_ms=7 ready=true (config file Named("),
        "{stdout}"
    );
    // No table: the handler's defaults, as serve would build it.
    let (code, stdout, stderr) = run(APP_TOML, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("probe delay_ms=0 ready=true"),
        "{stdout}"
    );
    // The handler's own check refuses what serve refuses, before the tool runs.
    let (code, stdout, stderr) = run(
        &format!("{APP_TOML}[handlers.probe]\nenabled = true\ndelay = 7\n"),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("error: invalid settings in [handlers.probe]: ")
            && stderr.contains("unknown field `delay`"),
        "{stderr}"
    );
    // So is a problem anywhere else in the config.
    let (code, _, stderr) = run(
        &format!("{APP_TOML}[handlers.read_reciept]\nenabled = true\n"),
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("config table [handlers.read_reciept] names no linked handler"),
        "{stderr}"
    );
    // The tool's own failure: one error line, exit code 1.
    let (code, _, stderr) = run(APP_TOML, &["--fail"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr, "error: the probe tool was told to fail\n");
    // Listed with the built-in verbs.
    let help = chathook(&dir).arg("--help").output().unwrap();
    let help = text(&help.stdout);
    assert!(
        help.lines()
            .any(|line| line.trim_start().starts_with("probe ")
                && line.contains("The probe handler's test tool")),
        "{help}"
    );
}
