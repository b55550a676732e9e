//! Models of the one-to-one side of Chat: alerts, login state, profiles, the relation chain
//! (friends, blocklist, follows) and C2C messages.

use super::*;

// ----- Shared items -----

model!(item
    /// `{"Member_Account": ...}` in member lists.
    Member { account: String = "Member_Account"; });
model!(item
/// A friend-relation pair (`PairList`).
AccountPair {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    ? /// The user who initiated the request (`Sns.CallbackFriendAdd`).
    initiator_account: String = "Initiator_Account";
});
model!(item
    /// A key/value pair (`UserDefinedDataList`).
    KeyValue { key: String = "Key"; value: String = "Value"; });
model!(item
    /// A message extension key/value with its sequence number.
    ExtensionItem { key: String = "Key"; value: String = "Value"; seq: UInt = "Seq"; });
model!(item
    /// `{"MsgSeq": ...}`.
    MsgSeqItem { msg_seq: UInt = "MsgSeq"; });
model!(item
    /// `{"MsgKey": ...}`.
    MsgKeyItem { msg_key: String = "MsgKey"; });

// ----- Alert, State, Profile -----

model!(body
/// `Alert.RequestOverLimit`: a REST API reached 80 % of its QPS limit.
AlertRequestOverLimit {
    service_name: String = "ServiceName";
    command: String = "Command";
    /// Current QPS.
    request: UInt = "Request";
    /// QPS threshold.
    limit: UInt = "Limit";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// `State.StateChange` `Info`.
    StateInfo { action: StateAction = "Action"; to_account: String = "To_Account"; reason: StateReason = "Reason"; });
model!(item
    /// A device kicked by a login.
    KickedDevice { platform: OptPlatform = "Platform"; });
model!(body
/// `State.StateChange`: login, logout, disconnect.
StateStateChange {
    info: StateInfo = "Info";
    ? kicked_device: Vec<KickedDevice> = "KickedDevice";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// One changed profile tag.
    ProfileItem { tag: String = "Tag"; value: ProfileValue = "Value"; });
model!(body
/// `Profile.CallbackPortraitSet`.
ProfileCallbackPortraitSet {
    operator_account: String = "Operator_Account";
    from_account: String = "From_Account";
    profile_item: Vec<ProfileItem> = "ProfileItem";
    ? event_time: EventTime = "EventTime";
});

// ----- Relation chain -----

model!(item
/// One target of a friend request. The friend group is `GroupName` here (`TagName` accepted).
FriendAddItem {
    to_account: String = "To_Account";
    ? remark: String = "Remark";
    ? group_name: String = "GroupName";
    ? /// The response page's spelling, in case Tencent sends it here too; see [`FriendAddItem::friend_group`].
    tag_name: String = "TagName";
    ? add_source: String = "AddSource";
    ? add_wording: String = "AddWording";
});
model!(body
/// `Sns.CallbackPrevFriendAdd` (before): decide per target with a `ResultItem` reply.
SnsCallbackPrevFriendAdd {
    requester_account: String = "Requester_Account";
    from_account: String = "From_Account";
    friend_item: Vec<FriendAddItem> = "FriendItem";
    ? add_type: AddType = "AddType";
    ? /// 1 forced add, 0 normal.
    force_add_flags: UInt = "ForceAddFlags";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// One answered friend request. The friend group is `TagName` here (`GroupName` accepted).
FriendResponseItem {
    to_account: String = "To_Account";
    response_action: ResponseAction = "ResponseAction";
    ? remark: String = "Remark";
    ? tag_name: String = "TagName";
    ? /// The add page's spelling, in case Tencent sends it here too; see [`FriendResponseItem::friend_group`].
    group_name: String = "GroupName";
});
model!(body
/// `Sns.CallbackPrevFriendResponse` (before).
SnsCallbackPrevFriendResponse {
    requester_account: String = "Requester_Account";
    from_account: String = "From_Account";
    response_friend_item: Vec<FriendResponseItem> = "ResponseFriendItem";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Sns.CallbackFriendAdd`.
SnsCallbackFriendAdd {
    pair_list: Vec<AccountPair> = "PairList";
    client_cmd: ClientCmd = "ClientCmd";
    ? /// `""` unless added through REST.
    admin_account: String = "Admin_Account";
    ? force_flag: UInt = "ForceFlag";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Sns.CallbackFriendDelete`, `Sns.CallbackBlackListAdd`, `Sns.CallbackBlackListDelete`.
PairListEvent {
    pair_list: Vec<AccountPair> = "PairList";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// `{"To_Account": ...}` in `FollowList`.
    FollowTarget { to_account: String = "To_Account"; });
model!(body
/// `Follow.CallbackAfterFollowAdd`.
FollowCallbackAfterFollowAdd {
    from_account: String = "From_Account";
    follow_list: Vec<FollowTarget> = "FollowList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Follow.CallbackAfterFollowDelete`: `To_Account` is a string **array** here.
FollowCallbackAfterFollowDelete {
    from_account: String = "From_Account";
    to_account: Vec<String> = "To_Account";
    ? event_time: EventTime = "EventTime";
});

// ----- C2C -----

model!(body
/// `C2C.CallbackBeforeSendMsg` (before, 2 s timeout).
C2cCallbackBeforeSendMsg {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_seq: UInt = "MsgSeq";
    msg_random: UInt = "MsgRandom";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? msg_key: String = "MsgKey";
    ? msg_id: String = "MsgId";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `C2C.CallbackAfterSendMsg`; also fires for failed deliveries (`SendMsgResult` ≠ 0,
/// `UnreadMsgNum` -1).
C2cCallbackAfterSendMsg {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_seq: UInt = "MsgSeq";
    msg_random: UInt = "MsgRandom";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? msg_key: String = "MsgKey";
    ? msg_id: String = "MsgId";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? send_msg_result: Int = "SendMsgResult";
    ? error_info: String = "ErrorInfo";
    ? unread_msg_num: UnreadMsgNum = "UnreadMsgNum";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `C2C.CallbackAfterMsgReport`: a read report.
C2cCallbackAfterMsgReport {
    report_account: String = "Report_Account";
    peer_account: String = "Peer_Account";
    /// Unix seconds.
    last_read_time: UInt = "LastReadTime";
    ? unread_msg_num: UnreadMsgNum = "UnreadMsgNum";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `C2C.CallbackAfterMsgWithDraw` (capital D).
C2cCallbackAfterMsgWithDraw {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_key: String = "MsgKey";
    ? unread_msg_num: UnreadMsgNum = "UnreadMsgNum";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `C2C.CallbackAfterC2CMsgExtension`.
C2cCallbackAfterC2cMsgExtension {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_key: String = "MsgKey";
    /// 1 set, 2 delete, 3 clear.
    operate_type: UInt = "OperateType";
    extension_list: Vec<ExtensionItem> = "ExtensionList";
    seq: UInt = "Seq";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// One group cleared by "mark all read".
    GroupReadInfo { group_id: String = "GroupId"; msg_seq: UInt = "MsgSeq"; });
model!(body
/// `C2C.CallbackAfterMsgReadAll`.
C2cCallbackAfterMsgReadAll {
    report_account: String = "Report_Account";
    ? group_read_info: Vec<GroupReadInfo> = "GroupReadInfo";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// One message acknowledged by a C2C read receipt.
C2cMsgInfo {
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_key: String = "MsgKey";
    ? msg_id: String = "MsgId";
});
model!(body
/// `C2C.CallbackAfterMsgReadReceipt`.
C2cCallbackAfterMsgReadReceipt {
    operator_account: String = "Operator_Account";
    peer_account: String = "Peer_Account";
    c2c_msg_info: Vec<C2cMsgInfo> = "C2CMsgInfo";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `C2C.CallbackAfterModifyMsg`: a C2C message was edited.
C2cCallbackAfterModifyMsg {
    operator_account: String = "Operator_Account";
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    msg_seq: UInt = "MsgSeq";
    msg_random: UInt = "MsgRandom";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_key: String = "MsgKey";
    msg_body: MsgBody = "MsgBody";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});

// ----- One value, two spellings -----

impl FriendAddItem {
    /// The friend group, spelled `GroupName` (documented here) or `TagName`.
    pub fn friend_group(&self) -> Option<&str> {
        self.group_name.as_deref().or(self.tag_name.as_deref())
    }
}

impl FriendResponseItem {
    /// The friend group, spelled `TagName` (documented here) or `GroupName`.
    pub fn friend_group(&self) -> Option<&str> {
        self.tag_name.as_deref().or(self.group_name.as_deref())
    }
}

// ----- Targets of a friend request -----

impl SnsCallbackPrevFriendAdd {
    /// The users the request is towards, one per `FriendItem`: what a per-target reply
    /// (`Reply::refuse_friends`) answers.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.friend_item.iter().map(|item| item.to_account.as_str())
    }
}

impl SnsCallbackPrevFriendResponse {
    /// The requesters answered, one per `ResponseFriendItem`: what a per-target reply
    /// (`Reply::refuse_friends`) answers.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.response_friend_item
            .iter()
            .map(|item| item.to_account.as_str())
    }
}
