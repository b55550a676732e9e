//! The `CallbackCommand` strings, exactly as Tencent sends them, usable in `const` contexts
//! (for example in `match` arms).

/// `Alert.RequestOverLimit`
pub const ALERT_REQUEST_OVER_LIMIT: &str = "Alert.RequestOverLimit";
/// `State.StateChange`
pub const STATE_STATE_CHANGE: &str = "State.StateChange";
/// `Profile.CallbackPortraitSet`
pub const PROFILE_CALLBACK_PORTRAIT_SET: &str = "Profile.CallbackPortraitSet";
/// `Sns.CallbackPrevFriendAdd`
pub const SNS_CALLBACK_PREV_FRIEND_ADD: &str = "Sns.CallbackPrevFriendAdd";
/// `Sns.CallbackPrevFriendResponse`
pub const SNS_CALLBACK_PREV_FRIEND_RESPONSE: &str = "Sns.CallbackPrevFriendResponse";
/// `Sns.CallbackFriendAdd`
pub const SNS_CALLBACK_FRIEND_ADD: &str = "Sns.CallbackFriendAdd";
/// `Sns.CallbackFriendDelete`
pub const SNS_CALLBACK_FRIEND_DELETE: &str = "Sns.CallbackFriendDelete";
/// `Sns.CallbackBlackListAdd`
pub const SNS_CALLBACK_BLACK_LIST_ADD: &str = "Sns.CallbackBlackListAdd";
/// `Sns.CallbackBlackListDelete`
pub const SNS_CALLBACK_BLACK_LIST_DELETE: &str = "Sns.CallbackBlackListDelete";
/// `Follow.CallbackAfterFollowAdd`
pub const FOLLOW_CALLBACK_AFTER_FOLLOW_ADD: &str = "Follow.CallbackAfterFollowAdd";
/// `Follow.CallbackAfterFollowDelete`
pub const FOLLOW_CALLBACK_AFTER_FOLLOW_DELETE: &str = "Follow.CallbackAfterFollowDelete";
/// `C2C.CallbackBeforeSendMsg`
pub const C2C_CALLBACK_BEFORE_SEND_MSG: &str = "C2C.CallbackBeforeSendMsg";
/// `C2C.CallbackAfterSendMsg`
pub const C2C_CALLBACK_AFTER_SEND_MSG: &str = "C2C.CallbackAfterSendMsg";
/// `C2C.CallbackAfterMsgReport`
pub const C2C_CALLBACK_AFTER_MSG_REPORT: &str = "C2C.CallbackAfterMsgReport";
/// `C2C.CallbackAfterMsgWithDraw`
pub const C2C_CALLBACK_AFTER_MSG_WITH_DRAW: &str = "C2C.CallbackAfterMsgWithDraw";
/// `C2C.CallbackAfterC2CMsgExtension`
pub const C2C_CALLBACK_AFTER_C2C_MSG_EXTENSION: &str = "C2C.CallbackAfterC2CMsgExtension";
/// `C2C.CallbackAfterMsgReadAll`
pub const C2C_CALLBACK_AFTER_MSG_READ_ALL: &str = "C2C.CallbackAfterMsgReadAll";
/// `C2C.CallbackAfterMsgReadReceipt`
pub const C2C_CALLBACK_AFTER_MSG_READ_RECEIPT: &str = "C2C.CallbackAfterMsgReadReceipt";
/// `C2C.CallbackAfterModifyMsg`
pub const C2C_CALLBACK_AFTER_MODIFY_MSG: &str = "C2C.CallbackAfterModifyMsg";
/// `Group.CallbackBeforeCreateGroup`
pub const GROUP_CALLBACK_BEFORE_CREATE_GROUP: &str = "Group.CallbackBeforeCreateGroup";
/// `Group.CallbackAfterCreateGroup`
pub const GROUP_CALLBACK_AFTER_CREATE_GROUP: &str = "Group.CallbackAfterCreateGroup";
/// `Group.CallbackBeforeApplyJoinGroup`
pub const GROUP_CALLBACK_BEFORE_APPLY_JOIN_GROUP: &str = "Group.CallbackBeforeApplyJoinGroup";
/// `Group.CallbackBeforeInviteJoinGroup`
pub const GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP: &str = "Group.CallbackBeforeInviteJoinGroup";
/// `Group.CallbackAfterNewMemberJoin`
pub const GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN: &str = "Group.CallbackAfterNewMemberJoin";
/// `Group.CallbackAfterMemberExit`
pub const GROUP_CALLBACK_AFTER_MEMBER_EXIT: &str = "Group.CallbackAfterMemberExit";
/// `Group.CallbackBeforeSendMsg`
pub const GROUP_CALLBACK_BEFORE_SEND_MSG: &str = "Group.CallbackBeforeSendMsg";
/// `Group.CallbackAfterSendMsg`
pub const GROUP_CALLBACK_AFTER_SEND_MSG: &str = "Group.CallbackAfterSendMsg";
/// `Group.CallbackAfterGroupFull`
pub const GROUP_CALLBACK_AFTER_GROUP_FULL: &str = "Group.CallbackAfterGroupFull";
/// `Group.CallbackAfterGroupDestroyed`
pub const GROUP_CALLBACK_AFTER_GROUP_DESTROYED: &str = "Group.CallbackAfterGroupDestroyed";
/// `Group.CallbackAfterGroupInfoChanged`
pub const GROUP_CALLBACK_AFTER_GROUP_INFO_CHANGED: &str = "Group.CallbackAfterGroupInfoChanged";
/// `Group.CallbackAfterRecallMsg`
pub const GROUP_CALLBACK_AFTER_RECALL_MSG: &str = "Group.CallbackAfterRecallMsg";
/// `Group.CallbackOnMemberStateChange`
pub const GROUP_CALLBACK_ON_MEMBER_STATE_CHANGE: &str = "Group.CallbackOnMemberStateChange";
/// `Group.CallbackSendMsgException`
pub const GROUP_CALLBACK_SEND_MSG_EXCEPTION: &str = "Group.CallbackSendMsgException";
/// `Group.CallbackBeforeCreateTopic`
pub const GROUP_CALLBACK_BEFORE_CREATE_TOPIC: &str = "Group.CallbackBeforeCreateTopic";
/// `Group.CallbackAfterCreateTopic`
pub const GROUP_CALLBACK_AFTER_CREATE_TOPIC: &str = "Group.CallbackAfterCreateTopic";
/// `Group.CallbackAfterTopicDestroyed`
pub const GROUP_CALLBACK_AFTER_TOPIC_DESTROYED: &str = "Group.CallbackAfterTopicDestroyed";
/// `Group.CallbackAfterTopicInfoChanged`
pub const GROUP_CALLBACK_AFTER_TOPIC_INFO_CHANGED: &str = "Group.CallbackAfterTopicInfoChanged";
/// `Group.CallbackAfterMemberFieldChanged`
pub const GROUP_CALLBACK_AFTER_MEMBER_FIELD_CHANGED: &str = "Group.CallbackAfterMemberFieldChanged";
/// `Group.CallbackAfterGroupAttrChanged`
pub const GROUP_CALLBACK_AFTER_GROUP_ATTR_CHANGED: &str = "Group.CallbackAfterGroupAttrChanged";
/// `Group.CallbackAfterReadReceipt`
pub const GROUP_CALLBACK_AFTER_READ_RECEIPT: &str = "Group.CallbackAfterReadReceipt";
/// `Group.CallbackAfterChangeGroupOwner`
pub const GROUP_CALLBACK_AFTER_CHANGE_GROUP_OWNER: &str = "Group.CallbackAfterChangeGroupOwner";
/// `Group.CallbackOnDailyGroupQuotaAlarm`
pub const GROUP_CALLBACK_ON_DAILY_GROUP_QUOTA_ALARM: &str = "Group.CallbackOnDailyGroupQuotaAlarm";
/// `Group.CallbackAfterGroupMsgExtension`
pub const GROUP_CALLBACK_AFTER_GROUP_MSG_EXTENSION: &str = "Group.CallbackAfterGroupMsgExtension";
/// `Bot.OnC2CMessage`
pub const BOT_ON_C2C_MESSAGE: &str = "Bot.OnC2CMessage";
/// `Bot.OnGroupMessage`
pub const BOT_ON_GROUP_MESSAGE: &str = "Bot.OnGroupMessage";
/// `Chatbot.OnC2CSignalMessage`
pub const CHATBOT_ON_C2C_SIGNAL_MESSAGE: &str = "Chatbot.OnC2CSignalMessage";
/// `ContentCallback.ResultNotify`
pub const CONTENT_CALLBACK_RESULT_NOTIFY: &str = "ContentCallback.ResultNotify";
/// `Push.OfflinePush`
pub const PUSH_OFFLINE_PUSH: &str = "Push.OfflinePush";
/// `Push.AllMemberPush`
pub const PUSH_ALL_MEMBER_PUSH: &str = "Push.AllMemberPush";
/// `OfficialAccount.CallbackBeforeCreateOfficialAccount`
pub const OFFICIAL_ACCOUNT_CALLBACK_BEFORE_CREATE_OFFICIAL_ACCOUNT: &str =
    "OfficialAccount.CallbackBeforeCreateOfficialAccount";
