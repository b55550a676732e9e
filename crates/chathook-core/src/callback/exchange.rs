//! One callback's story as one value: who sent it, what it was, how it ended and what each
//! handler did. The pipeline builds it once per request; the taps read it, and the reply to
//! Chat is made from it, once.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::auth::CallbackQuery;
use crate::config::Fallback;
use crate::protocol::Answer;
use crate::registry::Role;
use crate::rejection::Rejection;

/// How a callback ended: the `outcome` label of `chathook_callbacks_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// Every handler succeeded (an after-callback) or the decider decided (a before-callback).
    Ok,
    /// The decider failed or was late: the configured fallback answered.
    Fallback,
    /// A handler of an after-callback failed: answered 500.
    Failed,
    /// A handler of an after-callback was late, and none failed otherwise: answered 500.
    TimedOut,
    /// Refused before or instead of the handlers (`chathook_rejections_total` says why).
    Rejected,
    /// No handler decides it: answered as `dispatch.unrouted` says.
    Unrouted,
}

impl Outcome {
    /// Every outcome, for dashboards that want each series from the start.
    pub const ALL: [Self; 6] = [
        Self::Ok,
        Self::Fallback,
        Self::Failed,
        Self::TimedOut,
        Self::Rejected,
        Self::Unrouted,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Fallback => "fallback",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Rejected => "rejected",
            Self::Unrouted => "unrouted",
        }
    }
}

/// How one handler's call ended: the `result` label of `chathook_handler_results_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum HandlerResult {
    /// It answered.
    Ok,
    /// It found the body unusable.
    InvalidBody,
    /// It returned an error.
    Failed,
    /// It panicked.
    Panicked,
    /// It was still running at the deadline and was stopped.
    TimedOut,
    /// It decided a before-callback with an `ErrorCode` the command does not document.
    UndocumentedCode,
}

impl HandlerResult {
    /// Every result, for the series that start at 0.
    pub const ALL: [Self; 6] = [
        Self::Ok,
        Self::InvalidBody,
        Self::Failed,
        Self::Panicked,
        Self::TimedOut,
        Self::UndocumentedCode,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidBody => "invalid_body",
            Self::Failed => "failed",
            Self::Panicked => "panicked",
            Self::TimedOut => "timed_out",
            Self::UndocumentedCode => "undocumented_code",
        }
    }
}

/// What Chat got: a reply packet with status 200, or a refusal (or a handler failure's 500)
/// from the rejection table.
#[derive(Clone, Debug)]
pub enum Replied {
    /// A reply packet with HTTP 200.
    Reply(Answer),
    /// A refusal or failure, answered with its own status and FAIL packet.
    Refused(Rejection),
}

/// One handler's part in a callback. Its end is noted by the handler's own task, which for an
/// observer of a before-callback may be after Chat was answered.
#[derive(Debug)]
pub struct HandlerCall {
    name: &'static str,
    role: Role,
    ended: OnceLock<HandlerEnd>,
}

/// How a handler's call ended.
#[derive(Clone, Debug)]
pub struct HandlerEnd {
    /// Its result.
    pub result: HandlerResult,
    /// How long it took.
    pub took: Duration,
    /// The failure in words, as logged (a tap that shows it elsewhere redacts what it must);
    /// `None` when it answered.
    pub error: Option<String>,
}

impl HandlerCall {
    /// The handler's registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its part: runs (an after-callback), decides or observes.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How it ended, once it has.
    pub fn end(&self) -> Option<&HandlerEnd> {
        self.ended.get()
    }
}

/// Every handler's call of one callback, decider first. Shared between the handlers' tasks,
/// which note their ends, and whoever keeps the exchange (the console does): its address
/// identifies the callback until the last call ends.
#[derive(Debug)]
pub struct HandlerCalls {
    calls: Box<[HandlerCall]>,
}

