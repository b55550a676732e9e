//! One endpoint at work: a callback forwarded as a queued delivery's attempt, or a
//! before-callback decided while Chat waits.

use std::time::{Duration, Instant, SystemTime};

use chathook_core::{Answer, Callback, HandlerError};
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::config::EndpointConfig;
use crate::decision::{FallbackReason, Refused, read_decision};
use crate::request::{
    Answered, NoResponse, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, exchange, fact_headers,
    webhook_id,
};
use crate::signing::Signer;

/// Most bytes of a forwarded request's response read: enough to keep the connection for the
/// next request after a typical answer, without reading whatever a service sends.
const FORWARD_READ_MAX: usize = 64 * 1024;
/// Most bytes of a response kept in an attempt's error, and so in its record.
const KEPT_MAX: usize = 1024;
/// Most bytes of a decision read: a rewritten message is at most Chat's 12 KB message limit
/// plus its JSON, well within this; a longer reply is not a decision Chat could take.
pub const DECISION_READ_MAX: usize = 64 * 1024;
/// What a request leaves of its call's deadline, at most: the request gives up first, so the
/// reason recorded is its own (a timeout it can name) rather than the platform's.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// An endpoint, ready.
pub struct Endpoint {
    name: String,
    url: Url,
    /// The URL as errors show it: without its query, which may hold a token.
    shown: String,
    client: reqwest::Client,
    signer: Signer,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    retry_statuses: Vec<u16>,
    decides: bool,
}

