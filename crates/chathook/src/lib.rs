//! chathook: the command line and the service's entry point.
//!
//! The stock binary is `fn main() { chathook::main() }`. A team that adds its own plugin crates
//! builds its own binary the same way, naming its crates so the linker keeps their
//! registrations, without forking chathook:
//!
//! ```text
//! use my_team_plugin as _;
//!
//! fn main() -> std::process::ExitCode {
//!     chathook::main()
//! }
//! ```

pub mod fixtures;
mod plugins;
mod tail;
mod tools;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use anyhow::Context as _;
use chathook_core::config::{CONFIG_PATH_ENV, ConfigFile, LogConfig, LogFormat};
use chathook_core::registry::{Plan, Role};
use chathook_core::{CallbackKind, Chathook, Config};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// `chathook --version`: the version and the plugins linked into this binary, e.g.
/// `0.1.0 (plugins: nats, read_receipt)`.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = chathook_core::linked_handlers()
        .iter()
        .map(|registration| registration.name())
        .collect();
    let plugins = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    format!("{} (plugins: {plugins})", env!("CARGO_PKG_VERSION"))
});

/// One endpoint for every Tencent Cloud Chat callback.
// No Debug: `sign --token` carries a secret.
#[derive(Parser)]
#[command(name = "chathook", version = VERSION.as_str(), about)]
pub struct Cli {
    /// Config file [default: config/chathook.toml if present]; it must exist when named.
    #[arg(long, global = true, env = CONFIG_PATH_ENV, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do [default: serve].
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Serve callbacks (the default).
    Serve,
    /// Print the routing table: each command, its kind, and every handler serving it (which
    /// one decides, which observe) with where its command set came from.
    Handlers,
    /// Validate the config and print the effective config with secrets redacted.
    CheckConfig,
    /// POST a callback with a fresh Sign, as Chat would, and print the status and reply.
    Send {
        /// The CallbackCommand, e.g. Group.CallbackBeforeSendMsg.
        command: String,
        /// The callback URL, e.g. http://127.0.0.1:8080/callback.
        #[arg(long)]
        url: String,
        /// The body: a JSON file, or - for standard input [default: the bundled sample].
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// Which app sends it.
        #[command(flatten)]
        app: tools::AppArgs,
    },
    /// List the bundled sample bodies, or print the one for COMMAND.
    Fixtures {
        /// A CallbackCommand.
        command: Option<String>,
    },
    /// Explain, check by check, whether chathook would accept a callback URL.
    VerifyUrl {
        /// The full URL as captured from a proxy or log (quote it in the shell).
        url: String,
        /// The app's token [default: the configured app's tokens].
        #[arg(long)]
        token: Option<String>,
    },
    /// The `nats` handler's tools.
    Nats {
        /// What to do.
        #[command(subcommand)]
        command: NatsCommand,
    },
    /// Follow callbacks as they arrive (GET /api/v1/callbacks/stream): one line each,
    /// refusals explained, coloured by outcome on a terminal; --json for tools.
    Tail(tail::TailArgs),
    /// Print `Sign=...&RequestTime=...` for a token, to append to a callback URL.
    Sign {
        /// The app's callback auth token.
        #[arg(long)]
        token: String,
        /// Unix time in seconds [default: now].
        #[arg(long)]
        time: Option<u64>,
    },
}

/// `chathook nats ...`.
#[derive(Subcommand)]
pub enum NatsCommand {
    /// Show what the spool holds (callbacks JetStream has not acknowledged yet); with
    /// `--drain`, publish all of it now, in order. Drain while chathook is stopped: a running
    /// chathook drains its spool itself.
    Spool {
        /// Publish every spooled callback to JetStream, then remove it.
        #[arg(long)]
        drain: bool,
    },
}

/// Parses the command line and runs it; for `fn main`.
pub fn main() -> ExitCode {
    main_with_args(std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name), for binaries that carry
/// chathook as one of several commands.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_report(&error));
            ExitCode::FAILURE
        }
    }
}

