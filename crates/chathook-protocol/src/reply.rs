//! Typed replies: what the receiver answers, for after-callbacks (`OK`/0/""), the
//! before-callbacks' decisions and rewrites, and `Chatbot.OnC2CSignalMessage`'s `RspData`.
//!
//! A reply is a [`Reply<T>`]: the status triple (`ActionStatus`, `ErrorCode`, `ErrorInfo`)
//! plus a fixed payload `T` whose keys can never be those three, so a reply cannot carry
//! them twice. Builders check each decision code against the command's documented codes
//! ([`crate::table::CommandInfo`]) and return [`ReplyError`] for a code Chat would misread.

use serde::{Deserialize, Serialize};

use crate::message::MsgBody;
use crate::table::{CodeRange, Kind, command_info, commands};

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

/// Why a reply could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

/// A reply: the status triple and the command-specific payload `T`.
///
/// The fields are private so that every reply comes from a builder that checked its code;
/// `Deserialize` is there to read replies back (tests, proxies), not to build them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// No payload: after-callbacks and plain allow/refuse decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoData {}

impl Reply {
    /// `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`: the answer to every after-callback
    /// and "allow" for every before-callback.
    pub fn ok() -> Self {
        Self::with(0, String::new(), NoData {})
    }

    /// A refusal or other decision `code` for `command`, checked against its documentation:
    /// 1 (refuse) for every before-callback, 2 (discard silently) where documented, or a
    /// code in the command's custom range (shown to the sender with `info`).
    pub fn decision(command: &str, code: u32, info: impl Into<String>) -> Result<Self, ReplyError> {
        check_code(command, code)?;
        Ok(Self::with(code, info.into(), NoData {}))
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

/// Checks that `code` is a decision `command`'s documentation allows.
fn check_code(command: &str, code: u32) -> Result<(), ReplyError> {
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
    check_decision_code(command, code)
}

/// Whether `code` is an `ErrorCode` the documentation of `command` gives a meaning to: 0
/// always; for a before-callback also 1 (refuse), 2 where silent discard is documented, and
/// the command's custom range. For a reply built some other way (a framework's own reply
/// type), so the same rule holds wherever a reply is made.
pub fn check_decision_code(command: &str, code: u32) -> Result<(), ReplyError> {
    let info =
        command_info(command).ok_or_else(|| ReplyError::UnknownCommand(command.to_owned()))?;
    if info.kind == Kind::After {
        return if code == 0 {
            Ok(())
        } else {
            Err(ReplyError::NotADecision(command.to_owned()))
        };
    }
    let range_ok = info.custom_codes.is_some_and(|range| range.contains(code));
    if code == 0 || code == 1 || (code == 2 && info.silent_discard) || range_ok {
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

/// The rewrite a send-message before-callback may return (`ErrorCode` must be 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageRewrite {
    /// `MsgBody`: replaces the message's elements.
    #[serde(rename = "MsgBody", default, skip_serializing_if = "Option::is_none")]
    pub msg_body: Option<MsgBody>,
    /// `CloudCustomData`: replaces the message's custom data.
    #[serde(
        rename = "CloudCustomData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_custom_data: Option<String>,
}

impl Reply<MessageRewrite> {
    /// Allows the message with `rewrite` applied, for `C2C.CallbackBeforeSendMsg`,
    /// `Group.CallbackBeforeSendMsg` or `OfficialAccount.CallbackBeforeSendMsg`.
    pub fn rewrite(command: &str, rewrite: MessageRewrite) -> Result<Self, ReplyError> {
        match command {
            commands::C2C_CALLBACK_BEFORE_SEND_MSG
            | commands::GROUP_CALLBACK_BEFORE_SEND_MSG
            | commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG => {
                Ok(Self::with(0, String::new(), rewrite))
            }
            _ => Err(ReplyError::WrongCommand {
                command: command.to_owned(),
                what: "a MsgBody/CloudCustomData rewrite",
            }),
        }
    }
}

/// `RefusedMembers_Account`: `Group.CallbackBeforeInviteJoinGroup` refuses only these invitees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedMembers {
    /// The refused user ids.
    #[serde(rename = "RefusedMembers_Account")]
    pub accounts: Vec<String>,
}

impl Reply<RefusedMembers> {
    /// Lets the invitation through except for `accounts` (`ErrorCode` 0).
    pub fn refuse_members(accounts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with(
            0,
            String::new(),
            RefusedMembers {
                accounts: accounts.into_iter().map(Into::into).collect(),
            },
        )
    }
}

/// `RefusedSubscribers_Account`: `OfficialAccount.CallbackBeforeAddSubscriber` refuses only these
/// users. The key is the one the page's sample and table print; its prose says
/// `RefusedMembers_Account`, and which one Chat reads is unconfirmed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedSubscribers {
    /// The refused user ids.
    #[serde(rename = "RefusedSubscribers_Account")]
    pub accounts: Vec<String>,
}

impl Reply<RefusedSubscribers> {
    /// Lets the subscription through except for `accounts` (`ErrorCode` 0).
    pub fn refuse_subscribers(accounts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with(
            0,
            String::new(),
            RefusedSubscribers {
                accounts: accounts.into_iter().map(Into::into).collect(),
            },
        )
    }
}

/// One per-target decision of a `Sns.CallbackPrev*` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultItem {
    /// The target user.
    #[serde(rename = "To_Account")]
    pub to_account: String,
    /// 0 allows this target; a code in [38000, 39000] refuses it.
    #[serde(rename = "ResultCode")]
    pub result_code: u32,
    /// Shown to the requester with a refusal.
    #[serde(rename = "ResultInfo")]
    pub result_info: String,
}

