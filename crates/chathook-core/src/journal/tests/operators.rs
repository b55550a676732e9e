//! What operators do: list, retry, discard, replay; and the purge.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;

on_both_backends!(
    dead_letters_are_retried_one_or_all_as_a_new_round,
    a_discarded_delivery_is_gone_and_its_last_takes_the_entry,
    replay_schedules_exactly_the_range_and_commands_asked_for,
    purge_keeps_what_retention_and_pending_deliveries_need,
    list_filters_by_handler_state_and_command_newest_first,
    a_handler_name_takes_its_destinations_and_nothing_else,
);

/// Claims every due delivery of `handler` and settles each with `outcome`.
async fn settle_all(journal: &Journal, handler: &str, outcome: AttemptOutcome) -> Vec<Claimed> {
    let worker = owner("w");
    let claimed = claim_all(journal, handler, false, &worker).await;
    for delivery in &claimed {
        let settled = journal.settle(delivery.id, &worker, attempt(outcome.clone()));
        assert_eq!(settled.await.unwrap(), Settled::Recorded);
    }
    claimed
}

async fn dead_letters_are_retried_one_or_all_as_a_new_round(db: TestDb) {
    let journal = db.open().await;
    for key in ["k1", "k2", "k3"] {
        append_new(&journal, entry(callback(key, "C2C.X", None), &["crm"])).await;
    }
    let killed = settle_all(&journal, "crm", dead("crm rejects it")).await;
    assert_eq!(killed.len(), 3);
    let stats = journal.stats().await.unwrap();
    assert_eq!(stats.handlers[0].dead, 3);
    assert_eq!(stats.handlers[0].pending, 0);

    assert_eq!(
        journal.retry(RetryTarget::One(killed[0].id)).await.unwrap(),
        1
    );
    let retried = claim_all(&journal, "crm", false, &owner("w")).await;
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].attempt, retried[0].round_attempts), (2, 0));
    assert!(retried[0].round_started_at >= killed[0].round_started_at);
    let shown = journal.show(killed[0].id).await.unwrap().unwrap();
    assert_eq!(shown.summary.last_error.as_deref(), Some("crm rejects it"));
    assert_eq!(shown.summary.dead_reason, None);
    journal
        .settle(retried[0].id, &owner("w"), attempt(dead("still")))
        .await
        .unwrap();

    let all = RetryTarget::AllDead {
        handler: "crm".into(),
    };
    assert_eq!(journal.retry(all.clone()).await.unwrap(), 3);
    assert_eq!(
        settle_all(&journal, "crm", AttemptOutcome::Delivered)
            .await
            .len(),
        3
    );
    assert_eq!(journal.retry(all).await.unwrap(), 0, "none dead any more");
}

async fn a_discarded_delivery_is_gone_and_its_last_takes_the_entry(db: TestDb) {
    let journal = db.open().await;
    append_new(
        &journal,
        entry(callback("k", "C2C.X", None), &["crm", "search"]),
    )
    .await;
    let crm = claim_all(&journal, "crm", false, &owner("w")).await;
    let search = claim_all(&journal, "search", false, &owner("w")).await;
    assert!(journal.discard(crm[0].id).await.unwrap());
    assert!(
        !journal.discard(crm[0].id).await.unwrap(),
        "discarded already"
    );
    assert!(journal.show(crm[0].id).await.unwrap().is_none());
    let worker = owner("w");
    let settled = journal.settle(crm[0].id, &worker, attempt(AttemptOutcome::Delivered));
    assert_eq!(settled.await.unwrap(), Settled::LeaseLost);
    assert_eq!(
        journal.stats().await.unwrap().entries,
        1,
        "search still owes it"
    );
    assert!(journal.discard(search[0].id).await.unwrap());
    assert_eq!(journal.stats().await.unwrap().entries, 0);
}

/// Entries at `offsets` seconds after `base`, each delivered to `crm`.
async fn delivered_history(journal: &Journal, base: SystemTime, commands: &[&str]) -> Vec<i64> {
    let mut ids = Vec::new();
    for (n, command) in commands.iter().enumerate() {
        let mut sent = callback(&format!("k{n}"), command, None);
        sent.received_at = base + Duration::from_secs(10 * n as u64);
        ids.push(append_new(journal, entry(sent, &["crm"])).await);
    }
    settle_all(journal, "crm", AttemptOutcome::Delivered).await;
    ids
}

