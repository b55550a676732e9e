//! The read_receipt plugin through the real server: stored, merged, durable, queryable.

use std::collections::BTreeSet;
use std::sync::Arc;

use chathook_tests::*;
use serde_json::{Value, json};

pub(crate) use chathook_core::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT as COMMAND;

/// Sends each body and expects a 400 `invalid_body` refusal whose `ErrorInfo` is exactly
/// the paired text.
pub(crate) async fn assert_each_refused(
    server: &TestServer,
    cases: impl IntoIterator<Item = (Value, &str)>,
) {
    for (body, expected) in cases {
        let (status, reply) = server.post(&fresh_query(COMMAND), body.to_string()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            reply,
            json!({"ActionStatus":"FAIL","ErrorCode":40008,"ErrorInfo":expected})
        );
    }
}

/// A server with read_receipt on a fresh SQLite file in `dir`.
pub(crate) async fn sqlite_server(dir: &tempfile::TempDir, extra: Value) -> TestServer {
    let mut settings = json!({
        "database_url": format!("sqlite://{}", dir.path().join("receipts.db").display()),
    });
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mut config = base_config();
    enable(&mut config, "read_receipt", settings);
    TestServer::start(config).await
}

pub(crate) async fn api_get(server: &TestServer, path: &str) -> (u16, Value) {
    let response = server
        .client
        .get(server.url(&format!("/api/v1{path}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Every stored message of a group, following the cursor page by page.
pub(crate) async fn all_receipts(server: &TestServer, group: &str, page: usize) -> Vec<Value> {
    let group = encode(group);
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let cursor = after
            .map(|seq: i64| format!("&after_seq={seq}"))
            .unwrap_or_default();
        let (status, body) = api_get(
            server,
            &format!("/apps/{APP_ID}/groups/{group}/read-receipts?limit={page}{cursor}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let batch = body["items"].as_array().unwrap();
        assert!(batch.len() <= page);
        items.extend(batch.iter().cloned());
        match body["next_after_seq"].as_i64() {
            Some(next) => after = Some(next),
            None => return items,
        }
    }
}

/// Percent-encodes a path segment (group ids carry `@` and `#`).
pub(crate) fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

pub(crate) fn receipt_body(
    group: &str,
    event_time: i64,
    receipts: &[(i64, i64, i64, &[&str])],
) -> String {
    let list: Vec<Value> = receipts
        .iter()
        .map(|(seq, read, unread, members)| {
            json!({
                "MsgSeq": seq, "ReadNum": read, "UnreadNum": unread,
                "ReadReceiptMembers": members.iter().map(|m| json!({"Member_Account": m})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "CallbackCommand": COMMAND, "GroupId": group, "Type": "Public",
        "GroupMsgReceiptList": list, "EventTime": event_time,
    })
    .to_string()
}

#[tokio::test]
async fn the_fixture_is_stored_and_read_back_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    let (status, reply) = server.post(&fresh_query(COMMAND), fixture(COMMAND)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
    );

    let (status, body) = api_get(
        &server,
        &format!("/apps/{APP_ID}/groups/%40TGS%232TTV7VSII/read-receipts/2"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "sdk_app_id": APP_ID, "group_id": "@TGS#2TTV7VSII", "msg_seq": 2, "group_type": "Public",
            "read_num": 2, "unread_num": 5, "readers": ["user0", "user1"],
            "first_event_time_ms": 1670574414123i64, "last_event_time_ms": 1670574414123i64,
        })
    );
    let (status, body) = api_get(
        &server,
        &format!("/apps/{APP_ID}/groups/%40TGS%232TTV7VSII/read-receipts/3"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        format!("no read receipt for message 3 of group \"@TGS#2TTV7VSII\" in app {APP_ID}")
    );
    let listed = all_receipts(&server, "@TGS#2TTV7VSII", 1).await;
    assert_eq!(
        listed
            .iter()
            .map(|item| item["msg_seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test]
async fn shuffled_and_duplicated_deliveries_give_the_identical_state() {
    let group = "@TGS#order";
    // 30 callbacks about 5 messages, as the read counts grow over time.
    let mut callbacks = Vec::new();
    for step in 0..30i64 {
        let seq = step % 5 + 1;
        let reader = format!("user{step}");
        let members: Vec<&str> = vec![reader.as_str(), "owner"];
        let body = receipt_body(
            group,
            1_700_000_000_000 + step * 1000,
            &[(seq, step + 1, 40 - step, &members)],
        );
        callbacks.push(body);
    }
    let in_order = tempfile::tempdir().unwrap();
    let first = sqlite_server(&in_order, json!({})).await;
    for body in &callbacks {
        let (status, reply) = first.post(&fresh_query(COMMAND), body.clone()).await;
        assert_eq!(status, 200, "{reply}");
    }
    // The same callbacks, each twice, in a scrambled order (a fixed permutation, so a failure
    // can be replayed).
    let mut scrambled: Vec<&String> = callbacks.iter().chain(callbacks.iter()).collect();
    let count = scrambled.len();
    for index in 0..count {
        scrambled.swap(index, (index * 37 + 11) % count);
    }
    scrambled.reverse();
    let shuffled = tempfile::tempdir().unwrap();
    let second = sqlite_server(&shuffled, json!({})).await;
    for body in scrambled {
        let (status, _) = second.post(&fresh_query(COMMAND), body.clone()).await;
        assert_eq!(status, 200);
    }
    let expected = all_receipts(&first, group, 100).await;
    assert_eq!(all_receipts(&second, group, 100).await, expected);
    assert_eq!(expected.len(), 5);
    // Message 1 saw steps 0, 5, ..., 25: max ReadNum 26, min UnreadNum 15, six readers + owner.
    let one = &expected[0];
    assert_eq!(one["read_num"], 26);
    assert_eq!(one["unread_num"], 15);
    assert_eq!(one["first_event_time_ms"], 1_700_000_000_000i64);
    assert_eq!(one["last_event_time_ms"], 1_700_000_025_000i64);
    let readers: BTreeSet<&str> = one["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "owner", "user0", "user5", "user10", "user15", "user20", "user25",
    ]
    .into();
    assert_eq!(readers, want);
    // Sorted on the wire.
    let wire: Vec<&str> = one["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let mut sorted = wire.clone();
    sorted.sort_unstable();
    assert_eq!(wire, sorted);
}

async fn hundreds_of_concurrent_callbacks_are_all_stored(server: TestServer, group: &str) {
    const CALLBACKS: i64 = 400;
    const CLIENTS: usize = 16;
    let server = Arc::new(server);
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let server = Arc::clone(&server);
        let group = group.to_owned();
        clients.spawn(async move {
            // Each client has its own connection pool.
            let http = reqwest::Client::new();
            let mut acknowledged = 0;
            for n in (client as i64..CALLBACKS).step_by(CLIENTS) {
                let body = receipt_body(
                    &group,
                    1_700_000_000_000 + n,
                    &[(2 * n, 1, 9, &["a"]), (2 * n + 1, 2, 8, &["a", "b"])],
                );
                let response = http
                    .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                if response.status() == 200 {
                    acknowledged += 1;
                }
            }
            acknowledged
        });
    }
    let mut acknowledged = 0;
    while let Some(result) = clients.join_next().await {
        acknowledged += result.unwrap();
    }
    assert_eq!(acknowledged, CALLBACKS);
    let stored = all_receipts(&server, group, 1000).await;
    assert_eq!(
        stored.len() as i64,
        2 * CALLBACKS,
        "every acknowledged receipt is stored"
    );
    let seqs: BTreeSet<i64> = stored
        .iter()
        .map(|item| item["msg_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (0..2 * CALLBACKS).collect());
}

#[tokio::test]
async fn hundreds_of_concurrent_callbacks_are_all_stored_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    hundreds_of_concurrent_callbacks_are_all_stored(server, "@TGS#busy").await;
}

#[tokio::test]
async fn hundreds_of_concurrent_callbacks_are_all_stored_in_postgres() {
    let schema = fresh_postgres_schema().await;
    let mut config = base_config();
    enable(
        &mut config,
        "read_receipt",
        json!({ "database_url": schema.url }),
    );
    let server = TestServer::start(config).await;
    hundreds_of_concurrent_callbacks_are_all_stored(server, "@TGS#busy").await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    let (status, _) = server.post(&fresh_query(COMMAND), fixture(COMMAND)).await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();

    let restarted = sqlite_server(&dir, json!({})).await;
    let (status, body) = api_get(
        &restarted,
        &format!("/apps/{APP_ID}/groups/%40TGS%232TTV7VSII/read-receipts/1"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["readers"], json!(["user0"]));
}

#[tokio::test]
async fn a_store_failure_is_500_fail_and_not_ready_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({ "busy_timeout_ms": 100 })).await;
    let (status, _) = server.post(&fresh_query(COMMAND), fixture(COMMAND)).await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);

    // Another process holds the write lock: the store cannot commit.
    let url = format!("sqlite://{}", dir.path().join("receipts.db").display());
    let mut blocker = lock_sqlite(&url).await;

    let body = receipt_body("@TGS#locked", 1, &[(1, 1, 1, &["x"])]);
    let (status, reply) = server.post(&fresh_query(COMMAND), body.clone()).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(
        reply,
        json!({"ActionStatus":"FAIL","ErrorCode":50001,"ErrorInfo":"handler failed"})
    );
    let (status, text) = server.get("/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"status":"not ready","handlers":{"read_receipt":"not ready"}})
    );
    assert_eq!(
        server.metric(r#"chathook_callbacks_total{command="Group.CallbackAfterReadReceipt",outcome="failed"}"#).await,
        1.0
    );

    // The lock goes away: the failed callback can be delivered again, and what was
    // acknowledged before is still there.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let (status, _) = server.post(&fresh_query(COMMAND), body).await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(all_receipts(&server, "@TGS#2TTV7VSII", 10).await.len(), 2);
    assert_eq!(all_receipts(&server, "@TGS#locked", 10).await.len(), 1);
}

#[tokio::test]
async fn bad_bodies_are_400_with_the_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    let cases = [
        (
            json!({"GroupMsgReceiptList": []}),
            "invalid body: missing field `GroupId`",
        ),
        (
            json!({"GroupId": "g", "GroupMsgReceiptList": [{"ReadNum": 1}]}),
            "invalid GroupMsgReceiptList[0]: missing field `MsgSeq`",
        ),
        (
            json!({"GroupId": "g", "GroupMsgReceiptList": [{"MsgSeq": "seven"}]}),
            "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \"seven\", expected an unsigned integer, as a number or a numeric string",
        ),
        (
            json!({"GroupId": "g", "GroupMsgReceiptList": [{"MsgSeq": 1, "ReadNum": -2}]}),
            "invalid GroupMsgReceiptList[0].ReadNum: invalid value: integer `-2`, expected an unsigned integer, as a number or a numeric string",
        ),
        (
            json!({"GroupId": "g", "GroupMsgReceiptList": [{"MsgSeq": 9_223_372_036_854_775_808_u64}]}),
            "invalid GroupMsgReceiptList[0].MsgSeq: 9223372036854775808 is more than the 9223372036854775807 stored",
        ),
    ];
    assert_each_refused(&server, cases).await;
    // Nothing of a refused callback is stored, not even its valid receipts.
    let partly_bad =
        json!({"GroupId": "g", "GroupMsgReceiptList": [{"MsgSeq": 1}, {"MsgSeq": -1}]});
    let (status, _) = server
        .post(&fresh_query(COMMAND), partly_bad.to_string())
        .await;
    assert_eq!(status, 400);
    assert!(all_receipts(&server, "g", 10).await.is_empty());
    // Lenient where Tencent is: EventTime as a string, no members, unknown fields.
    let lenient = r#"{"GroupId":"g","Type":"Meeting","New":1,"EventTime":"1670574414123",
        "GroupMsgReceiptList":[{"MsgSeq":4,"ReadNum":0,"UnreadNum":3}]}"#;
    let (status, reply) = server.post(&fresh_query(COMMAND), lenient).await;
    assert_eq!(status, 200, "{reply}");
    let stored = all_receipts(&server, "g", 10).await;
    assert_eq!(stored[0]["first_event_time_ms"], 1_670_574_414_123i64);
    assert_eq!(stored[0]["readers"], json!([]));
    assert_eq!(stored[0]["group_type"], "Meeting");
}

#[tokio::test]
async fn the_api_checks_its_token_and_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    let path = format!("/api/v1/apps/{APP_ID}/groups/%40TGS%23x/read-receipts");
    let response = server.client.get(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = server
        .client
        .get(server.url(&path))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = api_get(
        &server,
        &format!("/apps/{APP_ID}/groups/%40TGS%23x/read-receipts"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"items": [], "next_after_seq": null}));

    for (query, error) in [
        (
            "/apps/abc/groups/g/read-receipts",
            "sdk_app_id must be a non-negative integer, not \"abc\"",
        ),
        (
            "/apps/1/groups/g/read-receipts/x",
            "msg_seq must be a non-negative integer, not \"x\"",
        ),
        (
            "/apps/1/groups/g/read-receipts?limit=0",
            "limit must be between 1 and 1000, not 0",
        ),
        (
            "/apps/1/groups/g/read-receipts?limit=1001",
            "limit must be between 1 and 1000, not 1001",
        ),
        (
            "/apps/1/groups/g/read-receipts?after_seq=-1",
            "after_seq must be a non-negative integer, not \"-1\"",
        ),
        (
            "/apps/1/groups/g/read-receipts?cursor=5",
            "unknown query parameter `cursor`, expected `after_seq` or `limit`",
        ),
        (
            "/apps/1/groups/g/read-receipts?limit=5&limit=6",
            "query parameter `limit` is given more than once",
        ),
    ] {
        let (status, body) = api_get(&server, query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], error, "{query}");
    }
}

#[tokio::test]
async fn a_receipt_callback_without_a_receipt_list_is_ok_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    for body in [
        json!({"GroupId": "@TGS#empty", "Type": "Public", "GroupMsgReceiptList": null}),
        json!({"GroupId": "@TGS#empty", "Type": "Public", "EventTime": 1670574414123u64}),
    ] {
        let (status, reply) = server.post(&fresh_query(COMMAND), body.to_string()).await;
        // Refusing it would lose the delivery (Chat does not resend after-callbacks), and
        // there is nothing in it to store.
        assert_eq!(status, 200, "{reply}");
    }
    assert!(all_receipts(&server, "@TGS#empty", 100).await.is_empty());
}
