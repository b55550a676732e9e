//! One callback as the console keeps and shows it ([`Record`]): never a token, `Sign` or the
//! query string; a refusal kept as it is and put in words only when read.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chathook_core::callback::{HandlerCall, HandlerCalls, Outcome, whole_micros_as_ms};
use chathook_core::protocol::CallbackKind;
use chathook_core::redact;
use chathook_core::rejection::Rejection;
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

use crate::wire::{HandlerJson, RecordJson};

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
                Some(format!("{} {}", call.name(), redact::credentials_in(error)))
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

impl Record {
    /// The record as readers see it, built only when one reads it: the buffer keeps the
    /// compact form, and the time, the words of a refusal and the handler list (errors
    /// redacted) are made here, borrowing the rest.
    pub fn json(&self) -> RecordJson<'_> {
        RecordJson {
            id: self.id,
            time: rfc3339_ms(self.unix_ms),
            unix_ms: self.unix_ms,
            sdk_app_id: self.sdk_app_id,
            app: self.app.as_deref().map(Cow::Borrowed),
            command: self.command.as_deref().map(Cow::Borrowed),
            kind: self.kind().map(|kind| Cow::Borrowed(kind.as_str())),
            outcome: Cow::Borrowed(self.outcome.as_str()),
            status: self.status,
            latency_ms: f64::from(self.latency_us) / 1000.0,
            handlers: self
                .handlers
                .iter()
                .flat_map(|handlers| handlers.iter().map(handler_json))
                .collect(),
            reason: self.reason().map(Cow::Borrowed),
            error: self.refusal.as_deref().map(Refusal::words),
            explanation: self.explanation(),
            request_time: self.request_time,
            request_age_secs: self.request_age_secs(),
            client_ip: self.client.ip().map(Cow::Borrowed),
            opt_platform: self.client.platform().map(Cow::Borrowed),
            body_bytes: self.body_bytes,
            body: self
                .body
                .as_ref()
                .map(|body| Cow::Borrowed(body.text.as_str())),
            body_truncated: self.body.as_ref().map(|body| body.truncated),
        }
    }
}

/// Serialized as its [`RecordJson`].
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(serializer)
    }
}

/// One handler's call as a record shows it: its failure with URL credentials redacted.
fn handler_json(call: &HandlerCall) -> HandlerJson<'_> {
    let end = call.end();
    HandlerJson {
        name: Cow::Borrowed(call.name()),
        role: Cow::Borrowed(call.role().as_str()),
        result: end.map(|end| Cow::Borrowed(end.result.as_str())),
        latency_ms: end.map(|end| whole_micros_as_ms(end.took)),
        error: end
            .and_then(|end| end.error.as_deref())
            .map(redact::credentials_in),
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
    use chathook_core::callback::{HandlerEnd, HandlerResult};
    use chathook_core::registry::Role;

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

    /// The keys of a JSON object, in the order they are written.
    struct Keys(Vec<String>);

    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct InOrder;
            impl<'de> serde::de::Visitor<'de> for InOrder {
                type Value = Keys;
                fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    formatter.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, serde::de::IgnoredAny)) = map.next_entry()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            deserializer.deserialize_map(InOrder)
        }
    }

    /// A record with every field set: a refusal, a finished and a running handler, a body.
    fn full_record() -> Record {
        let calls = HandlerCalls::new([("archive", Role::Decides), ("audit", Role::Observes)]);
        calls.end(
            0,
            HandlerEnd {
                result: HandlerResult::Failed,
                took: Duration::from_micros(1_250),
                error: Some("failed: cannot reach postgres://app:pw@db/x".into()),
            },
        );
        let body = Bytes::from_static(b"{\"CallbackCommand\":\"Group.CallbackAfterSendMsg\"}");
        let mut record = Record::new(
            Facts {
                arrived: Some(UNIX_EPOCH + Duration::from_millis(1_796_110_262_123)),
                sdk_app_id: Some(1_400_000_001),
                app: Some(Arc::from("main")),
                command: Some("Group.CallbackAfterSendMsg"),
                request_time: Some(1_796_110_250),
                client_ip: Some("203.0.113.7"),
                opt_platform: Some("Android"),
                body_bytes: Some(body.len()),
                body: Some(&body),
                handlers: Some(calls),
                ..Facts::default()
            },
            Answered {
                outcome: Outcome::Failed,
                status: 200,
                latency: Duration::from_micros(1_483),
                rejection: None,
            },
            Some(16),
        );
        record.id = 7;
        record
    }

    #[test]
    fn a_record_reads_back_as_the_json_it_was_written_as() {
        let record = full_record();
        let text = serde_json::to_string(&record).unwrap();
        let read: RecordJson<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(read, record.json());
        assert_eq!(read.time, "2026-12-01T07:31:02.123Z");
        assert_eq!(read.handlers[0].result.as_deref(), Some("failed"));
        assert_eq!(
            read.handlers[0].error.as_deref(),
            Some("failed: cannot reach postgres://app:[redacted]@db/x")
        );
        assert_eq!(read.handlers[1].result, None, "audit still runs");
        assert_eq!(read.body.as_deref(), Some("{\"CallbackComman"));
        assert_eq!(read.body_truncated, Some(true));
        // Readers see the fields in this order (the API's, the stream's and `--json`'s).
        let Keys(keys) = serde_json::from_str(&text).unwrap();
        assert_eq!(
            keys,
            [
                "id",
                "time",
                "unix_ms",
                "sdk_app_id",
                "app",
                "command",
                "kind",
                "outcome",
                "status",
                "latency_ms",
                "handlers",
                "reason",
                "error",
                "explanation",
                "request_time",
                "request_age_secs",
                "client_ip",
                "opt_platform",
                "body_bytes",
                "body",
                "body_truncated",
            ]
        );
    }

    #[test]
    fn a_record_without_a_body_has_no_body_fields_and_still_reads_back() {
        let mut record = full_record();
        record.body = None;
        let text = serde_json::to_string(&record).unwrap();
        assert!(!text.contains("\"body\""), "{text}");
        assert!(!text.contains("body_truncated"), "{text}");
        let read: RecordJson<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(read, record.json());
    }
}
