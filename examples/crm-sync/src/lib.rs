//! example-crm-sync: a queued handler that hands every callback it serves to the team's own
//! HTTP service (a CRM, a search index), the example to copy for a handler whose work is a
//! call downstream that may fail.
//!
//! It is registered with `delivery: queued`: chathook commits each callback to its journal
//! before Chat hears OK, and this handler's only job is to tell the journal, by its error,
//! whether an attempt may be retried. For each callback it POSTs the body as it came to
//! `{url}/chat-events`, with the delivery's idempotency key, attempt number and command in
//! headers, so the service can act once per key however often it is called. 2xx is done;
//! 408, 429, 5xx, a refused connection or a timeout is retried (after `Retry-After` seconds,
//! when the service gives them); any other 4xx is dead at once, for an operator to look at.
//!
//! `[handlers.crm_sync]` takes `url` (the service's base URL, http or https), `timeout_ms` and
//! `commands` (default `["after"]`: every after-callback), plus the platform's `delivery` and
//! `[handlers.crm_sync.queue]` keys. Like every example plugin it is linked only by binaries
//! that name it, never by the stock `chathook`.

use std::time::Duration;

use chathook_core::{
    Answer, Callback, Handler, HandlerError, async_trait, redact, register_handler,
};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

/// The path under `url` each callback is POSTed to.
pub const EVENTS_PATH: &str = "/chat-events";
/// The header carrying the delivery's idempotency key: the same on every attempt.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header carrying the attempt's number, from 1.
pub const ATTEMPT: &str = "Chathook-Attempt";
/// The header carrying the callback's `CallbackCommand`.
pub const COMMAND: &str = "Chathook-Command";

/// `[handlers.crm_sync]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmSyncConfig {
    /// The service's base URL, `http://` or `https://`; callbacks go to `{url}/chat-events`.
    pub url: String,
    /// How long one request may take, in milliseconds, before the attempt is retried. Keep it
    /// under `handlers.crm_sync.queue.attempt_timeout_ms`, or the platform cuts it off first.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    5000
}

impl CrmSyncConfig {
    /// What the type cannot say: the URL's scheme and shape, a timeout above zero. Run by
    /// `check-config` and at start-up, so a bad URL is never a request-time surprise.
    pub fn check(&self) -> Result<(), String> {
        events_url(&self.url)?;
        if self.timeout_ms == 0 {
            return Err("timeout_ms must be at least 1".into());
        }
        Ok(())
    }
}

/// `{url}/chat-events` for the base URL `url`, or why `url` is not a base URL of an HTTP
/// service. The error names the key and never shows the URL's password.
pub fn events_url(url: &str) -> Result<Url, String> {
    let shown = redact::url(url);
    let parsed = Url::parse(url).map_err(|error| format!("url {shown:?} is not a URL: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "url {shown:?} must start with http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("url {shown:?} has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "url {shown:?} must be a base URL, without a query or a fragment: \
             callbacks go to {{url}}{EVENTS_PATH}"
        ));
    }
    let joined = format!("{}{EVENTS_PATH}", url.trim_end_matches('/'));
    Url::parse(&joined).map_err(|error| format!("url {shown:?}: {error}"))
}

/// The handler: one HTTP client, kept for its connection pool.
#[derive(Debug)]
pub struct CrmSync {
    client: reqwest::Client,
    events: Url,
    /// The configured URL, to redact its password from errors that quote it apart.
    base_url: String,
}

impl CrmSync {
    /// The handler for a checked `config`.
    pub fn new(config: &CrmSyncConfig) -> Result<Self, String> {
        config.check()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        Ok(Self {
            client,
            events: events_url(&config.url)?,
            base_url: config.url.clone(),
        })
    }

    /// `error` and its causes on one line, with no credential of the URL in it.
    fn describe(&self, error: &(dyn std::error::Error + 'static)) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        redact::password_of(&self.base_url, &redact::credentials_in(&text))
    }
}

/// What the service's answer means for the delivery: done, retried (when the service says),
/// or dead. `retry_after` is its `Retry-After` header, read as whole seconds; an HTTP date
/// there is left to the handler's backoff.
pub fn outcome_of(status: StatusCode, retry_after: Option<&str>) -> Result<(), HandlerError> {
    if status.is_success() {
        return Ok(());
    }
    let error = format!("the service answered {status}");
    let retryable = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if !retryable {
        // Any other answer (a 4xx, or a 1xx/3xx the client did not follow) will be the same
        // next time: the data, the URL or the credentials need a person.
        return Err(HandlerError::permanent(error));
    }
    let delay = retry_after.and_then(|value| value.trim().parse::<u64>().ok());
    Err(match delay {
        Some(seconds) => HandlerError::retry_after(error, Duration::from_secs(seconds)),
        None => HandlerError::retry(error),
    })
}

#[async_trait]
impl Handler for CrmSync {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let mut request = self
            .client
            .post(self.events.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(COMMAND, callback.command())
            .body(callback.body().clone());
        // Inline (a table saying `delivery = "inline"`) there is one attempt and no journal
        // key: the service gets no Idempotency-Key and cannot dedupe.
        request = match callback.delivery() {
            Some(delivery) => request
                .header(IDEMPOTENCY_KEY, delivery.idempotency_key())
                .header(ATTEMPT, delivery.number()),
            None => request.header(ATTEMPT, 1),
        };
        // A refused connection, a reset or a timeout: the service may be back next time.
        let response = request
            .send()
            .await
            .map_err(|error| HandlerError::retry(self.describe(&error)))?;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok());
        outcome_of(response.status(), retry_after)?;
        Ok(Answer::default())
    }
}

