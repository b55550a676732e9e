//! The reproductions of protocol audit 3 (`shared/reviews/protocol-3.md`, appendix A), each
//! turned round: what the audit found is what these tests rule out.

use chathook_protocol::request::GroupCallbackAfterGroupFull;
use chathook_protocol::{Error, Request, commands as c};
use serde_json::{Value, json};

fn parse(command: &str, body: &Value) -> Result<Request, Error> {
    Request::parse(command, body.to_string().as_bytes())
}

#[test]
fn d5_explicit_nulls_survive_a_round_trip() {
    let body = json!({"From_Account":"a","To_Account":"b","MsgSeq":1,"MsgRandom":2,"MsgTime":3,
        "MsgBody":[],"CloudCustomData":null,"EventTime":null});
    let request = parse(c::C2C_CALLBACK_BEFORE_SEND_MSG, &body).unwrap();
    assert_eq!(request.to_value(), body);
    let Request::C2cCallbackBeforeSendMsg(mut message) = request else {
        panic!("not typed")
    };
    assert_eq!(message.cloud_custom_data, None);
    assert!(message.was_null("CloudCustomData"));
    // A value set in code wins over the null it arrived as.
    message.cloud_custom_data = Some("x".into());
    assert_eq!(
        serde_json::to_value(&message).unwrap()["CloudCustomData"],
        "x"
    );
    // Nested items keep theirs too.
    let nested = json!({"GroupId":"g","Type":"Public","Operator_Account":"o",
        "MemberList":[{"Member_Account":"m","NameCard":null}],"CallbackCommand":"Group.CallbackAfterCreateGroup",
        "Owner_Account":"o","Name":"n","Introduction":null});
    let request = parse(c::GROUP_CALLBACK_AFTER_CREATE_GROUP, &nested).unwrap();
    assert_eq!(request.to_value(), nested);
}

#[test]
fn d5_a_null_callback_command_is_a_mismatch() {
    let body = json!({"CallbackCommand":null,"GroupId":"g"});
    let error = parse(c::GROUP_CALLBACK_AFTER_GROUP_FULL, &body).unwrap_err();
    assert!(
        matches!(&error, Error::CommandMismatch { found, .. } if found == "null"),
        "{error}"
    );
    // Absent stays accepted: `Push.*` and `ContentCallback` bodies carry none.
    assert!(parse(c::GROUP_CALLBACK_AFTER_GROUP_FULL, &json!({"GroupId":"g"})).is_ok());
}

#[test]
fn d6_extra_cannot_shadow_a_typed_key() {
    let mut full: GroupCallbackAfterGroupFull =
        serde_json::from_value(json!({"GroupId":"real"})).unwrap();
    let refused = full.insert_extra("GroupId", json!("forged")).unwrap_err();
    assert_eq!(refused.key, "GroupId");
    assert_eq!(
        serde_json::to_string(&full).unwrap(),
        r#"{"GroupId":"real"}"#
    );
    assert_eq!(full.insert_extra("Note", json!(1)), Ok(None));
    assert_eq!(
        serde_json::to_string(&full).unwrap(),
        r#"{"GroupId":"real","Note":1}"#
    );
    // The body's own CallbackCommand is a typed key as well.
    assert!(full.insert_extra("CallbackCommand", json!("x")).is_err());
}

#[test]
fn d3_one_bad_known_element_leaves_the_message_typed() {
    let body = json!({"From_Account":"a","To_Account":"b","MsgSeq":1,"MsgRandom":2,"MsgTime":3,
        "MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}},
                   {"MsgType":"TIMImageElem","MsgContent":{"UUID":"u","ImageFormat":"JPG"}}]});
    let request = parse(c::C2C_CALLBACK_BEFORE_SEND_MSG, &body).unwrap();
    let Request::C2cCallbackBeforeSendMsg(message) = &request else {
        panic!("not typed")
    };
    assert_eq!(message.msg_body[0], chathook_protocol::MsgElem::text("hi"));
    assert_eq!(
        message.msg_body[1],
        chathook_protocol::MsgElem::Unknown(body["MsgBody"][1].clone())
    );
    assert_eq!(request.to_value(), body);
}

