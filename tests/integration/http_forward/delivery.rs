//! Queued delivery: every callback Chat was answered OK for reaches the receiver through an
//! outage (down, then 503 with `Retry-After`, then up), signed, with the same `webhook-id` on
//! every attempt; a 400 is a dead letter that `chathook deliveries retry` delivers once the
//! receiver takes it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chathook_tests::process::{APP_TOML, clean_command};
use chathook_tests::*;
use serde_json::json;

use super::*;
use crate::journal::{COMMAND, numbered_body};

const CALLBACKS: u64 = 20;

#[tokio::test]
async fn every_callback_answered_ok_arrives_signed_with_one_webhook_id_on_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let addr = closed_port();
    let config = forward_config(
        dir.path(),
        vec![endpoint(
            "crm",
            &format!("http://{addr}/chat/events?team=chat"),
            json!(["Group.*:after"]),
            json!({"queue": fast_queue()}),
        )],
    );
    let server = TestServer::start(config).await;
    let mut posted = BTreeMap::new();
    for seq in 0..CALLBACKS {
        let body = numbered_body("@TGS#forward", seq);
        let (status, reply) = server.post(&fresh_query(COMMAND), body.clone()).await;
        assert_eq!((status, &reply["ErrorCode"]), (200, &json!(0)), "{reply}");
        posted.insert(seq, body);
    }
    // Down: every delivery's first attempts find no one listening.
    let retried = "chathook_delivery_attempts_total{handler=\"http_forward.crm\",result=\"retry\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric(retried).await < CALLBACKS as f64 {
        assert!(Instant::now() < deadline, "the attempts while down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Up, but answering 503 with a Retry-After longer than the backoff would wait, then 200.
    let receiver = Receiver::start_on(addr).await;
    receiver.answer_next(CALLBACKS as usize, Answer::status(503).retry_after("2"));
    let listed = wait_for_deliveries(
        &server,
        "?handler=http_forward.crm&limit=1000",
        Duration::from_secs(60),
        "every callback delivered",
        |listed| {
            deliveries(listed).len() == CALLBACKS as usize
                && deliveries(listed)
                    .iter()
                    .all(|delivery| delivery["state"] == "delivered")
        },
    )
    .await;

    receiver.assert_all_verified();
    let seen = receiver.seen();
    // Every callback arrived, its body exactly as Chat sent it.
    let delivered: BTreeMap<u64, &Seen> = seen
        .iter()
        .filter(|request| request.status == 200)
        .map(|request| (request.seq(), request))
        .collect();
    assert_eq!(delivered.len(), CALLBACKS as usize);
    for (seq, request) in &delivered {
        assert_eq!(
            request.body,
            posted[seq].as_bytes(),
            "callback {seq}'s body"
        );
    }
    // One webhook-id per callback, the journal's idempotency key, on every attempt.
    let keys: BTreeSet<&str> = deliveries(&listed)
        .iter()
        .map(|delivery| delivery["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), CALLBACKS as usize);
    for (seq, request) in &delivered {
        assert!(
            keys.contains(request.id()),
            "callback {seq}: {}",
            request.id()
        );
        let ids: BTreeSet<&str> = seen
            .iter()
            .filter(|other| other.seq() == *seq)
            .map(Seen::id)
            .collect();
        assert_eq!(ids.len(), 1, "callback {seq} came with ids {ids:?}");
    }
    // A 503's Retry-After (2 s) was waited out, though the backoff was 50 ms doubled.
    let unavailable: Vec<&Seen> = seen
        .iter()
        .filter(|request| request.status == 503)
        .collect();
    assert_eq!(unavailable.len(), CALLBACKS as usize);
    for refused in unavailable {
        let next = seen
            .iter()
            .find(|later| later.id() == refused.id() && later.at > refused.at)
            .expect("another attempt after the 503");
        let waited = next.at - refused.at;
        assert!(
            waited >= Duration::from_millis(1900),
            "callback {} retried {waited:?} after its 503",
            refused.seq()
        );
    }
    // The Standard Webhooks headers, a timestamp of now, and the query's facts under the nats
    // plugin's header names.
    let request = delivered[&0];
    let timestamp: u64 = request.header("webhook-timestamp").parse().unwrap();
    assert!(now().abs_diff(timestamp) < 120, "{timestamp}");
    assert!(request.header("webhook-signature").starts_with("v1,"));
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.header(chathook_nats::SDK_APP_ID),
        APP_ID.to_string()
    );
    assert_eq!(request.header(chathook_nats::COMMAND), COMMAND);
    assert_eq!(request.header(chathook_nats::CLIENT_IP), "127.0.0.1");
    assert_eq!(request.header(chathook_nats::OPT_PLATFORM), "Android");
    assert!(
        request
            .header(chathook_nats::REQUEST_TIME)
            .parse::<u64>()
            .is_ok()
    );
    assert!(
        request
            .header(chathook_nats::RECEIVED_AT)
            .parse::<u64>()
            .is_ok()
    );
    // A receiver still verifying with a rotated-out secret alone refuses every request.
    assert!(
        seen.iter()
            .all(|request| !request.verifies_with(ROTATED_OUT))
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_400_is_a_dead_letter_that_deliveries_retry_delivers_once_the_receiver_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.answer(Answer::status(400).body(r#"{"error":"unknown group @TGS#dead"}"#));
    let url = receiver.url("/hooks");
    let table = endpoint(
        "crm",
        &url,
        json!(["after"]),
        json!({"queue": fast_queue()}),
    );
    let server = TestServer::start(forward_config(dir.path(), vec![table])).await;
    let (status, reply) = server
        .post(&fresh_query(COMMAND), numbered_body("@TGS#dead", 1))
        .await;
    assert_eq!((status, &reply["ErrorCode"]), (200, &json!(0)), "{reply}");

    let dead = wait_for_deliveries(
        &server,
        "?handler=http_forward&state=dead",
        Duration::from_secs(20),
        "the dead letter",
        |listed| deliveries(listed).len() == 1,
    )
    .await;
    let id = deliveries(&dead)[0]["id"].as_i64().unwrap();
    let shown = crate::deliveries_ops::get_ok(&server, &format!("/{id}")).await;
    assert_eq!(shown["handler"], "http_forward.crm");
    assert_eq!(shown["dead_reason"], "permanent");
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a 400 is not retried: {shown}");
    let error = attempts[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "endpoint crm: {url} answered 400 Bad Request: {{\"error\":\"unknown group @TGS#dead\"}}"
        )),
        "{error}"
    );

    // The receiver is fixed; the operator retries the dead letter from the command line.
    receiver.answer(Answer::ok());
    let config = format!(
        "{APP_TOML}\n[journal]\ndatabase_url = \"sqlite://{dir}/journal.db\"\n\n\
         [handlers.http_forward]\nenabled = true\n\n[[handlers.http_forward.endpoints]]\n\
         name = \"crm\"\nurl = \"{url}\"\ncommands = [\"after\"]\nsecret = \"{SECRET}\"\n",
        dir = dir.path().display()
    );
    let config = chathook_tests::process::write_config(dir.path(), &config);
    let mut command = clean_command(server_binary!(), dir.path());
    command
        .arg("--config")
        .arg(&config)
        .args(["deliveries", "retry", &id.to_string()]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    wait_for_deliveries(
        &server,
        &format!("/{id}"),
        Duration::from_secs(20),
        "the retried dead letter delivered",
        |shown| shown["state"] == "delivered",
    )
    .await;
    receiver.assert_all_verified();
    let seen = receiver.seen();
    let statuses: Vec<u16> = seen.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [400, 200]);
    assert_eq!(seen[0].id(), seen[1].id());
    assert_eq!(seen[0].body, seen[1].body);
    server.stop().await.unwrap();
}
