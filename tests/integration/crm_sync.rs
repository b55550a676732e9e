//! examples/crm-sync end to end: the team's service is a real HTTP server that is down while
//! chathook answers Chat OK for every callback; once it is up, every callback reaches it, each
//! idempotency key accepted once even when a reply was lost and the delivery retried. A 400
//! makes the delivery a dead letter at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use chathook_core::Config;
use chathook_core::journal::{DeliveryState, DeliverySummary, Journal, ListFilter};
use chathook_tests::*;
use serde_json::{Value, json};

use crate::journal::{COMMAND, numbered_body};

const CALLBACKS: u64 = 50;

/// One request as the service saw it.
#[derive(Clone, Debug)]
struct Seen {
    key: String,
    attempt: u32,
    command: String,
    content_type: String,
    body: Bytes,
}

/// What the team's service keeps: every request, and what it accepted by idempotency key.
#[derive(Default)]
struct Service {
    seen: Vec<Seen>,
    /// The body accepted under each key: a key seen again is answered 200 and not applied
    /// twice, as a real service must do.
    accepted: BTreeMap<String, Bytes>,
    /// Keys whose first acceptance had its reply "lost": applied, then answered 503, as when
    /// the service commits and its connection dies before the reply.
    lost_replies: Vec<String>,
    /// Answer every request with this instead (a service that refuses the data).
    refuse_with: Option<StatusCode>,
}

