//! What a plugin implements ([`Handler`]) and what it is given and gives back ([`Callback`],
//! [`Decision`], [`HandlerError`]). How it announces itself with
//! [`register_handler!`](crate::register_handler!) is in `handler/registration.rs`, and how its
//! `[handlers.<name>]` table becomes its config type in `handler/settings.rs`; both are
//! re-exported here, so `chathook_core::handler::*` names the whole plugin interface.

pub(crate) mod macro_support;
mod registration;
mod settings;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use axum::Router;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::error::BoxError;
use crate::protocol::{Answer, CallbackKind};

pub use registration::{Commands, Destination, HandlerRegistration, linked_handlers};
pub use settings::{HandlerSettings, NoSettings, Validate};

pub(crate) use settings::parse_table;

/// The answer Chat got for a before-callback, as the handlers observing it see it.
#[derive(Clone, Debug)]
pub struct Decision {
    reply: Answer,
    by: DecidedBy,
}

/// Who made a [`Decision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// This handler's reply.
    Handler(&'static str),
    /// This handler failed or was late, so the configured fallback answered.
    Fallback(&'static str),
    /// This handler of a reply-bearing callback failed or was late: Chat got a 500, as for
    /// an after-callback (there is no fallback for data Chat reads from the reply).
    Failed(&'static str),
    /// Only observers serve the command: it was answered as `dispatch.unrouted` says.
    NoDecider,
}

impl Decision {
    pub(crate) fn new(reply: Answer, by: DecidedBy) -> Self {
        Self { reply, by }
    }

    /// The reply packet Chat got.
    pub fn reply(&self) -> &Answer {
        &self.reply
    }

    /// Who decided.
    pub fn decided_by(&self) -> DecidedBy {
        self.by
    }
}

/// A callback handler: serves the commands it registered for, and optionally a read API.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one authenticated callback. Runs under `dispatch.handler_timeout_ms`; for an
    /// after-callback, `Ok` means the event is safely taken care of, since Chat will not send
    /// it again. A handler that observes a before-callback another handler decides has its
    /// reply ignored; [`Callback::decision`] tells it what was decided.
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError>;

    /// Whether the handler's dependencies (database, broker, ...) answer; `/readyz` asks.
    async fn ready(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Routes of the handler's read API, mounted under `/api/v1` behind the `[api]` bearer
    /// token. Paths are relative: `/things/{id}` is served at `/api/v1/things/{id}`.
    fn api_routes(&self) -> Option<Router> {
        None
    }

    /// Registers the handler's own metrics, once, at start-up; they are served on `/metrics`
    /// with the platform's, under the `chathook_` prefix the registry adds.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }

    /// What `/readyz` shows of the handler's state beyond ready or not (a queue's depth, a
    /// connection's state), as JSON.
    fn status(&self) -> Option<Value> {
        None
    }
}

/// One authenticated callback, as a handler receives it.
#[derive(Clone, Debug)]
pub struct Callback {
    sdk_app_id: u64,
    command: Cow<'static, str>,
    kind: CallbackKind,
    client_ip: Option<String>,
    opt_platform: Option<String>,
    request_time: Option<String>,
    received_at: SystemTime,
    deadline: Option<Instant>,
    body: Bytes,
    /// For a handler observing a before-callback: where the decision arrives once made.
    decision: Option<watch::Receiver<Option<Decision>>>,
    /// For a queued handler: which attempt of which journaled delivery this is.
    attempt: Option<Arc<DeliveryAttempt>>,
    /// For a handler with destinations: the one this call is for.
    destination: Option<&'static str>,
}

/// What a queued handler is told of the delivery it is called for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub(crate) number: u32,
    pub(crate) idempotency_key: String,
    pub(crate) delivery_id: i64,
}

impl DeliveryAttempt {
    /// 1 for the first attempt, 2 for the first retry, and so on over the delivery's life.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The same for every attempt of this callback and for a redelivery of the same body by
    /// Chat: what a handler's downstream deduplicates on (an `Idempotency-Key` header, a
    /// unique column), so that a retry after a lost reply does not act twice.
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }

    /// The journal's id of the delivery, as `chathook deliveries show` takes it.
    pub fn delivery_id(&self) -> i64 {
        self.delivery_id
    }
}

