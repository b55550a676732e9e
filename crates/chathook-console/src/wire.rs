//! The console's JSON, defined once for the server that writes it and `chathook tail` that
//! reads it: a record ([`RecordJson`]) as `/api/v1/callbacks`, its stream and `/console` show
//! it, and the stream's `open` and `missed` events. `assets/console.js` reads the same fields.
//!
//! A [`Record`](crate::record::Record) stays compact in the buffer; its `RecordJson` is built
//! only when a reader reads it, borrowing what it can. Fields are written in declaration order,
//! which readers see and tests check: add a field at the end.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One callback as the console serves it. Never a token, `Sign` or the query string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordJson<'a> {
    /// The record's number: increasing, from 1 (from 1 again after a restart).
    pub id: u64,
    /// Arrival, RFC 3339 in UTC with milliseconds: `2026-12-01T07:31:02.123Z`.
    pub time: String,
    /// Arrival, in Unix milliseconds.
    pub unix_ms: u64,
    /// `SdkAppid`, once it parsed.
    pub sdk_app_id: Option<u64>,
    /// The configured app's name, once known.
    pub app: Option<Cow<'a, str>>,
    /// `CallbackCommand`, once the request is authenticated.
    pub command: Option<Cow<'a, str>>,
    /// The command's kind (`before`, `after`, ...), when the command is known.
    pub kind: Option<Cow<'a, str>>,
    /// How it ended: `ok`, `fallback`, `failed`, `timed_out`, `rejected`, `unrouted`. A string,
    /// so a reader older than the server still shows an outcome it does not know.
    pub outcome: Cow<'a, str>,
    /// The HTTP status chathook answered with.
    pub status: u16,
    /// From arrival to answer.
    pub latency_ms: f64,
    /// The handlers it went to, in the order they were called.
    pub handlers: Vec<HandlerJson<'a>>,
    /// The refusal's reason label, the handlers' failure, or `fallback`.
    pub reason: Option<Cow<'a, str>>,
    /// The refusal in words.
    pub error: Option<String>,
    /// One line for people: what went wrong, for which app, and when it was signed.
    pub explanation: Option<String>,
    /// `RequestTime`, when it is a number.
    pub request_time: Option<i64>,
    /// How old `RequestTime` was on arrival (negative: in the future).
    pub request_age_secs: Option<i64>,
    /// `ClientIP`, once the request is authenticated.
    pub client_ip: Option<Cow<'a, str>>,
    /// `OptPlatform`, once the request is authenticated.
    pub opt_platform: Option<Cow<'a, str>>,
    /// The body's size, once read.
    pub body_bytes: Option<u32>,
    /// The body's first bytes as text, only when bodies are captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Cow<'a, str>>,
    /// Whether [`body`](Self::body) is cut short; present with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_truncated: Option<bool>,
}

/// One handler's call within a [`RecordJson`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandlerJson<'a> {
    /// The handler's name.
    pub name: Cow<'a, str>,
    /// `runs`, `decides` or `observes`.
    pub role: Cow<'a, str>,
    /// `ok`, `failed`, ...; none while it still runs (an observer may outlive the answer).
    pub result: Option<Cow<'a, str>>,
    /// How long it took, once it ended.
    pub latency_ms: Option<f64>,
    /// Its failure, URL credentials redacted.
    pub error: Option<String>,
}

/// The data of the stream's first event, `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenJson {
    /// The newest record's id when the stream opened (0 when none yet): a reader that loses
    /// the connection before any callback resumes after it.
    pub last_id: u64,
}

/// The data of a `missed` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedJson {
    /// How many records this reader missed because it fell behind.
    pub missed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with every field present.
    fn every_field() -> RecordJson<'static> {
        RecordJson {
            id: 1,
            time: "2026-12-01T07:31:02.123Z".into(),
            unix_ms: 1_796_110_262_123,
            sdk_app_id: Some(1_400_000_001),
            app: Some("main".into()),
            command: Some("Group.CallbackBeforeSendMsg".into()),
            kind: Some("before".into()),
            outcome: "rejected".into(),
            status: 401,
            latency_ms: 0.25,
            handlers: Vec::new(),
            reason: Some("sign_mismatch".into()),
            error: Some("Sign does not match any token of this app".into()),
            explanation: Some("Sign mismatch: app main".into()),
            request_time: Some(1_796_110_250),
            request_age_secs: Some(12),
            client_ip: Some("203.0.113.7".into()),
            opt_platform: Some("Android".into()),
            body_bytes: Some(2),
            body: Some("{}".into()),
            body_truncated: Some(false),
        }
    }

    #[test]
    fn the_page_reads_only_fields_a_record_has() {
        let fields = serde_json::to_value(every_field()).unwrap();
        let script = include_str!("../assets/console.js");
        let mut read = 0;
        for (at, _) in script.match_indices("record.") {
            let before = script[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // another name ending in `record`
            }
            let rest = &script[at + "record.".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let field = &rest[..end];
            assert!(
                fields.get(field).is_some(),
                "console.js reads record.{field}, which RecordJson does not have"
            );
            read += 1;
        }
        assert!(
            read > 10,
            "console.js no longer reads records as `record`: {read}"
        );
    }

    #[test]
    fn the_record_in_the_console_docs_is_one() {
        let docs = include_str!("../../../docs/console.md");
        let (_, after) = docs
            .split_once("A record, here of")
            .expect("docs/console.md shows a record");
        let (_, block) = after.split_once("```json\n").expect("as a JSON block");
        let (text, _) = block.split_once("```").expect("a closed block");
        let record: RecordJson<'_> = serde_json::from_str(text).expect("a RecordJson");
        assert_eq!(record.reason.as_deref(), Some("sign_mismatch"));
        // Written back, it is the same object: no field of the docs is unknown to the struct.
        let written = serde_json::to_value(&record).unwrap();
        let shown: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(written, shown);
    }
}
