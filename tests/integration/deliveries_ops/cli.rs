//! `chathook deliveries` against a real journal file with the server stopped: the journal's
//! state is written through `Journal` directly (two dead letters, one delivered), then each
//! verb is run as an operator runs it and its effect read back from the journal.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chathook_core::Config;
use chathook_core::deliveries::{format_time, unix_ms};
use chathook_core::journal::{
    Attempt, AttemptOutcome, DeliveryState, Journal, LeaseOwner, NewEntry, StoredCallback,
};
use chathook_tests::process::clean_command;
use chathook_tests::{APP_ID, server_binary};

use crate::journal::{COMMAND, numbered_body};

/// The journal at `dir/journal.db`, as the config file below names it.
async fn open_journal(dir: &Path) -> Journal {
    let mut options = Config::default().journal.options();
    options.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    Journal::open(options).await.expect("the journal opens")
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        "[journal]\ndatabase_url = \"sqlite://{dir}/journal.db\"\n\n[handlers.flaky]\n\
         enabled = true\nrecord = \"{dir}/attempts.log\"\n",
        dir = dir.display()
    );
    chathook_tests::process::write_config(dir, &text)
}

/// Three callbacks owed to `flaky`: the first two dead after one attempt, the third delivered.
/// Returns their delivery ids, oldest first.
async fn write_state(journal: &Journal) -> Vec<i64> {
    for seq in 0..3 {
        let callback = StoredCallback {
            sdk_app_id: APP_ID,
            command: COMMAND.to_owned(),
            client_ip: Some("127.0.0.1".into()),
            opt_platform: None,
            request_time: None,
            received_at: SystemTime::now(),
            body: numbered_body("@TGS#cli", seq).into(),
            decision: None,
            conversation_key: Some("@TGS#cli".into()),
            idempotency_key: format!("cli-{seq}"),
        };
        let entry = NewEntry {
            callback,
            handlers: vec!["flaky"],
        };
        journal.append(entry).await.expect("appended");
    }
    let owner: LeaseOwner = Arc::from("the cli test");
    let mut claimed = journal
        .claim("flaky", false, 10, Duration::from_secs(60), &owner)
        .await
        .expect("claimed");
    claimed.sort_by_key(|claimed| claimed.id);
    assert_eq!(claimed.len(), 3);
    for (index, delivery) in claimed.iter().enumerate() {
        let outcome = if index < 2 {
            AttemptOutcome::Dead {
                error: format!("the CRM refused seq {index}"),
                reason: "permanent",
            }
        } else {
            AttemptOutcome::Delivered
        };
        let attempt = Attempt {
            started_at: SystemTime::now(),
            ended_at: SystemTime::now(),
            outcome,
        };
        journal
            .settle(delivery.id, &owner, attempt)
            .await
            .expect("settled");
    }
    claimed.iter().map(|claimed| claimed.id).collect()
}

/// `chathook --config CONFIG deliveries ARGS...`, run in `dir`.
async fn deliveries(dir: &Path, config: &Path, args: &[&str]) -> Output {
    let mut command = clean_command(server_binary!(), dir);
    command
        .arg("--config")
        .arg(config)
        .arg("deliveries")
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap()
}

