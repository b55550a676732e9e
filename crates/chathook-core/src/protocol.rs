//! The wire protocol of Tencent Cloud Chat callbacks: the command table and the reply packet.
//!
//! Facts here come from `shared/protocol.md` (sections 2 and 4); where Tencent's pages disagree
//! that document says which one to trust.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every documented command, from `chathook-protocol`: the one table the routing table,
/// `chathook handlers`, the bundled samples and the command reference all come from.
pub use chathook_protocol::COMMANDS as KNOWN_COMMANDS;
/// One row of the command table.
pub use chathook_protocol::CommandInfo as KnownCommand;
/// Whether Chat waits for the app's decision, only tells it what happened, or uses data in the
/// reply: the kind of each command in `chathook-protocol`'s command table.
pub use chathook_protocol::Kind as CallbackKind;

/// The table row for `command`, if Tencent documents it.
pub fn known_command(command: &str) -> Option<&'static KnownCommand> {
    chathook_protocol::command_info(command)
}

/// The kind of `command`: from the command table, or for a command missing there, from its
/// name, so a command Tencent adds next year is still answered the right way.
pub use chathook_protocol::kind_of;

/// Where a friend before-callback lists its targets, each with a `To_Account`.
fn friend_targets_key(command: &str) -> Option<&'static str> {
    match command {
        "Sns.CallbackPrevFriendAdd" => Some("FriendItem"),
        "Sns.CallbackPrevFriendResponse" => Some("ResponseFriendItem"),
        _ => None,
    }
}

/// The reply that carries out a before-callback's fallback decision in a form Chat honours
/// for `command`: a top-level `ErrorCode` for most, but for the friend requests a `ResultItem`
/// per target of `body` (a top-level code there means only that the app failed).
pub fn fallback_reply(command: &str, deny: bool, body: &[u8]) -> Reply {
    const INFO: &str = "refused: the app could not decide in time";
    let Some(key) = friend_targets_key(command) else {
        return if deny {
            Reply::decision(Reply::REJECT, INFO)
        } else {
            Reply::ok()
        };
    };
    #[derive(Deserialize)]
    struct Target {
        #[serde(rename = "To_Account")]
        to_account: Option<Value>,
    }
    let targets: Vec<Target> = serde_json::from_slice::<Map<String, Value>>(body)
        .ok()
        .and_then(|mut body| body.remove(key))
        .and_then(|items| serde_json::from_value(items).ok())
        .unwrap_or_default();
    // Chat ignores a top-level code here and reads one per target, from the command's custom
    // range (38000-39000).
    let refusal = known_command(command)
        .and_then(|known| known.custom_codes)
        .map_or(Reply::REJECT, |range| i64::from(range.start));
    let (code, info) = if deny { (refusal, INFO) } else { (0, "") };
    let items: Vec<Value> = targets
        .into_iter()
        .filter_map(|target| target.to_account)
        .map(|account| {
            serde_json::json!({ "To_Account": account, "ResultCode": code, "ResultInfo": info })
        })
        .collect();
    Reply::ok().with_field("ResultItem", items)
}

/// `ActionStatus` of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionStatus {
    /// The callback was processed (a before-callback's decision is in `ErrorCode`).
    Ok,
    /// The callback could not be processed.
    Fail,
}

