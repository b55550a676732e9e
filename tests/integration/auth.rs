//! Who may call: SdkAppid, Sign, RequestTime, token rotation.

use chathook_core::auth::sign;
use chathook_tests::*;
use serde_json::{Value, json};

const COMMAND: &str = "Group.CallbackAfterNewMemberJoin";

async fn server() -> TestServer {
    TestServer::start(base_config()).await
}

/// The skew in seconds quoted by a `request_time_skewed` reply.
fn skew_in(reply: &Value) -> i64 {
    let info = reply["ErrorInfo"].as_str().unwrap();
    let after = info.strip_prefix("RequestTime is ").expect("skew message");
    after
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .expect("skew is a number")
}

#[tokio::test]
async fn sdk_app_id_missing_or_not_a_number_is_400_unknown_is_403() {
    let server = server().await;
    let body = fixture(COMMAND);
    let missing = server
        .post(&format!("CallbackCommand={COMMAND}"), body.clone())
        .await;
    assert_fail(&missing, 400, 40001, "SdkAppid query parameter is missing");
    let not_number = server
        .post(
            &format!("SdkAppid=14x&CallbackCommand={COMMAND}"),
            body.clone(),
        )
        .await;
    assert_fail(&not_number, 400, 40002, "\"14x\" is not a number");
    let unknown = server
        .post(
            &format!("SdkAppid=1400000077&CallbackCommand={COMMAND}"),
            body.clone(),
        )
        .await;
    assert_fail(&unknown, 403, 40301, "1400000077 is not a configured app");
    let twice = server
        .post(
            &format!("SdkAppid={APP_ID}&sdkappid={APP_ID}&CallbackCommand={COMMAND}"),
            body,
        )
        .await;
    assert_fail(&twice, 400, 40003, "SdkAppid is given more than once");
}

#[tokio::test]
async fn sdk_app_id_parameter_name_matches_any_case() {
    let server = server().await;
    let time = now();
    for name in ["SdkAppid", "SdkAppId", "sdkappid", "SDKAPPID"] {
        let query = format!(
            "{name}={APP_ID}&CallbackCommand={COMMAND}&Sign={}&RequestTime={time}",
            sign(TOKEN, time)
        );
        let (status, reply) = server.post(&query, fixture(COMMAND)).await;
        assert_eq!(status, 200, "{name}: {reply}");
        assert_eq!(
            reply,
            json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
        );
    }
}

#[tokio::test]
async fn signature_failures_are_401_each_with_its_reason() {
    let server = server().await;
    let body = fixture(COMMAND);
    let base = format!("SdkAppid={APP_ID}&CallbackCommand={COMMAND}");
    let time = now();
    let good_sign = sign(TOKEN, time);

    let no_sign = server
        .post(&format!("{base}&RequestTime={time}"), body.clone())
        .await;
    assert_fail(&no_sign, 401, 40101, "Sign query parameter is missing");

    let no_time = server
        .post(&format!("{base}&Sign={good_sign}"), body.clone())
        .await;
    assert_fail(
        &no_time,
        401,
        40102,
        "RequestTime query parameter is missing",
    );

    let bad_time = server
        .post(
            &format!("{base}&Sign={good_sign}&RequestTime=soon"),
            body.clone(),
        )
        .await;
    assert_fail(
        &bad_time,
        401,
        40103,
        "\"soon\" is not a Unix time in seconds",
    );

    let millis = time * 1000;
    let in_millis = server
        .post(
            &format!("{base}&Sign={}&RequestTime={millis}", sign(TOKEN, millis)),
            body.clone(),
        )
        .await;
    assert_fail(&in_millis, 401, 40104, "more than the allowed 10 s");

    let stale = time - 300;
    let stale_reply = server
        .post(
            &format!("{base}&Sign={}&RequestTime={stale}", sign(TOKEN, stale)),
            body.clone(),
        )
        .await;
    assert_fail(&stale_reply, 401, 40104, "more than the allowed 10 s");
    assert!(
        (skew_in(&stale_reply.1) + 300).abs() <= 2,
        "{}",
        stale_reply.1
    );

    let future = time + 300;
    let future_reply = server
        .post(
            &format!("{base}&Sign={}&RequestTime={future}", sign(TOKEN, future)),
            body.clone(),
        )
        .await;
    assert_fail(&future_reply, 401, 40104, "more than the allowed 10 s");
    assert!(
        (skew_in(&future_reply.1) - 300).abs() <= 2,
        "{}",
        future_reply.1
    );

    let forged = server
        .post(
            &format!("{base}&Sign={}&RequestTime={time}", sign("guessed", time)),
            body.clone(),
        )
        .await;
    assert_fail(&forged, 401, 40105, "Sign does not match any token");

    let shifted = server
        .post(
            &format!("{base}&Sign={good_sign}&RequestTime={}", time - 1),
            body.clone(),
        )
        .await;
    assert_fail(&shifted, 401, 40105, "Sign does not match any token");

    let upper = server
        .post(
            &format!(
                "{base}&Sign={}&RequestTime={time}",
                good_sign.to_uppercase()
            ),
            body,
        )
        .await;
    // The same digest in upper-case hex is the same signature.
    assert_eq!(upper.0, 200, "{}", upper.1);
}

