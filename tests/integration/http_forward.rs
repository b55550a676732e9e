//! The stock `http_forward` plugin against receivers the tests run on loopback, each verifying
//! every request with the `standardwebhooks` crate as a team's service does: queued delivery
//! through an outage and a dead letter ([`delivery`]), remote decisions and their fallbacks
//! ([`decisions`]), HTTPS with a CA the test makes and mutual TLS ([`tls`]), and refused
//! configs ([`config`]).

mod config;
mod decisions;
mod delivery;
mod node;
mod tls;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chathook_core::Config;
use chathook_tests::*;
use serde_json::{Value, json};
use standardwebhooks::Webhook;

/// The endpoints' signing secret, as the receivers know it.
pub(crate) const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// A secret rotated out: a receiver that still verifies with it alone must refuse.
pub(crate) const ROTATED_OUT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request as a receiver saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) at: Instant,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// What the receiver answered.
    pub(crate) status: u16,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// `webhook-id`.
    pub(crate) fn id(&self) -> &str {
        self.header("webhook-id")
    }

    /// Whether `secret` verifies it, as the `standardwebhooks` crate checks a request.
    pub(crate) fn verifies_with(&self, secret: &str) -> bool {
        Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }

    /// The body's `Seq` (the tests' numbered callbacks).
    pub(crate) fn seq(&self) -> u64 {
        let body: Value = serde_json::from_slice(&self.body).unwrap();
        body["Seq"].as_u64().expect("a numbered callback")
    }
}

/// How a receiver answers a request.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    status: u16,
    body: String,
    retry_after: Option<&'static str>,
    delay: Duration,
}

impl Answer {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            retry_after: None,
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn ok() -> Self {
        Self::status(200)
    }

    /// 200 with a JSON body.
    pub(crate) fn json(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::ok()
        }
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }

    pub(crate) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug)]
struct ReceiverState {
    seen: Vec<Seen>,
    /// Answers for the next requests, in order; then `answer`.
    next: VecDeque<Answer>,
    answer: Answer,
    /// Requests the secret did not verify (answered 401).
    unverified: Vec<String>,
}

/// A team's receiver: verifies every request with [`SECRET`] (a request that does not verify
/// is answered 401 and noted) and answers as told.
#[derive(Clone)]
pub(crate) struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    addr: SocketAddr,
    scheme: &'static str,
}

impl Receiver {
    fn new(addr: SocketAddr, scheme: &'static str) -> Self {
        let state = ReceiverState {
            seen: Vec::new(),
            next: VecDeque::new(),
            answer: Answer::ok(),
            unverified: Vec::new(),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
            addr,
            scheme,
        }
    }

    /// The receiver's routes: every path, every method.
    fn router(&self) -> Router {
        let state = Arc::clone(&self.state);
        Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move { receive(&state, headers, body).await }
        })
    }

    /// A receiver on a fresh loopback port.
    pub(crate) async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A receiver on `addr` (a port the test kept closed until now).
    pub(crate) async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let receiver = Self::new(listener.local_addr().unwrap(), "http");
        let app = receiver.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// A receiver over TLS with `config` (its certificate, and a client verifier for mutual
    /// TLS). A handshake that fails ends that connection only.
    pub(crate) async fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self::new(listener.local_addr().unwrap(), "https");
        let app = receiver.router();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        tower::ServiceExt::oneshot(app.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
    }

    /// `<scheme>://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Answers every request from now on with `answer`.
    pub(crate) fn answer(&self, answer: Answer) {
        let mut state = self.state.lock().unwrap();
        state.next.clear();
        state.answer = answer;
    }

    /// Answers the next `count` requests with `answer`, then as before.
    pub(crate) fn answer_next(&self, count: usize, answer: Answer) {
        let mut state = self.state.lock().unwrap();
        state.next.extend(std::iter::repeat_n(answer, count));
    }

    /// Every request so far, in arrival order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Asserts that the secret verified every request.
    pub(crate) fn assert_all_verified(&self) {
        let state = self.state.lock().unwrap();
        assert!(
            state.unverified.is_empty(),
            "requests the secret did not verify: {:?}",
            state.unverified
        );
    }
}

async fn receive(state: &Mutex<ReceiverState>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = Webhook::new(SECRET).unwrap().verify(&body, &headers);
    let answer = {
        let mut state = state.lock().unwrap();
        let answer = match &verified {
            Ok(()) => state
                .next
                .pop_front()
                .unwrap_or_else(|| state.answer.clone()),
            Err(error) => {
                state.unverified.push(format!("{error}: {headers:?}"));
                Answer::status(401)
            }
        };
        state.seen.push(Seen {
            at: Instant::now(),
            headers,
            body,
            status: answer.status,
        });
        answer
    };
    tokio::time::sleep(answer.delay).await;
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut response = (
        status,
        [("content-type", "application/json")],
        answer.body.clone(),
    )
        .into_response();
    if let Some(retry_after) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", retry_after.parse().unwrap());
    }
    response
}

/// A loopback port nothing listens on (bound and closed), for a receiver to come up on later.
pub(crate) fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// An endpoint table: `name` POSTing to `url` the `commands`, signed with [`SECRET`], with
/// `changes` applied (a null removes the key).
pub(crate) fn endpoint(name: &str, url: &str, commands: Value, changes: Value) -> Value {
    let mut endpoint = json!({
        "name": name,
        "url": url,
        "commands": commands,
        "secret": SECRET,
    });
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            endpoint.as_object_mut().unwrap().remove(key);
        } else {
            endpoint[key] = value.clone();
        }
    }
    endpoint
}

/// A retry policy that retries fast and does not give up within a test.
pub(crate) fn fast_queue() -> Value {
    json!({
        "backoff_initial_ms": 50,
        "backoff_max_ms": 5000,
        "backoff_jitter": 0.0,
        "max_attempts": 10_000,
    })
}

/// `http_forward` enabled with `endpoints`, on a journal in `dir`.
pub(crate) fn forward_config(dir: &Path, endpoints: Vec<Value>) -> Config {
    let mut config = base_config();
    config.journal.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    enable(
        &mut config,
        "http_forward",
        json!({ "endpoints": endpoints }),
    );
    config
}

/// Polls `/api/v1/deliveries{path}` until `condition` holds of its answer, or panics with
/// `what` after `limit`.
pub(crate) async fn wait_for_deliveries(
    server: &TestServer,
    path: &str,
    limit: Duration,
    what: &str,
    condition: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let answer = crate::deliveries_ops::get_ok(server, path).await;
        if condition(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "not within {limit:?}: {what}: {answer:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The deliveries of a list answer.
pub(crate) fn deliveries(listed: &Value) -> &[Value] {
    listed["deliveries"].as_array().map_or(&[], Vec::as_slice)
}
