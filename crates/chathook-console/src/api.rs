//! The console's API under `/api/v1`: the recent callbacks as a filtered list, as a live
//! Server-Sent Events stream and as counts per 10 seconds, and the overview.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chathook_core::callback::Outcome;
use chathook_core::extract::ApiQuery;
use chathook_core::pattern::{CommandSet, CommandShape};
use chathook_core::rejection::{ApiError, echo};
use futures_util::{Stream, StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::recent::{BUCKET_SECS, Feed, MAX_COUNT_MINUTES, Subscription};
use crate::record::{Record, rfc3339_ms, unix_ms};
use crate::wire::{MissedJson, OpenJson};
use crate::{Console, StreamOpen};

/// Records a list returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Which records a list or stream wants.
#[derive(Default)]
struct Filter {
    commands: Option<CommandSet>,
    app: Option<String>,
    outcomes: Option<Vec<Outcome>>,
    since_ms: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// The filters as the query string gives them: which parameters there are is the
/// extractor's to check (an unknown or repeated one is refused), what each says is
/// [`Filter::parse`]'s. An empty value (a form's empty field) means no filter.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterQuery {
    command: Option<String>,
    app: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `/api/v1/callbacks/counts`'s one parameter.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountsQuery {
    minutes: Option<String>,
}

/// `value` trimmed, `None` when that leaves nothing.
fn given(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

impl Filter {
    fn parse(query: &FilterQuery, now: SystemTime) -> Result<Self, ApiError> {
        let mut filter = Filter::default();
        if let Some(value) = given(&query.command) {
            let patterns: Vec<&str> = value.split(',').map(str::trim).collect();
            let set = CommandSet::parse(&patterns).map_err(|error| {
                ApiError::bad_request(format!("command {}: {error}", echo(value)))
            })?;
            filter.commands = Some(set);
        }
        filter.app = given(&query.app).map(str::to_owned);
        if let Some(value) = given(&query.outcome) {
            filter.outcomes = Some(parse_outcomes(value)?);
        }
        if let Some(value) = given(&query.since) {
            filter.since_ms = Some(parse_since(value, now)?);
        }
        if let Some(value) = given(&query.after) {
            filter.after = Some(parse_number("after", value)?);
        }
        if let Some(value) = given(&query.limit) {
            let limit = parse_number("limit", value)?;
            if limit == 0 {
                return Err(ApiError::bad_request("limit must be at least 1"));
            }
            filter.limit = Some(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(filter)
    }

    fn matches(&self, record: &Record) -> bool {
        if self.after.is_some_and(|after| record.id() <= after)
            || self.since_ms.is_some_and(|since| record.unix_ms() < since)
        {
            return false;
        }
        if let Some(outcomes) = &self.outcomes
            && !outcomes.contains(&record.outcome())
        {
            return false;
        }
        if let Some(app) = &self.app {
            let by_name = record.app() == Some(app.as_str());
            let by_id = record.sdk_app_id().is_some_and(|id| id.to_string() == *app);
            if !by_name && !by_id {
                return false;
            }
        }
        match (&self.commands, record.command(), record.kind()) {
            (None, _, _) => true,
            (Some(commands), Some(command), Some(kind)) => commands
                .selecting(&CommandShape::named(command, kind))
                .is_some(),
            (Some(_), _, _) => false,
        }
    }
}

fn parse_number(name: &str, value: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{name} must be a non-negative integer, not {:?}",
            echo(value)
        ))
    })
}

fn parse_outcomes(value: &str) -> Result<Vec<Outcome>, ApiError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(|word| {
            Outcome::ALL
                .into_iter()
                .find(|outcome| outcome.as_str() == word)
                .ok_or_else(|| {
                    let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                    ApiError::bad_request(format!(
                        "outcome {:?} is not one of {}",
                        echo(word),
                        known.join(", ")
                    ))
                })
        })
        .collect()
}

