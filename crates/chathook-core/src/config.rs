//! Configuration: typed structs with their defaults, loaded with figment from a TOML file and
//! `CHATHOOK_*` environment variables (`__` separates nesting levels).
//!
//! The types are here; loading is in `config/load.rs`, each section's checks in
//! `config/validate.rs`, load errors in the operator's words in `config/describe.rs`, and
//! keeping secrets out of what is shown in `config/redact.rs`.

mod describe;
mod load;
mod redact;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::Secret;

/// The file read when no other is named.
pub const DEFAULT_CONFIG_PATH: &str = "config/chathook.toml";
/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "CHATHOOK_";
/// Environment variable naming the config file (like `--config`).
pub const CONFIG_PATH_ENV: &str = "CHATHOOK_CONFIG";
/// The top-level tables of [`Config`] that core reads itself; each linked extension adds its
/// own (see [`sections`]).
pub const SECTIONS: [&str; 8] = [
    "server", "auth", "apps", "dispatch", "journal", "api", "log", "handlers",
];

/// Every top-level table a config may have: [`SECTIONS`] and each linked extension's. A
/// `CHATHOOK_*` variable is a config key only as `CHATHOOK_<SECTION>__...`; any other (such
/// as the `CHATHOOK_PORT` or `CHATHOOK_SERVICE_HOST` Kubernetes injects for a Service named
/// `chathook`) is ignored.
pub fn sections() -> Vec<&'static str> {
    let extensions = crate::extension::linked_extensions();
    SECTIONS
        .into_iter()
        .chain(extensions.iter().map(|extension| extension.name()))
        .collect()
}

/// How long Chat waits for a callback reply, in milliseconds (protocol.md §3).
pub const CHAT_TIMEOUT_MS: u64 = 2000;

/// The widest `auth.max_clock_skew_secs` accepted: the skew window is how long a captured
/// callback URL can be replayed, and five minutes is already far past any working clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Which config file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigFile {
    /// [`DEFAULT_CONFIG_PATH`] if it exists, else the built-in defaults alone.
    Default,
    /// A file the operator named: it must exist.
    Named(PathBuf),
}

impl ConfigFile {
    /// `Named` if `path` is given, else `Default`.
    pub fn from_option(path: Option<PathBuf>) -> Self {
        path.map_or(Self::Default, Self::Named)
    }

    /// The file [`Config::load`] reads: the named one, or [`DEFAULT_CONFIG_PATH`] if it
    /// exists; `None` when the embedded defaults and the environment are all there is.
    pub fn resolved(&self) -> Option<&Path> {
        match self {
            ConfigFile::Named(path) => Some(path.as_path()),
            ConfigFile::Default => Some(Path::new(DEFAULT_CONFIG_PATH)).filter(|p| p.is_file()),
        }
    }
}

/// Everything chathook reads from its config file and environment.
///
/// Unknown keys are refused: in core's own tables by their types, at the top level by
/// [`Config::validate`], which knows the linked extensions' tables.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Config {
    /// HTTP listener.
    pub server: ServerConfig,
    /// Signature checking.
    pub auth: AuthConfig,
    /// The Chat apps allowed to call, keyed by a name of your choice.
    pub apps: BTreeMap<String, AppConfig>,
    /// How callbacks reach handlers.
    pub dispatch: DispatchConfig,
    /// Where callbacks owed to queued handlers are kept until delivered.
    pub journal: JournalConfig,
    /// The handlers' read API under `/api/v1`.
    pub api: ApiConfig,
    /// Logging.
    pub log: LogConfig,
    /// One table per handler, keyed by its registered snake_case name.
    pub handlers: BTreeMap<String, HandlerTable>,
    /// The tables of linked extensions (the console's `[console]`), each checked by its
    /// extension, keyed by the extension's name.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen_addr: SocketAddr,
    /// Path Chat POSTs callbacks to.
    pub callback_path: String,
    /// Largest accepted callback body, in bytes. Read receipts of large groups are large.
    pub body_limit_bytes: usize,
    /// Most connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head (the request line, the headers and the blank line after them), in
    /// bytes, counted exactly (at least 8192); one byte more is answered 431.
    pub max_header_bytes: usize,
    /// Time for a request's line and headers to arrive, from its first byte (or from the
    /// connection's opening), in milliseconds; then 408 and the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Time for a request's whole body to arrive once its headers have, in milliseconds;
    /// then 408 and the connection is closed.
    pub body_read_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests, in milliseconds.
    pub idle_timeout_ms: u64,
    /// On SIGTERM or SIGINT: how long open connections may finish their requests, in
    /// milliseconds, before they are dropped.
    pub shutdown_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            callback_path: "/callback".into(),
            body_limit_bytes: 4 * 1024 * 1024,
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            shutdown_timeout_ms: 5_000,
        }
    }
}

