//! What the protocol audit found wrong in how chathook answers Chat, each answered through the
//! real server the way Chat would read it.

use chathook_core::config::{Fallback, Unrouted};
use chathook_tests::*;
use serde_json::{Value, json};

const FRIEND_ADD: &str = "Sns.CallbackPrevFriendAdd";
const CHATBOT: &str = "Chatbot.OnC2CSignalMessage";

fn chatbot_body() -> String {
    json!({
        "CallbackCommand": CHATBOT, "From_Account": "alice", "To_Account": "@RBT#bot",
        "MsgSeq": 7, "MsgRandom": 1, "MsgKey": "7_1_1", "EventTime": 1_670_574_414_123u64,
        "Data": "{\"cmd\":\"ping\"}"
    })
    .to_string()
}

async fn failing_probe(fallback: Fallback) -> TestServer {
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "fail": "error" }));
    config.handlers.get_mut("probe").unwrap().fallback = Some(fallback);
    TestServer::start(config).await
}

#[tokio::test]
async fn a_friend_request_is_denied_per_target_as_chat_honours_it() {
    let server = failing_probe(Fallback::Deny).await;
    let (status, reply) = server
        .post(&fresh_query(FRIEND_ADD), fixture(FRIEND_ADD))
        .await;
    assert_eq!(status, 200, "{reply}");
    // Chat ignores a top-level code here: the denial is a ResultCode per target.
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    let body: Value = serde_json::from_str(&fixture(FRIEND_ADD)).unwrap();
    let targets: Vec<&Value> = body["FriendItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["To_Account"])
        .collect();
    let items = reply["ResultItem"].as_array().expect("ResultItem");
    assert_eq!(items.len(), targets.len(), "{reply}");
    for (item, target) in items.iter().zip(targets) {
        assert_eq!(&item["To_Account"], target);
        let code = item["ResultCode"].as_i64().unwrap();
        assert!((38000..=39000).contains(&code), "{reply}");
    }

    let server = failing_probe(Fallback::Allow).await;
    let (_, reply) = server
        .post(&fresh_query(FRIEND_ADD), fixture(FRIEND_ADD))
        .await;
    let items = reply["ResultItem"].as_array().expect("ResultItem");
    assert!(!items.is_empty(), "{reply}");
    assert!(items.iter().all(|item| item["ResultCode"] == 0), "{reply}");
}

#[tokio::test]
async fn other_before_callbacks_are_denied_with_error_code_1() {
    let server = failing_probe(Fallback::Deny).await;
    let command = "Group.CallbackBeforeSendMsg";
    let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
    assert_eq!(status, 200);
    assert_eq!(reply["ErrorCode"], 1, "{reply}");
}

#[tokio::test]
async fn the_chatbot_signal_reply_always_carries_rsp_data() {
    // Unrouted, answered at once.
    let server = TestServer::start(base_config()).await;
    let (status, reply) = server.post(&fresh_query(CHATBOT), chatbot_body()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["RspData"], "", "{reply}");
    // Its handler failed.
    let server = failing_probe(Fallback::Allow).await;
    let (status, reply) = server.post(&fresh_query(CHATBOT), chatbot_body()).await;
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["RspData"], "", "{reply}");
    // Unrouted and refused by policy is a refusal of the request, not a reply to the bot.
    let mut config = base_config();
    config.dispatch.unrouted = Unrouted::Reject;
    let server = TestServer::start(config).await;
    let (status, _) = server.post(&fresh_query(CHATBOT), chatbot_body()).await;
    assert_eq!(status, 501);
}

#[tokio::test]
async fn a_console_url_that_carries_contenttype_already_still_works() {
    let server = TestServer::start(base_config()).await;
    let query = format!("contenttype=json&{}", fresh_query("State.StateChange"));
    let (status, reply) = server.post(&query, fixture("State.StateChange")).await;
    assert_eq!(status, 200, "{reply}");
    // A deciding parameter twice is still refused.
    let query = format!("SdkAppid=1&{}", fresh_query("State.StateChange"));
    let reply = server.post(&query, fixture("State.StateChange")).await;
    assert_fail(&reply, 400, 40003, "SdkAppid");
}

