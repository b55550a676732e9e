//! Typed request bodies: one model per catalogued command, and [`Request`] over all of them.
//!
//! Every model keeps fields it does not know in `extra` and writes fields back under the
//! key they came in, so parse → serialize gives the same JSON value. Fields the catalogue
//! marks optional, or that some documentation version omits, are `Option`s; `EventTime` is
//! optional everywhere because samples of the same command disagree on it.
//!
//! Where Tencent's pages spell one field two ways (`Member_Account`/`Modified_Account`,
//! `GroupId`/`groupID`, `GroupName`/`TagName`, `AtRobots_Account`/`AtRobotAccount`,
//! `CallMediaType`/`MediaType`), the model has one optional field per spelling, so the body
//! round-trips exactly and a body carrying both still parses, and an accessor
//! (`member()`, `group()`, `friend_group()`, `at_robots()`, `media_type()`) gives the value
//! whichever spelling was used.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::enums::{
    AddType, ClientCmd, ContentScene, ContentType, ExitType, GroupAttrOption, GroupType, JoinType,
    MemberRole, MemberStateEvent, OptPlatform, ResponseAction, StateAction, StateReason,
    Suggestion,
};
use crate::message::MsgBody;
use crate::scalar::{
    Bool, EventTime, Int, ProfileValue, PushEventTime, TextOrNumber, UInt, UnreadMsgNum,
};
use crate::table::commands;