/// The smallest read buffer hyper accepts, which bounds `server.max_header_bytes` from below.
pub const MIN_HEADER_BYTES: usize = 8192;

impl ServerConfig {
    /// `header_read_timeout_ms` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// `body_read_timeout_ms` as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// `idle_timeout_ms` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// `shutdown_timeout_ms` as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How far `RequestTime` may be from this server's clock, in seconds, either way. Chat
    /// signs when it sends and gives up after 2 s, so a few seconds cover delivery and the
    /// whole-second rounding; the rest is for the difference between the two clocks. At most
    /// 300: this window is how long a captured callback URL can be replayed.
    pub max_clock_skew_secs: u64,
    /// Addresses and networks (`10.0.0.0/8`, `203.0.113.7`) allowed to POST callbacks; empty
    /// allows any. The address is the TCP peer's, or the client's from `X-Forwarded-For` when
    /// the peer is a trusted proxy. When set, a connection from any other address that is not
    /// a trusted proxy is refused as it is accepted, on every route.
    #[schemars(with = "Vec<String>")]
    pub allowed_sources: Vec<ipnet::IpNet>,
    /// Proxies and load balancers whose `X-Forwarded-For` is believed.
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Refuse a `RequestTime` + `Sign` pair seen before with a different body (a captured URL
    /// replayed with another body). Off by default: Chat signs only the second, so genuine
    /// callbacks of the same second share the pair and all but the first would be refused.
    pub replay_cache: bool,
    /// Most pairs the replay cache remembers; the oldest are forgotten first.
    pub replay_cache_entries: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_clock_skew_secs: 10,
            allowed_sources: Vec::new(),
            trusted_proxies: Vec::new(),
            replay_cache: false,
            replay_cache_entries: 100_000,
        }
    }
}

/// `[apps.<name>]`: one Chat app.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app's SDKAppID.
    #[serde(deserialize_with = "number_or_numeric_string")]
    pub sdk_app_id: u64,
    /// Callback auth tokens from the Chat console. More than one while rotating.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tokens: Vec<Secret>,
    /// Accept unsigned callbacks for an app with no tokens. For local development only.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// `[dispatch]`
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Deadline for one handler call, in milliseconds; below Chat's 2 s.
    pub handler_timeout_ms: u64,
    /// What to answer for a command no enabled handler serves.
    pub unrouted: Unrouted,
    /// Decision for a before-callback whose handler fails or times out.
    pub before_fallback: Fallback,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            handler_timeout_ms: 1500,
            unrouted: Unrouted::Accept,
            before_fallback: Fallback::Allow,
        }
    }
}

impl DispatchConfig {
    /// `handler_timeout_ms` as a duration.
    pub fn handler_timeout(&self) -> Duration {
        Duration::from_millis(self.handler_timeout_ms)
    }
}

/// `[journal]`: opened only when a queued handler is enabled (and by `chathook deliveries`).
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// `sqlite://path` (one replica; the file and its folder are created) or
    /// `postgres://user:password@host/db` (several replicas share one journal).
    pub database_url: String,
    /// What a callback answered OK survives: `full` (a power loss) or `normal` (a crash of
    /// chathook).
    pub durability: crate::journal::Durability,
    /// How long an entry is kept once every handler has it, for `replay`, in seconds.
    pub retention_secs: u64,
    /// Most entries held; past it callbacks owed to queued handlers are answered 500 and
    /// `/readyz` is not ready.
    pub max_entries: u64,
    /// Most body bytes held; past it as for `max_entries`.
    pub max_bytes: u64,
    /// A callback whose body Chat sends again within this many seconds is journaled once.
    pub dedupe_window_secs: u64,
    /// Most callbacks committed in one transaction (group commit).
    pub max_batch: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/journal.db".to_owned(),
            durability: crate::journal::Durability::Full,
            retention_secs: 7 * 24 * 3600,
            max_entries: 1_000_000,
            max_bytes: 1 << 30,
            dedupe_window_secs: 600,
            max_batch: 256,
        }
    }
}

impl std::fmt::Debug for JournalConfig {
    /// The URL's password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalConfig")
            .field("database_url", &crate::redact::url(&self.database_url))
            .field("durability", &self.durability)
            .field("retention_secs", &self.retention_secs)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("dedupe_window_secs", &self.dedupe_window_secs)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl JournalConfig {
    /// The options [`crate::journal::Journal::open`] takes.
    pub fn options(&self) -> crate::journal::JournalOptions {
        crate::journal::JournalOptions {
            database_url: self.database_url.clone(),
            durability: self.durability,
            retention: Duration::from_secs(self.retention_secs),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            dedupe_window: Duration::from_secs(self.dedupe_window_secs),
            max_batch: self.max_batch,
            serving: false,
        }
    }
}

/// How a handler gets its callbacks: `handlers.<name>.delivery`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Called while Chat waits; its failure is Chat's 500.
    #[default]
    Inline,
    /// Committed to the journal before Chat hears OK, then delivered by workers with
    /// retries until it succeeds or is dead.
    Queued,
}

