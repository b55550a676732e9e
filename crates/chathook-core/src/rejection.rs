//! Every reason chathook refuses a callback, with its HTTP status, `ErrorCode` and wording.
//!
//! One enum so that the reply, the log line and the `chathook_rejections_total{reason}` metric
//! can never disagree about why a request was turned away.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::protocol::Reply;

/// Why a request was refused before (or instead of) reaching a handler.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `SdkAppid` query parameter.
    #[error("SdkAppid query parameter is missing")]
    SdkAppIdMissing,
    /// `SdkAppid` is not an unsigned integer.
    #[error("SdkAppid {0:?} is not a number")]
    SdkAppIdInvalid(String),
    /// A parameter that decides routing or auth appears twice, so which one counts is ambiguous.
    #[error("query parameter {0} is given more than once")]
    DuplicateParameter(&'static str),
    /// `SdkAppid` names no configured app.
    #[error("SdkAppid {0} is not a configured app")]
    UnknownApp(u64),
    /// The app has tokens but the request carries no `Sign`.
    #[error("Sign query parameter is missing (callback authentication is required for this app)")]
    SignMissing,
    /// The app has tokens but the request carries no `RequestTime`.
    #[error(
        "RequestTime query parameter is missing (callback authentication is required for this app)"
    )]
    RequestTimeMissing,
    /// `RequestTime` is not Unix seconds.
    #[error("RequestTime {0:?} is not a Unix time in seconds")]
    RequestTimeInvalid(String),
    /// `RequestTime` is too far from this server's clock.
    #[error(
        "RequestTime is {skew_secs} s from server time, more than the allowed {max_skew_secs} s"
    )]
    RequestTimeSkewed {
        /// `RequestTime - now`: negative when the request is older than now.
        skew_secs: i64,
        /// `auth.max_clock_skew_secs`.
        max_skew_secs: u64,
    },
    /// `Sign` matches none of the app's tokens.
    #[error("Sign does not match any token of this app")]
    SignMismatch,
    /// No `CallbackCommand` query parameter.
    #[error("CallbackCommand query parameter is missing")]
    CommandMissing,
    /// The body is larger than `server.body_limit_bytes`.
    #[error("body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// `server.body_limit_bytes`.
        limit: usize,
    },
    /// The connection failed while the body was being read.
    #[error("body could not be read")]
    BodyUnreadable,
    /// The body is not valid JSON.
    #[error("body is not valid JSON: {0}")]
    BodyNotJson(String),
    /// The body is JSON but not an object.
    #[error("body is JSON but not an object")]
    BodyNotObject,
    /// The body's `CallbackCommand` differs from the query's.
    #[error("body CallbackCommand {body:?} differs from query CallbackCommand {query:?}")]
    CommandMismatch {
        /// The query's `CallbackCommand`.
        query: String,
        /// The body's `CallbackCommand`.
        body: String,
    },
    /// A handler found the body unusable (a field missing or of the wrong type).
    #[error("{0}")]
    InvalidBody(String),
    /// No enabled handler serves the command and `dispatch.unrouted = "reject"`.
    #[error("no enabled handler serves CallbackCommand {0:?}")]
    Unrouted(String),
    /// The callback endpoint only takes POST.
    #[error("method {0} is not allowed; callbacks are POSTed")]
    MethodNotAllowed(String),
    /// No route at this path.
    #[error("no route for {0}")]
    NotFound(String),
}

impl Rejection {
    /// Stable snake_case label for logs and the `reason` metric label.
    pub fn reason(&self) -> &'static str {
        self.parts().0
    }

    /// HTTP status of the reply.
    pub fn status(&self) -> StatusCode {
        self.parts().1
    }

    /// `ErrorCode` of the reply: the HTTP status times 100 plus a per-reason number.
    pub fn error_code(&self) -> i64 {
        self.parts().2
    }

    fn parts(&self) -> (&'static str, StatusCode, i64) {
        use StatusCode as S;
        match self {
            Self::SdkAppIdMissing => ("sdk_app_id_missing", S::BAD_REQUEST, 40001),
            Self::SdkAppIdInvalid(_) => ("sdk_app_id_invalid", S::BAD_REQUEST, 40002),
            Self::DuplicateParameter(_) => ("duplicate_parameter", S::BAD_REQUEST, 40003),
            Self::CommandMissing => ("command_missing", S::BAD_REQUEST, 40004),
            Self::BodyNotJson(_) => ("body_not_json", S::BAD_REQUEST, 40005),
            Self::BodyNotObject => ("body_not_object", S::BAD_REQUEST, 40006),
            Self::CommandMismatch { .. } => ("command_mismatch", S::BAD_REQUEST, 40007),
            Self::InvalidBody(_) => ("invalid_body", S::BAD_REQUEST, 40008),
            Self::BodyUnreadable => ("body_unreadable", S::BAD_REQUEST, 40009),
            Self::SignMissing => ("sign_missing", S::UNAUTHORIZED, 40101),
            Self::RequestTimeMissing => ("request_time_missing", S::UNAUTHORIZED, 40102),
            Self::RequestTimeInvalid(_) => ("request_time_invalid", S::UNAUTHORIZED, 40103),
            Self::RequestTimeSkewed { .. } => ("request_time_skewed", S::UNAUTHORIZED, 40104),
            Self::SignMismatch => ("sign_mismatch", S::UNAUTHORIZED, 40105),
            Self::UnknownApp(_) => ("unknown_app", S::FORBIDDEN, 40301),
            Self::NotFound(_) => ("not_found", S::NOT_FOUND, 40401),
            Self::MethodNotAllowed(_) => ("method_not_allowed", S::METHOD_NOT_ALLOWED, 40501),
            Self::BodyTooLarge { .. } => ("body_too_large", S::PAYLOAD_TOO_LARGE, 41301),
            Self::Unrouted(_) => ("unrouted", S::NOT_IMPLEMENTED, 50101),
        }
    }

    /// The `FAIL` packet for this rejection.
    pub fn reply(&self) -> Reply {
        Reply::fail(self.error_code(), self.to_string())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.reply())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_and_follow_the_status() {
        let all = [
            Rejection::SdkAppIdMissing,
            Rejection::SdkAppIdInvalid(String::new()),
            Rejection::DuplicateParameter("Sign"),
            Rejection::CommandMissing,
            Rejection::BodyNotJson(String::new()),
            Rejection::BodyNotObject,
            Rejection::CommandMismatch {
                query: String::new(),
                body: String::new(),
            },
            Rejection::InvalidBody(String::new()),
            Rejection::BodyUnreadable,
            Rejection::SignMissing,
            Rejection::RequestTimeMissing,
            Rejection::RequestTimeInvalid(String::new()),
            Rejection::RequestTimeSkewed {
                skew_secs: 0,
                max_skew_secs: 0,
            },
            Rejection::SignMismatch,
            Rejection::UnknownApp(0),
            Rejection::NotFound(String::new()),
            Rejection::MethodNotAllowed(String::new()),
            Rejection::BodyTooLarge { limit: 0 },
            Rejection::Unrouted(String::new()),
        ];
        let mut codes: Vec<_> = all.iter().map(Rejection::error_code).collect();
        let mut reasons: Vec<_> = all.iter().map(Rejection::reason).collect();
        for rejection in &all {
            assert_eq!(
                rejection.error_code() / 100,
                i64::from(rejection.status().as_u16())
            );
        }
        codes.sort_unstable();
        codes.dedup();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(reasons.len(), all.len());
    }
}
