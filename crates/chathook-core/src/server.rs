//! The HTTP service: the callback endpoint, health, readiness, metrics and the handlers' API.
//!
//! Checks run cheapest first: source address, app id, signature, command, body size, body
//! syntax; only then does a handler see the callback, under a deadline. The connections
//! under it are served by [`listener`], which bounds them.

mod listener;
mod log_budget;

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::auth::{App, Apps, CallbackQuery, ReplayCache, Secret, Sources, unix_now};
use crate::body_check::check_body;
use crate::config::{Config, Fallback, Unrouted};
use crate::console::recent::{
    Answered, Facts, HandlerSlot, HandlerSlots, Recent, whole_micros_as_ms,
};
use crate::console::{Console, OverviewFacts};
use crate::error::StartupError;
use crate::handler::{Callback, DecidedBy, Decision, ErrorChain, HandlerError};
use crate::metrics::{HandlerResult, Metrics, Outcome, command_label};
use crate::protocol::{CallbackKind, Reply};
use crate::registry::{Plan, Registry, Role, Route, Target};
use crate::rejection::{ApiError, RefusalReason, Rejection, echo, echo_at_most};
use listener::{Connection, Limits};
use log_budget::LogBudget;

/// How long `/readyz` waits for one handler's dependency check.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// A built chathook service: handlers constructed, ready to serve.
pub struct Chathook {
    state: Arc<ServiceState>,
    api: Option<Router>,
    console: Option<Arc<Console>>,
    /// `[console] recent = 0`: its addresses say it is off.
    console_off: bool,
    callback_path: String,
}

struct ServiceState {
    apps: Apps,
    registry: Registry,
    /// Shared with handler tasks, which count their own results.
    metrics: Arc<Metrics>,
    max_skew_secs: u64,
    sources: Sources,
    replay_cache: Option<ReplayCache>,
    body_limit: usize,
    body_read_timeout: Duration,
    limits: Limits,
    /// Refusal lines per second: a flood of bad requests must not flood the log.
    log_budget: LogBudget,
    handler_timeout: Duration,
    unrouted: Unrouted,
    /// `log.callbacks`: a line for every answered callback, not only for problems.
    log_callbacks: bool,
    /// Handler tasks, which outlive their request if the client hangs up; shutdown waits.
    tasks: TaskTracker,
    /// `[console] recent`: every callback is recorded here, when the console is served.
    recent: Option<Arc<Recent>>,
}

