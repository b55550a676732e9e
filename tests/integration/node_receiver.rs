//! The Node receiver a team copies (`examples/webhook-receiver-node`), run for real: what the
//! Rust `standardwebhooks` crate signs, as http_forward does, the npm package verifies; a
//! request signed with a rotated-out secret, a body changed after signing or a stale timestamp
//! is refused with a 400 naming why; a repeated `webhook-id` is acknowledged and acted on once.

use chathook_tests::node_receiver::NodeReceiver;
use chathook_tests::{fixture, now};
use reqwest::StatusCode;
use serde_json::Value;
use standardwebhooks::Webhook;

/// The endpoint's secret.
const SECRET: &str = "whsec_cnzmz2htOc70xs2xiYwE3eqhaZU0STP/hwygfHJuZkw=";
/// The secret it had before the rotation.
const OLD_SECRET: &str = "whsec_fl3CLWTse7Ec7SK8qDq02sg4Q9MpDx0O5Pp7r64qcTk=";
/// A secret the receiver never had.
const STRANGER: &str = "whsec_pk5IyeyQbjEtnRgyUFgabwHz2dhrTz3L4R67ZlnzOQc=";

const COMMAND: &str = "C2C.CallbackAfterSendMsg";

/// Chat's sample body as Chat sends it: indented, and with text outside ASCII, so that a
/// signature over anything but these exact bytes would not match.
fn body() -> String {
    fixture(COMMAND).replace("red packet", "红包 red packet")
}

/// POSTs `body` to the receiver as http_forward sends it: `webhook-id`, `webhook-timestamp`,
/// one `v1,` signature per secret made by the Rust crate, and chathook's own headers. Returns
/// the status and the answer's body.
async fn post(
    receiver: &NodeReceiver,
    id: &str,
    timestamp: u64,
    secrets: &[&str],
    body: &str,
) -> (StatusCode, String) {
    post_other_body(receiver, id, timestamp, secrets, body, body).await
}

/// [`post`], but sending `sent` with the signatures of `signed`.
async fn post_other_body(
    receiver: &NodeReceiver,
    id: &str,
    timestamp: u64,
    secrets: &[&str],
    signed: &str,
    sent: &str,
) -> (StatusCode, String) {
    let timestamp = i64::try_from(timestamp).expect("a Unix time");
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| {
            Webhook::new(secret)
                .expect("a whsec_ secret")
                .sign(id, timestamp, signed.as_bytes())
                .expect("a UTF-8 body signs")
        })
        .collect();
    let response = reqwest::Client::new()
        .post(receiver.url())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .header("Chathook-Sdk-App-Id", "1400000000")
        .header("Chathook-Command", COMMAND)
        .body(sent.to_owned())
        .send()
        .await
        .expect("the receiver answers");
    let status = response.status();
    (status, response.text().await.expect("an answer body"))
}

