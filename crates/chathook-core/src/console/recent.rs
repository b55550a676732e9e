//! The recent-callbacks buffer: the last `[console] recent` callbacks in memory, a live feed of
//! them for stream readers, and counts per 10 seconds for the last hour.
//!
//! Recording costs a lock, an allocation and a send to a broadcast channel that nobody may be
//! listening to; what a reader sees (the JSON, the explanation in words) is made when it
//! reads, not on the callback path. A slow reader never slows callbacks: the broadcast
//! channel drops what it has not read and tells it how many.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use smallvec::SmallVec;
use tokio::sync::broadcast;

use crate::callback::{HandlerCall, HandlerCalls, Outcome, whole_micros_as_ms};
use crate::protocol::CallbackKind;
use crate::rejection::Rejection;

/// How far behind the live feed a stream reader may fall before it misses records.
pub const STREAM_BUFFER: usize = 1024;
/// The width of one bucket of [`Recent::counts`].
pub const BUCKET_SECS: u64 = 10;
/// How far back [`Recent::counts`] reaches.
pub const MAX_COUNT_MINUTES: u64 = 60;

/// What the live feed carries.
#[derive(Clone, Debug)]
pub enum Feed {
    /// A callback just answered.
    New(Arc<Record>),
    /// An earlier record whose last handler has just ended.
    Update(Arc<Record>),
}

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
    id: u64,
    unix_ms: u64,
    sdk_app_id: Option<u64>,
    app: Option<Arc<str>>,
    command: Option<Cow<'static, str>>,
    outcome: Outcome,
    status: u16,
    /// From arrival to answer, in whole microseconds (made milliseconds when read).
    latency_us: u32,
    handlers: Option<Arc<HandlerCalls>>,
    /// Boxed, as the body is: a record is rewritten on every callback, so the common one
    /// (accepted, no body kept) should span few cache lines.
    refusal: Option<Box<Refusal>>,
    request_time: Option<i64>,
    client: Client,
    body_bytes: Option<u32>,
    body: Option<Box<CapturedBody>>,
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
        self.command.as_deref().map(crate::protocol::kind_of)
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

/// Counts of one [`BUCKET_SECS`] bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Its first second, Unix.
    pub start_secs: u64,
    /// By outcome, in [`Outcome::ALL`]'s order.
    pub outcomes: [u64; Outcome::ALL.len()],
    /// By refusal or failure reason.
    pub reasons: Vec<(&'static str, u64)>,
}

impl Bucket {
    fn count(&mut self, record: &Record) {
        let index = Outcome::ALL
            .iter()
            .position(|outcome| *outcome == record.outcome)
            .expect("every outcome is in Outcome::ALL");
        self.outcomes[index] += 1;
        if let Some(reason) = record.reason() {
            match self.reasons.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, count)) => *count += 1,
                None => self.reasons.push((reason, 1)),
            }
        }
    }

    /// Every callback of the bucket.
    pub fn total(&self) -> u64 {
        self.outcomes.iter().sum()
    }
}

/// A reader's start: see [`Recent::subscribe`].
pub struct Subscription {
    /// Records as they are answered from now on, and late handler results.
    pub receiver: broadcast::Receiver<Feed>,
    /// Buffered records the reader has not seen, oldest first.
    pub backlog: Vec<Arc<Record>>,
    /// The newest record before the feed starts (0: none yet).
    pub last_id: u64,
    /// Records after the reader's `after` that have left the buffer already.
    pub gone: u64,
}

struct Ring {
    next_id: u64,
    records: VecDeque<Arc<Record>>,
    /// By `start_secs`, ascending.
    buckets: VecDeque<Bucket>,
    /// Records with a handler still running, by their calls' address (stable while a call
    /// runs: its task holds them), so its end can send the record again.
    running: HashMap<usize, Weak<Record>>,
}

/// The key of a record's calls in [`Ring::running`].
fn calls_key(calls: &Arc<HandlerCalls>) -> usize {
    Arc::as_ptr(calls) as usize
}