impl Endpoint {
    /// The endpoint of `config`, with its client set up; what is wrong with it, naming the
    /// key, if it cannot be.
    pub fn new(config: &EndpointConfig) -> Result<Self, String> {
        let prepared = config.prepare()?;
        let mut shown = prepared.url.clone();
        shown.set_query(None);
        Ok(Self {
            name: config.name.clone(),
            shown: shown.to_string(),
            url: prepared.url,
            client: prepared.client,
            signer: prepared.signer,
            headers: prepared.headers,
            timeout: prepared.timeout,
            retry_statuses: config.retry_statuses.clone(),
            decides: config.decides,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it decides the before-callbacks it takes.
    pub fn decides(&self) -> bool {
        self.decides
    }

    /// POSTs `callback` as one attempt of its delivery. `Ok` for a 2xx; for anything else, an
    /// error the journal reads: retried (a timeout, no connection, a 5xx, a 429 or a status
    /// of `retry_statuses`, after the service's `Retry-After` if it gives one) or permanent
    /// (another 4xx, a redirect), saying what the service answered.
    pub async fn forward(&self, callback: &Callback) -> Result<(), HandlerError> {
        let request = self.request(callback).map_err(HandlerError::permanent)?;
        let limit = self.limit(callback.deadline());
        match exchange(&self.client, request, limit, FORWARD_READ_MAX).await {
            Ok(answered) => self.outcome(&answered, SystemTime::now()),
            Err(failure) => Err(HandlerError::retry(self.no_response(&failure, limit))),
        }
    }

    /// POSTs before-callback `callback` and reads the reply as Chat's answer to it, checked
    /// for the command. A late, failed or invalid reply is [`Refused`], with the reason.
    pub async fn decide(&self, callback: &Callback) -> Result<Answer, Refused> {
        let refuse = |reason, detail| Refused { reason, detail };
        let request = self
            .request(callback)
            .map_err(|error| refuse(FallbackReason::Connect, self.say(error)))?;
        let limit = self.limit(callback.deadline());
        let answered = match exchange(&self.client, request, limit, DECISION_READ_MAX).await {
            Ok(answered) => answered,
            Err(failure @ NoResponse::TimedOut) => {
                return Err(refuse(
                    FallbackReason::Timeout,
                    self.no_response(&failure, limit),
                ));
            }
            Err(failure) => {
                return Err(refuse(
                    FallbackReason::Connect,
                    self.no_response(&failure, limit),
                ));
            }
        };
        if !answered.status.is_success() {
            return Err(refuse(FallbackReason::Status, self.answered(&answered)));
        }
        if let Some(broke_off) = &answered.body.broke_off {
            return Err(refuse(
                FallbackReason::Connect,
                self.say(format!("the reply broke off: {broke_off}")),
            ));
        }
        if answered.body.more {
            return Err(refuse(
                FallbackReason::InvalidJson,
                self.say(format!(
                    "the reply is longer than {DECISION_READ_MAX} bytes, more than any \
                     decision Chat takes"
                )),
            ));
        }
        read_decision(callback.command(), &answered.body.bytes).map_err(|refused| {
            let shown = answered
                .body
                .excerpt(KEPT_MAX)
                .map_or_else(String::new, |body| format!("; it was: {body}"));
            refuse(
                refused.reason,
                self.say(format!("{}{shown}", refused.detail)),
            )
        })
    }

    /// The signed POST of `callback`'s body, as Chat sent it.
    fn request(&self, callback: &Callback) -> Result<reqwest::Request, String> {
        let id = webhook_id(callback);
        let timestamp = chathook_core::auth::unix_now() as i64;
        let signature = self
            .signer
            .sign(&id, timestamp, callback.body())
            .map_err(|error| error.to_string())?;
        let mut builder = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in fact_headers(callback) {
            let value = HeaderValue::from_str(&value)
                .expect("a header value without control characters parses");
            builder = builder.header(name, value);
        }
        builder
            .header(WEBHOOK_ID, id)
            .header(WEBHOOK_TIMESTAMP, timestamp)
            .header(WEBHOOK_SIGNATURE, signature)
            .body(callback.body().clone())
            .build()
            .map_err(|error| crate::request::error_chain(&error.without_url()))
    }

    /// How long a request may take: `timeout_ms`, or what is left of the call's deadline
    /// less a margin, whichever is shorter.
    fn limit(&self, deadline: Option<Instant>) -> Duration {
        let Some(deadline) = deadline else {
            return self.timeout;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let margin = (left / 20).min(DEADLINE_MARGIN);
        self.timeout.min(left - margin)
    }

    /// What a forwarded request's answer means for its delivery.
    fn outcome(&self, answered: &Answered, now: SystemTime) -> Result<(), HandlerError> {
        let status = answered.status;
        if status.is_success() {
            return Ok(());
        }
        let error = self.answered(answered);
        if status.is_redirection() {
            return Err(HandlerError::permanent(error));
        }
        let retried = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || self.retry_statuses.contains(&status.as_u16());
        if !retried {
            return Err(HandlerError::permanent(error));
        }
        let delay = answered
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, now));
        Err(match delay {
            Some(delay) => HandlerError::retry_after(error, delay),
            None => HandlerError::retry(error),
        })
    }

    /// `<url> answered <status>`, with where a redirect pointed and the body, cut.
    fn answered(&self, answered: &Answered) -> String {
        let status = answered.status;
        let mut text = format!("{} answered {status}", self.shown);
        if status.is_redirection() {
            let location = answered
                .headers
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(|location| location.split(['?', '#']).next().unwrap_or(location));
            if let Some(location) = location {
                text.push_str(&format!(" to {location}"));
            }
            text.push_str(": redirects are not followed; set url to where the service answers");
        }
        if let Some(body) = answered.body.excerpt(KEPT_MAX) {
            text.push_str(&format!(": {body}"));
        }
        self.say(text)
    }

    fn no_response(&self, failure: &NoResponse, limit: Duration) -> String {
        self.say(match failure {
            NoResponse::TimedOut if limit < self.timeout => format!(
                "{} did not answer within {} ms, what was left of the call's deadline \
                 (timeout_ms is {})",
                self.shown,
                limit.as_millis(),
                self.timeout.as_millis()
            ),
            NoResponse::TimedOut => format!(
                "{} did not answer within timeout_ms ({} ms)",
                self.shown,
                limit.as_millis()
            ),
            NoResponse::Tls(problem) => format!("{}: {problem}", self.shown),
            NoResponse::Connection(problem) => {
                format!("no answer from {}: {problem}", self.shown)
            }
        })
    }

    /// `text` as said of this endpoint.
    fn say(&self, text: impl std::fmt::Display) -> String {
        format!("endpoint {}: {text}", self.name)
    }
}

/// A `Retry-After` value as the wait from `now`: delay-seconds, or an HTTP date (a date in
/// the past is no wait). `None` for anything else, which leaves the wait to the backoff.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits too many for a u64 are a wait longer than any backoff's maximum.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode as Status};
    use axum::response::{IntoResponse, Response};
    use chathook_core::commands;
    use serde_json::json;
    use standardwebhooks::Webhook;

    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    /// What the receiver got: each request's headers and body.
    type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

    /// A receiver on loopback answering every POST with `answer`, after `delay`.
    async fn receiver(
        answer: impl Fn() -> Response + Clone + Send + Sync + 'static,
        delay: Duration,
    ) -> (SocketAddr, Received) {
        let received = Received::default();
        let kept = Arc::clone(&received);
        let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (kept, answer) = (Arc::clone(&kept), answer.clone());
            async move {
                kept.lock().unwrap().push((headers, body));
                tokio::time::sleep(delay).await;
                answer()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (address, received)
    }

    /// A receiver giving every request a copy of `answer`, at once.
    async fn answering(answer: Response) -> SocketAddr {
        let (code, headers) = (answer.status(), answer.headers().clone());
        let body = axum::body::to_bytes(answer.into_body(), 1024)
            .await
            .unwrap();
        let answer = move || (code, headers.clone(), body.clone()).into_response();
        receiver(answer, Duration::ZERO).await.0
    }

    fn endpoint(url: String, changes: serde_json::Value) -> Endpoint {
        let mut config = json!({
            "name": "crm",
            "url": url,
            "commands": ["*"],
            "secret": SECRET,
        });
        for (key, value) in changes.as_object().unwrap() {
            config[key] = value.clone();
        }
        Endpoint::new(&serde_json::from_value(config).unwrap()).unwrap()
    }

    fn callback(command: &'static str, body: &'static str) -> Callback {
        Callback::new(1400000000, command, body)
            .with_client(Some("10.0.0.7".into()), Some("Android".into()))
            .with_arrival(Some("1700000000".into()), SystemTime::now())
    }

    fn after() -> Callback {
        callback(
            commands::GROUP_CALLBACK_AFTER_SEND_MSG,
            r#"{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#1","Text":"é"}"#,
        )
    }

    /// A forward's failure as `retry after N s: text`, `retry: text` or `permanent: text`.
    fn failure(result: Result<(), HandlerError>) -> String {
        match result.expect_err("a failed forward") {
            HandlerError::Retry {
                error,
                after: Some(after),
            } => format!("retry after {} s: {error}", after.as_secs()),
            HandlerError::Retry { error, after: None } => format!("retry: {error}"),
            HandlerError::Permanent(error) => format!("permanent: {error}"),
            other => format!("unexpected: {other}"),
        }
    }

    fn status(code: u16) -> impl Fn() -> Response + Clone + Send + Sync + 'static {
        move || Status::from_u16(code).unwrap().into_response()
    }

    #[tokio::test]
    async fn a_forward_is_the_body_as_chat_sent_it_signed_with_the_query_facts() {
        let (address, received) = receiver(status(204), Duration::ZERO).await;
        let endpoint = endpoint(
            format!("http://{address}/hooks?team=chat"),
            json!({"headers": {"Authorization": "Bearer t0k3n"}}),
        );
        let sent = after();
        endpoint.forward(&sent).await.unwrap();
        let received = received.lock().unwrap();
        let (headers, body) = &received[0];
        assert_eq!(body, sent.body());
        Webhook::new(SECRET).unwrap().verify(body, headers).unwrap();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("authorization").as_deref(), Some("Bearer t0k3n"));
        assert_eq!(header(SDK_APP_ID_HEADER).as_deref(), Some("1400000000"));
        assert_eq!(
            header(crate::COMMAND).as_deref(),
            Some("Group.CallbackAfterSendMsg")
        );
        assert_eq!(header(crate::CLIENT_IP).as_deref(), Some("10.0.0.7"));
        assert_eq!(header(crate::OPT_PLATFORM).as_deref(), Some("Android"));
        assert_eq!(header(crate::REQUEST_TIME).as_deref(), Some("1700000000"));
        assert_eq!(header(WEBHOOK_ID), Some(webhook_id(&sent)));
        let timestamp: u64 = header(WEBHOOK_TIMESTAMP).unwrap().parse().unwrap();
        assert!(timestamp.abs_diff(chathook_core::auth::unix_now()) <= 1);
    }