impl DeliveryMode {
    /// Its name in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inline => "inline",
            Self::Queued => "queued",
        }
    }
}

/// `[handlers.<name>.queue]`: how a queued handler's deliveries are retried.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Wait before the second attempt, in milliseconds; doubled for each one after.
    pub backoff_initial_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    pub backoff_max_ms: u64,
    /// Each wait is shortened by a random fraction up to this (0 to 1), so retries of many
    /// deliveries spread out.
    pub backoff_jitter: f64,
    /// A delivery not delivered this many seconds after its callback arrived is dead.
    pub max_age_secs: u64,
    /// Deliveries in flight at once, per replica.
    pub concurrency: usize,
    /// Deliver the entries of one conversation (GroupId, or the C2C pair) one at a time, in
    /// arrival order; a failing conversation holds back only itself.
    pub ordered: bool,
    /// Deadline for one attempt, in milliseconds; then it counts as failed.
    pub attempt_timeout_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_initial_ms: 1000,
            backoff_max_ms: 300_000,
            backoff_jitter: 0.2,
            max_age_secs: 24 * 3600,
            concurrency: 4,
            ordered: false,
            attempt_timeout_ms: 30_000,
        }
    }
}

/// Answer for a callback whose command has no enabled handler.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Unrouted {
    /// OK/0: Chat goes on as normal.
    #[default]
    Accept,
    /// A 501 FAIL reply.
    Reject,
}

/// Decision for a before-callback whose handler errs or times out.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Let the event proceed, as Chat itself does when a callback times out.
    #[default]
    Allow,
    /// Refuse the event (`ErrorCode` 1).
    Deny,
}

impl Fallback {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// `[api]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer tokens accepted by `/api/v1`. None: the API is not served.
    #[schemars(with = "Vec<String>")]
    pub tokens: Vec<Secret>,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `plain` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `chathook=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
    /// One info line per answered callback (an access log). Off by default: at thousands of
    /// callbacks a second it is most of chathook's own cost, and the metrics already count
    /// them. Rejections, fallbacks and handler failures are logged either way.
    pub callbacks: bool,
    /// Most refusal lines logged per second; the rest are counted in the metrics and summed
    /// up in one line, so a flood of bad requests cannot flood the log.
    pub rejections_per_second: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Plain,
            level: "info".into(),
            callbacks: false,
            rejections_per_second: 20,
        }
    }
}

/// Log line format.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// `[handlers.<name>]`: the keys the platform reads, plus the handler's own settings.
#[derive(Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct HandlerTable {
    /// Serve this handler's commands.
    #[serde(default)]
    pub enabled: bool,
    /// Overrides `dispatch.before_fallback` for this handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// The commands it serves, as patterns (`Group.*`, `after`, `*`, ...), for a handler whose
    /// registration leaves them to its config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// For before-callbacks served by several handlers: `true` makes this one's reply the
    /// decision, `false` makes it only observe. Unset: it decides when no other handler can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decides: Option<bool>,
    /// `inline` or `queued`; unset: what its registration says (inline unless it says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryMode>,
    /// Retry policy of a queued handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueConfig>,
    /// Everything else, handed to the handler's build function.
    #[serde(flatten)]
    #[schemars(skip)]
    pub settings: Map<String, Value>,
}

impl std::fmt::Debug for HandlerTable {
    /// Settings are free-form and may hold secrets, so they print redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut settings = Value::Object(self.settings.clone());
        redact::redact_handler_settings(&mut settings);
        f.debug_struct("HandlerTable")
            .field("enabled", &self.enabled)
            .field("fallback", &self.fallback)
            .field("commands", &self.commands)
            .field("decides", &self.decides)
            .field("delivery", &self.delivery)
            .field("queue", &self.queue)
            .field("settings", &settings)
            .finish()
    }
}

/// The API token `chathook tail` reads when `--token` is not given.
pub const API_TOKEN_ENV: &str = "CHATHOOK_API_TOKEN";

fn number_or_numeric_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(u64),
        Text(String),
    }
    match Repr::deserialize(deserializer)? {
        Repr::Number(number) => Ok(number),
        Repr::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an unsigned integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_the_config_tables() {
        let Value::Object(tables) = serde_json::to_value(Config::default()).unwrap() else {
            panic!("a config serializes as a table");
        };
        let mut names: Vec<&str> = tables.keys().map(String::as_str).collect();
        let mut sections = SECTIONS.to_vec();
        names.sort_unstable();
        sections.sort_unstable();
        assert_eq!(names, sections);
    }
}
