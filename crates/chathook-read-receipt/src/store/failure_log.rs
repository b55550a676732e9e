//! The ERROR lines of failed writes, within a budget: a database that is down fails every
//! batch, and one line per batch (with the handler's own line per callback) would fill the
//! disk the store may already have filled. The first failure of each second is logged, with
//! how many went unlogged since the line before; the first commit after failures says how
//! many there were in all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StoreError;

/// ERROR lines per second about failed writes; the rest are counted.
const LINES_PER_SECOND: u32 = 1;

/// Failed writes since the last commit, and what of them was logged.
#[derive(Debug, Default)]
pub(super) struct FailureLog(Mutex<Failures>);

#[derive(Debug, Default)]
struct Failures {
    /// When the current second of the budget began.
    window: Option<Instant>,
    /// Lines written in it.
    lines: u32,
    /// Callbacks answered 500 whose failure no line reported yet.
    unlogged: u64,
    /// Callbacks answered 500 since the last commit, and since when.
    failed: u64,
    since: Option<Instant>,
}

impl FailureLog {
    /// A write failed and `callbacks` callbacks are answered 500.
    pub(super) fn failed(&self, callbacks: usize, error: &StoreError, what: &str) {
        let mut failures = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let callbacks = callbacks as u64;
        failures.failed += callbacks;
        failures.since.get_or_insert(now);
        if failures
            .window
            .is_none_or(|window| now.duration_since(window) >= Duration::from_secs(1))
        {
            failures.window = Some(now);
            failures.lines = 0;
        }
        if failures.lines >= LINES_PER_SECOND {
            failures.unlogged += callbacks;
            return;
        }
        failures.lines += 1;
        let unlogged = std::mem::take(&mut failures.unlogged);
        let failed_so_far = failures.failed;
        drop(failures);
        if unlogged == 0 {
            tracing::error!(callbacks, failed_so_far, %error, "read receipt {what}");
        } else {
            tracing::error!(
                callbacks,
                failed_so_far,
                unlogged,
                %error,
                "read receipt {what}; {unlogged} more callbacks failed since the last such line \
                 (at most {LINES_PER_SECOND} a second)"
            );
        }
    }

    /// A write committed: if writes had failed, says how many callbacks failed and for how long.
    pub(super) fn committed(&self) {
        let mut failures = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.failed == 0 {
            return;
        }
        let failed = std::mem::take(&mut failures.failed);
        let unlogged = std::mem::take(&mut failures.unlogged);
        let seconds = failures
            .since
            .take()
            .map_or(0, |since| since.elapsed().as_secs());
        drop(failures);
        tracing::warn!(
            failed,
            unlogged,
            "read receipt writes commit again; {failed} callbacks were answered 500 over \
             {seconds} s ({unlogged} of them not logged one by one)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_budget_failures_are_counted_and_the_next_commit_resets_them() {
        let log = FailureLog::default();
        for _ in 0..100 {
            log.failed(2, &StoreError::WriterStopped, "batch failed");
        }
        {
            let failures = log.0.lock().unwrap();
            assert_eq!(failures.failed, 200);
            assert_eq!(failures.lines, LINES_PER_SECOND);
            assert_eq!(failures.unlogged, 200 - 2 * u64::from(LINES_PER_SECOND));
        }
        log.committed();
        let failures = log.0.lock().unwrap();
        assert_eq!((failures.failed, failures.unlogged), (0, 0));
    }
}
