//! The operators' side of queued delivery: `/api/v1/deliveries` on a real server
//! ([`api`]), `chathook deliveries` against a real journal file ([`cli`]), and the console's
//! Deliveries view in headless Chromium ([`page`]).

mod api;
mod cli;
mod page;

use chathook_tests::{API_TOKEN, TestServer};
use serde_json::Value;

/// `method path` under `/api/v1/deliveries` with the API token, and a JSON `body` if given:
/// the status and the JSON answer.
pub(crate) async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .client
        .request(method, server.url(&format!("/api/v1/deliveries{path}")))
        .bearer_auth(API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("answer");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{path}: {text:?} is not JSON: {error}"));
    (status, json)
}

/// `GET path`, expecting 200.
pub(crate) async fn get_ok(server: &TestServer, path: &str) -> Value {
    let (status, body) = call(server, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The ids of a list answer, in its order.
pub(crate) fn ids(listed: &Value) -> Vec<i64> {
    listed["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("no deliveries in {listed}"))
        .iter()
        .map(|delivery| delivery["id"].as_i64().expect("an id"))
        .collect()
}