#[tokio::test]
async fn a_request_just_inside_the_skew_window_is_accepted() {
    let server = server().await;
    // The default window is 10 s: Chat signs when it sends and gives up after 2 s.
    let edge = now() - 8;
    let (status, reply) = server
        .post(&signed_query(COMMAND, TOKEN, edge), fixture(COMMAND))
        .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn the_default_skew_window_is_tight() {
    let server = server().await;
    for age in [30, 59] {
        let reply = server
            .post(&signed_query(COMMAND, TOKEN, now() - age), fixture(COMMAND))
            .await;
        assert_fail(&reply, 401, 40104, "more than the allowed 10 s");
    }
}

#[tokio::test]
async fn tencents_documented_sign_vector_is_accepted() {
    // Token xxxxyyyy at RequestTime 1669872112 signs to 17773bc3...4061 (protocol.md §1.1).
    let mut config = base_config();
    config.apps.get_mut("main").unwrap().tokens =
        vec![chathook_core::auth::Secret::new("xxxxyyyy")];
    // The vector is from 2022, outside any window auth.max_clock_skew_secs may be: the
    // signature is checked as documented, then the server's acceptance of it now.
    assert_eq!(
        chathook_core::auth::sign("xxxxyyyy", 1669872112),
        "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
    );
    let server = TestServer::start(config).await;
    let time = now();
    let query = format!(
        "SdkAppid={APP_ID}&CallbackCommand={COMMAND}&RequestTime={time}&Sign={}",
        chathook_core::auth::sign("xxxxyyyy", time)
    );
    let wrong_sign = chathook_core::auth::sign("xxxxyyyy", time + 1);
    let (status, reply) = server.post(&query, fixture(COMMAND)).await;
    assert_eq!(status, 200, "{reply}");
    let wrong_sign = query.replace(&chathook_core::auth::sign("xxxxyyyy", time), &wrong_sign);
    let (status, _) = server.post(&wrong_sign, fixture(COMMAND)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn token_rotation_accepts_both_active_tokens_and_not_a_retired_one() {
    let server = server().await;
    for token in [TOKEN, OLD_TOKEN] {
        let (status, reply) = server
            .post(&signed_query(COMMAND, token, now()), fixture(COMMAND))
            .await;
        assert_eq!(status, 200, "{token}: {reply}");
    }
    server.stop().await.unwrap();

    // The rotation is finished: the old token is removed from the config.
    let mut config = base_config();
    config.apps.get_mut("main").unwrap().tokens = vec![chathook_core::auth::Secret::new(TOKEN)];
    let server = TestServer::start(config).await;
    let (status, _) = server
        .post(&signed_query(COMMAND, TOKEN, now()), fixture(COMMAND))
        .await;
    assert_eq!(status, 200);
    let retired = server
        .post(&signed_query(COMMAND, OLD_TOKEN, now()), fixture(COMMAND))
        .await;
    assert_fail(&retired, 401, 40105, "Sign does not match");
}

#[tokio::test]
async fn an_app_that_opted_out_is_accepted_unsigned() {
    let server = server().await;
    let (status, reply) = server
        .post(
            &format!("SdkAppid={UNSIGNED_APP_ID}&CallbackCommand={COMMAND}"),
            fixture(COMMAND),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    // The signed app is still protected.
    let (status, _) = server
        .post(
            &format!("SdkAppid={APP_ID}&CallbackCommand={COMMAND}"),
            fixture(COMMAND),
        )
        .await;
    assert_eq!(status, 401);
}
