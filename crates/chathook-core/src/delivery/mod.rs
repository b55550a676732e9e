//! Queued delivery: a callback owed to queued handlers is committed to the [`Journal`] before
//! Chat hears OK, then each handler's worker delivers it with retries by the handler's
//! [`QueuePolicy`] until it is delivered or dead.
//!
//! [`Deliveries`] is the running whole: the journal, one worker per queued handler, a loop that
//! reads the journal's counts into the metrics and `/readyz`, and one that purges delivered
//! entries past their retention. Dispatch calls [`Deliveries::append`]; shutdown calls
//! [`Deliveries::stop`].

mod entry;
mod metrics;
mod policy;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::JournalConfig;
use crate::handler::{Callback, Decision};
use crate::journal::{
    AppendLease, Appended, Journal, JournalError, JournalStats, LeaseOwner, NewEntry,
};
use crate::registry::Target;
use crate::rejection::Rejection;

pub(crate) use metrics::DeliveryMetrics;
pub(crate) use policy::QueuePolicy;
pub(crate) use worker::QueuedHandler;
use worker::Workers;

/// How often the journal's counts are read into the metrics and the readiness state.
const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// How often delivered entries past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long Chat waits for a reply (protocol.md §3).
const CHAT_DEADLINE: Duration = Duration::from_millis(crate::config::CHAT_TIMEOUT_MS);
/// Left of Chat's deadline for the reply to be written and travel.
const REPLY_MARGIN: Duration = Duration::from_millis(100);
/// The least a commit is given, however late the decision was.
const MIN_APPEND_TIME: Duration = Duration::from_millis(20);
/// How long `/readyz` waits for the journal's write probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The journal and the workers delivering from it.
pub(crate) struct Deliveries {
    journal: Arc<Journal>,
    queued: HashMap<&'static str, Arc<QueuedHandler>>,
    workers: Arc<Workers>,
    bounds: (u64, u64),
    /// How long a callback waits for its commit before it is answered 500: Chat's deadline
    /// is not held for a journal that cannot write (a commit that lands later is delivered
    /// all the same).
    append_timeout: Duration,
    /// The counts last read, for `/readyz`.
    stats: Mutex<Option<JournalStats>>,
    /// When an append failure was last logged (Unix seconds): one line a second at most,
    /// however many callbacks a full journal refuses.
    last_failure_logged: AtomicI64,
}

impl Deliveries {
    /// Opens the journal for `queued` handlers, registering the delivery metrics in
    /// `registry`. `names` is every linked handler's name.
    pub(crate) async fn open(
        config: &JournalConfig,
        append_timeout: Duration,
        queued: Vec<(Target, QueuePolicy)>,
        registry: &mut prometheus_client::registry::Registry,
        names: Vec<&'static str>,
    ) -> Result<Arc<Self>, JournalError> {
        let options = crate::journal::JournalOptions {
            serving: true,
            ..config.options()
        };
        let journal = Arc::new(Journal::open(options).await?);
        let handler_names: Vec<&'static str> =
            queued.iter().map(|(target, _)| target.name).collect();
        tracing::info!(journal = %journal.describe(), "journal opened");
        let queued: HashMap<_, _> = queued
            .into_iter()
            .map(|(target, policy)| {
                let name = target.name;
                tracing::info!(handler = name, policy = %policy.describe(), "queued handler");
                // As many as a claim takes ahead: the leases are as long.
                let room = if journal.leases_at_append() {
                    policy.concurrency.saturating_mul(journal.claim_ahead())
                } else {
                    0
                };
                let queued =
                    QueuedHandler::new(name, target.destination, target.handler, policy, room);
                (name, Arc::new(queued))
            })
            .collect();
        let workers = Workers {
            journal: Arc::clone(&journal),
            owner: lease_owner(),
            metrics: DeliveryMetrics::register(registry, &handler_names),
            stop: CancellationToken::new(),
            abandon: CancellationToken::new(),
            loops: TaskTracker::new(),
            attempts: TaskTracker::new(),
            names,
        };
        Ok(Arc::new(Self {
            journal,
            queued,
            workers: Arc::new(workers),
            bounds: (config.max_entries, config.max_bytes),
            append_timeout,
            stats: Mutex::new(None),
            last_failure_logged: AtomicI64::new(0),
        }))
    }

