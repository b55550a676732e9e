//! One callback as the console keeps and shows it ([`Record`]): never a token, `Sign` or the
//! query string; a refusal kept as it is and put in words only when read.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chathook_core::callback::{HandlerCall, HandlerCalls, Outcome, whole_micros_as_ms};
use chathook_core::protocol::CallbackKind;
use chathook_core::rejection::Rejection;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

/// `text` with the credentials of every `scheme://user:password@host` (the password) and
/// `scheme://token@host` (the token) in it replaced: handler errors often quote the URL
/// they could not reach, and records are served over the API.
pub fn redact_url_credentials(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        redacted.push_str(before);
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => redacted.push_str(&format!("{user}:[redacted]")),
                    None => redacted.push_str("[redacted]"),
                }
                redacted.push('@');
                redacted.push_str(host);
            }
            None => redacted.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    redacted.push_str(rest);
    redacted
}

/// One handler's call as a record shows it: its failure with URL credentials redacted.
struct CallJson<'a>(&'a HandlerCall);

impl Serialize for CallJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let end = self.0.end();
        let mut call = serializer.serialize_struct("HandlerCall", 5)?;
        call.serialize_field("name", self.0.name())?;
        call.serialize_field("role", self.0.role().as_str())?;
        call.serialize_field("result", &end.map(|end| end.result.as_str()))?;
        call.serialize_field("latency_ms", &end.map(|end| whole_micros_as_ms(end.took)))?;
        let error = end.and_then(|end| end.error.as_deref());
        call.serialize_field("error", &error.map(redact_url_credentials))?;
        call.end()
    }
}

/// A captured body: its first bytes, as text.
#[derive(Debug)]
pub struct CapturedBody {
    text: String,
    truncated: bool,
}

impl CapturedBody {
    fn new(body: &Bytes, limit: usize) -> Self {
        let kept = &body[..body.len().min(limit)];
        Self {
            text: String::from_utf8_lossy(kept).into_owned(),
            truncated: kept.len() < body.len(),
        }
    }
}

/// One callback as the console shows it. Never holds a token, `Sign` or the query string.
#[derive(Debug)]
pub struct Record {
    pub(crate) id: u64,
    pub(crate) unix_ms: u64,
    pub(crate) sdk_app_id: Option<u64>,
    pub(crate) app: Option<Arc<str>>,
    pub(crate) command: Option<Cow<'static, str>>,
    pub(crate) outcome: Outcome,
    pub(crate) status: u16,
    /// From arrival to answer, in whole microseconds (made milliseconds when read).
    pub(crate) latency_us: u32,
    pub(crate) handlers: Option<Arc<HandlerCalls>>,
    /// Boxed, as the body is: a record is rewritten on every callback, so the common one
    /// (accepted, no body kept) should span few cache lines.
    refusal: Option<Box<Refusal>>,
    pub(crate) request_time: Option<i64>,
    client: Client,
    pub(crate) body_bytes: Option<u32>,
    pub(crate) body: Option<Box<CapturedBody>>,
}

/// `ClientIP` and `OptPlatform`, kept in the record itself when they are as short as they
/// usually are (an IPv4 address and `Android` fit): an allocation is paid on every callback,
/// and again when the record leaves the buffer.
#[derive(Debug, Default)]
struct Client {
    /// The IP, then the platform.
    text: SmallVec<[u8; 24]>,
    /// Where the IP ends in `text`.
    ip_len: u8,
    has_ip: bool,
    has_platform: bool,
}

impl Client {
    fn new(ip: Option<&str>, platform: Option<&str>) -> Self {
        // No address is longer than 45 bytes; a longer ClientIP is no address to show.
        let ip = ip
            .filter(|ip| ip.len() <= usize::from(u8::MAX))
            .unwrap_or("");
        let platform = platform.unwrap_or("");
        let mut text = SmallVec::new();
        text.extend_from_slice(ip.as_bytes());
        text.extend_from_slice(platform.as_bytes());
        Self {
            text,
            ip_len: ip.len() as u8,
            has_ip: !ip.is_empty(),
            has_platform: !platform.is_empty(),
        }
    }

    fn ip(&self) -> Option<&str> {
        let ip = self.text.get(..usize::from(self.ip_len))?;
        self.has_ip.then(|| std::str::from_utf8(ip).ok()).flatten()
    }

    fn platform(&self) -> Option<&str> {
        let platform = self.text.get(usize::from(self.ip_len)..)?;
        self.has_platform
            .then(|| std::str::from_utf8(platform).ok())
            .flatten()
    }
}

