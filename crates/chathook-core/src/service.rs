//! The service, assembled: [`Chathook::build`] validates the config and builds every enabled
//! handler and extension, [`Chathook::router`] is the whole HTTP surface, and
//! [`Chathook::serve`] runs it on a listener until shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::callback::{Dispatcher, Gate, Pipeline, receive};
use crate::config::Config;
use crate::delivery::Deliveries;
use crate::error::StartupError;
use crate::extension::{ServiceFacts, linked_extensions};
use crate::http::{
    ConnectionEvents, Limits, LogBudget, Ops, Readiness, api_router, count_refusals,
    deliveries_routes, healthz, method_not_allowed, metrics, not_found, readyz,
    route_method_not_allowed,
};
use crate::metrics::Metrics;
use crate::registry::{Plan, Route};
use crate::tap::{LogTap, MetricsTap, Tap, Taps};

/// Paths the service itself serves; the callback path may not be one of them (nor under
/// `/api/`, nor an extension's).
pub(crate) const BUILT_IN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// A built chathook service: handlers and extensions constructed, ready to serve.
pub struct Chathook {
    pipeline: Arc<Pipeline>,
    ops: Arc<Ops>,
    events: ConnectionEvents,
    limits: Limits,
    api: Option<Router>,
    /// Extensions' routes outside `/api/v1` (the console's page).
    routes: Vec<Router>,
    /// What extensions ask to be told as shutdown begins.
    on_shutdown: Vec<Box<dyn FnOnce() + Send>>,
    callback_path: String,
    /// The journal and its workers, when a queued handler is enabled.
    deliveries: Option<Arc<Deliveries>>,
    shutdown_timeout: std::time::Duration,
}

impl Chathook {
    /// Validates `config`, builds every enabled handler and extension, and assembles the
    /// routes.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        config.validate()?;
        let plan = Plan::new(&config)?;
        for warning in plan.warnings() {
            tracing::warn!("{warning}");
        }
        let routing_table = plan.routing_table();
        let mut registry = plan.build().await?;
        let mut metrics = Metrics::default();
        for (_, handler) in registry.handlers() {
            handler.register_metrics(metrics.handler_registry());
        }
        let queued = registry.take_queued();
        let deliveries = if queued.is_empty() {
            None
        } else {
            let names = registry.names().to_vec();
            let registry = metrics.handler_registry();
            let timeout = config.dispatch.handler_timeout();
            Some(Deliveries::open(&config.journal, timeout, queued, registry, names).await?)
        };
        metrics.start_at_zero(registry.routes().map(Route::series));
        warn_about_apps(&config);

