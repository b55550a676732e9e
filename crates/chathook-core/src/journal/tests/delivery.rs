//! Claims, leases and settlements, as delivery workers use them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

on_both_backends!(
    a_delivery_is_claimed_settled_and_kept_with_its_attempts,
    ordered_claims_hold_back_only_the_key_whose_head_is_pending,
    an_expired_lease_is_claimed_by_another_owner_and_the_first_settles_lease_lost,
    released_leases_are_claimable_at_once,
    delivery_ids_follow_entry_ids_within_a_batch,
    an_append_leases_fresh_deliveries_to_its_owner_on_sqlite_only,
);

/// A lease taken at append: the delivery comes back as a claim's would, and no claim returns
/// it until the lease is released; an ordered handler's delivery is leased only when its key
/// has no earlier pending one. PostgreSQL leases none.
async fn an_append_leases_fresh_deliveries_to_its_owner_on_sqlite_only(db: TestDb) {
    let journal = db.open().await;
    let a = owner("a");
    let lease = AppendLease {
        owner: Arc::clone(&a),
        lease: Duration::from_secs(60),
        handlers: vec![("crm", false), ("audit", true)],
    };
    let sent = callback("k1", "C2C.CallbackAfterSendMsg", Some("c2c:a:b"));
    let appended = journal
        .append_leasing(
            entry(sent.clone(), &["crm", "audit", "search"]),
            lease.clone(),
        )
        .await
        .unwrap();
    let Appended::New(entry_id) = appended.0 else {
        panic!("expected a new entry, got {:?}", appended.0);
    };
    let leased = appended.1;
    if !journal.leases_at_append() {
        assert!(leased.is_empty(), "{leased:?}");
        for handler in ["crm", "audit", "search"] {
            assert_eq!(
                entry_ids(&claim_all(&journal, handler, false, &a).await),
                [entry_id]
            );
        }
        return;
    }
    let mut handlers: Vec<&str> = leased
        .iter()
        .map(|claimed| claimed.handler.as_str())
        .collect();
    handlers.sort_unstable();
    assert_eq!(handlers, ["audit", "crm"]);
    let crm = leased
        .iter()
        .find(|claimed| claimed.handler == "crm")
        .unwrap();
    assert_eq!(
        (crm.entry_id, crm.attempt, crm.round_attempts),
        (entry_id, 1, 0)
    );
    assert_eq!(
        rows::unix_ms(crm.round_started_at),
        rows::unix_ms(sent.received_at)
    );
    let mut stored = crm.callback.clone();
    assert_eq!(
        rows::unix_ms(stored.received_at),
        rows::unix_ms(sent.received_at)
    );
    stored.received_at = sent.received_at;
    assert_eq!(stored, sent);
    // Leased: another owner's claim does not see them; the unleased handler's is claimable.
    let b = owner("b");
    assert!(claim_all(&journal, "crm", false, &b).await.is_empty());
    assert!(claim_all(&journal, "audit", true, &b).await.is_empty());
    assert_eq!(
        entry_ids(&claim_all(&journal, "search", false, &b).await),
        [entry_id]
    );

    // The same key again: the ordered handler's delivery waits behind the pending one.
    let next = callback("k2", "C2C.CallbackAfterSendMsg", Some("c2c:a:b"));
    let (_, leased_next) = journal
        .append_leasing(entry(next, &["crm", "audit"]), lease)
        .await
        .unwrap();
    let handlers: Vec<&str> = leased_next
        .iter()
        .map(|claimed| claimed.handler.as_str())
        .collect();
    assert_eq!(handlers, ["crm"]);

    // The settlement checks the lease taken at append like a claim's.
    let settled = journal.settle(crm.id, &a, attempt(AttemptOutcome::Delivered));
    assert_eq!(settled.await.unwrap(), Settled::Recorded);
    assert_eq!(
        journal.release(&a).await.unwrap(),
        2,
        "audit's and the second crm's"
    );
    assert_eq!(claim_all(&journal, "crm", false, &b).await.len(), 1);
    assert_eq!(
        entry_ids(&claim_all(&journal, "audit", true, &b).await),
        [entry_id]
    );
}

