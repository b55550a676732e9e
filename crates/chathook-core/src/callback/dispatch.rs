//! Dispatch: an admitted callback to its handlers, each on its own task under the deadline
//! with a panic caught, and their results into the one answer Chat gets.
//!
//! An after-callback runs every handler and is acknowledged only when all succeeded. A
//! before-callback (or a reply-bearing one) is answered by its decider, or by the fallback
//! when the decider fails; observers run alongside, get the decision, and neither change nor
//! delay it. Handler tasks outlive their request if the client hangs up; shutdown waits.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::exchange::{HandlerCalls, HandlerEnd, HandlerResult, Outcome, Replied};
use crate::config::{Fallback, Unrouted};
use crate::delivery::Deliveries;
use crate::handler::{Callback, DecidedBy, Decision, ErrorChain, HandlerError};
use crate::protocol::{Answer, CallbackKind, ReplyError};
use crate::registry::{Role, Route, Target};
use crate::rejection::{Rejection, echo};
use crate::tap::{HandlerFinished, Taps};

/// What a handler's failure meant for Chat's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The handler found the body unusable: the request's own refusal says so.
    Refused,
    /// A handler that had to succeed failed: Chat got a 500, so the event is not taken as
    /// delivered.
    Failed,
    /// The decider failed: this fallback answered.
    FellBack(Fallback),
    /// An observer failed: Chat's answer is unaffected.
    Ignored,
}

/// What dispatch decided: Chat's answer, how the callback ended, and the calls it made.
pub(crate) struct Dispatched {
    pub(crate) replied: Replied,
    pub(crate) outcome: Outcome,
    /// The decider that failed and the fallback that answered for it.
    pub(crate) fallback: Option<(&'static str, Fallback)>,
    pub(crate) calls: Option<Arc<HandlerCalls>>,
    /// A before-callback's: who made the decision, for the journal.
    decided: Option<DecidedBy>,
}

impl Dispatched {
    /// A request the checks refused.
    pub(crate) fn refused(rejection: Rejection) -> Self {
        Self::answered(Replied::Refused(rejection), Outcome::Rejected)
    }

    fn answered(replied: Replied, outcome: Outcome) -> Self {
        Self {
            replied,
            outcome,
            fallback: None,
            calls: None,
            decided: None,
        }
    }
}

/// The handlers' side of the pipeline.
pub(crate) struct Dispatcher {
    pub(crate) handler_timeout: Duration,
    pub(crate) unrouted: Unrouted,
    /// Handler tasks, which outlive their request if the client hangs up; shutdown waits.
    pub(crate) tasks: TaskTracker,
    pub(crate) taps: Taps,
    /// The journal, when a queued handler is enabled.
    pub(crate) deliveries: Option<Arc<Deliveries>>,
}

impl Dispatcher {
    /// The answer to a command no handler decides, as `dispatch.unrouted` says.
    pub(crate) fn unrouted(&self, command: &str) -> Dispatched {
        match self.unrouted {
            Unrouted::Accept => {
                Dispatched::answered(Replied::Reply(Answer::default()), Outcome::Unrouted)
            }
            Unrouted::Reject => Dispatched::answered(
                Replied::Refused(Rejection::Unrouted(echo(command))),
                Outcome::Rejected,
            ),
        }
    }

    /// Hands `callback` to the handlers of `route`.
    pub(crate) async fn dispatch(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
    ) -> Dispatched {
        let calls = HandlerCalls::new(calls_of(route));
        let mut dispatched = match (&self.deliveries, route.queued.is_empty()) {
            (Some(deliveries), false) => {
                self.journal(deliveries, route, callback, app, &calls).await
            }
            _ => self.run_inline(route, callback, app, &calls).await,
        };
        dispatched.calls = Some(calls);
        dispatched
    }

    /// The inline handlers' answer.
    async fn run_inline(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
        calls: &Arc<HandlerCalls>,
    ) -> Dispatched {
        match route.kind {
            CallbackKind::After if route.others.is_empty() => {
                Dispatched::answered(Replied::Reply(Answer::default()), Outcome::Ok)
            }
            CallbackKind::After => self.run_all(route, callback, app, calls).await,
            CallbackKind::Before | CallbackKind::ReplyBearing => {
                self.decide(route, callback, app, calls).await
            }
        }
    }

