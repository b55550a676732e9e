//! Queued delivery through crashes and replicas, with the real binary: a `kill -9` with
//! hundreds of deliveries pending and some mid-attempt loses none; two replicas on one
//! PostgreSQL journal deliver 10,000 callbacks with one of them killed mid-run, none of them
//! attempted by both at once. And the config mistakes a queued handler invites, refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chathook_tests::flaky::read_attempts;
use chathook_tests::process::{self, RunningBinary, clean_command};
use chathook_tests::*;

use crate::journal::{COMMAND, delivered, numbered_body, wait_until};

/// A config file for `flaky` on `database_url`, with `flaky_toml` lines added to its table.
fn write_config(dir: &Path, database_url: &str, flaky_toml: &str) -> std::path::PathBuf {
    let record = dir.join("attempts.log");
    process::write_config(
        dir,
        &format!(
            "[apps.main]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\
             [journal]\ndatabase_url = \"{database_url}\"\n\
             [handlers.flaky]\nenabled = true\nrecord = \"{}\"\n{flaky_toml}\n\
             [handlers.flaky.queue]\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n\
             attempt_timeout_ms = 2000\nconcurrency = 8\n",
            record.display()
        ),
    )
}

/// The server on `config`, logging warnings only (and the line that says it listens), so a
/// long run cannot fill the log pipe nobody reads.
fn serve(dir: &Path, config: &Path) -> RunningBinary {
    serve_logging(dir, config, "warn,chathook_core::service=info")
}

fn serve_logging(dir: &Path, config: &Path, level: &str) -> RunningBinary {
    let mut command = clean_command(server_binary!(), dir);
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("CHATHOOK_LOG__LEVEL", level);
    RunningBinary::spawn(command)
}

/// POSTs callbacks `seqs` to `url` from 16 clients at once; every one must be answered OK.
async fn post_all(url: &str, seqs: std::ops::Range<u64>) {
    let http = reqwest::Client::new();
    let mut clients = tokio::task::JoinSet::new();
    let seqs: Vec<u64> = seqs.collect();
    for chunk in seqs.chunks(seqs.len().div_ceil(16).max(1)) {
        let (http, chunk) = (http.clone(), chunk.to_vec());
        let url = url.to_owned();
        clients.spawn(async move {
            for seq in chunk {
                let group = format!("@TGS#{}", seq % 50);
                // Signed as it is sent: a run outlasts the freshness window.
                let response = http
                    .post(format!("{url}/callback?{}", fresh_query(COMMAND)))
                    .body(numbered_body(&group, seq))
                    .send()
                    .await
                    .expect("answered");
                assert_eq!(response.status(), 200, "callback {seq}");
            }
        });
    }
    while let Some(client) = clients.join_next().await {
        client.unwrap();
    }
}

#[tokio::test]
async fn kill_9_with_hundreds_pending_and_some_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let slow = write_config(dir.path(), &url, "delay_ms = 300");
    let running = serve(dir.path(), &slow);
    post_all(&running.url(""), 0..400).await;
    let log = dir.path().join("attempts.log");
    // Some attempts under way: the first concurrency-worth have started or ended.
    wait_until(Duration::from_secs(10), "attempts under way", || {
        !read_attempts(&log).is_empty()
    })
    .await;
    running.signal("KILL");
    drop(running);
    let before = delivered(&read_attempts(&log)).len();
    assert!(
        before < 400,
        "all were delivered before the kill ({before})"
    );

    let fast = write_config(dir.path(), &url, "");
    let restarted = serve(dir.path(), &fast);
    wait_until(
        Duration::from_secs(60),
        "every acknowledged callback delivered",
        || delivered(&read_attempts(&log)).len() == 400,
    )
    .await;
    let attempts = read_attempts(&log);
    let seqs: BTreeSet<u64> = attempts
        .iter()
        .filter(|a| a.ok)
        .filter_map(|a| a.seq)
        .collect();
    assert_eq!(seqs, (0..400).collect());
    // A repeat (an attempt cut by the kill, delivered again) carries the same key.
    for attempt in &attempts {
        let same = attempts.iter().filter(|a| a.seq == attempt.seq);
        assert!(same.clone().all(|a| a.key == attempt.key));
    }
    eprintln!(
        "kill -9: {before} delivered before, {} after the restart, {} attempts in all",
        400 - before,
        attempts.len()
    );
    let (status, _) = restarted.stop();
    assert!(status.success());
}

