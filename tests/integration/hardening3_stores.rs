//! Issue 26's store items, each as the outside probe broke it, against the real binary: a
//! full disk readiness missed (26.2), a spool file deleted while spooling (26.6), a deleted
//! `-wal` (26.7), an immutable `-shm` and its SIGBUS (26.8), two ERROR lines per failed
//! callback (26.9) and tables dropped under a recorded migration (26.11).
//!
//! Full disks and immutable files need root (`mount -t tmpfs`, `chattr +i`): those tests say
//! so and pass by doing nothing elsewhere. `HARDENING3_STORES_BINARY` points every test at
//! another build of `chathook-test-server`, to watch them fail before a fix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chathook_tests::nats::{OwnNats, read_stream, unique_stream};
use chathook_tests::process::{APP_TOML, RunningBinary, clean_command, write_config};
use chathook_tests::*;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::read_receipt::{COMMAND as RECEIPT, receipt_body};

mod files;

/// The binary under test.
fn binary() -> String {
    std::env::var("HARDENING3_STORES_BINARY").unwrap_or_else(|_| server_binary!().to_owned())
}

/// Serves `tables` (after the file app's) from `dir`, logging JSON at `level`.
fn serve(dir: &Path, tables: &str) -> RunningBinary {
    let config = write_config(dir, &format!("{APP_TOML}{tables}"));
    let mut command = clean_command(binary(), dir);
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("CHATHOOK_LOG__LEVEL", "info");
    RunningBinary::spawn(command)
}

