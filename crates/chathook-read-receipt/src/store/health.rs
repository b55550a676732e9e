//! What the writer tells the rest of the store: whether it is inside a write and since when,
//! whether the last write failed, how many transactions it committed, and that it died.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::failure_log::FailureLog;

/// What the writer reports to the rest of the store.
#[derive(Debug, Default)]
pub(super) struct WriterHealth {
    last_write_failed: AtomicBool,
    transactions: AtomicU64,
    purge_transactions: AtomicU64,
    /// When the write in progress began, in ms since [`MONOTONIC_EPOCH`] plus one; 0 if none.
    write_started: AtomicU64,
    /// The ERROR lines of failed writes, within their budget.
    pub(super) failures: FailureLog,
}

/// The origin of [`WriterHealth::write_started`]: monotonic, unlike the wall clock.
static MONOTONIC_EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn monotonic_ms() -> u64 {
    u64::try_from(MONOTONIC_EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl WriterHealth {
    /// Marks a write in progress until the guard drops.
    pub(super) fn writing(&self) -> Writing<'_> {
        self.write_started
            .store(monotonic_ms().saturating_add(1), Ordering::Relaxed);
        Writing(self)
    }

    /// How long the write in progress has run, if one does.
    pub(super) fn current_write(&self) -> Option<Duration> {
        match self.write_started.load(Ordering::Relaxed) {
            0 => None,
            started => Some(Duration::from_millis(
                monotonic_ms().saturating_add(1).saturating_sub(started),
            )),
        }
    }

    /// A callback's transaction committed: writes work again.
    pub(super) fn committed(&self) {
        if self.last_write_failed.swap(false, Ordering::Relaxed) {
            self.failures.committed();
        }
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// A write failed for a reason other than its data: readiness probes the write path
    /// until one commits.
    pub(super) fn write_failed(&self) {
        self.last_write_failed.store(true, Ordering::Relaxed);
    }

    /// A probe committed: the write path works, though no callback's transaction did yet.
    pub(super) fn probed_ok(&self) {
        if self.last_write_failed.swap(false, Ordering::Relaxed) {
            self.failures.committed();
        }
    }

    /// Whether the last write failed and no commit or probe succeeded since.
    pub(super) fn last_write_failed(&self) -> bool {
        self.last_write_failed.load(Ordering::Relaxed)
    }

    /// A purge transaction committed.
    pub(super) fn purged(&self) {
        self.purge_transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Callback transactions committed so far.
    pub(super) fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Purge transactions committed so far.
    pub(super) fn purge_transactions(&self) -> u64 {
        self.purge_transactions.load(Ordering::Relaxed)
    }
}

/// A write in progress, for [`WriterHealth::current_write`]; ends when dropped.
pub(super) struct Writing<'a>(&'a WriterHealth);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.write_started.store(0, Ordering::Relaxed);
    }
}

/// Held by a writer for its whole life: a writer that panics says so, since from then on every
/// read receipt is answered 500 and `/readyz` is 503 until the process restarts.
pub(super) struct WriterExit;

impl Drop for WriterExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(
                "read receipt writer panicked: read receipts are answered 500 until chathook restarts"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_timed_while_its_guard_lives() {
        let health = WriterHealth::default();
        assert_eq!(health.current_write(), None);
        {
            let _writing = health.writing();
            std::thread::sleep(Duration::from_millis(5));
            assert!(
                health
                    .current_write()
                    .is_some_and(|run| run >= Duration::from_millis(4))
            );
        }
        assert_eq!(health.current_write(), None);
    }

    #[test]
    fn a_failure_holds_until_a_commit_or_a_probe() {
        let health = WriterHealth::default();
        health.write_failed();
        assert!(health.last_write_failed());
        health.committed();
        assert!(!health.last_write_failed());
        assert_eq!(health.transactions(), 1);
        health.write_failed();
        health.probed_ok();
        assert!(!health.last_write_failed());
        assert_eq!(
            health.transactions(),
            1,
            "a probe is no callback's transaction"
        );
    }
}
