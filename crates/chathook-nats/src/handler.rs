//! The `nats` handler: each callback forwarded as one message, and its registration.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use chathook_core::{Answer, BoxError, Callback, Handler, HandlerError, async_trait};
use serde_json::json;

use crate::config::{NatsConfig, Oversized};
use crate::forwarder::{ForwardError, Forwarder, StreamProblem};
use crate::message::Outgoing;
use crate::spool;

/// The `nats` handler.
pub struct Nats {
    prefix: String,
    oversized: Oversized,
    forwarder: Arc<Forwarder>,
}

#[async_trait]
impl Handler for Nats {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let received_ms = callback
            .received_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        let message = Outgoing::for_callback(&self.prefix, &callback, received_ms)
            .map_err(|unfit| HandlerError::invalid_body(unfit.to_string()))?;
        let size = message.body.len() + message.header_bytes();
        let oversized = size > self.forwarder.max_payload();
        let forwarded = if oversized {
            Err(ForwardError::TooLarge)
        } else {
            self.forwarder.forward(message, callback.deadline()).await
        };
        match forwarded {
            Ok(()) => Ok(Answer::default()),
            Err(ForwardError::TooLarge) => {
                let max_payload = self.forwarder.max_payload();
                match self.oversized {
                    Oversized::Reject => {
                        self.forwarder.metrics().oversized("rejected");
                        Err(HandlerError::internal(std::io::Error::other(format!(
                            "the callback is {size} bytes with headers, more than the NATS \
                             server's max_payload of {max_payload}; refused (oversized = \
                             \"reject\")"
                        ))))
                    }
                    Oversized::Skip => {
                        self.forwarder.metrics().oversized("skipped");
                        tracing::warn!(
                            bytes = size,
                            max_payload,
                            "callback larger than the NATS server's max_payload answered OK \
                             without publishing (oversized = \"skip\")"
                        );
                        Ok(Answer::default())
                    }
                }
            }
            Err(ForwardError::Spool(error)) => Err(HandlerError::internal(error)),
        }
    }

    async fn ready(&self) -> Result<(), BoxError> {
        let stats = self.forwarder.spool().stats();
        let bounds = self.forwarder.spool().bounds();
        if stats.entries >= bounds.max_entries || stats.bytes >= bounds.max_bytes {
            return Err(format!(
                "the spool is full ({} entries, {} bytes) and JetStream is not draining it",
                stats.entries, stats.bytes
            )
            .into());
        }
        Ok(())
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.forwarder.metrics().register(registry);
    }

    fn status(&self) -> Option<serde_json::Value> {
        self.forwarder.refresh_gauges();
        let stats = self.forwarder.spool().stats();
        let bounds = self.forwarder.spool().bounds();
        let connection = match self.forwarder.connection() {
            async_nats::connection::State::Connected => "connected",
            async_nats::connection::State::Disconnected => "disconnected",
            async_nats::connection::State::Pending => "connecting",
        };
        let oldest_age_secs = stats
            .oldest_ms
            .map(|oldest| (spool::unix_ms() - oldest).max(0) / 1000);
        Some(json!({
            "mode": if self.forwarder.is_spooling() { "spooling" } else { "direct" },
            "connection": connection,
            "stream_ready": self.forwarder.stream_ready(),
            "spool": {
                "path": self.forwarder.spool().path().display().to_string(),
                "entries": stats.entries,
                "bytes": stats.bytes,
                "oldest_age_secs": oldest_age_secs,
                "max_entries": bounds.max_entries,
                "max_bytes": bounds.max_bytes,
            },
        }))
    }
}

async fn build(config: NatsConfig) -> Result<Nats, BoxError> {
    let spool = config.open_spool()?;
    let last_error = Arc::new(Mutex::new(None));
    let client = config.connect(Arc::clone(&last_error)).await?;
    let forwarder = Forwarder::new(
        client,
        config.stream_settings(),
        spool,
        Duration::from_millis(config.publish_timeout_ms),
    );
    let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
    let set_up = async {
        loop {
            match forwarder.ensure_stream().await {
                Ok(()) => return Ok(()),
                Err(StreamProblem::Misconfigured(problem)) => return Err(problem),
                Err(StreamProblem::Unreachable(_)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    match tokio::time::timeout(connect_timeout, set_up).await {
        Ok(Ok(())) => {}
        // NATS answered and the stream is wrong: a config error, said at start-up.
        Ok(Err(problem)) => return Err(problem.into()),
        Err(_) => {
            let last_error = last_error.lock().expect("last error").clone();
            let refused = last_error.as_deref().is_some_and(|error| {
                error.contains("authorization violation") || error.contains("authentication")
            });
            if refused {
                // Waiting would not help: say so now rather than spool forever.
                return Err(format!(
                    "NATS at {} refused chathook's credentials ({}): check user and password, \
                     token, nkey_seed or creds_file in [handlers.nats]",
                    config.servers.join(", "),
                    last_error.unwrap_or_default()
                )
                .into());
            }
            tracing::warn!(
                servers = ?config.servers,
                last_error = last_error.as_deref().unwrap_or("none"),
                "NATS did not answer within connect_timeout_ms; serving anyway, spooling \
                 callbacks to {} until it does",
                config.spool_path.display()
            );
        }
    }
    let pending = forwarder.spool().stats().entries;
    if pending > 0 {
        tracing::info!(
            entries = pending,
            "the spool holds callbacks from before; publishing them first"
        );
    }
    Forwarder::spawn_drainer(&forwarder);
    Ok(Nats {
        prefix: config.subject_prefix,
        oversized: config.oversized,
        forwarder,
    })
}

chathook_core::register_handler! {
    name: "nats",
    commands: from_config(default: ["*"]),
    decides: false,
    config: NatsConfig,
    validate: NatsConfig::validate,
    build: build,
}
