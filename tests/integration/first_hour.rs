//! What a new operator sees first, from the real binary: the start-up log, a failed start's
//! one error line, and `check-config` without a config file.

use std::path::Path;
use std::process::Command;

use chathook_tests::process::{APP_TOML, RunningBinary, clean_command, write_config};
use chathook_tests::*;
use serde_json::{Value, json};

/// The test server binary, run from `dir`.
fn chathook(dir: &tempfile::TempDir) -> Command {
    clean_command(server_binary!(), dir.path())
}

/// The shipped config, as `config/chathook.toml` of a fresh directory.
fn with_shipped_config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/chathook.toml"),
        dir.path().join("config/chathook.toml"),
    )
    .unwrap();
    dir
}

/// The messages of a JSON log.
fn messages(log: &str) -> Vec<(String, String)> {
    events(log)
        .iter()
        .map(|entry| {
            (
                entry["level"].as_str().unwrap_or_default().to_owned(),
                entry["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The events of a JSON log, each with its fields.
fn events(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Whether the log has an event whose fields include `fields` (its level and message too),
/// and, if given, whose string field `key` holds `part`.
fn logged(log: &str, fields: Value, holding: Option<(&str, &str)>) -> bool {
    events(log).iter().any(|event| {
        let fields_match = fields
            .as_object()
            .unwrap()
            .iter()
            .all(|(key, value)| event[key] == *value);
        let holds = holding
            .is_none_or(|(key, part)| event[key].as_str().is_some_and(|text| text.contains(part)));
        fields_match && holds
    })
}

/// The `error: ...` line of a failed start, and that no part of it says the same twice.
fn one_error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
        .to_owned();
    let parts: Vec<&str> = line.split(": ").collect();
    for (index, part) in parts.iter().enumerate() {
        assert!(
            !parts[index + 1..].contains(part),
            "the error repeats {part:?}:\n{line}"
        );
    }
    line
}

/// Whether the log says read_receipt is enabled with settings that hold `part`.
fn read_receipt_enabled_with(log: &str, part: &str) -> bool {
    let fields =
        json!({ "level": "INFO", "message": "handler enabled", "handler": "read_receipt" });
    logged(log, fields, Some(("settings", part)))
}

#[test]
fn the_start_up_log_names_version_file_apps_handlers_and_address_and_no_token() {
    let dir = with_shipped_config();
    let running = RunningBinary::spawn(chathook(&dir));
    let listening = running.url("");
    let (_, log) = running.stop();
    let messages = messages(&log);
    let said = |level: &str, start: &str| {
        messages
            .iter()
            .any(|(l, message)| l == level && message.starts_with(start))
    };
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        logged(
            &log,
            json!({
                "level": "INFO",
                "message": "chathook starting",
                "config_file": "config/chathook.toml",
            }),
            Some(("version", &format!("{version} (plugins: ")))
        ),
        "{log}"
    );
    assert!(
        logged(
            &log,
            json!({
                "level": "INFO",
                "message": "app configured",
                "app": "example",
                "sdk_app_id": 1400000000,
                "tokens": 1,
            }),
            None
        ),
        "{log}"
    );
    assert!(
        logged(
            &log,
            json!({
                "level": "WARN",
                "app": "example",
                "key": "apps.example.tokens",
            }),
            Some(("message", "app uses the shipped placeholder token"))
        ),
        "{log}"
    );
    assert!(
        said("WARN", "api.tokens holds the shipped placeholder"),
        "{log}"
    );
    assert!(
        read_receipt_enabled_with(&log, "sqlite://data/read_receipts.db"),
        "{log}"
    );
    assert!(said("INFO", "listening"), "{log}");
    assert!(!listening.is_empty());
    assert!(
        !log.contains("change-me-example-token") && !log.contains("change-me-api-token"),
        "a token reached the log:\n{log}"
    );
}

#[test]
fn a_real_token_and_a_password_stay_out_of_the_start_up_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{APP_TOML}[handlers.read_receipt]\nenabled = true\n\
             database_url = \"postgres://chathook:pa55word@127.0.0.1:1/db\"\n"
        ),
    );
    // The store cannot open (nothing listens on port 1): the start fails after the
    // start-up lines, which is all this test reads.
    let output = chathook(&dir)
        .args(["serve", "--config"])
        .arg(&config)
        .env("CHATHOOK_LOG__FORMAT", "json")
        .env("CHATHOOK_HANDLERS__READ_RECEIPT__BUSY_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let messages = messages(&log);
    assert!(
        logged(
            &log,
            json!({
                "level": "INFO",
                "message": "app configured",
                "app": "main",
                "sdk_app_id": 1400000000,
                "tokens": 1,
            }),
            None
        ),
        "{log}"
    );
    assert!(
        !messages.iter().any(|(_, m)| m.contains("placeholder")),
        "{log}"
    );
    assert!(
        read_receipt_enabled_with(&log, "postgres://chathook:[redacted]@127.0.0.1:1/db"),
        "{log}"
    );
    for secret in ["file-token", "pa55word"] {
        assert!(
            !log.contains(secret) && !stderr.contains(secret),
            "{secret} printed:\n{log}\n{stderr}"
        );
    }
}

#[test]
fn a_port_in_use_is_said_once_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), APP_TOML);
    let output = chathook(&dir)
        .args(["serve", "--config"])
        .arg(&config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", addr.to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let line = one_error_line(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(line.matches("in use").count(), 1, "{line}");
    assert!(
        line.starts_with(&format!("cannot listen on {addr}")),
        "{line}"
    );
    assert!(line.contains("set server.listen_addr"), "{line}");
}

