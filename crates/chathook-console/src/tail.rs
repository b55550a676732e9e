//! `chathook tail`: follows `GET /api/v1/callbacks/stream` and prints one line per callback,
//! coloured by outcome on a terminal, plain when piped, or each record as JSON with `--json`.
//!
//! A dropped connection is reopened with backoff and `after=<last id>`, so every callback still
//! in the server's buffer is printed once; what could not be shown is said on standard error.

use std::time::Duration;

use anyhow::{Context as _, bail};
use chathook_core::Config;
use chathook_core::config::ConfigFile;
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use self::output::Output;

mod output;

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

/// `chathook tail`'s options. No Debug: `--token` carries a secret.
#[derive(clap::Args)]
pub struct TailArgs {
    /// chathook's base URL, e.g. http://127.0.0.1:8080 (a URL ending in
    /// /api/v1/callbacks/stream is fine too) [default: server.listen_addr of the config].
    #[arg(long)]
    pub url: Option<String>,
    /// An API token, one of the server's `[api] tokens` [env: CHATHOOK_API_TOKEN] [default:
    /// the first `[api] tokens` entry of the config].
    #[arg(long)]
    pub token: Option<String>,
    /// Only callbacks whose command matches: comma-separated patterns as in handler config,
    /// e.g. `Group.*`, `after`, `Group.*:after`, `!Group.CallbackAfterSendMsg`.
    #[arg(long, value_name = "PATTERN")]
    pub command: Option<String>,
    /// Only callbacks of this app: its name in the config, or its SdkAppid.
    #[arg(long)]
    pub app: Option<String>,
    /// Only callbacks with these outcomes (repeat the flag or separate with commas).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = clap::builder::PossibleValuesParser::new(
            chathook_core::metrics::Outcome::ALL.map(chathook_core::metrics::Outcome::as_str)
        )
    )]
    pub outcome: Vec<String>,
    /// Print each record exactly as the server sent it, one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `chathook tail`: follows the stream until interrupted or until stdout is closed.
pub async fn run(args: TailArgs, file: &ConfigFile) -> anyhow::Result<()> {
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

/// Where to connect and with which token, and where each came from (for error messages).
struct Target {
    /// The stream's URL, with any query the operator's `--url` carried.
    stream: Url,
    url_source: String,
    token: String,
    token_source: String,
}

impl Target {
    /// The URL and token from the flags and environment, else from the config, which is read
    /// only when one of them is missing.
    fn resolve(args: &TailArgs, file: &ConfigFile) -> anyhow::Result<Self> {
        let non_empty = |value: &String| !value.is_empty();
        let token = match (&args.token, std::env::var(TOKEN_ENV).ok()) {
            (Some(token), _) if non_empty(token) => Some((token.clone(), "--token".to_owned())),
            (_, Some(token)) if non_empty(&token) => Some((token, TOKEN_ENV.to_owned())),
            _ => None,
        };
        let url = args
            .url
            .as_ref()
            .map(|url| (url.clone(), "--url".to_owned()));
        let (url, token) = match (url, token) {
            (Some(url), Some(token)) => (url, token),
            (url, token) => {
                let context = "tail reads the server's address and an API token from the \
                               config when --url or --token is not given";
                let figment = Config::figment(file).context(context)?;
                let config = Config::from_figment(&figment).context(context)?;
                let where_from = |key: &str| {
                    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
                    Config::value_source(&figment, &path)
                };
                let url = url.unwrap_or_else(|| {
                    (
                        local_url(config.server.listen_addr),
                        format!("server.listen_addr ({})", where_from("server.listen_addr")),
                    )
                });
                let token = match token {
                    Some(token) => token,
                    None => match config.api.tokens.first() {
                        Some(token) => (
                            token.expose().to_owned(),
                            format!(
                                "the first [api] tokens entry ({})",
                                where_from("api.tokens")
                            ),
                        ),
                        None => bail!(
                            "no API token: pass --token or set {TOKEN_ENV} (the config's [api] \
                             tokens is empty{})",
                            match file.resolved() {
                                Some(path) => format!(", config file {}", path.display()),
                                None => ", and no config file was found".into(),
                            }
                        ),
                    },
                };
                (url, token)
            }
        };
        Ok(Self {
            stream: stream_url(&url.0)?,
            url_source: url.1,
            token: token.0,
            token_source: token.1,
        })
    }

    /// The stream URL with the filters and, on a reconnect, `after`.
    fn request_url(&self, args: &TailArgs, after: Option<u64>) -> Url {
        let mut url = self.stream.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(command) = &args.command {
                query.append_pair("command", command);
            }
            if let Some(app) = &args.app {
                query.append_pair("app", app);
            }
            if !args.outcome.is_empty() {
                query.append_pair("outcome", &args.outcome.join(","));
            }
            if let Some(after) = after {
                query.append_pair("after", &after.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }
}

/// `http://ADDR` for a listen address, with a wildcard address replaced by loopback.
fn local_url(addr: std::net::SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

/// The stream URL for chathook's base URL `base` (or for the stream URL itself).
fn stream_url(base: &str) -> anyhow::Result<Url> {
    let with_scheme = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    let mut url = Url::parse(&with_scheme)
        .with_context(|| format!("{base:?} is not a URL such as http://127.0.0.1:8080"))?;
    if url.scheme() != "http" {
        bail!("{base} is not an http:// URL: tail does not speak TLS");
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix(STREAM_PATH).unwrap_or(path).to_owned();
    url.set_path(&format!("{path}{STREAM_PATH}"));
    url.set_fragment(None);
    Ok(url)
}

/// Why a connection attempt failed: for good, or for now.
enum Failure {
    Fatal(anyhow::Error),
    Retry(anyhow::Error),
}

/// Opens the stream, turning every refusal into words an operator can act on.
async fn open(
    client: &reqwest::Client,
    url: &Url,
    target: &Target,
) -> Result<reqwest::Response, Failure> {
    let stream = &target.stream;
    let response = client
        .get(url.clone())
        .bearer_auth(&target.token)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|error| {
            let why = describe_request_error(&error);
            Failure::Retry(anyhow::anyhow!("cannot connect to {stream}: {why}"))
        })?;
    let status = response.status();
    if status == StatusCode::OK {
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "{stream} answered 200 with {content_type:?}, not an event stream: is --url \
                 chathook's address?"
            )));
        }
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let server_error = json["error"].as_str();
    let reason = json["reason"].as_str();
    let error = match status {
        StatusCode::UNAUTHORIZED => {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "{stream} refused the API token from {} ({}): pass one of the server's [api] \
                 tokens with --token or {TOKEN_ENV}",
                target.token_source,
                reason.unwrap_or("401 Unauthorized")
            )));
        }
        // The server's own words, e.g. that its buffer is off ([console] recent = 0).
        StatusCode::NOT_FOUND if reason == Some("api_not_found") && server_error.is_some() => {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "{stream} answered 404: {}",
                server_error.unwrap_or_default()
            )));
        }
        StatusCode::NOT_FOUND => {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "{stream} answered 404: the API is not served there; the server needs a \
                 non-empty [api] tokens and [console] recent > 0 (the console buffer on), or \
                 --url is not chathook's address"
            )));
        }
        StatusCode::BAD_REQUEST => {
            return Err(Failure::Fatal(anyhow::anyhow!(
                "the server refused the filters: {}",
                server_error.unwrap_or(body.trim())
            )));
        }
        _ => anyhow::anyhow!(
            "{stream} answered HTTP {}: {}",
            status.as_u16(),
            server_error.unwrap_or(body.trim())
        ),
    };
    if status.is_server_error() {
        Err(Failure::Retry(error))
    } else {
        Err(Failure::Fatal(error))
    }
}

