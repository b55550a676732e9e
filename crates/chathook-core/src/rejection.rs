//! Every error chathook answers over HTTP, with its status, `ErrorCode`, reason label and
//! wording: refused callbacks, failed handlers, the API's token check and the handlers' API
//! errors.
//!
//! One table so that the reply, the log line and the metrics can never disagree about why a
//! request was turned away. A callback gets the error as Chat's `FAIL` packet, the `/api/v1`
//! surface as `{"error": ..., "reason": ...}` through [`ApiError`].

use std::net::IpAddr;

use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::protocol::Reply;

/// Most characters of a caller's input repeated back in a reply or a log line: enough to
/// recognise a value, never enough to let a caller write megabytes into the log.
const ECHO_CHARS: usize = 64;

/// `text` as it may be echoed: whole if short, else its first 64 characters and
/// its size. Input that is not yet authenticated goes through here before any reply or log.
pub fn echo(text: &str) -> String {
    echo_at_most(text, ECHO_CHARS)
}

/// `text` whole if it has at most `max_chars` characters, else cut there with its size.
pub fn echo_at_most(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
    }
}

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
    /// The source address is not in `auth.allowed_sources`.
    #[error("source address {0} is not allowed to send callbacks")]
    SourceNotAllowed(IpAddr),
    /// `auth.replay_cache`: this `RequestTime` and `Sign` came before with another body.
    #[error("RequestTime and Sign were already used with a different body (a replayed signature)")]
    SignReplayed,
    /// The HTTP layer could not parse the request line or headers.
    #[error("malformed HTTP request")]
    MalformedRequest,
    /// The request line is longer than the HTTP layer accepts.
    #[error("request line is too long")]
    UriTooLong,
    /// The request line and headers are larger than `server.max_header_bytes`.
    #[error("request line and headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge {
        /// `server.max_header_bytes`.
        limit: usize,
    },
    /// The request line and headers did not arrive within `server.header_read_timeout_ms`.
    #[error("request headers did not arrive within {timeout_ms} ms")]
    HeaderTimeout {
        /// `server.header_read_timeout_ms`.
        timeout_ms: u64,
    },
    /// The body did not arrive within `server.body_read_timeout_ms`.
    #[error("body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// `server.body_read_timeout_ms`.
        timeout_ms: u64,
    },
    /// `server.max_connections` connections are open already.
    #[error("too many open connections (limit {limit}); retry later")]
    ConnectionLimit {
        /// `server.max_connections`.
        limit: usize,
    },
    /// A handler of an after-callback failed, so the event is not acknowledged. Which one is
    /// logged and counted, never told to the caller.
    #[error("handler failed")]
    HandlerFailed,
    /// A handler of an after-callback was still running at the deadline.
    #[error("handler timed out")]
    HandlerTimedOut,
    /// `/api/v1` without an `Authorization: Bearer` header.
    #[error("missing Authorization: Bearer <token> header")]
    ApiTokenMissing,
    /// `/api/v1` with a bearer token that is not one of `[api] tokens`.
    #[error("bearer token is not valid")]
    ApiTokenInvalid,
    /// A handler's API could not use the request; the text says what to change.
    #[error("{0}")]
    ApiBadRequest(String),
    /// A handler's API has nothing at this address.
    #[error("{0}")]
    ApiNotFound(String),
    /// A handler's API cannot answer now (its store is down); the text says which part.
    #[error("{0}")]
    ApiUnavailable(String),
}

