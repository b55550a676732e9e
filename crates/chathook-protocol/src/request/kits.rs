//! Models of the sibling products that call the same URL: TUICallKit (`Call.*`), TUIRoomKit
//! (`Room.*`, `Mic.*`) and TUILiveKit (`Live.*`).

use super::*;

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

// ----- TUILiveKit -----
//
// From the pages' samples and field tables as protocol audit 3 (§3.2) reads them. The pages
// disagree with themselves in places (numbers where the table says strings, `Owner_Account`
// as a number), so only the fields that identify the event are required.

model!(item default
/// A live room's settings (`RoomInfo` of the `Live.*` room callbacks).
LiveRoomInfo {
    ? room_id: String = "RoomId";
    ? room_name: String = "RoomName";
    ? room_type: String = "RoomType";
    ? /// A number in the `…DestroyRoom` sample.
    owner_account: TextOrNumber = "Owner_Account";
    ? max_member_count: UInt = "MaxMemberCount";
    ? is_message_disabled: Bool = "IsMessageDisabled";
    ? custom_info: String = "CustomInfo";
    ? is_seat_enabled: Bool = "IsSeatEnabled";
    ? take_seat_mode: String = "TakeSeatMode";
    ? max_seat_count: UInt = "MaxSeatCount";
    ? /// Unix seconds.
    create_time: UInt = "CreateTime";
    ? is_public_visible: Bool = "IsPublicVisible";
    ? cover_url: String = "CoverURL";
    ? category: Vec<UInt> = "Category";
    ? /// Inside `RoomInfo` in the `…CreateRoom` sample.
    event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterCreateRoom`.
LiveCallbackAfterCreateRoom {
    room_info: LiveRoomInfo = "RoomInfo";
    ? operator_account: String = "Operator_Account";
    ? event_time: EventTime = "EventTime";
});
model!(item default
/// What a live room saw (`Live.CallbackAfterDestroyRoom` `Statistic`).
LiveStatistic {
    ? total_viewers: UInt = "TotalViewers";
    ? total_gifts_sent: UInt = "TotalGiftsSent";
    ? total_gift_coins: UInt = "TotalGiftCoins";
    ? total_unique_gift_senders: UInt = "TotalUniqueGiftSenders";
    ? total_likes_received: UInt = "TotalLikesReceived";
});
model!(body
/// `Live.CallbackAfterDestroyRoom`.
LiveCallbackAfterDestroyRoom {
    room_id: String = "RoomId";
    ? operator_account: String = "Operator_Account";
    ? /// `DestroyByUser` or `DestroyBySystem`.
    event_type: String = "EventType";
    ? room_info: LiveRoomInfo = "RoomInfo";
    ? statistic: LiveStatistic = "Statistic";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterUpdateRoomInfo`.
LiveCallbackAfterUpdateRoomInfo {
    room_info: LiveRoomInfo = "RoomInfo";
    ? operator_account: String = "Operator_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterSetMetadata`.
LiveCallbackAfterSetMetadata {
    room_id: String = "RoomId";
    metadata: Vec<KeyValue> = "Metadata";
    ? operator_account: String = "Operator_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterDelMetadata`.
LiveCallbackAfterDelMetadata {
    room_id: String = "RoomId";
    keys: Vec<String> = "Keys";
    ? operator_account: String = "Operator_Account";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterCreateRoomReachingThreshold`: the app is near its room quota.
LiveCallbackAfterCreateRoomReachingThreshold {
    ? operator_account: String = "Operator_Account";
    ? cur_room_count: UInt = "CurRoomCount";
    ? max_room_count: UInt = "MaxRoomCount";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterMemberStateChanged` (one parameter table says
/// `Live.CallbackMemberStateChanged`; the sample has this name).
LiveCallbackAfterMemberStateChanged {
    room_id: String = "RoomId";
    ? /// `Online` or `Offline`.
    event_type: String = "EventType";
    ? /// `Enter`, `Leave`, `HeartbeatInterrupt`, `HeartbeatRecover` or `Kicked`.
    event_cause: String = "EventCause";
    ? member_list: Vec<Member> = "MemberList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterModifyAdmin`.
LiveCallbackAfterModifyAdmin {
    room_id: String = "RoomId";
    ? operator_account: String = "Operator_Account";
    ? admin_account: Vec<String> = "Admin_Account";
    ? /// `add` or `delete` (lower-case key and values).
    op_type: String = "opType";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterCreateBattle`.
LiveCallbackAfterCreateBattle {
    battle_id: String = "BattleId";
    ? operator_account: String = "Operator_Account";
    ? from_room_id: String = "FromRoomId";
    ? to_room_id_list: Vec<String> = "ToRoomIdList";
    ? /// Milliseconds.
    timeout: UInt = "Timeout";
    ? /// Milliseconds.
    duration: UInt = "Duration";
    ? need_response: Bool = "NeedResponse";
    ? extension_info: String = "ExtensionInfo";
    ? event_time: EventTime = "EventTime";
});
model!(item default
/// A room in a battle.
BattleRoom {
    ? room_id: String = "RoomId";
    ? /// A number in the `…EndBattle` sample.
    owner_account: TextOrNumber = "Owner_Account";
    ? score: UInt = "Score";
});
model!(body
/// `Live.CallbackAfterStartBattle`.
LiveCallbackAfterStartBattle {
    battle_id: String = "BattleId";
    ? duration: UInt = "Duration";
    ? /// Unix seconds.
    create_time: UInt = "CreateTime";
    ? /// Unix seconds.
    start_time: UInt = "StartTime";
    ? from_room_info: BattleRoom = "FromRoomInfo";
    ? to_room_list: Vec<BattleRoom> = "ToRoomList";
    ? event_time: EventTime = "EventTime";
});
model!(body
/// `Live.CallbackAfterEndBattle`.
LiveCallbackAfterEndBattle {
    battle_id: String = "BattleId";
    ? duration: UInt = "Duration";
    ? create_time: UInt = "CreateTime";
    ? start_time: UInt = "StartTime";
    ? end_time: UInt = "EndTime";
    ? /// 0, 1 or 2: how the battle ended.
    op_type: UInt = "OpType";
    ? from_room_info: BattleRoom = "FromRoomInfo";
    ? to_room_list: Vec<BattleRoom> = "ToRoomList";
    ? event_time: EventTime = "EventTime";
});
model!(item
/// One gift sent (`GiftWater`).
GiftWater {
    from_account: String = "From_Account";
    to_account: Vec<String> = "To_Account";
    gift_id: String = "GiftId";
    ? /// Unix seconds.
    time: UInt = "Time";
    ? count: UInt = "Count";
    ? /// The gift's value.
    coins: UInt = "Coins";
});
model!(body
/// `Live.CallbackBeforeSendGift` (before): a non-zero `ErrorCode` blocks the gift, and so
/// does **no reply within 2 s** (unless the app configured
/// `Live.CallbackBeforeCallBackNotBlock`), unlike Chat's before-callbacks.
LiveCallbackBeforeSendGift {
    room_id: String = "RoomId";
    gift_water: GiftWater = "GiftWater";
    ? operator_account: String = "Operator_Account";
});

// ----- One value, two spellings -----

impl CallInfo {
    /// Audio or Video, spelled `CallMediaType` (sample) or `MediaType` (table).
    pub fn media_type(&self) -> Option<&str> {
        self.call_media_type
            .as_deref()
            .or(self.media_type.as_deref())
    }
}