#[test]
fn a_bad_log_level_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("{APP_TOML}[log]\nlevel = \"info,chathook=loudest\"\n"),
    );
    for verb in ["serve", "check-config"] {
        let output = chathook(&dir)
            .args([verb, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{verb}");
        let line = one_error_line(&String::from_utf8_lossy(&output.stderr));
        assert!(
            line.starts_with("log.level \"info,chathook=loudest\" is not a valid log filter"),
            "{verb}: {line}"
        );
    }
}

#[test]
fn check_config_says_when_no_config_file_was_found() {
    let empty = tempfile::tempdir().unwrap();
    let output = chathook(&empty).arg("check-config").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("no config file was found (config/chathook.toml does not exist"),
        "{stderr}"
    );

    let shipped = with_shipped_config();
    let output = chathook(&shipped).arg("check-config").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("config is valid (file config/chathook.toml)"),
        "{stderr}"
    );
}

/// `serve`'s error line with read_receipt on `database_url`.
fn serve_error(database_url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{APP_TOML}[handlers.read_receipt]\nenabled = true\ndatabase_url = \"{database_url}\"\n\
             busy_timeout_ms = 500\n"
        ),
    );
    let output = chathook(&dir)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{database_url} started");
    one_error_line(&String::from_utf8_lossy(&output.stderr))
}

#[test]
fn postgres_failures_name_the_server_and_what_went_wrong() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = free.local_addr().unwrap().port();
    drop(free);
    let line = serve_error(&format!("postgres://u:s3cret@127.0.0.1:{free_port}/db"));
    assert!(
        line.contains(&format!(
            "PostgreSQL at 127.0.0.1:{free_port} refused the connection"
        )),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");

    // A server that takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let line = serve_error(&format!("postgres://u@127.0.0.1:{silent_port}/db"));
    assert!(
        line.contains(&format!(
            "PostgreSQL at 127.0.0.1:{silent_port} did not answer within busy_timeout_ms (500 ms)"
        )),
        "{line}"
    );
    drop(silent);

    let base = postgres_url();
    let (scheme_and_user, host_and_db) = base.split_once('@').expect("user@host in the URL");
    let host = host_and_db.split('/').next().unwrap();
    let line = serve_error(&format!(
        "{scheme_and_user}@{host}/chathook_no_such_database"
    ));
    assert!(
        line.contains(
            "has no database \"chathook_no_such_database\": create it, or fix database_url"
        ),
        "{line}"
    );
    let line = serve_error(&format!("postgres://chathook_no_such_role@{host}/test"));
    assert!(
        line.contains("rejected user \"chathook_no_such_role\""),
        "{line}"
    );
}

#[test]
fn a_mistyped_key_in_the_file_is_shown_as_written_with_the_closest_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("{APP_TOML}[server]\nlisten_adr = \"127.0.0.1:9000\"\n"),
    );
    let output = chathook(&dir)
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let line = one_error_line(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        line,
        format!(
            "invalid configuration: server.listen_adr in {}: unknown key; did you mean \
             server.listen_addr?",
            config.display()
        )
    );
}

#[test]
fn check_config_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{APP_TOML}[handlers.read_receipt]\nenabled = true\n\
             database_url = \"sqlite://receipts.db\"\n"
        ),
    );
    let output = chathook(&dir)
        .args(["check-config", "--config"])
        .arg(&config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", "0.0.0.0:9000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let line = |start: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} line in:\n{stdout}"))
            .to_owned()
    };
    assert!(
        line("listen_addr = ").ends_with("# environment CHATHOOK_SERVER__LISTEN_ADDR"),
        "{stdout}"
    );
    assert!(
        line("sdk_app_id = ").ends_with(&format!("# file {}", config.display())),
        "{stdout}"
    );
    assert!(line("callback_path = ").ends_with("# default"), "{stdout}");
    // A handler's defaults are shown too, as defaults.
    assert!(
        line("database_url = ").ends_with(&format!("# file {}", config.display())),
        "{stdout}"
    );
    assert_eq!(line("max_batch = "), "max_batch = 256  # default");
    assert_eq!(line("durability = "), "durability = \"full\"  # default");
    // Still TOML, and still redacted.
    let effective: toml::Value = toml::from_str(&stdout).unwrap();
    assert_eq!(
        effective["server"]["listen_addr"].as_str(),
        Some("0.0.0.0:9000")
    );
    assert!(!stdout.contains("file-token"), "{stdout}");
}
