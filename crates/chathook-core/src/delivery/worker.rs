//! One queued handler's worker: claims due deliveries up to its concurrency, calls the handler
//! for each under the attempt deadline with a panic caught, and settles the attempt by the
//! handler's policy. It sleeps until a callback is journaled for it, a delivery comes due, or
//! the poll interval passes (other replicas, the CLI's retries), and stops claiming at shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::entry::callback_of;
use super::metrics::DeliveryMetrics;
use super::policy::{AttemptFailure, QueuePolicy};
use crate::handler::{Handler, HandlerError};
use crate::journal::{Attempt, AttemptOutcome, Claimed, Journal, LeaseOwner, Settled};
use crate::redact;

/// Longest sleep without a wake-up: how soon a delivery another process made due (a
/// replica's append, `chathook deliveries retry`) is seen.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Wait after the journal failed to answer a claim.
const CLAIM_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// A queued handler as its worker calls it.
pub(crate) struct QueuedHandler {
    pub(crate) name: &'static str,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) policy: QueuePolicy,
    /// Notified when a callback is journaled for it, or one of its attempts ends.
    pub(crate) wake: Notify,
}

/// What every worker shares.
pub(crate) struct Workers {
    pub(crate) journal: Arc<Journal>,
    pub(crate) owner: LeaseOwner,
    pub(crate) metrics: DeliveryMetrics,
    pub(crate) stop: CancellationToken,
    /// Cancelled when shutdown gives up on the attempts still running: each drops its
    /// handler call before its lease is handed back, so no other replica's attempt overlaps.
    pub(crate) abandon: CancellationToken,
    /// The claiming loops; shutdown waits for them before handing leases back.
    pub(crate) loops: TaskTracker,
    /// Attempts in flight; shutdown waits for them.
    pub(crate) attempts: TaskTracker,
    /// Every linked handler's name, to restore a stored decision's `DecidedBy`.
    pub(crate) names: Vec<&'static str>,
}

