//! The files under a SQLite store changed while it runs: a deleted `-wal` (26.7), an immutable
//! `-shm` (26.8), the nats spool's file deleted (26.6).

use super::*;

#[tokio::test]
async fn a_deleted_wal_is_refused_before_any_acknowledgement_and_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("receipts.db");
    let mut server = serve(dir.path(), &receipt_table("sqlite://receipts.db", ""));
    let mut acknowledged = BTreeSet::new();
    for seq in 0..50 {
        assert_eq!(post_receipt(&server, seq).await, 200);
        acknowledged.insert(seq);
    }
    std::fs::remove_file(dir.path().join("receipts.db-wal")).unwrap();
    for seq in 50..60 {
        let status = post_receipt(&server, seq).await;
        assert_eq!(
            status, 500,
            "callback {seq} acknowledged into a deleted log"
        );
    }
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "{body}");
    let reason = not_ready_reason(&mut server);
    assert!(
        reason.contains("receipts.db-wal was removed or replaced; restart chathook"),
        "{reason}"
    );
    server.signal("KILL");
    drop(server);
    let stored = stored_seqs(&database).await;
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
}

#[tokio::test]
async fn the_journal_refuses_to_commit_into_a_deleted_wal_and_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        dir.path(),
        &journal_tables(dir.path(), "sqlite://journal.db"),
    );
    for seq in 0..30 {
        assert_eq!(post_queued(&server, seq).await, 200, "callback {seq}");
    }
    std::fs::remove_file(dir.path().join("journal.db-wal")).unwrap();
    for seq in 30..35 {
        let status = post_queued(&server, seq).await;
        assert_eq!(status, 500, "callback {seq} journaled into a deleted log");
    }
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("journal.db-wal was removed or replaced"),
        "{body}"
    );
    server.signal("KILL");
    drop(server);
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal_entries")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        entries, 30,
        "every acknowledged callback journaled, no other"
    );
}