impl HandlerCalls {
    /// Calls of these handlers, none ended yet, decider first.
    pub fn new(calls: impl IntoIterator<Item = (&'static str, Role)>) -> Arc<Self> {
        let calls = calls
            .into_iter()
            .map(|(name, role)| HandlerCall {
                name,
                role,
                ended: OnceLock::new(),
            })
            .collect();
        Arc::new(Self { calls })
    }

    /// Notes how call `index` ended; the first note wins.
    pub fn end(&self, index: usize, end: HandlerEnd) -> &HandlerCall {
        let call = &self.calls[index];
        let _ = call.ended.set(end);
        call
    }

    /// The calls, decider first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &HandlerCall> {
        self.calls.iter()
    }

    /// Whether every call has ended.
    pub fn all_ended(&self) -> bool {
        self.calls.iter().all(|call| call.ended.get().is_some())
    }
}

/// One callback request, start to finish, as the taps see it once it is answered. Fields are
/// what the checks learnt before they passed or refused it: a refused request has only those
/// its checks got to.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exchange<'a> {
    /// When the request arrived.
    pub arrived: SystemTime,
    /// `SdkAppid`, once it parsed.
    pub sdk_app_id: Option<u64>,
    /// The configured app's name, once `SdkAppid` named one.
    pub app: Option<&'a Arc<str>>,
    /// The query string's facts, once it parsed.
    pub query: Option<&'a CallbackQuery<'a>>,
    /// `CallbackCommand`, once the query was signed.
    pub command: Option<&'a str>,
    /// The command's metrics label: its routed or documented name, else `other`.
    pub label: Option<&'static str>,
    /// The body, once read.
    pub body: Option<&'a Bytes>,
    /// The handlers serving it, comma-separated, when it was routed.
    pub handler_names: Option<&'a str>,
    /// Each handler's call, when it was routed.
    pub handlers: Option<&'a Arc<HandlerCalls>>,
    /// The decider that failed and the fallback that answered for it.
    pub fallback: Option<(&'static str, Fallback)>,
    /// How it ended.
    pub outcome: Outcome,
    /// What Chat was answered.
    pub replied: &'a Replied,
    /// From arrival to the answer.
    pub latency: Duration,
}

impl Exchange<'_> {
    /// The HTTP status Chat got.
    pub fn status(&self) -> StatusCode {
        match self.replied {
            Replied::Reply(_) => StatusCode::OK,
            Replied::Refused(rejection) => rejection.status(),
        }
    }

    /// The refusal, when it was refused (or failed).
    pub fn rejection(&self) -> Option<&Rejection> {
        match self.replied {
            Replied::Refused(rejection) => Some(rejection),
            Replied::Reply(_) => None,
        }
    }
}

impl Replied {
    /// The packet Chat gets for `command`, whatever the status: what observers of a
    /// before-callback are told was decided.
    pub(crate) fn packet(&self, command: &str) -> Answer {
        let reply = match self {
            Replied::Reply(reply) => reply.clone(),
            Replied::Refused(rejection) => rejection.reply(),
        };
        reply.completed_for(command)
    }

    /// The HTTP response, the reply completed for `command` (the fields its reply must always
    /// carry) when the command is known.
    pub(crate) fn into_response(self, command: Option<&str>) -> Response {
        match (self, command) {
            (Replied::Reply(reply), Some(command)) => {
                (StatusCode::OK, axum::Json(reply.completed_for(command))).into_response()
            }
            (Replied::Reply(reply), None) => (StatusCode::OK, axum::Json(reply)).into_response(),
            (Replied::Refused(rejection), Some(command)) => rejection.response_for(command),
            (Replied::Refused(rejection), None) => rejection.into_response(),
        }
    }
}

/// `took` in milliseconds, to the microsecond: the unit of every latency chathook reports.
pub fn whole_micros_as_ms(took: Duration) -> f64 {
    took.as_micros() as f64 / 1000.0
}
