//! The Chat-aware helpers of the command line: `send`, `fixtures` and `verify-url`.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chathook_core::Config;
use chathook_core::auth::{
    App, CallbackQuery, check_freshness, check_sign, parse_request_time, sign, unix_now,
};
use chathook_core::rejection::Rejection;

use crate::fixtures::{FIXTURES, body_for, fixture};

/// Which app a request is sent as.
#[derive(clap::Args)]
pub struct AppArgs {
    /// The app's SDKAppID (with --token for an app that signs its callbacks).
    #[arg(long, conflicts_with = "app")]
    pub sdk_app_id: Option<u64>,
    /// The app's callback auth token.
    #[arg(long, requires = "sdk_app_id", conflicts_with = "app")]
    pub token: Option<String>,
    /// Take SdkAppid and token (the first in `tokens`) from `[apps.NAME]` in the config.
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
}

/// `chathook send`: POST one callback the way Chat does and print the reply.
pub async fn send(
    command: &str,
    url: &str,
    body: Option<PathBuf>,
    app: AppArgs,
    config: impl FnOnce() -> anyhow::Result<Config>,
) -> anyhow::Result<()> {
    let (sdk_app_id, token) = match (app.app, app.sdk_app_id) {
        (Some(name), _) => {
            let config = config()?;
            let app = config.apps.get(&name).with_context(|| {
                let names: Vec<_> = config.apps.keys().map(String::as_str).collect();
                format!(
                    "no [apps.{name}] in the config (apps: {})",
                    names.join(", ")
                )
            })?;
            (
                app.sdk_app_id,
                app.tokens.first().map(|t| t.expose().to_owned()),
            )
        }
        (None, Some(sdk_app_id)) => (sdk_app_id, app.token),
        (None, None) => bail!("say which app sends: --sdk-app-id N [--token T], or --app NAME"),
    };
    let body = match body {
        None => body_for(command).with_context(|| {
            format!(
                "{command} is not a documented command and has no sample; pass --body FILE \
                 (chathook fixtures lists the samples)"
            )
        })?,
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the body from standard input")?;
            text
        }
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the body from {}", path.display()))?,
    };
    if !url.starts_with("http://") {
        bail!("--url must be a plain http:// URL (send does not speak TLS): {url}");
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("SdkAppid", &sdk_app_id.to_string())
        .append_pair("CallbackCommand", command)
        .append_pair("contenttype", "json")
        .append_pair("ClientIP", "127.0.0.1")
        .append_pair("OptPlatform", "RESTAPI");
    if let Some(token) = &token {
        let time = unix_now();
        query
            .append_pair("Sign", &sign(token, time))
            .append_pair("RequestTime", &time.to_string());
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{separator}{}", query.finish());
    let response = reqwest::Client::new()
        .post(&target)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url} failed"))?;
    let status = response.status();
    let reply = response.text().await.context("cannot read the reply")?;
    println!("HTTP {}", status.as_u16());
    println!("{reply}");
    if !status.is_success() {
        bail!("the callback was not accepted (HTTP {})", status.as_u16());
    }
    Ok(())
}

/// `chathook fixtures [COMMAND]`: list the bundled samples, or print one.
pub fn fixtures(command: Option<&str>) -> anyhow::Result<()> {
    match command {
        None => {
            for (name, _) in FIXTURES {
                println!(
                    "{name:<40} {}",
                    chathook_core::protocol::kind_of(name).as_str()
                );
            }
        }
        Some(command) => match fixture(command) {
            Some(body) => print!("{body}"),
            None => bail!("no bundled sample for {command}; `chathook fixtures` lists them"),
        },
    }
    Ok(())
}