/// `since` as Unix milliseconds: RFC 3339, Unix seconds or milliseconds, or an age such as
/// `30s`, `5m`, `2h`.
fn parse_since(value: &str, now: SystemTime) -> Result<u64, ApiError> {
    let now_ms = unix_ms(now);
    if let Ok(number) = value.parse::<u64>() {
        // Unix seconds stay below 10^11 until the year 5138.
        return Ok(if number >= 100_000_000_000 {
            number
        } else {
            number.saturating_mul(1000)
        });
    }
    let age = value.char_indices().last().and_then(|(at, unit)| {
        let amount: u64 = value[..at].parse().ok()?;
        let unit_ms = match unit {
            's' => 1000,
            'm' => 60_000,
            'h' => 3_600_000,
            _ => return None,
        };
        Some(amount.saturating_mul(unit_ms))
    });
    if let Some(age) = age {
        return Ok(now_ms.saturating_sub(age));
    }
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|time| (time.unix_timestamp_nanos() / 1_000_000).max(0) as u64)
        .map_err(|_| {
            ApiError::bad_request(format!(
                "since {:?} is not an RFC 3339 time (2026-12-01T07:30:00Z), Unix seconds or \
                 milliseconds, or an age such as 30s, 5m or 2h",
                echo(value)
            ))
        })
}

pub(crate) async fn list(
    State(console): State<Arc<Console>>,
    ApiQuery(query): ApiQuery<FilterQuery>,
) -> Result<Response, ApiError> {
    let filter = Filter::parse(&query, SystemTime::now())?;
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT);
    let (newest_first, last_id) = console
        .recent
        .newest(limit, |record| filter.matches(record));
    // A struct, not a `json!` value, so each record keeps its fields in their order.
    #[derive(serde::Serialize)]
    struct Listed<'a> {
        recent: usize,
        capture_bodies: bool,
        last_id: u64,
        callbacks: Vec<&'a Record>,
    }
    let newest_first: Vec<&Record> = newest_first.iter().map(|record| &**record).collect();
    let listed = Listed {
        recent: console.recent.capacity(),
        capture_bodies: console.recent.captures_bodies(),
        last_id,
        callbacks: newest_first,
    };
    Ok(axum::Json(listed).into_response())
}

pub(crate) async fn overview(State(console): State<Arc<Console>>) -> Response {
    axum::Json(console.overview.clone()).into_response()
}

pub(crate) async fn counts(
    State(console): State<Arc<Console>>,
    ApiQuery(query): ApiQuery<CountsQuery>,
) -> Result<Response, ApiError> {
    let mut minutes = 15;
    if let Some(value) = given(&query.minutes) {
        minutes = parse_number("minutes", value)?;
        if !(1..=MAX_COUNT_MINUTES).contains(&minutes) {
            return Err(ApiError::bad_request(format!(
                "minutes must be between 1 and {MAX_COUNT_MINUTES}, not {minutes}"
            )));
        }
    }
    let buckets: Vec<Value> = console
        .recent
        .counts(minutes, SystemTime::now())
        .iter()
        .map(|bucket| {
            let outcomes: serde_json::Map<String, Value> = Outcome::ALL
                .iter()
                .zip(bucket.outcomes)
                .filter(|(_, count)| *count > 0)
                .map(|(outcome, count)| (outcome.as_str().to_owned(), count.into()))
                .collect();
            let reasons: serde_json::Map<String, Value> = bucket
                .reasons
                .iter()
                .map(|(reason, count)| ((*reason).to_owned(), (*count).into()))
                .collect();
            json!({
                "start": rfc3339_ms(bucket.start_secs * 1000),
                "start_ms": bucket.start_secs * 1000,
                "total": bucket.total(),
                "outcomes": outcomes,
                "reasons": reasons,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "bucket_secs": BUCKET_SECS, "buckets": buckets })).into_response())
}