#[tokio::test]
async fn the_commands_added_in_2026_are_known() {
    let server = TestServer::start(base_config()).await;
    for command in [
        "C2C.CallbackAfterMsgReadReceipt",
        "C2C.CallbackAfterModifyMsg",
    ] {
        let (status, _) = server
            .post(
                &fresh_query(command),
                json!({ "CallbackCommand": command }).to_string(),
            )
            .await;
        assert_eq!(status, 200);
        let series =
            format!(r#"chathook_callbacks_total{{command="{command}",outcome="unrouted"}}"#);
        assert_eq!(server.metric(&series).await, 1.0, "{series}");
    }
}

#[tokio::test]
async fn every_before_callbacks_deny_fallback_is_one_chat_honours() {
    let mut config = base_config();
    enable(&mut config, "denier", json!({}));
    config.handlers.get_mut("denier").unwrap().fallback = Some(Fallback::Deny);
    let server = TestServer::start(config).await;
    let before: Vec<_> = chathook_core::protocol::KNOWN_COMMANDS
        .iter()
        .filter(|known| known.kind == chathook_core::CallbackKind::Before)
        .collect();
    assert_eq!(before.len(), 12, "the denier serves every before-callback");
    for known in before {
        let command = known.name;
        let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
        assert_eq!(status, 200, "{command}: {reply}");
        assert_eq!(reply["ActionStatus"], "OK", "{command}: {reply}");
        match command {
            "Sns.CallbackPrevFriendAdd" | "Sns.CallbackPrevFriendResponse" => {
                // Chat ignores the top-level code: one refusal per target, in 38000-39000.
                assert_eq!(reply["ErrorCode"], 0, "{command}: {reply}");
                let items = reply["ResultItem"].as_array().expect("ResultItem");
                assert!(!items.is_empty(), "{command}: {reply}");
                for item in items {
                    let code = item["ResultCode"].as_i64().unwrap();
                    assert!((38000..=39000).contains(&code), "{command}: {reply}");
                }
            }
            // ErrorCode 1 is the refusal every other before-callback documents.
            _ => assert_eq!(reply["ErrorCode"], 1, "{command}: {reply}"),
        }
        let series = format!(
            r#"chathook_fallbacks_total{{handler="denier",command="{command}",decision="deny"}}"#
        );
        assert_eq!(server.metric(&series).await, 1.0, "{series}");
    }
}

#[tokio::test]
async fn a_top_level_refusal_of_a_friend_request_is_never_what_chat_gets() {
    // Chat reads only the per-target ResultItem of a friend request: a decider answering a
    // top-level 1 would let the request through. That answer fails the decision check, and
    // the fallback answers in the form Chat honours.
    let command = "Sns.CallbackPrevFriendAdd";
    for (fallback, refused) in [(Fallback::Allow, false), (Fallback::Deny, true)] {
        let mut config = base_config();
        enable(&mut config, "probe", json!({ "decide": 1 }));
        config.handlers.get_mut("probe").unwrap().fallback = Some(fallback);
        let server = TestServer::start(config).await;
        let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["ErrorCode"], 0, "never a top-level refusal: {reply}");
        let items = reply["ResultItem"]
            .as_array()
            .expect("one result per target");
        assert!(!items.is_empty(), "{reply}");
        for item in items {
            let code = item["ResultCode"].as_u64().unwrap();
            if refused {
                assert!((38000..=39000).contains(&code), "{reply}");
            } else {
                assert_eq!(code, 0, "{reply}");
            }
        }
        let series = format!(
            r#"chathook_handler_results_total{{handler="probe",command="{command}",result="undocumented_code"}}"#
        );
        assert_eq!(server.metric(&series).await, 1.0, "{series}");
    }
}

/// The first ```rust block after `heading` in a Markdown text.
fn rust_block_after<'a>(text: &'a str, heading: &str) -> &'a str {
    let section = &text[text.find(heading).expect("heading")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = section[start..].find("```").expect("the block's end");
    &section[start..start + end]
}

#[test]
fn the_docs_show_the_protocol_crates_doctest_as_it_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/protocol.md")).unwrap();
    let crate_readme =
        std::fs::read_to_string(root.join("crates/chathook-protocol/README.md")).unwrap();
    assert_eq!(
        rust_block_after(&doc, "# The protocol crate"),
        rust_block_after(&crate_readme, "## Example"),
        "docs/protocol.md's example must be the crate README's doctest, which is what runs"
    );
}

#[tokio::test]
async fn a_decision_with_a_code_its_command_does_not_document_gets_the_fallback() {
    let command = "Group.CallbackBeforeSendMsg";
    // Documented for group before-send: refuse (1), discard (2), the group range 10100-10200.
    for (code, answered) in [
        (1, 1),
        (2, 2),
        (10100, 10100),
        (120001, 0),
        (99, 0),
        (-1, 0),
    ] {
        let mut config = base_config();
        enable(&mut config, "probe", json!({ "decide": code }));
        let server = TestServer::start(config).await;
        let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["ErrorCode"], answered, "decided {code}: {reply}");
        let fallbacks = server
            .metric(&format!(
                r#"chathook_fallbacks_total{{handler="probe",command="{command}",decision="allow"}}"#
            ))
            .await;
        assert_eq!(
            fallbacks,
            f64::from(u8::from(answered == 0)),
            "decided {code}"
        );
    }
}
