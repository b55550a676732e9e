//! `chathook serve`: logging, the start-up log, the open-file limit and the signals around
//! [`Chathook::serve`].

use std::io::IsTerminal as _;

use anyhow::Context as _;
use chathook_core::config::{ConfigFile, LogConfig, LogFormat};
use chathook_core::{Chathook, Config};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// `chathook serve`: load and check the config, log what an operator needs first, and serve
/// until SIGINT or SIGTERM.
pub(crate) async fn serve(file: &ConfigFile) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    init_logging(&config.log)?;
    log_startup(file, &config);
    if let Some((warning, names)) = crate::inspect::ignored_env_vars() {
        tracing::warn!(variables = %names, "{warning}");
    }
    let addr = config.server.listen_addr;
    raise_file_limit(config.server.max_connections);
    let service = Chathook::build(config).await?;
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| chathook_core::StartupError::Bind { addr, source })?;
    service.serve(listener, shutdown).await?;
    Ok(())
}

/// Tokens of the shipped config start with this; no real token does.
const PLACEHOLDER_TOKEN_PREFIX: &str = "change-me-";

/// What an operator needs to see first: the version, the config file (or that there is
/// none), each app, each enabled handler with its settings (credentials redacted), and a
/// warning while a shipped placeholder token is in use. Never a token itself.
fn log_startup(file: &ConfigFile, config: &Config) {
    let version = crate::VERSION.as_str();
    match file.resolved() {
        Some(path) => tracing::info!(version, config_file = %path.display(), "chathook starting"),
        None => tracing::info!(
            version,
            default_config_file = chathook_core::config::DEFAULT_CONFIG_PATH,
            "chathook starting with no config file (the default one does not exist): the \
             embedded defaults and CHATHOOK_* environment variables only"
        ),
    }
    let placeholder = |tokens: &[chathook_core::auth::Secret]| {
        tokens
            .iter()
            .any(|token| token.expose().starts_with(PLACEHOLDER_TOKEN_PREFIX))
    };
    if config.apps.is_empty() {
        tracing::warn!("no [apps.<name>] configured: every callback will be refused");
    }
    for (name, app) in &config.apps {
        tracing::info!(
            app = %name,
            sdk_app_id = app.sdk_app_id,
            tokens = app.tokens.len(),
            "app configured"
        );
        if placeholder(&app.tokens) {
            tracing::warn!(
                app = %name,
                key = %format_args!("apps.{name}.tokens"),
                "app uses the shipped placeholder token ({PLACEHOLDER_TOKEN_PREFIX}...), which \
                 anyone can read in the repository: set `key` to the token of the app's \
                 callback authentication in the Chat console"
            );
        }
    }
    if placeholder(&config.api.tokens) {
        tracing::warn!(
            "api.tokens holds the shipped placeholder ({PLACEHOLDER_TOKEN_PREFIX}...): anyone \
             who reads the repository can call /api/v1, follow every callback with chathook \
             tail and open /console; set your own token"
        );
    }
    let redacted = config.redacted();
    let enabled = config
        .handlers
        .iter()
        .filter(|(_, table)| table.enabled)
        .map(|(name, _)| name);
    for name in enabled {
        let settings = redacted["handlers"][name].to_string();
        tracing::info!(handler = %name, settings = %settings, "handler enabled");
    }
}

/// `RUST_LOG` if set, else `log.level`.
pub(crate) fn log_filter(log: &LogConfig) -> anyhow::Result<EnvFilter> {
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG {directives:?} is not a valid log filter")),
        _ => EnvFilter::try_new(&log.level)
            .with_context(|| format!("log.level {:?} is not a valid log filter", log.level)),
    }
}

fn init_logging(log: &LogConfig) -> anyhow::Result<()> {
    let filter = log_filter(log)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let installed = match log.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))
}

/// Every connection is a file descriptor: raise the soft limit to the hard one (a common
/// default soft limit is 1024), and say so when `server.max_connections` still cannot be
/// reached, since accepting would then fail before the connection limit is.
#[cfg(unix)]
fn raise_file_limit(max_connections: usize) {
    // Descriptors for the listener, logs, databases and their pools.
    const SPARE: u64 = 128;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_connections as u64 + SPARE => tracing::warn!(
            file_limit = limit,
            max_connections,
            "the open-file limit is too low for server.max_connections: raise it (ulimit -n) \
             or lower server.max_connections"
        ),
        Ok(limit) => tracing::debug!(file_limit = limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-file limit"),
    }
}

#[cfg(not(unix))]
fn raise_file_limit(_max_connections: usize) {}

/// Installs the signal handlers now, before the service says it is listening, and returns
/// what resolves on SIGINT or SIGTERM. SIGHUP, whose default action would kill the process
/// silently, is logged and ignored: chathook reads its config only at start-up.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).with_context(|| format!("cannot listen for {name}"))
    };
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP")?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {
                    tracing::info!("SIGINT received; shutting down");
                    return;
                }
                _ = terminate.recv() => {
                    tracing::info!("SIGTERM received; shutting down");
                    return;
                }
                _ = hangup.recv() => tracing::warn!(
                    "SIGHUP received and ignored: chathook does not reload its config; \
                     restart it to apply changes"
                ),
            }
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received; shutting down");
    })
}