/// What the server knows of a callback once it is answered, to make a [`Record`] of.
#[derive(Default)]
pub struct Facts<'a> {
    /// When it arrived.
    pub arrived: Option<SystemTime>,
    /// `SdkAppid`, once it parsed.
    pub sdk_app_id: Option<u64>,
    /// The configured app's name.
    pub app: Option<Arc<str>>,
    /// `CallbackCommand`, once the request is authenticated.
    pub command: Option<&'a str>,
    /// The same, when it is a documented or routed command's `&'static` name.
    pub static_command: Option<&'static str>,
    /// `RequestTime`, when it is a number.
    pub request_time: Option<i64>,
    /// `ClientIP`, once the request is authenticated.
    pub client_ip: Option<&'a str>,
    /// `OptPlatform`, once the request is authenticated.
    pub opt_platform: Option<&'a str>,
    /// The body's size, once read.
    pub body_bytes: Option<usize>,
    /// The body, when it is captured.
    pub body: Option<&'a Bytes>,
    /// The handlers it went to.
    pub handlers: Option<Arc<HandlerCalls>>,
}

/// The answer a [`Record`] notes.
pub struct Answered {
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status.
    pub status: u16,
    /// From arrival to answer.
    pub latency: Duration,
    /// Why it was refused, when it was.
    pub rejection: Option<Rejection>,
}

impl Record {
    /// The record of an answered callback, its body captured up to `capture_body_bytes`;
    /// its id is given as it enters the buffer.
    pub(crate) fn new(
        facts: Facts<'_>,
        answered: Answered,
        capture_body_bytes: Option<usize>,
    ) -> Self {
        let arrived = facts.arrived.unwrap_or_else(SystemTime::now);
        Self {
            id: 0,
            unix_ms: unix_ms(arrived),
            sdk_app_id: facts.sdk_app_id,
            app: facts.app,
            command: match (facts.static_command, facts.command) {
                (Some(name), _) => Some(Cow::Borrowed(name)),
                (None, command) => command.map(|command| Cow::Owned(command.to_owned())),
            },
            outcome: answered.outcome,
            status: answered.status,
            latency_us: answered.latency.as_micros().try_into().unwrap_or(u32::MAX),
            handlers: facts.handlers,
            refusal: Refusal::of(answered.outcome, answered.rejection).map(Box::new),
            request_time: facts.request_time,
            client: Client::new(facts.client_ip, facts.opt_platform),
            body_bytes: facts
                .body_bytes
                .map(|bytes| bytes.try_into().unwrap_or(u32::MAX)),
            body: facts
                .body
                .zip(capture_body_bytes)
                .map(|(body, limit)| Box::new(CapturedBody::new(body, limit))),
        }
    }

