//! `stats()`: what it counts per handler, and the entries and bytes held.

use std::time::{Duration, SystemTime};

use super::*;

on_both_backends!(stats_count_pending_and_dead_per_handler_and_every_entry_held);

async fn stats_count_pending_and_dead_per_handler_and_every_entry_held(db: TestDb) {
    let journal = db.open().await;
    let mut bodies = 0;
    for (n, minutes_ago) in [3u64, 2, 1].into_iter().enumerate() {
        let mut sent = callback(&format!("k{n}"), "C2C.X", None);
        sent.received_at = SystemTime::now() - Duration::from_secs(60 * minutes_ago);
        bodies += sent.body.len() as u64;
        append_new(&journal, entry(sent, &["audit", "crm"])).await;
    }
    // audit: all delivered; crm: the oldest dead, the others pending.
    let worker = owner("w");
    for delivery in claim_all(&journal, "audit", false, &worker).await {
        let done = attempt(AttemptOutcome::Delivered);
        journal.settle(delivery.id, &worker, done).await.unwrap();
    }
    let mut crm = claim_all(&journal, "crm", false, &worker).await;
    crm.sort_by_key(|delivery| delivery.id);
    let done = attempt(dead("gone"));
    journal.settle(crm[0].id, &worker, done).await.unwrap();

    let stats = journal.stats().await.unwrap();
    assert_eq!((stats.entries, stats.bytes), (3, bodies));
    let names: Vec<&str> = stats.handlers.iter().map(|h| h.handler.as_str()).collect();
    assert_eq!(
        names,
        ["crm"],
        "a handler with nothing pending or dead is left out"
    );
    let counts = &stats.handlers[0];
    assert_eq!((counts.pending, counts.dead), (2, 1));
    assert_eq!(
        counts.oldest_pending_ms,
        Some(rows::unix_ms(crm[1].callback.received_at)),
        "the oldest pending arrival, not the dead one's"
    );
}