async fn build(config: CrmSyncConfig) -> Result<CrmSync, String> {
    CrmSync::new(&config)
}

register_handler! {
    name: "crm_sync",
    commands: from_config(default: ["after"]),
    delivery: queued,
    config: CrmSyncConfig,
    validate: CrmSyncConfig::check,
    build: build,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: Result<(), HandlerError>) -> String {
        match result {
            Ok(()) => "ok".into(),
            Err(HandlerError::Permanent(error)) => format!("permanent: {error}"),
            Err(HandlerError::Retry { after: None, .. }) => "retry".into(),
            Err(HandlerError::Retry {
                after: Some(after), ..
            }) => format!("retry after {} s", after.as_secs()),
            Err(other) => format!("unexpected: {other}"),
        }
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn success_is_any_2xx() {
        for code in [200, 201, 202, 204] {
            assert_eq!(kind(outcome_of(status(code), None)), "ok", "{code}");
        }
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(kind(outcome_of(status(code), None)), "retry", "{code}");
        }
        assert_eq!(kind(outcome_of(status(429), Some("7"))), "retry after 7 s");
        assert_eq!(
            kind(outcome_of(status(503), Some(" 120 "))),
            "retry after 120 s"
        );
        // An HTTP date is not seconds: the backoff decides.
        assert_eq!(
            kind(outcome_of(
                status(503),
                Some("Wed, 21 Oct 2015 07:28:00 GMT")
            )),
            "retry"
        );
    }

    #[test]
    fn other_client_errors_are_dead_at_once_naming_the_status() {
        for code in [400, 401, 403, 404, 409, 422] {
            let outcome = kind(outcome_of(status(code), Some("5")));
            assert!(
                outcome.starts_with(&format!("permanent: the service answered {code}")),
                "{code}: {outcome}"
            );
        }
        assert_eq!(
            kind(outcome_of(status(400), None)),
            "permanent: the service answered 400 Bad Request"
        );
    }

    #[test]
    fn the_url_is_a_base_url_of_an_http_service() {
        assert_eq!(
            events_url("https://crm.example.com").unwrap().as_str(),
            "https://crm.example.com/chat-events"
        );
        assert_eq!(
            events_url("http://127.0.0.1:8080/api/").unwrap().as_str(),
            "http://127.0.0.1:8080/api/chat-events"
        );
        let refused = [
            ("crm.example.com", "is not a URL"),
            (
                "ftp://crm.example.com",
                "must start with http:// or https://, not ftp://",
            ),
            ("https://crm.example.com/?a=1", "without a query"),
            (
                "https://crm.example.com/#top",
                "without a query or a fragment",
            ),
        ];
        for (url, problem) in refused {
            let error = events_url(url).unwrap_err();
            assert!(error.starts_with("url "), "{url}: {error}");
            assert!(error.contains(problem), "{url}: {error}");
        }
    }

    #[test]
    fn a_refused_url_never_shows_its_password() {
        let error = events_url("ftp://sync:hunter2@crm.example.com").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("sync:[redacted]@crm.example.com"), "{error}");
    }

    #[test]
    fn the_timeout_must_be_positive() {
        let config = CrmSyncConfig {
            url: "http://localhost:1".into(),
            timeout_ms: 0,
        };
        assert_eq!(config.check().unwrap_err(), "timeout_ms must be at least 1");
    }

    #[tokio::test]
    async fn a_service_that_is_down_is_retried_and_its_password_never_shown() {
        // A port just bound and closed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let handler = CrmSync::new(&CrmSyncConfig {
            url: format!("http://sync:hunter2@127.0.0.1:{port}"),
            timeout_ms: 2000,
        })
        .unwrap();
        let callback = Callback::new(1, "State.StateChange", "{}");
        let error = handler.handle(callback).await.unwrap_err();
        assert!(
            matches!(error, HandlerError::Retry { after: None, .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        // The operator's `deliveries show` says where and why, the cause chain included.
        assert!(text.contains("/chat-events"), "{text}");
        assert!(text.contains("Connection refused"), "{text}");
    }
}
