//! The one rule for a reply's codes, whoever made the reply: a builder here, or a framework
//! checking what a handler returned ([`Reply::check`], [`check_decision_code`]); and the one
//! rule for its fields' shapes, for a reply nobody built with a builder (JSON a remote service
//! answered with, [`Reply::check_fields`]).

use serde::Deserialize;
use serde_json::Value;

use super::{FRIEND_RESULT_CODES, Fields, Reply, ReplyError};
use crate::message::{
    CustomElem, FaceElem, FileElem, ImageElem, LocationElem, SoundElem, TextElem, VideoFileElem,
};
use crate::table::{CodeRange, Kind, command_info, commands};

/// Checks that `code` and `info` make a plain decision `command`'s documentation allows.
pub(super) fn check_code(command: &str, code: u32, info: &str) -> Result<(), ReplyError> {
    // These replies are not valid without their payload; their own builders make them.
    let required = match command {
        commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE => {
            Some("a reply without RspData (use Reply::signal)")
        }
        commands::SNS_CALLBACK_PREV_FRIEND_ADD | commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE => {
            Some("a reply without ResultItem (use Reply::friend_results)")
        }
        _ => None,
    };
    if let Some(what) = required {
        return Err(ReplyError::WrongCommand {
            command: command.to_owned(),
            what,
        });
    }
    check_decision_code(command, code)?;
    check_after_info(command, info)
}

/// An after-callback's reply is exactly OK / 0 / "" (`Group.CallbackSendMsgException`'s page
/// says so outright): no text rides along with the 0.
fn check_after_info(command: &str, info: &str) -> Result<(), ReplyError> {
    let after = command_info(command).is_some_and(|known| known.kind == Kind::After);
    if after && !info.is_empty() {
        return Err(ReplyError::NotADecision(command.to_owned()));
    }
    Ok(())
}

/// Whether `code` is a top-level `ErrorCode` the documentation of `command` gives a meaning
/// to: 0 always; for a before-callback also 1 (refuse), 2 where silent discard is documented,
/// and the command's custom range. For the friend requests (`Sns.CallbackPrev*`) only 0:
/// Chat decides those per target and reads any other top-level code as "the app failed",
/// letting the request through, so a refusal there must be a `ResultItem`
/// ([`ReplyError::PerTargetOnly`]). For a reply built some other way (a framework's own
/// reply type), so the same rule holds wherever a reply is made.
pub fn check_decision_code(command: &str, code: u32) -> Result<(), ReplyError> {
    let info =
        command_info(command).ok_or_else(|| ReplyError::UnknownCommand(command.to_owned()))?;
    if code == 0 {
        return Ok(());
    }
    if info.kind == Kind::After {
        return Err(ReplyError::NotADecision(command.to_owned()));
    }
    if info.result_codes.is_some() {
        return Err(ReplyError::PerTargetOnly {
            command: command.to_owned(),
            code,
        });
    }
    let range_ok = info.custom_codes.is_some_and(|range| range.contains(code));
    if code == 1 || (code == 2 && info.silent_discard) || range_ok {
        return Ok(());
    }
    let mut allowed = String::from("0, 1");
    if info.silent_discard {
        allowed.push_str(", 2");
    }
    if let Some(CodeRange { start, end }) = info.custom_codes {
        allowed.push_str(&format!(" or [{start}, {end}]"));
    }
    Err(ReplyError::CodeNotAllowed {
        command: command.to_owned(),
        code,
        allowed,
    })
}

impl Reply<Fields> {
    /// Checks this reply against `command`'s documentation, as the typed builders do: the
    /// top-level code ([`check_decision_code`]), an after-callback's empty `ErrorInfo`, and
    /// each per-target `ResultCode` of a friend request's `ResultItem`.
    /// [`ReplyError::UnknownCommand`] for a command the table lacks, which has no documented
    /// codes to hold a reply to.
    pub fn check(&self, command: &str) -> Result<(), ReplyError> {
        check_decision_code(command, self.error_code)?;
        check_after_info(command, &self.error_info)?;
        match self.data.get("ResultItem") {
            Some(items) if command_info(command).is_some_and(|c| c.result_codes.is_some()) => {
                check_result_items(items)
            }
            _ => Ok(()),
        }
    }
}