impl Rejection {
    /// Every [`reason`](Self::reason), for the metric series that start at 0. A test fails
    /// when a variant is added without its reason here.
    pub const ALL_REASONS: [&'static str; 34] = [
        "sdk_app_id_missing",
        "sdk_app_id_invalid",
        "duplicate_parameter",
        "command_missing",
        "body_not_json",
        "body_not_object",
        "command_mismatch",
        "invalid_body",
        "body_unreadable",
        "sign_missing",
        "request_time_missing",
        "request_time_invalid",
        "request_time_skewed",
        "sign_mismatch",
        "unknown_app",
        "not_found",
        "method_not_allowed",
        "body_too_large",
        "unrouted",
        "source_not_allowed",
        "sign_replayed",
        "malformed_request",
        "uri_too_long",
        "headers_too_large",
        "header_timeout",
        "body_timeout",
        "connection_limit",
        "handler_failed",
        "handler_timed_out",
        "api_token_missing",
        "api_token_invalid",
        "api_bad_request",
        "api_not_found",
        "api_unavailable",
    ];

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
            Self::SourceNotAllowed(_) => ("source_not_allowed", S::FORBIDDEN, 40302),
            Self::SignReplayed => ("sign_replayed", S::UNAUTHORIZED, 40106),
            Self::MalformedRequest => ("malformed_request", S::BAD_REQUEST, 40010),
            Self::UriTooLong => ("uri_too_long", S::URI_TOO_LONG, 41401),
            Self::HeadersTooLarge { .. } => (
                "headers_too_large",
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                43101,
            ),
            Self::HeaderTimeout { .. } => ("header_timeout", S::REQUEST_TIMEOUT, 40801),
            Self::BodyTimeout { .. } => ("body_timeout", S::REQUEST_TIMEOUT, 40802),
            Self::ConnectionLimit { .. } => ("connection_limit", S::SERVICE_UNAVAILABLE, 50301),
            Self::HandlerFailed => ("handler_failed", S::INTERNAL_SERVER_ERROR, 50001),
            Self::HandlerTimedOut => ("handler_timed_out", S::INTERNAL_SERVER_ERROR, 50002),
            Self::ApiTokenMissing => ("api_token_missing", S::UNAUTHORIZED, 40107),
            Self::ApiTokenInvalid => ("api_token_invalid", S::UNAUTHORIZED, 40108),
            Self::ApiBadRequest(_) => ("api_bad_request", S::BAD_REQUEST, 40011),
            Self::ApiNotFound(_) => ("api_not_found", S::NOT_FOUND, 40402),
            Self::ApiUnavailable(_) => ("api_unavailable", S::SERVICE_UNAVAILABLE, 50302),
        }
    }

    /// Whether the connection must close after this reply: the request was not read to its
    /// end, so what follows on the connection is not the start of a request.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::BodyTooLarge { .. }
                | Self::BodyTimeout { .. }
                | Self::BodyUnreadable
                | Self::MalformedRequest
                | Self::UriTooLong
                | Self::HeadersTooLarge { .. }
                | Self::HeaderTimeout { .. }
                | Self::ConnectionLimit { .. }
        )
    }

    /// The whole HTTP/1.1 response, for the connection layer, which answers outside hyper.
    pub fn http_bytes(&self) -> Vec<u8> {
        let body = serde_json::to_vec(&self.reply()).expect("a reply serializes");
        let status = self.status();
        let mut bytes = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }

    /// The `FAIL` packet for this rejection.
    pub fn reply(&self) -> Reply {
        Reply::fail(self.error_code(), self.to_string())
    }

    /// The reply to a callback of `command`, with what that command's replies always carry
    /// (`RspData` for a reply-bearing one).
    pub fn response_for(self, command: &str) -> Response {
        let reply = self.reply().completed_for(command);
        self.response(reply)
    }

    fn response(self, reply: Reply) -> Response {
        let mut response = (self.status(), axum::Json(reply)).into_response();
        if self.closes_connection() {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let reply = self.reply();
        self.response(reply)
    }
}

/// An error of the `/api/v1` surface, handlers' APIs included: a [`Rejection`] in the API's
/// shape, `{"error": "<what was wrong>", "reason": "<label>"}`, counted by its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError(Rejection);

impl ApiError {
    /// 400: the request cannot be used; `message` says what to change.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(Rejection::ApiBadRequest(message.into()))
    }

    /// 404: nothing at this address; `message` says what was looked for.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self(Rejection::ApiNotFound(message.into()))
    }

    /// 503: a dependency is down; `message` says which, without internal detail.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self(Rejection::ApiUnavailable(message.into()))
    }

    pub(crate) fn from_rejection(rejection: Rejection) -> Self {
        Self(rejection)
    }

    /// The entry of the error table.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