/// `chathook verify-url`: explain, check by check, what chathook would answer `url`.
pub fn verify_url(url: &str, token: Option<String>, config: &Config) -> anyhow::Result<()> {
    let query_text = url.split_once('?').map_or("", |(_, query)| query);
    let query_text = query_text.split('#').next().unwrap_or("");
    let mut report = Report::default();
    let query = match CallbackQuery::parse(query_text) {
        Ok(query) => query,
        Err(rejection) => {
            report.fail("query", rejection);
            return report.finish();
        }
    };

    let sdk_app_id = match query.sdk_app_id() {
        Ok(id) => id,
        Err(rejection) => {
            report.fail("SdkAppid", rejection);
            return report.finish();
        }
    };
    let configured = config
        .apps
        .iter()
        .find(|(_, app)| app.sdk_app_id == sdk_app_id);
    match configured {
        Some((name, _)) => report.pass("SdkAppid", format!("{sdk_app_id} is app {name:?}")),
        None => report.fail("SdkAppid", Rejection::UnknownApp(sdk_app_id)),
    }
    // The token from the command line wins; else the configured app's tokens, as serve does.
    let tokens = match (token, configured) {
        (Some(token), _) => vec![chathook_core::auth::Secret::new(token)],
        (None, Some((_, app))) => app.tokens.clone(),
        (None, None) => Vec::new(),
    };
    let app = App::new("checked", sdk_app_id, tokens);
    if !app.requires_signature() {
        let why = if configured.is_some() {
            "not required (the app sets allow_unsigned)"
        } else {
            "not checked: pass --token, or configure the app"
        };
        report.pass("Sign", why.into());
    } else {
        check_signature(&mut report, &app, &query, config.auth.max_clock_skew_secs);
    }
    match query.command.as_deref() {
        Some(command) => {
            let kind = chathook_core::protocol::kind_of(command).as_str();
            report.pass("CallbackCommand", format!("{command} ({kind}-callback)"))
        }
        None => report.fail("CallbackCommand", Rejection::CommandMissing),
    }
    report.finish()
}

/// Every signature check on its own, so one report names each problem.
fn check_signature(report: &mut Report, app: &App, query: &CallbackQuery<'_>, max_skew_secs: u64) {
    let sign = query.sign.as_deref();
    match sign {
        Some(_) => report.pass("Sign", "present".into()),
        None => report.fail("Sign", Rejection::SignMissing),
    }
    let Some(time_text) = query.request_time.as_deref() else {
        report.fail("RequestTime", Rejection::RequestTimeMissing);
        return;
    };
    match parse_request_time(time_text) {
        Err(rejection) => report.fail("RequestTime", rejection),
        Ok(time) => match check_freshness(time, unix_now(), max_skew_secs) {
            Ok(()) => report.pass(
                "RequestTime",
                format!(
                    "{time} is {} s from now (allowed ±{max_skew_secs} s)",
                    time as i64 - unix_now() as i64
                ),
            ),
            Err(rejection) => report.fail("RequestTime", rejection),
        },
    }
    if let Some(sign) = sign {
        match check_sign(app.tokens(), sign, time_text) {
            Ok(()) => report.pass("Sign", "matches the token".into()),
            Err(rejection) => report.fail("Sign", rejection),
        }
    }
}

/// The lines of a `verify-url` report and its first failure.
#[derive(Default)]
struct Report {
    first_failure: Option<Rejection>,
}

impl Report {
    fn pass(&mut self, check: &str, detail: String) {
        println!("ok    {check:<16} {detail}");
    }

    fn fail(&mut self, check: &str, rejection: Rejection) {
        println!("FAIL  {check:<16} {rejection}");
        self.first_failure.get_or_insert(rejection);
    }

    fn finish(self) -> anyhow::Result<()> {
        match self.first_failure {
            None => {
                println!("verdict: accepted");
                Ok(())
            }
            Some(rejection) => {
                let reply = serde_json::to_string(&rejection.reply()).expect("reply serializes");
                println!(
                    "verdict: refused with HTTP {} ({}): {reply}",
                    rejection.status().as_u16(),
                    rejection.reason()
                );
                bail!("chathook would refuse this callback: {rejection}")
            }
        }
    }
}
