//! A queued handler's retry policy: `[handlers.<name>.queue]` checked once at start-up, and
//! what an attempt's end means for its delivery (delivered, retried when, or dead).

use std::time::{Duration, SystemTime};

use crate::config::QueueConfig;
use crate::error::StartupError;
use crate::journal::{AttemptOutcome, Claimed};

/// What a lease lasts beyond the attempt's own deadline: a handler cut off at its deadline
/// still has its attempt settled before another replica may claim the delivery.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Most attempts of one handler in flight at once, per replica: each is a task and a claim's
/// row, and a downstream rarely wants more.
const MAX_CONCURRENCY: usize = 1024;

/// `[handlers.<name>.queue]`, validated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QueuePolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) backoff_jitter: f64,
    pub(crate) max_age: Duration,
    pub(crate) concurrency: usize,
    pub(crate) ordered: bool,
    pub(crate) attempt_timeout: Duration,
}

/// How an attempt failed, as the policy reads it.
#[derive(Debug)]
pub(crate) enum AttemptFailure {
    /// Trying again cannot help.
    Permanent(String),
    /// Worth retrying; `after` when the handler asked for a delay.
    Retry {
        error: String,
        after: Option<Duration>,
    },
}

impl QueuePolicy {
    /// `config` for `handler`, or the key that is out of range.
    pub(crate) fn from_config(
        handler: &'static str,
        config: &QueueConfig,
    ) -> Result<Self, StartupError> {
        let invalid = |key: &'static str, problem: &str| StartupError::InvalidQueue {
            handler,
            key,
            problem: problem.to_owned(),
        };
        if config.max_attempts == 0 {
            return Err(invalid("max_attempts", "must be at least 1"));
        }
        if config.backoff_initial_ms == 0 {
            return Err(invalid("backoff_initial_ms", "must be at least 1"));
        }
        if config.backoff_max_ms < config.backoff_initial_ms {
            return Err(invalid(
                "backoff_max_ms",
                &format!(
                    "must be at least backoff_initial_ms ({}), is {}",
                    config.backoff_initial_ms, config.backoff_max_ms
                ),
            ));
        }
        if !(0.0..=1.0).contains(&config.backoff_jitter) {
            return Err(invalid(
                "backoff_jitter",
                &format!(
                    "must be between 0 and 1 (a fraction of each wait), is {}",
                    config.backoff_jitter
                ),
            ));
        }
        if config.max_age_secs == 0 {
            return Err(invalid("max_age_secs", "must be at least 1"));
        }
        if !(1..=MAX_CONCURRENCY).contains(&config.concurrency) {
            return Err(invalid(
                "concurrency",
                &format!(
                    "must be between 1 and {MAX_CONCURRENCY}, is {}",
                    config.concurrency
                ),
            ));
        }
        if config.attempt_timeout_ms == 0 {
            return Err(invalid("attempt_timeout_ms", "must be at least 1"));
        }
        Ok(Self {
            max_attempts: config.max_attempts,
            backoff_initial: Duration::from_millis(config.backoff_initial_ms),
            backoff_max: Duration::from_millis(config.backoff_max_ms),
            backoff_jitter: config.backoff_jitter,
            max_age: Duration::from_secs(config.max_age_secs),
            concurrency: config.concurrency,
            ordered: config.ordered,
            attempt_timeout: Duration::from_millis(config.attempt_timeout_ms),
        })
    }

    /// How long a claim of `claimed` deliveries holds them: long enough for the last to wait
    /// for the slots to go through the others, `concurrency` at a time, each attempt taking
    /// its whole timeout, and then to be attempted itself.
    pub(crate) fn lease(&self, claimed: usize) -> Duration {
        let rounds = claimed.div_ceil(self.concurrency).max(1);
        self.attempt_timeout
            .saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX))
            .saturating_add(LEASE_MARGIN)
    }

    /// The wait after a round's `failures`-th failed attempt: the initial wait doubled for
    /// each failure before it, at most the maximum, less a random part of up to the jitter.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        let full = self
            .backoff_initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.backoff_max);
        full.mul_f64(1.0 - self.backoff_jitter * fastrand::f64())
    }

    /// What the end of `claimed`'s attempt at `now` means: `failure` is `None` on success.
    pub(crate) fn outcome(
        &self,
        claimed: &Claimed,
        failure: Option<AttemptFailure>,
        now: SystemTime,
    ) -> AttemptOutcome {
        let (error, after) = match failure {
            None => return AttemptOutcome::Delivered,
            Some(AttemptFailure::Permanent(error)) => {
                return AttemptOutcome::Dead {
                    error,
                    reason: "permanent",
                };
            }
            Some(AttemptFailure::Retry { error, after }) => (error, after),
        };
        let failures = claimed.round_attempts + 1;
        if failures >= self.max_attempts {
            return AttemptOutcome::Dead {
                error,
                reason: "max_attempts",
            };
        }
        let age = now
            .duration_since(claimed.round_started_at)
            .unwrap_or_default();
        if age >= self.max_age {
            return AttemptOutcome::Dead {
                error,
                reason: "max_age",
            };
        }
        let wait = after.map_or_else(
            || self.backoff(failures),
            |after| after.min(self.backoff_max),
        );
        AttemptOutcome::Retry {
            error,
            at: now + wait,
        }
    }

    /// One line for the start-up log and `check-config`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "max_attempts {}, backoff {}..{} ms (jitter {}), max_age {} s, concurrency {}, {}, \
             attempt timeout {} ms",
            self.max_attempts,
            self.backoff_initial.as_millis(),
            self.backoff_max.as_millis(),
            self.backoff_jitter,
            self.max_age.as_secs(),
            self.concurrency,
            if self.ordered { "ordered" } else { "unordered" },
            self.attempt_timeout.as_millis(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::StoredCallback;

    fn policy() -> QueuePolicy {
        let config = QueueConfig {
            backoff_jitter: 0.0,
            max_attempts: 3,
            ..QueueConfig::default()
        };
        QueuePolicy::from_config("h", &config).unwrap()
    }

    fn claimed(round_attempts: u32, round_started_at: SystemTime) -> Claimed {
        Claimed {
            id: 1,
            entry_id: 1,
            handler: "h".into(),
            callback: StoredCallback {
                sdk_app_id: 1,
                command: "C2C.CallbackAfterSendMsg".into(),
                client_ip: None,
                opt_platform: None,
                request_time: None,
                received_at: round_started_at,
                body: "{}".into(),
                decision: None,
                conversation_key: None,
                idempotency_key: "k".into(),
            },
            attempt: round_attempts + 1,
            round_attempts,
            round_started_at,
        }
    }

    fn retry(error: &str) -> Option<AttemptFailure> {
        Some(AttemptFailure::Retry {
            error: error.into(),
            after: None,
        })
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_jitter_only_shortens() {
        let mut policy = policy();
        assert_eq!(policy.backoff(1), Duration::from_secs(1));
        assert_eq!(policy.backoff(2), Duration::from_secs(2));
        assert_eq!(policy.backoff(4), Duration::from_secs(8));
        assert_eq!(policy.backoff(40), policy.backoff_max);
        policy.backoff_jitter = 0.5;
        for _ in 0..100 {
            let wait = policy.backoff(3);
            assert!(wait <= Duration::from_secs(4) && wait >= Duration::from_secs(2));
        }
    }

    #[test]
    fn failures_retry_until_max_attempts_then_die() {
        let policy = policy();
        let now = SystemTime::now();
        let first = policy.outcome(&claimed(0, now), retry("down"), now);
        assert_eq!(
            first,
            AttemptOutcome::Retry {
                error: "down".into(),
                at: now + Duration::from_secs(1)
            }
        );
        let last = policy.outcome(&claimed(2, now), retry("down"), now);
        assert!(matches!(
            last,
            AttemptOutcome::Dead {
                reason: "max_attempts",
                ..
            }
        ));
        let permanent = policy.outcome(
            &claimed(0, now),
            Some(AttemptFailure::Permanent("bad".into())),
            now,
        );
        assert!(matches!(
            permanent,
            AttemptOutcome::Dead {
                reason: "permanent",
                ..
            }
        ));
        assert_eq!(
            policy.outcome(&claimed(1, now), None, now),
            AttemptOutcome::Delivered
        );
    }

    #[test]
    fn an_old_round_dies_of_age_and_a_requested_delay_is_capped() {
        let policy = policy();
        let now = SystemTime::now();
        let old = now - policy.max_age;
        assert!(matches!(
            policy.outcome(&claimed(0, old), retry("down"), now),
            AttemptOutcome::Dead {
                reason: "max_age",
                ..
            }
        ));
        let asked = Some(AttemptFailure::Retry {
            error: "429".into(),
            after: Some(Duration::from_secs(86_400)),
        });
        assert_eq!(
            policy.outcome(&claimed(0, now), asked, now),
            AttemptOutcome::Retry {
                error: "429".into(),
                at: now + policy.backoff_max
            }
        );
    }

    #[test]
    fn zero_and_inverted_values_are_refused_naming_the_key() {
        let cases: [(&str, QueueConfig); 5] = [
            (
                "handlers.h.queue.max_attempts",
                QueueConfig {
                    max_attempts: 0,
                    ..QueueConfig::default()
                },
            ),
            (
                "handlers.h.queue.backoff_initial_ms",
                QueueConfig {
                    backoff_initial_ms: 0,
                    ..QueueConfig::default()
                },
            ),
            (
                "handlers.h.queue.backoff_max_ms",
                QueueConfig {
                    backoff_max_ms: 10,
                    ..QueueConfig::default()
                },
            ),
            (
                "handlers.h.queue.backoff_jitter",
                QueueConfig {
                    backoff_jitter: -0.1,
                    ..QueueConfig::default()
                },
            ),
            (
                "handlers.h.queue.concurrency",
                QueueConfig {
                    concurrency: 0,
                    ..QueueConfig::default()
                },
            ),
        ];
        for (key, config) in cases {
            let error = QueuePolicy::from_config("h", &config)
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
