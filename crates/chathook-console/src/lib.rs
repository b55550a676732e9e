//! chathook-console: the operator's view of what Chat sends, as an extension of the service.
//! It keeps the recent callbacks ([`recent`], fed by a tap on every callback) and serves them
//! under `/api/v1/callbacks` (a filtered list, a live Server-Sent Events stream, counts per 10
//! seconds), an overview (apps, handlers, routing table) under `/api/v1/overview`, and the
//! `/console` page that shows them. The API sits behind the `[api]` bearer token like the
//! handlers' routes; the page itself holds nothing secret and asks for the token. Its
//! command-line client, `chathook tail`, is this crate's tool, reading the records as the
//! server writes them ([`wire`]).
//!
//! It uses only what any crate can: [`chathook_core::register_extension!`],
//! [`chathook_core::register_tool!`], a [`chathook_core::tap::Tap`] and routes. Linking it
//! (`use chathook_console as _;`) is all a binary does to have it, `tail` included; its config
//! is the `[console]` table ([`ConsoleConfig`]).

mod api;
mod config;
mod page;
pub mod recent;
pub mod record;
mod tail;
mod tap;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chathook_core::StartupError;
use chathook_core::extension::{Extension, ServiceFacts};
use chathook_core::metrics::prometheus_client;
use chathook_core::registry::{Role, RoutingRow};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use config::{ConsoleConfig, MAX_BODY_BYTES, MAX_CAPTURED_BYTES, MAX_RECENT};
use recent::Recent;

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
pub(crate) struct StreamOpen(Gauge);

impl StreamOpen {
    pub(crate) fn new(streams: &Gauge) -> Self {
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
            .route("/callbacks", get(api::list))
            .route("/callbacks/stream", get(api::live))
            .route("/callbacks/counts", get(api::counts))
            .route("/overview", get(api::overview))
            .with_state(Arc::clone(self))
    }
}

fn route_json(row: &RoutingRow) -> Value {
    let enabled = row.handlers.iter().any(|handler| handler.role.is_some());
    let decider = row
        .handlers
        .iter()
        .find(|handler| handler.role == Some(Role::Decides))
        .map(|handler| handler.name);
    let handlers: Vec<Value> = row
        .handlers
        .iter()
        .map(|handler| {
            json!({
                "name": handler.name,
                "role": handler.role.map(Role::as_str),
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

chathook_core::register_extension! {
    name: "console",
    paths: ["/console", "/console/"],
    config: ConsoleConfig,
    validate: ConsoleConfig::validate,
    build: build,
}

/// The console, when `[console] recent` keeps callbacks and `[api]` has a token to read them;
/// with `recent = 0`, addresses that say the buffer is off.
fn build(
    facts: &mut ServiceFacts<'_>,
    settings: ConsoleConfig,
) -> Result<Option<Extension>, StartupError> {
    let config = facts.config;
    let has_tokens = !config.api.tokens.is_empty();
    let mut extension = Extension::new("console");
    if settings.recent == 0 {
        extension.api_routes = has_tokens.then(page::off_routes);
        extension.routes = Some(page::page_off_routes());
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
    extension.tap = Some(Arc::new(tap::ConsoleTap { recent }));
    extension.api_routes = Some(console.api_routes());
    extension.routes = Some(page::page_routes());
    extension.on_shutdown = Some(Box::new(move || console.close_streams()));
    Ok(Some(extension))
}
