//! Replies: what the receiver answers, for after-callbacks (`OK`/0/""), the before-callbacks'
//! decisions and rewrites, `Chatbot.OnC2CSignalMessage`'s `RspData`, and the receiver's own
//! `FAIL` packets.
//!
//! A reply is a [`Reply<T>`]: the status triple (`ActionStatus`, `ErrorCode`, `ErrorInfo`)
//! plus a payload `T`. Typed payloads ([`MessageRewrite`], [`RefusedMembers`],
//! [`FriendResults`], [`SignalData`], …) have a fixed set of keys, none of them the status
//! keys, and builders that check each decision code against the command's documentation
//! ([`crate::table::CommandInfo`]), returning [`ReplyError`] for a code Chat would misread.
//!
//! The erased form [`Reply<Fields>`] is what a framework passes around whatever the command:
//! every typed reply converts into it (`From`, infallible: each [`Payload`] serializes to an
//! object of its own keys; the JSON value is the same, though keys inside nested objects
//! then follow `serde_json::Map`'s order), and it can also be made unchecked ([`Reply::unchecked`]) for a
//! command the table lacks or for a framework that checks later with [`Reply::check`], the
//! same rule the builders apply. [`fallback`] and [`Reply::completed_for`] hold the wire
//! rules a receiver needs when no handler answered.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::table::{Kind, command_info, kind_of};

mod check;
mod payload;

pub use check::check_decision_code;
pub use payload::*;

/// The payload of an erased reply: any command-specific fields, in order.
pub type Fields = Map<String, Value>;

/// `ActionStatus`: whether the app handled the callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    /// Handled (the decision is in `ErrorCode`).
    #[default]
    #[serde(rename = "OK")]
    Ok,
    /// The app failed.
    #[serde(rename = "FAIL")]
    Fail,
}

/// Why a reply could not be built, or does not hold for its command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The command is not in the table.
    #[error("{0} is not a catalogued command")]
    UnknownCommand(String),
    /// The command's reply is ignored (an after-callback): it must be OK / 0 / "".
    #[error("{0} is an after-callback: its reply is always OK / 0 / \"\"")]
    NotADecision(String),
    /// The code is not one the command's documentation allows.
    #[error("ErrorCode {code} is not valid for {command}: use {allowed}")]
    CodeNotAllowed {
        /// The command.
        command: String,
        /// The rejected code.
        code: u32,
        /// The allowed codes, in words.
        allowed: String,
    },
    /// A top-level refusal for a command Chat decides per target: Chat reads a non-zero
    /// `ErrorCode` there as "the app failed" and lets the request through.
    #[error(
        "ErrorCode {code} is not a refusal Chat honours for {command}: it decides per target; \
         answer ErrorCode 0 with a ResultItem per target (Reply::friend_results)"
    )]
    PerTargetOnly {
        /// The command.
        command: String,
        /// The rejected top-level code.
        code: u32,
    },
    /// This payload does not belong to this command (e.g. `RefusedMembers_Account` on a send).
    #[error("{command} does not take {what}")]
    WrongCommand {
        /// The command.
        command: String,
        /// The payload.
        what: &'static str,
    },
    /// A per-target `ResultCode` outside 0 and [38000, 39000].
    #[error("ResultCode {code} for {to_account} is outside 0 and [38000, 39000]")]
    ResultCodeNotAllowed {
        /// The target.
        to_account: String,
        /// The rejected code.
        code: u32,
    },
    /// A `ResultItem` that is not a list of `{To_Account, ResultCode, ResultInfo}`.
    #[error("ResultItem is not a list of per-target results: {0}")]
    MalformedResultItem(String),
    /// A field the command's reply does not take (Chat would ignore it).
    #[error("{command}'s reply does not take `{field}`: it takes {takes}")]
    FieldNotTaken {
        /// The command.
        command: String,
        /// The field.
        field: String,
        /// The fields it takes, in words.
        takes: String,
    },
    /// A field the command's reply takes, in a shape Chat cannot read.
    #[error("`{field}` {problem}")]
    MalformedField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A field the command's reply requires is missing.
    #[error("{command}'s reply requires `{field}`")]
    MissingField {
        /// The command.
        command: String,
        /// The field.
        field: &'static str,
    },
}

