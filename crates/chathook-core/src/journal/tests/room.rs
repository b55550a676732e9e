//! Bounds count delivered entries too: an append or a purge frees the oldest of them early,
//! and only pending and dead entries make the journal full.

use super::*;

on_both_backends!(
    an_append_past_a_bound_frees_the_oldest_delivered_entry,
    pending_entries_fill_the_journal,
    purge_frees_delivered_entries_above_nine_tenths_of_a_bound,
);

/// A journal of at most ten entries.
async fn ten_at_most(db: &TestDb) -> Journal {
    let mut options = db.options();
    options.max_entries = 10;
    Journal::open(options).await.expect("the journal opens")
}

/// Appends `count` entries owed to `crm`; returns their ids.
async fn append_many(journal: &Journal, prefix: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let key = format!("{prefix}{n}");
        ids.push(append_new(journal, entry(callback(&key, "C2C.X", None), &["crm"])).await);
    }
    ids
}

/// Claims and delivers every due delivery of `crm`; returns their ids, oldest first.
async fn deliver_all(journal: &Journal) -> Vec<DeliveryId> {
    let worker = owner("w");
    let mut claimed = claim_all(journal, "crm", false, &worker).await;
    claimed.sort_by_key(|delivery| delivery.id);
    for delivery in &claimed {
        let settled = journal
            .settle(delivery.id, &worker, attempt(AttemptOutcome::Delivered))
            .await
            .unwrap();
        assert_eq!(settled, Settled::Recorded);
    }
    claimed.iter().map(|delivery| delivery.id).collect()
}

async fn an_append_past_a_bound_frees_the_oldest_delivered_entry(db: TestDb) {
    let journal = ten_at_most(&db).await;
    append_many(&journal, "delivered", 10).await;
    let delivered = deliver_all(&journal).await;
    append_new(
        &journal,
        entry(callback("eleventh", "C2C.X", None), &["crm"]),
    )
    .await;
    assert_eq!(journal.stats().await.unwrap().entries, 10);
    assert!(
        journal.show(delivered[0]).await.unwrap().is_none(),
        "the oldest delivered entry made the room"
    );
    assert!(journal.show(delivered[1]).await.unwrap().is_some());
    // Reopened, the counts are the database's: the same.
    drop(journal);
    assert_eq!(ten_at_most(&db).await.stats().await.unwrap().entries, 10);
}

async fn pending_entries_fill_the_journal(db: TestDb) {
    let journal = ten_at_most(&db).await;
    append_many(&journal, "pending", 10).await;
    let refused = journal
        .append(entry(callback("eleventh", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(
            refused,
            Err(JournalError::Full {
                key: "max_entries",
                limit: 10,
                ..
            })
        ),
        "{refused:?}"
    );
    // A dead letter holds its room too; a delivered entry gives it up.
    let worker = owner("w");
    let claimed = claim_all(&journal, "crm", false, &worker).await;
    for (n, delivery) in claimed.iter().enumerate() {
        let outcome = if n == 0 {
            AttemptOutcome::Delivered
        } else {
            dead("gone")
        };
        journal
            .settle(delivery.id, &worker, attempt(outcome))
            .await
            .unwrap();
    }
    append_new(
        &journal,
        entry(callback("eleventh", "C2C.X", None), &["crm"]),
    )
    .await;
    let refused = journal
        .append(entry(callback("twelfth", "C2C.X", None), &["crm"]))
        .await;
    assert!(
        matches!(refused, Err(JournalError::Full { .. })),
        "{refused:?}"
    );
    assert_eq!(journal.stats().await.unwrap().entries, 10);
}

async fn purge_frees_delivered_entries_above_nine_tenths_of_a_bound(db: TestDb) {
    let journal = ten_at_most(&db).await;
    append_many(&journal, "delivered", 10).await;
    let delivered = deliver_all(&journal).await;
    // Well within retention (an hour), but above nine tenths of max_entries.
    assert_eq!(journal.purge().await.unwrap(), 1);
    assert!(journal.show(delivered[0]).await.unwrap().is_none());
    assert_eq!(journal.stats().await.unwrap().entries, 9);
    assert_eq!(journal.purge().await.unwrap(), 0, "at nine tenths it stops");
}