async fn delivery_ids_follow_entry_ids_within_a_batch(db: TestDb) {
    let journal = std::sync::Arc::new(db.open().await);
    let appends = (0..100).map(|n| {
        let journal = std::sync::Arc::clone(&journal);
        tokio::spawn(async move {
            let sent = callback(&format!("k{n}"), "C2C.X", Some("c2c:a:b"));
            append_new(&journal, entry(sent, &["audit", "crm"])).await
        })
    });
    for appended in futures_util::future::join_all(appends).await {
        appended.expect("the append commits");
    }
    for handler in ["audit", "crm"] {
        let mut deliveries = journal
            .list(&ListFilter {
                handler: Some(handler.into()),
                limit: 1000,
                ..ListFilter::default()
            })
            .await
            .unwrap();
        deliveries.sort_by_key(|delivery| delivery.id);
        let entries: Vec<i64> = deliveries.iter().map(|d| d.entry_id).collect();
        assert_eq!(entries.len(), 100);
        assert!(
            entries.windows(2).all(|pair| pair[0] < pair[1]),
            "{handler}: delivery ids out of entry order: {entries:?}"
        );
    }
}

async fn a_delivery_is_claimed_settled_and_kept_with_its_attempts(db: TestDb) {
    let journal = db.open().await;
    let sent = callback("k1", "C2C.CallbackAfterSendMsg", Some("c2c:a:b"));
    let entry_id = append_new(&journal, entry(sent.clone(), &["crm"])).await;
    let a = owner("a");

    let claimed = claim_all(&journal, "crm", false, &a).await;
    assert_eq!(entry_ids(&claimed), [entry_id]);
    let first = &claimed[0];
    assert_eq!((first.attempt, first.round_attempts), (1, 0));
    assert_eq!(first.handler, "crm");
    let mut stored = first.callback.clone();
    // Milliseconds are what the journal keeps.
    assert_eq!(
        rows::unix_ms(stored.received_at),
        rows::unix_ms(sent.received_at)
    );
    stored.received_at = sent.received_at;
    assert_eq!(stored, sent);
    assert!(
        claim_all(&journal, "crm", false, &a).await.is_empty(),
        "leased"
    );

    let settled = journal
        .settle(first.id, &a, attempt(retry_now("crm down")))
        .await;
    assert_eq!(settled.unwrap(), Settled::Recorded);
    let again = claim_all(&journal, "crm", false, &a).await;
    assert_eq!((again[0].attempt, again[0].round_attempts), (2, 1));
    let settled = journal.settle(first.id, &a, attempt(AttemptOutcome::Delivered));
    assert_eq!(settled.await.unwrap(), Settled::Recorded);
    assert!(claim_all(&journal, "crm", false, &a).await.is_empty());

    let shown = journal.show(first.id).await.unwrap().expect("the delivery");
    assert_eq!(shown.summary.state, DeliveryState::Delivered);
    assert_eq!(shown.summary.attempts, 2);
    assert_eq!(shown.summary.last_error.as_deref(), Some("crm down"));
    assert!(shown.summary.delivered_at_ms.is_some());
    assert_eq!(shown.body, String::from_utf8_lossy(&sent.body));
    let attempts: Vec<_> = shown
        .attempts
        .iter()
        .map(|a| (a.attempt, a.result.as_str(), a.error.as_deref()))
        .collect();
    assert_eq!(
        attempts,
        [(1, "retry", Some("crm down")), (2, "delivered", None)]
    );
    assert!(journal.show(first.id + 1000).await.unwrap().is_none());
}

async fn ordered_claims_hold_back_only_the_key_whose_head_is_pending(db: TestDb) {
    let journal = db.open().await;
    let handlers = &["ordered", "unordered"];
    let mut ids = Vec::new();
    for (key, conversation) in [
        ("a1", Some("group:a")),
        ("a2", Some("group:a")),
        ("b1", Some("group:b")),
        ("n1", None),
        ("n2", None),
    ] {
        let sent = callback(key, "Group.CallbackAfterSendMsg", conversation);
        ids.push(append_new(&journal, entry(sent, handlers)).await);
    }
    let [a1, a2, b1, n1, n2] = ids[..] else {
        unreachable!()
    };
    let worker = owner("w");
    // Unordered, nothing waits for anything.
    let all = claim_all(&journal, "unordered", false, &worker).await;
    assert_eq!(entry_ids(&all), ids);

    let first = claim_all(&journal, "ordered", true, &worker).await;
    assert_eq!(entry_ids(&first), [a1, b1, n1, n2], "a2 waits for a1");
    let by_entry =
        |claimed: &[Claimed], entry_id| claimed.iter().find(|c| c.entry_id == entry_id).unwrap().id;
    let head = by_entry(&first, a1);
    journal
        .settle(head, &worker, attempt(retry_now("no")))
        .await
        .unwrap();
    for done in [b1, n1, n2] {
        let id = by_entry(&first, done);
        let delivered = attempt(AttemptOutcome::Delivered);
        journal.settle(id, &worker, delivered).await.unwrap();
    }
    let b2 = append_new(
        &journal,
        entry(
            callback("b2", "Group.CallbackAfterSendMsg", Some("group:b")),
            handlers,
        ),
    )
    .await;
    // The failing head of group:a holds back a2 only: group:b goes on.
    let second = claim_all(&journal, "ordered", true, &worker).await;
    assert_eq!(entry_ids(&second), [a1, b2]);
    journal
        .settle(head, &worker, attempt(dead("bad data")))
        .await
        .unwrap();
    // A dead head no longer holds its key back.
    let third = claim_all(&journal, "ordered", true, &worker).await;
    assert_eq!(entry_ids(&third), [a2]);
}