        let facts = ServiceFacts {
            config: &config,
            handlers: registry.names().to_vec(),
            routing_table: &routing_table,
            metrics: metrics.handler_registry(),
        };
        let extensions = Extensions::build(facts)?;
        let metrics = Arc::new(metrics);
        let log_budget = Arc::new(LogBudget::new(config.log.rejections_per_second));
        let mut taps: Vec<Arc<dyn Tap>> = vec![
            Arc::new(LogTap {
                budget: Arc::clone(&log_budget),
                every_callback: config.log.callbacks,
            }),
            Arc::new(MetricsTap(Arc::clone(&metrics))),
        ];
        taps.extend(extensions.taps);
        let readiness = Arc::new(Readiness::default());
        taps.push(Arc::clone(&readiness) as Arc<dyn Tap>);
        let handler_routes = registry
            .handlers()
            .iter()
            .filter_map(|(name, handler)| Some((*name, handler.api_routes()?)));
        let deliveries_api = deliveries.as_ref().map(|deliveries| {
            let routes =
                deliveries_routes(Arc::clone(deliveries.journal()), deliveries.handler_names());
            ("deliveries", Router::new().nest("/deliveries", routes))
        });
        let api = api_router(
            &config.api.tokens,
            extensions
                .api_routes
                .into_iter()
                .chain(handler_routes)
                .chain(deliveries_api),
        )?;
        let taps = Taps::new(taps);
        let ops = Ops {
            handlers: registry.handlers().to_vec(),
            metrics: Arc::clone(&metrics),
            taps: taps.clone(),
            deliveries: deliveries.clone(),
            readiness,
        };
        let pipeline = Pipeline {
            gate: Gate::new(&config),
            registry,
            dispatcher: Dispatcher {
                handler_timeout: config.dispatch.handler_timeout(),
                unrouted: config.dispatch.unrouted,
                tasks: TaskTracker::new(),
                taps: taps.clone(),
                deliveries: deliveries.clone(),
            },
            taps,
            metrics: Arc::clone(&metrics),
        };
        Ok(Self {
            pipeline: Arc::new(pipeline),
            ops: Arc::new(ops),
            events: ConnectionEvents::new(metrics, log_budget),
            limits: Limits::new(&config),
            api,
            routes: extensions.routes,
            on_shutdown: extensions.on_shutdown,
            shutdown_timeout: config.server.shutdown_timeout(),
            callback_path: config.server.callback_path,
            deliveries,
        })
    }

    /// The whole HTTP surface as an axum router.
    pub fn router(&self) -> Router {
        let ops = Arc::clone(&self.ops);
        let mut built_in = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(Arc::clone(&ops));
        if let Some(api) = &self.api {
            built_in = built_in.nest("/api/v1", api.clone());
        }
        for routes in &self.routes {
            built_in = built_in.merge(routes.clone());
        }
        // A wrong method on these routes is refused in the API's format, as their handlers'
        // own errors are, and every such refusal is counted. The callback route answers in
        // Chat's format and counts itself, so it does not pay for this on every callback.
        let built_in = built_in
            .method_not_allowed_fallback(route_method_not_allowed)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&ops),
                count_refusals,
            ));
        let refuse_method = {
            let ops = Arc::clone(&ops);
            move |method| method_not_allowed(State(ops), method)
        };
        let callback = Router::new()
            .route(&self.callback_path, post(receive).fallback(refuse_method))
            .with_state(Arc::clone(&self.pipeline));
        Router::new()
            .fallback(not_found)
            .with_state(ops)
            .merge(callback)
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
            handlers = self.pipeline.registry.handlers().len(),
            "listening"
        );
        let router = self.router();
        let Self {
            pipeline,
            events,
            limits,
            on_shutdown,
            deliveries,
            shutdown_timeout,
            ..
        } = self;
        if let Some(deliveries) = &deliveries {
            deliveries.start();
        }
        // Live streams never end by themselves: they end as shutdown starts, so open
        // requests can finish within the shutdown deadline. Delivery workers stop claiming
        // then too; their attempts in flight get the same deadline below.
        let stop_claiming = deliveries.clone();
        let shutdown = async move {
            shutdown.await;
            if let Some(deliveries) = stop_claiming {
                deliveries.stop_claiming();
            }
            for notify in on_shutdown {
                notify();
            }
        };
        crate::http::serve(events, router, listener, limits, shutdown).await;
        if let Some(deliveries) = &deliveries {
            deliveries.stop(shutdown_timeout).await;
        }
        // Handlers whose client hung up are still running; each is bounded by its deadline.
        let dispatcher = &pipeline.dispatcher;
        let tasks = &dispatcher.tasks;
        tasks.close();
        // Observers may run up to twice the handler deadline (see dispatch).
        if tokio::time::timeout(dispatcher.handler_timeout * 2, tasks.wait())
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

/// What the linked extensions add, gathered by kind.
#[derive(Default)]
struct Extensions {
    taps: Vec<Arc<dyn Tap>>,
    api_routes: Vec<(&'static str, Router)>,
    routes: Vec<Router>,
    on_shutdown: Vec<Box<dyn FnOnce() + Send>>,
}

impl Extensions {
    /// Builds every linked extension from its table of the config.
    fn build(mut facts: ServiceFacts<'_>) -> Result<Self, StartupError> {
        let mut built = Self::default();
        for registration in linked_extensions() {
            let section = facts.config.extensions.get(registration.name());
            let Some(extension) = registration.build(&mut facts, section)? else {
                continue;
            };
            built.taps.extend(extension.tap);
            built
                .api_routes
                .extend(extension.api_routes.map(|api| (extension.name, api)));
            built.routes.extend(extension.routes);
            built.on_shutdown.extend(extension.on_shutdown);
        }
        Ok(built)
    }
}

/// Start-up warnings about the configured apps.
fn warn_about_apps(config: &Config) {
    for (name, app) in &config.apps {
        if app.allow_unsigned {
            tracing::warn!(
                app = %name,
                sdk_app_id = app.sdk_app_id,
                "app accepts unsigned callbacks (allow_unsigned = true); never do this in production"
            );
        }
    }
    if config.apps.is_empty() {
        tracing::warn!("no apps configured: every callback will be refused with 403");
    }
}
