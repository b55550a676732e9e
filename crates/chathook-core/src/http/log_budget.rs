//! A per-second budget for refusal log lines (`log.rejections_per_second`), so a client that
//! sends thousands of bad requests a second fills the metrics, not the disk.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Lines allowed per second; the excess is counted and reported in one line later.
#[derive(Debug)]
pub(crate) struct LogBudget {
    per_second: u32,
    started: Instant,
    /// The second (since `started`) that `used` counts.
    second: AtomicU64,
    used: AtomicU32,
    held_back: AtomicU64,
}

impl LogBudget {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            started: Instant::now(),
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
            held_back: AtomicU64::new(0),
        }
    }

    /// Whether one more refusal line may be written now. The first call in a new second
    /// first reports how many lines the budget held back before it.
    pub(crate) fn allow(&self) -> bool {
        let now = self.started.elapsed().as_secs();
        let second = self.second.load(Ordering::Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.used.store(0, Ordering::Relaxed);
            let held_back = self.held_back.swap(0, Ordering::Relaxed);
            if held_back > 0 {
                tracing::warn!(
                    held_back,
                    "{held_back} refusals were not logged, over log.rejections_per_second; \
                     chathook_rejections_total counts every one"
                );
            }
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            true
        } else {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_budget_then_holds_back() {
        let budget = LogBudget::new(3);
        let allowed = (0..10).filter(|_| budget.allow()).count();
        assert_eq!(allowed, 3);
        assert_eq!(budget.held_back.load(Ordering::Relaxed), 7);
    }
}