impl Workers {
    /// Claims and delivers `queued`'s deliveries until shutdown. A claim may take more than
    /// the free slots (as the journal advises): the rest wait here, leased long enough, and
    /// the next claim is made once they are all started. Those not started by shutdown have
    /// their leases handed back with the rest.
    pub(crate) async fn run(self: Arc<Self>, queued: Arc<QueuedHandler>) {
        let permits = Arc::new(Semaphore::new(queued.policy.concurrency));
        let ahead = self.journal.claim_ahead().max(1);
        let mut ready = VecDeque::new();
        loop {
            let first = tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                permit = Arc::clone(&permits).acquire_owned() => permit.expect("never closed"),
            };
            let mut held = vec![first];
            while let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
                held.push(permit);
            }
            if ready.is_empty() {
                let policy = &queued.policy;
                // The free slots, and when claiming ahead, enough for every slot to go
                // round `ahead` times: slots free one by one, and the next claim waits for
                // the writer.
                let limit = held.len() + (ahead - 1).saturating_mul(policy.concurrency);
                let claimed = self
                    .journal
                    .claim(
                        queued.name,
                        policy.ordered,
                        limit,
                        policy.lease(limit),
                        &self.owner,
                    )
                    .await;
                match claimed {
                    Ok(claimed) if claimed.is_empty() => {
                        drop(held);
                        self.idle(&queued).await;
                        continue;
                    }
                    Ok(claimed) => ready.extend(claimed),
                    Err(error) => {
                        tracing::warn!(handler = queued.name, %error, "cannot claim deliveries");
                        drop(held);
                        self.pause(CLAIM_ERROR_PAUSE).await;
                        continue;
                    }
                }
            }
            // Claimed as shutdown began: not started, their leases are handed back with the
            // rest once this loop has ended.
            if self.stop.is_cancelled() {
                break;
            }
            for permit in held {
                let Some(claimed) = ready.pop_front() else {
                    break;
                };
                let attempt = Arc::clone(&self).attempt(Arc::clone(&queued), claimed, permit);
                self.attempts.spawn(attempt);
            }
        }
    }

    /// Sleeps until woken, the next delivery is due, the poll interval passes, or shutdown.
    async fn idle(&self, queued: &QueuedHandler) {
        let now = SystemTime::now();
        // A delivery due already that the claim did not return is held back behind its
        // conversation's head: a settle wakes the worker for it, so it waits for that.
        let due = match self.journal.next_due(queued.name).await {
            Ok(Some(due)) => due
                .duration_since(now)
                .ok()
                .filter(|wait| !wait.is_zero())
                .unwrap_or(POLL_INTERVAL),
            Ok(None) | Err(_) => POLL_INTERVAL,
        };
        tokio::select! {
            () = queued.wake.notified() => {}
            () = tokio::time::sleep(due.min(POLL_INTERVAL)) => {}
            () = self.stop.cancelled() => {}
        }
    }

    async fn pause(&self, pause: Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// One attempt of `claimed`, settled in the journal; `permit` is its concurrency slot.
    async fn attempt(
        self: Arc<Self>,
        queued: Arc<QueuedHandler>,
        claimed: Claimed,
        permit: OwnedSemaphorePermit,
    ) {
        let span = tracing::info_span!(
            "delivery",
            handler = queued.name,
            delivery = claimed.id,
            attempt = claimed.attempt,
            command = %claimed.callback.command,
        );
        async move {
            let started_at = SystemTime::now();
            let failure = tokio::select! {
                biased;
                () = self.abandon.cancelled() => return,
                failure = self.call(&queued, &claimed) => failure,
            };
            let ended_at = SystemTime::now();
            let outcome = queued.policy.outcome(&claimed, failure, ended_at);
            self.report(&queued, &claimed, &outcome, ended_at);
            let attempt = Attempt {
                started_at,
                ended_at,
                outcome,
            };
            // A slot bounds the handler's calls, not the journal's writes: it is free once the
            // settlement is handed over, which a claim made after it sees.
            let settling = self
                .journal
                .hand_over(claimed.id, &self.owner, attempt)
                .await;
            drop(permit);
            match settling.recorded().await {
                Ok(Settled::Recorded) => {}
                Ok(Settled::LeaseLost) => tracing::warn!(
                    "the attempt outlived its lease and another claimer took the delivery over; \
                     the attempt is kept in its history"
                ),
                // The lease runs out and the delivery is attempted again: at least once.
                Err(error) => tracing::error!(%error, "cannot record the attempt"),
            }
            queued.wake.notify_one();
        }
        .instrument(span)
        .await;
    }

    /// Calls the handler; `None` on success.
    async fn call(&self, queued: &QueuedHandler, claimed: &Claimed) -> Option<AttemptFailure> {
        let deadline = queued.policy.attempt_timeout;
        let callback =
            callback_of(claimed, &self.names).with_deadline(std::time::Instant::now() + deadline);
        let handling = std::panic::AssertUnwindSafe(queued.handler.handle(callback)).catch_unwind();
        match tokio::time::timeout(deadline, handling).await {
            Ok(Ok(Ok(_reply))) => None,
            Ok(Ok(Err(error))) => Some(failure_of(error)),
            Ok(Err(panic)) => Some(AttemptFailure::Retry {
                error: format!("panicked: {}", super::panic_text(panic.as_ref())),
                after: None,
            }),
            Err(_elapsed) => Some(AttemptFailure::Retry {
                error: format!("timed out after {} ms", deadline.as_millis()),
                after: None,
            }),
        }
    }

    /// The attempt's log line and metrics.
    fn report(
        &self,
        queued: &QueuedHandler,
        claimed: &Claimed,
        outcome: &AttemptOutcome,
        now: SystemTime,
    ) {
        let name = queued.name;
        match outcome {
            AttemptOutcome::Delivered => {
                let lag = now
                    .duration_since(claimed.callback.received_at)
                    .unwrap_or_default();
                if claimed.attempt > 1 {
                    tracing::info!(lag_ms = lag.as_millis() as u64, "delivered after retries");
                }
                self.metrics.attempt(name, "delivered", Some(lag));
            }
            AttemptOutcome::Retry { error, at } => {
                let in_ms = at.duration_since(now).unwrap_or_default().as_millis() as u64;
                tracing::warn!(error = %error, retry_in_ms = in_ms, "delivery attempt failed; retrying");
                self.metrics.attempt(name, "retry", None);
            }
            AttemptOutcome::Dead { error, reason } => {
                tracing::error!(
                    error = %error,
                    reason,
                    "delivery is a dead letter: `chathook deliveries show {}`, then retry or discard",
                    claimed.id
                );
                self.metrics.attempt(name, "dead", None);
            }
        }
    }
}

/// What the policy reads of a handler's error; its text with any credentials redacted.
fn failure_of(error: HandlerError) -> AttemptFailure {
    let text = redact::credentials_in(&error.to_string());
    match error {
        HandlerError::InvalidBody(_) | HandlerError::Permanent(_) => {
            AttemptFailure::Permanent(text)
        }
        HandlerError::Retry { after, .. } => AttemptFailure::Retry { error: text, after },
        HandlerError::Internal(_) => AttemptFailure::Retry {
            error: text,
            after: None,
        },
    }
}
