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