impl Chathook {
    /// Validates `config`, builds every enabled handler and assembles the routes.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        config.validate()?;
        let plan = Plan::new(&config)?;
        for warning in plan.warnings() {
            tracing::warn!("{warning}");
        }
        let routing_table = plan.routing_table();
        let registry = plan.build().await?;
        let mut metrics = Metrics::default();
        for (_, handler) in registry.handlers() {
            handler.register_metrics(metrics.handler_registry());
        }
        metrics.start_at_zero(registry.routes());
        let metrics = Arc::new(metrics);
        let apps = Apps::new(config.apps.iter().map(|(name, app)| {
            if app.allow_unsigned {
                tracing::warn!(
                    app = %name,
                    sdk_app_id = app.sdk_app_id,
                    "app accepts unsigned callbacks (allow_unsigned = true); never do this in production"
                );
            }
            App::new(name.clone(), app.sdk_app_id, app.tokens.clone())
        }));
        if config.apps.is_empty() {
            tracing::warn!("no apps configured: every callback will be refused with 403");
        }
        let console = console(&config, &registry, routing_table, &metrics);
        let console_off = config.console.recent == 0;
        let api = api_router(&registry, &config.api.tokens, console.as_ref(), console_off)?;
        let state = ServiceState {
            recent: console.as_ref().map(|console| Arc::clone(console.recent())),
            apps,
            registry,
            metrics,
            max_skew_secs: config.auth.max_clock_skew_secs,
            sources: Sources::new(
                config.auth.allowed_sources.clone(),
                config.auth.trusted_proxies.clone(),
            ),
            replay_cache: config
                .auth
                .replay_cache
                .then(|| ReplayCache::new(config.auth.replay_cache_entries)),
            body_limit: config.server.body_limit_bytes,
            body_read_timeout: config.server.body_read_timeout(),
            limits: Limits::new(&config.server),
            log_budget: LogBudget::new(config.log.rejections_per_second),
            handler_timeout: config.dispatch.handler_timeout(),
            unrouted: config.dispatch.unrouted,
            log_callbacks: config.log.callbacks,
            tasks: TaskTracker::new(),
        };
        Ok(Self {
            state: Arc::new(state),
            api,
            console,
            console_off,
            callback_path: config.server.callback_path,
        })
    }

    /// The whole HTTP surface as an axum router.
    pub fn router(&self) -> Router {
        let state = Arc::clone(&self.state);
        let built_in = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(Arc::clone(&state));
        let built_in = match &self.api {
            Some(api) => built_in.nest("/api/v1", api.clone()),
            None => built_in,
        };
        let built_in = match (&self.console, self.console_off) {
            (Some(_), _) => built_in.merge(crate::console::page_routes()),
            (None, true) => built_in.merge(crate::console::page_off_routes()),
            (None, false) => built_in,
        };
        // axum refuses in plain text (a wrong method on /healthz, a path parameter that is
        // not UTF-8), and so may a handler's API. The callback route always answers in JSON
        // and counts itself, so it does not pay for this on every callback.
        let built_in = built_in.layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            json_refusals,
        ));
        Router::new()
            .route(
                &self.callback_path,
                post(receive).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .with_state(state)
            .merge(built_in)
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting, lets open
    /// requests finish within `server.shutdown_timeout_ms`, drops the connections still open,
    /// and waits (within the handler deadline) for handlers whose client is gone.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            addr = %listener.local_addr()?,
            callback_path = %self.callback_path,
            handlers = self.state.registry.handlers().len(),
            "listening"
        );
        let router = self.router();
        let limits = self.state.limits.clone();
        // Live streams never end by themselves: they end as shutdown starts, so open
        // requests can finish within the shutdown deadline.
        let console = self.console.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(console) = console {
                console.close_streams();
            }
        };
        listener::serve(Arc::clone(&self.state), router, listener, limits, shutdown).await;
        // Handlers whose client hung up are still running; each is bounded by its deadline.
        let tasks = &self.state.tasks;
        tasks.close();
        // Observers may run up to twice the handler deadline (see `call`).
        if tokio::time::timeout(self.state.handler_timeout * 2, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = tasks.len(),
                "handlers still running at shutdown were abandoned"
            );
        }
        tracing::info!("stopped; in-flight callbacks finished");
        Ok(())
    }
}

/// The console, when `[console] recent` keeps callbacks and `[api]` has a token to read them.
fn console(
    config: &Config,
    registry: &Registry,
    routes: Vec<crate::registry::RoutingRow>,
    metrics: &Arc<Metrics>,
) -> Option<Arc<Console>> {
    let settings = &config.console;
    if settings.recent == 0 {
        return None;
    }
    if config.api.tokens.is_empty() {
        tracing::warn!(
            "[api] has no tokens: the recent callbacks (/api/v1/callbacks, chathook tail, \
             /console) are not kept or served; set api.tokens, or console.recent = 0 to \
             silence this"
        );
        return None;
    }
    let recent = Recent::new(
        settings.recent,
        settings.capture_bodies.then_some(settings.body_bytes),
    );
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
    let facts = OverviewFacts {
        apps: config
            .apps
            .iter()
            .map(|(name, app)| (name.as_str(), app.sdk_app_id))
            .collect(),
        handlers: registry.handlers().iter().map(|(name, _)| *name).collect(),
        routes,
    };
    Some(Arc::new(Console::new(
        Arc::new(recent),
        facts,
        Arc::clone(metrics),
        config.server.idle_timeout(),
    )))
}

/// Merges the console's and the handlers' API routes behind the bearer check, or `None` when
/// there are no routes or no `[api]` token (then the API is not served at all).
fn api_router(
    registry: &Registry,
    tokens: &[Secret],
    console: Option<&Arc<Console>>,
    console_off: bool,
) -> Result<Option<Router>, StartupError> {
    let mut merged: Option<Router> = match console {
        Some(console) => Some(console.api_routes()),
        None if console_off && !tokens.is_empty() => Some(crate::console::off_routes()),
        None => None,
    };
    for (name, handler) in registry.handlers() {
        let Some(routes) = handler.api_routes() else {
            continue;
        };
        if tokens.is_empty() {
            tracing::warn!(
                handler = name,
                "handler has API routes but [api] has no tokens: API not served"
            );
            continue;
        }
        let base = merged.take().unwrap_or_default();
        // axum panics on overlapping routes; turn that into an error that names the handler.
        let merged_routes = std::panic::catch_unwind(AssertUnwindSafe(|| base.merge(routes)))
            .map_err(|_| StartupError::ApiRoutesOverlap { handler: name })?;
        merged = Some(merged_routes);
    }
    Ok(merged.map(|api| {
        api.layer(middleware::from_fn_with_state(
            Arc::new(tokens.to_vec()),
            require_bearer,
        ))
    }))
}

