//! What the config types alone cannot check, one section at a time, in the order the
//! sections are listed; the first problem found is the one reported.

use std::collections::{BTreeMap, HashMap};

use super::describe::unknown_section;
use super::{
    AppConfig, AuthConfig, CHAT_TIMEOUT_MS, Config, DispatchConfig, LogConfig, MAX_CLOCK_SKEW_SECS,
    MIN_HEADER_BYTES, ServerConfig,
};
use crate::error::StartupError;

/// A problem with the config, in the words the operator reads.
fn invalid(message: impl Into<String>) -> Result<(), StartupError> {
    Err(StartupError::InvalidConfig(message.into()))
}

impl Config {
    /// Checks what types alone cannot: paths, limits, unique app ids, tokens present.
    pub fn validate(&self) -> Result<(), StartupError> {
        self.server.validate()?;
        self.auth.validate()?;
        self.log.validate()?;
        self.dispatch.validate()?;
        self.journal.validate()?;
        validate_apps(&self.apps)?;
        self.validate_extensions()
    }

    /// Every top-level table but core's belongs to a linked extension, which checks it.
    fn validate_extensions(&self) -> Result<(), StartupError> {
        let linked = crate::extension::linked_extensions();
        if let Some(unknown) = self
            .extensions
            .keys()
            .find(|name| !linked.iter().any(|extension| extension.name() == *name))
        {
            return invalid(unknown_section(unknown));
        }
        for extension in linked {
            extension.check(self.extensions.get(extension.name()))?;
        }
        Ok(())
    }
}

impl super::JournalConfig {
    /// `[journal]`: a URL of a backend it has, and bounds and windows that let a callback in.
    pub(crate) fn validate(&self) -> Result<(), StartupError> {
        let url = &self.database_url;
        let supported = url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://");
        if !supported {
            return invalid(format!(
                "journal.database_url {} is not supported: use sqlite://path (a file) or \
                 postgres://user:password@host/db",
                crate::redact::url(url)
            ));
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            return invalid(
                "journal.database_url names an in-memory SQLite database, which a restart loses: \
                 name a file",
            );
        }
        for (key, value) in [
            ("max_entries", self.max_entries),
            ("max_bytes", self.max_bytes),
            ("max_batch", self.max_batch as u64),
            ("retention_secs", self.retention_secs),
        ] {
            if value == 0 {
                return invalid(format!("journal.{key} must be greater than 0"));
            }
        }
        if self.dedupe_window_secs > self.retention_secs {
            return invalid(format!(
                "journal.dedupe_window_secs ({}) is longer than journal.retention_secs ({}): a \
                 redelivery is recognised only while its first entry is kept",
                self.dedupe_window_secs, self.retention_secs
            ));
        }
        Ok(())
    }
}

impl ServerConfig {
    /// `[server]`: a callback path that is a plain path and no built-in route, and limits
    /// and timeouts that let a request through at all.
    pub(crate) fn validate(&self) -> Result<(), StartupError> {
        self.validate_callback_path()?;
        if self.body_limit_bytes == 0 {
            return invalid("server.body_limit_bytes must be greater than 0");
        }
        if self.max_connections == 0 {
            return invalid("server.max_connections must be greater than 0");
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return invalid(format!(
                "server.max_header_bytes is {} but must be at least {MIN_HEADER_BYTES}",
                self.max_header_bytes
            ));
        }
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("shutdown_timeout_ms", self.shutdown_timeout_ms),
        ] {
            if value == 0 {
                return invalid(format!("server.{key} must be greater than 0"));
            }
        }
        Ok(())
    }

    fn validate_callback_path(&self) -> Result<(), StartupError> {
        let path = &self.callback_path;
        if !path.starts_with('/') || path.contains(['?', '#', '{', '}']) {
            return invalid(format!(
                "server.callback_path {path:?} must be a plain path starting with '/'"
            ));
        }
        if crate::service::BUILT_IN_PATHS.contains(&path.as_str())
            || path.starts_with("/api/")
            || crate::extension::linked_extensions()
                .iter()
                .any(|extension| extension.serves(path))
        {
            return invalid(format!(
                "server.callback_path {path:?} collides with a built-in route"
            ));
        }
        Ok(())
    }
}

impl AuthConfig {
    /// `[auth]`: a bounded replay window, and a replay cache that can hold something.
    pub(crate) fn validate(&self) -> Result<(), StartupError> {
        if self.max_clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return invalid(format!(
                "auth.max_clock_skew_secs is {} but must be at most {MAX_CLOCK_SKEW_SECS}: it is \
                 how long a captured callback URL can be replayed (see docs/threat-model.md); \
                 fix the clocks (NTP) rather than widen it",
                self.max_clock_skew_secs
            ));
        }
        if self.replay_cache && self.replay_cache_entries == 0 {
            return invalid(
                "auth.replay_cache_entries must be greater than 0 when auth.replay_cache is on",
            );
        }
        Ok(())
    }
}

impl LogConfig {
    /// `[log]`: a refusal budget that lets a line through.
    pub(crate) fn validate(&self) -> Result<(), StartupError> {
        if self.rejections_per_second == 0 {
            return invalid("log.rejections_per_second must be greater than 0");
        }
        Ok(())
    }
}

impl DispatchConfig {
    /// `[dispatch]`: a handler deadline that ends before Chat stops waiting.
    pub(crate) fn validate(&self) -> Result<(), StartupError> {
        if !(1..CHAT_TIMEOUT_MS).contains(&self.handler_timeout_ms) {
            return invalid(format!(
                "dispatch.handler_timeout_ms is {} but must be between 1 and {}: Chat gives up \
                 after {CHAT_TIMEOUT_MS} ms and would apply its own policy, not the fallback",
                self.handler_timeout_ms,
                CHAT_TIMEOUT_MS - 1
            ));
        }
        Ok(())
    }
}

impl AppConfig {
    /// `[apps.<name>]`: tokens, or explicitly none.
    pub(crate) fn validate(&self, name: &str) -> Result<(), StartupError> {
        match (self.tokens.is_empty(), self.allow_unsigned) {
            (true, false) => invalid(format!(
                "apps.{name} has no tokens: add the callback auth token from the Chat console to \
                 apps.{name}.tokens (or, for local development only, set \
                 apps.{name}.allow_unsigned = true)"
            )),
            (false, true) => invalid(format!(
                "apps.{name} has tokens and allow_unsigned = true: remove one of them"
            )),
            _ => Ok(()),
        }
    }
}

/// `[apps]`: each app valid, and no SDKAppID twice.
fn validate_apps(apps: &BTreeMap<String, AppConfig>) -> Result<(), StartupError> {
    let mut names_by_id: HashMap<u64, &str> = HashMap::new();
    for (name, app) in apps {
        if let Some(other) = names_by_id.insert(app.sdk_app_id, name) {
            return invalid(format!(
                "apps.{other} and apps.{name} both have sdk_app_id {}",
                app.sdk_app_id
            ));
        }
        app.validate(name)?;
    }
    Ok(())
}
