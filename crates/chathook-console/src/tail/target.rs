//! Where `chathook tail` connects and with which token: from the flags and the environment,
//! else from the config, each with where it came from for the error messages.

use anyhow::{Context as _, bail};
use chathook_core::Config;
use chathook_core::config::ConfigFile;
use reqwest::Url;

use super::{STREAM_PATH, TOKEN_ENV, TailArgs};

/// Where to connect and with which token, and where each came from (for error messages).
pub(super) struct Target {
    /// The stream's URL, with any query the operator's `--url` carried.
    pub(super) stream: Url,
    pub(super) url_source: String,
    pub(super) token: String,
    pub(super) token_source: String,
}

impl Target {
    /// The URL and token from the flags and environment, else from the config, which is read
    /// only when one of them is missing.
    pub(super) fn resolve(args: &TailArgs, file: &ConfigFile) -> anyhow::Result<Self> {
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
    pub(super) fn request_url(&self, args: &TailArgs, after: Option<u64>) -> Url {
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