    /// A callback queued handlers are owed: journaled before Chat hears OK, alongside the
    /// inline handlers of an after-callback, after the decision of a before-callback (which
    /// is stored with it). A journal that cannot take it makes the answer a 500.
    async fn journal(
        &self,
        deliveries: &Deliveries,
        route: &Route,
        callback: Callback,
        app: &str,
        calls: &Arc<HandlerCalls>,
    ) -> Dispatched {
        let journaled = if route.kind == CallbackKind::After {
            let (dispatched, journaled) = tokio::join!(
                self.run_inline(route, callback.clone(), app, calls),
                deliveries.append(&callback, None, &route.queued),
            );
            journaled.map(|()| dispatched)
        } else {
            let command = callback.command_cow();
            let dispatched = self.run_inline(route, callback.clone(), app, calls).await;
            let by = dispatched.decided.unwrap_or(DecidedBy::NoDecider);
            let decision = Decision::new(dispatched.replied.packet(&command), by);
            deliveries
                .append(&callback, Some(&decision), &route.queued)
                .await
                .map(|()| dispatched)
        };
        journaled.unwrap_or_else(|rejection| {
            Dispatched::answered(Replied::Refused(rejection), Outcome::Failed)
        })
    }

    /// An after-callback: every handler runs, concurrently, each under the deadline; Chat
    /// gets OK only when all of them succeeded, else 500 so the event is not taken as
    /// delivered. One handler's reply is passed on as it is.
    async fn run_all(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
        calls: &Arc<HandlerCalls>,
    ) -> Dispatched {
        let (last, firsts) = route.others.split_last().expect("a route has a handler");
        let mut running: Vec<JoinHandle<Result<Answer, Failure>>> =
            Vec::with_capacity(route.others.len());
        for (index, target) in firsts.iter().enumerate() {
            // A clone shares the body's bytes.
            let call = self.call(
                target,
                Role::Runs,
                index,
                route,
                callback.clone(),
                app,
                calls,
            );
            running.push(self.tasks.spawn(call));
        }
        let call = self.call(last, Role::Runs, firsts.len(), route, callback, app, calls);
        running.push(self.tasks.spawn(call));
        let single = running.len() == 1;
        let mut reply = None;
        let mut failures = Vec::new();
        for task in running {
            match task
                .await
                .unwrap_or_else(|error| Err(Failure::Panicked(panic_message(error))))
            {
                Ok(answered) => reply = single.then_some(answered),
                Err(failure) => failures.push(failure),
            }
        }
        match refusal_for(&failures) {
            None => Dispatched::answered(Replied::Reply(reply.unwrap_or_default()), Outcome::Ok),
            Some((rejection, outcome)) => {
                Dispatched::answered(Replied::Refused(rejection), outcome)
            }
        }
    }