/// `error` and its causes on one line, each cause once: many errors already show their
/// cause in their own words, and printing the chain again would say it twice or more.
pub fn error_report(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = ConfigFile::from_option(cli.config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&file).await,
        Command::Handlers => {
            let config = Config::load(&file)?;
            print_ignored_env_vars();
            let plan = Plan::new(&config)?;
            print_warnings(&plan);
            print!("{}", routing_table(&plan));
            Ok(())
        }
        Command::CheckConfig => {
            let config = Config::load(&file)?;
            print_ignored_env_vars();
            print_warnings(&Plan::new(&config)?);
            log_filter(&config.log)?;
            print!("{}", annotated_config(&config, &file)?);
            match file.resolved() {
                Some(path) => eprintln!("config is valid (file {})", path.display()),
                None => eprintln!(
                    "config is valid, but no config file was found ({} does not exist, and \
                     neither --config nor {CONFIG_PATH_ENV} names one): the values above are \
                     the embedded defaults and CHATHOOK_* environment variables only",
                    chathook_core::config::DEFAULT_CONFIG_PATH
                ),
            }
            Ok(())
        }
        Command::Send {
            command,
            url,
            body,
            app,
        } => tools::send(&command, &url, body, app, || Ok(Config::load(&file)?)).await,
        Command::Fixtures { command } => tools::fixtures(command.as_deref()),
        Command::VerifyUrl { url, token } => tools::verify_url(&url, token, &Config::load(&file)?),
        Command::Nats {
            command: NatsCommand::Spool { drain },
        } => nats_spool(&Config::load(&file)?, drain).await,
        Command::Tail(args) => tail::run(args, &file).await,
        Command::Sign { token, time } => {
            let time = time.unwrap_or_else(chathook_core::auth::unix_now);
            println!(
                "Sign={}&RequestTime={time}",
                chathook_core::auth::sign(&token, time)
            );
            Ok(())
        }
    }
}

async fn nats_spool(config: &Config, drain: bool) -> anyhow::Result<()> {
    use chathook_nats::{NatsConfig, spool_tool};
    // The checks `check-config` and `serve` make, so the tool never reads a config they refuse.
    Plan::new(config)?;
    let table = config.handlers.get("nats");
    let settings = table
        .map(|table| table.settings.clone())
        .unwrap_or_default();
    let nats: NatsConfig = serde_json::from_value(serde_json::Value::Object(settings))
        .context("invalid settings in [handlers.nats]")?;
    nats.validate()
        .map_err(|problem| anyhow::anyhow!("invalid settings in [handlers.nats]: {problem}"))?;
    println!(
        "{}",
        spool_tool::report(&nats).map_err(|error| anyhow::anyhow!("{error}"))?
    );
    if drain {
        let published = spool_tool::drain(&nats)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        println!(
            "published {published} spooled callbacks to stream {}",
            nats.stream
        );
    }
    Ok(())
}

/// What [`ignored_env_vars_warning`] says, on standard error.
fn print_ignored_env_vars() {
    if let Some(warning) = ignored_env_vars_warning() {
        eprintln!("warning: {warning}");
    }
}

/// One warning naming (never showing the values of) the `CHATHOOK_*` variables that are not
/// config keys, such as those Kubernetes injects for a Service named `chathook`.
fn ignored_env_vars_warning() -> Option<String> {
    let ignored = Config::ignored_env_vars();
    (!ignored.is_empty()).then(|| {
        format!(
            "ignoring environment variables that are not config keys (a config key is \
             CHATHOOK_<SECTION>__<KEY>, SECTION one of {}): {}",
            chathook_core::config::SECTIONS.join(", "),
            ignored.join(", ")
        )
    })
}

fn print_warnings(plan: &Plan) {
    for warning in plan.warnings() {
        eprintln!("warning: {warning}");
    }
}