async fn require_bearer(
    State(tokens): State<Arc<Vec<Secret>>>,
    request: Request,
    next: Next,
) -> Response {
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| {
            let (scheme, token) = value.as_bytes().split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
        });
    // Every token is compared, whatever matches, so timing reveals nothing.
    let authorized = presented.is_some_and(|presented| {
        tokens
            .iter()
            .fold(false, |found, token| found | token.matches(presented))
    });
    if authorized {
        return next.run(request).await;
    }
    let refusal = if presented.is_some() {
        Rejection::ApiTokenInvalid
    } else {
        Rejection::ApiTokenMissing
    };
    let mut response = ApiError::from_rejection(refusal).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn receive(State(state): State<Arc<ServiceState>>, request: Request) -> Response {
    state.receive(request).await
}

/// How a callback ended, for the log and the metrics.
struct Answer {
    response: Response,
    outcome: Outcome,
}

/// What is known of a callback so far: the fields of its log line, filled in as the checks
/// pass, so that a refusal still says which app and command it was about.
#[derive(Default)]
struct Trail<'a> {
    sdk_app_id: Option<u64>,
    app: Option<&'a str>,
    command: Option<Cow<'a, str>>,
    /// The metrics label, set once the command is known.
    label: Option<&'static str>,
    /// The handlers serving it, comma-separated.
    handlers: Option<&'a str>,
    /// What only the console's record needs, filled in only while it records.
    recorded: Recorded<'a>,
}

/// What a console record holds beyond the log line's fields.
#[derive(Default)]
struct Recorded<'a> {
    app: Option<Arc<str>>,
    request_time: Option<i64>,
    client_ip: Option<Cow<'a, str>>,
    opt_platform: Option<Cow<'a, str>>,
    body_bytes: Option<usize>,
    /// Only with `console.capture_bodies`.
    body: Option<Bytes>,
    handlers: Option<Arc<HandlerSlots>>,
}

impl ServiceState {
    /// One callback, start to finish: checks, dispatch, then one count and at most one log
    /// line. A span is opened only around handler work; the line itself carries every field,
    /// which costs far less per callback than a span recorded field by field.
    async fn receive(&self, request: Request) -> Response {
        let started = Instant::now();
        let arrived = self.recent.as_ref().map(|_| std::time::SystemTime::now());
        let _in_flight = self.metrics.in_flight();
        let (parts, body) = request.into_parts();
        let mut trail = Trail::default();
        let result = self.accept(&parts, body, &mut trail).await;
        let latency = started.elapsed();
        let latency_ms = whole_micros_as_ms(latency);
        let Trail {
            sdk_app_id,
            app,
            command,
            label,
            handlers,
            recorded,
        } = trail;
        let mut refusal = None;
        let answer = match result {
            Ok(answer) if !self.log_callbacks => answer,
            Ok(answer) => {
                tracing::info!(
                    command = command.as_deref(),
                    sdk_app_id,
                    app,
                    handler = handlers,
                    outcome = answer.outcome.as_str(),
                    status = answer.response.status().as_u16(),
                    latency_ms,
                    "callback answered"
                );
                answer
            }
            Err(rejection) => {
                if self.recent.is_some() {
                    refusal = Some(rejection.clone());
                }
                self.metrics.rejection(rejection.reason());
                if self.log_budget.allow() {
                    tracing::warn!(
                        command = command.as_deref(),
                        sdk_app_id,
                        app,
                        reason = rejection.reason(),
                        status = rejection.status().as_u16(),
                        latency_ms,
                        "callback rejected: {rejection}"
                    );
                }
                if rejection.closes_connection()
                    && let Some(connection) = parts.extensions.get::<Arc<Connection>>()
                {
                    connection.linger_before_close();
                }
                Answer {
                    response: match command.as_deref() {
                        Some(command) => rejection.response_for(command),
                        None => rejection.into_response(),
                    },
                    outcome: Outcome::Rejected,
                }
            }
        };
        if let Some(label) = label {
            self.metrics.callback(label, answer.outcome);
        }
        if let Some(recent) = &self.recent {
            let facts = Facts {
                arrived,
                sdk_app_id,
                app: recorded.app,
                command: command.as_deref(),
                // A documented or routed command's own name: nothing to copy.
                static_command: label.filter(|label| Some(*label) == command.as_deref()),
                request_time: recorded.request_time,
                client_ip: recorded.client_ip.as_deref(),
                opt_platform: recorded.opt_platform.as_deref(),
                body_bytes: recorded.body_bytes,
                body: recorded.body.as_ref(),
                handlers: recorded.handlers,
            };
            let answered = Answered {
                outcome: answer.outcome,
                status: answer.response.status().as_u16(),
                latency,
                rejection: refusal,
            };
            recent.record(facts, answered);
        }
        counted(answer.response)
    }