    /// A before-callback (or a reply-bearing one): the decider's reply, or what replaces it
    /// when it fails, is Chat's answer as soon as it is made; observers get the decision.
    async fn decide(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
        calls: &Arc<HandlerCalls>,
    ) -> Dispatched {
        let decision = (!route.others.is_empty()).then(|| watch::channel(None));
        let first_observer = usize::from(route.decider.is_some());
        if let Some((_, receiver)) = &decision {
            for (index, observer) in route.others.iter().enumerate() {
                let callback = callback.observing(receiver.clone());
                let index = first_observer + index;
                let call = self.call(observer, Role::Observes, index, route, callback, app, calls);
                // Not awaited: the tracker keeps shutdown waiting for it.
                self.tasks.spawn(call);
            }
        }
        let announce = decision.map(|(sender, _)| sender);
        let Some(decider) = &route.decider else {
            let command = callback.command();
            let dispatched = self.unrouted(command);
            if let Some(sender) = announce {
                let decision =
                    Decision::new(dispatched.replied.packet(command), DecidedBy::NoDecider);
                sender.send_replace(Some(decision));
            }
            return Dispatched {
                decided: Some(DecidedBy::NoDecider),
                ..dispatched
            };
        };
        // The decision is made on the decider's own task, so observers get it even when the
        // client has hung up.
        let command = callback.command_cow();
        let body = callback.body().clone();
        let call = self.call(decider, Role::Decides, 0, route, callback, app, calls);
        let (name, fallback, kind) = (decider.name, decider.fallback, route.kind);
        let deciding = self.tasks.spawn(async move {
            let (dispatched, by) = match call.await {
                Ok(reply) => (
                    Dispatched::answered(Replied::Reply(reply), Outcome::Ok),
                    DecidedBy::Handler(name),
                ),
                // Chat reads a reply-bearing command's data and has no decision to fall back
                // on: the failure is reported as an after-callback's is.
                Err(failure) if kind == CallbackKind::ReplyBearing => {
                    let (rejection, outcome) =
                        refusal_for(std::slice::from_ref(&failure)).expect("a failure is refused");
                    (
                        Dispatched::answered(Replied::Refused(rejection), outcome),
                        DecidedBy::Failed(name),
                    )
                }
                Err(_) => {
                    let deny = fallback == Fallback::Deny;
                    let reply = chathook_protocol::reply::fallback(&command, deny, &body);
                    let mut dispatched =
                        Dispatched::answered(Replied::Reply(reply), Outcome::Fallback);
                    dispatched.fallback = Some((name, fallback));
                    (dispatched, DecidedBy::Fallback(name))
                }
            };
            if let Some(sender) = announce {
                let decision = Decision::new(dispatched.replied.packet(&command), by);
                sender.send_replace(Some(decision));
            }
            Dispatched {
                decided: Some(by),
                ..dispatched
            }
        });
        deciding.await.unwrap_or_else(|_| {
            Dispatched::answered(Replied::Refused(Rejection::HandlerFailed), Outcome::Failed)
        })
    }

    /// One handler's call, to be spawned: under the deadline, a panic caught, its end noted in
    /// `calls` and told to the taps on the task itself, so none of it depends on the request
    /// still being there.
    #[allow(clippy::too_many_arguments)] // one call's facts, each from a different owner
    fn call(
        &self,
        target: &Target,
        role: Role,
        index: usize,
        route: &Route,
        callback: Callback,
        app: &str,
        calls: &Arc<HandlerCalls>,
    ) -> impl Future<Output = Result<Answer, Failure>> + Send + 'static {
        let calls = Arc::clone(calls);
        let taps = self.taps.clone();
        let (label, kind) = (route.label, route.kind);
        let span = tracing::info_span!(
            "callback",
            command = callback.command(),
            sdk_app_id = callback.sdk_app_id(),
            app,
            handler = target.name,
        );
        // An observer may wait for the decision, which the decider has the whole deadline
        // to make: it gets the deadline again on top, so it can act on a late decision too.
        let deadline = match role {
            Role::Observes | Role::Queued => self.handler_timeout * 2,
            Role::Decides | Role::Runs => self.handler_timeout,
        };
        let (fallback, destination) = (target.fallback, target.destination);
        let handler = Arc::clone(&target.handler);
        // Only a before-callback's decision has documented codes to hold it to.
        let decision_of =
            (role == Role::Decides && kind == CallbackKind::Before).then(|| callback.command_cow());
        let must_succeed =
            role == Role::Runs || (role == Role::Decides && kind == CallbackKind::ReplyBearing);
        async move {
            let started = Instant::now();
            let callback = callback
                .for_destination(destination)
                .with_deadline(started + deadline);
            let handling = std::panic::AssertUnwindSafe(handler.handle(callback)).catch_unwind();
            let mut result = match tokio::time::timeout(deadline, handling).await {
                Ok(Ok(Ok(reply))) => Ok(reply),
                Ok(Ok(Err(error))) => Err(Failure::Error(error)),
                Ok(Err(panic)) => Err(Failure::Panicked(panic_text(panic.as_ref()))),
                Err(_elapsed) => Err(Failure::TimedOut(deadline)),
            };
            if let Some(command) = decision_of {
                result = result.and_then(|reply| check_decision(&command, reply));
            }
            let end = HandlerEnd {
                result: result
                    .as_ref()
                    .map_or_else(Failure::result, |_| HandlerResult::Ok),
                took: started.elapsed(),
                error: result.as_ref().err().map(ToString::to_string),
            };
            let effect = result.as_ref().err().map(|failure| match role {
                _ if must_succeed && failure.is_invalid_body() => Effect::Refused,
                _ if must_succeed => Effect::Failed,
                Role::Decides | Role::Runs => Effect::FellBack(fallback),
                Role::Observes | Role::Queued => Effect::Ignored,
            });
            calls.end(index, end);
            taps.handler_finished(&HandlerFinished {
                calls: &calls,
                index,
                label,
                effect,
            });
            result
        }
        .instrument(span)
    }
}

