//! What a body must be: within the limit, JSON, an object, naming the same command.

use chathook_tests::*;
use serde_json::Value;

const COMMAND: &str = "Group.CallbackAfterMemberExit";

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_declared_or_streamed() {
    let mut config = base_config();
    config.server.body_limit_bytes = 1024;
    let server = TestServer::start(config).await;
    let big = format!(
        r#"{{"CallbackCommand":"{COMMAND}","Pad":"{}"}}"#,
        "x".repeat(2000)
    );
    let declared = server.post(&fresh_query(COMMAND), big.clone()).await;
    assert_fail(&declared, 413, 41301, "larger than the limit of 1024 bytes");

    // Chunked: no Content-Length, so the limit must hold while reading.
    let mut request = format!(
        "POST /callback?{} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        fresh_query(COMMAND)
    );
    for chunk in big.as_bytes().chunks(100) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    let response = server.raw(request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains(r#""ErrorCode":41301"#), "{response}");

    let fits = format!(
        r#"{{"CallbackCommand":"{COMMAND}","Pad":"{}"}}"#,
        "x".repeat(900)
    );
    let (status, reply) = server.post(&fresh_query(COMMAND), fits).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn a_body_that_is_not_json_says_where_it_broke() {
    let server = TestServer::start(base_config()).await;
    let broken = "{\"GroupId\": \"@TGS#1\",\n \"UnreadNum\": 6\n \"ReadNum\": 1}";
    let reply = server.post(&fresh_query(COMMAND), broken).await;
    assert_fail(&reply, 400, 40005, "line 3 column 2");
    let empty = server.post(&fresh_query(COMMAND), "").await;
    assert_fail(&empty, 400, 40005, "body is not valid JSON");
}

#[tokio::test]
async fn a_body_that_is_json_but_not_an_object_is_400() {
    let server = TestServer::start(base_config()).await;
    for body in ["[1, 2]", "\"text\"", "42", "null"] {
        let reply = server.post(&fresh_query(COMMAND), body).await;
        assert_fail(&reply, 400, 40006, "body is JSON but not an object");
    }
}

#[tokio::test]
async fn callback_command_missing_or_disagreeing_is_400() {
    let server = TestServer::start(base_config()).await;
    let time = now();
    let unsigned_command = format!(
        "SdkAppid={APP_ID}&Sign={}&RequestTime={time}",
        chathook_core::auth::sign(TOKEN, time)
    );
    let missing = server.post(&unsigned_command, fixture(COMMAND)).await;
    assert_fail(
        &missing,
        400,
        40004,
        "CallbackCommand query parameter is missing",
    );

    let other = server
        .post(
            &fresh_query("Group.CallbackAfterNewMemberJoin"),
            fixture(COMMAND),
        )
        .await;
    assert_fail(
        &other,
        400,
        40007,
        "body CallbackCommand \"Group.CallbackAfterMemberExit\" differs from query CallbackCommand \"Group.CallbackAfterNewMemberJoin\"",
    );

    // A body without its own CallbackCommand is routed on the query alone.
    let (status, reply) = server
        .post(&fresh_query(COMMAND), r#"{"GroupId":"@TGS#1"}"#)
        .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn the_content_type_header_is_not_checked() {
    let server = TestServer::start(base_config()).await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-8",
    ] {
        let response = server
            .client
            .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
            .header("content-type", content_type)
            .body(fixture(COMMAND))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
    }
}

#[tokio::test]
async fn methods_other_than_post_are_405_in_tencents_shape() {
    let server = TestServer::start(base_config()).await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = server
            .client
            .request(
                method.clone(),
                server.url(&format!("/callback?{}", fresh_query(COMMAND))),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["ActionStatus"], "FAIL");
        assert_eq!(body["ErrorCode"], 40501);
        assert!(
            body["ErrorInfo"]
                .as_str()
                .unwrap()
                .contains(method.as_str())
        );
    }
    let (status, text) = server.get("/no/such/path").await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["ErrorCode"], 40401);
}