type Shared = Arc<Mutex<Service>>;

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn chat_events(State(service): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let seen = Seen {
        key: header(&headers, "idempotency-key"),
        attempt: header(&headers, "chathook-attempt").parse().unwrap_or(0),
        command: header(&headers, "chathook-command"),
        content_type: header(&headers, "content-type"),
        body: body.clone(),
    };
    let mut service = service.lock().unwrap();
    service.seen.push(seen.clone());
    if let Some(status) = service.refuse_with {
        return status;
    }
    if seen.key.is_empty() {
        return StatusCode::BAD_REQUEST;
    }
    if service.accepted.contains_key(&seen.key) {
        return StatusCode::OK;
    }
    service.accepted.insert(seen.key.clone(), body);
    // Every fifth callback's first acceptance loses its reply.
    if seq_of(&seen.body).is_multiple_of(5) {
        service.lost_replies.push(seen.key);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}

fn seq_of(body: &[u8]) -> u64 {
    let body: Value = serde_json::from_slice(body).expect("a JSON body");
    body["Seq"].as_u64().expect("a numbered body")
}

/// A loopback port nothing listens on (bound and closed), for the service to come up on later.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Serves the service on `addr` until the test ends.
async fn bring_up(addr: SocketAddr, service: Shared) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the service's port is free again");
    let app = axum::Router::new()
        .route("/crm/chat-events", axum::routing::post(chat_events))
        .with_state(service);
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// A journal in `dir` and `crm_sync` enabled for the team's service at `addr`, with a fast
/// retry policy that never gives up within a test.
fn crm_config(dir: &Path, addr: SocketAddr) -> Config {
    let mut config = base_config();
    config.journal.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    enable(
        &mut config,
        "crm_sync",
        json!({
            "url": format!("http://{addr}/crm/"),
            "timeout_ms": 2000,
            "queue": {
                "backoff_initial_ms": 50,
                "backoff_max_ms": 1000,
                "backoff_jitter": 0.0,
                "max_attempts": 10_000,
            },
        }),
    );
    config
}

/// The server's journal, opened read-only beside it, as an operator's read would.
async fn read_only_journal(dir: &Path) -> Journal {
    let mut options = Config::default().journal.options();
    options.database_url = format!("sqlite://{}?mode=ro", dir.join("journal.db").display());
    Journal::open(options).await.expect("the journal opens")
}

/// Polls the journal every 50 ms until `condition` holds of `crm_sync`'s deliveries, or
/// panics with `what` after `limit`.
async fn wait_for_deliveries(
    journal: &Journal,
    limit: Duration,
    what: &str,
    condition: impl Fn(&[DeliverySummary]) -> bool,
) -> Vec<DeliverySummary> {
    let filter = ListFilter {
        handler: Some("crm_sync".into()),
        limit: 1000,
        ..ListFilter::default()
    };
    let deadline = Instant::now() + limit;
    loop {
        let listed = journal.list(&filter).await.expect("the journal lists");
        if condition(&listed) {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "not within {limit:?}: {what}: {listed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every callback `posted` (by `Seq`) accepted once, exactly as posted, under the journal's
/// keys (`listed`), each lost reply retried under its key and not applied twice.
fn check_what_the_service_got(
    service: &Service,
    posted: &BTreeMap<u64, String>,
    listed: &[DeliverySummary],
) {
    // What the service accepted: every callback, exactly as posted, each under one key.
    let mut accepted: BTreeMap<u64, &Bytes> = BTreeMap::new();
    for body in service.accepted.values() {
        let seq = seq_of(body);
        assert!(
            accepted.insert(seq, body).is_none(),
            "seq {seq} accepted twice"
        );
    }
    assert_eq!(accepted.len(), CALLBACKS as usize);
    for (seq, body) in &accepted {
        assert_eq!(**body, posted[seq].as_bytes(), "callback {seq}'s body");
    }
    // The keys are the journal's, and each delivery kept its key across its attempts.
    let keys: Vec<&str> = listed.iter().map(|d| d.idempotency_key.as_str()).collect();
    assert!(keys.iter().all(|key| service.accepted.contains_key(*key)));
    // A reply lost after the service applied a callback was retried under the same key,
    // and that retry was answered 200 without applying it again.
    assert_eq!(service.lost_replies.len(), (CALLBACKS / 5) as usize);
    for key in &service.lost_replies {
        let attempts: Vec<u32> = service
            .seen
            .iter()
            .filter(|seen| seen.key == *key)
            .map(|seen| seen.attempt)
            .collect();
        assert_eq!(attempts.len(), 2, "{key}: {attempts:?}");
        assert!(attempts[1] > attempts[0], "{key}: {attempts:?}");
    }
    for seen in &service.seen {
        // The first attempt of each went to the closed port.
        assert!(seen.attempt >= 2, "{seen:?}");
        assert_eq!(seen.command, COMMAND);
        assert_eq!(seen.content_type, "application/json");
    }
}

#[tokio::test]
async fn every_callback_answered_while_the_service_is_down_reaches_it_once_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    let server = TestServer::start(crm_config(dir.path(), addr)).await;
    let mut posted = BTreeMap::new();
    for seq in 0..CALLBACKS {
        let body = numbered_body("@TGS#crm", seq);
        let (status, reply) = server.post(&fresh_query(COMMAND), body.clone()).await;
        assert_eq!(status, 200, "callback {seq}: {reply}");
        assert_eq!(reply["ActionStatus"], "OK", "{reply}");
        posted.insert(seq, body);
    }
    // Every delivery has failed against the closed port at least once before the service is up.
    let journal = read_only_journal(dir.path()).await;
    wait_for_deliveries(
        &journal,
        Duration::from_secs(20),
        "every delivery attempted",
        |listed| {
            listed.len() == CALLBACKS as usize
                && listed.iter().all(|delivery| {
                    delivery.attempts >= 1 && delivery.state == DeliveryState::Pending
                })
        },
    )
    .await;

    let service = Shared::default();
    bring_up(addr, Arc::clone(&service)).await;
    let listed = wait_for_deliveries(
        &journal,
        Duration::from_secs(30),
        "every delivery delivered",
        |listed| {
            listed.len() == CALLBACKS as usize
                && listed
                    .iter()
                    .all(|delivery| delivery.state == DeliveryState::Delivered)
        },
    )
    .await;

    check_what_the_service_got(&service.lock().unwrap(), &posted, &listed);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_400_from_the_service_makes_the_delivery_dead_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    let service = Shared::default();
    service.lock().unwrap().refuse_with = Some(StatusCode::BAD_REQUEST);
    bring_up(addr, Arc::clone(&service)).await;
    let server = TestServer::start(crm_config(dir.path(), addr)).await;
    let (status, reply) = server
        .post(&fresh_query(COMMAND), numbered_body("@TGS#bad", 1))
        .await;
    assert_eq!(status, 200, "{reply}");

    let journal = read_only_journal(dir.path()).await;
    let listed = wait_for_deliveries(
        &journal,
        Duration::from_secs(20),
        "a dead letter",
        |listed| {
            listed
                .iter()
                .any(|delivery| delivery.state == DeliveryState::Dead)
        },
    )
    .await;
    let dead = &listed[0];
    assert_eq!(dead.attempts, 1, "{dead:?}");
    assert_eq!(dead.dead_reason.as_deref(), Some("permanent"), "{dead:?}");
    let error = dead.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("400 Bad Request"), "{error}");
    // Dead at once: the one request was the only one.
    assert_eq!(service.lock().unwrap().seen.len(), 1);
    server.stop().await.unwrap();
}