/// What a reply field must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `MsgBody`: a non-empty array of message elements.
    Messages,
    /// A string (`CloudCustomData`, `RspData`).
    Text,
    /// An array of user ids (`RefusedMembers_Account`).
    Accounts,
    /// `ResultItem`: an array of `{To_Account, ResultCode, ResultInfo}`.
    ResultItems,
}

/// One field a command's reply may carry.
#[derive(Clone, Copy, Debug)]
struct FieldRule {
    name: &'static str,
    shape: Shape,
    required: bool,
}

const fn optional(name: &'static str, shape: Shape) -> FieldRule {
    FieldRule {
        name,
        shape,
        required: false,
    }
}

const fn required(name: &'static str, shape: Shape) -> FieldRule {
    FieldRule {
        name,
        shape,
        required: true,
    }
}

const MESSAGE_REWRITE: &[FieldRule] = &[
    optional("MsgBody", Shape::Messages),
    optional("CloudCustomData", Shape::Text),
];
const FRIEND_RESULTS: &[FieldRule] = &[required("ResultItem", Shape::ResultItems)];
const REFUSED_MEMBERS: &[FieldRule] = &[optional("RefusedMembers_Account", Shape::Accounts)];
const REFUSED_SUBSCRIBERS: &[FieldRule] =
    &[optional("RefusedSubscribers_Account", Shape::Accounts)];
const SIGNAL_DATA: &[FieldRule] = &[required("RspData", Shape::Text)];

/// The fields `command`'s documented reply carries besides the status triple (the payloads
/// of `payload.rs`); `None` for a command the table lacks.
fn reply_fields(command: &str) -> Option<&'static [FieldRule]> {
    command_info(command)?;
    Some(match command {
        commands::C2C_CALLBACK_BEFORE_SEND_MSG
        | commands::GROUP_CALLBACK_BEFORE_SEND_MSG
        | commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG => MESSAGE_REWRITE,
        commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP => REFUSED_MEMBERS,
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER => REFUSED_SUBSCRIBERS,
        commands::SNS_CALLBACK_PREV_FRIEND_ADD | commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE => {
            FRIEND_RESULTS
        }
        commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE => SIGNAL_DATA,
        _ => &[],
    })
}

impl Reply<Fields> {
    /// Checks this reply's fields against `command`'s documented reply, for a reply that no
    /// builder made (JSON from a remote service): every field one the command's reply takes
    /// (Chat ignores any other, so a misspelt rewrite would be lost without a word), each of
    /// the right shape (`MsgBody` a non-empty array of message elements whose documented
    /// types have content of their type, `CloudCustomData` and `RspData` strings, refused
    /// accounts arrays of strings, `ResultItem` an array of per-target results), and the
    /// fields the reply requires present (`ResultItem`, `RspData`). Codes are
    /// [`Reply::check`]'s. A command the table lacks has no documented fields to hold the
    /// reply to: [`ReplyError::UnknownCommand`].
    pub fn check_fields(&self, command: &str) -> Result<(), ReplyError> {
        let rules =
            reply_fields(command).ok_or_else(|| ReplyError::UnknownCommand(command.to_owned()))?;
        for (name, value) in &self.data {
            let Some(rule) = rules.iter().find(|rule| rule.name == name) else {
                return Err(ReplyError::FieldNotTaken {
                    command: command.to_owned(),
                    field: name.clone(),
                    takes: taken_fields(rules),
                });
            };
            check_shape(rule.shape, value).map_err(|problem| ReplyError::MalformedField {
                field: rule.name,
                problem,
            })?;
        }
        match rules
            .iter()
            .find(|rule| rule.required && !self.data.contains_key(rule.name))
        {
            Some(missing) => Err(ReplyError::MissingField {
                command: command.to_owned(),
                field: missing.name,
            }),
            None => Ok(()),
        }
    }
}

/// The fields of `rules`, in words.
fn taken_fields(rules: &[FieldRule]) -> String {
    if rules.is_empty() {
        return "no fields besides ActionStatus, ErrorCode and ErrorInfo".into();
    }
    let names: Vec<&str> = rules.iter().map(|rule| rule.name).collect();
    format!("only {}", names.join(" and "))
}

