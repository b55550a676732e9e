//! `[handlers.nats]`: the settings, their checks, and what they set up (the stream, the
//! spool, the connection).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chathook_core::BoxError;
use serde::{Deserialize, Serialize};

use crate::forwarder::StreamSettings;
use crate::spool::{Bounds, Spool, SpoolError};

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
        self.validate_servers()?;
        self.validate_names()?;
        self.validate_authentication()?;
        self.validate_limits()
    }

    /// `servers`: NATS URLs, without credentials.
    fn validate_servers(&self) -> Result<(), String> {
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
        Ok(())
    }

    /// `subject_prefix` and `stream`: names NATS takes.
    fn validate_names(&self) -> Result<(), String> {
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
        Ok(())
    }

    /// One way to authenticate at most, and the keys that go in pairs given in pairs.
    fn validate_authentication(&self) -> Result<(), String> {
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
        Ok(())
    }

    /// Timeouts, windows and bounds that leave a callback a way through.
    fn validate_limits(&self) -> Result<(), String> {
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