/// A reply: the status triple and the command-specific payload `T`.
///
/// The fields are private so that every checked reply comes from a builder that checked its
/// code. `Deserialize` reads replies back (tests, proxies) without checking codes (use
/// [`Reply::check`] on the erased form for that), and refuses a key the payload type does not
/// keep, so nothing is dropped silently: read an unknown reply as `Reply<Fields>`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reply<T = NoData> {
    /// `ActionStatus`.
    #[serde(rename = "ActionStatus")]
    action_status: ActionStatus,
    /// `ErrorCode`: the decision (0 allow; 1 refuse; 2 discard silently; or a custom code).
    #[serde(rename = "ErrorCode")]
    error_code: u32,
    /// `ErrorInfo`: shown to the sender with a custom refusal code.
    #[serde(rename = "ErrorInfo")]
    error_info: String,
    /// The command-specific fields.
    #[serde(flatten)]
    data: T,
}

/// No payload: after-callbacks, plain allow/refuse decisions and `FAIL` packets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoData {}

mod sealed {
    /// Only this crate's payloads are [`super::Payload`]s.
    pub trait Sealed {}
}

/// A typed reply payload: a struct of named fields, none of them a status key, so it
/// serializes to an object and converts into [`Reply<Fields>`] without loss. Sealed: a
/// payload of your own is an erased reply's [`Reply::with_field`]s.
pub trait Payload: Serialize + sealed::Sealed {}

impl sealed::Sealed for NoData {}
impl Payload for NoData {}

impl Reply {
    /// `ErrorCode` that tells Chat to refuse the event (sender gets 20006 / 10016).
    pub const REJECT: u32 = 1;
    /// `ErrorCode` that makes Chat drop a message silently: the sender sees success.
    pub const DISCARD: u32 = 2;
    /// The keys every reply carries, set only by the constructors.
    pub const RESERVED_KEYS: [&'static str; 3] = ["ActionStatus", "ErrorCode", "ErrorInfo"];

    /// `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`: the answer to every after-callback
    /// and "allow" for every before-callback.
    pub fn ok() -> Self {
        Self::with(0, String::new(), NoData {})
    }

    /// A refusal or other decision `code` for `command`, checked against its documentation:
    /// 1 (refuse) for every before-callback, 2 (discard silently) where documented, or a
    /// code in the command's custom range (shown to the sender with `info`). An
    /// after-callback's only reply is [`Reply::ok`]: 0 with an empty `info`.
    pub fn decision(command: &str, code: u32, info: impl Into<String>) -> Result<Self, ReplyError> {
        let info = info.into();
        check::check_code(command, code, &info)?;
        Ok(Self::with(code, info, NoData {}))
    }

    /// A `FAIL` packet: the receiver could not process the callback (a refused Sign, a body
    /// it cannot read). `code` is the receiver's own (Tencent defines none), and `info` is
    /// shown to the caller, so it must say what was wrong without internal detail.
    pub fn fail(code: u32, info: impl Into<String>) -> Self {
        Self {
            action_status: ActionStatus::Fail,
            ..Self::with(code, info.into(), NoData {})
        }
    }
}

impl<T> Reply<T> {
    fn with(error_code: u32, error_info: String, data: T) -> Self {
        Self {
            action_status: ActionStatus::Ok,
            error_code,
            error_info,
            data,
        }
    }

    /// `ActionStatus`.
    pub fn action_status(&self) -> ActionStatus {
        self.action_status
    }

    /// `ErrorCode`: the decision.
    pub fn error_code(&self) -> u32 {
        self.error_code
    }

    /// `ErrorInfo`.
    pub fn error_info(&self) -> &str {
        &self.error_info
    }

    /// The command-specific payload.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The reply as JSON.
    pub fn to_json(&self) -> String
    where
        T: Serialize,
    {
        // Keys are strings and no field has a failing serializer.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<T: Payload> From<Reply<T>> for Reply<Fields> {
    fn from(reply: Reply<T>) -> Self {
        // A payload is a struct of named fields: always an object, never a status key.
        let fields = match serde_json::to_value(&reply.data) {
            Ok(Value::Object(fields)) => fields,
            _ => Fields::new(),
        };
        Reply {
            action_status: reply.action_status,
            error_code: reply.error_code,
            error_info: reply.error_info,
            data: fields,
        }
    }
}

impl<T: Payload> PartialEq<Reply<T>> for Reply<Fields> {
    /// Whether this is the packet `other` converts to.
    fn eq(&self, other: &Reply<T>) -> bool {
        self.action_status == other.action_status
            && self.error_code == other.error_code
            && self.error_info == other.error_info
            && serde_json::to_value(&other.data)
                .is_ok_and(|data| data.as_object() == Some(&self.data))
    }
}

impl Default for Reply<Fields> {
    /// [`Reply::ok`], erased; built directly, since every unrouted callback is answered with
    /// it and a conversion would serialize an empty payload first.
    fn default() -> Self {
        Self::with(0, String::new(), Fields::new())
    }
}

impl Reply<Fields> {
    /// A decision nobody has checked yet: for a command the table lacks (no documented codes
    /// to hold it to), or for a framework that checks every handler's reply with
    /// [`Reply::check`] before it goes out.
    pub fn unchecked(code: u32, info: impl Into<String>) -> Self {
        Self::with(code, info.into(), Fields::new())
    }

