//! Typed request bodies: one model per catalogued command, and [`Request`] over all of them.
//!
//! Every model keeps fields it does not know in `extra` and writes fields back under the
//! key they came in, explicit `null`s included, each key once, so parse → serialize gives
//! the same JSON value (see `model.rs` for how). Fields the catalogue
//! marks optional, or that some documentation version omits, are `Option`s; `EventTime` is
//! optional everywhere because samples of the same command disagree on it.
//!
//! Where Tencent's pages spell one field two ways (`Member_Account`/`Modified_Account`,
//! `GroupId`/`groupID`, `GroupName`/`TagName`, `AtRobots_Account`/`AtRobotAccount`,
//! `CallMediaType`/`MediaType`), the model has one optional field per spelling, so the body
//! round-trips exactly and a body carrying both still parses, and an accessor
//! (`member()`, `group()`, `friend_group()`, `at_robots()`, `media_type()`) gives the value
//! whichever spelling was used.

use serde::Deserialize;
use serde_json::Value;

#[allow(unused_imports)] // The family modules take their field types from here.
use crate::enums::{
    AddType, ClientCmd, ContentScene, ContentType, ExitType, GroupAttrOption, GroupType, JoinType,
    MemberRole, MemberStateEvent, OptPlatform, ResponseAction, StateAction, StateReason,
    Suggestion,
};
#[allow(unused_imports)]
use crate::message::MsgBody;
#[allow(unused_imports)]
use crate::scalar::{
    Bool, EventTime, Int, ProfileValue, PushEventTime, TextOrNumber, UInt, UnreadMsgNum,
};
use crate::table::commands;

mod group;
mod kits;
mod people;
mod services;

pub use group::*;
pub use kits::*;
pub use people::*;
pub use services::*;

// ----- The enum over all commands -----

/// Why a body did not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The body is JSON but a field is missing or has the wrong shape.
    #[error("{command}: at `{path}`: {message}")]
    Field {
        /// The command being parsed.
        command: String,
        /// The path to the offending field, e.g. `GroupMsgReceiptList[0].MsgSeq` (`.` for the top).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The body's `CallbackCommand` is not the command it was parsed as (from the URL).
    #[error("parsed as {expected} but the body's CallbackCommand is {found:?}")]
    CommandMismatch {
        /// The command passed to [`Request::parse`].
        expected: String,
        /// The body's `CallbackCommand`.
        found: String,
    },
}