/// Marks a response whose refusal reason is known, for the counting middleware.
#[derive(Clone, Copy, Debug)]
pub struct RefusalReason(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reason = self.0.reason();
        let body = serde_json::json!({ "error": self.0.to_string(), "reason": reason });
        let mut response = (self.0.status(), axum::Json(body)).into_response();
        response.extensions_mut().insert(RefusalReason(reason));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant, checked to be every variant by [`variant_index`].
    fn every_variant() -> Vec<Rejection> {
        vec![
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
            Rejection::SourceNotAllowed(IpAddr::from([127, 0, 0, 1])),
            Rejection::SignReplayed,
            Rejection::MalformedRequest,
            Rejection::UriTooLong,
            Rejection::HeadersTooLarge { limit: 0 },
            Rejection::HeaderTimeout { timeout_ms: 0 },
            Rejection::BodyTimeout { timeout_ms: 0 },
            Rejection::ConnectionLimit { limit: 0 },
            Rejection::HandlerFailed,
            Rejection::HandlerTimedOut,
            Rejection::ApiTokenMissing,
            Rejection::ApiTokenInvalid,
            Rejection::ApiBadRequest(String::new()),
            Rejection::ApiNotFound(String::new()),
            Rejection::ApiUnavailable(String::new()),
        ]
    }

    /// A number per variant. No wildcard arm, so adding a variant fails to compile here
    /// until it gets the next number; then `every_variant_has_its_reason_in_all_reasons` fails
    /// until `every_variant` has one and `Rejection::ALL_REASONS` its reason.
    fn variant_index(rejection: &Rejection) -> usize {
        use Rejection as R;
        match rejection {
            R::SdkAppIdMissing => 0,
            R::SdkAppIdInvalid(_) => 1,
            R::DuplicateParameter(_) => 2,
            R::UnknownApp(_) => 3,
            R::SignMissing => 4,
            R::RequestTimeMissing => 5,
            R::RequestTimeInvalid(_) => 6,
            R::RequestTimeSkewed { .. } => 7,
            R::SignMismatch => 8,
            R::CommandMissing => 9,
            R::BodyTooLarge { .. } => 10,
            R::BodyUnreadable => 11,
            R::BodyNotJson(_) => 12,
            R::BodyNotObject => 13,
            R::CommandMismatch { .. } => 14,
            R::InvalidBody(_) => 15,
            R::Unrouted(_) => 16,
            R::MethodNotAllowed(_) => 17,
            R::NotFound(_) => 18,
            R::SourceNotAllowed(_) => 19,
            R::SignReplayed => 20,
            R::MalformedRequest => 21,
            R::UriTooLong => 22,
            R::HeadersTooLarge { .. } => 23,
            R::HeaderTimeout { .. } => 24,
            R::BodyTimeout { .. } => 25,
            R::ConnectionLimit { .. } => 26,
            R::HandlerFailed => 27,
            R::HandlerTimedOut => 28,
            R::ApiTokenMissing => 29,
            R::ApiTokenInvalid => 30,
            R::ApiBadRequest(_) => 31,
            R::ApiNotFound(_) => 32,
            R::ApiUnavailable(_) => 33,
        }
    }

    #[test]
    fn every_variant_has_its_reason_in_all_reasons() {
        let all = every_variant();
        let mut indices: Vec<_> = all.iter().map(variant_index).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(
            indices,
            (0..Rejection::ALL_REASONS.len()).collect::<Vec<_>>(),
            "every_variant() and Rejection::ALL_REASONS must have one entry per variant"
        );
        assert_eq!(
            indices.len(),
            all.len(),
            "every_variant() repeats a variant"
        );
        let mut reasons: Vec<_> = all.iter().map(Rejection::reason).collect();
        let mut listed = Rejection::ALL_REASONS.to_vec();
        reasons.sort_unstable();
        listed.sort_unstable();
        assert_eq!(reasons, listed, "Rejection::ALL_REASONS is out of date");
    }

    #[test]
    fn error_codes_are_distinct_and_follow_the_status() {
        let all = every_variant();
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

#[cfg(test)]
mod echo_tests {
    use super::echo;

    #[test]
    fn long_input_is_cut_with_its_size() {
        assert_eq!(echo("1400000000"), "1400000000");
        let long = "9".repeat(1_000_000);
        let shown = echo(&long);
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("... (1000000 bytes)"), "{shown}");
        // Cut on a character boundary.
        assert!(echo(&"é".repeat(100)).starts_with(&"é".repeat(64)));
        // Every documented command name is shown whole.
        let longest = "OfficialAccount.CallbackBeforeCreateOfficialAccount";
        assert_eq!(echo(longest), longest);
    }
}