impl Ring {
    /// Counts `record` in the bucket of its arrival: the newest almost always, an earlier one
    /// for a callback that took long, a new one in its place after the clock stepped back.
    fn count(&mut self, record: &Record) {
        let start_secs = record.unix_ms / 1000 / BUCKET_SECS * BUCKET_SECS;
        if let Some(bucket) = self.buckets.back_mut()
            && bucket.start_secs == start_secs
        {
            bucket.count(record);
            return;
        }
        match self
            .buckets
            .binary_search_by_key(&start_secs, |bucket| bucket.start_secs)
        {
            Ok(at) => self.buckets[at].count(record),
            Err(at) => {
                let mut bucket = Bucket {
                    start_secs,
                    ..Bucket::default()
                };
                bucket.count(record);
                self.buckets.insert(at, bucket);
                let newest = self.buckets.back().map_or(start_secs, |b| b.start_secs);
                let oldest = newest.saturating_sub(MAX_COUNT_MINUTES * 60);
                while self.buckets.front().is_some_and(|b| b.start_secs < oldest) {
                    self.buckets.pop_front();
                }
            }
        }
    }
}

/// The buffer, the live feed and the counts.
pub struct Recent {
    capacity: usize,
    /// `Some(limit)` when bodies are captured, at most `limit` bytes each.
    capture_body_bytes: Option<usize>,
    ring: Mutex<Ring>,
    feed: broadcast::Sender<Feed>,
}