/// The documented per-target refusal codes of `Sns.CallbackPrev*`.
pub const FRIEND_RESULT_CODES: CodeRange = CodeRange {
    start: 38_000,
    end: 39_000,
};

impl ResultItem {
    /// Allows the request towards `to_account`.
    pub fn allow(to_account: impl Into<String>) -> Self {
        Self {
            to_account: to_account.into(),
            result_code: 0,
            result_info: String::new(),
        }
    }

    /// Refuses the request towards `to_account` with `code` in [38000, 39000].
    pub fn refuse(
        to_account: impl Into<String>,
        code: u32,
        info: impl Into<String>,
    ) -> Result<Self, ReplyError> {
        let to_account = to_account.into();
        if !FRIEND_RESULT_CODES.contains(code) {
            return Err(ReplyError::ResultCodeNotAllowed { to_account, code });
        }
        Ok(Self {
            to_account,
            result_code: code,
            result_info: info.into(),
        })
    }
}

/// `ResultItem`: the per-target decisions of `Sns.CallbackPrevFriendAdd` /
/// `Sns.CallbackPrevFriendResponse` (required in their replies).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendResults {
    /// One item per target.
    #[serde(rename = "ResultItem")]
    pub items: Vec<ResultItem>,
}

impl Reply<FriendResults> {
    /// The per-target decisions for a `Sns.CallbackPrev*` command. Items built by hand are
    /// checked too: each `ResultCode` must be 0 or in [38000, 39000].
    pub fn friend_results(command: &str, items: Vec<ResultItem>) -> Result<Self, ReplyError> {
        if command != commands::SNS_CALLBACK_PREV_FRIEND_ADD
            && command != commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE
        {
            return Err(ReplyError::WrongCommand {
                command: command.to_owned(),
                what: "ResultItem",
            });
        }
        if let Some(bad) = items
            .iter()
            .find(|i| i.result_code != 0 && !FRIEND_RESULT_CODES.contains(i.result_code))
        {
            return Err(ReplyError::ResultCodeNotAllowed {
                to_account: bad.to_account.clone(),
                code: bad.result_code,
            });
        }
        Ok(Self::with(0, String::new(), FriendResults { items }))
    }
}

/// `RspData`: the passthrough text `Chatbot.OnC2CSignalMessage`'s reply delivers to the bot
/// (required, even on failure).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalData {
    /// Usually JSON text inside the string.
    #[serde(rename = "RspData")]
    pub rsp_data: String,
}

impl Reply<SignalData> {
    /// Delivers `rsp_data` to the bot (`ErrorCode` 0).
    pub fn signal(rsp_data: impl Into<String>) -> Self {
        Self::with(
            0,
            String::new(),
            SignalData {
                rsp_data: rsp_data.into(),
            },
        )
    }

    /// Reports a failure (`ErrorCode` 1): Chat ignores `RspData`, which is sent empty.
    pub fn signal_failed(info: impl Into<String>) -> Self {
        Self::with(1, info.into(), SignalData::default())
    }
}
