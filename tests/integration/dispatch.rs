//! Routing to handlers: the routed reply, unrouted commands, deadlines, fallbacks, failures.

use std::time::{Duration, Instant};

use chathook_core::config::{Fallback, Unrouted};
use chathook_tests::*;
use serde_json::json;

const BEFORE: &str = "Group.CallbackBeforeSendMsg";
const AFTER: &str = "Group.CallbackAfterSendMsg";

async fn probe_server(settings: serde_json::Value, timeout_ms: u64) -> TestServer {
    let mut config = base_config();
    enable(&mut config, "probe", settings);
    config.dispatch.handler_timeout_ms = timeout_ms;
    TestServer::start(config).await
}

#[tokio::test]
async fn a_signed_callback_reaches_its_handler_with_the_query_details() {
    let server = probe_server(json!({}), 1500).await;
    let (status, reply) = server
        .post(
            &fresh_query("State.StateChange"),
            fixture("State.StateChange"),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({
            "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "Handler": "probe", "Command": "State.StateChange", "SdkAppid": APP_ID,
            "ClientIP": "127.0.0.1", "OptPlatform": "Android",
            "To_Account": serde_json::from_str::<serde_json::Value>(&fixture("State.StateChange")).unwrap()["Info"]["To_Account"],
        })
    );
}

#[tokio::test]
async fn a_body_the_handler_cannot_use_is_400_with_the_field_path() {
    let server = probe_server(json!({}), 1500).await;
    let body =
        r#"{"CallbackCommand":"State.StateChange","Info":{"Action":"Login","To_Account":7}}"#;
    let (status, reply) = server.post(&fresh_query("State.StateChange"), body).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["ActionStatus"], "FAIL");
    assert_eq!(reply["ErrorCode"], 40008);
    let info = reply["ErrorInfo"].as_str().unwrap();
    assert!(
        info.starts_with("invalid Info.To_Account: invalid type: integer `7`"),
        "{info}"
    );
}

#[tokio::test]
async fn a_before_callback_body_the_handler_cannot_use_gets_the_fallback() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    config.dispatch.before_fallback = Fallback::Deny;
    let server = TestServer::start(config).await;
    let (status, reply) = server
        .post(&fresh_query(BEFORE), r#"{"Type":"Public"}"#)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["ErrorCode"], 1, "{reply}");
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200);
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["GroupId"], "@TGS#2J4SZEAEL");
}

#[tokio::test]
async fn an_unrouted_command_is_answered_ok_or_rejected_by_config() {
    let server = probe_server(json!({}), 1500).await;
    let (status, reply) = server
        .post(
            &fresh_query("Sns.CallbackFriendAdd"),
            fixture("Sns.CallbackFriendAdd"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
    );
    // A command nobody documents is unrouted too, and still answered.
    let (status, _) = server
        .post(&fresh_query("Future.CallbackAfterSomething"), "{}")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server
            .metric(
                r#"chathook_callbacks_total{command="Sns.CallbackFriendAdd",outcome="unrouted"}"#
            )
            .await,
        1.0
    );
    assert_eq!(
        server
            .metric(r#"chathook_callbacks_total{command="other",outcome="unrouted"}"#)
            .await,
        1.0
    );

    let mut config = base_config();
    config.dispatch.unrouted = Unrouted::Reject;
    let strict = TestServer::start(config).await;
    let (status, reply) = strict
        .post(
            &fresh_query("Sns.CallbackFriendAdd"),
            fixture("Sns.CallbackFriendAdd"),
        )
        .await;
    assert_eq!(status, 501);
    assert_eq!(reply["ActionStatus"], "FAIL");
    assert_eq!(reply["ErrorCode"], 50101);
    assert_eq!(
        reply["ErrorInfo"],
        "no enabled handler serves CallbackCommand \"Sns.CallbackFriendAdd\""
    );
}

#[tokio::test]
async fn a_before_callback_that_times_out_gets_the_allow_fallback_before_chats_deadline() {
    let server = probe_server(json!({ "delay_ms": 5000 }), 200).await;
    let started = Instant::now();
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
    );
    // Bounded by the deadline, not by the handler's 5 s.
    assert!(took < Duration::from_millis(2000), "took {took:?}");
    assert_eq!(
        server.metric(r#"chathook_fallbacks_total{handler="probe",command="Group.CallbackBeforeSendMsg",decision="allow"}"#).await,
        1.0
    );
    assert_eq!(
        server.metric(r#"chathook_callbacks_total{command="Group.CallbackBeforeSendMsg",outcome="fallback"}"#).await,
        1.0
    );
}

#[tokio::test]
async fn deny_fallback_refuses_and_a_handler_can_override_the_default() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "fail": "error" }));
    config.dispatch.before_fallback = Fallback::Deny;
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200);
    assert_eq!(reply["ActionStatus"], "OK");
    assert_eq!(reply["ErrorCode"], 1, "{reply}");
    assert!(
        !reply.to_string().contains("hunter2"),
        "internal error text leaked: {reply}"
    );

    let mut config = base_config();
    enable(&mut config, "probe", json!({ "fail": "panic" }));
    config.dispatch.before_fallback = Fallback::Deny;
    config.handlers.get_mut("probe").unwrap().fallback = Some(Fallback::Allow);
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
    );
}

#[tokio::test]
async fn a_failing_after_callback_is_500_fail_never_ok() {
    for (settings, code, info) in [
        (json!({ "fail": "error" }), 50001, "handler failed"),
        (json!({ "fail": "panic" }), 50001, "handler failed"),
        (json!({ "delay_ms": 5000 }), 50002, "handler timed out"),
    ] {
        let server = probe_server(settings.clone(), 200).await;
        let (status, reply) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
        assert_eq!(status, 500, "{settings}: {reply}");
        assert_eq!(
            reply,
            json!({"ActionStatus":"FAIL","ErrorCode":code,"ErrorInfo":info}),
            "{settings}"
        );
        // The server survives a panicking handler and serves the next callback.
        let (status, _) = server
            .post(
                &fresh_query("Sns.CallbackFriendAdd"),
                fixture("Sns.CallbackFriendAdd"),
            )
            .await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn concurrent_callbacks_are_each_answered_by_their_handler() {
    let server = probe_server(json!({ "delay_ms": 50 }), 1500).await;
    let mut requests = tokio::task::JoinSet::new();
    let server = std::sync::Arc::new(server);
    for _ in 0..64 {
        let server = std::sync::Arc::clone(&server);
        requests.spawn(async move { server.post(&fresh_query(AFTER), fixture(AFTER)).await });
    }
    let mut answered = 0;
    while let Some(result) = requests.join_next().await {
        let (status, reply) = result.unwrap();
        assert_eq!(status, 200);
        assert_eq!(reply["Handler"], "probe");
        answered += 1;
    }
    assert_eq!(answered, 64);
    assert_eq!(
        server
            .metric(
                r#"chathook_callbacks_total{command="Group.CallbackAfterSendMsg",outcome="ok"}"#
            )
            .await,
        64.0
    );
    assert_eq!(
        server.metric(r#"chathook_handler_duration_seconds_count{handler="probe",command="Group.CallbackAfterSendMsg"}"#).await,
        64.0
    );
}