impl Callback {
    /// A callback for `command` from app `sdk_app_id` with a JSON `body`, e.g. in unit tests.
    pub fn new(
        sdk_app_id: u64,
        command: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        let command = command.into();
        Self {
            sdk_app_id,
            kind: crate::protocol::kind_of(&command),
            command,
            client_ip: None,
            opt_platform: None,
            request_time: None,
            received_at: SystemTime::now(),
            deadline: None,
            body: body.into(),
            decision: None,
            attempt: None,
            destination: None,
        }
    }

    /// The same callback for one destination of a handler that has them.
    pub(crate) fn for_destination(mut self, destination: Option<&'static str>) -> Self {
        self.destination = destination;
        self
    }

    /// For a handler registered with destinations (an endpoint of a forwarder): the name of
    /// the one this call is for, as [`Destination::name`] gave it; `None` for other handlers.
    pub fn destination(&self) -> Option<&str> {
        self.destination
    }

    /// The same callback as a queued handler's attempt gets it.
    pub(crate) fn attempting(mut self, attempt: DeliveryAttempt) -> Self {
        self.attempt = Some(Arc::new(attempt));
        self
    }

    /// The same callback carrying a decision already made (a journaled before-callback).
    pub(crate) fn decided(mut self, decision: Decision) -> Self {
        self.decision = Some(watch::channel(Some(decision)).1);
        self
    }

    /// For a queued handler: which attempt this is, with the idempotency key; `None` for an
    /// inline call, which has one attempt only.
    pub fn delivery(&self) -> Option<&DeliveryAttempt> {
        self.attempt.as_deref()
    }

    /// Sets `RequestTime` as Chat sent it, and when chathook received the request.
    pub fn with_arrival(mut self, request_time: Option<String>, received_at: SystemTime) -> Self {
        self.request_time = request_time;
        self.received_at = received_at;
        self
    }

    /// The command as the callback holds it: borrowed from the routing table when it is
    /// documented, so a copy costs nothing.
    pub(crate) fn command_cow(&self) -> Cow<'static, str> {
        self.command.clone()
    }

    /// The same callback for a handler that observes while another decides.
    pub(crate) fn observing(&self, decision: watch::Receiver<Option<Decision>>) -> Self {
        Self {
            decision: Some(decision),
            ..self.clone()
        }
    }

    /// For a handler observing a before-callback that another handler decides: the decision
    /// Chat was answered with, once it is made. The decider has the handler deadline to make
    /// it, and an observer has the deadline again from then on, so it can act on even a late
    /// decision. `None` for the deciding handler itself and for after-callbacks.
    pub async fn decision(&self) -> Option<Decision> {
        let mut decision = self.decision.clone()?;
        let made = decision.wait_for(Option::is_some).await.ok()?;
        made.clone()
    }

    /// Sets `ClientIP` and `OptPlatform` as Chat sent them.
    pub fn with_client(mut self, client_ip: Option<String>, opt_platform: Option<String>) -> Self {
        self.client_ip = client_ip;
        self.opt_platform = opt_platform;
        self
    }

    /// The app's SDKAppID, already checked against the config.
    pub fn sdk_app_id(&self) -> u64 {
        self.sdk_app_id
    }

    /// `CallbackCommand`.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Before or after.
    pub fn kind(&self) -> CallbackKind {
        self.kind
    }

    /// `ClientIP`, when Chat sent it.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// `OptPlatform`, when Chat sent it.
    pub fn opt_platform(&self) -> Option<&str> {
        self.opt_platform.as_deref()
    }

    /// `RequestTime` (Unix seconds, as Chat wrote them), when Chat signed the callback.
    pub fn request_time(&self) -> Option<&str> {
        self.request_time.as_deref()
    }

    /// When chathook received the request: for a queued handler, its first arrival, the
    /// same for every attempt.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// When this handler's call will be cut off (`dispatch.handler_timeout_ms` after it
    /// started): a handler that has a slower fallback of its own (a spool, a second store)
    /// must leave it time before then.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The raw body: a JSON object, already checked for syntax.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The callback as `chathook-protocol`'s typed model of its command, in one call:
    /// `Request::GroupAfterNewMemberJoin(..)` and so on, with every quirk of Tencent's JSON
    /// already handled, or `Request::Unknown` for a command the table lacks. A body that does
    /// not fit is a 400 (or a before-callback's fallback) naming the field.
    pub fn request(&self) -> Result<chathook_protocol::Request, HandlerError> {
        chathook_protocol::Request::parse(&self.command, &self.body)
            .map_err(|error| HandlerError::InvalidBody(format!("invalid body: {error}")))
    }

    /// Deserializes the body into the handler's own typed model. A mismatch becomes a 400
    /// reply whose `ErrorInfo` gives the path of the offending field.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        // Tracking the path costs on every field; only a failed parse needs it, so a failure
        // is parsed again to say where.
        if let Ok(parsed) = serde_json::from_slice(&self.body) {
            return Ok(parsed);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            invalid_body(&path, &error.into_inner())
        })?;
        // What the first parse refused may be only what follows the value (found by fuzzing).
        deserializer
            .end()
            .map_err(|error| invalid_body(".", &error))?;
        Ok(parsed)
    }
}

