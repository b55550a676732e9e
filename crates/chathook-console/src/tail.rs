//! `chathook tail`, the console's client: follows `GET /api/v1/callbacks/stream` and prints one
//! line per callback, coloured by outcome on a terminal, plain when piped, or each record as
//! JSON with `--json`. A tool of this crate ([`chathook_core::register_tool!`]), so a binary
//! that links the console has `tail` and the stock CLI names no console.
//!
//! A dropped connection is reopened with backoff and `after=<last id>`, so every callback still
//! in the server's buffer is printed once; what could not be shown is said on standard error.

use std::time::Duration;

use anyhow::{Context as _, bail};
use chathook_core::config::ConfigFile;
use chathook_core::tool::ToolInput;
// The CLI's clap, which the derive below names as `clap`: no second copy of it.
use chathook_core::tool::clap::{self, Args as _, Command, FromArgMatches as _};

use self::connect::{Failure, open};
use self::follow::{Ended, follow};
use self::output::Output;
use self::target::Target;

mod connect;
mod follow;
mod output;
mod target;

/// The stream's path under chathook's base URL.
const STREAM_PATH: &str = "/api/v1/callbacks/stream";

/// Where `--token` is read from when the flag is absent.
const TOKEN_ENV: &str = chathook_core::config::API_TOKEN_ENV;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The server sends a keep-alive comment every 15 s: this long without a byte is a dead link.
const READ_TIMEOUT: Duration = Duration::from_secs(45);

/// The first pause before reconnecting, doubled per failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

chathook_core::register_tool! {
    command: command,
    run: run,
}

/// `chathook tail` with its options and help.
fn command() -> Command {
    TailArgs::augment_args(Command::new("tail"))
}

// `chathook tail`'s options, and its help as it had it as a built-in verb (a doc comment here
// would be its help). No Debug: `--token` carries a secret.
#[derive(clap::Args)]
#[command(
    about = "Follow callbacks as they arrive (GET /api/v1/callbacks/stream): one line each, \
             refusals explained, coloured by outcome on a terminal; --json for tools"
)]
struct TailArgs {
    /// chathook's base URL, e.g. http://127.0.0.1:8080 (a URL ending in
    /// /api/v1/callbacks/stream is fine too) [default: server.listen_addr of the config].
    #[arg(long)]
    url: Option<String>,
    /// An API token, one of the server's `[api] tokens` [env: CHATHOOK_API_TOKEN] [default:
    /// the first `[api] tokens` entry of the config].
    #[arg(long)]
    token: Option<String>,
    /// Only callbacks whose command matches: comma-separated patterns as in handler config,
    /// e.g. `Group.*`, `after`, `Group.*:after`, `!Group.CallbackAfterSendMsg`.
    #[arg(long, value_name = "PATTERN")]
    command: Option<String>,
    /// Only callbacks of this app: its name in the config, or its SdkAppid.
    #[arg(long)]
    app: Option<String>,
    /// Only callbacks with these outcomes (repeat the flag or separate with commas).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(
            chathook_core::metrics::Outcome::ALL.map(chathook_core::metrics::Outcome::as_str)
        )
    )]
    outcome: Vec<String>,
    /// Print each record exactly as the server sent it, one JSON object per line.
    #[arg(long)]
    json: bool,
}

/// The tool's entry: what clap parsed for `tail`, then [`tail`].
async fn run(input: ToolInput) -> anyhow::Result<()> {
    let args = TailArgs::from_arg_matches(input.matches())?;
    tail(args, input.config_file()).await
}

/// `chathook tail`: follows the stream until interrupted or until stdout is closed.
async fn tail(args: TailArgs, file: &ConfigFile) -> anyhow::Result<()> {
    let target = Target::resolve(&args, file)?;
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let mut output = Output::new(args.json);
    let mut last_id: Option<u64> = None;
    let mut connected = false;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let url = target.request_url(&args, last_id);
        match open(&client, &url, &target).await {
            Err(Failure::Fatal(error)) => return Err(error),
            // The first connection must work: a wrong URL should fail now, not retry forever.
            Err(Failure::Retry(error)) if !connected => {
                let hint = if target.url_source == "--url" {
                    "Check --url.".to_owned()
                } else {
                    format!(
                        "Pass its address with --url (this one came from {}).",
                        target.url_source
                    )
                };
                bail!("{error}; is chathook running there? {hint}");
            }
            Err(Failure::Retry(error)) => {
                eprintln!(
                    "cannot reconnect: {error}; retrying in {}",
                    seconds(backoff)
                )
            }
            Ok(response) => {
                let resumed_after = last_id;
                match follow(response, &target, &mut output, &mut last_id, resumed_after).await? {
                    Ended::StdoutClosed => return Ok(()),
                    Ended::Lost { opened, why } => {
                        if opened {
                            connected = true;
                            backoff = FIRST_BACKOFF;
                        }
                        let resume = match last_id {
                            Some(0) => "resuming with every callback the server holds".into(),
                            Some(id) => format!("resuming after callback {id}"),
                            None => "resuming with what arrives next".into(),
                        };
                        eprintln!(
                            "connection to {} lost ({why}); reconnecting in {}, {resume}",
                            target.stream,
                            seconds(backoff)
                        );
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `250 ms` or `2 s`.
fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs())
    }
}
