//! `durability`: every callback acknowledged before chathook is killed with SIGKILL is in the
//! store when it is opened again, with `full` and with `normal`, on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chathook_tests::process::{self, RunningBinary, clean_command};
use chathook_tests::*;
use sqlx::Connection as _;

use crate::read_receipt::{COMMAND, receipt_body};

/// Writers sending callbacks at once.
const WRITERS: i64 = 32;
/// Each writer's MsgSeq range.
const RANGE: i64 = 1_000_000;

/// Runs chathook on `database_url` with `durability`, has `WRITERS` clients send callbacks
/// for a while, kills chathook with SIGKILL while they are still sending, and checks that
/// every callback answered 200 is stored. One callback per commit (`max_batch = 1`): the
/// most commits, and a writer that lags the clients, so that a callback answered before its
/// commit would be caught.
async fn acknowledged_callbacks_survive_sigkill(database_url: &str, durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(
        dir.path(),
        &format!(
            "[apps.main]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\
             [handlers.read_receipt]\nenabled = true\ndatabase_url = \"{database_url}\"\n\
             durability = \"{durability}\"\nmax_batch = 1\n"
        ),
    );
    let mut command = clean_command(server_binary!(), dir.path());
    command.args(["serve", "--config"]).arg(&config);
    let running = RunningBinary::spawn(command);
    let url = running.url(&format!("/callback?{}", fresh_query(COMMAND)));

    let killed = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (http, url, killed) = (http.clone(), url.clone(), Arc::clone(&killed));
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0.. {
                let seq = writer * RANGE + n;
                let body = receipt_body("@TGS#durable", seq, &[(seq, 1, 1, &["reader"])]);
                match http.post(&url).body(body).send().await {
                    Ok(response) if response.status() == 200 => {
                        // An answer read after the kill is still an acknowledgement: the
                        // process wrote it before it died.
                        if response.bytes().await.is_ok() {
                            acknowledged.push(seq);
                        }
                    }
                    Ok(response) => panic!("answered {} before the kill", response.status()),
                    Err(_) if killed.load(Ordering::SeqCst) => break,
                    Err(error) => panic!("request failed before the kill: {error}"),
                }
            }
            acknowledged
        });
    }
    // Long enough for thousands of commits and several checkpoints.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    killed.store(true, Ordering::SeqCst);
    running.signal("KILL");
    let mut acknowledged = BTreeSet::new();
    while let Some(writer) = writers.join_next().await {
        acknowledged.extend(writer.unwrap());
    }
    assert!(
        acknowledged.len() > 100,
        "only {} callbacks acknowledged before the kill",
        acknowledged.len()
    );

    // Opened again as chathook opens it after a crash: SQLite replays its WAL.
    let stored: BTreeSet<i64> = if database_url.starts_with("sqlite:") {
        let path = dir
            .path()
            .join(database_url.trim_start_matches("sqlite://"));
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
        sqlx::query_scalar("SELECT msg_seq FROM read_receipts")
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .into_iter()
            .collect()
    } else {
        let mut connection = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar("SELECT msg_seq FROM read_receipts")
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "durability {durability}: {} of {} acknowledged callbacks lost, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
}

#[tokio::test]
async fn sqlite_full_keeps_every_acknowledged_callback_through_sigkill() {
    acknowledged_callbacks_survive_sigkill("sqlite://receipts.db", "full").await;
}

#[tokio::test]
async fn sqlite_normal_keeps_every_acknowledged_callback_through_sigkill() {
    acknowledged_callbacks_survive_sigkill("sqlite://receipts.db", "normal").await;
}

#[tokio::test]
async fn postgres_normal_keeps_every_acknowledged_callback_through_sigkill() {
    let schema = fresh_postgres_schema().await;
    acknowledged_callbacks_survive_sigkill(&schema.url, "normal").await;
}
