//! Callbacks the database cannot store ("poison"): each fails alone, with a 400 naming why,
//! and never takes the valid callbacks committed with it down too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chathook_read_receipt::model::{MessageKey, ReceiptState};
use chathook_read_receipt::store::{Durability, Store, StoreError, StoreOptions};
use chathook_tests::*;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::read_receipt::{
    COMMAND, all_receipts, api_get, assert_each_refused, encode, receipt_body, sqlite_server,
};

/// Passes every check of the parser; the test's database trigger refuses it.
const REFUSED_BY_THE_DATABASE: &str = "@TGS#refused-by-db";

/// A body, and the status and `ErrorInfo` start it must be answered with.
struct Case {
    body: String,
    status: u16,
    info: String,
}

fn poison_cases() -> Vec<Case> {
    let member = |account: &str| {
        json!({"GroupId": "@TGS#poison", "Type": "Public",
               "GroupMsgReceiptList": [{"MsgSeq": 1, "ReadReceiptMembers": [{"Member_Account": account}]}]})
        .to_string()
    };
    let mut cases = vec![
        Case {
            body: json!({"GroupId": "@TGS#nul\u{0}", "GroupMsgReceiptList": [{"MsgSeq": 1}]})
                .to_string(),
            status: 400,
            info: "invalid GroupId: contains a NUL byte".into(),
        },
        Case {
            body: member("user\u{0}"),
            status: 400,
            info: "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0].Member_Account: contains a NUL byte".into(),
        },
        Case {
            body: json!({"GroupId": "@TGS#poison", "Type": "Pub\u{0}lic", "GroupMsgReceiptList": [{"MsgSeq": 1}]})
                .to_string(),
            status: 400,
            info: "invalid Type: contains a NUL byte".into(),
        },
        Case {
            body: json!({"GroupId": "g".repeat(3000), "GroupMsgReceiptList": [{"MsgSeq": 1}]})
                .to_string(),
            status: 400,
            info: "invalid GroupId: 3000 bytes, more than the 128 allowed".into(),
        },
        Case {
            body: member(&"u".repeat(129)),
            status: 400,
            info: "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0].Member_Account: 129 bytes, more than the 128 allowed".into(),
        },
    ];
    for seq in 0..3 {
        cases.push(Case {
            body: receipt_body(REFUSED_BY_THE_DATABASE, 1, &[(seq, 1, 1, &["a"])]),
            status: 400,
            info: "the database cannot store this callback: poison".into(),
        });
    }
    cases
}

