//! The order of the admission checks, in process: the router served with `oneshot`, no socket.
//! Each request fails two checks at once, and the refusal must be the earlier one's; then the
//! same list as `verify-url` walks it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chathook_core::callback::{CHECKS, Check, Verdict};
use chathook_core::{Chathook, Config};
use chathook_tests::*;
use serde_json::Value;
use tower::ServiceExt as _;

const COMMAND: &str = "State.StateChange";

/// The reason and status the router answers a POST of `body` to `/callback?query`.
async fn refusal(config: Config, query: &str, body: impl Into<Body>) -> (StatusCode, String) {
    let service = Chathook::build(config).await.expect("the config builds");
    let request = Request::post(format!("/callback?{query}"))
        .body(body.into())
        .unwrap();
    let response = service.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&bytes).expect("a JSON reply");
    (status, reply["ErrorInfo"].as_str().unwrap_or("").to_owned())
}

#[test]
fn the_checks_run_cheapest_first() {
    assert_eq!(
        CHECKS,
        [
            Check::Source,
            Check::Query,
            Check::App,
            Check::Signature,
            Check::Command,
            Check::BodyRead,
            Check::BodySyntax,
            Check::Replay,
        ]
    );
}

#[tokio::test]
async fn each_check_refuses_before_the_next_one_looks() {
    // Source before query: without the connection layer the peer is unknown, so a source
    // list refuses even a query that would not parse.
    let mut sources = base_config();
    sources.auth.allowed_sources = vec!["203.0.113.0/24".parse().unwrap()];
    let (status, info) = refusal(sources, "SdkAppid=1&SdkAppid=2", "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{info}");
    assert!(info.contains("0.0.0.0"), "{info}");

    // Query before app: a deciding parameter given twice.
    let (status, info) = refusal(base_config(), "SdkAppid=7&SdkAppid=8", "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(info.contains("SdkAppid"), "{info}");

    // App before signature: an unknown app with no Sign is refused as unknown.
    let (status, info) = refusal(base_config(), "SdkAppid=1400000077", "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        info.contains("1400000077 is not a configured app"),
        "{info}"
    );

    // Signature before command: no CallbackCommand and no Sign.
    let query = format!("SdkAppid={APP_ID}");
    let (status, info) = refusal(base_config(), &query, "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(info.contains("Sign"), "{info}");

    // Command before the body: a signed request without CallbackCommand and a body that is
    // too large is refused for the command, its body never read.
    let mut small = base_config();
    small.server.body_limit_bytes = 8;
    let signed = fresh_query(COMMAND);
    let without_command = signed.replace(&format!("CallbackCommand={COMMAND}&"), "");
    assert_ne!(without_command, signed);
    let (status, info) = refusal(small.clone(), &without_command, "x".repeat(64)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(info.contains("CallbackCommand"), "{info}");

    // Body size before body syntax.
    let (status, info) = refusal(small, &signed, "not json at all").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{info}");

    // Body syntax before the replay cache: the same signature twice, each with a body that
    // is not JSON, is refused for the body both times, never as a replay.
    let mut replay = base_config();
    replay.auth.replay_cache = true;
    for _ in 0..2 {
        let (status, info) = refusal(replay.clone(), &signed, "[1]").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(info.contains("object"), "{info}");
    }
}

#[tokio::test]
async fn verify_url_walks_the_same_checks() {
    let mut config = base_config();
    config.auth.allowed_sources = vec!["203.0.113.0/24".parse().unwrap()];
    config.auth.replay_cache = true;
    let gate = chathook_core::callback::Gate::new(&config);
    let url = format!("https://chat.example/callback?{}", fresh_query(COMMAND));
    let findings = gate.explain(&url, None);
    let names: Vec<&str> = findings.iter().map(|finding| finding.name).collect();
    assert_eq!(
        names,
        [
            "source",
            "SdkAppid",
            "Sign",
            "RequestTime",
            "Sign",
            "CallbackCommand",
            "replay",
            "body"
        ]
    );
    assert!(matches!(findings[0].verdict, Verdict::NotChecked(_)));
    assert!(
        findings[1..6]
            .iter()
            .all(|finding| matches!(finding.verdict, Verdict::Passed(_))),
        "{findings:?}"
    );
    // Every check of the list is in the report, or is covered by the body's line.
    for check in CHECKS {
        let covered = match check {
            Check::Query => true, // said only when it fails
            Check::BodyRead | Check::BodySyntax => names.contains(&"body"),
            other => names.contains(&other.name()),
        };
        assert!(covered, "{check:?} is not in {names:?}");
    }
}
