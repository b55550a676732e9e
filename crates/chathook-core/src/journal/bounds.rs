//! `max_entries` and `max_bytes`: counts kept in memory so an append checks them without a
//! query, moved by every write that adds or removes entries and resynchronised by `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};

use super::JournalError;

/// The journal's size as this process knows it, and its bounds.
#[derive(Debug)]
pub(super) struct Bounds {
    entries: AtomicU64,
    bytes: AtomicU64,
    max_entries: u64,
    max_bytes: u64,
    append_transactions: AtomicU64,
}

/// Entries and bytes an append batch adds, counted as its entries pass the check so that
/// one batch cannot overshoot the bounds with entries each of which would fit alone.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pending {
    pub(super) entries: u64,
    pub(super) bytes: u64,
}

impl Bounds {
    pub(super) fn new(max_entries: u64, max_bytes: u64) -> Self {
        Self {
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_entries,
            max_bytes,
            append_transactions: AtomicU64::new(0),
        }
    }

    /// Whether one more entry of `bytes` fits beside what is held and what `pending` adds;
    /// if it does, it is added to `pending`.
    pub(super) fn admit(&self, pending: &mut Pending, bytes: u64) -> Result<(), JournalError> {
        let entries_after = self.entries.load(Ordering::Relaxed) + pending.entries + 1;
        if entries_after > self.max_entries {
            return Err(JournalError::Full {
                what: "entries",
                key: "max_entries",
                limit: self.max_entries,
            });
        }
        let bytes_after = self.bytes.load(Ordering::Relaxed) + pending.bytes + bytes;
        if bytes_after > self.max_bytes {
            return Err(JournalError::Full {
                what: "bytes",
                key: "max_bytes",
                limit: self.max_bytes,
            });
        }
        pending.entries += 1;
        pending.bytes += bytes;
        Ok(())
    }

    /// A committed append batch's entries.
    pub(super) fn added(&self, added: Pending) {
        self.entries.fetch_add(added.entries, Ordering::Relaxed);
        self.bytes.fetch_add(added.bytes, Ordering::Relaxed);
        self.append_transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Entries deleted (purged, or discarded with their last delivery).
    pub(super) fn removed(&self, entries: u64, bytes: u64) {
        // Saturating: another replica may have counted what this one deletes.
        let _ = self
            .entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(entries))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// The counts as the database has them (at open, and at every `stats()`).
    pub(super) fn resynchronise(&self, entries: u64, bytes: u64) {
        self.entries.store(entries, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Append transactions committed since open.
    pub(super) fn append_transactions(&self) -> u64 {
        self.append_transactions.load(Ordering::Relaxed)
    }
}