/// Sends 240 valid callbacks (two messages each) from 12 concurrent clients with the poison
/// cases in among them, then checks every answer and that every valid callback is stored.
async fn poison_fails_alone(server: TestServer) {
    const VALID: i64 = 240;
    const CLIENTS: i64 = 12;
    let server = Arc::new(server);
    let poison = Arc::new(poison_cases());
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let server = Arc::clone(&server);
        let poison = Arc::clone(&poison);
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let mut problems = Vec::new();
            let mut send = async |body: String, status: u16, info: &str| {
                let response = http
                    .post(server.url(&format!("/callback?{}", fresh_query(COMMAND))))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let got = response.status().as_u16();
                let reply: Value = response.json().await.unwrap();
                let got_info = reply["ErrorInfo"].as_str().unwrap_or_default().to_owned();
                if got != status || !got_info.starts_with(info) {
                    problems.push(format!("wanted {status} {info:?}, got {got} {reply}"));
                }
            };
            for n in (client..VALID).step_by(CLIENTS as usize) {
                // The poison goes out in the middle of the burst, among valid callbacks.
                let case = poison
                    .get(client as usize)
                    .filter(|_| n == VALID / 2 + client);
                if let Some(case) = case {
                    send(case.body.clone(), case.status, &case.info).await;
                }
                let body = receipt_body(
                    "@TGS#valid",
                    n,
                    &[(2 * n, 1, 9, &["a"]), (2 * n + 1, 2, 8, &["b"])],
                );
                send(body, 200, "").await;
            }
            problems
        });
    }
    let mut problems = Vec::new();
    while let Some(result) = clients.join_next().await {
        problems.extend(result.unwrap());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let stored = all_receipts(&server, "@TGS#valid", 1000).await;
    assert_eq!(
        stored.len() as i64,
        2 * VALID,
        "every valid callback is stored"
    );
    assert!(
        all_receipts(&server, REFUSED_BY_THE_DATABASE, 10)
            .await
            .is_empty()
    );
    assert!(all_receipts(&server, "@TGS#poison", 10).await.is_empty());
    // A refused callback says nothing about the database.
    let (status, text) = server.get("/readyz").await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn poison_callbacks_fail_alone_over_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    // What passes the parser but the database refuses as data: a trigger raising a
    // constraint error, as SQLite does for a value it cannot hold.
    let url = format!("sqlite://{}", dir.path().join("receipts.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(&format!(
        "CREATE TRIGGER poison BEFORE INSERT ON read_receipts \
         WHEN NEW.group_id = '{REFUSED_BY_THE_DATABASE}' BEGIN SELECT RAISE(ABORT, 'poison'); END"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    poison_fails_alone(server).await;
}

#[tokio::test]
async fn poison_callbacks_fail_alone_over_http_on_postgres() {
    let schema = fresh_postgres_schema().await;
    let url = schema.url.clone();
    let mut config = base_config();
    enable(&mut config, "read_receipt", json!({ "database_url": url }));
    let server = TestServer::start(config).await;
    // A data exception (SQLSTATE class 22), as PostgreSQL raises for a NUL byte in TEXT.
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.group_id = '{REFUSED_BY_THE_DATABASE}' THEN \
             RAISE EXCEPTION 'poison' USING ERRCODE = '22023'; \
           END IF; RETURN NEW; END $$; \
         CREATE TRIGGER poison BEFORE INSERT ON read_receipts \
           FOR EACH ROW EXECUTE FUNCTION poison();"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    poison_fails_alone(server).await;
}

#[tokio::test]
async fn a_nul_byte_recorded_directly_fails_alone_on_postgres() {
    // Below the handler: the store itself must isolate what the database refuses.
    let schema = fresh_postgres_schema().await;
    let store = Store::open(&StoreOptions {
        database_url: schema.url.clone(),
        max_connections: 4,
        busy_timeout: Duration::from_secs(2),
        max_batch: 64,
        write_timeout: Duration::from_secs(2),
        durability: Durability::Full,
    })
    .await
    .unwrap();
    let key = |group: &str, seq: i64| MessageKey {
        sdk_app_id: 7,
        group_id: group.into(),
        msg_seq: seq,
    };
    let state = |reader: &str| ReceiptState {
        group_type: Some("Public".into()),
        read_num: Some(1),
        readers: [reader.to_owned()].into(),
        ..ReceiptState::default()
    };
    let mut records = tokio::task::JoinSet::new();
    for seq in 0..150i64 {
        let store = store.clone();
        let (states, poison) = match seq % 50 {
            // A NUL byte in a group id (a receipt row) or in a reader (a reader row).
            25 => (BTreeMap::from([(key("nul\0group", seq), state("a"))]), true),
            26 => (
                BTreeMap::from([(key("valid", seq), state("nul\0reader"))]),
                true,
            ),
            _ => (BTreeMap::from([(key("valid", seq), state("a"))]), false),
        };
        records.spawn(async move { (seq, poison, store.record(states).await) });
    }
    let mut poisoned = 0;
    while let Some(joined) = records.join_next().await {
        let (seq, poison, result) = joined.unwrap();
        match (poison, result) {
            (false, Ok(())) => {}
            (true, Err(StoreError::InvalidData(problem))) => {
                assert!(problem.contains("0x00"), "{problem}");
                poisoned += 1;
            }
            (poison, result) => panic!("record {seq} (poison: {poison}): {result:?}"),
        }
    }
    assert_eq!(poisoned, 6);
    let stored = store.list(7, "valid", -1, 1000).await.unwrap();
    assert_eq!(
        stored.len(),
        144,
        "every valid record is stored, the poison is not"
    );
    store.check().await.unwrap();
}

#[tokio::test]
async fn ids_over_128_bytes_are_refused_with_the_field_and_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = sqlite_server(&dir, json!({})).await;
    let megabyte = "g".repeat(1 << 20);
    let cases = [
        (
            json!({"GroupId": megabyte, "GroupMsgReceiptList": [{"MsgSeq": 1}]}),
            "invalid GroupId: 1048576 bytes, more than the 128 allowed",
        ),
        (
            json!({"GroupId": "g", "Type": "t".repeat(129), "GroupMsgReceiptList": [{"MsgSeq": 1}]}),
            "invalid Type: 129 bytes, more than the 128 allowed",
        ),
        (
            json!({"GroupId": "g", "GroupMsgReceiptList": [{"MsgSeq": 1},
                {"MsgSeq": 2, "ReadReceiptMembers": [{"Member_Account": "ok"}, {"Member_Account": "u".repeat(300)}]}]}),
            "invalid GroupMsgReceiptList[1].ReadReceiptMembers[1].Member_Account: 300 bytes, more than the 128 allowed",
        ),
    ];
    assert_each_refused(&server, cases).await;
    assert!(all_receipts(&server, "g", 10).await.is_empty());

    // At the cap: stored, and read back through the API.
    let group = format!("@TGS#{}", "x".repeat(123));
    let account = "u".repeat(128);
    let (status, reply) = server
        .post(
            &fresh_query(COMMAND),
            receipt_body(&group, 1, &[(1, 1, 0, &[account.as_str()])]),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, body) = api_get(
        &server,
        &format!("/apps/{APP_ID}/groups/{}/read-receipts/1", encode(&group)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["readers"], json!([account]));

    // The API refuses what could never be stored, as JSON.
    for (group, error) in [
        (
            "y".repeat(129),
            "invalid group_id: 129 bytes, more than the 128 allowed",
        ),
        ("a\0b".to_owned(), "invalid group_id: contains a NUL byte"),
    ] {
        for path in ["/read-receipts", "/read-receipts/1"] {
            let (status, body) = api_get(
                &server,
                &format!("/apps/{APP_ID}/groups/{}{path}", encode(&group)),
            )
            .await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body, json!({ "error": error, "reason": "api_bad_request" }));
        }
    }
}
