//! What `/readyz` answers: every enabled handler's dependency check and the journal's probe,
//! run at most once per [`CACHE_FOR`] however often it is asked (it is unauthenticated, and
//! each check may reach a database), with a log line when a check changes state rather than
//! on every probe. A callback that fails where the last one was served (or the reverse) is
//! news the cached answer has not heard: it is then computed again at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Ops;
use crate::callback::{Exchange, Outcome};
use crate::handler::ErrorChain;
use crate::tap::Tap;

/// How long `/readyz` waits for one handler's dependency check.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one answer is reused.
const CACHE_FOR: Duration = Duration::from_secs(1);

/// What the last answered callback said of the dependencies (0 before the first).
const CALLBACK_SERVED: u8 = 1;
const CALLBACK_FAILED: u8 = 2;

/// An answer of `/readyz` as it was computed.
#[derive(Debug)]
struct Answer {
    at: Instant,
    /// [`Readiness::last_callback`] then.
    last_callback: u8,
    ready: bool,
    body: Value,
}

/// `/readyz`'s last answer, and the state each check was last logged in. It is a [`Tap`] too,
/// to hear how callbacks fare.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    /// Held across a computation, so probes arriving meanwhile wait for it rather than run
    /// their own.
    answer: tokio::sync::Mutex<Option<Answer>>,
    /// Whether the last answered callback was served or failed ([`CALLBACK_SERVED`], ...).
    last_callback: AtomicU8,
    /// The checks last logged as not ready: a check is logged as it changes state.
    not_ready: Mutex<HashMap<String, ()>>,
}

/// What one check found: its name and its problem, if any.
type Finding = (String, Option<String>);

impl Readiness {
    /// Whether everything is ready, and the body saying what is not: the cached answer while
    /// it is fresh, else a new one.
    pub(crate) async fn answer(&self, ops: &Ops) -> (bool, Value) {
        let mut answer = self.answer.lock().await;
        let last_callback = self.last_callback.load(Ordering::Relaxed);
        if let Some(cached) = &*answer
            && cached.at.elapsed() < CACHE_FOR
            && cached.last_callback == last_callback
        {
            return (cached.ready, cached.body.clone());
        }
        let (ready, body, findings) = check(ops).await;
        for (name, problem) in findings {
            self.log_change(&name, problem.as_deref());
        }
        *answer = Some(Answer {
            at: Instant::now(),
            last_callback,
            ready,
            body: body.clone(),
        });
        (ready, body)
    }

    /// A WARN as a check becomes not ready, an INFO as it is ready again, and nothing while
    /// it stays as it was: an outsider probing in a loop cannot fill the log.
    fn log_change(&self, name: &str, problem: Option<&str>) {
        let mut not_ready = self.not_ready.lock().unwrap_or_else(|p| p.into_inner());
        match problem {
            Some(problem) if !not_ready.contains_key(name) => {
                not_ready.insert(name.to_owned(), ());
                tracing::warn!(check = name, "not ready: {problem}");
            }
            None if not_ready.remove(name).is_some() => {
                tracing::info!(check = name, "ready again");
            }
            _ => {}
        }
    }
}

impl Tap for Readiness {
    fn answered(&self, exchange: &Exchange<'_>) {
        let fared = match exchange.outcome {
            // A refusal says nothing about the dependencies.
            Outcome::Rejected => return,
            Outcome::Failed | Outcome::TimedOut | Outcome::Fallback => CALLBACK_FAILED,
            Outcome::Ok | Outcome::Unrouted => CALLBACK_SERVED,
        };
        // Read first: callbacks on every core would otherwise all write one cache line.
        if self.last_callback.load(Ordering::Relaxed) != fared {
            self.last_callback.store(fared, Ordering::Relaxed);
        }
    }
}

/// Runs every check: whether all are ready, the body, and each check's finding.
async fn check(ops: &Ops) -> (bool, Value, Vec<Finding>) {
    let mut findings = check_handlers(ops).await;
    let mut handlers = serde_json::Map::new();
    for (name, problem) in &findings {
        let status = if problem.is_none() {
            "ready"
        } else {
            "not ready"
        };
        handlers.insert(name.clone(), status.into());
    }
    let details: serde_json::Map<String, Value> = ops
        .handlers
        .iter()
        .filter_map(|(name, handler)| Some(((*name).to_owned(), handler.status()?)))
        .collect();
    let journal = match &ops.deliveries {
        Some(deliveries) => {
            let (journal_ready, status) = deliveries.readiness().await;
            let problem = status["problem"].as_str().map(str::to_owned);
            findings.push((
                "journal".to_owned(),
                problem.or_else(|| (!journal_ready).then(|| "the journal is not ready".to_owned())),
            ));
            Some(status)
        }
        None => None,
    };
    let ready = findings.iter().all(|(_, problem)| problem.is_none());
    let word = if ready { "ready" } else { "not ready" };
    let mut body = json!({ "status": word, "handlers": handlers });
    if !details.is_empty() {
        body["details"] = details.into();
    }
    if let Some(journal) = journal {
        body["journal"] = journal;
    }
    (ready, body, findings)
}

/// Each handler's dependency check, run concurrently, so one hung dependency costs one
/// timeout, not one per handler.
async fn check_handlers(ops: &Ops) -> Vec<Finding> {
    let mut checks = JoinSet::new();
    let mut names = HashMap::new();
    for (name, handler) in &ops.handlers {
        let handler = Arc::clone(handler);
        let check = checks.spawn(async move {
            match tokio::time::timeout(READY_CHECK_TIMEOUT, handler.ready()).await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(ErrorChain(error.as_ref()).to_string()),
                Err(_) => Some("readiness check timed out".to_owned()),
            }
        });
        names.insert(check.id(), *name);
    }
    let mut findings = Vec::new();
    while let Some(checked) = checks.join_next_with_id().await {
        // A check that panicked is a handler that is not ready, under its own name.
        let (id, problem) = checked
            .unwrap_or_else(|error| (error.id(), Some("readiness check panicked".to_owned())));
        findings.push((names[&id].to_owned(), problem));
    }
    findings
}
