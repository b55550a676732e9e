//! Models of the services around messaging: bots, content moderation results, push
//! reports and official accounts.

use super::*;

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
    /// Text, Image, Audio, Video.
    content_type: ContentType = "ContentType";
    /// 1 blocked, 0 passed.
    ctxcb_result: UInt = "CtxcbResult";
    ? /// Where a moderated *message* was sent: absent for profile, group-info and
    /// relation-chain results (Tencent's table: "消息送审时", 269/95616).
    contact_item: ContactItem = "ContactItem";
    ? /// The MsgKey (a string) for C2C, the MsgSeq for groups (possibly a number); absent
    /// when the result is not about a message.
    msg_id: TextOrNumber = "MsgID";
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

// ----- One value, two spellings -----

impl BotOnGroupMessage {
    /// The mentioned bots, spelled `AtRobots_Account` (doc) or `AtRobotAccount` (the Java server SDK).
    pub fn at_robots(&self) -> &[String] {
        self.at_robots_account
            .as_deref()
            .or(self.at_robot_account.as_deref())
            .unwrap_or_default()
    }
}
