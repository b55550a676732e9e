//! Taps: what watches the callback path without being on it. The pipeline tells every tap
//! when a handler's call ends and when a callback is answered, with the [`Exchange`] that
//! tells the whole story; the log lines and the metrics are taps, and so is whatever an
//! extension adds (the console keeps recent callbacks this way).
//!
//! A tap runs on the request's task (or a handler's), before the answer is sent: it must not
//! block or wait on anything, only note and count. Nothing it does changes the answer.

use std::sync::Arc;

use crate::callback::{Effect, Exchange, HandlerCalls, Outcome};
use crate::http::LogBudget;
use crate::metrics::Metrics;
use crate::rejection::Rejection;

/// One handler call that has just ended, as a tap sees it. It is reported on the handler's
/// own task, inside its `callback` span.
#[derive(Debug)]
#[non_exhaustive]
pub struct HandlerFinished<'a> {
    /// Every call of this callback, this one's end already noted in it.
    pub calls: &'a Arc<HandlerCalls>,
    /// Which of `calls` ended.
    pub index: usize,
    /// The command's metrics label.
    pub label: &'static str,
    /// What the call's failure means for Chat's answer, `None` when it answered.
    pub effect: Option<Effect>,
}

impl HandlerFinished<'_> {
    /// The call that ended.
    pub fn call(&self) -> &crate::callback::HandlerCall {
        self.calls
            .iter()
            .nth(self.index)
            .expect("the index of a call")
    }
}

/// Something that watches callbacks go by. Every method has a default that ignores the event.
pub trait Tap: Send + Sync + 'static {
    /// A handler's call ended. For an observer of a before-callback this may be after the
    /// callback was answered.
    fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        let _ = finished;
    }

    /// A callback request was answered (or refused); called once per request on the callback
    /// path, just before the reply is sent.
    fn answered(&self, exchange: &Exchange<'_>) {
        let _ = exchange;
    }

    /// A request outside the callback path was refused (an unknown path, a wrong method).
    fn refused(&self, rejection: &Rejection) {
        let _ = rejection;
    }
}

/// Every tap of a service, called in order: the log, the metrics, then extensions' taps.
#[derive(Clone)]
pub(crate) struct Taps(Arc<[Arc<dyn Tap>]>);

impl Taps {
    pub(crate) fn new(taps: Vec<Arc<dyn Tap>>) -> Self {
        Self(taps.into())
    }

    pub(crate) fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        for tap in self.0.iter() {
            tap.handler_finished(finished);
        }
    }

    pub(crate) fn answered(&self, exchange: &Exchange<'_>) {
        for tap in self.0.iter() {
            tap.answered(exchange);
        }
    }

    pub(crate) fn refused(&self, rejection: &Rejection) {
        for tap in self.0.iter() {
            tap.refused(rejection);
        }
    }
}

/// The metrics every callback moves: its outcome per command, its refusal's reason, each
/// handler's result and latency, each fallback.
pub(crate) struct MetricsTap(pub(crate) Arc<Metrics>);

impl Tap for MetricsTap {
    fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        let call = finished.call();
        if let Some(end) = call.end() {
            self.0
                .handler_result(call.name(), finished.label, end.result, end.took);
        }
    }

    fn answered(&self, exchange: &Exchange<'_>) {
        if let Some((handler, decision)) = exchange.fallback
            && let Some(label) = exchange.label
        {
            self.0.fallback(handler, label, decision);
        }
        if exchange.outcome == Outcome::Rejected
            && let Some(rejection) = exchange.rejection()
        {
            self.0.rejection(rejection.reason());
        }
        if let Some(label) = exchange.label {
            self.0.callback(label, exchange.outcome);
        }
    }

    fn refused(&self, rejection: &Rejection) {
        self.0.rejection(rejection.reason());
    }
}

/// The log lines: a refusal (within `log.rejections_per_second`), a handler's failure, and
/// with `log.callbacks` one line per answered callback.
pub(crate) struct LogTap {
    pub(crate) budget: Arc<LogBudget>,
    /// `log.callbacks`.
    pub(crate) every_callback: bool,
}

impl Tap for LogTap {
    fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        let (Some(effect), Some(failure)) = (
            finished.effect,
            finished.call().end().and_then(|end| end.error.as_deref()),
        ) else {
            return;
        };
        match effect {
            // The request's own refusal says so, in the caller's words.
            Effect::Refused => {}
            // Within the budget too: a database that is down fails every callback.
            Effect::Failed if !self.budget.allow() => {}
            Effect::Failed => tracing::error!(
                "handler {failure}; answered 500 so the event is not taken as delivered"
            ),
            Effect::FellBack(fallback) => tracing::warn!(
                fallback = fallback.as_str(),
                "handler {failure}; answered with the fallback"
            ),
            Effect::Ignored => {
                tracing::warn!("observing handler {failure}; Chat's answer is unaffected")
            }
        }
    }

    fn answered(&self, exchange: &Exchange<'_>) {
        let app = exchange.app.map(|app| &**app);
        let latency_ms = crate::callback::whole_micros_as_ms(exchange.latency);
        match exchange.rejection() {
            Some(rejection) if exchange.outcome == Outcome::Rejected => {
                // Within the budget: a flood of bad requests fills the metrics, not the disk.
                if !self.budget.allow() {
                    return;
                }
                tracing::warn!(
                    command = exchange.command,
                    sdk_app_id = exchange.sdk_app_id,
                    app,
                    reason = rejection.reason(),
                    status = rejection.status().as_u16(),
                    latency_ms,
                    "callback rejected: {rejection}"
                );
            }
            _ if self.every_callback => tracing::info!(
                command = exchange.command,
                sdk_app_id = exchange.sdk_app_id,
                app,
                handler = exchange.handler_names,
                outcome = exchange.outcome.as_str(),
                status = exchange.status().as_u16(),
                latency_ms,
                "callback answered"
            ),
            _ => {}
        }
    }

    fn refused(&self, rejection: &Rejection) {
        if self.budget.allow() {
            tracing::warn!(
                reason = rejection.reason(),
                status = rejection.status().as_u16(),
                "request rejected: {rejection}"
            );
        }
    }
}
