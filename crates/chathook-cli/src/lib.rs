//! chathook-cli: the `chathook` command line as a library (serve, check-config, handlers,
//! send, fixtures, verify-url, sign, deliveries), over `chathook-core`; it names no plugin. Each linked
//! crate's own verbs (`chathook nats ...`, the console's `chathook tail`) come from its tool
//! registration ([`chathook_core::register_tool!`]).
//!
//! The stock binary (`crates/chathook`) is this CLI plus its link list. A team that adds its
//! own plugin crates builds its own binary the same way, naming the crates it links so the
//! linker keeps their registrations, without forking chathook:
//!
//! ```text
//! use my_team_plugin as _;
//! use a_stock_plugin as _; // any stock plugin the team wants, named the same way
//!
//! fn main() -> std::process::ExitCode {
//!     chathook_cli::main()
//! }
//! ```

mod deliveries;
pub mod fixtures;
mod inspect;
mod plugin_tools;
mod serve;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;

use chathook_core::Config;
use chathook_core::config::{CONFIG_PATH_ENV, ConfigFile};
use chathook_core::registry::Plan;
use clap::{Parser, Subcommand};

pub use crate::inspect::routing_table;
use crate::plugin_tools::Parsed;

/// `chathook --version`: the version and the plugins linked into this binary, e.g.
/// `0.1.0 (plugins: keyword_filter, my_filter)`.
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
#[command(
    name = "chathook",
    version = VERSION.as_str(),
    about = "The chathook service: one endpoint for every Tencent Cloud Chat callback."
)]
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
    /// The journal's deliveries to queued handlers: list, show, retry, discard, replay. Reads
    /// the journal the config names directly, so the server may be stopped.
    Deliveries {
        /// What to do.
        #[command(subcommand)]
        command: deliveries::DeliveriesCommand,
    },
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
    let parsed = match plugin_tools::parse(args) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: {}", error_report(&error));
            return ExitCode::FAILURE;
        }
    };
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
    let outcome = runtime.block_on(async {
        match parsed {
            Parsed::BuiltIn(cli) => run(cli).await,
            Parsed::Tool {
                tool,
                matches,
                file,
            } => tool
                .run(matches, file)
                .await
                .map_err(|error| anyhow::anyhow!(error)),
        }
    });
    match outcome {
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

/// Runs one parsed command line (a built-in verb; plugin tools run through
/// [`main_with_args`]).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = ConfigFile::from_option(cli.config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(&file).await,
        Command::Handlers => {
            let config = Config::load(&file)?;
            inspect::print_ignored_env_vars();
            let plan = Plan::new(&config)?;
            inspect::print_warnings(&plan);
            print!("{}", inspect::routing_table(&plan));
            Ok(())
        }
        Command::CheckConfig => {
            let config = Config::load(&file)?;
            inspect::print_ignored_env_vars();
            let plan = Plan::new(&config)?;
            inspect::print_warnings(&plan);
            serve::log_filter(&config.log)?;
            print!("{}", inspect::annotated_config(&config, &file)?);
            inspect::print_queued(&config, &plan);
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
        Command::Deliveries { command } => deliveries::run(command, &Config::load(&file)?).await,
        Command::VerifyUrl { url, token } => tools::verify_url(&url, token, &Config::load(&file)?),
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
