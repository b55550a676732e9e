//! Health, readiness, metrics, the handlers' API and graceful shutdown.

use std::time::Duration;

use chathook_tests::*;
use serde_json::{Value, json};

#[tokio::test]
async fn healthz_is_alive_and_readyz_asks_every_handler() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"alive"}"#));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status":"ready","handlers":{"probe":"ready"}})
    );

    let mut config = base_config();
    enable(&mut config, "probe", json!({ "ready": false }));
    let server = TestServer::start(config).await;
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status":"not ready","handlers":{"probe":"not ready"}})
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_count_rejections_by_reason() {
    let server = TestServer::start(base_config()).await;
    server.post("CallbackCommand=State.StateChange", "{}").await;
    server.post("CallbackCommand=State.StateChange", "{}").await;
    server
        .post("SdkAppid=9&CallbackCommand=State.StateChange", "{}")
        .await;
    server
        .post(
            &format!(
                "SdkAppid={APP_ID}&CallbackCommand=State.StateChange&Sign=00&RequestTime={}",
                now()
            ),
            "{}",
        )
        .await;
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &text,
            r#"chathook_rejections_total{reason="sdk_app_id_missing"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(&text, r#"chathook_rejections_total{reason="unknown_app"}"#),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"chathook_rejections_total{reason="sign_mismatch"}"#
        ),
        1.0
    );
    assert!(
        text.contains("# TYPE chathook_rejections counter"),
        "{text}"
    );
}

#[tokio::test]
async fn every_known_series_is_exported_at_zero_before_the_first_callback() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200);
    let zero = |series: &str| {
        assert!(
            text.lines().any(|line| line == format!("{series} 0")),
            "{series} 0 missing from\n{text}"
        );
    };
    for decision in ["allow", "deny"] {
        zero(&format!(
            r#"chathook_fallbacks_total{{handler="probe",command="Group.CallbackBeforeSendMsg",decision="{decision}"}}"#
        ));
    }
    for reason in chathook_core::rejection::Rejection::ALL_REASONS {
        zero(&format!(
            r#"chathook_rejections_total{{reason="{reason}"}}"#
        ));
    }
    zero(r#"chathook_rejections_total{reason="sign_mismatch"}"#);
    for command in chathook_tests::handlers::PROBE_COMMANDS
        .into_iter()
        .chain(["other"])
    {
        for outcome in chathook_core::metrics::Outcome::ALL {
            zero(&format!(
                r#"chathook_callbacks_total{{command="{command}",outcome="{}"}}"#,
                outcome.as_str()
            ));
        }
    }
    for command in chathook_tests::handlers::PROBE_COMMANDS {
        for result in chathook_core::metrics::HandlerResult::ALL {
            zero(&format!(
                r#"chathook_handler_results_total{{handler="probe",command="{command}",result="{}"}}"#,
                result.as_str()
            ));
        }
    }
    for reason in ["idle_timeout", "shutdown_deadline", "accept_failed"] {
        zero(&format!(
            r#"chathook_connections_closed_total{{reason="{reason}"}}"#
        ));
    }
    // Only before-callbacks with a decider fall back; a command no handler serves is `other`
    // until it is first seen.
    assert!(
        !text.contains(r#"chathook_fallbacks_total{handler="probe",command="State.StateChange""#),
        "{text}"
    );
    assert!(
        !text.contains(r#"command="Group.CallbackAfterCreateGroup""#),
        "{text}"
    );
}

#[tokio::test]
async fn the_handler_api_needs_the_bearer_token() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    let url = server.url("/api/v1/probe/%40TGS%23abc");

    let none = server.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let body: Value = none.json().await.unwrap();
    assert_eq!(
        body["error"],
        "missing Authorization: Bearer <token> header"
    );

    let wrong = server
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "bearer token is not valid");

    let right = server
        .client
        .get(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(
        right.json::<Value>().await.unwrap(),
        json!({"id": "@TGS#abc"})
    );
    // The scheme is case-insensitive.
    let lower = server
        .client
        .get(&url)
        .header("authorization", format!("bearer {API_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200);
}

#[tokio::test]
async fn without_an_api_token_the_api_is_not_served() {
    let mut config = base_config();
    config.api.tokens.clear();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    let response = server
        .client
        .get(server.url("/api/v1/probe/x"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_callbacks() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "delay_ms": 400 }));
    let server = TestServer::start(config).await;
    let client = server.client.clone();
    let url = server.url(&format!(
        "/callback?{}",
        fresh_query("Group.CallbackAfterSendMsg")
    ));
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .body(fixture("Group.CallbackAfterSendMsg"))
            .send()
            .await
    });
    // Stop only once the callback is inside the server.
    loop {
        if server.metric("chathook_callbacks_in_flight").await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.stop().await.expect("graceful stop");
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight callback answered");
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["Handler"], "probe");
}