#[test]
fn d2_a_moderation_result_that_is_not_about_a_message_parses() {
    let profile = json!({"Scene":"UserInfo","SdkAppId":1400187352,"From_Account":"jared",
        "ContentType":"Text","TextContent":["nick"],"CtxcbResult":1,"CtxcbSuggestion":"Block"});
    let request = parse(c::CONTENT_CALLBACK_RESULT_NOTIFY, &profile).unwrap();
    let Request::ContentCallbackResultNotify(result) = &request else {
        panic!("not typed")
    };
    assert!(result.contact_item.is_none() && result.msg_id.is_none());
    assert_eq!(request.to_value(), profile);
    // A group message's MsgID is its MsgSeq, which may come as a number.
    let mut group = profile.clone();
    group["Scene"] = json!("Group");
    group["MsgID"] = json!(123);
    group["ContactItem"] = json!({"ContactType": 2, "ToGroupId": "@TGS#1"});
    let request = parse(c::CONTENT_CALLBACK_RESULT_NOTIFY, &group).unwrap();
    let Request::ContentCallbackResultNotify(result) = &request else {
        panic!("not typed")
    };
    assert_eq!(
        result.msg_id.as_ref().map(|id| id.to_text()),
        Some("123".into())
    );
    assert_eq!(request.to_value(), group);
}

#[test]
fn d1_a_top_level_refusal_of_a_friend_request_is_refused() {
    use chathook_protocol::reply::{Fields, Reply, ReplyError, check_decision_code};
    for command in [
        c::SNS_CALLBACK_PREV_FRIEND_ADD,
        c::SNS_CALLBACK_PREV_FRIEND_RESPONSE,
    ] {
        assert!(Reply::decision(command, 1, "no").is_err());
        for code in [1, 38000, 38001, 39000] {
            assert!(
                matches!(
                    check_decision_code(command, code),
                    Err(ReplyError::PerTargetOnly { .. })
                ),
                "{command} {code}"
            );
            // What a framework checks a handler's reply with says the same.
            assert!(
                Reply::<Fields>::unchecked(code, "no")
                    .check(command)
                    .is_err()
            );
        }
        assert_eq!(check_decision_code(command, 0), Ok(()));
    }
    // The per-target form is the easy one, from the typed request.
    let body = chathook_protocol::samples::request_sample(c::SNS_CALLBACK_PREV_FRIEND_ADD).unwrap();
    let Request::SnsCallbackPrevFriendAdd(request) =
        Request::parse(c::SNS_CALLBACK_PREV_FRIEND_ADD, body.as_bytes()).unwrap()
    else {
        panic!("not typed")
    };
    let reply = Reply::refuse_friends(
        c::SNS_CALLBACK_PREV_FRIEND_ADD,
        request.targets(),
        38001,
        "no strangers",
    )
    .unwrap();
    let erased: Reply<Fields> = reply.into();
    assert_eq!(erased.error_code(), 0);
    assert_eq!(erased.check(c::SNS_CALLBACK_PREV_FRIEND_ADD), Ok(()));
    let items = erased.fields()["ResultItem"].as_array().unwrap();
    assert_eq!(items.len(), request.friend_item.len());
    assert!(items.iter().all(|item| item["ResultCode"] == 38001));
    // A hand-made ResultItem is held to the same range.
    let forged = Reply::<Fields>::unchecked(0, "").with_field(
        "ResultItem",
        json!([{"To_Account": "x", "ResultCode": 5, "ResultInfo": ""}]),
    );
    assert!(matches!(
        forged.check(c::SNS_CALLBACK_PREV_FRIEND_ADD),
        Err(ReplyError::ResultCodeNotAllowed { code: 5, .. })
    ));
}

#[test]
fn d7_an_after_callback_reply_is_exactly_ok() {
    use chathook_protocol::reply::{Fields, Reply, ReplyError};
    let command = c::GROUP_CALLBACK_SEND_MSG_EXCEPTION;
    assert_eq!(
        Reply::decision(command, 0, "hello"),
        Err(ReplyError::NotADecision(command.into()))
    );
    assert_eq!(Reply::decision(command, 0, "").unwrap(), Reply::ok());
    assert!(
        Reply::<Fields>::unchecked(0, "hello")
            .check(command)
            .is_err()
    );
    assert_eq!(Reply::<Fields>::default().check(command), Ok(()));
}

#[test]
fn d8_reading_a_reply_back_as_a_type_without_its_payload_is_an_error() {
    use chathook_protocol::reply::{Fields, MessageRewrite, Reply};
    let text = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[]}"#;
    let error = serde_json::from_str::<Reply>(text).unwrap_err();
    assert!(error.to_string().contains("MsgBody"), "{error}");
    // Read as its own type, or erased, it keeps everything.
    let typed: Reply<MessageRewrite> = serde_json::from_str(text).unwrap();
    assert_eq!(typed.to_json(), text);
    let erased: Reply<Fields> = serde_json::from_str(text).unwrap();
    assert_eq!(erased.to_json(), text);
    // Reading back does not check codes; the erased form's check does.
    let odd: Reply<Fields> =
        serde_json::from_str(r#"{"ActionStatus":"OK","ErrorCode":99999,"ErrorInfo":""}"#).unwrap();
    assert!(odd.check(c::GROUP_CALLBACK_BEFORE_SEND_MSG).is_err());
}
