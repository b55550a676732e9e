//! The typed payloads of the replies a handler writes, each with the builder that checks it:
//! a message rewrite, refused invitees or subscribers, per-target friend decisions and the
//! chatbot's `RspData`.

use serde::{Deserialize, Serialize};

use super::{Payload, Reply, ReplyError, sealed};
use crate::message::MsgBody;
use crate::table::{CodeRange, commands};

/// The rewrite a send-message before-callback may return (`ErrorCode` must be 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl MessageRewrite {
    /// A rewrite of the message's elements, its custom data, or both (`None` leaves it).
    pub fn new(msg_body: Option<MsgBody>, cloud_custom_data: Option<String>) -> Self {
        Self {
            msg_body,
            cloud_custom_data,
        }
    }
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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

/// The documented per-target refusal codes of `Sns.CallbackPrev*` (the table's
/// `result_codes` of both commands).
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
#[non_exhaustive]
pub struct FriendResults {
    /// One item per target.
    #[serde(rename = "ResultItem")]
    pub items: Vec<ResultItem>,
}

impl Reply<FriendResults> {
    /// Refuses the request towards every one of `targets` with `code` in [38000, 39000]: the
    /// form Chat honours (a top-level refusal code is read as "the app failed" and the request
    /// goes through). `targets` are the request's (`SnsCallbackPrevFriendAdd::targets()`).
    pub fn refuse_friends<'a>(
        command: &str,
        targets: impl IntoIterator<Item = &'a str>,
        code: u32,
        info: &str,
    ) -> Result<Self, ReplyError> {
        let items = targets
            .into_iter()
            .map(|target| ResultItem::refuse(target, code, info))
            .collect::<Result<_, _>>()?;
        Self::friend_results(command, items)
    }

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
#[non_exhaustive]
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

impl sealed::Sealed for MessageRewrite {}
impl Payload for MessageRewrite {}
impl sealed::Sealed for RefusedMembers {}
impl Payload for RefusedMembers {}
impl sealed::Sealed for RefusedSubscribers {}
impl Payload for RefusedSubscribers {}
impl sealed::Sealed for FriendResults {}
impl Payload for FriendResults {}
impl sealed::Sealed for SignalData {}
impl Payload for SignalData {}
