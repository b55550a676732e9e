//! Models of the group commands (`Group.*`), topics included.

use super::*;

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

// ----- One value, two spellings -----

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