/// A parse failure at `path` (`.` for the whole body) as the caller is told of it.
fn invalid_body(path: &str, error: &serde_json::Error) -> HandlerError {
    // The path says where; serde_json's " at line 1 column 80" adds nothing to it.
    let message = error.to_string();
    let message = match message.rsplit_once(" at line ") {
        Some((message, _)) if error.line() > 0 => message.to_owned(),
        _ => message,
    };
    let place = if path == "." { "body" } else { path };
    HandlerError::InvalidBody(format!("invalid {place}: {message}"))
}

/// Why a handler could not handle a callback.
///
/// Any `std::error::Error` converts into [`HandlerError::Internal`] with `?`. Inline, every
/// variant but `InvalidBody` (a 400) is Chat's 500. Queued, `InvalidBody` and `Permanent`
/// make the delivery dead at once, `Internal` and `Retry` retry it by its backoff (`Retry`'s
/// delay, when it gives one, instead).
#[derive(Debug)]
pub enum HandlerError {
    /// The body is unusable; the text (shown to the caller) says which field and why.
    InvalidBody(String),
    /// Anything else; logged with its cause chain, never shown to the caller.
    Internal(BoxError),
    /// Trying again cannot help (the data is bad for this handler's downstream): a queued
    /// delivery is dead at once, for an operator to look at.
    Permanent(BoxError),
    /// Worth trying again (the downstream is down, rate limited); `after` overrides the
    /// backoff for the next attempt (a `Retry-After` the downstream gave).
    Retry {
        /// What failed.
        error: BoxError,
        /// When to try again, if the handler knows better than the backoff.
        after: Option<Duration>,
    },
}

impl HandlerError {
    /// An unusable body, with words the caller can act on.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::InvalidBody(message.into())
    }

    /// An internal failure.
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }

    /// A failure no retry can mend.
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        Self::Permanent(error.into())
    }

    /// A failure worth retrying by the handler's backoff.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        Self::Retry {
            error: error.into(),
            after: None,
        }
    }

    /// A failure worth retrying after `delay` (at most the backoff's maximum).
    pub fn retry_after(error: impl Into<BoxError>, delay: Duration) -> Self {
        Self::Retry {
            error: error.into(),
            after: Some(delay),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBody(message) => f.write_str(message),
            Self::Internal(error) | Self::Retry { error, .. } => {
                write!(f, "{}", ErrorChain(error.as_ref()))
            }
            Self::Permanent(error) => write!(f, "permanent: {}", ErrorChain(error.as_ref())),
        }
    }
}

/// Displays an error followed by each of its sources.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_gives_its_typed_model_in_one_call() {
        let command = crate::commands::GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN;
        let body = chathook_protocol::samples::request_sample(command).unwrap();
        let callback = Callback::new(1400000000, command, body);
        assert!(matches!(
            callback.request(),
            Ok(chathook_protocol::Request::GroupCallbackAfterNewMemberJoin(
                _
            ))
        ));
        let unknown = Callback::new(1, "Foo.CallbackAfterBar", r#"{"a":1}"#);
        assert!(matches!(
            unknown.request(),
            Ok(chathook_protocol::Request::Unknown { .. })
        ));
        let wrong = Callback::new(1, command, r#"{"GroupId":7}"#);
        let error = wrong.request().unwrap_err().to_string();
        assert!(error.contains("GroupId"), "{error}");
    }

    #[test]
    fn parse_refuses_what_follows_the_value() {
        // Found by fuzzing: the path-tracking second parse used to accept trailing bytes.
        let callback = Callback::new(1, "X.Y", r#"{"a":1} x"#);
        let error = callback.parse::<serde_json::Value>().unwrap_err();
        assert_eq!(error.to_string(), "invalid body: trailing characters");
        let error = Callback::new(1, "X.Y", r#"{"a":"x"}"#)
            .parse::<std::collections::HashMap<String, u8>>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid a: invalid type: string \"x\", expected u8"
        );
    }
}
