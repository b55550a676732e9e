//! Models of the sibling products that call the same URL: TUICallKit (`Call.*`) and
//! TUIRoomKit (`Room.*`, `Mic.*`).

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

// ----- One value, two spellings -----

impl CallInfo {
    /// Audio or Video, spelled `CallMediaType` (sample) or `MediaType` (table).
    pub fn media_type(&self) -> Option<&str> {
        self.call_media_type
            .as_deref()
            .or(self.media_type.as_deref())
    }
}