#[tokio::test]
async fn an_immutable_shm_refuses_writes_without_a_sigbus_and_refuses_a_start() {
    if !is_root() {
        eprintln!("skipped: needs root for chattr +i");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shm = dir.path().join("receipts.db-shm");
    let tables = receipt_table("sqlite://receipts.db", "");
    let mut server = serve(dir.path(), &tables);
    assert_eq!(post_receipt(&server, 0).await, 200);
    // The checkpointer's copy of that commit done: it is idle, not half-way through a write
    // that checked the files before they changed (a check cannot close that window; the
    // start-up refusal below is what is certain).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !wal_backfilled(&shm) {
        assert!(Instant::now() < deadline, "the WAL was never checkpointed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !chattr("+i", &shm) {
        eprintln!("skipped: this file system has no immutable attribute");
        return;
    }
    let _cleared = Cleared(shm.clone());
    // Dirty pages of the mapping written back, so that the next write through it faults.
    let _ = Command::new("sync").status();
    for seq in 1..40 {
        assert_eq!(post_receipt(&server, seq).await, 500, "callback {seq}");
    }
    let (status, body) = readyz(&server).await;
    assert_eq!(status, 503, "{body}");
    let reason = not_ready_reason(&mut server);
    assert!(reason.contains("receipts.db-shm is immutable"), "{reason}");
    // The attribute cleared: writes work again, without a restart.
    assert!(chattr("-i", &shm));
    readyz_becomes(&server, 200).await;
    assert_eq!(post_receipt(&server, 40).await, 200);

    // Left behind by a crash, then made immutable: the start is refused, naming the file.
    server.signal("KILL");
    drop(server);
    assert!(shm.exists(), "a crash leaves the -shm behind");
    assert!(chattr("+i", &shm));
    let (refused, output) = start_and_exit(dir.path(), &tables);
    assert!(refused, "started on an immutable -shm:\n{output}");
    assert!(
        output.contains("receipts.db-shm is immutable or append-only"),
        "{output}"
    );
    assert_eq!(output.matches("error:").count(), 1, "{output}");
}

#[tokio::test]
async fn the_journal_refuses_writes_on_an_immutable_shm_and_a_start_on_one() {
    if !is_root() {
        eprintln!("skipped: needs root for chattr +i");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shm = dir.path().join("journal.db-shm");
    let tables = journal_tables_with(dir.path(), "sqlite://journal.db", 0);
    let server = serve(dir.path(), &tables);
    assert_eq!(post_queued(&server, 0).await, 200);
    // Delivered and settled: the delivery worker is idle, not half-way through a write that
    // checked the files before they changed (a check cannot close that window; the start-up
    // refusal below is what is certain).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = readyz(&server).await;
        let ready: Value = serde_json::from_str(&body).unwrap_or_default();
        // A handler with nothing pending or dead is left out of the journal's counts.
        let handlers = ready["journal"]["handlers"].as_array().cloned();
        let idle = handlers
            .is_some_and(|handlers| handlers.iter().all(|counts| counts["pending"] == 0))
            && ready["journal"]["entries"] == 1;
        if idle {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !chattr("+i", &shm) {
        eprintln!("skipped: this file system has no immutable attribute");
        return;
    }
    let _cleared = Cleared(shm.clone());
    let _ = Command::new("sync").status();
    for seq in 1..40 {
        assert_eq!(post_queued(&server, seq).await, 500, "callback {seq}");
    }
    assert_eq!(readyz(&server).await.0, 503);
    server.signal("KILL");
    drop(server);
    let (refused, output) = start_and_exit(dir.path(), &tables);
    assert!(refused, "started on an immutable -shm:\n{output}");
    assert!(
        output.contains("journal.db-shm is immutable or append-only"),
        "{output}"
    );
}

/// Clears the immutable attribute when dropped, so a failed test leaves a removable dir.
struct Cleared(PathBuf);

impl Drop for Cleared {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

#[tokio::test]
async fn a_spool_file_deleted_while_spooling_loses_nothing_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = OwnNats::free_port();
    let (prefix, stream) = unique_stream("spooldel");
    let tables = format!(
        "[handlers.nats]\nenabled = true\nservers = [\"nats://127.0.0.1:{port}\"]\n\
         subject_prefix = \"{prefix}\"\nstream = \"{stream}\"\nspool_path = \"spool/nats.db\"\n\
         connect_timeout_ms = 300\n"
    );
    // NATS is down: every callback is spooled.
    let server = serve(dir.path(), &tables);
    let post = async |seq: u64| {
        let url = server.url(&format!(
            "/callback?{}",
            signed_query("State.StateChange", "file-token", now())
        ));
        let body = json!({ "CallbackCommand": "State.StateChange", "Seq": seq }).to_string();
        let response = reqwest::Client::new().post(url).body(body).send().await;
        response.map_or(0, |response| response.status().as_u16())
    };
    let mut acknowledged = Vec::new();
    for seq in 0..10 {
        assert_eq!(post(seq).await, 200);
        acknowledged.push(seq);
    }
    std::fs::remove_file(dir.path().join("spool/nats.db")).unwrap();
    for seq in 10..20 {
        if post(seq).await == 200 {
            acknowledged.push(seq);
        }
    }
    server.signal("KILL");
    drop(server);

    let nats = OwnNats::on(port);
    let server = serve(dir.path(), &tables);
    let deadline = Instant::now() + Duration::from_secs(30);
    let published = loop {
        let published = read_stream(&nats.url(), &stream).await;
        if published.len() >= acknowledged.len() || Instant::now() > deadline {
            break published;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seqs: Vec<u64> = published
        .iter()
        .map(|message| {
            serde_json::from_slice::<Value>(&message.payload).unwrap()["Seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, acknowledged, "every acknowledged callback, in order");
    drop(server);
}

/// Runs `chattr` with `flag` on `path`; false where the file system has no such attribute.
fn chattr(flag: &str, path: &Path) -> bool {
    Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether the WAL index in `shm` says every frame of the log is in the database file: its
/// header's `mxFrame` (bytes 16..20) equals the checkpoint's `nBackfill` (bytes 96..100),
/// both in the machine's byte order. Read from another process, so no lock of the server's
/// is touched.
fn wal_backfilled(shm: &Path) -> bool {
    let Ok(index) = std::fs::read(shm) else {
        return false;
    };
    let word = |at: usize| index.get(at..at + 4).map(|bytes| bytes.try_into().unwrap());
    match (word(16), word(96)) {
        (Some(frames), Some(backfilled)) => {
            u32::from_ne_bytes(frames) == u32::from_ne_bytes(backfilled)
        }
        _ => false,
    }
}