/// Each handler of `route` with its part, decider first.
fn calls_of(route: &Route) -> impl Iterator<Item = (&'static str, Role)> + '_ {
    let others = match route.kind {
        CallbackKind::After => Role::Runs,
        CallbackKind::Before | CallbackKind::ReplyBearing => Role::Observes,
    };
    let decider = route
        .decider
        .iter()
        .map(|target| (target.name, Role::Decides));
    decider.chain(route.others.iter().map(move |target| (target.name, others)))
}

/// The answer to handlers that had to succeed, from how they failed: any failure makes it
/// 500 (timed out when lateness was the only one); a body only refused as unusable is 400.
fn refusal_for(failures: &[Failure]) -> Option<(Rejection, Outcome)> {
    let mut invalid_body = None;
    let mut failed = false;
    for failure in failures {
        match failure {
            Failure::Error(HandlerError::InvalidBody(message)) => {
                invalid_body.get_or_insert(message);
            }
            Failure::TimedOut(_) => {}
            _ => failed = true,
        }
    }
    if failed {
        Some((Rejection::HandlerFailed, Outcome::Failed))
    } else if failures.iter().any(|f| matches!(f, Failure::TimedOut(_))) {
        Some((Rejection::HandlerTimedOut, Outcome::TimedOut))
    } else {
        let message = invalid_body?;
        // A wrong body is the caller's to fix, so it is a refusal it is told of.
        Some((Rejection::InvalidBody(message.clone()), Outcome::Rejected))
    }
}

/// How a handler's call failed.
enum Failure {
    Error(HandlerError),
    Panicked(String),
    TimedOut(Duration),
    /// A before-callback decided with an `ErrorCode` its command does not document: Chat
    /// would read it in some way nobody intended.
    UndocumentedCode(String),
}

impl Failure {
    fn result(&self) -> HandlerResult {
        match self {
            Self::Error(HandlerError::InvalidBody(_)) => HandlerResult::InvalidBody,
            Self::Error(
                HandlerError::Internal(_) | HandlerError::Permanent(_) | HandlerError::Retry { .. },
            ) => HandlerResult::Failed,
            Self::Panicked(_) => HandlerResult::Panicked,
            Self::TimedOut(_) => HandlerResult::TimedOut,
            Self::UndocumentedCode(_) => HandlerResult::UndocumentedCode,
        }
    }

    fn is_invalid_body(&self) -> bool {
        matches!(self, Self::Error(HandlerError::InvalidBody(_)))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(error) => write!(f, "failed: {error}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::TimedOut(limit) => write!(f, "timed out after {} ms", limit.as_millis()),
            Self::UndocumentedCode(problem) => write!(f, "answered with {problem}"),
        }
    }
}

/// Refuses a before-callback decision the command's documentation does not allow, as
/// `chathook-protocol`'s own reply builders do: its code, and for a friend request each
/// target's code (a top-level refusal there is one Chat ignores).
fn check_decision(command: &str, reply: Answer) -> Result<Answer, Failure> {
    match reply.check(command) {
        // A command the table lacks has no documented codes to hold it to.
        Ok(()) | Err(ReplyError::UnknownCommand(_)) => Ok(reply),
        Err(error) => Err(Failure::UndocumentedCode(error.to_string())),
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Why a handler task ended without a result: handler panics are caught on the task, so
/// this is a task cancelled as the runtime shuts down.
fn panic_message(error: tokio::task::JoinError) -> String {
    if error.is_panic() {
        panic_text(error.into_panic().as_ref())
    } else {
        ErrorChain(&error).to_string()
    }
}
