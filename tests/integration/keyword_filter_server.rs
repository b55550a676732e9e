//! The team's own binary (examples/keyword-filter-server), run as a process and spoken to over
//! HTTP: each of the keyword filter's decisions as Chat receives it, and that the binary links
//! the plugin it names and no other.

use chathook_core::auth::sign;
use chathook_tests::now;
use chathook_tests::process::{RunningBinary, clean_command, write_config};
use serde_json::{Value, json};

/// examples/keyword-filter-server, built by this package (see tests/Cargo.toml).
const BINARY: &str = env!("CARGO_BIN_EXE_chathook-test-keyword-filter-server");

const APP: &str = r#"
[apps.main]
sdk_app_id = 1400000000
tokens = ["team-token"]
"#;

/// Starts the example binary with the keyword filter set to `action`.
fn start(dir: &tempfile::TempDir, action: &str) -> RunningBinary {
    let config = write_config(
        dir.path(),
        &format!(
            "{APP}
[handlers.keyword_filter]
enabled = true
banned_words = [\"spam\", \"scam\"]
action = \"{action}\"
group_error_code = 10142
c2c_error_code = 120042
reason = \"please keep it clean\"
"
        ),
    );
    let mut command = clean_command(BINARY, dir.path());
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("CHATHOOK_LOG__CALLBACKS", "true");
    RunningBinary::spawn(command)
}

async fn before_send(server: &RunningBinary, command: &str, text: &str) -> (u16, Value) {
    let time = now();
    let url = server.url(&format!(
        "/callback?SdkAppid=1400000000&CallbackCommand={command}&contenttype=json\
         &Sign={}&RequestTime={time}",
        sign("team-token", time)
    ));
    let body = json!({
        "CallbackCommand": command,
        "GroupId": "@TGS#1", "From_Account": "jared", "To_Account": "john",
        "MsgBody": [
            { "MsgType": "TIMTextElem", "MsgContent": { "Text": text } },
            { "MsgType": "TIMFaceElem", "MsgContent": { "Index": 1, "Data": "spam" } },
        ],
    });
    let response = reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn rejected_discarded_and_masked_over_real_http() {
    let dir = tempfile::tempdir().unwrap();

    let server = start(&dir, "reject");
    let (status, reply) = before_send(&server, "Group.CallbackBeforeSendMsg", "a SCAM!").await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":10142,"ErrorInfo":"please keep it clean"})
    );
    let (_, reply) = before_send(&server, "C2C.CallbackBeforeSendMsg", "spam").await;
    assert_eq!(reply["ErrorCode"], 120042);
    let (_, reply) = before_send(&server, "C2C.CallbackBeforeSendMsg", "hello").await;
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""})
    );
    let (status, _) = server.stop();
    assert!(status.success());

    let server = start(&dir, "discard");
    let (status, reply) = before_send(&server, "Group.CallbackBeforeSendMsg", "spam").await;
    assert_eq!(status, 200);
    assert_eq!(reply["ErrorCode"], 2, "{reply}");
    drop(server);

    let mut server = start(&dir, "mask");
    let (status, reply) =
        before_send(&server, "Group.CallbackBeforeSendMsg", "no spam, no Scam").await;
    assert_eq!(status, 200);
    assert_eq!(
        reply,
        json!({
            "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "",
            "MsgBody": [
                { "MsgType": "TIMTextElem", "MsgContent": { "Text": "no ****, no ****" } },
                { "MsgType": "TIMFaceElem", "MsgContent": { "Index": 1, "Data": "spam" } },
            ],
        })
    );
    let answered = server.next_event("callback answered");
    assert_eq!(answered["handler"], "keyword_filter");
    assert_eq!(answered["outcome"], "ok");
    // Only the plugin its link list names: no stock plugin came with the CLI.
    let version = clean_command(BINARY, dir.path())
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(
        version.trim_end().ends_with("(plugins: keyword_filter)"),
        "{version}"
    );
    let table = clean_command(BINARY, dir.path())
        .args(["handlers", "--config"])
        .arg(dir.path().join("chathook.toml"))
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let row = |command: &str| -> Vec<&str> {
        table
            .lines()
            .find(|l| l.starts_with(command))
            .unwrap()
            .split_whitespace()
            .collect()
    };
    assert_eq!(
        row("Group.CallbackBeforeSendMsg"),
        [
            "Group.CallbackBeforeSendMsg",
            "before",
            "keyword_filter",
            "decides",
            "(code)"
        ]
    );
    assert_eq!(
        row("Group.CallbackAfterReadReceipt"),
        ["Group.CallbackAfterReadReceipt", "after", "-", "unrouted"]
    );
    assert!(
        !table.contains("read_receipt ") && !table.contains("nats"),
        "{table}"
    );
}