/// `OfficialAccount.CallbackAfterCreateOfficialAccount`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_CREATE_OFFICIAL_ACCOUNT: &str =
    "OfficialAccount.CallbackAfterCreateOfficialAccount";
/// `OfficialAccount.CallbackAfterOfficialAccountInfoChanged`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_INFO_CHANGED: &str =
    "OfficialAccount.CallbackAfterOfficialAccountInfoChanged";
/// `OfficialAccount.CallbackAfterOfficialAccountDestroyed`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_DESTROYED: &str =
    "OfficialAccount.CallbackAfterOfficialAccountDestroyed";
/// `OfficialAccount.CallbackBeforeAddSubscriber`
pub const OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER: &str =
    "OfficialAccount.CallbackBeforeAddSubscriber";
/// `OfficialAccount.CallbackAfterAddSubscriber`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_ADD_SUBSCRIBER: &str =
    "OfficialAccount.CallbackAfterAddSubscriber";
/// `OfficialAccount.CallbackAfterOfficialAccountFull`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_FULL: &str =
    "OfficialAccount.CallbackAfterOfficialAccountFull";
/// `OfficialAccount.CallbackAfterDeleteSubscriber`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_DELETE_SUBSCRIBER: &str =
    "OfficialAccount.CallbackAfterDeleteSubscriber";