impl Error {
    /// The path of the offending field, for [`Error::Field`].
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Field { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Parses `body` as `T`, naming the failing field's path in the error.
fn decode<T: for<'de> Deserialize<'de>>(command: &str, raw: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(raw).map_err(|e| Error::Field {
        command: command.to_owned(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

macro_rules! requests {
    ($( $variant:ident($name:ident) => $ty:ty, )*) => {
        /// A parsed callback body, one variant per catalogued command.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        #[allow(clippy::large_enum_variant)] // Parsed once per request; boxing buys nothing here.
        pub enum Request {
            $(
                #[doc = concat!("The body of [`commands::", stringify!($name), "`].")]
                $variant($ty),
            )*
            /// A command not in the catalogue, kept as raw JSON.
            Unknown {
                /// The command name.
                command: String,
                /// The body.
                raw: Value,
            },
        }

        impl Request {
            /// Parses the body of `command` (the URL's `CallbackCommand`; Tencent sends it in
            /// the query string of every request, while the body lacks it for
            /// `ContentCallback.ResultNotify` and `Push.*`).
            ///
            /// An unknown command gives [`Request::Unknown`], never an error. A body whose own
            /// top-level `CallbackCommand` names another command is refused.
            pub fn parse(command: &str, body: &[u8]) -> Result<Self, Error> {
                let raw: Value = serde_json::from_slice(body).map_err(Error::Syntax)?;
                Self::from_value(command, raw)
            }

            /// Like [`Request::parse`], from an already parsed JSON value.
            pub fn from_value(command: &str, raw: Value) -> Result<Self, Error> {
                // A `null` command is no more this command than another name is: only an
                // absent one (the `Push.*` and `ContentCallback` bodies) skips the check.
                let found = match raw.get("CallbackCommand") {
                    Some(Value::String(found)) if found != command => Some(found.clone()),
                    Some(Value::Null) => Some("null".to_owned()),
                    _ => None,
                };
                if let Some(found) = found {
                    return Err(Error::CommandMismatch {
                        expected: command.to_owned(),
                        found,
                    });
                }
                Ok(match command {
                    $( commands::$name => Self::$variant(decode(command, raw)?), )*
                    _ => Self::Unknown { command: command.to_owned(), raw },
                })
            }

            /// The command this body belongs to.
            pub fn command(&self) -> &str {
                match self {
                    $( Self::$variant(_) => commands::$name, )*
                    Self::Unknown { command, .. } => command,
                }
            }

            /// The body as JSON again: the same value it was parsed from.
            pub fn to_value(&self) -> Value {
                let value = match self {
                    $( Self::$variant(model) => serde_json::to_value(model), )*
                    Self::Unknown { raw, .. } => return raw.clone(),
                };
                // Serializing these models cannot fail: keys are strings, no custom errors.
                value.unwrap_or(Value::Null)
            }
        }
    };
}

requests! {
    AlertRequestOverLimit(ALERT_REQUEST_OVER_LIMIT) => AlertRequestOverLimit,
    StateStateChange(STATE_STATE_CHANGE) => StateStateChange,
    ProfileCallbackPortraitSet(PROFILE_CALLBACK_PORTRAIT_SET) => ProfileCallbackPortraitSet,
    SnsCallbackPrevFriendAdd(SNS_CALLBACK_PREV_FRIEND_ADD) => SnsCallbackPrevFriendAdd,
    SnsCallbackPrevFriendResponse(SNS_CALLBACK_PREV_FRIEND_RESPONSE) => SnsCallbackPrevFriendResponse,
    SnsCallbackFriendAdd(SNS_CALLBACK_FRIEND_ADD) => SnsCallbackFriendAdd,
    SnsCallbackFriendDelete(SNS_CALLBACK_FRIEND_DELETE) => PairListEvent,
    SnsCallbackBlackListAdd(SNS_CALLBACK_BLACK_LIST_ADD) => PairListEvent,
    SnsCallbackBlackListDelete(SNS_CALLBACK_BLACK_LIST_DELETE) => PairListEvent,
    FollowCallbackAfterFollowAdd(FOLLOW_CALLBACK_AFTER_FOLLOW_ADD) => FollowCallbackAfterFollowAdd,
    FollowCallbackAfterFollowDelete(FOLLOW_CALLBACK_AFTER_FOLLOW_DELETE) => FollowCallbackAfterFollowDelete,
    C2cCallbackBeforeSendMsg(C2C_CALLBACK_BEFORE_SEND_MSG) => C2cCallbackBeforeSendMsg,
    C2cCallbackAfterSendMsg(C2C_CALLBACK_AFTER_SEND_MSG) => C2cCallbackAfterSendMsg,
    C2cCallbackAfterMsgReport(C2C_CALLBACK_AFTER_MSG_REPORT) => C2cCallbackAfterMsgReport,
    C2cCallbackAfterMsgWithDraw(C2C_CALLBACK_AFTER_MSG_WITH_DRAW) => C2cCallbackAfterMsgWithDraw,
    C2cCallbackAfterC2cMsgExtension(C2C_CALLBACK_AFTER_C2C_MSG_EXTENSION) => C2cCallbackAfterC2cMsgExtension,
    C2cCallbackAfterMsgReadAll(C2C_CALLBACK_AFTER_MSG_READ_ALL) => C2cCallbackAfterMsgReadAll,
    C2cCallbackAfterMsgReadReceipt(C2C_CALLBACK_AFTER_MSG_READ_RECEIPT) => C2cCallbackAfterMsgReadReceipt,
    C2cCallbackAfterModifyMsg(C2C_CALLBACK_AFTER_MODIFY_MSG) => C2cCallbackAfterModifyMsg,
    GroupCallbackBeforeCreateGroup(GROUP_CALLBACK_BEFORE_CREATE_GROUP) => GroupCallbackBeforeCreateGroup,
    GroupCallbackAfterCreateGroup(GROUP_CALLBACK_AFTER_CREATE_GROUP) => GroupCallbackAfterCreateGroup,
    GroupCallbackBeforeApplyJoinGroup(GROUP_CALLBACK_BEFORE_APPLY_JOIN_GROUP) => GroupCallbackBeforeApplyJoinGroup,
    GroupCallbackBeforeInviteJoinGroup(GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP) => GroupCallbackBeforeInviteJoinGroup,
    GroupCallbackAfterNewMemberJoin(GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN) => GroupCallbackAfterNewMemberJoin,
    GroupCallbackAfterMemberExit(GROUP_CALLBACK_AFTER_MEMBER_EXIT) => GroupCallbackAfterMemberExit,
    GroupCallbackBeforeSendMsg(GROUP_CALLBACK_BEFORE_SEND_MSG) => GroupCallbackBeforeSendMsg,
    GroupCallbackAfterSendMsg(GROUP_CALLBACK_AFTER_SEND_MSG) => GroupCallbackAfterSendMsg,
    GroupCallbackAfterGroupFull(GROUP_CALLBACK_AFTER_GROUP_FULL) => GroupCallbackAfterGroupFull,
    GroupCallbackAfterGroupDestroyed(GROUP_CALLBACK_AFTER_GROUP_DESTROYED) => GroupCallbackAfterGroupDestroyed,
    GroupCallbackAfterGroupInfoChanged(GROUP_CALLBACK_AFTER_GROUP_INFO_CHANGED) => GroupCallbackAfterGroupInfoChanged,
    GroupCallbackAfterRecallMsg(GROUP_CALLBACK_AFTER_RECALL_MSG) => GroupCallbackAfterRecallMsg,
    GroupCallbackOnMemberStateChange(GROUP_CALLBACK_ON_MEMBER_STATE_CHANGE) => GroupCallbackOnMemberStateChange,
    GroupCallbackSendMsgException(GROUP_CALLBACK_SEND_MSG_EXCEPTION) => GroupCallbackSendMsgException,
    GroupCallbackBeforeCreateTopic(GROUP_CALLBACK_BEFORE_CREATE_TOPIC) => GroupCallbackBeforeCreateTopic,
    GroupCallbackAfterCreateTopic(GROUP_CALLBACK_AFTER_CREATE_TOPIC) => GroupCallbackAfterCreateTopic,
    GroupCallbackAfterTopicDestroyed(GROUP_CALLBACK_AFTER_TOPIC_DESTROYED) => GroupCallbackAfterTopicDestroyed,
    GroupCallbackAfterTopicInfoChanged(GROUP_CALLBACK_AFTER_TOPIC_INFO_CHANGED) => GroupCallbackAfterTopicInfoChanged,
    GroupCallbackAfterMemberFieldChanged(GROUP_CALLBACK_AFTER_MEMBER_FIELD_CHANGED) => GroupCallbackAfterMemberFieldChanged,
    GroupCallbackAfterGroupAttrChanged(GROUP_CALLBACK_AFTER_GROUP_ATTR_CHANGED) => GroupCallbackAfterGroupAttrChanged,
    GroupCallbackAfterReadReceipt(GROUP_CALLBACK_AFTER_READ_RECEIPT) => GroupCallbackAfterReadReceipt,
    GroupCallbackAfterChangeGroupOwner(GROUP_CALLBACK_AFTER_CHANGE_GROUP_OWNER) => GroupCallbackAfterChangeGroupOwner,
    GroupCallbackOnDailyGroupQuotaAlarm(GROUP_CALLBACK_ON_DAILY_GROUP_QUOTA_ALARM) => GroupCallbackOnDailyGroupQuotaAlarm,
    GroupCallbackAfterGroupMsgExtension(GROUP_CALLBACK_AFTER_GROUP_MSG_EXTENSION) => GroupCallbackAfterGroupMsgExtension,
    BotOnC2cMessage(BOT_ON_C2C_MESSAGE) => BotOnC2cMessage,
    BotOnGroupMessage(BOT_ON_GROUP_MESSAGE) => BotOnGroupMessage,
    ChatbotOnC2cSignalMessage(CHATBOT_ON_C2C_SIGNAL_MESSAGE) => ChatbotOnC2cSignalMessage,
    ContentCallbackResultNotify(CONTENT_CALLBACK_RESULT_NOTIFY) => ContentCallbackResultNotify,
    PushOfflinePush(PUSH_OFFLINE_PUSH) => PushOfflinePush,
    PushAllMemberPush(PUSH_ALL_MEMBER_PUSH) => PushAllMemberPush,
    OfficialAccountCallbackBeforeCreateOfficialAccount(OFFICIAL_ACCOUNT_CALLBACK_BEFORE_CREATE_OFFICIAL_ACCOUNT) => OfficialAccountCallbackBeforeCreateOfficialAccount,
    OfficialAccountCallbackAfterCreateOfficialAccount(OFFICIAL_ACCOUNT_CALLBACK_AFTER_CREATE_OFFICIAL_ACCOUNT) => OfficialAccountCallbackAfterCreateOfficialAccount,
    OfficialAccountCallbackAfterOfficialAccountInfoChanged(OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_INFO_CHANGED) => OfficialAccountCallbackAfterOfficialAccountInfoChanged,
    OfficialAccountCallbackAfterOfficialAccountDestroyed(OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_DESTROYED) => OfficialAccountCallbackAfterOfficialAccountDestroyed,
    OfficialAccountCallbackBeforeAddSubscriber(OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER) => OfficialAccountSubscribers,
    OfficialAccountCallbackAfterAddSubscriber(OFFICIAL_ACCOUNT_CALLBACK_AFTER_ADD_SUBSCRIBER) => OfficialAccountSubscribers,
    OfficialAccountCallbackAfterOfficialAccountFull(OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_FULL) => OfficialAccountCallbackAfterOfficialAccountFull,
    OfficialAccountCallbackAfterDeleteSubscriber(OFFICIAL_ACCOUNT_CALLBACK_AFTER_DELETE_SUBSCRIBER) => OfficialAccountSubscribers,
    OfficialAccountCallbackBeforeSendMsg(OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG) => OfficialAccountCallbackBeforeSendMsg,
    OfficialAccountCallbackAfterSendMsg(OFFICIAL_ACCOUNT_CALLBACK_AFTER_SEND_MSG) => OfficialAccountCallbackAfterSendMsg,
    OfficialAccountCallbackAfterMsgWithDraw(OFFICIAL_ACCOUNT_CALLBACK_AFTER_MSG_WITH_DRAW) => OfficialAccountCallbackAfterMsgWithDraw,
    CallCallbackAfterStartCall(CALL_CALLBACK_AFTER_START_CALL) => CallCallbackAfterStartCall,
    CallCallbackAfterEndCall(CALL_CALLBACK_AFTER_END_CALL) => CallCallbackAfterEndCall,
    CallCallbackAfterMemberChanged(CALL_CALLBACK_AFTER_MEMBER_CHANGED) => CallCallbackAfterMemberChanged,
    RoomCallbackAfterCreateRoom(ROOM_CALLBACK_AFTER_CREATE_ROOM) => RoomCallbackAfterCreateRoom,
    RoomCallbackAfterDestroyRoom(ROOM_CALLBACK_AFTER_DESTROY_ROOM) => RoomCallbackAfterDestroyRoom,
    RoomCallbackAfterUpdateRoomInfo(ROOM_CALLBACK_AFTER_UPDATE_ROOM_INFO) => RoomCallbackAfterUpdateRoomInfo,
    RoomCallbackAfterMemberEnter(ROOM_CALLBACK_AFTER_MEMBER_ENTER) => RoomMembersChanged,
    RoomCallbackAfterMemberLeave(ROOM_CALLBACK_AFTER_MEMBER_LEAVE) => RoomMembersChanged,
    MicCallbackAfterSeatInfoChanged(MIC_CALLBACK_AFTER_SEAT_INFO_CHANGED) => MicCallbackAfterSeatInfoChanged,
    LiveCallbackAfterCreateRoom(LIVE_CALLBACK_AFTER_CREATE_ROOM) => LiveCallbackAfterCreateRoom,
    LiveCallbackAfterDestroyRoom(LIVE_CALLBACK_AFTER_DESTROY_ROOM) => LiveCallbackAfterDestroyRoom,
    LiveCallbackAfterUpdateRoomInfo(LIVE_CALLBACK_AFTER_UPDATE_ROOM_INFO) => LiveCallbackAfterUpdateRoomInfo,
    LiveCallbackAfterSetMetadata(LIVE_CALLBACK_AFTER_SET_METADATA) => LiveCallbackAfterSetMetadata,
    LiveCallbackAfterDelMetadata(LIVE_CALLBACK_AFTER_DEL_METADATA) => LiveCallbackAfterDelMetadata,
    LiveCallbackAfterCreateRoomReachingThreshold(LIVE_CALLBACK_AFTER_CREATE_ROOM_REACHING_THRESHOLD) => LiveCallbackAfterCreateRoomReachingThreshold,
    LiveCallbackAfterMemberStateChanged(LIVE_CALLBACK_AFTER_MEMBER_STATE_CHANGED) => LiveCallbackAfterMemberStateChanged,
    LiveCallbackAfterModifyAdmin(LIVE_CALLBACK_AFTER_MODIFY_ADMIN) => LiveCallbackAfterModifyAdmin,
    LiveCallbackAfterCreateBattle(LIVE_CALLBACK_AFTER_CREATE_BATTLE) => LiveCallbackAfterCreateBattle,
    LiveCallbackAfterStartBattle(LIVE_CALLBACK_AFTER_START_BATTLE) => LiveCallbackAfterStartBattle,
    LiveCallbackAfterEndBattle(LIVE_CALLBACK_AFTER_END_BATTLE) => LiveCallbackAfterEndBattle,
    LiveCallbackBeforeSendGift(LIVE_CALLBACK_BEFORE_SEND_GIFT) => LiveCallbackBeforeSendGift,
}