    /// Counts and (within the log budget) logs a refusal made outside the callback checks.
    fn refused(&self, rejection: &Rejection) {
        self.metrics.rejection(rejection.reason());
        if self.log_budget.allow() {
            tracing::warn!(
                reason = rejection.reason(),
                status = rejection.status().as_u16(),
                "request rejected: {rejection}"
            );
        }
    }

    /// Counts and logs a refusal made by the connection layer, which knows only the peer.
    fn refused_connection(&self, rejection: &Rejection, peer: std::net::SocketAddr) {
        self.metrics.rejection(rejection.reason());
        if self.log_budget.allow() {
            tracing::warn!(
                %peer,
                reason = rejection.reason(),
                status = rejection.status().as_u16(),
                "connection refused: {rejection}"
            );
        }
    }

    fn accept_failed(&self, error: &std::io::Error) {
        self.metrics.connection_cut("accept_failed");
        if self.log_budget.allow() {
            tracing::error!(
                %error,
                "cannot accept a connection; if it says too many open files, raise the file \
                 limit (ulimit -n) or lower server.max_connections"
            );
        }
    }

    fn connections_dropped_at_shutdown(&self, dropped: usize, deadline: Duration) {
        for _ in 0..dropped {
            self.metrics.connection_cut("shutdown_deadline");
        }
        tracing::warn!(
            dropped,
            "shutdown deadline of {} ms passed: open connections dropped",
            deadline.as_millis()
        );
    }

