//! Every documented reply sample is what the builders produce, and the builders refuse
//! decision codes the command's documentation does not allow.

use chathook_protocol::commands;
use chathook_protocol::message::{CustomElem, MsgElem};
use chathook_protocol::reply::*;
use chathook_protocol::samples::{REPLIES, reply_sample};
use serde_json::{Map, Value, json};

fn custom(desc: &str, data: &str) -> MsgElem {
    let mut custom = CustomElem::default();
    custom.desc = Some(desc.into());
    custom.data = Some(data.into());
    MsgElem::Custom(custom)
}

/// The reply each sample documents, built with this crate's builders.
fn built(command: &str) -> Value {
    let value = match command {
        commands::C2C_CALLBACK_BEFORE_SEND_MSG => serde_json::to_value(
            Reply::rewrite(
                command,
                MessageRewrite::new(
                    Some(vec![
                        MsgElem::text("red packet"),
                        custom(" CustomElement.MemberLevel ", " LV1"),
                    ]),
                    Some("your new cloud custom data".into()),
                ),
            )
            .unwrap(),
        ),
        commands::GROUP_CALLBACK_BEFORE_SEND_MSG
        | commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG => serde_json::to_value(
            Reply::rewrite(
                command,
                MessageRewrite::new(
                    Some(vec![
                        MsgElem::text("red packet"),
                        custom("CustomElement.MemberLevel", "LV1"),
                    ]),
                    Some("your cloud custom data".into()),
                ),
            )
            .unwrap(),
        ),
        commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP
        | commands::GROUP_CALLBACK_BEFORE_APPLY_JOIN_GROUP
        | commands::GROUP_CALLBACK_BEFORE_CREATE_TOPIC
        | commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_CREATE_OFFICIAL_ACCOUNT => {
            serde_json::to_value(Reply::decision(command, 1, "").unwrap())
        }
        commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP => {
            serde_json::to_value(Reply::refuse_members(["jared"]))
        }
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER => {
            serde_json::to_value(Reply::refuse_subscribers(["jared"]))
        }
        commands::SNS_CALLBACK_PREV_FRIEND_ADD | commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE => {
            serde_json::to_value(
                Reply::friend_results(
                    command,
                    vec![ResultItem::allow("id1"), ResultItem::allow("id2")],
                )
                .unwrap(),
            )
        }
        commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE => serde_json::to_value(Reply::signal(
            r#"{"msg":"This is the user-defined passthrough content replied to the chatbot"}"#,
        )),
        // Allow: the gift goes through (no reply at all would block it).
        commands::LIVE_CALLBACK_BEFORE_SEND_GIFT => serde_json::to_value(Reply::ok()),
        other => panic!("no builder for the {other} reply sample"),
    };
    value.unwrap()
}

#[test]
fn builders_produce_every_documented_reply() {
    assert_eq!(REPLIES.len(), 13);
    for (command, body) in REPLIES {
        let sample: Value = serde_json::from_str(body).unwrap();
        assert_eq!(built(command), sample, "{command}");
    }
}

#[test]
fn every_deciding_command_has_a_documented_reply() {
    let deciding: Vec<&str> = chathook_protocol::COMMANDS
        .iter()
        .filter(|c| c.kind != chathook_protocol::Kind::After)
        .map(|c| c.name)
        .collect();
    let mut with_sample: Vec<&str> = REPLIES.iter().map(|(name, _)| *name).collect();
    let mut expected = deciding.clone();
    with_sample.sort_unstable();
    expected.sort_unstable();
    assert_eq!(with_sample, expected);
}

#[test]
fn reply_samples_parse_into_their_types_and_back() {
    fn round_trip<T: serde::Serialize + for<'de> serde::Deserialize<'de>>(command: &str) {
        let sample: Value = serde_json::from_str(reply_sample(command).unwrap()).unwrap();
        let parsed: T =
            serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{command}: {e}"));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), sample, "{command}");
    }
    round_trip::<Reply<MessageRewrite>>(commands::C2C_CALLBACK_BEFORE_SEND_MSG);
    round_trip::<Reply<MessageRewrite>>(commands::GROUP_CALLBACK_BEFORE_SEND_MSG);
    round_trip::<Reply<RefusedMembers>>(commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP);
    round_trip::<Reply<RefusedSubscribers>>(
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER,
    );
    round_trip::<Reply<FriendResults>>(commands::SNS_CALLBACK_PREV_FRIEND_ADD);
    round_trip::<Reply<SignalData>>(commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE);
    round_trip::<Reply>(commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP);
}

