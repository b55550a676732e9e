//! The Node example receiver (`examples/webhook-receiver-node`, verifying with the
//! `standardwebhooks` npm package) behind chathook: it verifies everything `http_forward`
//! sends, and one that knows only a rotated-out secret refuses it all, so each becomes a dead
//! letter.

use std::collections::BTreeSet;
use std::time::Duration;

use chathook_tests::node_receiver::NodeReceiver;
use chathook_tests::*;
use serde_json::json;

use super::*;
use crate::journal::{COMMAND, numbered_body};

const CALLBACKS: u64 = 10;

/// chathook forwarding to `receiver` as endpoint `node`, with `CALLBACKS` callbacks posted and
/// answered OK.
async fn forward_to(receiver: &NodeReceiver, dir: &Path) -> TestServer {
    let config = forward_config(
        dir,
        vec![endpoint(
            "node",
            &format!("{}chat-events", receiver.url()),
            json!([COMMAND]),
            json!({"queue": fast_queue()}),
        )],
    );
    let server = TestServer::start(config).await;
    for seq in 0..CALLBACKS {
        let body = numbered_body("@TGS#node", seq);
        let (status, reply) = server.post(&fresh_query(COMMAND), body).await;
        assert_eq!((status, &reply["ErrorCode"]), (200, &json!(0)), "{reply}");
    }
    server
}

#[tokio::test]
async fn the_node_receiver_verifies_every_forwarded_callback() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = NodeReceiver::start(&[SECRET]);
    let server = forward_to(&receiver, dir.path()).await;
    let lines = receiver.wait_for_lines(CALLBACKS as usize).await;
    for line in &lines {
        assert_eq!(line["verified"], true, "{line}");
        assert_eq!(line["command"], COMMAND, "{line}");
        assert_eq!(line["status"], 204, "{line}");
    }
    let ids: BTreeSet<&str> = lines
        .iter()
        .filter_map(|line| line["id"].as_str())
        .collect();
    assert_eq!(ids.len(), CALLBACKS as usize, "one webhook-id per callback");
    wait_for_deliveries(
        &server,
        "?handler=http_forward&limit=100",
        Duration::from_secs(20),
        "every delivery settled as delivered",
        |listed| {
            deliveries(listed).len() == CALLBACKS as usize
                && deliveries(listed).iter().all(|d| d["state"] == "delivered")
        },
    )
    .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_node_receiver_with_only_a_rotated_out_secret_refuses_them_into_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = NodeReceiver::start(&[ROTATED_OUT]);
    let server = forward_to(&receiver, dir.path()).await;
    let lines = receiver.wait_for_lines(CALLBACKS as usize).await;
    for line in &lines {
        assert_eq!(line["verified"], false, "{line}");
        assert_eq!(line["status"], 400, "{line}");
    }
    let listed = wait_for_deliveries(
        &server,
        "?handler=http_forward.node&state=dead&limit=100",
        Duration::from_secs(20),
        "every refused delivery dead",
        |listed| deliveries(listed).len() == CALLBACKS as usize,
    )
    .await;
    let error = deliveries(&listed)[0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("400"), "{listed:#}");
    server.stop().await.unwrap();
}