    /// The record's number: increasing, from 1.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Arrival, in Unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        self.unix_ms
    }

    /// The app's configured name, if known.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// `SdkAppid`, if it parsed.
    pub fn sdk_app_id(&self) -> Option<u64> {
        self.sdk_app_id
    }

    /// `CallbackCommand`, once authenticated.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// The command's kind, when the command is known: from the table, or from its name.
    pub fn kind(&self) -> Option<CallbackKind> {
        self.command
            .as_deref()
            .map(chathook_core::protocol::kind_of)
    }

    /// How it ended.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The refusal's reason label, or the handlers' failure for a failed callback.
    pub fn reason(&self) -> Option<&'static str> {
        self.refusal.as_deref().map(Refusal::reason)
    }

    /// One line for people: what went wrong, for which app, and when it was signed.
    pub fn explanation(&self) -> Option<String> {
        let reason = self.reason()?;
        let mut context = Vec::new();
        match (&self.app, self.sdk_app_id) {
            (Some(app), _) => context.push(format!("app {app}")),
            (None, Some(id)) => context.push(format!("SdkAppid {id}")),
            (None, None) => {}
        }
        if let Some(command) = &self.command {
            context.push(command.to_string());
        }
        // The signature's age is what tells a stale token or a wrong clock apart.
        let about_auth = reason.starts_with("sign") || reason.starts_with("request_time");
        if let Some(age) = self.request_age_secs().filter(|_| about_auth) {
            context.push(match age {
                0 => "RequestTime now".to_owned(),
                age if age > 0 => format!("RequestTime {age} s old"),
                age => format!("RequestTime {} s in the future", -age),
            });
        }
        let mut line = title_of(reason);
        if !context.is_empty() {
            line = format!("{line}: {}", context.join(", "));
        }
        let details = self.failure_details();
        if let Some(details) = details {
            line = format!("{line}: {details}");
        } else if let Some(refusal) = &self.refusal
            && !SELF_EXPLAINED.contains(&reason)
        {
            line = format!("{line} ({})", refusal.words());
        }
        Some(line)
    }

    /// The failed handlers with their failures, for a callback a handler failed.
    fn failure_details(&self) -> Option<String> {
        let failed: Vec<String> = self
            .handlers
            .iter()
            .flat_map(|handlers| handlers.iter())
            .filter_map(|call| {
                let error = call.end()?.error.as_deref()?;
                Some(format!("{} {}", call.name(), redact_url_credentials(error)))
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }

    fn request_age_secs(&self) -> Option<i64> {
        let request_time = self.request_time?;
        Some((self.unix_ms / 1000) as i64 - request_time)
    }
}

/// Reasons whose title says all their words would.
const SELF_EXPLAINED: [&str; 6] = [
    "sign_mismatch",
    "sign_missing",
    "request_time_missing",
    "unknown_app",
    "command_missing",
    "sdk_app_id_missing",
];

/// `sign_mismatch` as `Sign mismatch`, `request_time_skewed` as `RequestTime skewed`: the
/// reason label in words, with the protocol's own names for its parameters.
fn title_of(reason: &str) -> String {
    let mut words = reason.to_owned();
    for (label, name) in [
        ("sdk_app_id", "SdkAppid"),
        ("request_time", "RequestTime"),
        ("command", "CallbackCommand"),
        ("sign", "Sign"),
    ] {
        if let Some(rest) = words.strip_prefix(label) {
            words = format!("{name}{rest}");
        }
    }
    let words = words.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// Why a callback was not simply answered OK. Kept as it is and put in words only when a
/// reader asks, so recording a refusal costs no formatting.
#[derive(Debug)]
enum Refusal {
    Rejected(Rejection),
    /// The decider failed or was late: the configured fallback answered.
    Fallback,
}

impl Refusal {
    /// Its reason: a refusal's, the handlers' failure, or the fallback.
    fn of(outcome: Outcome, rejection: Option<Rejection>) -> Option<Self> {
        match (rejection, outcome) {
            (Some(rejection), _) => Some(Self::Rejected(rejection)),
            (None, Outcome::Failed) => Some(Self::Rejected(Rejection::HandlerFailed)),
            (None, Outcome::TimedOut) => Some(Self::Rejected(Rejection::HandlerTimedOut)),
            (None, Outcome::Fallback) => Some(Self::Fallback),
            (None, Outcome::Ok | Outcome::Rejected | Outcome::Unrouted) => None,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Rejected(rejection) => rejection.reason(),
            Self::Fallback => "fallback",
        }
    }

    fn words(&self) -> String {
        match self {
            Self::Rejected(rejection) => rejection.to_string(),
            Self::Fallback => "the decider failed: the fallback answered".into(),
        }
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_map(None)?;
        record.serialize_entry("id", &self.id)?;
        record.serialize_entry("time", &rfc3339_ms(self.unix_ms))?;
        record.serialize_entry("unix_ms", &self.unix_ms)?;
        record.serialize_entry("sdk_app_id", &self.sdk_app_id)?;
        record.serialize_entry("app", &self.app.as_deref())?;
        record.serialize_entry("command", &self.command)?;
        record.serialize_entry("kind", &self.kind().map(CallbackKind::as_str))?;
        record.serialize_entry("outcome", self.outcome.as_str())?;
        record.serialize_entry("status", &self.status)?;
        record.serialize_entry("latency_ms", &(self.latency_us as f64 / 1000.0))?;
        let handlers: Vec<CallJson<'_>> = self
            .handlers
            .iter()
            .flat_map(|handlers| handlers.iter().map(CallJson))
            .collect();
        record.serialize_entry("handlers", &handlers)?;
        record.serialize_entry("reason", &self.reason())?;
        record.serialize_entry("error", &self.refusal.as_deref().map(Refusal::words))?;
        record.serialize_entry("explanation", &self.explanation())?;
        record.serialize_entry("request_time", &self.request_time)?;
        record.serialize_entry("request_age_secs", &self.request_age_secs())?;
        record.serialize_entry("client_ip", &self.client.ip())?;
        record.serialize_entry("opt_platform", &self.client.platform())?;
        record.serialize_entry("body_bytes", &self.body_bytes)?;
        if let Some(body) = &self.body {
            record.serialize_entry("body", &body.text)?;
            record.serialize_entry("body_truncated", &body.truncated)?;
        }
        record.end()
    }
}

/// `2026-12-01T07:31:02.123Z`.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|time| {
            time.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_record_spans_few_cache_lines() {
        // Rewritten on every callback: a larger one shows in the benchmark's (n).
        assert!(
            std::mem::size_of::<Record>() <= 176,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn reasons_read_as_words_with_the_protocol_names() {
        assert_eq!(title_of("sign_mismatch"), "Sign mismatch");
        assert_eq!(title_of("request_time_skewed"), "RequestTime skewed");
        assert_eq!(title_of("sdk_app_id_invalid"), "SdkAppid invalid");
        assert_eq!(title_of("command_mismatch"), "CallbackCommand mismatch");
        assert_eq!(title_of("unknown_app"), "Unknown app");
        assert_eq!(title_of("handler_failed"), "Handler failed");
    }

    #[test]
    fn url_credentials_are_redacted_wherever_they_are_in_the_text() {
        for (text, redacted) in [
            ("no url here", "no url here"),
            ("http://host:80/path", "http://host:80/path"),
            (
                "a https://u:p@h/x and b redis://tok@r:6379",
                "a https://u:[redacted]@h/x and b redis://[redacted]@r:6379",
            ),
            (
                "ends with mysql://u:p@h",
                "ends with mysql://u:[redacted]@h",
            ),
            (
                "'amqp://guest:guest@localhost'",
                "'amqp://guest:[redacted]@localhost'",
            ),
        ] {
            assert_eq!(redact_url_credentials(text), redacted, "{text}");
        }
    }
}
