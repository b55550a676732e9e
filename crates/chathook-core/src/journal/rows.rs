//! What both backends read and write the same way: times as Unix milliseconds, states as
//! their names, and the requests [`super::Journal`] hands a backend, already in column form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    Attempt, AttemptOutcome, DeliveryId, DeliveryState, HandlerStats, JournalError, LeaseOwner,
};

/// Rows a purge deletes per transaction, so appends get the database between batches.
pub(super) const PURGE_BATCH: usize = 500;

/// Rows read per page when a filter runs in Rust (`replay`, `list` by command).
pub(super) const PAGE: usize = 500;

/// `time` as Unix milliseconds (negative before 1970), saturating.
pub(super) fn unix_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Unix milliseconds as a time.
pub(super) fn from_unix_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Now, as Unix milliseconds.
pub(super) fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// A duration as milliseconds, saturating.
pub(super) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A count read from the database (never negative) as the `u32` the types carry.
pub(super) fn count_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

impl DeliveryState {
    /// The state a column holds, or a database error naming the value.
    pub(super) fn parse(name: &str) -> Result<Self, JournalError> {
        match name {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "dead" => Ok(Self::Dead),
            other => Err(JournalError::Database(format!(
                "journal_deliveries.state holds {other:?}, which is no state this chathook knows"
            ))),
        }
    }
}

/// [`super::AppendLease`] with the lease's end fixed when it was asked for.
#[derive(Clone, Debug)]
pub(super) struct LeaseAtAppend {
    pub(super) owner: String,
    pub(super) lease_until_ms: i64,
    pub(super) handlers: Vec<(&'static str, bool)>,
}

impl LeaseAtAppend {
    pub(super) fn new(lease: &super::AppendLease) -> Self {
        Self {
            owner: lease.owner.to_string(),
            lease_until_ms: now_ms().saturating_add(duration_ms(lease.lease)),
            handlers: lease.handlers.clone(),
        }
    }

    /// Whether `handler`'s delivery is to be leased, and if so whether it is ordered.
    pub(super) fn ordered(&self, handler: &str) -> Option<bool> {
        self.handlers
            .iter()
            .find(|(name, _)| *name == handler)
            .map(|(_, ordered)| *ordered)
    }
}

/// [`super::Journal::claim`]'s arguments, with the lease's end fixed when it was asked for.
#[derive(Clone, Debug)]
pub(super) struct ClaimRequest {
    pub(super) handler: String,
    pub(super) ordered: bool,
    pub(super) limit: i64,
    pub(super) now_ms: i64,
    pub(super) lease_until_ms: i64,
    pub(super) owner: String,
}

impl ClaimRequest {
    pub(super) fn new(
        handler: &str,
        ordered: bool,
        limit: usize,
        lease: Duration,
        owner: &LeaseOwner,
    ) -> Self {
        let now_ms = now_ms();
        Self {
            handler: handler.to_owned(),
            ordered,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            now_ms,
            lease_until_ms: now_ms.saturating_add(duration_ms(lease)),
            owner: owner.to_string(),
        }
    }
}

/// [`super::Journal::settle`]'s arguments as the columns they write.
#[derive(Clone, Debug)]
pub(super) struct Settlement {
    pub(super) id: DeliveryId,
    pub(super) owner: String,
    pub(super) started_at_ms: i64,
    pub(super) ended_at_ms: i64,
    /// The attempt's result, as `journal_attempts.result` keeps it.
    pub(super) result: &'static str,
    /// The delivery's state if the lease is still the settler's.
    pub(super) state: &'static str,
    pub(super) error: Option<String>,
    /// For a retry: when it is due again.
    pub(super) next_at_ms: Option<i64>,
    pub(super) delivered_at_ms: Option<i64>,
    pub(super) dead_reason: Option<&'static str>,
}

impl Settlement {
    pub(super) fn new(id: DeliveryId, owner: &LeaseOwner, attempt: &Attempt) -> Self {
        let ended_at_ms = unix_ms(attempt.ended_at);
        let mut settlement = Self {
            id,
            owner: owner.to_string(),
            started_at_ms: unix_ms(attempt.started_at),
            ended_at_ms,
            result: "delivered",
            state: DeliveryState::Delivered.as_str(),
            error: None,
            next_at_ms: None,
            delivered_at_ms: None,
            dead_reason: None,
        };
        match &attempt.outcome {
            AttemptOutcome::Delivered => settlement.delivered_at_ms = Some(ended_at_ms),
            AttemptOutcome::Retry { error, at } => {
                settlement.result = "retry";
                settlement.state = DeliveryState::Pending.as_str();
                settlement.error = Some(error.clone());
                settlement.next_at_ms = Some(unix_ms(*at));
            }
            AttemptOutcome::Dead { error, reason } => {
                settlement.result = "dead";
                settlement.state = DeliveryState::Dead.as_str();
                settlement.error = Some(error.clone());
                settlement.dead_reason = Some(reason);
            }
        }
        settlement
    }
}

/// One purge transaction's work.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PurgedBatch {
    /// Entries deleted.
    pub(super) entries: u64,
    /// The highest id deleted (or, on PostgreSQL, locked to be): the next batch starts
    /// after it.
    pub(super) last_id: Option<i64>,
    /// The batch found as many as it may take: another may follow.
    pub(super) more: bool,
}

