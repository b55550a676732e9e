//! The operator's view of what Chat sends: the recent callbacks under `/api/v1/callbacks`
//! (a filtered list, a live Server-Sent Events stream, counts per 10 seconds), an overview
//! (apps, handlers, routing table) under `/api/v1/overview`, and the `/console` page that shows
//! them. The API sits behind the `[api]` bearer token like the handlers' routes; the page itself
//! holds nothing secret and asks for the token.

pub mod recent;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::callback::{Exchange, Outcome};
use crate::error::StartupError;
use crate::extension::{Extension, ServiceFacts};
use crate::pattern::{CommandSet, CommandShape};
use crate::registry::RoutingRow;
use crate::rejection::{ApiError, echo};
use crate::tap::{HandlerFinished, Tap};
use recent::{
    BUCKET_SECS, Feed, MAX_COUNT_MINUTES, Recent, Record, Subscription, rfc3339_ms, unix_ms,
};

/// Records a list returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// How often an idle stream sends a comment, so proxies keep it open; more often when
/// `server.idle_timeout_ms` is shorter, which would otherwise close a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The console's state: the buffer, what the overview shows, and the signal that ends the
/// live streams at shutdown.
pub struct Console {
    recent: Arc<Recent>,
    overview: Value,
    metrics: ConsoleMetrics,
    shutdown: CancellationToken,
    keep_alive: Duration,
}

/// The console's own metrics, registered with the service's under the `chathook_` prefix.
#[derive(Clone, Debug, Default)]
pub struct ConsoleMetrics {
    streams: Gauge,
    missed: Counter,
}

impl ConsoleMetrics {
    /// Registers them in `registry`.
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "console_streams",
            "Readers of /api/v1/callbacks/stream connected now",
            metrics.streams.clone(),
        );
        registry.register(
            "console_stream_missed",
            "Records a stream reader missed because it fell behind (callbacks are never slowed \
             for a reader)",
            metrics.missed.clone(),
        );
        metrics
    }
}

/// Counts an open stream until dropped.
struct StreamOpen(Gauge);

impl StreamOpen {
    fn new(streams: &Gauge) -> Self {
        streams.inc();
        Self(streams.clone())
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the overview lists besides the buffer's settings.
pub struct OverviewFacts<'a> {
    /// Configured apps: name and SdkAppid.
    pub apps: Vec<(&'a str, u64)>,
    /// The enabled (built) handlers.
    pub handlers: Vec<&'static str>,
    /// The routing table, as `chathook handlers` prints it.
    pub routes: Vec<RoutingRow>,
}

impl Console {
    /// The console over `recent`; `idle_timeout` is the connections' (`server.idle_timeout_ms`).
    pub fn new(
        recent: Arc<Recent>,
        facts: OverviewFacts<'_>,
        metrics: ConsoleMetrics,
        idle_timeout: Duration,
    ) -> Self {
        let routes: Vec<Value> = facts.routes.iter().map(route_json).collect();
        let overview = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "recent": recent.capacity(),
            "capture_bodies": recent.captures_bodies(),
            "apps": facts.apps.iter().map(|(name, id)| json!({"name": name, "sdk_app_id": id})).collect::<Vec<_>>(),
            "handlers": facts.handlers.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
            "routes": routes,
        });
        Self {
            recent,
            overview,
            metrics,
            shutdown: CancellationToken::new(),
            keep_alive: KEEP_ALIVE
                .min(idle_timeout / 2)
                .max(Duration::from_millis(1)),
        }
    }

    /// The buffer the server records into.
    pub fn recent(&self) -> &Arc<Recent> {
        &self.recent
    }

    /// Ends every live stream: called when the server starts shutting down, since a stream
    /// would otherwise hold the shutdown until its deadline.
    pub fn close_streams(&self) {
        self.shutdown.cancel();
    }

    /// The routes under `/api/v1`, to be put behind the bearer check.
    pub fn api_routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/callbacks", get(list))
            .route("/callbacks/stream", get(live))
            .route("/callbacks/counts", get(counts))
            .route("/overview", get(overview))
            .with_state(Arc::clone(self))
    }
}

/// What the console's addresses answer while `[console] recent = 0`: that the buffer is off,
/// rather than that nothing is there.
async fn buffer_off() -> ApiError {
    ApiError::not_found(
        "the recent-callbacks buffer is off ([console] recent = 0): set console.recent (e.g. \
         1000) to keep callbacks for /api/v1/callbacks, chathook tail and /console",
    )
}