async fn replay_schedules_exactly_the_range_and_commands_asked_for(db: TestDb) {
    let journal = db.open().await;
    let base = SystemTime::now() - Duration::from_secs(3600);
    let commands = ["C2C.A", "Group.B", "C2C.A", "C2C.A", "C2C.A"];
    let ids = delivered_history(&journal, base, &commands).await;
    let c2c_only: CommandFilter = Arc::new(|command: &str| command.starts_with("C2C."));
    let request = |handler: &str, command: Option<CommandFilter>| ReplayRequest {
        handler: handler.to_owned(),
        since: base + Duration::from_secs(5),
        until: base + Duration::from_secs(35),
        command,
    };

    let replayed = journal.replay(request("crm", Some(c2c_only.clone()))).await;
    assert_eq!(replayed.unwrap(), 2);
    let again = claim_all(&journal, "crm", false, &owner("w")).await;
    assert_eq!(entry_ids(&again), [ids[2], ids[3]]);
    assert_eq!((again[0].attempt, again[0].round_attempts), (2, 0));
    assert_eq!(
        journal
            .replay(request("crm", Some(c2c_only)))
            .await
            .unwrap(),
        0,
        "pending"
    );

    // A handler that never had them gets a delivery of each.
    assert_eq!(journal.replay(request("audit", None)).await.unwrap(), 3);
    let audit = claim_all(&journal, "audit", false, &owner("w")).await;
    assert_eq!(entry_ids(&audit), [ids[1], ids[2], ids[3]]);
    assert_eq!(audit[0].attempt, 1);
}