#[test]
fn the_status_triple_appears_exactly_once() {
    for (command, _) in REPLIES {
        let text = built(command).to_string();
        for key in ["\"ActionStatus\"", "\"ErrorCode\"", "\"ErrorInfo\""] {
            assert_eq!(text.matches(key).count(), 1, "{command}: {key} in {text}");
        }
    }
    // Even serialized straight to text (no JSON map to merge duplicates).
    let text = Reply::refuse_members(["a"]).to_json();
    assert_eq!(
        text,
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["a"]}"#
    );
    assert_eq!(
        Reply::ok().to_json(),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
    );
}

#[test]
fn decision_codes_are_checked_against_the_command() {
    // Custom ranges: C2C [120001, 130000], group [10100, 10200], Sns [38000, 39000].
    let c2c = Reply::decision(commands::C2C_CALLBACK_BEFORE_SEND_MSG, 120_001, "blocked").unwrap();
    assert_eq!((c2c.error_code(), c2c.error_info()), (120_001, "blocked"));
    assert!(Reply::decision(commands::C2C_CALLBACK_BEFORE_SEND_MSG, 2, "").is_ok());
    assert!(Reply::decision(commands::GROUP_CALLBACK_BEFORE_SEND_MSG, 10_200, "x").is_ok());
    // Replies whose payload is required are built by their own builders.
    assert!(matches!(
        Reply::decision(commands::SNS_CALLBACK_PREV_FRIEND_ADD, 38_000, "x"),
        Err(ReplyError::WrongCommand { .. })
    ));
    assert!(matches!(
        Reply::decision(commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE, 0, ""),
        Err(ReplyError::WrongCommand { .. })
    ));
    let error = Reply::decision(commands::C2C_CALLBACK_BEFORE_SEND_MSG, 10_100, "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "ErrorCode 10100 is not valid for C2C.CallbackBeforeSendMsg: use 0, 1, 2 or [120001, 130000]"
    );
    assert!(matches!(
        Reply::decision(commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP, 2, ""),
        Err(ReplyError::CodeNotAllowed { .. })
    ));
    assert!(Reply::decision(commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP, 10_201, "").is_err());
    // No custom range is documented for OA add-subscriber: only 0 and 1.
    assert!(
        Reply::decision(
            commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER,
            10_100,
            ""
        )
        .is_err()
    );
    assert_eq!(
        Reply::decision(commands::GROUP_CALLBACK_AFTER_SEND_MSG, 1, ""),
        Err(ReplyError::NotADecision(
            commands::GROUP_CALLBACK_AFTER_SEND_MSG.into()
        ))
    );
    assert!(Reply::decision(commands::GROUP_CALLBACK_AFTER_SEND_MSG, 0, "").is_ok());
    assert!(matches!(
        Reply::decision("Nope.Nothing", 1, ""),
        Err(ReplyError::UnknownCommand(_))
    ));
}

#[test]
fn payloads_belong_to_their_commands_and_result_codes_are_checked() {
    assert!(matches!(
        Reply::rewrite(
            commands::GROUP_CALLBACK_AFTER_SEND_MSG,
            MessageRewrite::default()
        ),
        Err(ReplyError::WrongCommand { .. })
    ));
    assert!(ResultItem::refuse("bob", 37_999, "no").is_err());
    assert!(ResultItem::refuse("bob", 39_001, "no").is_err());
    let refused = ResultItem::refuse("bob", 38_001, "no strangers").unwrap();
    let reply =
        Reply::friend_results(commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE, vec![refused]).unwrap();
    assert_eq!(
        serde_json::to_value(&reply).unwrap()["ResultItem"],
        json!([{"To_Account": "bob", "ResultCode": 38001, "ResultInfo": "no strangers"}])
    );
    let mut forged = ResultItem::allow("eve");
    forged.result_code = 1;
    assert_eq!(
        Reply::friend_results(commands::SNS_CALLBACK_PREV_FRIEND_ADD, vec![forged]),
        Err(ReplyError::ResultCodeNotAllowed {
            to_account: "eve".into(),
            code: 1
        })
    );
    assert!(Reply::friend_results(commands::C2C_CALLBACK_BEFORE_SEND_MSG, vec![]).is_err());
    let failed = serde_json::to_value(Reply::signal_failed("bot down")).unwrap();
    let expected: Map<String, Value> = serde_json::from_value(
        json!({"ActionStatus": "OK", "ErrorCode": 1, "ErrorInfo": "bot down", "RspData": ""}),
    )
    .unwrap();
    assert_eq!(failed, Value::Object(expected));
}