    /// Runs the checks in order and dispatches, noting in `trail` what each check learnt.
    async fn accept<'a>(
        &'a self,
        parts: &'a Parts,
        body: Body,
        trail: &mut Trail<'a>,
    ) -> Result<Answer, Rejection> {
        let received_at = std::time::SystemTime::now();
        if !self.sources.allows_any() {
            // Served without the connection layer (a test's router): the peer is unknown.
            let peer = parts
                .extensions
                .get::<Arc<Connection>>()
                .map(|connection| connection.peer.ip())
                .ok_or(Rejection::SourceNotAllowed(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                ))?;
            let forwarded = parts.headers.get_all("x-forwarded-for").iter();
            self.sources
                .check(peer, forwarded.map(HeaderValue::as_bytes))?;
        }
        let query = CallbackQuery::parse(parts.uri.query().unwrap_or(""))?;
        let recording = self.recent.is_some();
        if recording {
            trail.recorded.request_time = query
                .request_time
                .as_deref()
                .and_then(|time| time.trim().parse().ok());
        }
        let sdk_app_id = query.sdk_app_id()?;
        trail.sdk_app_id = Some(sdk_app_id);
        let app = self.apps.get(sdk_app_id)?;
        trail.app = Some(&app.name);
        if recording {
            trail.recorded.app = Some(Arc::clone(&app.name));
        }
        app.verify(&query, unix_now(), self.max_skew_secs)?;

        let command = query.command.as_deref().ok_or(Rejection::CommandMissing)?;
        let route = self.registry.route(command);
        trail.label = Some(command_label(command, route));
        trail.command = query.command.clone();
        if recording {
            trail.recorded.client_ip = query.client_ip.clone();
            trail.recorded.opt_platform = query.opt_platform.clone();
        }

        let body = self.read_body(&parts.headers, body).await?;
        if let Some(recent) = &self.recent {
            trail.recorded.body_bytes = Some(body.len());
            if recent.captures_bodies() {
                trail.recorded.body = Some(body.clone());
            }
        }
        check_body(&body, command)?;
        if let Some(cache) = &self.replay_cache
            && let (Some(time), Some(sign)) = (&query.request_time, &query.sign)
            && app.requires_signature()
        {
            let time = crate::auth::parse_request_time(time)?;
            cache.check(
                sdk_app_id,
                time,
                sign,
                &body,
                unix_now(),
                self.max_skew_secs,
            )?;
        }

        let Some(route) = route else {
            return self.unrouted(command);
        };
        trail.handlers = Some(&route.handler_names);
        let slots = recording.then(|| handler_slots(route));
        trail.recorded.handlers = slots.clone();
        let slots = slots.as_ref();
        let callback = Callback::new(sdk_app_id, route.command_for(command), body)
            .with_client(
                query.client_ip.map(Cow::into_owned),
                query.opt_platform.map(Cow::into_owned),
            )
            .with_arrival(query.request_time.map(Cow::into_owned), received_at);
        let app = &*app.name;
        match route.kind {
            CallbackKind::After => self.run_all(route, callback, app, slots).await,
            CallbackKind::Before | CallbackKind::ReplyBearing => {
                self.decide(route, callback, app, slots).await
            }
        }
    }

    /// The answer to a command no handler decides, as `dispatch.unrouted` says.
    fn unrouted(&self, command: &str) -> Result<Answer, Rejection> {
        match self.unrouted {
            Unrouted::Accept => Ok(Answer {
                response: ok_response(Reply::ok().completed_for(command)),
                outcome: Outcome::Unrouted,
            }),
            Unrouted::Reject => Err(Rejection::Unrouted(echo(command))),
        }
    }

    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Rejection> {
        let limit = self.body_limit;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(Rejection::BodyTooLarge { limit });
        }
        let collected =
            tokio::time::timeout(self.body_read_timeout, Limited::new(body, limit).collect())
                .await
                .map_err(|_| Rejection::BodyTimeout {
                    timeout_ms: self.body_read_timeout.as_millis() as u64,
                })?;
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => Err(Rejection::BodyTooLarge { limit }),
            Err(error) => {
                tracing::debug!(error = %error, "body read failed");
                Err(Rejection::BodyUnreadable)
            }
        }
    }

    /// An after-callback: every handler runs, concurrently, each under the deadline; Chat
    /// gets OK only when all of them succeeded, else 500 so the event is not taken as
    /// delivered. One handler's reply is passed on as it is.
    async fn run_all(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
        slots: Option<&Arc<HandlerSlots>>,
    ) -> Result<Answer, Rejection> {
        let command = callback.command_cow();
        let (last, firsts) = route.others.split_last().expect("a route has a handler");
        let mut running: Vec<JoinHandle<Result<Reply, Failure>>> =
            Vec::with_capacity(route.others.len());
        for target in firsts {
            // A clone shares the body's bytes.
            let call = self.call(target, Role::Runs, route, callback.clone(), app, slots);
            running.push(self.tasks.spawn(call));
        }
        running.push(
            self.tasks
                .spawn(self.call(last, Role::Runs, route, callback, app, slots)),
        );
        let single = running.len() == 1;
        let mut reply = None;
        let mut failures = Vec::new();
        for task in running {
            match task
                .await
                .unwrap_or_else(|error| Err(Failure::Panicked(panic_message(error))))
            {
                Ok(answered) => reply = single.then_some(answered),
                Err(failure) => failures.push(failure),
            }
        }
        match refusal_for(&failures) {
            None => Ok(Answer {
                response: ok_response(reply.unwrap_or_else(Reply::ok).completed_for(&command)),
                outcome: Outcome::Ok,
            }),
            Some(refusal) => refusal.answer(&command),
        }
    }

    /// A before-callback (or a reply-bearing one): the decider's reply, or what replaces it
    /// when it fails, is Chat's answer as soon as it is made; observers run alongside, get the
    /// decision, and neither change nor delay it.
    async fn decide(
        &self,
        route: &Route,
        callback: Callback,
        app: &str,
        slots: Option<&Arc<HandlerSlots>>,
    ) -> Result<Answer, Rejection> {
        let decision = (!route.others.is_empty()).then(|| watch::channel(None));
        if let Some((_, receiver)) = &decision {
            for observer in &route.others {
                let callback = callback.observing(receiver.clone());
                let call = self.call(observer, Role::Observes, route, callback, app, slots);
                // Not awaited: the tracker keeps shutdown waiting for it.
                self.tasks.spawn(call);
            }
        }
        let announce = decision.map(|(sender, _)| sender);
        let Some(decider) = &route.decider else {
            let command = callback.command();
            let answer = self.unrouted(command);
            if let Some(sender) = announce {
                let reply = match &answer {
                    Ok(_) => Reply::ok(),
                    Err(rejection) => rejection.reply(),
                };
                let reply = reply.completed_for(command);
                sender.send_replace(Some(Decision::new(reply, DecidedBy::NoDecider)));
            }
            return answer;
        };
        // The decision is made on the decider's own task, so observers get it even when the
        // client has hung up.
        let command = callback.command_cow();
        let body = callback.body().clone();
        let call = self.call(decider, Role::Decides, route, callback, app, slots);
        let (name, fallback, label, kind) =
            (decider.name, decider.fallback, route.label, route.kind);
        let metrics = Arc::clone(&self.metrics);
        let deciding = self.tasks.spawn(async move {
            let (answer, by) = match call.await {
                Ok(reply) => (Ok(reply), DecidedBy::Handler(name)),
                // Chat reads a reply-bearing command's data and has no decision to fall back
                // on: the failure is reported as an after-callback's is.
                Err(failure) if kind == CallbackKind::ReplyBearing => {
                    let refusal =
                        refusal_for(std::slice::from_ref(&failure)).expect("a failure is refused");
                    (Err(refusal), DecidedBy::Failed(name))
                }
                Err(_) => {
                    metrics.fallback(name, label, fallback);
                    let deny = fallback == Fallback::Deny;
                    let reply = crate::protocol::fallback_reply(&command, deny, &body);
                    (Ok(reply), DecidedBy::Fallback(name))
                }
            };
            let answer = answer.map(|reply| reply.completed_for(&command));
            if let Some(sender) = announce {
                let reply = match &answer {
                    Ok(reply) => reply.clone(),
                    Err(refusal) => refusal.rejection.reply().completed_for(&command),
                };
                sender.send_replace(Some(Decision::new(reply, by)));
            }
            (answer, by, command)
        });
        let (answer, by, command) = deciding.await.map_err(|_| Rejection::HandlerFailed)?;
        match answer {
            Ok(reply) => Ok(Answer {
                response: ok_response(reply),
                outcome: match by {
                    DecidedBy::Handler(_) => Outcome::Ok,
                    _ => Outcome::Fallback,
                },
            }),
            Err(refusal) => refusal.answer(&command),
        }
    }

    /// One handler's call, to be spawned: under the deadline, a panic caught, its result
    /// counted and any failure logged on the task itself, so none of it depends on the
    /// request still being there.
    fn call(
        &self,
        target: &Target,
        role: Role,
        route: &Route,
        callback: Callback,
        app: &str,
        slots: Option<&Arc<HandlerSlots>>,
    ) -> impl Future<Output = Result<Reply, Failure>> + Send + 'static {
        let slots = slots.map(Arc::clone);
        let (label, kind) = (route.label, route.kind);
        let span = tracing::info_span!(
            "callback",
            command = callback.command(),
            sdk_app_id = callback.sdk_app_id(),
            app,
            handler = target.name,
        );
        // An observer may wait for the decision, which the decider has the whole deadline
        // to make: it gets the deadline again on top, so it can act on a late decision too.
        let deadline = match role {
            Role::Observes => self.handler_timeout * 2,
            Role::Decides | Role::Runs => self.handler_timeout,
        };
        let metrics = Arc::clone(&self.metrics);
        let (name, fallback) = (target.name, target.fallback);
        let handler = Arc::clone(&target.handler);
        // Only a before-callback's decision has documented codes to hold it to.
        let decision_of =
            (role == Role::Decides && kind == CallbackKind::Before).then(|| callback.command_cow());
        async move {
            let started = Instant::now();
            let callback = callback.with_deadline(started + deadline);
            let handling = std::panic::AssertUnwindSafe(handler.handle(callback)).catch_unwind();
            let mut result = match tokio::time::timeout(deadline, handling).await {
                Ok(Ok(Ok(reply))) => Ok(reply),
                Ok(Ok(Err(error))) => Err(Failure::Error(error)),
                Ok(Err(panic)) => Err(Failure::Panicked(panic_text(panic.as_ref()))),
                Err(_elapsed) => Err(Failure::TimedOut(deadline)),
            };
            if let Some(command) = decision_of {
                result = result.and_then(|reply| check_decision(&command, reply));
            }
            let took = started.elapsed();
            let counted = match &result {
                Ok(_) => HandlerResult::Ok,
                Err(failure) => failure.result(),
            };
            metrics.handler_result(name, label, counted, took);
            if let Some(slots) = &slots {
                let error = result.as_ref().err().map(ToString::to_string);
                slots.finish(name, counted, took, error);
            }
            if let Err(failure) = &result {
                let must_succeed = role == Role::Runs
                    || (role == Role::Decides && kind == CallbackKind::ReplyBearing);
                match role {
                    // The request's own refusal says so, in the caller's words.
                    _ if must_succeed && failure.is_invalid_body() => {}
                    _ if must_succeed => tracing::error!(
                        "handler {failure}; answered 500 so the event is not taken as delivered"
                    ),
                    Role::Decides | Role::Runs => tracing::warn!(
                        fallback = fallback.as_str(),
                        "handler {failure}; answered with the fallback"
                    ),
                    Role::Observes => {
                        tracing::warn!("observing handler {failure}; Chat's answer is unaffected")
                    }
                }
            }
            result
        }
        .instrument(span)
    }
}

