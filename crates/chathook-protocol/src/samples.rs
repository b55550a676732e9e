//! The catalogue's sample bodies, owned by the crate: one request per Chat command and one
//! documented reply per before-callback (and `Chatbot.OnC2CSignalMessage`).
//!
//! They are Tencent's documentation samples with comments removed and missing commas
//! restored (see the catalogue's fixture notes). CallKit, RoomKit and TUILiveKit commands have
//! none, except TUILiveKit's one before-callback, `Live.CallbackBeforeSendGift` (647/72210).

macro_rules! samples {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[ $( ($name, include_str!(concat!("../samples/", $dir, "/", $name, ".json"))), )* ]
    };
}

/// Every request sample: (command, body).
pub const REQUESTS: &[(&str, &str)] = samples!("requests":
    "Alert.RequestOverLimit",
    "Bot.OnC2CMessage",
    "Bot.OnGroupMessage",
    "C2C.CallbackAfterC2CMsgExtension",
    "C2C.CallbackAfterModifyMsg",
    "C2C.CallbackAfterMsgReadAll",
    "C2C.CallbackAfterMsgReadReceipt",
    "C2C.CallbackAfterMsgReport",
    "C2C.CallbackAfterMsgWithDraw",
    "C2C.CallbackAfterSendMsg",
    "C2C.CallbackBeforeSendMsg",
    "Chatbot.OnC2CSignalMessage",
    "ContentCallback.ResultNotify",
    "Follow.CallbackAfterFollowAdd",
    "Follow.CallbackAfterFollowDelete",
    "Group.CallbackAfterChangeGroupOwner",
    "Group.CallbackAfterCreateGroup",
    "Group.CallbackAfterCreateTopic",
    "Group.CallbackAfterGroupAttrChanged",
    "Group.CallbackAfterGroupDestroyed",
    "Group.CallbackAfterGroupFull",
    "Group.CallbackAfterGroupInfoChanged",
    "Group.CallbackAfterGroupMsgExtension",
    "Group.CallbackAfterMemberExit",
    "Group.CallbackAfterMemberFieldChanged",
    "Group.CallbackAfterNewMemberJoin",
    "Group.CallbackAfterReadReceipt",
    "Group.CallbackAfterRecallMsg",
    "Group.CallbackAfterSendMsg",
    "Group.CallbackAfterTopicDestroyed",
    "Group.CallbackAfterTopicInfoChanged",
    "Group.CallbackBeforeApplyJoinGroup",
    "Group.CallbackBeforeCreateGroup",
    "Group.CallbackBeforeCreateTopic",
    "Group.CallbackBeforeInviteJoinGroup",
    "Group.CallbackBeforeSendMsg",
    "Group.CallbackOnDailyGroupQuotaAlarm",
    "Group.CallbackOnMemberStateChange",
    "Group.CallbackSendMsgException",
    "Live.CallbackBeforeSendGift",
    "OfficialAccount.CallbackAfterAddSubscriber",
    "OfficialAccount.CallbackAfterCreateOfficialAccount",
    "OfficialAccount.CallbackAfterDeleteSubscriber",
    "OfficialAccount.CallbackAfterMsgWithDraw",
    "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
    "OfficialAccount.CallbackAfterOfficialAccountFull",
    "OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
    "OfficialAccount.CallbackAfterSendMsg",
    "OfficialAccount.CallbackBeforeAddSubscriber",
    "OfficialAccount.CallbackBeforeCreateOfficialAccount",
    "OfficialAccount.CallbackBeforeSendMsg",
    "Profile.CallbackPortraitSet",
    "Push.AllMemberPush",
    "Push.OfflinePush",
    "Sns.CallbackBlackListAdd",
    "Sns.CallbackBlackListDelete",
    "Sns.CallbackFriendAdd",
    "Sns.CallbackFriendDelete",
    "Sns.CallbackPrevFriendAdd",
    "Sns.CallbackPrevFriendResponse",
    "State.StateChange",
);

/// Every reply sample: (command, body).
pub const REPLIES: &[(&str, &str)] = samples!("replies":
    "C2C.CallbackBeforeSendMsg",
    "Chatbot.OnC2CSignalMessage",
    "Group.CallbackBeforeApplyJoinGroup",
    "Group.CallbackBeforeCreateGroup",
    "Group.CallbackBeforeCreateTopic",
    "Group.CallbackBeforeInviteJoinGroup",
    "Group.CallbackBeforeSendMsg",
    "Live.CallbackBeforeSendGift",
    "OfficialAccount.CallbackBeforeAddSubscriber",
    "OfficialAccount.CallbackBeforeCreateOfficialAccount",
    "OfficialAccount.CallbackBeforeSendMsg",
    "Sns.CallbackPrevFriendAdd",
    "Sns.CallbackPrevFriendResponse",
);

/// The sample request body of `command`.
pub fn request_sample(command: &str) -> Option<&'static str> {
    REQUESTS
        .iter()
        .find(|(name, _)| *name == command)
        .map(|(_, body)| *body)
}

/// The documented sample reply of `command`.
pub fn reply_sample(command: &str) -> Option<&'static str> {
    REPLIES
        .iter()
        .find(|(name, _)| *name == command)
        .map(|(_, body)| *body)
}