#[tokio::test]
async fn two_replicas_on_one_postgres_journal_deliver_everything_once_at_a_time() {
    const CALLBACKS: u64 = 10_000;
    let schema = fresh_postgres_schema().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &schema.url, "delay_ms = 2");
    let first = serve(dir.path(), &config);
    let second = serve(dir.path(), &config);
    let (first_url, second_url) = (first.url(""), second.url(""));
    let half = CALLBACKS / 2;
    let log = dir.path().join("attempts.log");
    let to_first = post_all(&first_url, 0..half / 2);
    let to_second = post_all(&second_url, half / 2..half);
    tokio::join!(to_first, to_second);
    wait_until(
        Duration::from_secs(60),
        "the first replica delivering",
        || read_attempts(&log).iter().any(|a| a.pid == first.pid()),
    )
    .await;
    let killed = first.pid();
    first.signal("KILL");
    drop(first);
    post_all(&second_url, half..CALLBACKS).await;
    wait_until(Duration::from_secs(180), "every callback delivered", || {
        delivered(&read_attempts(&log)).len() == CALLBACKS as usize
    })
    .await;

    let attempts = read_attempts(&log);
    let seqs: BTreeSet<u64> = attempts
        .iter()
        .filter(|a| a.ok)
        .filter_map(|a| a.seq)
        .collect();
    assert_eq!(seqs.len(), CALLBACKS as usize);
    // No delivery attempted by two processes at once: per delivery, attempts never overlap.
    let mut by_delivery: BTreeMap<i64, Vec<(u128, u128, u32)>> = BTreeMap::new();
    for attempt in &attempts {
        by_delivery.entry(attempt.delivery).or_default().push((
            attempt.start_ms,
            attempt.end_ms,
            attempt.pid,
        ));
    }
    for (delivery, spans) in &mut by_delivery {
        spans.sort_unstable();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "delivery {delivery} attempted at once: {pair:?}"
            );
        }
    }
    let by_pid = |pid: u32| attempts.iter().filter(|a| a.ok && a.pid == pid).count();
    let twice = delivered(&attempts)
        .values()
        .filter(|count| **count > 1)
        .count();
    eprintln!(
        "two replicas: {} delivered by the killed one, {} by the survivor, {twice} delivered \
         twice (cut by the kill), {} attempts in all",
        by_pid(killed),
        by_pid(second.pid()),
        attempts.len()
    );
    let (status, _) = second.stop();
    assert!(status.success());
}

/// `check-config` on `text`, expected to fail: its stderr.
fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), text);
    let output = Command::new(server_binary!())
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "accepted:\n{text}\n{stderr}");
    stderr
}

#[test]
fn queued_config_mistakes_are_refused_naming_the_key() {
    let table = "[handlers.flaky]\nenabled = true\nrecord = \"a.log\"\n";
    let unknown = refused(&format!("{table}delivery = \"sometimes\"\n"));
    assert!(
        unknown.contains("delivery") && unknown.contains("sometimes"),
        "{unknown}"
    );
    let decider = refused(&format!("{table}decides = true\n"));
    assert!(decider.contains("handlers.flaky.decides"), "{decider}");
    let zero = refused(&format!(
        "{table}[handlers.flaky.queue]\nmax_attempts = 0\n"
    ));
    assert!(zero.contains("handlers.flaky.queue.max_attempts"), "{zero}");
    let negative = refused(&format!(
        "{table}[handlers.flaky.queue]\nbackoff_initial_ms = -5\n"
    ));
    assert!(negative.contains("backoff_initial_ms"), "{negative}");
    let concurrency = refused(&format!("{table}[handlers.flaky.queue]\nconcurrency = 0\n"));
    assert!(
        concurrency.contains("handlers.flaky.queue.concurrency"),
        "{concurrency}"
    );
    let inline =
        refused("[handlers.probe]\nenabled = true\n[handlers.probe.queue]\nmax_attempts = 3\n");
    assert!(inline.contains("handlers.probe.queue"), "{inline}");
    let huge = refused(&format!(
        "{table}[handlers.flaky.queue]\nconcurrency = 1000000\n"
    ));
    assert!(huge.contains("handlers.flaky.queue.concurrency"), "{huge}");
    for (journal, key) in [
        ("max_entries = 0", "journal.max_entries"),
        ("max_batch = 0", "journal.max_batch"),
        (
            "database_url = \"mysql://u:pw@h/db\"",
            "journal.database_url",
        ),
        (
            "dedupe_window_secs = 100\nretention_secs = 10",
            "journal.dedupe_window_secs",
        ),
    ] {
        let stderr = refused(&format!("[journal]\n{journal}\n{table}"));
        assert!(stderr.contains(key), "{journal}: {stderr}");
        assert!(!stderr.contains(":pw@"), "{stderr}");
    }
}

