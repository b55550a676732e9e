//! One queued handler's worker: takes the deliveries its appends leased and handed over, and
//! claims due deliveries from the journal, up to its concurrency; calls the handler for each
//! under the attempt deadline with a panic caught, and settles the attempt by the handler's
//! policy. It looks in the journal again when a callback was journaled for it without being
//! handed over, an attempt's end may have made one due, a delivery comes due, or the poll
//! interval passes (other replicas, the CLI's retries), and stops claiming at shutdown.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The destination its calls are told, for one destination of a handler that fans out.
    pub(crate) destination: Option<&'static str>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) policy: QueuePolicy,
    /// Set when the journal may hold a delivery due for it that it was not handed: a
    /// callback journaled without a hand-over, an attempt's end that is not a delivery (a
    /// retry comes due, an ordered key's next entry). Read at every turn of the worker's
    /// loop, so that hand-overs never keep it from the journal.
    due_in_journal: AtomicBool,
    /// Notified with it, for a worker waiting.
    wake: Notify,
    /// Deliveries leased at their append and handed over in memory, not yet started.
    handed: Mutex<VecDeque<Claimed>>,
    /// Notified when one is handed over.
    handed_wake: Notify,
    /// Hand-overs it may still take (reserved before the append, given back when none came
    /// or when one starts): what it holds stays within what its leases cover.
    room: AtomicUsize,
}

impl QueuedHandler {
    /// `room` hand-overs at most waiting to start (0 when the journal leases nothing at
    /// append).
    pub(crate) fn new(
        name: &'static str,
        destination: Option<&'static str>,
        handler: Arc<dyn Handler>,
        policy: QueuePolicy,
        room: usize,
    ) -> Self {
        Self {
            name,
            destination,
            handler,
            policy,
            due_in_journal: AtomicBool::new(false),
            wake: Notify::new(),
            handed: Mutex::new(VecDeque::with_capacity(room)),
            handed_wake: Notify::new(),
            room: AtomicUsize::new(room),
        }
    }

    /// Tells its worker that the journal may hold a delivery due for it.
    pub(crate) fn look_in_journal(&self) {
        self.due_in_journal.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Takes a place for one hand-over, if there is one.
    pub(crate) fn reserve(&self) -> bool {
        self.room
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |room| {
                room.checked_sub(1)
            })
            .is_ok()
    }

    /// Gives back a place [`QueuedHandler::reserve`] took that no hand-over used.
    pub(crate) fn unreserve(&self) {
        self.room.fetch_add(1, Ordering::AcqRel);
    }

    /// Hands over a delivery leased at its append, in the place reserved for it.
    pub(crate) fn hand_over(&self, claimed: Claimed) {
        self.handed.lock().expect("not poisoned").push_back(claimed);
        self.handed_wake.notify_one();
    }

    fn take_handed(&self) -> Option<Claimed> {
        let claimed = self.handed.lock().expect("not poisoned").pop_front()?;
        self.unreserve();
        Some(claimed)
    }

    fn nothing_handed(&self) -> bool {
        self.handed.lock().expect("not poisoned").is_empty()
    }
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
    /// Delivers `queued`'s deliveries until shutdown: those handed over first taken as slots
    /// free, and those claimed from the journal while it may hold due ones. A claim may take
    /// more than the free slots (as the journal advises): the rest wait here, leased long
    /// enough, and the next claim is made once they are all started. Those not started by
    /// shutdown, handed over or claimed, have their leases handed back with the rest.
    pub(crate) async fn run(self: Arc<Self>, queued: Arc<QueuedHandler>) {
        let permits = Arc::new(Semaphore::new(queued.policy.concurrency));
        let ahead = self.journal.claim_ahead().max(1);
        let mut ready = VecDeque::new();
        // Whether the journal may hold due deliveries; when not, when to look again anyway.
        let mut look_in_journal = true;
        let mut look_again_at = tokio::time::Instant::now();
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
            if queued.due_in_journal.swap(false, Ordering::AcqRel) {
                look_in_journal = true;
            }
            if ready.is_empty() && look_in_journal {
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
                        look_in_journal = false;
                        look_again_at = self.next_look(&queued).await;
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
            if ready.is_empty() && queued.nothing_handed() {
                drop(held);
                tokio::select! {
                    () = queued.wake.notified() => look_in_journal = true,
                    () = queued.handed_wake.notified() => {}
                    () = tokio::time::sleep_until(look_again_at) => look_in_journal = true,
                    () = self.stop.cancelled() => {}
                }
                continue;
            }
            // Claimed or handed over as shutdown began: not started, their leases are handed
            // back with the rest once this loop has ended.
            if self.stop.is_cancelled() {
                break;
            }
            for permit in held {
                // Claimed ones first: their leases began earlier.
                let Some(claimed) = ready.pop_front().or_else(|| queued.take_handed()) else {
                    break;
                };
                let attempt = Arc::clone(&self).attempt(Arc::clone(&queued), claimed, permit);
                self.attempts.spawn(attempt);
            }
        }
    }

    /// When to look in the journal again after a claim found nothing due: when its next
    /// delivery is due, at most the poll interval from now.
    async fn next_look(&self, queued: &QueuedHandler) -> tokio::time::Instant {
        let now = SystemTime::now();
        // A delivery due already that the claim did not return is held back behind its
        // conversation's head: that head's settlement wakes the worker for it.
        let due = match self.journal.next_due(queued.name).await {
            Ok(Some(due)) => due
                .duration_since(now)
                .ok()
                .filter(|wait| !wait.is_zero())
                .unwrap_or(POLL_INTERVAL),
            Ok(None) | Err(_) => POLL_INTERVAL,
        };
        tokio::time::Instant::now() + due.min(POLL_INTERVAL)
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
            // A delivery makes nothing due but an ordered key's next entry; a retry is due
            // later, and the worker must learn when.
            let may_make_due = queued.policy.ordered || outcome != AttemptOutcome::Delivered;
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
            if may_make_due {
                queued.look_in_journal();
            }
        }
        .instrument(span)
        .await;
    }

    /// Calls the handler; `None` on success.
    async fn call(&self, queued: &QueuedHandler, claimed: &Claimed) -> Option<AttemptFailure> {
        let deadline = queued.policy.attempt_timeout;
        let callback = callback_of(claimed, &self.names)
            .for_destination(queued.destination)
            .with_deadline(std::time::Instant::now() + deadline);
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