async fn purge_keeps_what_retention_and_pending_deliveries_need(db: TestDb) {
    let journal = db.open().await;
    let hours = |n: u64| SystemTime::now() - Duration::from_secs(3600 * n);
    let mut ids = Vec::new();
    for (key, received_at) in [("old", hours(3)), ("recent", hours(3)), ("open", hours(3))] {
        let mut sent = callback(key, "C2C.X", None);
        sent.received_at = received_at;
        ids.push(append_new(&journal, entry(sent, &["crm"])).await);
    }
    let fresh = append_new(&journal, entry(callback("fresh", "C2C.X", None), &["crm"])).await;
    let worker = owner("w");
    let claimed = claim_all(&journal, "crm", false, &worker).await;
    for delivery in &claimed {
        let ended_at = if delivery.entry_id == ids[0] {
            hours(2)
        } else {
            SystemTime::now()
        };
        let outcome = if delivery.entry_id == ids[2] {
            retry_now("down")
        } else {
            AttemptOutcome::Delivered
        };
        let done = Attempt {
            started_at: ended_at,
            ended_at,
            outcome,
        };
        journal.settle(delivery.id, &worker, done).await.unwrap();
    }
    // Retention is an hour: only the entry delivered two hours ago goes.
    assert_eq!(journal.purge().await.unwrap(), 1);
    assert_eq!(journal.purge().await.unwrap(), 0);
    let left = journal
        .list(&ListFilter {
            limit: 100,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    let mut left: Vec<_> = left.iter().map(|d| d.entry_id).collect();
    left.sort_unstable();
    assert_eq!(left, [ids[1], ids[2], fresh]);
    assert_eq!(journal.stats().await.unwrap().entries, 3);
}

async fn list_filters_by_handler_state_and_command_newest_first(db: TestDb) {
    let journal = db.open().await;
    for (key, command) in [("k0", "C2C.A"), ("k1", "Group.B"), ("k2", "C2C.A")] {
        append_new(
            &journal,
            entry(callback(key, command, None), &["crm", "audit"]),
        )
        .await;
    }
    settle_all(&journal, "audit", AttemptOutcome::Delivered).await;
    let list = |filter: ListFilter| {
        let journal = &journal;
        async move { journal.list(&filter).await.unwrap() }
    };
    let crm = list(ListFilter {
        handler: Some("crm".into()),
        limit: 10,
        ..ListFilter::default()
    })
    .await;
    assert_eq!(crm.len(), 3);
    assert!(
        crm.windows(2).all(|pair| pair[0].id > pair[1].id),
        "newest first"
    );
    assert!(crm.iter().all(|d| d.state == DeliveryState::Pending));
    assert!(crm.iter().all(|d| d.next_attempt_at_ms.is_some()));
    let delivered = list(ListFilter {
        state: Some(DeliveryState::Delivered),
        limit: 10,
        ..ListFilter::default()
    })
    .await;
    assert_eq!(delivered.len(), 3);
    assert!(delivered.iter().all(|d| d.handler == "audit"));
    let c2c = list(ListFilter {
        handler: Some("crm".into()),
        command: Some(Arc::new(|command: &str| command.starts_with("C2C."))),
        limit: 1,
        ..ListFilter::default()
    })
    .await;
    assert_eq!(c2c.len(), 1);
    assert_eq!((c2c[0].id, c2c[0].command.as_str()), (crm[0].id, "C2C.A"));
    let older = list(ListFilter {
        handler: Some("crm".into()),
        before_id: Some(crm[0].id),
        limit: 10,
        ..ListFilter::default()
    })
    .await;
    assert_eq!(older.len(), 2);
}

/// A replay scheduling an entry holds it FOR KEY SHARE: a purge meanwhile skips it rather
/// than delete a delivery the replay is making pending, and takes it once it is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_purge_skips_an_entry_a_replay_holds() {
    let db = TestDb::postgres().await;
    let journal = db.open().await;
    let mut sent = callback("old", "C2C.X", None);
    sent.received_at = SystemTime::now() - Duration::from_secs(3 * 3600);
    let id = append_new(&journal, entry(sent, &["crm"])).await;
    let worker = owner("w");
    let delivered_at = SystemTime::now() - Duration::from_secs(2 * 3600);
    for delivery in claim_all(&journal, "crm", false, &worker).await {
        let done = Attempt {
            started_at: delivered_at,
            ended_at: delivered_at,
            outcome: AttemptOutcome::Delivered,
        };
        journal.settle(delivery.id, &worker, done).await.unwrap();
    }

    let mut replay = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut replay).await.unwrap();
    sqlx::query("SELECT id FROM journal_entries WHERE id = $1 FOR KEY SHARE")
        .bind(id)
        .execute(&mut replay)
        .await
        .unwrap();
    let purged = tokio::time::timeout(Duration::from_secs(10), journal.purge())
        .await
        .expect("the purge skips the lock rather than wait for it");
    assert_eq!(purged.unwrap(), 0);
    sqlx::query("COMMIT").execute(&mut replay).await.unwrap();
    assert_eq!(journal.purge().await.unwrap(), 1);
}

/// `http_forward` lists and retries `http_forward.a` and `http_forward.b`, never
/// `http_forward_x` or `http_forwarder.c`, which only share the start of the name.
async fn a_handler_name_takes_its_destinations_and_nothing_else(db: TestDb) {
    let journal = db.open().await;
    let handlers = [
        "http_forward.a",
        "http_forward.b",
        "http_forward_x",
        "http_forwarder.c",
    ];
    append_new(&journal, entry(callback("k", "C2C.X", None), &handlers)).await;
    for handler in handlers {
        assert_eq!(settle_all(&journal, handler, dead("down")).await.len(), 1);
    }
    let listed = |handler: &str| {
        let filter = ListFilter {
            handler: Some(handler.into()),
            limit: 100,
            ..ListFilter::default()
        };
        let journal = &journal;
        async move {
            let mut names: Vec<String> = journal
                .list(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|summary| summary.handler)
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        listed("http_forward").await,
        ["http_forward.a", "http_forward.b"]
    );
    assert_eq!(listed("http_forward.a").await, ["http_forward.a"]);
    assert_eq!(listed("http_forward_x").await, ["http_forward_x"]);
    let all = RetryTarget::AllDead {
        handler: "http_forward".into(),
    };
    assert_eq!(journal.retry(all).await.unwrap(), 2);
    assert!(handler_selects("http_forward", "http_forward.a"));
    assert!(!handler_selects("http_forward", "http_forwarder.c"));
}
