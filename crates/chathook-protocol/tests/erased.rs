//! The erased reply `Reply<Fields>` a framework passes around: conversion from every typed
//! reply, the FAIL packet, the fallback and `RspData` rules, and the check that holds an
//! unchecked reply to the builders' rule.

use chathook_protocol::commands;
use chathook_protocol::reply::*;
use chathook_protocol::samples::REPLIES;
use serde_json::{Value, json};

fn erased(reply: impl Into<Reply<Fields>>) -> Reply<Fields> {
    reply.into()
}

#[test]
fn ok_and_fail_are_tencents_exact_packets() {
    assert_eq!(
        erased(Reply::ok()).to_json(),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
    );
    assert_eq!(Reply::<Fields>::default(), Reply::ok());
    let fail = erased(Reply::fail(40001, "SdkAppid is missing"));
    assert_eq!(fail.action_status(), ActionStatus::Fail);
    assert_eq!(
        fail.to_json(),
        r#"{"ActionStatus":"FAIL","ErrorCode":40001,"ErrorInfo":"SdkAppid is missing"}"#
    );
}

#[test]
fn every_typed_reply_converts_to_the_same_packet() {
    let rewrite = Reply::rewrite(
        commands::C2C_CALLBACK_BEFORE_SEND_MSG,
        MessageRewrite::new(Some(vec![chathook_protocol::MsgElem::text("***")]), None),
    )
    .unwrap();
    let friends = Reply::friend_results(
        commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE,
        vec![ResultItem::allow("a")],
    )
    .unwrap();
    let packets = [
        (Reply::ok().to_json(), erased(Reply::ok())),
        (rewrite.to_json(), erased(rewrite.clone())),
        (
            Reply::refuse_members(["j"]).to_json(),
            erased(Reply::refuse_members(["j"])),
        ),
        (
            Reply::refuse_subscribers(["j"]).to_json(),
            erased(Reply::refuse_subscribers(["j"])),
        ),
        (friends.to_json(), erased(friends.clone())),
        (Reply::signal("{}").to_json(), erased(Reply::signal("{}"))),
        (
            Reply::signal_failed("x").to_json(),
            erased(Reply::signal_failed("x")),
        ),
    ];
    for (typed, erased) in packets {
        // The same JSON value; the status triple leads, in Tencent's order.
        let typed: Value = serde_json::from_str(&typed).unwrap();
        assert_eq!(serde_json::to_value(&erased).unwrap(), typed);
        assert!(
            erased
                .to_json()
                .starts_with(r#"{"ActionStatus":"OK","ErrorCode":"#)
        );
    }
    // An erased reply equals the typed one it came from.
    assert_eq!(erased(rewrite.clone()), rewrite);
    assert_eq!(
        erased(rewrite).fields()["MsgBody"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "***"}}])
    );
}

#[test]
fn every_documented_reply_reads_erased_and_passes_the_check() {
    for (command, body) in REPLIES {
        let reply: Reply<Fields> = serde_json::from_str(body).unwrap();
        assert_eq!(reply.check(command), Ok(()), "{command}");
        let sample: Value = serde_json::from_str(body).unwrap();
        assert_eq!(serde_json::to_value(&reply).unwrap(), sample, "{command}");
    }
}

#[test]
fn an_unchecked_reply_is_held_to_the_builders_rule() {
    let send = commands::GROUP_CALLBACK_BEFORE_SEND_MSG;
    for (code, ok) in [
        (0, true),
        (1, true),
        (2, true),
        (10100, true),
        (120001, false),
        (99, false),
    ] {
        let built = Reply::decision(send, code, "x").is_ok();
        let checked = Reply::<Fields>::unchecked(code, "x").check(send).is_ok();
        assert_eq!((built, checked), (ok, ok), "{code}");
    }
    assert!(matches!(
        Reply::<Fields>::unchecked(1, "").check("Foo.CallbackBeforeBar"),
        Err(ReplyError::UnknownCommand(_))
    ));
}

#[test]
#[should_panic(expected = "ErrorCode is set by the reply's constructor")]
fn a_reserved_key_cannot_be_added_twice() {
    let _ = Reply::<Fields>::default().with_field("ErrorCode", 1);
}

#[test]
fn fields_are_flattened_into_the_packet() {
    let reply = Reply::<Fields>::default().with_field("RefusedMembers_Account", vec!["jared"]);
    assert_eq!(
        reply.to_json(),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["jared"]}"#
    );
}

#[test]
fn replies_to_the_chatbot_signal_always_carry_rsp_data() {
    let chatbot = commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE;
    let reply = erased(Reply::fail(50001, "handler failed")).completed_for(chatbot);
    assert_eq!(reply.fields()["RspData"], "");
    let given = erased(Reply::signal("{}")).completed_for(chatbot);
    assert_eq!(given.fields()["RspData"], "{}");
    assert!(
        Reply::<Fields>::default()
            .completed_for(commands::STATE_STATE_CHANGE)
            .fields()
            .is_empty()
    );
}

#[test]
fn a_fallback_is_a_decision_chat_honours_for_its_command() {
    let send = commands::GROUP_CALLBACK_BEFORE_SEND_MSG;
    assert_eq!(fallback(send, false, b"{}"), Reply::ok());
    let denied = fallback(send, true, b"not json");
    assert_eq!(
        (denied.error_code(), denied.error_info()),
        (Reply::REJECT, "refused: the app could not decide in time")
    );
    // Friend requests: one ResultItem per target, even for a body that does not parse typed.
    let body = br#"{"FriendItem":[{"To_Account":"a"},{"To_Account":7},{"Remark":"no target"}]}"#;
    let denied = fallback(commands::SNS_CALLBACK_PREV_FRIEND_ADD, true, body);
    assert_eq!(denied.error_code(), 0);
    assert_eq!(
        denied.fields()["ResultItem"],
        json!([
            {"To_Account": "a", "ResultCode": 38000, "ResultInfo": "refused: the app could not decide in time"},
            {"To_Account": 7, "ResultCode": 38000, "ResultInfo": "refused: the app could not decide in time"}
        ])
    );
    let body = br#"{"ResponseFriendItem":[{"To_Account":"a"}]}"#;
    let allowed = fallback(commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE, false, body);
    assert_eq!(
        allowed.fields()["ResultItem"],
        json!([{"To_Account": "a", "ResultCode": 0, "ResultInfo": ""}])
    );
    assert_eq!(
        fallback(commands::SNS_CALLBACK_PREV_FRIEND_ADD, true, b"[]").fields()["ResultItem"],
        json!([])
    );
}