/// A console record's slot for each handler of `route`, decider first.
fn handler_slots(route: &Route) -> Arc<HandlerSlots> {
    let others = match route.kind {
        CallbackKind::After => Role::Runs,
        CallbackKind::Before | CallbackKind::ReplyBearing => Role::Observes,
    };
    let decider = route
        .decider
        .iter()
        .map(|target| HandlerSlot::new(target.name, Role::Decides));
    let others = route
        .others
        .iter()
        .map(|target| HandlerSlot::new(target.name, others));
    Arc::new(HandlerSlots::new(decider.chain(others)))
}

/// What Chat is told when a handler that had to succeed did not.
struct Refusal {
    rejection: Rejection,
    outcome: Outcome,
}

impl Refusal {
    /// A wrong body is the caller's to fix, so it is a refusal it is told of; anything else
    /// is a 500 that names no handler.
    fn answer(self, command: &str) -> Result<Answer, Rejection> {
        match self.outcome {
            Outcome::Rejected => Err(self.rejection),
            outcome => Ok(Answer {
                response: self.rejection.response_for(command),
                outcome,
            }),
        }
    }
}

/// The answer to handlers that had to succeed, from how they failed: any failure makes it
/// 500 (timed out when lateness was the only one); a body only refused as unusable is 400.
fn refusal_for(failures: &[Failure]) -> Option<Refusal> {
    let mut invalid_body = None;
    let mut failed = false;
    for failure in failures {
        match failure {
            Failure::Error(HandlerError::InvalidBody(message)) => {
                invalid_body.get_or_insert(message);
            }
            Failure::TimedOut(_) => {}
            _ => failed = true,
        }
    }
    let (rejection, outcome) = if failed {
        (Rejection::HandlerFailed, Outcome::Failed)
    } else if failures.iter().any(|f| matches!(f, Failure::TimedOut(_))) {
        (Rejection::HandlerTimedOut, Outcome::TimedOut)
    } else {
        let message = invalid_body?;
        (Rejection::InvalidBody(message.clone()), Outcome::Rejected)
    };
    Some(Refusal { rejection, outcome })
}