/// A request error in a few words: "connection refused", "no answer within 5 s", ...
fn describe_request_error(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                _ => io.to_string(),
            };
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return format!("no answer within {} s", CONNECT_TIMEOUT.as_secs());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// How one connection's stream ended.
enum Ended {
    /// Nobody reads our output any more (e.g. `chathook tail | head`).
    StdoutClosed,
    /// The connection ended; `opened` says whether the server had sent `open` on it.
    Lost { opened: bool, why: String },
}

/// Prints the events of one connection until it ends.
async fn follow(
    response: reqwest::Response,
    target: &Target,
    output: &mut Output,
    last_id: &mut Option<u64>,
    resumed_after: Option<u64>,
) -> anyhow::Result<Ended> {
    let mut events = response.bytes_stream().eventsource();
    let mut opened = false;
    let lost = |opened: bool, why: String| Ok(Ended::Lost { opened, why });
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(eventsource_stream::EventStreamError::Transport(error)) => {
                return lost(opened, describe_request_error(&error));
            }
            Err(error) => return lost(opened, format!("unreadable event stream: {error}")),
        };
        match event.event.as_str() {
            "open" => {
                opened = true;
                let newest = serde_json::from_str::<Value>(&event.data)
                    .ok()
                    .and_then(|data| data["last_id"].as_u64());
                match (resumed_after, newest) {
                    (None, newest) => {
                        // Resume from here if the connection drops before any callback.
                        *last_id = last_id.or(newest);
                        eprintln!("following {}", target.stream);
                    }
                    (Some(after), Some(newest)) if newest < after => {
                        // A restarted server counts ids from 1 again: it sends all it holds,
                        // and the ids seen from here on are the ones to resume after.
                        *last_id = Some(0);
                        eprintln!(
                            "reconnected to {}: the server restarted (its newest callback is \
                             {newest}, before {after}); what it held before the restart is \
                             gone, what it holds now follows",
                            target.stream
                        );
                    }
                    (Some(after), _) => eprintln!(
                        "reconnected to {}; callbacks after {after} still in the server's \
                         buffer follow",
                        target.stream
                    ),
                }
            }
            // An update is a record again, once its last handler (an observer) has ended.
            name @ ("callback" | "update") => {
                let record: Value = match serde_json::from_str(&event.data) {
                    Ok(record) => record,
                    Err(error) => {
                        eprintln!("skipping a {name} event that is not JSON: {error}");
                        continue;
                    }
                };
                let update = name == "update";
                if !update && let Some(id) = event.id.parse().ok().or_else(|| record["id"].as_u64())
                {
                    *last_id = Some(last_id.map_or(id, |last| last.max(id)));
                }
                match output.record(&event.data, &record, update) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                        return Ok(Ended::StdoutClosed);
                    }
                    Err(error) => return Err(error).context("cannot write to standard output"),
                }
            }
            "missed" => {
                let missed = serde_json::from_str::<Value>(&event.data)
                    .ok()
                    .and_then(|data| data["missed"].as_u64());
                match missed {
                    Some(missed) => {
                        eprintln!("missed {missed} callbacks: this reader fell behind")
                    }
                    None => eprintln!("missed callbacks: this reader fell behind"),
                }
            }
            // Events a newer server may add are not for this reader.
            _ => {}
        }
    }
    lost(opened, "the server closed it".into())
}

/// `250 ms` or `2 s`.
fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs())
    }
}