async fn serve(file: &ConfigFile) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    init_logging(&config.log)?;
    log_startup(file, &config);
    if let Some(warning) = ignored_env_vars_warning() {
        tracing::warn!("{warning}");
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

/// The effective config as TOML, secrets redacted, each value followed by where it came
/// from: `# file PATH`, `# environment CHATHOOK_...` or `# default`.
fn annotated_config(config: &Config, file: &ConfigFile) -> anyhow::Result<String> {
    let figment = Config::figment(file)?;
    // Each enabled handler's settings as it will see them, its defaults included, where its
    // config type can say (it implements Serialize); unset options are left out.
    let mut shown = config.clone();
    for (name, table) in shown.handlers.iter_mut().filter(|(_, table)| table.enabled) {
        let registration = chathook_core::linked_handlers()
            .into_iter()
            .find(|registration| registration.name() == name);
        if let Some(serde_json::Value::Object(mut effective)) =
            registration.and_then(|registration| registration.effective_settings(&table.settings))
        {
            effective.retain(|_, value| !value.is_null());
            table.settings = effective;
        }
    }
    let text = toml::to_string(&shown.redacted()).context("cannot print the config as TOML")?;
    let key_path = |key: &str| -> Vec<String> {
        key.split('.')
            .map(|part| part.trim().trim_matches('"').to_owned())
            .collect()
    };
    let mut table: Vec<String> = Vec::new();
    let mut annotated = String::new();
    for line in text.lines() {
        if let Some(header) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            table = key_path(header);
            annotated.push_str(line);
        } else if let Some((key, _)) = line.split_once(" = ") {
            let mut path = table.clone();
            path.extend(key_path(key));
            annotated.push_str(&format!(
                "{line}  # {}",
                Config::value_source(&figment, &path)
            ));
        } else {
            annotated.push_str(line);
        }
        annotated.push('\n');
    }
    Ok(annotated)
}

/// Tokens of the shipped config start with this; no real token does.
const PLACEHOLDER_TOKEN_PREFIX: &str = "change-me-";

/// What an operator needs to see first: the version, the config file (or that there is
/// none), each app, each enabled handler with its settings (credentials redacted), and a
/// warning while a shipped placeholder token is in use. Never a token itself.
fn log_startup(file: &ConfigFile, config: &Config) {
    let version = VERSION.as_str();
    match file.resolved() {
        Some(path) => tracing::info!(
            version,
            config_file = %path.display(),
            "chathook {version} starting with config file {}",
            path.display()
        ),
        None => tracing::info!(
            version,
            "chathook {version} starting with no config file ({} not found): the embedded \
             defaults and CHATHOOK_* environment variables only",
            chathook_core::config::DEFAULT_CONFIG_PATH
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
            "app {name}: SdkAppid {}, {} token(s)",
            app.sdk_app_id,
            app.tokens.len()
        );
        if placeholder(&app.tokens) {
            tracing::warn!(
                app = %name,
                "app {name} uses the shipped placeholder token ({PLACEHOLDER_TOKEN_PREFIX}...), \
                 which anyone can read in the repository: set apps.{name}.tokens to the token \
                 of your app's callback authentication in the Chat console"
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
        tracing::info!(
            handler = %name,
            settings = %settings,
            "handler {name} enabled: {settings}"
        );
    }
}

/// `RUST_LOG` if set, else `log.level`.
fn log_filter(log: &LogConfig) -> anyhow::Result<EnvFilter> {
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

/// The `chathook handlers` table: per command, every handler, what it does there (runs,
/// decides, observes, or disabled) and where its command set came from (code, or a pattern
/// of its config or of its registration's default).
pub fn routing_table(plan: &Plan) -> String {
    let rows = plan.routing_table();
    let width = rows
        .iter()
        .map(|row| row.command.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = format!("{:<width$}  {:<13}  HANDLERS\n", "COMMAND", "KIND");
    for row in rows {
        let enabled = row.handlers.iter().any(|handler| handler.role.is_some());
        let deciding = row
            .handlers
            .iter()
            .any(|handler| handler.role == Some(Role::Decides));
        let mut handlers: Vec<String> = row
            .handlers
            .iter()
            .map(|handler| {
                let role = handler.role.map_or("disabled", Role::as_str);
                format!("{} {role} ({})", handler.name, handler.source)
            })
            .collect();
        if !enabled {
            handlers.insert(0, "- unrouted".into());
        } else if row.kind != CallbackKind::After && !deciding {
            handlers.push("(no decider: answered as dispatch.unrouted says)".into());
        }
        text.push_str(&format!(
            "{:<width$}  {:<13}  {}\n",
            row.command,
            row.kind.as_str(),
            handlers.join(", ")
        ));
    }
    text
}