    const SDK_APP_ID_HEADER: &str = crate::SDK_APP_ID;

    #[tokio::test]
    async fn server_errors_and_throttling_are_retried_after_what_the_service_asks() {
        let cases: [(Response, &str); 4] = [
            (
                (Status::SERVICE_UNAVAILABLE, [("retry-after", "7")]).into_response(),
                "retry after 7 s: endpoint crm: http://ADDR/hooks answered 503 Service Unavailable",
            ),
            (
                (
                    Status::TOO_MANY_REQUESTS,
                    [("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                )
                    .into_response(),
                "retry after 0 s: endpoint crm: http://ADDR/hooks answered 429 Too Many Requests",
            ),
            (
                (Status::BAD_GATEWAY, "upstream down").into_response(),
                "retry: endpoint crm: http://ADDR/hooks answered 502 Bad Gateway: upstream down",
            ),
            (
                (Status::CONFLICT, "catching up").into_response(),
                "retry: endpoint crm: http://ADDR/hooks answered 409 Conflict: catching up",
            ),
        ];
        for (answer, expected) in cases {
            let address = answering(answer).await;
            let endpoint = endpoint(
                format!("http://{address}/hooks"),
                json!({"retry_statuses": [409]}),
            );
            let text = failure(endpoint.forward(&after()).await);
            assert_eq!(text, expected.replace("ADDR", &address.to_string()));
        }
    }

    #[tokio::test]
    async fn other_client_errors_are_permanent_with_the_body_cut() {
        // 7 bytes, then 2 bytes a character: a cut at 1024 bytes would split one.
        let long = format!("{{\"er\":\"{}\"}}", "é".repeat(2000));
        let answer = move || (Status::BAD_REQUEST, long.clone()).into_response();
        let (address, received) = receiver(answer, Duration::ZERO).await;
        let endpoint = endpoint(format!("http://{address}/hooks"), json!({}));
        let text = failure(endpoint.forward(&after()).await);
        let prefix = format!(
            "permanent: endpoint crm: http://{address}/hooks answered 400 Bad Request: {{\"er\":\"é"
        );
        assert!(text.starts_with(&prefix), "{text}");
        assert!(text.ends_with("é… (cut: 1023 of 4009 bytes)"), "{text}");
        assert_eq!(received.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (elsewhere, followed) = receiver(status(200), Duration::ZERO).await;
        let location = format!("http://{elsewhere}/new?token=abc");
        let answer =
            move || (Status::MOVED_PERMANENTLY, [("location", location.clone())]).into_response();
        let (address, _) = receiver(answer, Duration::ZERO).await;
        let endpoint = endpoint(format!("http://{address}/hooks"), json!({}));
        let text = failure(endpoint.forward(&after()).await);
        assert_eq!(
            text,
            format!(
                "permanent: endpoint crm: http://{address}/hooks answered 301 Moved Permanently \
                 to http://{elsewhere}/new: redirects are not followed; set url to where the \
                 service answers"
            )
        );
        assert!(followed.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_connection_and_no_answer_in_time_are_retried() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let endpoint_down = endpoint(format!("http://{closed}/hooks"), json!({}));
        let text = failure(endpoint_down.forward(&after()).await);
        assert!(
            text.starts_with(&format!(
                "retry: endpoint crm: no answer from http://{closed}/hooks: "
            )),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        let (address, _) = receiver(status(200), Duration::from_secs(3)).await;
        let slow = endpoint(
            format!("http://{address}/hooks"),
            json!({"timeout_ms": 200}),
        );
        let started = Instant::now();
        let text = failure(slow.forward(&after()).await);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            text,
            format!(
                "retry: endpoint crm: http://{address}/hooks did not answer within timeout_ms (200 ms)"
            )
        );
    }

    fn before_send() -> Callback {
        callback(
            commands::GROUP_CALLBACK_BEFORE_SEND_MSG,
            r#"{"CallbackCommand":"Group.CallbackBeforeSendMsg","GroupId":"@TGS#1","MsgBody":[]}"#,
        )
    }

    fn json_reply(reply: &'static str) -> impl Fn() -> Response + Clone + Send + Sync + 'static {
        move || ([("content-type", "application/json")], reply).into_response()
    }

    #[tokio::test]
    async fn a_decision_is_the_services_reply_checked_for_the_command() {
        let rewrite = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}]}"#;
        let (address, received) = receiver(json_reply(rewrite), Duration::ZERO).await;
        let decider = endpoint(
            format!("http://{address}/decide"),
            json!({"decides": true, "commands": ["before"]}),
        );
        let sent = before_send();
        let reply = decider.decide(&sent).await.unwrap();
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            serde_json::from_str::<serde_json::Value>(rewrite).unwrap()
        );
        let received = received.lock().unwrap();
        let (headers, body) = &received[0];
        Webhook::new(SECRET).unwrap().verify(body, headers).unwrap();
        assert_eq!(
            headers.get(WEBHOOK_ID).unwrap().to_str().unwrap(),
            webhook_id(&sent)
        );
    }

    #[tokio::test]
    async fn a_failed_or_invalid_decision_is_refused_with_its_reason() {
        let cases: [(Response, FallbackReason, &str); 5] = [
            (
                (Status::INTERNAL_SERVER_ERROR, "boom").into_response(),
                FallbackReason::Status,
                "status: endpoint mod: http://ADDR/decide answered 500 Internal Server Error: boom",
            ),
            (
                (
                    Status::OK,
                    r#"{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":""}"#,
                )
                    .into_response(),
                FallbackReason::InvalidCode,
                "invalid_code: endpoint mod: the reply is not a decision for \
                 Group.CallbackBeforeSendMsg: ErrorCode 120001 is not valid",
            ),
            (
                (
                    Status::OK,
                    r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":"x"}"#,
                )
                    .into_response(),
                FallbackReason::InvalidFields,
                "invalid_fields: endpoint mod: the reply is not a decision for \
                 Group.CallbackBeforeSendMsg: `MsgBody` must be an array of message elements",
            ),
            (
                (Status::OK, "allow").into_response(),
                FallbackReason::InvalidJson,
                "invalid_json: endpoint mod: the reply is not JSON: expected value at line 1 \
                 column 1; it was: allow",
            ),
            (
                (Status::FOUND, [("location", "/elsewhere")]).into_response(),
                FallbackReason::Status,
                "status: endpoint mod: http://ADDR/decide answered 302 Found to /elsewhere: \
                 redirects are not followed",
            ),
        ];
        for (answer, reason, expected) in cases {
            let address = answering(answer).await;
            let decider = endpoint(
                format!("http://{address}/decide"),
                json!({"name": "mod", "decides": true, "commands": ["before"]}),
            );
            let refused = decider.decide(&before_send()).await.unwrap_err();
            assert_eq!(refused.reason, reason, "{refused}");
            let expected = expected.replace("ADDR", &address.to_string());
            assert!(refused.to_string().starts_with(&expected), "{refused}");
        }
    }

    #[tokio::test]
    async fn a_late_or_unreachable_decider_is_refused_as_such() {
        let (address, _) = receiver(json_reply("{}"), Duration::from_secs(3)).await;
        let slow = endpoint(
            format!("http://{address}/decide"),
            json!({"name": "mod", "decides": true, "commands": ["before"], "timeout_ms": 150}),
        );
        let refused = slow.decide(&before_send()).await.unwrap_err();
        assert_eq!(refused.reason, FallbackReason::Timeout);
        assert_eq!(
            refused.to_string(),
            format!(
                "timeout: endpoint mod: http://{address}/decide did not answer within timeout_ms \
                 (150 ms)"
            )
        );
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let down = endpoint(
            format!("http://{closed}/decide"),
            json!({"name": "mod", "decides": true, "commands": ["before"]}),
        );
        let refused = down.decide(&before_send()).await.unwrap_err();
        assert_eq!(refused.reason, FallbackReason::Connect);
        assert!(
            refused.to_string().starts_with(&format!(
                "connect: endpoint mod: no answer from http://{closed}/decide: "
            )),
            "{refused}"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let wait = |value| retry_after(value, now).map(|wait| wait.as_secs());
        assert_eq!(wait("7"), Some(7));
        assert_eq!(wait(" 120 "), Some(120));
        assert_eq!(wait("0"), Some(0));
        assert_eq!(wait("Wed, 21 Oct 2015 07:29:30 GMT"), Some(90));
        assert_eq!(wait("Wed, 21 Oct 2015 07:00:00 GMT"), Some(0));
        assert_eq!(wait("99999999999999999999999"), Some(u64::MAX));
        for refused in ["", "-5", "1.5", "soon", "Wed, 21 Oct 2015"] {
            assert_eq!(wait(refused), None, "{refused:?}");
        }
    }
}