async fn an_expired_lease_is_claimed_by_another_owner_and_the_first_settles_lease_lost(db: TestDb) {
    let journal = db.open().await;
    let sent = callback("k", "C2C.CallbackAfterSendMsg", None);
    let entry_id = append_new(&journal, entry(sent, &["crm"])).await;
    let (a, b) = (owner("a"), owner("b"));
    let lease = Duration::from_millis(100);
    let first = journal.claim("crm", false, 10, lease, &a).await.unwrap();
    assert_eq!(entry_ids(&first), [entry_id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let taken = loop {
        let taken = journal
            .claim("crm", false, 10, lease * 600, &b)
            .await
            .unwrap();
        if !taken.is_empty() {
            break taken;
        }
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::task::yield_now().await;
    };
    assert_eq!(taken[0].id, first[0].id);
    assert_eq!(taken[0].attempt, 1, "a's attempt was never settled");

    let late = journal.settle(first[0].id, &a, attempt(retry_now("slow")));
    assert_eq!(late.await.unwrap(), Settled::LeaseLost);
    let settled = journal.settle(taken[0].id, &b, attempt(AttemptOutcome::Delivered));
    assert_eq!(settled.await.unwrap(), Settled::Recorded);
    let shown = journal.show(taken[0].id).await.unwrap().unwrap();
    assert_eq!(shown.summary.state, DeliveryState::Delivered);
    let results: Vec<_> = shown
        .attempts
        .iter()
        .map(|a| (a.attempt, a.result.as_str()))
        .collect();
    assert_eq!(results, [(1, "retry"), (2, "delivered")]);
}

async fn released_leases_are_claimable_at_once(db: TestDb) {
    let journal = db.open().await;
    for key in ["k1", "k2"] {
        append_new(&journal, entry(callback(key, "C2C.X", None), &["crm"])).await;
    }
    let (a, b) = (owner("a"), owner("b"));
    assert_eq!(claim_all(&journal, "crm", false, &a).await.len(), 2);
    assert!(
        journal.next_due("crm").await.unwrap().is_none(),
        "all leased"
    );
    assert_eq!(journal.release(&a).await.unwrap(), 2);
    assert!(journal.next_due("crm").await.unwrap().is_some());
    assert_eq!(claim_all(&journal, "crm", false, &b).await.len(), 2);
}

/// Two replicas claiming from one PostgreSQL journal in a loop never hold the same delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_owners_never_claim_the_same_delivery() {
    let db = TestDb::postgres().await;
    let journal = Arc::new(db.open().await);
    let other_replica = Arc::new(db.open().await);
    const ENTRIES: usize = 300;
    let appends = (0..ENTRIES).map(|n| {
        let journal = Arc::clone(&journal);
        tokio::spawn(async move {
            append_new(
                &journal,
                entry(callback(&format!("k{n}"), "C2C.X", None), &["crm"]),
            )
            .await
        })
    });
    futures_util::future::join_all(appends).await;
    let workers = [(journal, "a"), (other_replica, "b")].map(|(journal, name)| {
        tokio::spawn(async move {
            let me = owner(name);
            let mut delivered = Vec::new();
            loop {
                let claimed = journal
                    .claim("crm", false, 7, Duration::from_secs(60), &me)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return delivered;
                }
                for delivery in claimed {
                    let done = attempt(AttemptOutcome::Delivered);
                    let settled = journal.settle(delivery.id, &me, done).await.unwrap();
                    assert_eq!(settled, Settled::Recorded);
                    delivered.push(delivery.id);
                }
            }
        })
    });
    let [a, b] = workers;
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let a_set: HashSet<_> = a.iter().copied().collect();
    let b_set: HashSet<_> = b.iter().copied().collect();
    assert!(a_set.is_disjoint(&b_set), "a delivery was claimed twice");
    assert_eq!(a.len() + b.len(), ENTRIES);
    assert_eq!(a_set.len() + b_set.len(), ENTRIES);
    eprintln!("replica a delivered {}, replica b {}", a.len(), b.len());
}