/// Declares a wire model. `body` models also carry the optional top-level `CallbackCommand`;
/// `item` models are nested objects. Fields after `?` are optional. Every model keeps
/// unknown keys in `extra`.
macro_rules! model {
    (body $(#[$doc:meta])* $name:ident { $($rest:tt)* }) => {
        model!(@struct [
            /// Wire key `CallbackCommand` (absent in `ContentCallback.ResultNotify` and `Push.*` envelopes).
            #[serde(rename = "CallbackCommand", default, skip_serializing_if = "Option::is_none")]
            pub callback_command: Option<String>,
        ] $(#[$doc])* $name { $($rest)* });
    };
    (item $(#[$doc:meta])* $name:ident { $($rest:tt)* }) => {
        model!(@struct [] $(#[$doc])* $name { $($rest)* });
    };
    (@struct [$($pre:tt)*] $(#[$doc:meta])* $name:ident {
        $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $key:tt ; )*
        $( ? $(#[$odoc:meta])* $ofield:ident : $oty:ty = $okey:tt ; )*
    }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($pre)*
            $(
                $(#[$fdoc])*
                #[doc = concat!("Wire key `", $key, "`.")]
                #[serde(rename = $key)]
                pub $field: $ty,
            )*
            $(
                $(#[$odoc])*
                #[doc = concat!("Wire key `", $okey, "` (optional).")]
                #[serde(rename = $okey, default, skip_serializing_if = "Option::is_none")]
                pub $ofield: Option<$oty>,
            )*
            /// Fields this crate does not model, kept so that nothing is lost.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

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

// ----- Group -----

model!(body
/// `Group.CallbackBeforeCreateGroup` (before).
GroupCallbackBeforeCreateGroup {
    operator_account: String = "Operator_Account";
    owner_account: String = "Owner_Account";
    group_type: GroupType = "Type";
    name: String = "Name";
    ? create_group_num: UInt = "CreateGroupNum";
    ? member_list: Vec<Member> = "MemberList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterCreateGroup`. The English table says `groupID`, the sample `GroupId`.
GroupCallbackAfterCreateGroup {
    operator_account: String = "Operator_Account";
    owner_account: String = "Owner_Account";
    group_type: GroupType = "Type";
    name: String = "Name";
    ? /// The sample's spelling; see [`GroupCallbackAfterCreateGroup::group()`].
    group_id: String = "GroupId";
    ? /// The English field table's spelling.
    group_id_lower: String = "groupID";
    ? introduction: String = "Introduction";
    ? notification: String = "Notification";
    ? member_list: Vec<Member> = "MemberList";
    ? user_defined_data_list: Vec<KeyValue> = "UserDefinedDataList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackBeforeApplyJoinGroup` (before).
GroupCallbackBeforeApplyJoinGroup {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    requestor_account: String = "Requestor_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackBeforeInviteJoinGroup` (before; the reply may refuse some invitees).
GroupCallbackBeforeInviteJoinGroup {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    destination_members: Vec<Member> = "DestinationMembers";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterNewMemberJoin`.
GroupCallbackAfterNewMemberJoin {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    join_type: JoinType = "JoinType";
    operator_account: String = "Operator_Account";
    new_member_list: Vec<Member> = "NewMemberList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterMemberExit`.
GroupCallbackAfterMemberExit {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    exit_type: ExitType = "ExitType";
    operator_account: String = "Operator_Account";
    exit_member_list: Vec<Member> = "ExitMemberList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackBeforeSendMsg` (before, 2 s timeout).
GroupCallbackBeforeSendMsg {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    from_account: String = "From_Account";
    random: UInt = "Random";
    msg_body: MsgBody = "MsgBody";
    ? operator_account: String = "Operator_Account";
    ? msg_id: String = "MsgId";
    ? /// 0 for AVChatRoom.
    online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? /// Topic communities only.
    topic_id: String = "TopicId";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// An @-mention in a group message.
GroupAtInfo {
    /// 1 for @all.
    group_at_all_flag: UInt = "GroupAtAllFlag";
    ? group_at_account: String = "GroupAt_Account";
});
model!(body
/// `Group.CallbackAfterSendMsg`.
GroupCallbackAfterSendMsg {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    from_account: String = "From_Account";
    random: UInt = "Random";
    msg_seq: UInt = "MsgSeq";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? operator_account: String = "Operator_Account";
    ? msg_id: String = "MsgId";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? topic_id: String = "TopicId";
    ? group_at_info: Vec<GroupAtInfo> = "GroupAtInfo";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterGroupFull`.
GroupCallbackAfterGroupFull {
    group_id: String = "GroupId";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterGroupDestroyed` (`MemberList` absent for Community).
GroupCallbackAfterGroupDestroyed {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    owner_account: String = "Owner_Account";
    ? name: String = "Name";
    ? member_list: Vec<Member> = "MemberList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterGroupInfoChanged`: only the changed keys are present.
GroupCallbackAfterGroupInfoChanged {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    ? name: String = "Name";
    ? introduction: String = "Introduction";
    ? notification: String = "Notification";
    ? face_url: String = "FaceUrl";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterRecallMsg`.
GroupCallbackAfterRecallMsg {
    operator_account: String = "Operator_Account";
    group_type: GroupType = "Type";
    group_id: String = "GroupId";
    msg_seq_list: Vec<MsgSeqItem> = "MsgSeqList";
    ? topic_id: String = "TopicId";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackOnMemberStateChange` (AVChatRoom only).
GroupCallbackOnMemberStateChange {
    group_id: String = "GroupId";
    event_type: MemberStateEvent = "EventType";
    member_list: Vec<Member> = "MemberList";
    ? event_cause: String = "EventCause";
    ? /// the Java server SDK only.
    group_type: GroupType = "Type";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackSendMsgException`: the body's `ErrorCode`/`ErrorInfo` describe the failed
/// message, not a reply.
GroupCallbackSendMsgException {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    from_account: String = "From_Account";
    random: UInt = "Random";
    msg_body: MsgBody = "MsgBody";
    error_code: Int = "ErrorCode";
    error_info: String = "ErrorInfo";
    ? operator_account: String = "Operator_Account";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackBeforeCreateTopic` (before; no `GroupId` documented).
GroupCallbackBeforeCreateTopic {
    operator_account: String = "Operator_Account";
    group_type: GroupType = "Type";
    name: String = "Name";
    ? group_id: String = "GroupId";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterCreateTopic`.
GroupCallbackAfterCreateTopic {
    group_id: String = "GroupId";
    topic_id: String = "TopicId";
    operator_account: String = "Operator_Account";
    owner_account: String = "Owner_Account";
    group_type: GroupType = "Type";
    name: String = "Name";
    ? user_defined_data_list: Vec<KeyValue> = "UserDefinedDataList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterTopicDestroyed` (`TopicIdList` is an array although the table says String).
GroupCallbackAfterTopicDestroyed {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    topic_id_list: Vec<String> = "TopicIdList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterTopicInfoChanged` (no `TopicId` documented).
GroupCallbackAfterTopicInfoChanged {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    ? topic_id: String = "TopicId";
    ? name: String = "Name";
    ? introduction: String = "Introduction";
    ? notification: String = "Notification";
    ? face_url: String = "FaceUrl";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterMemberFieldChanged`. The changed member is `Member_Account` on
/// 1047/60393 and `Modified_Account` on 269/105353 and in the Java server SDK; both are accepted.
GroupCallbackAfterMemberFieldChanged {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    ? /// 1047/60393's spelling; see [`GroupCallbackAfterMemberFieldChanged::member()`].
    member_account: String = "Member_Account";
    ? /// 269/105353's and the Java server SDK's spelling.
    modified_account: String = "Modified_Account";
    ? role: MemberRole = "Role";
    ? name_card: String = "NameCard";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// A group attribute: **lower-case** `key`/`value`, unlike every other key/value pair.
    GroupAttr { key: String = "key"; value: String = "value"; });
model!(body
/// `Group.CallbackAfterGroupAttrChanged`.
GroupCallbackAfterGroupAttrChanged {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    group_attr: Vec<GroupAttr> = "GroupAttr";
    ? /// In the sample, not in the field table.
    option_type: GroupAttrOption = "OptionType";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// Read state of one group message. Only `MsgSeq` is required: a receipt without its counts
/// still names readers, and refusing it would lose them (Chat does not send it again).
GroupMsgReceipt {
    msg_seq: UInt = "MsgSeq";
    ? read_num: UInt = "ReadNum";
    ? unread_num: UInt = "UnreadNum";
    ? read_receipt_members: Vec<Member> = "ReadReceiptMembers";
});
model!(body
/// `Group.CallbackAfterReadReceipt`. Lenient where deliveries vary: `Type` may be missing,
/// and `GroupMsgReceiptList` missing or `null` (read as no receipts, see
/// [`GroupCallbackAfterReadReceipt::receipts`]) rather than refused, since an after-callback
/// refused is lost.
GroupCallbackAfterReadReceipt {
    group_id: String = "GroupId";
    ? group_type: GroupType = "Type";
    ? group_msg_receipt_list: Vec<GroupMsgReceipt> = "GroupMsgReceiptList";
    ? event_time: EventTime = "EventTime";
});

impl GroupCallbackAfterReadReceipt {
    /// The receipts, none if `GroupMsgReceiptList` is missing or `null`.
    pub fn receipts(&self) -> &[GroupMsgReceipt] {
        self.group_msg_receipt_list.as_deref().unwrap_or_default()
    }
}
model!(body
/// `Group.CallbackAfterChangeGroupOwner`.
GroupCallbackAfterChangeGroupOwner {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    operator_account: String = "Operator_Account";
    old_owner_account: String = "OldOwner_Account";
    new_owner_account: String = "NewOwner_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackOnDailyGroupQuotaAlarm`.
GroupCallbackOnDailyGroupQuotaAlarm {
    quota_used: UInt = "QuotaUsed";
    quota: UInt = "Quota";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Group.CallbackAfterGroupMsgExtension` (a clear sends an empty list).
GroupCallbackAfterGroupMsgExtension {
    group_id: String = "GroupId";
    msg_seq: UInt = "MsgSeq";
    /// 1 set, 2 delete, 3 clear.
    operate_type: UInt = "OperateType";
    extension_list: Vec<ExtensionItem> = "ExtensionList";
    seq: UInt = "Seq";
    ? topic_id: String = "TopicId";
    ? event_time: EventTime = "EventTime";
});

// ----- Bots -----

model!(body
/// `Bot.OnC2CMessage`.
BotOnC2cMessage {
    from_account: String = "From_Account";
    /// The bot.
    to_account: String = "To_Account";
    msg_seq: UInt = "MsgSeq";
    msg_random: UInt = "MsgRandom";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? msg_key: String = "MsgKey";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? send_msg_result: Int = "SendMsgResult";
    ? error_info: String = "ErrorInfo";
    ? cloud_custom_data: String = "CloudCustomData";
    ? /// the Java server SDK only.
    unread_msg_num: UnreadMsgNum = "UnreadMsgNum";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Bot.OnGroupMessage` (not fired for @all).
BotOnGroupMessage {
    group_id: String = "GroupId";
    group_type: GroupType = "Type";
    from_account: String = "From_Account";
    random: UInt = "Random";
    msg_seq: UInt = "MsgSeq";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? operator_account: String = "Operator_Account";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? at_robots_account: Vec<String> = "AtRobots_Account";
    ? /// the Java server SDK's spelling; see [`BotOnGroupMessage::at_robots()`].
    at_robot_account: Vec<String> = "AtRobotAccount";
    ? cloud_custom_data: String = "CloudCustomData";
    ? topic_id: String = "TopicId";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Chatbot.OnC2CSignalMessage` (reply-bearing: answer with `RspData`).
ChatbotOnC2cSignalMessage {
    from_account: String = "From_Account";
    /// The bot.
    to_account: String = "To_Account";
    msg_seq: UInt = "MsgSeq";
    msg_random: UInt = "MsgRandom";
    /// JSON text inside a string.
    data: String = "Data";
    ? msg_key: String = "MsgKey";
    ? event_time: EventTime = "EventTime";
});

// ----- Content moderation -----

model!(item
/// Where the moderated content was sent.
ContactItem {
    /// 1 C2C, 2 group.
    contact_type: UInt = "ContactType";
    ? to_account: String = "To_Account";
    ? to_group_id: String = "ToGroupId";
});
model!(body
/// `ContentCallback.ResultNotify`: **no `CallbackCommand` in the body**.
ContentCallbackResultNotify {
    scene: ContentScene = "Scene";
    from_account: String = "From_Account";
    contact_item: ContactItem = "ContactItem";
    /// Text, Image, Audio, Video.
    content_type: ContentType = "ContentType";
    /// The MsgKey for C2C, the MsgSeq for groups.
    msg_id: String = "MsgID";
    /// 1 blocked, 0 passed.
    ctxcb_result: UInt = "CtxcbResult";
    ? /// Capital `I`, unlike the query's `SdkAppid`.
    sdk_app_id: UInt = "SdkAppId";
    ? text_content: Vec<String> = "TextContent";
    ? file_url: String = "FileURL";
    ? ctxcb_request_id: String = "CtxcbRequestId";
    ? ctxcb_keywords: Vec<String> = "CtxcbKeywords";
    ? ctxcb_suggestion: Suggestion = "CtxcbSuggestion";
    ? ctxcb_label: String = "CtxcbLabel";
    ? ctxcb_sub_label: String = "CtxcbSubLabel";
    ? ctxcb_sub_label_desc: String = "CtxcbSubLabelDesc";
    ? ctxcb_lib_name: String = "CtxcbLibName";
    ? cloud_custom_data: String = "CloudCustomData";
});

// ----- Push -----

model!(body
/// One event of `Push.OfflinePush`. `EventTime` is in **seconds** here.
OfflinePushEvent {
    /// 1 C2C, 2 group.
    event_type: UInt = "EventType";
    event_time: PushEventTime = "EventTime";
    from_account: String = "From_Account";
    to_account: String = "To_Account";
    push_platform: UInt = "PushPlatform";
    /// 1 send, 2 delivered, 3 clicked.
    push_stage: UInt = "PushStage";
    ? msg_key: String = "MsgKey";
    ? /// Capital `ID`.
    group_id: String = "GroupID";
    ? msg_seq: UInt = "MsgSeq";
    ? msg_random: UInt = "MsgRandom";
    ? msg_time: UInt = "MsgTime";
    ? push_id: String = "PushID";
    ? err_code: Int = "ErrCode";
    ? err_info: String = "ErrInfo";
});
model!(item
    /// `Push.OfflinePush`: a batch of 1–100 events with no top-level `CallbackCommand`.
    PushOfflinePush { events: Vec<OfflinePushEvent> = "Events"; });
model!(body
/// One event of `Push.AllMemberPush`. `EventTime` is in **seconds** here.
AllMemberPushEvent {
    /// 1 offline push, 2 online push.
    event_type: UInt = "EventType";
    task_id: String = "TaskId";
    event_time: PushEventTime = "EventTime";
    to_account: String = "To_Account";
    push_platform: UInt = "PushPlatform";
    push_stage: UInt = "PushStage";
    ? /// Unix seconds.
    task_time: UInt = "TaskTime";
    ? err_code: Int = "ErrCode";
    ? err_info: String = "ErrInfo";
});
model!(item
    /// `Push.AllMemberPush`: a batch of 1–100 events with no top-level `CallbackCommand`.
    PushAllMemberPush { events: Vec<AllMemberPushEvent> = "Events"; });

// ----- Official accounts -----

model!(body
/// `OfficialAccount.CallbackBeforeCreateOfficialAccount` (before).
OfficialAccountCallbackBeforeCreateOfficialAccount {
    operator_account: String = "Operator_Account";
    owner_account: String = "Owner_Account";
    name: String = "Name";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterCreateOfficialAccount`.
OfficialAccountCallbackAfterCreateOfficialAccount {
    official_account: String = "Official_Account";
    operator_account: String = "Operator_Account";
    owner_account: String = "Owner_Account";
    name: String = "Name";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterOfficialAccountInfoChanged`.
OfficialAccountCallbackAfterOfficialAccountInfoChanged {
    official_account: String = "Official_Account";
    operator_account: String = "Operator_Account";
    ? introduction: String = "Introduction";
    ? name: String = "Name";
    ? face_url: String = "FaceUrl";
    ? organization: String = "Organization";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterOfficialAccountDestroyed`.
OfficialAccountCallbackAfterOfficialAccountDestroyed {
    official_account: String = "Official_Account";
    owner_account: String = "Owner_Account";
    name: String = "Name";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// `{"Subscriber_Account": ...}`.
    Subscriber { account: String = "Subscriber_Account"; });
model!(body
/// `OfficialAccount.CallbackBeforeAddSubscriber` (before), `…AfterAddSubscriber`,
/// `…AfterDeleteSubscriber`.
OfficialAccountSubscribers {
    official_account: String = "Official_Account";
    operator_account: String = "Operator_Account";
    subscribe_account_list: Vec<Subscriber> = "SubscribeAccountList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterOfficialAccountFull`.
OfficialAccountCallbackAfterOfficialAccountFull {
    official_account: String = "Official_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackBeforeSendMsg` (before, 2 s timeout).
OfficialAccountCallbackBeforeSendMsg {
    official_account: String = "Official_Account";
    msg_body: MsgBody = "MsgBody";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterSendMsg`.
OfficialAccountCallbackAfterSendMsg {
    official_account: String = "Official_Account";
    msg_key: String = "MsgKey";
    /// Unix seconds.
    msg_time: UInt = "MsgTime";
    msg_body: MsgBody = "MsgBody";
    ? online_only_flag: UInt = "OnlineOnlyFlag";
    ? cloud_custom_data: String = "CloudCustomData";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `OfficialAccount.CallbackAfterMsgWithDraw`.
OfficialAccountCallbackAfterMsgWithDraw {
    official_account: String = "Official_Account";
    withdraw_msg_list: Vec<MsgKeyItem> = "WithdrawMsgList";
    ? event_time: EventTime = "EventTime";
});

// ----- CallKit -----

model!(item
/// `Call.CallbackAfterStartCall` `CallInfo`.
CallInfo {
    call_id: String = "CallId";
    ? /// The sample's spelling; see [`CallInfo::media_type()`].
    call_media_type: String = "CallMediaType";
    ? /// The field table's spelling.
    media_type: String = "MediaType";
    ? chat_group_id: String = "ChatGroupId";
    ? room_id: String = "RoomId";
    ? /// 1 numeric, 2 string.
    room_id_type: UInt = "RoomIdType";
});
model!(item
    /// A call participant. The sample writes `User_Account` as a number.
    CallUser { user_account: TextOrNumber = "User_Account"; ? status: String = "Status"; });
model!(body
/// `Call.CallbackAfterStartCall`.
CallCallbackAfterStartCall {
    call_info: CallInfo = "CallInfo";
    user_list: Vec<CallUser> = "UserList";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// `Call.CallbackAfterEndCall` `CallRecord`.
CallRecord {
    call_id: String = "CallId";
    ? caller_account: TextOrNumber = "Caller_Account";
    ? media_type: String = "MediaType";
    ? call_type: String = "CallType";
    ? /// Unix seconds.
    start_time: UInt = "StartTime";
    ? end_time: UInt = "EndTime";
    ? accept_time: UInt = "AcceptTime";
    ? call_result: String = "CallResult";
    ? callee_list_account: Vec<TextOrNumber> = "CalleeList_Account";
    ? room_id: String = "RoomId";
    ? room_id_type: UInt = "RoomIdType";
});
model!(body
/// `Call.CallbackAfterEndCall`.
CallCallbackAfterEndCall {
    call_record: CallRecord = "CallRecord";
    ? event_time: EventTime = "EventTime";
});
model!(item
    /// A participant whose state changed; `ActionType` values disagree between sample and table.
    ChangedCallUser { user_account: TextOrNumber = "User_Account"; ? action_type: String = "ActionType"; });
model!(body
/// `Call.CallbackAfterMemberChanged`.
CallCallbackAfterMemberChanged {
    call_id: String = "CallId";
    ? user_list: Vec<CallUser> = "UserList";
    ? changed_user_list: Vec<ChangedCallUser> = "ChangedUserList";
    ? event_time: EventTime = "EventTime";
});

// ----- TUIRoomKit -----

model!(item
/// A room's settings (`Room.CallbackAfterCreateRoom`, `Room.CallbackAfterUpdateRoomInfo`).
/// Booleans may arrive as `"false"` strings.
RoomInfo {
    ? room_id: String = "RoomId";
    ? room_name: String = "RoomName";
    ? room_type: String = "RoomType";
    ? owner_account: TextOrNumber = "Owner_Account";
    ? max_member_count: UInt = "MaxMemberCount";
    ? max_seat_count: UInt = "MaxSeatCount";
    ? is_video_disabled: Bool = "IsVideoDisabled";
    ? is_audio_disabled: Bool = "IsAudioDisabled";
    ? is_message_disabled: Bool = "IsMessageDisabled";
    ? is_screen_sharing_disabled: Bool = "IsScreenSharingDisabled";
    ? is_cloud_recording_disabled: Bool = "IsCloudRecordingDisabled";
    ? custom_info: String = "CustomInfo";
    ? schedule_start_time: UInt = "ScheduleStartTime";
    ? schedule_end_time: UInt = "ScheduleEndTime";
    ? room_status: String = "RoomStatus";
    ? is_seat_enabled: Bool = "IsSeatEnabled";
    ? /// None, FreeToTake, ApplyToTake.
    take_seat_mode: String = "TakeSeatMode";
    ? create_time: UInt = "CreateTime";
});
model!(body
/// `Room.CallbackAfterCreateRoom`.
RoomCallbackAfterCreateRoom {
    operator_account: String = "Operator_Account";
    room_info: RoomInfo = "RoomInfo";
    ? schedule_invitee_list_account: Vec<String> = "ScheduleInviteeList_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Room.CallbackAfterDestroyRoom`.
RoomCallbackAfterDestroyRoom {
    operator_account: String = "Operator_Account";
    room_id: String = "RoomId";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Room.CallbackAfterUpdateRoomInfo` (the audit's `Room.CallbackUpdateRoomInfo` is in no doc).
RoomCallbackAfterUpdateRoomInfo {
    operator_account: String = "Operator_Account";
    room_info: RoomInfo = "RoomInfo";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Room.CallbackAfterMemberEnter` and `Room.CallbackAfterMemberLeave`.
RoomMembersChanged {
    operator_account: String = "Operator_Account";
    room_id: String = "RoomId";
    member_list_account: Vec<String> = "MemberList_Account";
    ? member_count: UInt = "MemberCount";
    ? /// Enter; Leave, Kicked, Expired.
    change_type: String = "Type";
    ? /// Leave only.
    reason: String = "Reason";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// One seat. The sample writes `Member_Account` as a number.
Seat {
    index: UInt = "Index";
    ? member_account: TextOrNumber = "Member_Account";
    ? is_taken_disabled: Bool = "IsTakenDisabled";
    ? is_video_disabled: Bool = "IsVideoDisabled";
    ? is_audio_disabled: Bool = "IsAudioDisabled";
});
model!(body
/// `Mic.CallbackAfterSeatInfoChanged`.
MicCallbackAfterSeatInfoChanged {
    operator_account: String = "Operator_Account";
    room_id: String = "RoomId";
    seat_list: Vec<Seat> = "SeatList";
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

impl GroupCallbackAfterCreateGroup {
    /// The new group's id, spelled `GroupId` (sample) or `groupID` (English field table).
    pub fn group(&self) -> Option<&str> {
        self.group_id.as_deref().or(self.group_id_lower.as_deref())
    }
}

impl GroupCallbackAfterMemberFieldChanged {
    /// The member whose fields changed. `Modified_Account` wins when both are present: where
    /// it is used, it names the changed member.
    pub fn member(&self) -> Option<&str> {
        self.modified_account
            .as_deref()
            .or(self.member_account.as_deref())
    }
}

impl BotOnGroupMessage {
    /// The mentioned bots, spelled `AtRobots_Account` (doc) or `AtRobotAccount` (the Java server SDK).
    pub fn at_robots(&self) -> &[String] {
        self.at_robots_account
            .as_deref()
            .or(self.at_robot_account.as_deref())
            .unwrap_or_default()
    }
}

impl CallInfo {
    /// Audio or Video, spelled `CallMediaType` (sample) or `MediaType` (table).
    pub fn media_type(&self) -> Option<&str> {
        self.call_media_type
            .as_deref()
            .or(self.media_type.as_deref())
    }
}

// ----- The enum over all commands -----

/// Why a body did not parse.
#[derive(Debug, thiserror::Error)]
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
                if let Some(found) = raw.get("CallbackCommand").and_then(Value::as_str) {
                    if found != command {
                        return Err(Error::CommandMismatch {
                            expected: command.to_owned(),
                            found: found.to_owned(),
                        });
                    }
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
}