/// The JSON packet answering a callback: `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
/// plus, for before-callbacks, decision fields such as `MsgBody` or `RefusedMembers_Account`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reply {
    #[serde(rename = "ActionStatus")]
    action_status: ActionStatus,
    #[serde(rename = "ErrorCode")]
    error_code: i64,
    #[serde(rename = "ErrorInfo")]
    error_info: Cow<'static, str>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl Reply {
    /// `ErrorCode` that tells Chat to refuse the event (sender gets 20006 / 10016).
    pub const REJECT: i64 = 1;
    /// `ErrorCode` that makes Chat drop a message silently: the sender sees success.
    pub const DISCARD: i64 = 2;

    /// OK/0: the event goes on as normal.
    pub fn ok() -> Self {
        Self {
            action_status: ActionStatus::Ok,
            error_code: 0,
            error_info: Cow::Borrowed(""),
            fields: Map::new(),
        }
    }

    /// A before-callback decision with a non-zero `ErrorCode`. Tencent keeps `ActionStatus`
    /// `OK` for decisions; `code` is [`Reply::REJECT`], [`Reply::DISCARD`] or a custom code in
    /// the command's documented range (10100-10200 for groups, 120001-130000 for C2C).
    pub fn decision(code: i64, info: impl Into<Cow<'static, str>>) -> Self {
        Self {
            error_code: code,
            error_info: info.into(),
            ..Self::ok()
        }
    }

    /// A `FAIL` packet: the callback was not processed. `info` is shown to the caller, so it
    /// must say what was wrong without internal detail.
    pub fn fail(code: i64, info: impl Into<Cow<'static, str>>) -> Self {
        Self {
            action_status: ActionStatus::Fail,
            ..Self::decision(code, info)
        }
    }

    /// The keys every reply carries, set only by [`Reply::ok`], [`Reply::decision`] and
    /// [`Reply::fail`].
    pub const RESERVED_KEYS: [&'static str; 3] = ["ActionStatus", "ErrorCode", "ErrorInfo"];

    /// Adds a command-specific field (`MsgBody`, `CloudCustomData`, `ResultItem`, ...).
    ///
    /// # Panics
    ///
    /// On one of [`Reply::RESERVED_KEYS`]: the packet would carry that key twice, and which
    /// one Chat reads is anybody's guess. Use [`Reply::decision`] to set the code.
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        assert!(
            !Self::RESERVED_KEYS.contains(&name.as_str()),
            "Reply::with_field({name:?}): {name} is set by Reply::ok, decision or fail"
        );
        self.fields.insert(name, value.into());
        self
    }

    /// Adds the fields `command`'s reply must always carry and this one lacks, whatever
    /// answered it: a reply-bearing command (`Chatbot.OnC2CSignalMessage`) requires `RspData`
    /// even when it fails.
    pub fn completed_for(mut self, command: &str) -> Self {
        if kind_of(command) == CallbackKind::ReplyBearing && !self.fields.contains_key("RspData") {
            self.fields
                .insert("RspData".into(), Value::String(String::new()));
        }
        self
    }

    /// `ActionStatus`.
    pub fn action_status(&self) -> ActionStatus {
        self.action_status
    }

    /// `ErrorCode`.
    pub fn error_code(&self) -> i64 {
        self.error_code
    }

    /// `ErrorInfo`.
    pub fn error_info(&self) -> &str {
        &self.error_info
    }

    /// The command-specific fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "ErrorCode is set by Reply::ok, decision or fail")]
    fn a_reserved_key_cannot_be_added_twice() {
        let _ = Reply::ok().with_field("ErrorCode", 1);
    }

    #[test]
    fn replies_to_the_chatbot_signal_always_carry_rsp_data() {
        let chatbot = chathook_protocol::commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE;
        let reply = Reply::fail(50001, "handler failed").completed_for(chatbot);
        assert_eq!(reply.fields()["RspData"], "");
        let given = Reply::ok()
            .with_field("RspData", "{}")
            .completed_for(chatbot);
        assert_eq!(given.fields()["RspData"], "{}");
        assert!(
            Reply::ok()
                .completed_for("State.StateChange")
                .fields()
                .is_empty()
        );
    }

    #[test]
    fn ok_reply_is_tencents_exact_packet() {
        assert_eq!(
            serde_json::to_string(&Reply::ok()).unwrap(),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
        );
    }

    #[test]
    fn decision_fields_are_flattened_into_the_packet() {
        let reply = Reply::ok().with_field("RefusedMembers_Account", vec!["jared"]);
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["jared"]}"#
        );
        let fail = Reply::fail(40001, "SdkAppid is missing");
        assert_eq!(
            serde_json::to_string(&fail).unwrap(),
            r#"{"ActionStatus":"FAIL","ErrorCode":40001,"ErrorInfo":"SdkAppid is missing"}"#
        );
    }

    #[test]
    fn kinds_come_from_the_table_then_from_the_name() {
        assert_eq!(kind_of("Group.CallbackBeforeSendMsg"), CallbackKind::Before);
        assert_eq!(kind_of("Sns.CallbackPrevFriendAdd"), CallbackKind::Before);
        assert_eq!(
            kind_of("Group.CallbackAfterReadReceipt"),
            CallbackKind::After
        );
        assert_eq!(kind_of("Foo.CallbackBeforeBar"), CallbackKind::Before);
        assert_eq!(kind_of("Foo.Whatever"), CallbackKind::After);
        assert_eq!(
            kind_of("Chatbot.OnC2CSignalMessage"),
            CallbackKind::ReplyBearing
        );
    }
}