#[test]
fn the_journal_url_is_shown_with_its_password_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(
        dir.path(),
        "[journal]\ndatabase_url = \"postgres://app:s3cret@127.0.0.1:1/chat\"\n\
         [handlers.flaky]\nenabled = true\nrecord = \"a.log\"\n",
    );
    let checked = Command::new(server_binary!())
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(checked.stdout).unwrap(),
        String::from_utf8(checked.stderr).unwrap(),
    );
    assert!(checked.status.success(), "{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("postgres://app:[redacted]@127.0.0.1:1/chat"),
        "{stdout}"
    );
    assert!(stderr.contains("queued handler flaky"), "{stderr}");
    // Serving must open it: the error names it, without the password.
    let served = Command::new(server_binary!())
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr =
        String::from_utf8(served.stderr).unwrap() + &String::from_utf8(served.stdout).unwrap();
    assert!(!served.status.success());
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(stderr.contains("[redacted]"), "{stderr}");
}

#[tokio::test]
async fn sigterm_lets_attempts_in_flight_finish_and_leaves_the_rest_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let slow = write_config(dir.path(), &url, "delay_ms = 700");
    let running = serve(dir.path(), &slow);
    post_all(&running.url(""), 0..100).await;
    let log = dir.path().join("attempts.log");
    // The first round of attempts has started (8 at once), none ended yet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, output) = running.stop_within(Duration::from_secs(10));
    assert!(status.success(), "{output}");
    let finished = delivered(&read_attempts(&log)).len();
    assert!(
        (1..100).contains(&finished),
        "the attempts in flight finish, the rest wait: {finished} delivered\n{output}"
    );
    let restarted = serve(dir.path(), &write_config(dir.path(), &url, ""));
    wait_until(
        Duration::from_secs(30),
        "the rest delivered after the restart",
        || delivered(&read_attempts(&log)).len() == 100,
    )
    .await;
    assert!(
        delivered(&read_attempts(&log))
            .values()
            .all(|count| *count == 1),
        "a graceful stop delivers nothing twice"
    );
    let (status, _) = restarted.stop();
    assert!(status.success());
}

#[test]
fn handlers_marks_a_queued_handler() {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(
        dir.path(),
        "[handlers.flaky]\nenabled = true\nrecord = \"a.log\"\ncommands = [\"Group.*:after\"]\n",
    );
    let output = Command::new(server_binary!())
        .current_dir(dir.path())
        .args(["handlers", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let row = stdout
        .lines()
        .find(|line| line.starts_with("Group.CallbackAfterSendMsg "))
        .unwrap_or_else(|| panic!("no row:\n{stdout}"));
    assert!(row.contains("flaky queued"), "{row}");
}

#[test]
fn the_start_up_log_names_the_journal_and_each_queued_handlers_policy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let config = write_config(dir.path(), &url, "");
    let running = serve_logging(dir.path(), &config, "info");
    let lines: Vec<serde_json::Value> = running
        .log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let opened = lines
        .iter()
        .find(|line| line["message"] == "journal opened")
        .unwrap_or_else(|| panic!("{:#?}", running.log));
    assert!(
        opened["journal"].as_str().unwrap().contains("journal.db"),
        "{opened}"
    );
    let queued = lines
        .iter()
        .find(|line| line["message"] == "queued handler")
        .unwrap_or_else(|| panic!("{:#?}", running.log));
    assert_eq!(queued["handler"], "flaky");
    let policy = queued["policy"].as_str().unwrap();
    assert!(
        policy.contains("max_attempts 10") && policy.contains("backoff 20..200 ms"),
        "{policy}"
    );
    let (status, _) = running.stop();
    assert!(status.success());
}