/// Whether `value` has `shape`; what is wrong with it if not.
fn check_shape(shape: Shape, value: &Value) -> Result<(), String> {
    match shape {
        Shape::Text if value.is_string() => Ok(()),
        Shape::Text => Err(format!("must be a string, not {}", json_type(value))),
        Shape::Accounts => match value.as_array() {
            Some(items) => match items.iter().position(|item| !item.is_string()) {
                Some(index) => Err(format!(
                    "must be an array of user ids: item {index} is {}, not a string",
                    json_type(&items[index])
                )),
                None => Ok(()),
            },
            None => Err(format!(
                "must be an array of user ids, not {}",
                json_type(value)
            )),
        },
        Shape::Messages => check_messages(value),
        Shape::ResultItems => check_result_item_shapes(value),
    }
}

/// `MsgBody` of a rewrite: the message's new elements, at least one, each
/// `{"MsgType": "...", "MsgContent": {...}}` and a documented type's content of that type.
/// An undocumented type (a merged message, a future one) passes with object content.
fn check_messages(value: &Value) -> Result<(), String> {
    let Some(elements) = value.as_array() else {
        return Err(format!(
            "must be an array of message elements, not {}",
            json_type(value)
        ));
    };
    if elements.is_empty() {
        return Err(
            "must hold at least one message element: a rewrite cannot empty the \
                    message (refuse it with an ErrorCode instead)"
                .into(),
        );
    }
    for (index, element) in elements.iter().enumerate() {
        check_element(element).map_err(|problem| format!("element {index} {problem}"))?;
    }
    Ok(())
}

fn check_element(element: &Value) -> Result<(), String> {
    let Some(object) = element.as_object() else {
        return Err(format!("is {}, not an object", json_type(element)));
    };
    if let Some(key) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "MsgType" | "MsgContent"))
    {
        return Err(format!(
            "has `{key}`: an element holds MsgType and MsgContent only"
        ));
    }
    let kind = match object.get("MsgType") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return Err(format!("has a MsgType that is {}", json_type(other))),
        None => return Err("has no MsgType".into()),
    };
    let content = match object.get("MsgContent") {
        Some(content @ Value::Object(_)) => content,
        Some(other) => {
            return Err(format!(
                "({kind}) has a MsgContent that is {}, not an object",
                json_type(other)
            ));
        }
        None => return Err(format!("({kind}) has no MsgContent")),
    };
    fn fits<'a, T: Deserialize<'a>>(content: &'a Value) -> Result<(), serde_json::Error> {
        T::deserialize(content).map(drop)
    }
    let fitted = match kind {
        "TIMTextElem" => fits::<TextElem>(content),
        "TIMLocationElem" => fits::<LocationElem>(content),
        "TIMFaceElem" => fits::<FaceElem>(content),
        "TIMCustomElem" => fits::<CustomElem>(content),
        "TIMSoundElem" => fits::<SoundElem>(content),
        "TIMImageElem" => fits::<ImageElem>(content),
        "TIMFileElem" => fits::<FileElem>(content),
        "TIMVideoFileElem" => fits::<VideoFileElem>(content),
        _ => Ok(()),
    };
    fitted.map_err(|error| format!("({kind}) has MsgContent that is not a {kind}'s: {error}"))
}

/// `ResultItem`: one object per target, with a string `To_Account`, an integer `ResultCode`
/// and, if given, a string `ResultInfo`. The codes themselves are [`Reply::check`]'s.
fn check_result_item_shapes(value: &Value) -> Result<(), String> {
    let Some(items) = value.as_array() else {
        return Err(format!(
            "must be an array of per-target results, not {}",
            json_type(value)
        ));
    };
    for (index, item) in items.iter().enumerate() {
        let Some(item) = item.as_object() else {
            return Err(format!(
                "item {index} is {}, not an object",
                json_type(&items[index])
            ));
        };
        if !item.get("To_Account").is_some_and(Value::is_string) {
            return Err(format!("item {index} has no string To_Account"));
        }
        if !item.get("ResultCode").is_some_and(|code| code.is_u64()) {
            return Err(format!(
                "item {index} has no ResultCode that is a whole number of 0 or more"
            ));
        }
        if item.get("ResultInfo").is_some_and(|info| !info.is_string()) {
            return Err(format!(
                "item {index} has a ResultInfo that is not a string"
            ));
        }
        if let Some(key) = item
            .keys()
            .find(|key| !matches!(key.as_str(), "To_Account" | "ResultCode" | "ResultInfo"))
        {
            return Err(format!(
                "item {index} has `{key}`: an item holds To_Account, ResultCode and ResultInfo only"
            ));
        }
    }
    Ok(())
}

