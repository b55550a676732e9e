//! chathook-nats: the `nats` handler, which puts every callback it serves into NATS
//! JetStream, so services in any language can read, replay and scale out on them.
//!
//! Each callback becomes one message on `<subject_prefix>.<SdkAppid>.<CallbackCommand>`, with
//! the body exactly as Chat sent it, the query's details in headers, and a `Nats-Msg-Id`
//! digest of app, command and body so a redelivered callback is stored once. An
//! after-callback is answered OK only once JetStream has acknowledged it, or, when JetStream
//! does not answer in time, once it is committed to a local SQLite spool, which a drainer
//! publishes in arrival order as soon as JetStream is back. Its commands come from its config
//! (`"*"` by default), and it only observes before-callbacks: it never holds up a decision.

mod forwarder;
mod message;
mod spool;
mod tool;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use chathook_core::{Answer, BoxError, Callback, Handler, HandlerError, async_trait};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use crate::forwarder::{ForwardError, Forwarder, StreamProblem, StreamSettings};
pub use crate::message::{
    CLIENT_IP, COMMAND, MSG_ID, OPT_PLATFORM, Outgoing, RECEIVED_AT, REQUEST_TIME, SDK_APP_ID,
    message_id,
};
pub use crate::spool::{Bounds, Spool, SpoolError, SpoolStats};

/// `[handlers.nats]`, besides the platform's `enabled`, `commands` and `decides`.
/// `Serialize` so that `check-config` shows every setting with its default (credentials
/// redacted there); `JsonSchema` so that the config reference lists them.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// NATS server URLs; the client fails over between them.
    #[serde(default = "default_servers")]
    pub servers: Vec<String>,
    /// User name, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password, with `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// Authentication token.
    #[serde(default)]
    pub token: Option<String>,
    /// NKey seed (`SU...`).
    #[serde(default)]
    pub nkey_seed: Option<String>,
    /// A `.creds` file (JWT and NKey seed).
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// Refuse a connection without TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// PEM file of the CA that signed the server's certificate.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate, with `tls_key_file`, for mutual TLS.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// First token(s) of every subject.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// The JetStream stream that stores the callbacks.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// At start-up, `create` the stream if it is missing, or only `check` that it exists and
    /// takes chathook's subjects.
    #[serde(default)]
    pub stream_setup: StreamSetup,
    /// How long the stream keeps a message, in seconds; 0 keeps them until removed otherwise.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    /// How long JetStream remembers a `Nats-Msg-Id`, in seconds: a callback delivered again
    /// within it is stored once.
    #[serde(default = "default_duplicate_window_secs")]
    pub duplicate_window_secs: u64,
    /// Copies of the stream in a JetStream cluster (1, 3 or 5).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// How long to wait for JetStream's acknowledgement before spooling, in milliseconds; at
    /// most half of what is left of the handler deadline, so the spool has the rest.
    #[serde(default = "default_publish_timeout_ms")]
    pub publish_timeout_ms: u64,
    /// A callback larger than the server's `max_payload`: `reject` answers 500 (Chat is told
    /// it was not taken), `skip` answers OK without publishing it. Both are counted and logged.
    #[serde(default)]
    pub oversized: Oversized,
    /// The spool's SQLite file; its directory is created if missing.
    #[serde(default = "default_spool_path")]
    pub spool_path: PathBuf,
    /// Most callbacks the spool holds; past it callbacks are answered 500.
    #[serde(default = "default_spool_max_entries")]
    pub spool_max_entries: u64,
    /// Most body bytes the spool holds; past it callbacks are answered 500.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// How long start-up waits for NATS before it goes on spooling, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

/// What start-up does about the stream.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StreamSetup {
    /// Create it if missing.
    #[default]
    Create,
    /// Only check it.
    Check,
}

/// What happens to a callback larger than the server's `max_payload`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Oversized {
    /// Answer 500: the event is not acknowledged.
    #[default]
    Reject,
    /// Answer OK without publishing: acknowledged and lost to consumers.
    Skip,
}

fn default_servers() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".into()]
}
fn default_prefix() -> String {
    "chathook".into()
}
fn default_stream() -> String {
    "CHATHOOK".into()
}
fn default_max_age_secs() -> u64 {
    7 * 24 * 3600
}
fn default_duplicate_window_secs() -> u64 {
    120
}
fn default_replicas() -> usize {
    1
}
fn default_publish_timeout_ms() -> u64 {
    500
}
fn default_spool_path() -> PathBuf {
    "data/nats-spool.db".into()
}
fn default_spool_max_entries() -> u64 {
    1_000_000
}
fn default_spool_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
fn default_connect_timeout_ms() -> u64 {
    2000
}

