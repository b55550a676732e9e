//! Opening `chathook tail`'s stream: every refusal the server can give turned into words an
//! operator can act on, and sorted into fatal and worth retrying.

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::target::Target;
use super::{CONNECT_TIMEOUT, TOKEN_ENV};

/// Why a connection attempt failed: for good, or for now.
pub(super) enum Failure {
    Fatal(anyhow::Error),
    Retry(anyhow::Error),
}

/// Opens the stream, turning every refusal into words an operator can act on.
pub(super) async fn open(
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
pub(super) fn describe_request_error(error: &reqwest::Error) -> String {
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