/// Its standard output, after checking it succeeded.
fn succeeded(output: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed: {stderr}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Its one error line, after checking it failed.
fn failed(output: &Output, what: &str) -> String {
    assert!(!output.status.success(), "{what} succeeded");
    String::from_utf8(output.stderr.clone()).unwrap()
}

async fn state_of(dir: &Path, id: i64) -> Option<DeliveryState> {
    let journal = open_journal(dir).await;
    let detail = journal.show(id).await.expect("shown");
    detail.map(|detail| detail.summary.state)
}

#[tokio::test]
async fn the_deliveries_verbs_read_and_change_the_journal_with_the_server_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let missing = failed(&deliveries(dir.path(), &config, &["list"]).await, "list");
    assert!(missing.contains("error: no journal at"), "{missing}");
    let ids = {
        let journal = open_journal(dir.path()).await;
        write_state(&journal).await
    };
    let (dead, delivered) = ((ids[0], ids[1]), ids[2]);
    let run = |args: &'static [&'static str]| deliveries(dir.path(), &config, args);

    let table = succeeded(&run(&["list"]).await, "list");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID  HANDLER  STATE"), "{table}");
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[1].starts_with(&format!("{delivered} ")),
        "newest first: {table}"
    );
    assert!(table.contains("the CRM refused seq 0"), "{table}");

    let json = succeeded(
        &run(&["list", "--state", "dead", "--json"]).await,
        "list --json",
    );
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed_ids: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|delivery| delivery["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed_ids, [dead.1, dead.0]);
    let none = succeeded(
        &run(&["list", "--command", "C2C.*"]).await,
        "list --command",
    );
    assert_eq!(none, "no deliveries match\n");

    for (args, words) in [
        (
            &["list", "--since", "junk"][..],
            "error: --since \"junk\" is not an RFC 3339 time",
        ),
        (
            &["list", "--state", "stuck"],
            "error: --state \"stuck\" is not one of pending",
        ),
        (
            &["list", "--handler", "nope"],
            "error: --handler \"nope\" is not a queued handler (queued: flaky)",
        ),
        (&["show", "999"], "error: no delivery 999"),
        (&["discard", "999"], "error: no delivery 999"),
        (&["retry", "999"], "error: no delivery 999"),
        (
            &[
                "replay",
                "--handler",
                "flaky",
                "--since",
                "1h",
                "--until",
                "2h",
            ],
            "error: --until must be after since",
        ),
        (
            &[
                "replay",
                "--handler",
                "nope",
                "--since",
                "2h",
                "--until",
                "1h",
            ],
            "error: --handler \"nope\" is not a queued handler",
        ),
    ] {
        let stderr = failed(
            &deliveries(dir.path(), &config, args).await,
            &args.join(" "),
        );
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }

    let dead_id = dead.0.to_string();
    let shown = succeeded(
        &deliveries(dir.path(), &config, &["show", &dead_id]).await,
        "show",
    );
    for words in [
        "state           dead",
        "dead because    permanent",
        "attempts (1)",
        "the CRM refused seq 0",
        "@TGS#cli",
    ] {
        assert!(shown.contains(words), "{words:?} in {shown}");
    }

    let retried = succeeded(
        &deliveries(dir.path(), &config, &["retry", &dead_id]).await,
        "retry",
    );
    assert!(retried.starts_with("retried 1 delivery"), "{retried}");
    assert_eq!(
        state_of(dir.path(), dead.0).await,
        Some(DeliveryState::Pending)
    );
    let all = succeeded(
        &run(&["retry", "--all-dead", "--handler", "flaky"]).await,
        "retry --all-dead",
    );
    assert_eq!(all, "retried 1 dead deliveries of flaky (due now)\n");
    assert_eq!(
        state_of(dir.path(), dead.1).await,
        Some(DeliveryState::Pending)
    );

    // The delivered one is scheduled again; the two pending are left alone.
    let until = format_time(unix_ms(SystemTime::now()) + 60_000);
    let args = [
        "replay",
        "--handler",
        "flaky",
        "--since",
        "1h",
        "--until",
        &until,
        "--command",
        "Group.*",
    ];
    let replayed = succeeded(&deliveries(dir.path(), &config, &args).await, "replay");
    assert_eq!(replayed, "scheduled 1 deliveries to flaky (due now)\n");
    assert_eq!(
        state_of(dir.path(), delivered).await,
        Some(DeliveryState::Pending)
    );

    let discarded = succeeded(
        &deliveries(dir.path(), &config, &["discard", &dead_id]).await,
        "discard",
    );
    assert_eq!(discarded, format!("discarded delivery {dead_id}\n"));
    assert_eq!(state_of(dir.path(), dead.0).await, None);
}