/// Runs `serve` on `tables` until it exits, at most 20 s (a start that should fail but
/// serves is killed); returns whether it exited, and everything it wrote.
fn start_and_exit(dir: &Path, tables: &str) -> (bool, String) {
    let config = write_config(dir, &format!("{APP_TOML}{tables}"));
    let mut child = clean_command(binary(), dir)
        .args(["serve", "--config"])
        .arg(config)
        .env("CHATHOOK_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if child.try_wait().expect("wait").is_some() {
            break true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (exited && !output.status.success(), text)
}

fn receipt_table(database_url: &str, extra: &str) -> String {
    format!(
        "[handlers.read_receipt]\nenabled = true\ndatabase_url = \"{database_url}\"\n\
         max_batch = 1\n{extra}"
    )
}

/// Posts one receipt callback for `seq` of group `g`; the status, or 0 if unanswered.
async fn post_receipt(server: &RunningBinary, seq: i64) -> u16 {
    let url = server.url(&format!(
        "/callback?{}",
        signed_query(RECEIPT, "file-token", now())
    ));
    let body = receipt_body("g", seq, &[(seq, 1, 1, &["reader"])]);
    match reqwest::Client::new().post(url).body(body).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// `/readyz`: its status and body.
async fn readyz(server: &RunningBinary) -> (u16, String) {
    let response = reqwest::get(server.url("/readyz")).await.expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The reason of the next `not ready` line in `server`'s log: `/readyz` tells only the state.
fn not_ready_reason(server: &mut RunningBinary) -> String {
    server.next_event("not ready").to_string()
}

/// Polls `/readyz` until it answers `status`, at most 15 s.
async fn readyz_becomes(server: &RunningBinary, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (now, body) = readyz(server).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message seqs stored in a read receipt SQLite file, opened as chathook would after a
/// crash (the WAL replayed).
async fn stored_seqs(database: &Path) -> BTreeSet<i64> {
    let url = format!("sqlite://{}", database.display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT msg_seq FROM read_receipts")
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(mounted.success(), "as root, mount -t tmpfs must work here");
        Self(at)
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_not_ready_until_a_real_write_commits_and_from_the_start() {
    if !is_root() {
        eprintln!("skipped: needs root to mount a small tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path().join("disk"), "2M");
    let database = disk.0.join("receipts.db");
    let tables = receipt_table(&format!("sqlite://{}", database.display()), "");
    let mut server = serve(dir.path(), &tables);
    assert_eq!(post_receipt(&server, 0).await, 200);
    assert_eq!(readyz(&server).await.0, 200);

    disk.fill();
    // New rows need new pages, which the log holds until a checkpoint copies them into the
    // database file; a write fails when the log finds no room, and succeeds again whenever a
    // checkpoint could make some. Once the database file cannot grow, none can.
    let mut failed = None;
    let mut failures_in_a_row = 0;
    for seq in 1..20_000 {
        if post_receipt(&server, seq).await == 500 {
            failures_in_a_row += 1;
        } else {
            failures_in_a_row = 0;
        }
        if failures_in_a_row == 20 {
            failed = Some(seq);
            break;
        }
    }
    assert!(
        failed.is_some(),
        "writes did not stop failing on a full disk"
    );
    // An empty transaction still commits on a full disk; a write does not.
    let (status, body) = readyz(&server).await;
    if status != 503 {
        let (_, log) = server.stop();
        panic!("ready on a full disk after callback {failed:?} failed: {body}\n{log}");
    }
    let reason = not_ready_reason(&mut server);
    assert!(reason.contains("full"), "{reason}");

    // Started again on the full disk: not ready before any callback fails.
    server.signal("KILL");
    drop(server);
    let server = serve(dir.path(), &tables);
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "ready from the start on a full disk: {body}");

    // Room again: ready on its own, and callbacks are stored.
    disk.free();
    readyz_becomes(&server, 200).await;
    assert_eq!(post_receipt(&server, 100_000).await, 200);
}

/// A journal on `database_url` and the queued `flaky`, whose attempts never end in a test.
fn journal_tables(dir: &Path, database_url: &str) -> String {
    journal_tables_with(dir, database_url, 60_000)
}

/// A journal on `database_url` and the queued `flaky`, each attempt taking `delay_ms`.
fn journal_tables_with(dir: &Path, database_url: &str, delay_ms: u64) -> String {
    format!(
        "[journal]\ndatabase_url = \"{database_url}\"\n\
         [handlers.flaky]\nenabled = true\nrecord = \"{}\"\ndelay_ms = {delay_ms}\n\
         [handlers.flaky.queue]\nconcurrency = 1\n",
        dir.join("attempts.log").display()
    )
}

/// Posts a callback owed to the queued `flaky`; the status, or 0 if unanswered.
async fn post_queued(server: &RunningBinary, seq: u64) -> u16 {
    let url = server.url(&format!(
        "/callback?{}",
        signed_query(crate::journal::COMMAND, "file-token", now())
    ));
    let body = crate::journal::numbered_body("g", seq);
    match reqwest::Client::new().post(url).body(body).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn store_failures_log_within_a_budget_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let tables = format!(
        "[log]\nrejections_per_second = 5\n{}",
        receipt_table("sqlite://receipts.db", "")
    );
    let server = serve(dir.path(), &tables);
    assert_eq!(post_receipt(&server, 0).await, 200);
    // A table gone under the running store: every write fails, fast.
    let url = format!("sqlite://{}", dir.path().join("receipts.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let readers: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'read_receipt_readers'",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    sqlx::query("DROP TABLE read_receipt_readers")
        .execute(&mut connection)
        .await
        .unwrap();
    // Few enough that two lines for each fit in the pipe the log is read from, until the end.
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..5 {
        let url = server.url("");
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let mut failed = 0;
            for n in 0..8 {
                let seq = 1 + client * 100 + n;
                let query = signed_query(RECEIPT, "file-token", now());
                let body = receipt_body("g", seq, &[(seq, 1, 1, &["reader"])]);
                let response = http
                    .post(format!("{url}/callback?{query}"))
                    .body(body)
                    .send()
                    .await
                    .expect("answered");
                if response.status() == 500 {
                    failed += 1;
                }
            }
            failed
        });
    }
    let mut failed = 0;
    while let Some(client) = clients.join_next().await {
        failed += client.unwrap();
    }
    let seconds = started.elapsed().as_secs() + 1;
    assert_eq!(failed, 40, "every write failed");
    sqlx::query(&readers)
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(post_receipt(&server, 10_000).await, 200);
    let (_, log) = server.stop_within(Duration::from_secs(20));
    let errors = log
        .lines()
        .filter(|line| line.contains(r#""level":"ERROR""#))
        .count() as u64;
    // The store's own line a second, and the handler's within log.rejections_per_second.
    let budget = seconds * (1 + 5) + 2;
    assert!(
        errors <= budget,
        "{errors} ERROR lines for {failed} failures in {seconds} s (budget {budget})"
    );
    assert!(
        log.lines()
            .any(|line| line.contains("read receipt writes commit again")
                && line.contains(&format!("{failed} callbacks were answered 500"))),
        "{log}"
    );
}

#[tokio::test]
async fn postgres_tables_dropped_under_a_recorded_migration_stop_the_start() {
    let schema = fresh_postgres_schema().await;
    let dir = tempfile::tempdir().unwrap();
    let tables = format!(
        "{}{}",
        receipt_table(&schema.url, ""),
        journal_tables(dir.path(), &schema.url)
    );
    let server = serve(dir.path(), &tables);
    drop(server.stop());
    let mut connection = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    sqlx::query("DROP TABLE read_receipt_readers")
        .execute(&mut connection)
        .await
        .unwrap();
    let (refused, output) = start_and_exit(dir.path(), &tables);
    assert!(refused, "started without read_receipt_readers:\n{output}");
    assert!(
        output.contains("has no table read_receipt_readers") && output.contains("_sqlx_migrations"),
        "{output}"
    );
    assert_eq!(output.matches("error:").count(), 1, "{output}");

    // The journal's own schema check, with the read receipt store left out.
    sqlx::query("DROP TABLE journal_attempts")
        .execute(&mut connection)
        .await
        .unwrap();
    let (refused, output) = start_and_exit(dir.path(), &journal_tables(dir.path(), &schema.url));
    assert!(refused, "started without journal_attempts:\n{output}");
    assert!(
        output.contains("has no table journal_attempts, though journal_schema records"),
        "{output}"
    );
}

#[tokio::test]
async fn sqlite_tables_dropped_under_a_recorded_migration_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let tables = format!(
        "{}{}",
        receipt_table("sqlite://receipts.db", ""),
        journal_tables(dir.path(), "sqlite://journal.db")
    );
    drop(serve(dir.path(), &tables).stop());
    for (file, table) in [
        ("receipts.db", "read_receipts"),
        ("journal.db", "journal_deliveries"),
    ] {
        let url = format!("sqlite://{}", dir.path().join(file).display());
        let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let (refused, output) = start_and_exit(dir.path(), &tables);
    assert!(refused, "started without its tables:\n{output}");
    assert!(output.contains("has no table"), "{output}");
}
