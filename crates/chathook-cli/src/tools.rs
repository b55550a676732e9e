//! The Chat-aware helpers of the command line: `send`, `fixtures` and `verify-url`.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chathook_core::Config;
use chathook_core::auth::{Secret, sign, unix_now};
use chathook_core::callback::{Gate, Verdict};
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
pub(crate) async fn send(
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
pub(crate) fn fixtures(command: Option<&str>) -> anyhow::Result<()> {
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

/// `chathook verify-url`: explain, check by check, what chathook would answer `url`. The
/// checks are the server's own list, walked by [`Gate::explain`].
pub(crate) fn verify_url(url: &str, token: Option<String>, config: &Config) -> anyhow::Result<()> {
    let gate = Gate::new(config);
    let mut report = Report::default();
    for finding in gate.explain(url, token.map(Secret::new)) {
        match finding.verdict {
            Verdict::Passed(detail) => report.pass(finding.name, detail),
            Verdict::NotChecked(why) => report.skip(finding.name, why),
            Verdict::Failed(rejection) => report.fail(finding.name, rejection),
        }
    }
    report.finish()
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

    /// A check a URL alone cannot settle, and why.
    fn skip(&mut self, check: &str, why: String) {
        println!("skip  {check:<16} {why}");
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