/// The live stream: `open` with the last id before it, the buffered records after `after`,
/// then each matching callback as it is answered, and `missed` when this reader fell so far
/// behind that records were dropped for it.
pub(crate) async fn live(
    State(console): State<Arc<Console>>,
    ApiQuery(query): ApiQuery<FilterQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut filter = Filter::parse(&query, SystemTime::now())?;
    if filter.limit.is_some() {
        return Err(ApiError::bad_request(
            "limit applies to the list, not to the stream",
        ));
    }
    let Subscription {
        receiver,
        backlog,
        last_id,
        gone,
    } = console.recent.subscribe(filter.after.take());
    let open = Event::default()
        .event("open")
        .data(to_json(&OpenJson { last_id }));
    let mut first = vec![open];
    if gone > 0 {
        console.metrics.missed.inc_by(gone);
        first.push(missed_event(gone));
    }
    let filter = Arc::new(filter);
    // Serialized as the reader takes them, not all at once.
    let backlog = {
        let filter = Arc::clone(&filter);
        stream::iter(backlog).filter_map(move |record| {
            let event = filter
                .matches(&record)
                .then(|| callback_event("callback", &record));
            std::future::ready(event)
        })
    };
    let opened = StreamOpen::new(&console.metrics.streams);
    let state = Live {
        receiver,
        filter,
        console: Arc::clone(&console),
        _opened: opened,
    };
    let live = stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((event, state))
    });
    let events = stream::iter(first).chain(backlog).chain(live).map(Ok);
    let keep_alive = KeepAlive::new().interval(console.keep_alive);
    Ok(Sse::new(events).keep_alive(keep_alive))
}

struct Live {
    receiver: tokio::sync::broadcast::Receiver<Feed>,
    filter: Arc<Filter>,
    console: Arc<Console>,
    /// Counts the stream as open until it ends.
    _opened: StreamOpen,
}

impl Live {
    async fn next(&mut self) -> Option<Event> {
        loop {
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                () = self.console.shutdown.cancelled() => return None,
            };
            match received {
                Ok(Feed::New(record)) if self.filter.matches(&record) => {
                    return Some(callback_event("callback", &record));
                }
                Ok(Feed::Update(record)) if self.filter.matches(&record) => {
                    return Some(callback_event("update", &record));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    self.console.metrics.missed.inc_by(missed);
                    return Some(missed_event(missed));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn missed_event(missed: u64) -> Event {
    Event::default()
        .event("missed")
        .data(to_json(&MissedJson { missed }))
}

/// A record as a `callback` event (with its id as the event's, for resuming) or an `update`
/// (the same record again once its last handler ended; no event id, which only moves on).
fn callback_event(name: &'static str, record: &Record) -> Event {
    let event = Event::default().event(name).data(to_json(&record.json()));
    match name {
        "callback" => event.id(record.id().to_string()),
        _ => event,
    }
}

/// An event's data: the console's wire types hold only strings, numbers and lists.
fn to_json(data: &impl serde::Serialize) -> String {
    serde_json::to_string(data).expect("the console's JSON serializes")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn since_takes_times_unix_numbers_and_ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_since("1799999990", now).unwrap(), 1_799_999_990_000);
        assert_eq!(
            parse_since("1799999990123", now).unwrap(),
            1_799_999_990_123
        );
        assert_eq!(parse_since("5m", now).unwrap(), 1_799_999_700_000);
        assert_eq!(
            parse_since("2026-12-01T07:30:00.5Z", now).unwrap(),
            1_796_110_200_500
        );
        let error = parse_since("yesterday", now)
            .unwrap_err()
            .rejection()
            .to_string();
        assert!(error.contains("RFC 3339"), "{error}");
    }

    #[test]
    fn outcomes_must_be_known() {
        assert_eq!(
            parse_outcomes("ok, rejected").unwrap(),
            [Outcome::Ok, Outcome::Rejected]
        );
        let error = parse_outcomes("ok,nope")
            .unwrap_err()
            .rejection()
            .to_string();
        assert!(
            error.contains("\"nope\" is not one of ok, fallback"),
            "{error}"
        );
    }
}
