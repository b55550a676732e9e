//! Remote decisions: a deciding endpoint's reply is Chat's answer; a slow one past the
//! deadline, a 500, an out-of-range code and malformed fields each give the fallback, the
//! reason counted and named in the console's record.

use std::time::Duration;

use chathook_tests::*;
use serde_json::{Value, json};

use super::*;

const BEFORE: &str = "Group.CallbackBeforeSendMsg";
const REWRITE: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}],"CloudCustomData":"{\"moderated\":true}"}"#;

/// The newest console record (this test's server gets one command only).
async fn newest_record(server: &TestServer) -> Value {
    crate::console_page::newest_record(server, |_| true).await
}

#[tokio::test]
async fn a_remote_decision_reaches_chat_and_each_failure_falls_back_named_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    // Two secrets while rotating: a receiver on either verifies.
    let decider = endpoint(
        "moderation",
        &receiver.url("/decide"),
        json!([BEFORE]),
        json!({
            "decides": true,
            "fallback": "deny",
            "secret": null,
            "secrets": [ROTATED_OUT, SECRET],
        }),
    );
    let mut config = forward_config(dir.path(), vec![decider]);
    config.dispatch.handler_timeout_ms = 600;
    let server = TestServer::start(config).await;

    receiver.answer(Answer::json(REWRITE));
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200);
    assert_eq!(reply, serde_json::from_str::<Value>(REWRITE).unwrap());
    let record = newest_record(&server).await;
    assert_eq!(record["outcome"], "ok", "{record}");
    assert_eq!(record["handlers"][0]["name"], "http_forward.moderation");
    assert_eq!(record["handlers"][0]["role"], "decides");
    assert_eq!(record["handlers"][0]["result"], "ok");
    let first = &receiver.seen()[0];
    assert!(first.verifies_with(SECRET) && first.verifies_with(ROTATED_OUT));
    assert_eq!(first.body, fixture(BEFORE).as_bytes());
    assert_eq!(first.header("content-type"), "application/json");

    let failures = [
        (
            Answer::json(REWRITE).after(Duration::from_secs(2)),
            "timeout",
            format!(
                "timeout: endpoint moderation: {} did not answer within",
                receiver.url("/decide")
            ),
        ),
        (
            Answer::status(500).body("database down"),
            "status",
            format!(
                "status: endpoint moderation: {} answered 500 Internal Server Error: database down",
                receiver.url("/decide")
            ),
        ),
        (
            Answer::json(r#"{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"blocked"}"#),
            "invalid_code",
            "invalid_code: endpoint moderation: the reply is not a decision for \
             Group.CallbackBeforeSendMsg: ErrorCode 120001 is not valid"
                .to_owned(),
        ),
        (
            Answer::json(
                r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":{"Text":"***"}}"#,
            ),
            "invalid_fields",
            "invalid_fields: endpoint moderation: the reply is not a decision for \
             Group.CallbackBeforeSendMsg: `MsgBody` must be an array of message elements"
                .to_owned(),
        ),
    ];
    for (answer, reason, error) in failures {
        receiver.answer(answer);
        let started = Instant::now();
        let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{reason}");
        // The endpoint's fallback, deny: Chat refuses the message.
        assert_eq!(
            (status, &reply["ErrorCode"]),
            (200, &json!(1)),
            "{reason}: {reply}"
        );
        let record = newest_record(&server).await;
        assert_eq!(record["outcome"], "fallback", "{reason}: {record}");
        let handler = &record["handlers"][0];
        assert_eq!(handler["name"], "http_forward.moderation");
        assert_eq!(handler["result"], "failed", "{reason}: {record}");
        let recorded = handler["error"].as_str().unwrap();
        assert!(
            recorded.starts_with(&format!("failed: {error}")),
            "{reason}: {recorded}"
        );
        let series = format!(
            "chathook_http_forward_decision_fallbacks_total{{endpoint=\"moderation\",reason=\"{reason}\"}}"
        );
        assert_eq!(server.metric(&series).await, 1.0, "{reason}");
    }
    // Each reason was counted once, and no other.
    let connect = "chathook_http_forward_decision_fallbacks_total{endpoint=\"moderation\",reason=\"connect\"}";
    assert_eq!(server.metric(connect).await, 0.0);
    receiver.assert_all_verified();
    server.stop().await.unwrap();
}