enum Failure {
    Error(HandlerError),
    Panicked(String),
    TimedOut(Duration),
    /// A before-callback decided with an `ErrorCode` its command does not document: Chat
    /// would read it in some way nobody intended.
    UndocumentedCode(String),
}

impl Failure {
    fn result(&self) -> HandlerResult {
        match self {
            Self::Error(HandlerError::InvalidBody(_)) => HandlerResult::InvalidBody,
            Self::Error(HandlerError::Internal(_)) => HandlerResult::Failed,
            Self::Panicked(_) => HandlerResult::Panicked,
            Self::TimedOut(_) => HandlerResult::TimedOut,
            Self::UndocumentedCode(_) => HandlerResult::UndocumentedCode,
        }
    }

    fn is_invalid_body(&self) -> bool {
        matches!(self, Self::Error(HandlerError::InvalidBody(_)))
    }
}

/// Refuses a before-callback decision whose code the command's documentation does not give,
/// as `chathook-protocol`'s own reply builders do.
fn check_decision(command: &str, reply: Reply) -> Result<Reply, Failure> {
    let code = reply.error_code();
    if code == 0 {
        return Ok(reply);
    }
    let checked = u32::try_from(code)
        .map_err(|_| format!("ErrorCode {code} is negative"))
        .and_then(|code| {
            match chathook_protocol::reply::check_decision_code(command, code) {
                // A command the table lacks has no documented codes to hold it to.
                Err(chathook_protocol::reply::ReplyError::UnknownCommand(_)) => Ok(()),
                other => other.map_err(|error| error.to_string()),
            }
        });
    match checked {
        Ok(()) => Ok(reply),
        Err(problem) => Err(Failure::UndocumentedCode(problem)),
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(error) => write!(f, "failed: {error}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::TimedOut(limit) => write!(f, "timed out after {} ms", limit.as_millis()),
            Self::UndocumentedCode(problem) => write!(f, "answered with {problem}"),
        }
    }
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Why a handler task ended without a result: handler panics are caught on the task, so
/// this is a task cancelled as the runtime shuts down.
fn panic_message(error: tokio::task::JoinError) -> String {
    if error.is_panic() {
        panic_text(error.into_panic().as_ref())
    } else {
        ErrorChain(&error).to_string()
    }
}

fn ok_response(reply: Reply) -> Response {
    (StatusCode::OK, axum::Json(reply)).into_response()
}

async fn method_not_allowed(State(state): State<Arc<ServiceState>>, method: Method) -> Response {
    let rejection = Rejection::MethodNotAllowed(echo(method.as_str()));
    state.refused(&rejection);
    let mut response = rejection.into_response();
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    counted(response)
}

async fn not_found(State(state): State<Arc<ServiceState>>, uri: Uri) -> Response {
    let rejection = Rejection::NotFound(echo(uri.path()));
    state.refused(&rejection);
    counted(rejection.into_response())
}

/// Marks a response already counted in the metrics, so [`json_refusals`] does not count it
/// twice.
#[derive(Clone, Copy)]
struct Counted;

fn counted(mut response: Response) -> Response {
    response.extensions_mut().insert(Counted);
    response
}

/// Every refusal speaks JSON and is counted: axum's own refusals (a wrong method on
/// `/healthz`, a path parameter that is not UTF-8) are plain text, and a handler's API may
/// refuse in its own words. Such replies are counted by status, and a reply that is not JSON
/// gets its text wrapped as `{"error": "..."}`.
async fn json_refusals(
    State(state): State<Arc<ServiceState>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(RefusalReason(reason)) = response.extensions().get::<RefusalReason>() {
        // An error from the table (a 503 included), already in JSON.
        state.metrics.rejection(reason);
        return response;
    }
    let status = response.status();
    if !status.is_client_error() || response.extensions().get::<Counted>().is_some() {
        return response;
    }
    state.metrics.rejection(match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        _ => "other_refusal",
    });
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("refused").to_owned(),
        // axum quotes the input: readable, but bounded.
        text => echo_at_most(text, 300),
    };
    if state.log_budget.allow() {
        tracing::warn!(status = status.as_u16(), "request rejected: {message}");
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    let json = axum::Json(json!({ "error": message })).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "alive" })).into_response()
}