    /// Adds a command-specific field (`MsgBody`, `CloudCustomData`, `ResultItem`, ...).
    ///
    /// # Panics
    ///
    /// On one of [`Reply::RESERVED_KEYS`]: the packet would carry that key twice, and which
    /// one Chat reads is anybody's guess. The constructors set the code.
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        assert!(
            !Reply::RESERVED_KEYS.contains(&name.as_str()),
            "Reply::with_field({name:?}): {name} is set by the reply's constructor"
        );
        self.data.insert(name, value.into());
        self
    }

    /// The command-specific fields.
    pub fn fields(&self) -> &Fields {
        &self.data
    }

    /// Adds the fields `command`'s reply must always carry and this one lacks, whatever
    /// answered it: a reply-bearing command (`Chatbot.OnC2CSignalMessage`) requires `RspData`
    /// even when it fails.
    pub fn completed_for(mut self, command: &str) -> Self {
        if kind_of(command) == Kind::ReplyBearing && !self.data.contains_key("RspData") {
            self.data
                .insert("RspData".into(), Value::String(String::new()));
        }
        self
    }
}

impl<'de, T: DeserializeOwned + Serialize> Deserialize<'de> for Reply<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "ActionStatus")]
            action_status: ActionStatus,
            #[serde(rename = "ErrorCode")]
            error_code: u32,
            #[serde(rename = "ErrorInfo")]
            error_info: String,
            #[serde(flatten)]
            rest: Fields,
        }
        let wire = Wire::deserialize(deserializer)?;
        let data: T =
            serde_json::from_value(Value::Object(wire.rest.clone())).map_err(D::Error::custom)?;
        // What the payload type does not keep would vanish on the way back out.
        let kept = serde_json::to_value(&data).map_err(D::Error::custom)?;
        if let Some((key, _)) = wire
            .rest
            .iter()
            .find(|(key, value)| kept.get(key.as_str()) != Some(*value))
        {
            return Err(D::Error::custom(format_args!(
                "`{key}` is not kept by this reply type; read the reply as Reply<Fields>"
            )));
        }
        Ok(Self {
            action_status: wire.action_status,
            error_code: wire.error_code,
            error_info: wire.error_info,
            data,
        })
    }
}

/// Where a friend before-callback lists its targets, each with a `To_Account`.
fn friend_targets_key(command: &str) -> Option<&'static str> {
    match command {
        crate::commands::SNS_CALLBACK_PREV_FRIEND_ADD => Some("FriendItem"),
        crate::commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE => Some("ResponseFriendItem"),
        _ => None,
    }
}

/// The reply that carries out a before-callback's fallback decision (`deny` or allow) in a
/// form Chat honours for `command`: a top-level `ErrorCode` for most, but for the friend
/// requests a `ResultItem` per target of `body` (a top-level code there means only that the
/// app failed). `body` is read leniently, as the raw JSON it is: a fallback answers bodies
/// that did not parse too.
pub fn fallback(command: &str, deny: bool, body: &[u8]) -> Reply<Fields> {
    const INFO: &str = "refused: the app could not decide in time";
    let Some(key) = friend_targets_key(command) else {
        return if deny {
            Reply::unchecked(Reply::REJECT, INFO)
        } else {
            Reply::default()
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
    let refusal = command_info(command)
        .and_then(|known| known.result_codes)
        .map_or(Reply::REJECT, |range| range.start);
    let (code, info) = if deny { (refusal, INFO) } else { (0, "") };
    let items: Vec<Value> = targets
        .into_iter()
        .filter_map(|target| target.to_account)
        .map(|account| {
            serde_json::json!({ "To_Account": account, "ResultCode": code, "ResultInfo": info })
        })
        .collect();
    Reply::default().with_field("ResultItem", items)
}
