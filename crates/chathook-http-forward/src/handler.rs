//! The `http_forward` handler: one destination per endpoint, and its registration.

use chathook_core::config::DeliveryMode;
use chathook_core::{
    Answer, Callback, Destination, Handler, HandlerError, async_trait, register_handler,
};

use crate::config::HttpForwardConfig;
use crate::endpoint::Endpoint;
use crate::metrics::ForwardMetrics;

/// The `http_forward` handler: every endpoint, ready.
pub struct HttpForward {
    endpoints: Vec<Endpoint>,
    metrics: ForwardMetrics,
}

impl HttpForward {
    /// The handler for a checked `config`; what is wrong with it, naming the endpoint and
    /// the key, if an endpoint cannot be set up.
    pub fn new(config: &HttpForwardConfig) -> Result<Self, String> {
        config.validate_names()?;
        let endpoints = config
            .endpoints
            .iter()
            .map(Endpoint::new)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            endpoints,
            metrics: ForwardMetrics::default(),
        })
    }

    fn endpoint(&self, callback: &Callback) -> Result<&Endpoint, HandlerError> {
        let name = callback.destination().unwrap_or_default();
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.name() == name)
            .ok_or_else(|| {
                // The platform routes only to the destinations this config made.
                HandlerError::internal(std::io::Error::other(format!(
                    "http_forward has no endpoint {name:?}"
                )))
            })
    }
}

#[async_trait]
impl Handler for HttpForward {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let endpoint = self.endpoint(&callback)?;
        if endpoint.decides() && callback.delivery().is_none() {
            return endpoint.decide(&callback).await.map_err(|refused| {
                self.metrics.fell_back(endpoint.name(), refused.reason);
                HandlerError::internal(refused)
            });
        }
        endpoint.forward(&callback).await?;
        Ok(Answer::default())
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
        for endpoint in self.endpoints.iter().filter(|endpoint| endpoint.decides()) {
            self.metrics.declare(endpoint.name());
        }
    }
}

/// Each endpoint as a destination: a deciding one inline (called while Chat waits), any
/// other queued, with its own commands, fallback and retry policy.
fn destinations(config: &HttpForwardConfig) -> Vec<Destination> {
    config
        .endpoints
        .iter()
        .map(|endpoint| Destination {
            name: endpoint.name.clone(),
            commands: endpoint.commands.clone().unwrap_or_default(),
            delivery: if endpoint.decides {
                DeliveryMode::Inline
            } else {
                DeliveryMode::Queued
            },
            decides: Some(endpoint.decides),
            fallback: endpoint.fallback,
            queue: endpoint.queue.clone(),
        })
        .collect()
}

async fn build(config: HttpForwardConfig) -> Result<HttpForward, String> {
    HttpForward::new(&config)
}

register_handler! {
    name: "http_forward",
    commands: from_config,
    config: HttpForwardConfig,
    validate: HttpForwardConfig::validate,
    destinations: destinations,
    build: build,
}
