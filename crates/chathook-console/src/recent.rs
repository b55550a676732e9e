//! The recent-callbacks buffer: the last `[console] recent` callbacks in memory, a live feed of
//! them for stream readers, and counts per 10 seconds for the last hour.
//!
//! Recording costs a lock, an allocation and a send to a broadcast channel that nobody may be
//! listening to; what a reader sees (the JSON, the explanation in words) is made when it
//! reads, not on the callback path. A slow reader never slows callbacks: the broadcast
//! channel drops what it has not read and tells it how many.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::SystemTime;

use chathook_core::callback::{HandlerCalls, Outcome};
use tokio::sync::broadcast;

use crate::record::{Answered, Facts, Record, unix_ms};

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
        let mut record = Record::new(facts, answered, self.capture_body_bytes);
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
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;

    use chathook_core::callback::{HandlerEnd, HandlerResult};
    use chathook_core::registry::Role;
    use chathook_core::rejection::Rejection;

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