/// `OfficialAccount.CallbackBeforeSendMsg`
pub const OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG: &str = "OfficialAccount.CallbackBeforeSendMsg";
/// `OfficialAccount.CallbackAfterSendMsg`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_SEND_MSG: &str = "OfficialAccount.CallbackAfterSendMsg";
/// `OfficialAccount.CallbackAfterMsgWithDraw`
pub const OFFICIAL_ACCOUNT_CALLBACK_AFTER_MSG_WITH_DRAW: &str =
    "OfficialAccount.CallbackAfterMsgWithDraw";
/// `Call.CallbackAfterStartCall`
pub const CALL_CALLBACK_AFTER_START_CALL: &str = "Call.CallbackAfterStartCall";
/// `Call.CallbackAfterEndCall`
pub const CALL_CALLBACK_AFTER_END_CALL: &str = "Call.CallbackAfterEndCall";
/// `Call.CallbackAfterMemberChanged`
pub const CALL_CALLBACK_AFTER_MEMBER_CHANGED: &str = "Call.CallbackAfterMemberChanged";
/// `Room.CallbackAfterCreateRoom`
pub const ROOM_CALLBACK_AFTER_CREATE_ROOM: &str = "Room.CallbackAfterCreateRoom";
/// `Room.CallbackAfterDestroyRoom`
pub const ROOM_CALLBACK_AFTER_DESTROY_ROOM: &str = "Room.CallbackAfterDestroyRoom";
/// `Room.CallbackAfterUpdateRoomInfo`
pub const ROOM_CALLBACK_AFTER_UPDATE_ROOM_INFO: &str = "Room.CallbackAfterUpdateRoomInfo";
/// `Room.CallbackAfterMemberEnter`
pub const ROOM_CALLBACK_AFTER_MEMBER_ENTER: &str = "Room.CallbackAfterMemberEnter";
/// `Room.CallbackAfterMemberLeave`
pub const ROOM_CALLBACK_AFTER_MEMBER_LEAVE: &str = "Room.CallbackAfterMemberLeave";
/// `Mic.CallbackAfterSeatInfoChanged`
pub const MIC_CALLBACK_AFTER_SEAT_INFO_CHANGED: &str = "Mic.CallbackAfterSeatInfoChanged";
/// `Live.CallbackAfterCreateRoom`
pub const LIVE_CALLBACK_AFTER_CREATE_ROOM: &str = "Live.CallbackAfterCreateRoom";
/// `Live.CallbackAfterDestroyRoom`
pub const LIVE_CALLBACK_AFTER_DESTROY_ROOM: &str = "Live.CallbackAfterDestroyRoom";
/// `Live.CallbackAfterUpdateRoomInfo`
pub const LIVE_CALLBACK_AFTER_UPDATE_ROOM_INFO: &str = "Live.CallbackAfterUpdateRoomInfo";
/// `Live.CallbackAfterSetMetadata`
pub const LIVE_CALLBACK_AFTER_SET_METADATA: &str = "Live.CallbackAfterSetMetadata";
/// `Live.CallbackAfterDelMetadata`
pub const LIVE_CALLBACK_AFTER_DEL_METADATA: &str = "Live.CallbackAfterDelMetadata";
/// `Live.CallbackAfterCreateRoomReachingThreshold`
pub const LIVE_CALLBACK_AFTER_CREATE_ROOM_REACHING_THRESHOLD: &str =
    "Live.CallbackAfterCreateRoomReachingThreshold";
/// `Live.CallbackAfterMemberStateChanged`
pub const LIVE_CALLBACK_AFTER_MEMBER_STATE_CHANGED: &str = "Live.CallbackAfterMemberStateChanged";
/// `Live.CallbackAfterModifyAdmin`
pub const LIVE_CALLBACK_AFTER_MODIFY_ADMIN: &str = "Live.CallbackAfterModifyAdmin";
/// `Live.CallbackAfterCreateBattle`
pub const LIVE_CALLBACK_AFTER_CREATE_BATTLE: &str = "Live.CallbackAfterCreateBattle";
/// `Live.CallbackAfterStartBattle`
pub const LIVE_CALLBACK_AFTER_START_BATTLE: &str = "Live.CallbackAfterStartBattle";
/// `Live.CallbackAfterEndBattle`
pub const LIVE_CALLBACK_AFTER_END_BATTLE: &str = "Live.CallbackAfterEndBattle";
/// `Live.CallbackBeforeSendGift`
pub const LIVE_CALLBACK_BEFORE_SEND_GIFT: &str = "Live.CallbackBeforeSendGift";
