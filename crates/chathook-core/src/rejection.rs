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

use crate::protocol::{Answer, Reply};

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

/// The rejection table, declared once: each variant with its message (its `Display`), its
/// `reason` label, its HTTP status and its `ErrorCode`. The enum, [`Rejection::ALL_REASONS`]
/// and every lookup come from this one list, so they cannot disagree.
macro_rules! rejections {
    ($(
        $(#[$meta:meta])*
        $variant:ident $(($($tuple:ty),* $(,)?))? $({ $($(#[$field_meta:meta])* $field:ident: $field_type:ty),* $(,)? })?
            => ($reason:literal, $status:ident, $code:literal),
    )+) => {
        /// Why a request was refused before (or instead of) reaching a handler, or why a
        /// handler's failure or an API request is answered with an error.
        #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
        pub enum Rejection {
            $(
                $(#[$meta])*
                $variant $(($($tuple),*))? $({ $($(#[$field_meta])* $field: $field_type),* })?,
            )+
        }

        impl Rejection {
            /// Every [`reason`](Self::reason), for the metric series that start at 0.
            pub const ALL_REASONS: [&'static str; [$($reason),+].len()] = [$($reason),+];

            /// Each variant's reason, status and `ErrorCode`, in declaration order.
            #[cfg(test)]
            const TABLE: [(&'static str, StatusCode, u32); [$($reason),+].len()] =
                [$(($reason, StatusCode::$status, $code)),+];

            fn parts(&self) -> (&'static str, StatusCode, u32) {
                match self {
                    $(Self::$variant { .. } => ($reason, StatusCode::$status, $code),)+
                }
            }
        }
    };
}

rejections! {
    /// No `SdkAppid` query parameter.
    #[error("SdkAppid query parameter is missing")]
    SdkAppIdMissing => ("sdk_app_id_missing", BAD_REQUEST, 40001),
    /// `SdkAppid` is not an unsigned integer.
    #[error("SdkAppid {0:?} is not a number")]
    SdkAppIdInvalid(String) => ("sdk_app_id_invalid", BAD_REQUEST, 40002),
    /// A parameter that decides routing or auth appears twice, so which one counts is ambiguous.
    #[error("query parameter {0} is given more than once")]
    DuplicateParameter(&'static str) => ("duplicate_parameter", BAD_REQUEST, 40003),
    /// `SdkAppid` names no configured app.
    #[error("SdkAppid {0} is not a configured app")]
    UnknownApp(u64) => ("unknown_app", FORBIDDEN, 40301),
    /// The app has tokens but the request carries no `Sign`.
    #[error("Sign query parameter is missing (callback authentication is required for this app)")]
    SignMissing => ("sign_missing", UNAUTHORIZED, 40101),
    /// The app has tokens but the request carries no `RequestTime`.
    #[error(
        "RequestTime query parameter is missing (callback authentication is required for this app)"
    )]
    RequestTimeMissing => ("request_time_missing", UNAUTHORIZED, 40102),
    /// `RequestTime` is not Unix seconds.
    #[error("RequestTime {0:?} is not a Unix time in seconds")]
    RequestTimeInvalid(String) => ("request_time_invalid", UNAUTHORIZED, 40103),
    /// `RequestTime` is too far from this server's clock.
    #[error(
        "RequestTime is {skew_secs} s from server time, more than the allowed {max_skew_secs} s"
    )]
    RequestTimeSkewed {
        /// `RequestTime - now`: negative when the request is older than now.
        skew_secs: i64,
        /// `auth.max_clock_skew_secs`.
        max_skew_secs: u64,
    } => ("request_time_skewed", UNAUTHORIZED, 40104),
    /// `Sign` matches none of the app's tokens.
    #[error("Sign does not match any token of this app")]
    SignMismatch => ("sign_mismatch", UNAUTHORIZED, 40105),
    /// No `CallbackCommand` query parameter.
    #[error("CallbackCommand query parameter is missing")]
    CommandMissing => ("command_missing", BAD_REQUEST, 40004),
    /// The body is larger than `server.body_limit_bytes`.
    #[error("body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// `server.body_limit_bytes`.
        limit: usize,
    } => ("body_too_large", PAYLOAD_TOO_LARGE, 41301),
    /// The connection failed while the body was being read.
    #[error("body could not be read")]
    BodyUnreadable => ("body_unreadable", BAD_REQUEST, 40009),
    /// The body is not valid JSON.
    #[error("body is not valid JSON: {0}")]
    BodyNotJson(String) => ("body_not_json", BAD_REQUEST, 40005),
    /// The body is JSON but not an object.
    #[error("body is JSON but not an object")]
    BodyNotObject => ("body_not_object", BAD_REQUEST, 40006),
    /// The body's `CallbackCommand` differs from the query's.
    #[error("body CallbackCommand {body:?} differs from query CallbackCommand {query:?}")]
    CommandMismatch {
        /// The query's `CallbackCommand`.
        query: String,
        /// The body's `CallbackCommand`.
        body: String,
    } => ("command_mismatch", BAD_REQUEST, 40007),
    /// A handler found the body unusable (a field missing or of the wrong type).
    #[error("{0}")]
    InvalidBody(String) => ("invalid_body", BAD_REQUEST, 40008),
    /// No enabled handler serves the command and `dispatch.unrouted = "reject"`.
    #[error("no enabled handler serves CallbackCommand {0:?}")]
    Unrouted(String) => ("unrouted", NOT_IMPLEMENTED, 50101),
    /// The callback endpoint only takes POST.
    #[error("method {0} is not allowed; callbacks are POSTed")]
    MethodNotAllowed(String) => ("method_not_allowed", METHOD_NOT_ALLOWED, 40501),
    /// No route at this path.
    #[error("no route for {0}")]
    NotFound(String) => ("not_found", NOT_FOUND, 40401),
    /// The source address is not in `auth.allowed_sources`.
    #[error("source address {0} is not allowed to send callbacks")]
    SourceNotAllowed(IpAddr) => ("source_not_allowed", FORBIDDEN, 40302),
    /// `auth.replay_cache`: this `RequestTime` and `Sign` came before with another body.
    #[error("RequestTime and Sign were already used with a different body (a replayed signature)")]
    SignReplayed => ("sign_replayed", UNAUTHORIZED, 40106),
    /// The HTTP layer could not parse the request line or headers.
    #[error("malformed HTTP request")]
    MalformedRequest => ("malformed_request", BAD_REQUEST, 40010),
    /// The request line is longer than the HTTP layer accepts.
    #[error("request line is too long")]
    UriTooLong => ("uri_too_long", URI_TOO_LONG, 41401),
    /// The request line and headers are larger than `server.max_header_bytes`.
    #[error("request line and headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge {
        /// `server.max_header_bytes`.
        limit: usize,
    } => ("headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE, 43101),
    /// The request line and headers did not arrive within `server.header_read_timeout_ms`.
    #[error("request headers did not arrive within {timeout_ms} ms")]
    HeaderTimeout {
        /// `server.header_read_timeout_ms`.
        timeout_ms: u64,
    } => ("header_timeout", REQUEST_TIMEOUT, 40801),
    /// The body did not arrive within `server.body_read_timeout_ms`.
    #[error("body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// `server.body_read_timeout_ms`.
        timeout_ms: u64,
    } => ("body_timeout", REQUEST_TIMEOUT, 40802),
    /// `server.max_connections` connections are open already.
    #[error("too many open connections (limit {limit}); retry later")]
    ConnectionLimit {
        /// `server.max_connections`.
        limit: usize,
    } => ("connection_limit", SERVICE_UNAVAILABLE, 50301),
    /// A handler of an after-callback failed, so the event is not acknowledged. Which one is
    /// logged and counted, never told to the caller.
    #[error("handler failed")]
    HandlerFailed => ("handler_failed", INTERNAL_SERVER_ERROR, 50001),
    /// A handler of an after-callback was still running at the deadline.
    #[error("handler timed out")]
    HandlerTimedOut => ("handler_timed_out", INTERNAL_SERVER_ERROR, 50002),
    /// A callback owed to queued handlers could not be committed to the journal (its bounds
    /// are reached, or it cannot write): not acknowledged, so nothing answered OK is lost.
    #[error("the journal cannot take this callback")]
    JournalUnavailable => ("journal_unavailable", INTERNAL_SERVER_ERROR, 50003),
    /// `/api/v1` without an `Authorization: Bearer` header.
    #[error("missing Authorization: Bearer <token> header")]
    ApiTokenMissing => ("api_token_missing", UNAUTHORIZED, 40107),
    /// `/api/v1` with a bearer token that is not one of `[api] tokens`.
    #[error("bearer token is not valid")]
    ApiTokenInvalid => ("api_token_invalid", UNAUTHORIZED, 40108),
    /// A handler's API could not use the request; the text says what to change.
    #[error("{0}")]
    ApiBadRequest(String) => ("api_bad_request", BAD_REQUEST, 40011),
    /// A handler's API has nothing at this address.
    #[error("{0}")]
    ApiNotFound(String) => ("api_not_found", NOT_FOUND, 40402),
    /// A handler's API cannot answer now (its store is down); the text says which part.
    #[error("{0}")]
    ApiUnavailable(String) => ("api_unavailable", SERVICE_UNAVAILABLE, 50302),
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
    pub fn error_code(&self) -> u32 {
        self.parts().2
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
    pub fn reply(&self) -> Answer {
        Reply::fail(self.error_code(), self.to_string()).into()
    }

    /// The reply to a callback of `command`, with what that command's replies always carry
    /// (`RspData` for a reply-bearing one).
    pub fn response_for(self, command: &str) -> Response {
        let reply = self.reply().completed_for(command);
        self.response(reply)
    }

    fn response(self, reply: Answer) -> Response {
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

/// The protocol crate's refusals of a query string, as the table words them (the raw text
/// echoed bounded, since it is not yet authenticated).
impl From<chathook_protocol::query::QueryError> for Rejection {
    fn from(error: chathook_protocol::query::QueryError) -> Self {
        use chathook_protocol::query::QueryError as Q;
        match error {
            Q::Duplicate(name) => Self::DuplicateParameter(name),
            Q::SdkAppIdMissing => Self::SdkAppIdMissing,
            Q::SdkAppIdInvalid(raw) => Self::SdkAppIdInvalid(echo(&raw)),
            Q::SignMissing => Self::SignMissing,
            Q::RequestTimeMissing => Self::RequestTimeMissing,
            Q::RequestTimeInvalid(raw) => Self::RequestTimeInvalid(echo(&raw)),
            Q::RequestTimeSkewed {
                skew_secs,
                max_skew_secs,
            } => Self::RequestTimeSkewed {
                skew_secs,
                max_skew_secs,
            },
            Q::SignMismatch => Self::SignMismatch,
            // A refusal the protocol crate adds later is still a malformed query string.
            _ => Self::MalformedRequest,
        }
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

    #[test]
    fn error_codes_and_reasons_are_distinct_and_codes_follow_the_status() {
        let table = Rejection::TABLE;
        for (reason, status, code) in table {
            assert_eq!(code / 100, u32::from(status.as_u16()), "{reason}");
        }
        let mut codes: Vec<_> = table.iter().map(|(_, _, code)| code).collect();
        let mut reasons: Vec<_> = table.iter().map(|(reason, _, _)| reason).collect();
        codes.sort_unstable();
        codes.dedup();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(codes.len(), table.len());
        assert_eq!(reasons.len(), table.len());
        assert_eq!(Rejection::ALL_REASONS.len(), table.len());
    }

    #[test]
    fn a_variant_reads_its_own_row() {
        let skewed = Rejection::RequestTimeSkewed {
            skew_secs: -60,
            max_skew_secs: 10,
        };
        assert_eq!(skewed.reason(), "request_time_skewed");
        assert_eq!(skewed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(skewed.error_code(), 40104);
        assert_eq!(Rejection::ApiUnavailable("x".into()).error_code(), 50302);
        assert_eq!(Rejection::SdkAppIdMissing.reason(), "sdk_app_id_missing");
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