impl Recent {
    /// A buffer of `capacity` records (at least 1); bodies kept up to `capture_body_bytes`.
    pub fn new(capacity: usize, capture_body_bytes: Option<usize>) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            capture_body_bytes,
            ring: Mutex::new(Ring {
                next_id: 1,
                records: VecDeque::with_capacity(capacity),
                buckets: VecDeque::new(),
                running: HashMap::new(),
            }),
            feed: broadcast::channel(STREAM_BUFFER).0,
        }
    }

    /// How many records it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether records carry the body.
    pub fn captures_bodies(&self) -> bool {
        self.capture_body_bytes.is_some()
    }

    /// Records an answered callback: into the buffer (dropping the oldest when full), the
    /// counts, and the feed.
    pub fn record(&self, facts: Facts<'_>, answered: Answered) {
        let arrived = facts.arrived.unwrap_or_else(SystemTime::now);
        let mut record = Record {
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
                .zip(self.capture_body_bytes)
                .map(|(body, limit)| Box::new(CapturedBody::new(body, limit))),
        };
        let mut ring = self.lock();
        record.id = ring.next_id;
        ring.next_id += 1;
        // A full buffer's oldest record that nobody else holds (no reader, no handler) takes
        // the new one in its place: no allocation, and none freed.
        let oldest = (ring.records.len() == self.capacity)
            .then(|| ring.records.pop_front())
            .flatten();
        let record = match oldest {
            Some(mut oldest) => match Arc::get_mut(&mut oldest) {
                Some(place) => {
                    *place = record;
                    oldest
                }
                None => Arc::new(record),
            },
            None => Arc::new(record),
        };
        if let Some(handlers) = &record.handlers {
            // Under the ring's lock, as `handler_finished` looks: a call that ends before
            // this check is in the record when a reader serializes it, one that ends after
            // finds the record here.
            if !handlers.all_ended() {
                ring.running
                    .insert(calls_key(handlers), Arc::downgrade(&record));
            }
        }
        ring.count(&record);
        ring.records.push_back(Arc::clone(&record));
        // Sent under the lock, so the feed's order is the ids' order. No reader: an error
        // that costs nothing.
        let _ = self.feed.send(Feed::New(record));
    }

    /// A handler's call of `calls` has ended: once the last one has, readers get the record
    /// again as an update (an observer ends after the callback was answered).
    pub fn handler_finished(&self, calls: &Arc<HandlerCalls>) {
        if !calls.all_ended() {
            return;
        }
        let mut ring = self.lock();
        if let Some(record) = ring.running.remove(&calls_key(calls))
            && let Some(record) = record.upgrade()
        {
            let _ = self.feed.send(Feed::Update(record));
        }
    }

    /// Up to `limit` of the buffered records that `matches` selects, newest first, and the
    /// newest record's id. Walked under the lock that callbacks take, from the newest, so a
    /// list costs callbacks no more than its `limit` of matches (and the misses on the way).
    pub fn newest(
        &self,
        limit: usize,
        matches: impl Fn(&Record) -> bool,
    ) -> (Vec<Arc<Record>>, u64) {
        let ring = self.lock();
        let newest = ring
            .records
            .iter()
            .rev()
            .filter(|record| matches(record))
            .take(limit)
            .cloned()
            .collect();
        (newest, ring.next_id - 1)
    }

    /// A live feed from now on, with what a reader that last saw record `after` has not seen
    /// of the buffer.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let ring = self.lock();
        let receiver = self.feed.subscribe();
        let last_id = ring.next_id - 1;
        let oldest_id = ring
            .records
            .front()
            .map_or(ring.next_id, |record| record.id);
        let (backlog, gone) = match after {
            None => (Vec::new(), 0),
            // Ids from before a restart: everything buffered is new to this reader.
            Some(after) if after > last_id => (ring.records.iter().cloned().collect(), 0),
            Some(after) => (
                ring.records
                    .iter()
                    .filter(|record| record.id > after)
                    .cloned()
                    .collect(),
                oldest_id.saturating_sub(after + 1),
            ),
        };
        Subscription {
            receiver,
            backlog,
            last_id,
            gone,
        }
    }

    /// Counts per bucket over the last `minutes`, up to `now`, oldest first, every bucket
    /// present.
    pub fn counts(&self, minutes: u64, now: SystemTime) -> Vec<Bucket> {
        let now_secs = unix_ms(now) / 1000;
        let last = now_secs / BUCKET_SECS * BUCKET_SECS;
        let buckets = (minutes * 60).div_ceil(BUCKET_SECS).max(1);
        let first = last.saturating_sub((buckets - 1) * BUCKET_SECS);
        let ring = self.lock();
        (0..buckets)
            .map(|index| {
                let start_secs = first + index * BUCKET_SECS;
                ring.buckets
                    .iter()
                    .find(|bucket| bucket.start_secs == start_secs)
                    .cloned()
                    .unwrap_or(Bucket {
                        start_secs,
                        ..Bucket::default()
                    })
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves whole records behind: keep going.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{HandlerEnd, HandlerResult};
    use crate::registry::Role;

    fn end(result: HandlerResult, millis: u64, error: Option<&str>) -> HandlerEnd {
        HandlerEnd {
            result,
            took: Duration::from_millis(millis),
            error: error.map(str::to_owned),
        }
    }

    fn answered(outcome: Outcome, rejection: Option<Rejection>) -> Answered {
        Answered {
            outcome,
            status: 200,
            latency: Duration::from_micros(483),
            rejection,
        }
    }

    /// Every buffered record, oldest first.
    fn snapshot(recent: &Recent) -> Vec<Arc<Record>> {
        let (mut records, _) = recent.newest(usize::MAX, |_| true);
        records.reverse();
        records
    }

    fn id_of(feed: Feed) -> (bool, u64) {
        match feed {
            Feed::New(record) => (true, record.id()),
            Feed::Update(record) => (false, record.id()),
        }
    }

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
    fn a_sign_mismatch_says_app_and_request_age() {
        let recent = Recent::new(4, None);
        let arrived = UNIX_EPOCH + Duration::from_secs(1_000_014);
        recent.record(
            Facts {
                arrived: Some(arrived),
                sdk_app_id: Some(1_400_000_001),
                app: Some(Arc::from("prod")),
                request_time: Some(1_000_000),
                ..Facts::default()
            },
            answered(Outcome::Rejected, Some(Rejection::SignMismatch)),
        );
        let record = &snapshot(&recent)[0];
        assert_eq!(
            record.explanation().as_deref(),
            Some("Sign mismatch: app prod, RequestTime 14 s old")
        );
        let json = serde_json::to_value(record.as_ref()).unwrap();
        assert_eq!(json["reason"], "sign_mismatch");
        assert_eq!(json["error"], "Sign does not match any token of this app");
        assert_eq!(json["request_age_secs"], 14);
        assert_eq!(json["time"], "1970-01-12T13:46:54Z");
        assert_eq!(json["latency_ms"], 0.483);
        assert!(json.get("body").is_none(), "{json}");
    }

    #[test]
    fn the_buffer_keeps_the_newest_and_numbers_them() {
        let recent = Recent::new(3, Some(4));
        let body = Bytes::from_static(b"{\"a\":1}");
        for _ in 0..5 {
            recent.record(
                Facts {
                    body_bytes: Some(body.len()),
                    body: Some(&body),
                    ..Facts::default()
                },
                answered(Outcome::Ok, None),
            );
        }
        let ids: Vec<u64> = snapshot(&recent).iter().map(|r| r.id()).collect();
        assert_eq!(ids, [3, 4, 5]);
        let json = serde_json::to_value(snapshot(&recent)[0].as_ref()).unwrap();
        assert_eq!(json["body"], "{\"a\"");
        assert_eq!(json["body_truncated"], true);
        assert_eq!(json["body_bytes"], 7);
        assert_eq!(json["explanation"], serde_json::Value::Null);
    }

    #[test]
    fn a_reader_that_falls_behind_is_told_how_many_it_missed() {
        let recent = Recent::new(10, None);
        let Subscription {
            mut receiver,
            backlog,
            last_id,
            gone,
        } = recent.subscribe(None);
        assert!(backlog.is_empty());
        assert_eq!((last_id, gone), (0, 0));
        for _ in 0..STREAM_BUFFER + 5 {
            recent.record(Facts::default(), answered(Outcome::Ok, None));
        }
        match receiver.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(missed)) => assert_eq!(missed, 5),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(id_of(receiver.try_recv().unwrap()), (true, 6));
        let last = STREAM_BUFFER as u64 + 5;
        let resumed = recent.subscribe(Some(last - 3));
        assert_eq!((resumed.last_id, resumed.gone), (last, 0));
        let ids: Vec<u64> = resumed.backlog.iter().map(|r| r.id()).collect();
        assert_eq!(ids, [last - 2, last - 1, last]);
        // The buffer keeps 10: a reader that last saw record 5 lost those up to the oldest.
        let behind = recent.subscribe(Some(5));
        assert_eq!(behind.gone, last - 10 - 5);
        assert_eq!(behind.backlog.len(), 10);
        // An id from before a restart: the whole buffer is new to it.
        let restarted = recent.subscribe(Some(last + 100));
        assert_eq!((restarted.backlog.len(), restarted.gone), (10, 0));
    }

    #[test]
    fn a_handler_that_ends_after_the_record_is_out_sends_it_again() {
        let recent = Recent::new(10, None);
        let mut receiver = recent.subscribe(None).receiver;
        let slots = HandlerCalls::new([("decider", Role::Decides), ("observer", Role::Observes)]);
        slots.end(0, end(HandlerResult::Ok, 1, None));
        recent.record(
            Facts {
                handlers: Some(Arc::clone(&slots)),
                ..Facts::default()
            },
            answered(Outcome::Ok, None),
        );
        assert_eq!(id_of(receiver.try_recv().unwrap()), (true, 1));
        assert!(
            receiver.try_recv().is_err(),
            "no update while one is running"
        );
        slots.end(
            1,
            end(
                HandlerResult::Failed,
                300,
                Some("failed: cannot reach nats://s3cret@nats:4222 or postgres://app:pw@db/x"),
            ),
        );
        recent.handler_finished(&slots);
        let Feed::Update(record) = receiver.try_recv().unwrap() else {
            panic!("expected an update");
        };
        let json = serde_json::to_value(record.as_ref()).unwrap();
        assert_eq!(json["handlers"][1]["result"], "failed");
        assert_eq!(
            json["handlers"][1]["error"],
            "failed: cannot reach nats://[redacted]@nats:4222 or postgres://app:[redacted]@db/x"
        );
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

    #[test]
    fn counts_cover_the_window_bucket_by_bucket() {
        let recent = Recent::new(10, None);
        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for (offset, rejection) in [
            (0, None),
            (1, Some(Rejection::SignMismatch)),
            (25, Some(Rejection::SignMismatch)),
        ] {
            let outcome = if rejection.is_some() {
                Outcome::Rejected
            } else {
                Outcome::Ok
            };
            recent.record(
                Facts {
                    arrived: Some(start + Duration::from_secs(offset)),
                    ..Facts::default()
                },
                answered(outcome, rejection),
            );
        }
        // Arrived in the first bucket, answered after the third opened.
        recent.record(
            Facts {
                arrived: Some(start + Duration::from_secs(2)),
                ..Facts::default()
            },
            answered(Outcome::Ok, None),
        );
        let counts = recent.counts(1, start + Duration::from_secs(29));
        assert_eq!(counts.len(), 6);
        assert_eq!(counts.last().unwrap().start_secs, 1_000_020);
        let at = |secs: u64| counts.iter().find(|b| b.start_secs == secs).unwrap();
        assert_eq!(at(1_000_000).total(), 3);
        assert_eq!(at(1_000_000).reasons, [("sign_mismatch", 1)]);
        assert_eq!(at(1_000_010).total(), 0);
        assert_eq!(at(1_000_020).total(), 1);
    }
}