/// The JSON type of `value`, in words.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Each item of a friend request's `ResultItem`: a target and a code 0 or in the range.
fn check_result_items(items: &Value) -> Result<(), ReplyError> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(rename = "To_Account")]
        to_account: String,
        #[serde(rename = "ResultCode")]
        result_code: u32,
    }
    let items = Vec::<Item>::deserialize(items)
        .map_err(|error| ReplyError::MalformedResultItem(error.to_string()))?;
    match items
        .into_iter()
        .find(|item| item.result_code != 0 && !FRIEND_RESULT_CODES.contains(item.result_code))
    {
        Some(bad) => Err(ReplyError::ResultCodeNotAllowed {
            to_account: bad.to_account,
            code: bad.result_code,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reply(value: Value) -> Reply<Fields> {
        serde_json::from_value(value).unwrap()
    }

    fn fields_error(command: &str, fields: Value) -> String {
        let mut packet = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
        packet
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        reply(packet)
            .check_fields(command)
            .expect_err("a malformed reply")
            .to_string()
    }

    #[cfg(feature = "samples")]
    #[test]
    fn every_documented_reply_has_fields_of_its_command() {
        for (command, body) in crate::samples::REPLIES {
            let sample: Reply<Fields> = serde_json::from_str(body).unwrap();
            sample
                .check_fields(command)
                .unwrap_or_else(|error| panic!("{command}: {error}"));
            sample
                .check(command)
                .unwrap_or_else(|error| panic!("{command}: {error}"));
        }
    }

    #[cfg(feature = "samples")]
    #[test]
    fn each_documented_field_belongs_to_its_own_command_only() {
        // Every field of every sample, moved onto every other deciding command, is refused
        // there unless that command's reply takes the same field.
        for (command, body) in crate::samples::REPLIES {
            let sample: Reply<Fields> = serde_json::from_str(body).unwrap();
            for (other, _) in crate::samples::REPLIES {
                let takes = reply_fields(other).unwrap();
                for (field, value) in sample.fields() {
                    let moved = Reply::unchecked(0, "").with_field(field.clone(), value.clone());
                    let result = moved.check_fields(other);
                    if takes.iter().any(|rule| rule.name == field) {
                        let required_missing = takes.iter().any(|r| r.required && r.name != field);
                        assert!(
                            result.is_ok() || required_missing,
                            "{command} {field} on {other}"
                        );
                    } else {
                        assert!(
                            matches!(result, Err(ReplyError::FieldNotTaken { .. })),
                            "{command} {field} on {other}: {result:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_builders_replies_pass() {
        let rewrite = super::super::MessageRewrite::new(
            Some(vec![crate::MsgElem::text("hi")]),
            Some("{}".into()),
        );
        let built: Reply<Fields> =
            Reply::rewrite(commands::GROUP_CALLBACK_BEFORE_SEND_MSG, rewrite)
                .unwrap()
                .into();
        built
            .check_fields(commands::GROUP_CALLBACK_BEFORE_SEND_MSG)
            .unwrap();
        let friends: Reply<Fields> = Reply::refuse_friends(
            commands::SNS_CALLBACK_PREV_FRIEND_ADD,
            ["a", "b"],
            38_001,
            "no",
        )
        .unwrap()
        .into();
        friends
            .check_fields(commands::SNS_CALLBACK_PREV_FRIEND_ADD)
            .unwrap();
        let fallback = super::super::fallback(
            commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE,
            true,
            br#"{"ResponseFriendItem":[{"To_Account":"x"}]}"#,
        );
        fallback
            .check_fields(commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE)
            .unwrap();
        let signal: Reply<Fields> = Reply::signal("x").into();
        signal
            .check_fields(commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE)
            .unwrap();
    }

    #[test]
    fn a_message_rewrite_must_hold_message_elements() {
        let send = commands::C2C_CALLBACK_BEFORE_SEND_MSG;
        let cases = [
            (
                json!({"MsgBody": "hello"}),
                "`MsgBody` must be an array of message elements, not a string",
            ),
            (
                json!({"MsgBody": []}),
                "`MsgBody` must hold at least one message element",
            ),
            (
                json!({"MsgBody": [7]}),
                "`MsgBody` element 0 is a number, not an object",
            ),
            (
                json!({"MsgBody": [{"MsgContent": {"Text": "x"}}]}),
                "`MsgBody` element 0 has no MsgType",
            ),
            (
                json!({"MsgBody": [{"MsgType": 1, "MsgContent": {}}]}),
                "`MsgBody` element 0 has a MsgType that is a number",
            ),
            (
                json!({"MsgBody": [{"MsgType": "TIMTextElem"}]}),
                "`MsgBody` element 0 (TIMTextElem) has no MsgContent",
            ),
            (
                json!({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": "x"}]}),
                "`MsgBody` element 0 (TIMTextElem) has a MsgContent that is a string",
            ),
            (
                json!({"MsgBody": [
                    {"MsgType": "TIMTextElem", "MsgContent": {"Text": "ok"}},
                    {"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}
                ]}),
                "`MsgBody` element 1 (TIMTextElem) has MsgContent that is not a TIMTextElem's",
            ),
            (
                json!({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}, "Extra": 1}]}),
                "`MsgBody` element 0 has `Extra`: an element holds MsgType and MsgContent only",
            ),
            (
                json!({"CloudCustomData": {"level": 3}}),
                "`CloudCustomData` must be a string, not an object",
            ),
            (
                json!({"MsgBdy": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}),
                "C2C.CallbackBeforeSendMsg's reply does not take `MsgBdy`: it takes only MsgBody and CloudCustomData",
            ),
        ];
        for (fields, expected) in cases {
            let error = fields_error(send, fields.clone());
            assert!(error.starts_with(expected), "{fields}: {error}");
        }
        // A type the documentation does not list passes with object content (merged
        // messages, future types), as the request model keeps it.
        let merged =
            json!({"MsgBody": [{"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t"}}]});
        let mut packet = json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""});
        packet
            .as_object_mut()
            .unwrap()
            .extend(merged.as_object().unwrap().clone());
        reply(packet).check_fields(send).unwrap();
    }

    #[test]
    fn refused_accounts_and_friend_results_have_their_shapes() {
        let invite = commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP;
        assert_eq!(
            fields_error(invite, json!({"RefusedMembers_Account": "jared"})),
            "`RefusedMembers_Account` must be an array of user ids, not a string"
        );
        assert_eq!(
            fields_error(invite, json!({"RefusedMembers_Account": ["a", 2]})),
            "`RefusedMembers_Account` must be an array of user ids: item 1 is a number, not a string"
        );
        let friend = commands::SNS_CALLBACK_PREV_FRIEND_ADD;
        let cases = [
            (
                json!({}),
                "Sns.CallbackPrevFriendAdd's reply requires `ResultItem`",
            ),
            (
                json!({"ResultItem": {"To_Account": "a"}}),
                "`ResultItem` must be an array of per-target results, not an object",
            ),
            (
                json!({"ResultItem": [{"ResultCode": 0}]}),
                "`ResultItem` item 0 has no string To_Account",
            ),
            (
                json!({"ResultItem": [{"To_Account": "a", "ResultCode": "0"}]}),
                "`ResultItem` item 0 has no ResultCode that is a whole number",
            ),
            (
                json!({"ResultItem": [{"To_Account": "a", "ResultCode": -1}]}),
                "`ResultItem` item 0 has no ResultCode that is a whole number",
            ),
            (
                json!({"ResultItem": [{"To_Account": "a", "ResultCode": 0, "ResultInfo": 1}]}),
                "`ResultItem` item 0 has a ResultInfo that is not a string",
            ),
        ];
        for (fields, expected) in cases {
            let error = fields_error(friend, fields.clone());
            assert!(error.starts_with(expected), "{fields}: {error}");
        }
        assert_eq!(
            fields_error(
                commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP,
                json!({"RefusedMembers_Account": []})
            ),
            "Group.CallbackBeforeCreateGroup's reply does not take `RefusedMembers_Account`: it \
             takes no fields besides ActionStatus, ErrorCode and ErrorInfo"
        );
    }

    #[test]
    fn a_command_the_table_lacks_has_no_fields_to_check() {
        assert!(matches!(
            Reply::default().check_fields("Foo.CallbackBeforeBar"),
            Err(ReplyError::UnknownCommand(_))
        ));
    }
}