/// The console's API addresses while the buffer is off.
pub fn off_routes() -> Router {
    Router::new()
        .route("/callbacks", get(buffer_off))
        .route("/callbacks/stream", get(buffer_off))
        .route("/callbacks/counts", get(buffer_off))
        .route("/overview", get(buffer_off))
}

/// `/console` while the buffer is off.
pub fn page_off_routes() -> Router {
    Router::new()
        .route("/console", get(buffer_off))
        .route("/console/", get(buffer_off))
}

/// The `/console` page and its files, which need no token: the page asks for it.
pub fn page_routes() -> Router {
    Router::new()
        .route(
            "/console",
            get(|| page(PAGE_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/console/",
            get(|| page(PAGE_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/console/console.js",
            get(|| page(PAGE_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/console.css",
            get(|| page(PAGE_CSS, "text/css; charset=utf-8")),
        )
}

const PAGE_HTML: &str = include_str!("../console/index.html");
const PAGE_JS: &str = include_str!("../console/console.js");
const PAGE_CSS: &str = include_str!("../console/console.css");

async fn page(text: &'static str, content_type: &'static str) -> Response {
    // The page loads only its own files and talks only to this server; nothing may frame it.
    const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' \
                          'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("content-security-policy"),
                HeaderValue::from_static(POLICY),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        text,
    )
        .into_response()
}

fn route_json(row: &RoutingRow) -> Value {
    let enabled = row.handlers.iter().any(|handler| handler.role.is_some());
    let decider = row
        .handlers
        .iter()
        .find(|handler| handler.role == Some(crate::registry::Role::Decides))
        .map(|handler| handler.name);
    let handlers: Vec<Value> = row
        .handlers
        .iter()
        .map(|handler| {
            json!({
                "name": handler.name,
                "role": handler.role.map(crate::registry::Role::as_str),
                "source": handler.source.to_string(),
            })
        })
        .collect();
    json!({
        "command": row.command,
        "open": row.open,
        "kind": row.kind.as_str(),
        "enabled": enabled,
        "decider": decider,
        "handlers": handlers,
    })
}

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

const FILTER_PARAMETERS: [&str; 6] = ["command", "app", "outcome", "since", "after", "limit"];

impl Filter {
    fn parse(query: &BTreeMap<String, String>, now: SystemTime) -> Result<Self, ApiError> {
        let mut filter = Filter::default();
        for (name, value) in query {
            let value = value.trim();
            // An empty field of a form means no filter.
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "command" => {
                    let patterns: Vec<&str> = value.split(',').map(str::trim).collect();
                    let set = CommandSet::parse(&patterns).map_err(|error| {
                        ApiError::bad_request(format!("command {}: {error}", echo(value)))
                    })?;
                    filter.commands = Some(set);
                }
                "app" => filter.app = Some(value.to_owned()),
                "outcome" => filter.outcomes = Some(parse_outcomes(value)?),
                "since" => filter.since_ms = Some(parse_since(value, now)?),
                "after" => filter.after = Some(parse_number("after", value)?),
                "limit" => {
                    let limit = parse_number("limit", value)?;
                    if limit == 0 {
                        return Err(ApiError::bad_request("limit must be at least 1"));
                    }
                    filter.limit = Some(usize::try_from(limit).unwrap_or(usize::MAX));
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter {:?}: the filters are {}",
                        echo(other),
                        FILTER_PARAMETERS.join(", ")
                    )));
                }
            }
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

async fn list(
    State(console): State<Arc<Console>>,
    Query(query): Query<BTreeMap<String, String>>,
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

async fn overview(State(console): State<Arc<Console>>) -> Response {
    axum::Json(console.overview.clone()).into_response()
}

async fn counts(
    State(console): State<Arc<Console>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut minutes = 15;
    for (name, value) in &query {
        match name.as_str() {
            "minutes" => {
                minutes = parse_number("minutes", value.trim())?;
                if !(1..=MAX_COUNT_MINUTES).contains(&minutes) {
                    return Err(ApiError::bad_request(format!(
                        "minutes must be between 1 and {MAX_COUNT_MINUTES}, not {minutes}"
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {:?}: the only one is minutes",
                    echo(other)
                )));
            }
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
async fn live(
    State(console): State<Arc<Console>>,
    Query(query): Query<BTreeMap<String, String>>,
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
        .data(json!({ "last_id": last_id }).to_string());
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
        .data(json!({ "missed": missed }).to_string())
}

/// A record as a `callback` event (with its id as the event's, for resuming) or an `update`
/// (the same record again once its last handler ended; no event id, which only moves on).
fn callback_event(name: &'static str, record: &Record) -> Event {
    let data = serde_json::to_string(record).expect("a record serializes");
    let event = Event::default().event(name).data(data);
    match name {
        "callback" => event.id(record.id().to_string()),
        _ => event,
    }
}

#[cfg(test)]
mod tests {
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

/// The console's tap: every answered callback into the buffer, and each late handler result
/// into its record.
struct ConsoleTap {
    recent: Arc<Recent>,
}

impl Tap for ConsoleTap {
    fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        self.recent.handler_finished(finished.calls);
    }

    fn answered(&self, exchange: &Exchange<'_>) {
        let query = exchange.query;
        // What the caller says of its client counts once the request is authenticated.
        let authenticated = query.filter(|_| exchange.command.is_some());
        let facts = recent::Facts {
            arrived: Some(exchange.arrived),
            sdk_app_id: exchange.sdk_app_id,
            app: exchange.app.cloned(),
            command: exchange.command,
            // A documented or routed command's own name: nothing to copy.
            static_command: exchange
                .label
                .filter(|label| Some(*label) == exchange.command),
            request_time: query
                .and_then(|query| query.request_time.as_deref())
                .and_then(|time| time.trim().parse().ok()),
            client_ip: authenticated.and_then(|query| query.client_ip.as_deref()),
            opt_platform: authenticated.and_then(|query| query.opt_platform.as_deref()),
            body_bytes: exchange.body.map(|body| body.len()),
            body: exchange.body,
            handlers: exchange.handlers.cloned(),
        };
        let answered = recent::Answered {
            outcome: exchange.outcome,
            status: exchange.status().as_u16(),
            latency: exchange.latency,
            rejection: exchange
                .rejection()
                .filter(|_| exchange.outcome == Outcome::Rejected)
                .cloned(),
        };
        self.recent.record(facts, answered);
    }
}

crate::register_extension! {
    name: "console",
    build: build,
}

/// The console, when `[console] recent` keeps callbacks and `[api]` has a token to read them;
/// with `recent = 0`, addresses that say the buffer is off.
fn build(facts: &mut ServiceFacts<'_>) -> Result<Option<Extension>, StartupError> {
    let config = facts.config;
    let settings = &config.console;
    let has_tokens = !config.api.tokens.is_empty();
    let mut extension = Extension::new("console");
    if settings.recent == 0 {
        extension.api_routes = has_tokens.then(off_routes);
        extension.routes = Some(page_off_routes());
        return Ok(Some(extension));
    }
    if !has_tokens {
        tracing::warn!(
            "[api] has no tokens: the recent callbacks (/api/v1/callbacks, chathook tail, \
             /console) are not kept or served; set api.tokens, or console.recent = 0 to \
             silence this"
        );
        return Ok(None);
    }
    let recent = Arc::new(Recent::new(
        settings.recent,
        settings.capture_bodies.then_some(settings.body_bytes),
    ));
    tracing::info!(
        recent = settings.recent,
        capture_bodies = settings.capture_bodies,
        "keeping the last {} callbacks{} for /api/v1/callbacks, chathook tail and /console",
        settings.recent,
        if settings.capture_bodies {
            format!(" with up to {} bytes of each body", settings.body_bytes)
        } else {
            String::new()
        }
    );
    let overview = OverviewFacts {
        apps: config
            .apps
            .iter()
            .map(|(name, app)| (name.as_str(), app.sdk_app_id))
            .collect(),
        handlers: facts.handlers.clone(),
        routes: facts.routing_table.to_vec(),
    };
    let metrics = ConsoleMetrics::register(facts.metrics);
    let console = Arc::new(Console::new(
        Arc::clone(&recent),
        overview,
        metrics,
        config.server.idle_timeout(),
    ));
    extension.tap = Some(Arc::new(ConsoleTap { recent }));
    extension.api_routes = Some(console.api_routes());
    extension.routes = Some(page_routes());
    extension.on_shutdown = Some(Box::new(move || console.close_streams()));
    Ok(Some(extension))
}