impl NatsConfig {
    /// The checks its type cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("servers is empty: give at least one NATS URL".into());
        }
        for url in &self.servers {
            if url.contains('@') {
                // URLs are logged; credentials have keys of their own, which are redacted.
                return Err(
                    "servers: put credentials in user and password, token, nkey_seed or \
                     creds_file, not in the URL (URLs are logged)"
                        .into(),
                );
            }
            url.parse::<async_nats::ServerAddr>()
                .map_err(|error| format!("servers: {url:?} is not a NATS URL: {error}"))?;
        }
        let token_fits = |token: &str| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c == '*' || c == '>')
        };
        if !self.subject_prefix.split('.').all(token_fits) {
            return Err(format!(
                "subject_prefix {:?} must be dot-separated words without spaces, '*' or '>'",
                self.subject_prefix
            ));
        }
        if self.stream.is_empty()
            || self
                .stream
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
        {
            return Err(format!(
                "stream {:?} is not a JetStream stream name (no spaces, '.', '*', '>', '/')",
                self.stream
            ));
        }
        let methods = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.nkey_seed.is_some(),
            self.creds_file.is_some(),
        ];
        if methods.iter().filter(|&&given| given).count() > 1 {
            return Err(
                "give one way to authenticate: user and password, token, nkey_seed or creds_file"
                    .into(),
            );
        }
        if self.user.is_some() != self.password.is_some() {
            return Err("user and password go together".into());
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls_cert_file and tls_key_file go together".into());
        }
        if !(1..=1500).contains(&self.publish_timeout_ms) {
            return Err(format!(
                "publish_timeout_ms is {} but must be between 1 and 1500, so a callback can still \
                 be spooled within the handler deadline",
                self.publish_timeout_ms
            ));
        }
        if ![1, 3, 5].contains(&self.replicas) {
            return Err(format!(
                "replicas is {} but must be 1, 3 or 5",
                self.replicas
            ));
        }
        if self.duplicate_window_secs == 0 {
            return Err("duplicate_window_secs must be greater than 0".into());
        }
        if self.max_age_secs != 0 && self.duplicate_window_secs > self.max_age_secs {
            return Err("duplicate_window_secs cannot be longer than max_age_secs".into());
        }
        if self.spool_max_entries == 0 || self.spool_max_bytes == 0 {
            return Err("spool_max_entries and spool_max_bytes must be greater than 0".into());
        }
        if self.connect_timeout_ms == 0 {
            return Err("connect_timeout_ms must be greater than 0".into());
        }
        Ok(())
    }

    /// The stream as configured.
    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            name: self.stream.clone(),
            subjects: format!("{}.>", self.subject_prefix),
            create: self.stream_setup == StreamSetup::Create,
            max_age: Duration::from_secs(self.max_age_secs),
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            replicas: self.replicas,
        }
    }

    /// Opens the spool.
    pub fn open_spool(&self) -> Result<Spool, SpoolError> {
        Spool::open(
            &self.spool_path,
            Bounds {
                max_entries: self.spool_max_entries,
                max_bytes: self.spool_max_bytes,
            },
        )
    }

    /// Connects, retrying in the background if NATS is not there yet. The connection's
    /// events are logged, and the last error is kept in `last_error` for start-up to report.
    pub async fn connect(
        &self,
        last_error: Arc<Mutex<Option<String>>>,
    ) -> Result<async_nats::Client, BoxError> {
        let servers_text = self.servers.join(", ");
        let mut options = async_nats::ConnectOptions::new()
            .name("chathook")
            .event_callback(move |event| {
                let last_error = Arc::clone(&last_error);
                let servers = servers_text.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(%servers, "connected to NATS");
                            *last_error.lock().expect("last error") = None;
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(%servers, "disconnected from NATS; reconnecting")
                        }
                        async_nats::Event::ServerError(error) => {
                            tracing::warn!(%servers, %error, "NATS server error");
                            *last_error.lock().expect("last error") = Some(error.to_string());
                        }
                        async_nats::Event::ClientError(error) => {
                            tracing::debug!(%servers, %error, "NATS connection attempt failed");
                            *last_error.lock().expect("last error") = Some(error.to_string());
                        }
                        other => tracing::info!(%servers, event = %other, "NATS"),
                    }
                }
            })
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_millis(self.connect_timeout_ms))
            .require_tls(self.tls_required);
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(seed) = &self.nkey_seed {
            options = options.nkey(seed.clone());
        }
        if let Some(path) = &self.creds_file {
            options = options
                .credentials_file(path)
                .await
                .map_err(|error| format!("cannot read creds_file {}: {error}", path.display()))?;
        }
        if let Some(ca) = &self.tls_ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .map(|url| {
                url.parse()
                    .map_err(|error| format!("servers: {url:?} is not a NATS URL: {error}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(options.connect(servers).await?)
    }
}

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
