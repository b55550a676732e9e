//! `max_entries` and `max_bytes`: counts kept in memory so an append checks them without a
//! query, moved by every write that adds or removes entries. SQLite's one writer keeps them
//! exact (counted at open only); PostgreSQL's replicas resynchronise them at every `stats()`.

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
/// one batch cannot overshoot the bounds with entries each of which would fit alone; and
/// what it deleted to make room, which counts only once the batch commits too.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pending {
    pub(super) entries: u64,
    pub(super) bytes: u64,
    pub(super) freed: Room,
}

/// A number of entries and of body bytes: what must be freed, or what was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Room {
    pub(super) entries: u64,
    pub(super) bytes: u64,
}

impl Room {
    /// Nothing needs freeing.
    pub(super) fn is_empty(self) -> bool {
        self.entries == 0 && self.bytes == 0
    }
}

/// The share of a bound above which `purge` frees delivered entries before their retention
/// ends, in tenths: a journal kept below it has room for a burst without purging in appends.
const PURGE_ABOVE_TENTHS: u64 = 9;

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

    /// What the journal would hold with `pending` committed and one more entry of `bytes`.
    fn held_after(&self, pending: &Pending, bytes: u64) -> Room {
        let entries = self.entries.load(Ordering::Relaxed) + pending.entries + 1;
        let bytes = self.bytes.load(Ordering::Relaxed) + pending.bytes + bytes;
        Room {
            entries: entries.saturating_sub(pending.freed.entries),
            bytes: bytes.saturating_sub(pending.freed.bytes),
        }
    }

    /// What must be freed before one more entry of `bytes` fits beside what is held and what
    /// `pending` adds; nothing if it fits already, or if it could never fit (a body larger
    /// than `max_bytes` alone), since freeing would then be in vain.
    pub(super) fn shortfall(&self, pending: &Pending, bytes: u64) -> Room {
        if bytes > self.max_bytes {
            return Room::default();
        }
        let after = self.held_after(pending, bytes);
        Room {
            entries: after.entries.saturating_sub(self.max_entries),
            bytes: after.bytes.saturating_sub(self.max_bytes),
        }
    }

    /// How far the journal is above [`PURGE_ABOVE_TENTHS`] of a bound: what `purge` frees.
    pub(super) fn excess(&self) -> Room {
        let threshold =
            |max: u64| max / 10 * PURGE_ABOVE_TENTHS + max % 10 * PURGE_ABOVE_TENTHS / 10;
        Room {
            entries: self
                .entries
                .load(Ordering::Relaxed)
                .saturating_sub(threshold(self.max_entries)),
            bytes: self
                .bytes
                .load(Ordering::Relaxed)
                .saturating_sub(threshold(self.max_bytes)),
        }
    }

    /// Whether one more entry of `bytes` fits beside what is held and what `pending` adds
    /// (and frees); if it does, it is added to `pending`.
    pub(super) fn admit(&self, pending: &mut Pending, bytes: u64) -> Result<(), JournalError> {
        let after = self.held_after(pending, bytes);
        if after.entries > self.max_entries {
            return Err(JournalError::Full {
                what: "entries",
                key: "max_entries",
                limit: self.max_entries,
            });
        }
        if after.bytes > self.max_bytes {
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

    /// A committed append batch's entries, and those it deleted to make room.
    pub(super) fn added(&self, added: Pending) {
        self.entries.fetch_add(added.entries, Ordering::Relaxed);
        self.bytes.fetch_add(added.bytes, Ordering::Relaxed);
        self.removed(added.freed.entries, added.freed.bytes);
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

    /// Entries and body bytes held, as this process counts them.
    pub(super) fn held(&self) -> Room {
        Room {
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// The counts as the database has them (at open; on PostgreSQL at every `stats()` too).
    pub(super) fn resynchronise(&self, entries: u64, bytes: u64) {
        self.entries.store(entries, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Append transactions committed since open.
    pub(super) fn append_transactions(&self) -> u64 {
        self.append_transactions.load(Ordering::Relaxed)
    }
}