/// An entry `replay` may schedule: its id and the command the filter reads.
#[derive(Clone, Debug)]
pub(super) struct ReplayCandidate {
    pub(super) id: i64,
    pub(super) command: String,
}

/// `list`'s filter as a backend runs it: everything but the command, which Rust checks.
#[derive(Clone, Debug)]
pub(super) struct ListPage {
    pub(super) handler: Option<String>,
    pub(super) state: Option<&'static str>,
    pub(super) since_ms: Option<i64>,
    pub(super) until_ms: Option<i64>,
    pub(super) before_id: Option<DeliveryId>,
    pub(super) limit: i64,
}

/// The columns of a [`super::DeliverySummary`], `d` the delivery and `e` its entry, in the
/// order both backends read them.
pub(super) const SUMMARY_COLUMNS: &str = "d.id, d.entry_id, d.handler, e.command, e.sdk_app_id, \
     d.state, d.attempts_total, d.received_at_ms, \
     CASE WHEN d.state = 'pending' THEN d.next_at_ms END, d.delivered_at_ms, d.last_error, \
     d.dead_reason, e.idempotency_key, d.conversation_key";

/// The columns of a [`super::Claimed`], as [`SUMMARY_COLUMNS`].
pub(super) const CLAIMED_COLUMNS: &str = "d.id, d.entry_id, d.handler, d.attempts_total, \
     d.round_attempts, d.round_started_at_ms, e.sdk_app_id, e.command, e.client_ip, \
     e.opt_platform, e.request_time, e.received_at_ms, e.body, e.decision, e.conversation_key, \
     e.idempotency_key";

/// The extra columns of a [`super::DeliveryDetail`], after [`SUMMARY_COLUMNS`].
pub(super) const DETAIL_COLUMNS: &str = "e.client_ip, e.opt_platform, e.body, e.decision";

/// One row of `stats()`'s count: a handler's deliveries in one open state (pending or dead).
#[derive(Clone, Debug)]
pub(super) struct OpenCount {
    pub(super) handler: String,
    pub(super) state: String,
    pub(super) count: i64,
    /// The earliest arrival among them.
    pub(super) oldest_ms: Option<i64>,
}

/// The counts, ordered by handler, as one [`HandlerStats`] per handler. A handler with
/// nothing pending or dead is left out: readers count it as zero.
pub(super) fn per_handler(counts: Vec<OpenCount>) -> Vec<HandlerStats> {
    let mut handlers: Vec<HandlerStats> = Vec::new();
    for open in counts {
        if handlers
            .last()
            .is_none_or(|last| last.handler != open.handler)
        {
            handlers.push(HandlerStats {
                handler: open.handler.clone(),
                ..HandlerStats::default()
            });
        }
        let Some(stats) = handlers.last_mut() else {
            continue;
        };
        let count = open.count.max(0) as u64;
        if open.state == DeliveryState::Pending.as_str() {
            stats.pending = count;
            stats.oldest_pending_ms = open.oldest_ms;
        } else {
            stats.dead = count;
        }
    }
    handlers
}