/// The fields of a log line a test checks: id, verified, repeat, status, error.
fn summary(line: &Value) -> (String, bool, bool, u64, Option<String>) {
    (
        line["id"].as_str().expect("an id").to_owned(),
        line["verified"].as_bool().expect("verified"),
        line["repeat"].as_bool().expect("repeat"),
        line["status"].as_u64().expect("status"),
        line["error"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn what_the_rust_crate_signs_node_verifies_and_a_rotated_out_secret_is_refused() {
    let mut receiver = NodeReceiver::start(&[SECRET]);
    let body = body();

    let signed = post(&receiver, "msg_current", now(), &[SECRET], &body).await;
    assert_eq!(signed, (StatusCode::NO_CONTENT, String::new()));
    // While chathook rotates, it signs with both secrets; the receiver needs only one to match.
    let both = post(&receiver, "msg_both", now(), &[OLD_SECRET, SECRET], &body).await;
    assert_eq!(both.0, StatusCode::NO_CONTENT, "{both:?}");

    let (status, reason) = post(&receiver, "msg_old", now(), &[OLD_SECRET], &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reason, "No matching signature found\n");
    // The same JSON, re-serialised: what a framework's parsed-and-dumped body would be.
    let reserialised = serde_json::from_str::<Value>(&body).unwrap().to_string();
    let (status, _) = post_other_body(
        &receiver,
        "msg_reserialised",
        now(),
        &[SECRET],
        &body,
        &reserialised,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Ten minutes old: past the libraries' five-minute tolerance, though correctly signed.
    let (status, reason) = post(&receiver, "msg_stale", now() - 600, &[SECRET], &body).await;
    assert_eq!(
        (status, reason.as_str()),
        (StatusCode::BAD_REQUEST, "Message timestamp too old\n")
    );

    let lines = receiver.wait_for_lines(5).await;
    let summaries: Vec<_> = lines.iter().map(summary).collect();
    let refused = |id: &str, error: &str| (id.to_owned(), false, false, 400, Some(error.into()));
    assert_eq!(
        summaries,
        [
            ("msg_current".to_owned(), true, false, 204, None),
            ("msg_both".to_owned(), true, false, 204, None),
            refused("msg_old", "No matching signature found"),
            refused("msg_reserialised", "No matching signature found"),
            refused("msg_stale", "Message timestamp too old"),
        ]
    );
    assert_eq!(lines[0]["command"], COMMAND);
    assert_eq!(lines[0]["sdk_app_id"], "1400000000");
}

#[tokio::test]
async fn a_receiver_given_two_secrets_accepts_either_and_no_other() {
    let mut receiver = NodeReceiver::start(&[SECRET, OLD_SECRET]);
    let body = body();

    let old = post(&receiver, "msg_old", now(), &[OLD_SECRET], &body).await;
    let new = post(&receiver, "msg_new", now(), &[SECRET], &body).await;
    let stranger = post(&receiver, "msg_stranger", now(), &[STRANGER], &body).await;

    assert_eq!(old.0, StatusCode::NO_CONTENT, "{old:?}");
    assert_eq!(new.0, StatusCode::NO_CONTENT, "{new:?}");
    assert_eq!(stranger.0, StatusCode::BAD_REQUEST, "{stranger:?}");
    let verified: Vec<bool> = receiver
        .wait_for_lines(3)
        .await
        .iter()
        .map(|line| line["verified"].as_bool().expect("verified"))
        .collect();
    assert_eq!(verified, [true, true, false]);
}

#[tokio::test]
async fn a_repeated_id_is_acknowledged_every_time_and_acted_on_once() {
    let mut receiver = NodeReceiver::start(&[SECRET]);
    let body = body();

    // A forged request first: refused, and not remembered, so it cannot make the real
    // delivery with its id look like a repeat.
    let forged = post(&receiver, "msg_repeated", now(), &[STRANGER], &body).await;
    assert_eq!(forged.0, StatusCode::BAD_REQUEST, "{forged:?}");
    // chathook signs each attempt afresh, under the same id.
    for attempt in 0..3 {
        let answer = post(&receiver, "msg_repeated", now() + attempt, &[SECRET], &body).await;
        assert_eq!(answer, (StatusCode::NO_CONTENT, String::new()));
    }
    let other = post(&receiver, "msg_other", now(), &[SECRET], &body).await;
    assert_eq!(other.0, StatusCode::NO_CONTENT, "{other:?}");

    let lines = receiver.wait_for_lines(5).await;
    let summaries: Vec<_> = lines.iter().map(summary).collect();
    let line = |id: &str, repeat| (id.to_owned(), true, repeat, 204, None);
    assert_eq!(
        summaries,
        [
            (
                "msg_repeated".to_owned(),
                false,
                false,
                400,
                Some("No matching signature found".into())
            ),
            line("msg_repeated", false),
            line("msg_repeated", true),
            line("msg_repeated", true),
            line("msg_other", false),
        ]
    );
}