async fn readyz(State(state): State<Arc<ServiceState>>) -> Response {
    // Checked concurrently, so one hung dependency costs one timeout, not one per handler.
    let mut checks = JoinSet::new();
    for (name, handler) in state.registry.handlers() {
        let (name, handler) = (*name, Arc::clone(handler));
        checks.spawn(async move {
            let ready = match tokio::time::timeout(READY_CHECK_TIMEOUT, handler.ready()).await {
                Ok(Ok(())) => true,
                Ok(Err(error)) => {
                    tracing::warn!(handler = name, "not ready: {}", ErrorChain(error.as_ref()));
                    false
                }
                Err(_) => {
                    tracing::warn!(handler = name, "not ready: readiness check timed out");
                    false
                }
            };
            (name, ready)
        });
    }
    let mut handlers = serde_json::Map::new();
    let mut ready = true;
    while let Some(checked) = checks.join_next().await {
        let (name, handler_ready) = checked.unwrap_or(("unknown", false));
        ready &= handler_ready;
        let status = if handler_ready { "ready" } else { "not ready" };
        handlers.insert(name.to_owned(), status.into());
    }
    let details: serde_json::Map<String, serde_json::Value> = state
        .registry
        .handlers()
        .iter()
        .filter_map(|(name, handler)| Some(((*name).to_owned(), handler.status()?)))
        .collect();
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    let mut body = json!({ "status": word, "handlers": handlers });
    if !details.is_empty() {
        body["details"] = details.into();
    }
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<ServiceState>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