    /// The journal, for the operators' API.
    pub(crate) fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// The queued handlers' names, sorted.
    pub(crate) fn handler_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.queued.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Starts the workers and the counting and purging loops.
    pub(crate) fn start(self: &Arc<Self>) {
        for queued in self.queued.values() {
            let run = Arc::clone(&self.workers).run(Arc::clone(queued));
            self.workers.loops.spawn(run);
        }
        let deliveries = Arc::clone(self);
        tokio::spawn(async move { deliveries.count_loop().await });
        let deliveries = Arc::clone(self);
        tokio::spawn(async move { deliveries.purge_loop().await });
    }

    /// Commits `callback` (with the decision Chat got, for a before-callback) for `handlers`
    /// before Chat is answered; a failure is the refusal Chat gets instead of OK.
    pub(crate) async fn append(
        &self,
        callback: &Callback,
        decision: Option<&Decision>,
        handlers: &[&'static str],
    ) -> Result<(), Rejection> {
        let entry = NewEntry {
            callback: entry::stored(callback, decision),
            handlers: handlers.to_vec(),
        };
        // A before-callback's decision may have used most of Chat's deadline already: the
        // commit gets what is left of it, never more than the handler deadline.
        let elapsed = SystemTime::now()
            .duration_since(callback.received_at())
            .unwrap_or_default();
        let left = CHAT_DEADLINE
            .saturating_sub(REPLY_MARGIN)
            .saturating_sub(elapsed)
            .max(MIN_APPEND_TIME);
        let limit = self.append_timeout.min(left);
        // The workers with room to take the new deliveries at once; not once shutdown began,
        // which hands back only the leases held by then.
        let reserved: Vec<&Arc<QueuedHandler>> =
            if self.journal.leases_at_append() && !self.workers.stop.is_cancelled() {
                handlers
                    .iter()
                    .filter_map(|name| self.queued.get(name))
                    .filter(|queued| queued.reserve())
                    .collect()
            } else {
                Vec::new()
            };
        let appending = async {
            if reserved.is_empty() {
                return Ok((self.journal.append(entry).await?, Vec::new()));
            }
            let lease = AppendLease {
                owner: Arc::clone(&self.workers.owner),
                // Long enough for what a worker holds: hand-overs and a claim ahead.
                lease: reserved
                    .iter()
                    .map(|queued| {
                        let held = 2 * queued.policy.concurrency * self.journal.claim_ahead();
                        queued.policy.lease(held)
                    })
                    .max()
                    .unwrap_or_default(),
                handlers: reserved
                    .iter()
                    .map(|queued| (queued.name, queued.policy.ordered))
                    .collect(),
            };
            self.journal.append_leasing(entry, lease).await
        };
        let appended = tokio::time::timeout(limit, appending)
            .await
            .unwrap_or(Err(JournalError::Timeout(limit)));
        let (appended, mut leased) = match appended {
            Ok((appended, leased)) => (Ok(appended), leased),
            Err(error) => (Err(error), Vec::new()),
        };
        // Each place reserved is used by its delivery, or given back (an ordered key with an
        // earlier pending delivery, a duplicate, a failure). An append that timed out may
        // still commit: its leases then run out and a claim takes the deliveries.
        let mut handed = Vec::with_capacity(reserved.len());
        for queued in &reserved {
            match leased
                .iter()
                .position(|claimed| claimed.handler == queued.name)
            {
                Some(at) => {
                    queued.hand_over(leased.swap_remove(at));
                    handed.push(queued.name);
                }
                None => queued.unreserve(),
            }
        }
        match appended {
            Ok(Appended::New(_)) => {
                for name in handlers.iter().filter(|name| !handed.contains(name)) {
                    if let Some(queued) = self.queued.get(name) {
                        queued.look_in_journal();
                    }
                }
                Ok(())
            }
            Ok(Appended::Duplicate(id)) => {
                tracing::info!(
                    entry = id,
                    command = callback.command(),
                    "a callback with the same body arrived within journal.dedupe_window_secs; \
                     journaled once"
                );
                Ok(())
            }
            Err(error) => {
                self.log_failure(&error);
                Err(Rejection::JournalUnavailable)
            }
        }
    }

    fn log_failure(&self, error: &JournalError) {
        let now = metrics::unix_ms(SystemTime::now()) / 1000;
        if self.last_failure_logged.swap(now, Ordering::Relaxed) != now {
            tracing::error!(%error, "callback not journaled; answered 500 so Chat does not take it as delivered");
        }
    }

    /// `/readyz`'s view: ready when a write commits and no bound is reached.
    pub(crate) async fn readiness(&self) -> (bool, Value) {
        let probe = tokio::time::timeout(PROBE_TIMEOUT, self.journal.probe()).await;
        let error = match probe {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!(
                "a write did not commit within {} ms",
                PROBE_TIMEOUT.as_millis()
            )),
        };
        let stats = self.stats.lock().expect("not poisoned").clone();
        let (max_entries, max_bytes) = self.bounds;
        let full = stats.as_ref().and_then(|stats| {
            if stats.entries >= max_entries {
                Some(format!(
                    "full: {} entries, journal.max_entries = {max_entries}",
                    stats.entries
                ))
            } else if stats.bytes >= max_bytes {
                Some(format!(
                    "full: {} bytes, journal.max_bytes = {max_bytes}",
                    stats.bytes
                ))
            } else {
                None
            }
        });
        let problem = error.or(full);
        let ready = problem.is_none();
        // Not logged here: `/readyz` logs a check as it changes state, not on every probe.
        let mut status = json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": self.journal.describe(),
        });
        if let Some(problem) = problem {
            status["problem"] = problem.into();
        }
        if let Some(stats) = stats {
            status["entries"] = stats.entries.into();
            status["bytes"] = stats.bytes.into();
            status["handlers"] = serde_json::to_value(&stats.handlers).unwrap_or_default();
        }
        (ready, status)
    }

    async fn count_loop(&self) {
        let names = self.handler_names();
        let mut first = true;
        loop {
            match self.journal.stats().await {
                Ok(stats) => {
                    if std::mem::take(&mut first) {
                        warn_about_orphans(&stats, &names);
                    }
                    self.workers.metrics.journal(&stats, &names);
                    *self.stats.lock().expect("not poisoned") = Some(stats);
                }
                Err(error) => tracing::warn!(%error, "cannot read the journal's counts"),
            }
            tokio::select! {
                () = tokio::time::sleep(STATS_INTERVAL) => {}
                () = self.workers.stop.cancelled() => return,
            }
        }
    }

    async fn purge_loop(&self) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(PURGE_INTERVAL) => {}
                () = self.workers.stop.cancelled() => return,
            }
            match self.journal.purge().await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(
                    purged,
                    "delivered journal entries past their retention purged"
                ),
                Err(error) => tracing::warn!(%error, "cannot purge the journal"),
            }
        }
    }

    /// Stops claiming (as shutdown begins); attempts in flight go on.
    pub(crate) fn stop_claiming(&self) {
        self.workers.stop.cancel();
    }

    /// Stops claiming, gives attempts in flight until `timeout` to finish, and hands the
    /// leases of those still running back to the journal for the next start.
    pub(crate) async fn stop(&self, timeout: Duration) {
        let workers = &self.workers;
        self.stop_claiming();
        workers.loops.close();
        workers.loops.wait().await;
        workers.attempts.close();
        if tokio::time::timeout(timeout, workers.attempts.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = workers.attempts.len(),
                "delivery attempts still running at shutdown were abandoned; they are delivered \
                 again after the restart"
            );
            // Dropped before their leases go back, so no other replica's attempt overlaps.
            workers.abandon.cancel();
            workers.attempts.wait().await;
        }
        match self.journal.release(&workers.owner).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "leases handed back to the journal"),
            Err(error) => tracing::warn!(%error, "cannot hand leases back; they expire instead"),
        }
    }
}

/// Deliveries owed to a handler that is no longer queued (renamed, removed, made inline) have
/// no worker: said once at start-up, so they are not left waiting unseen.
fn warn_about_orphans(stats: &JournalStats, queued: &[&'static str]) {
    for counts in &stats.handlers {
        let waiting = counts.pending + counts.dead;
        if waiting > 0 && !queued.contains(&counts.handler.as_str()) {
            tracing::warn!(
                handler = %counts.handler,
                pending = counts.pending,
                dead = counts.dead,
                "the journal holds deliveries for a handler that is not queued here, and no \
                 worker delivers them: queue it again, or `chathook deliveries discard` them"
            );
        }
    }
}

/// This process's name on its leases: host, process id and a random part, so a restarted
/// process never mistakes its predecessor's leases for its own.
fn lease_owner() -> LeaseOwner {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "chathook".into());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..)).into()
}

/// The text of a panic's payload.
pub(crate) use crate::callback::panic_text;
