//! The command table: every `CallbackCommand` of Tencent Cloud Chat and its sibling products
//! (CallKit, TUIRoomKit, TUILiveKit), with what a receiver needs to know to answer it.
//!
//! The rows follow the catalogue (`commands.md`): 60 Chat commands, then 3 CallKit and
//! 6 TUIRoomKit ones, then the 12 named TUILiveKit ones of protocol audit 3 (§3.2).
//! [`commands_markdown`] renders the table as the `COMMANDS.md` page.

use std::fmt::Write as _;

/// The `CallbackCommand` strings, exactly as Tencent sends them, usable in `const` contexts
/// (for example in `match` arms).
pub mod commands;

/// Which Tencent product sends a command. They share the wire format but are configured apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Product {
    /// Tencent Cloud Chat (IM) itself.
    Chat,
    /// TUICallKit (`Call.*`).
    CallKit,
    /// TUIRoomKit (`Room.*`, `Mic.*`).
    RoomKit,
    /// TUILiveKit (`Live.*`), documented inside the Chat pages (269/117536) and sent to the
    /// same callback URL.
    LiveKit,
}

impl Product {
    /// The product's display name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "Chat",
            Self::CallKit => "CallKit",
            Self::RoomKit => "RoomKit",
            Self::LiveKit => "LiveKit",
        }
    }
}

/// What Chat does with the reply. Not `non_exhaustive`: a receiver must answer every kind,
/// so a new one should break its `match` rather than fall into a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Chat waits for the reply and acts on its decision (allow, refuse, rewrite).
    Before,
    /// A notification: the reply's decision is ignored; answer OK / 0 / "".
    After,
    /// A notification whose reply carries data Chat uses (`Chatbot.OnC2CSignalMessage`'s `RspData`).
    ReplyBearing,
}

impl Kind {
    /// `"before"`, `"after"` or `"reply-bearing"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::ReplyBearing => "reply-bearing",
        }
    }
}

/// An inclusive range of custom decision codes a command's reply may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeRange {
    /// The smallest allowed code.
    pub start: u32,
    /// The largest allowed code (inclusive).
    pub end: u32,
}

impl CodeRange {
    /// Whether `code` is inside the range.
    pub const fn contains(self, code: u32) -> bool {
        self.start <= code && code <= self.end
    }
}

/// One row of the command table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandInfo {
    /// The `CallbackCommand` string.
    pub name: &'static str,
    /// The product that sends it.
    pub product: Product,
    /// The part of the name before the dot (`Group`, `C2C`, `Room`…).
    pub family: &'static str,
    /// Whether Chat acts on the reply.
    pub kind: Kind,
    /// The custom top-level refusal codes the documentation reserves for this command's
    /// reply, if any.
    pub custom_codes: Option<CodeRange>,
    /// The per-target `ResultCode`s of a command Chat decides per target (the friend
    /// requests' `ResultItem`): its top-level `ErrorCode` is then always 0.
    pub result_codes: Option<CodeRange>,
    /// Whether `ErrorCode` 2 (drop the message silently, sender sees success) is documented.
    pub silent_discard: bool,
    /// Whether no reply in time refuses the event (`Live.CallbackBeforeSendGift`: the gift is
    /// blocked), unlike Chat's before-callbacks, which let it through. A receiver whose
    /// handler fails should answer such a command explicitly, and deny if in doubt.
    pub blocks_without_reply: bool,
    /// Documentation page ids: `1047/N` (tencentcloud.com), `269/N` (cloud.tencent.com, Chinese),
    /// `647/N` (TRTC pages). See [`doc_url`].
    pub docs: &'static [&'static str],
}

/// The documentation URL of a page id such as `1047/34364`.
pub fn doc_url(id: &str) -> String {
    match id.split_once('/') {
        Some(("269", page)) => format!("https://cloud.tencent.com/document/product/269/{page}"),
        _ => format!("https://www.tencentcloud.com/document/product/{id}"),
    }
}

/// Every catalogued command, in catalogue order.
#[rustfmt::skip]
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo { name: commands::ALERT_REQUEST_OVER_LIMIT, product: Product::Chat, family: "Alert", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60256", "269/105418"] },
    CommandInfo { name: commands::STATE_STATE_CHANGE, product: Product::Chat, family: "State", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34357"] },
    CommandInfo { name: commands::PROFILE_CALLBACK_PORTRAIT_SET, product: Product::Chat, family: "Profile", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/48733"] },
    CommandInfo { name: commands::SNS_CALLBACK_PREV_FRIEND_ADD, product: Product::Chat, family: "Sns", kind: Kind::Before, custom_codes: None, result_codes: Some(CodeRange { start: 38000, end: 39000 }), silent_discard: false, blocks_without_reply: false, docs: &["1047/43468"] },
    CommandInfo { name: commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE, product: Product::Chat, family: "Sns", kind: Kind::Before, custom_codes: None, result_codes: Some(CodeRange { start: 38000, end: 39000 }), silent_discard: false, blocks_without_reply: false, docs: &["1047/43467"] },
    CommandInfo { name: commands::SNS_CALLBACK_FRIEND_ADD, product: Product::Chat, family: "Sns", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34359"] },
    CommandInfo { name: commands::SNS_CALLBACK_FRIEND_DELETE, product: Product::Chat, family: "Sns", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34360"] },
    CommandInfo { name: commands::SNS_CALLBACK_BLACK_LIST_ADD, product: Product::Chat, family: "Sns", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34361"] },
    CommandInfo { name: commands::SNS_CALLBACK_BLACK_LIST_DELETE, product: Product::Chat, family: "Sns", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34362"] },
    CommandInfo { name: commands::FOLLOW_CALLBACK_AFTER_FOLLOW_ADD, product: Product::Chat, family: "Follow", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/70355", "647/74356"] },
    CommandInfo { name: commands::FOLLOW_CALLBACK_AFTER_FOLLOW_DELETE, product: Product::Chat, family: "Follow", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/70356"] },
    CommandInfo { name: commands::C2C_CALLBACK_BEFORE_SEND_MSG, product: Product::Chat, family: "C2C", kind: Kind::Before, custom_codes: Some(CodeRange { start: 120001, end: 130000 }), result_codes: None, silent_discard: true, blocks_without_reply: false, docs: &["1047/34364", "269/1632"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_SEND_MSG, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34365"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_MSG_REPORT, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/43465", "269/61696"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_MSG_WITH_DRAW, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/43466"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_C2C_MSG_EXTENSION, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/76006", "269/126475"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_MSG_READ_ALL, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/128225"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_MSG_READ_RECEIPT, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/128223"] },
    CommandInfo { name: commands::C2C_CALLBACK_AFTER_MODIFY_MSG, product: Product::Chat, family: "C2C", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/128224"] },
    CommandInfo { name: commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP, product: Product::Chat, family: "Group", kind: Kind::Before, custom_codes: Some(CodeRange { start: 10100, end: 10200 }), result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34368"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_CREATE_GROUP, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34369"] },
    CommandInfo { name: commands::GROUP_CALLBACK_BEFORE_APPLY_JOIN_GROUP, product: Product::Chat, family: "Group", kind: Kind::Before, custom_codes: Some(CodeRange { start: 10100, end: 10200 }), result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34370"] },
    CommandInfo { name: commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP, product: Product::Chat, family: "Group", kind: Kind::Before, custom_codes: Some(CodeRange { start: 10100, end: 10200 }), result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34371", "269/1666"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34372"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_MEMBER_EXIT, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34373"] },
    CommandInfo { name: commands::GROUP_CALLBACK_BEFORE_SEND_MSG, product: Product::Chat, family: "Group", kind: Kind::Before, custom_codes: Some(CodeRange { start: 10100, end: 10200 }), result_codes: None, silent_discard: true, blocks_without_reply: false, docs: &["1047/34374", "269/1619"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_SEND_MSG, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34375", "269/2661"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_GROUP_FULL, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34376"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_GROUP_DESTROYED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34377"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_GROUP_INFO_CHANGED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/34378", "269/2930"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_RECALL_MSG, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/46979"] },
    CommandInfo { name: commands::GROUP_CALLBACK_ON_MEMBER_STATE_CHANGE, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/48734"] },
    CommandInfo { name: commands::GROUP_CALLBACK_SEND_MSG_EXCEPTION, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/49462"] },
    CommandInfo { name: commands::GROUP_CALLBACK_BEFORE_CREATE_TOPIC, product: Product::Chat, family: "Group", kind: Kind::Before, custom_codes: Some(CodeRange { start: 10100, end: 10200 }), result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/49463"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_CREATE_TOPIC, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/49464"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_TOPIC_DESTROYED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/49465"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_TOPIC_INFO_CHANGED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/49466"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_MEMBER_FIELD_CHANGED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60393", "269/105353"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_GROUP_ATTR_CHANGED, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60394"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_READ_RECEIPT, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60395"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_CHANGE_GROUP_OWNER, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60396", "269/105356"] },
    CommandInfo { name: commands::GROUP_CALLBACK_ON_DAILY_GROUP_QUOTA_ALARM, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/57455"] },
    CommandInfo { name: commands::GROUP_CALLBACK_AFTER_GROUP_MSG_EXTENSION, product: Product::Chat, family: "Group", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/76007", "269/126476"] },
    CommandInfo { name: commands::BOT_ON_C2C_MESSAGE, product: Product::Chat, family: "Bot", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/68952", "269/90407"] },
    CommandInfo { name: commands::BOT_ON_GROUP_MESSAGE, product: Product::Chat, family: "Bot", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/68953", "269/89994"] },
    CommandInfo { name: commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE, product: Product::Chat, family: "Chatbot", kind: Kind::ReplyBearing, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/59057", "269/103730"] },
    CommandInfo { name: commands::CONTENT_CALLBACK_RESULT_NOTIFY, product: Product::Chat, family: "ContentCallback", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/78240", "269/95616"] },
    CommandInfo { name: commands::PUSH_OFFLINE_PUSH, product: Product::Chat, family: "Push", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/67552", "269/102567"] },
    CommandInfo { name: commands::PUSH_ALL_MEMBER_PUSH, product: Product::Chat, family: "Push", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/67551", "269/102568"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_CREATE_OFFICIAL_ACCOUNT, product: Product::Chat, family: "OfficialAccount", kind: Kind::Before, custom_codes: Some(CodeRange { start: 120001, end: 130000 }), result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60795", "269/102315"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_CREATE_OFFICIAL_ACCOUNT, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60796"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_INFO_CHANGED, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60797"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_DESTROYED, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60798"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER, product: Product::Chat, family: "OfficialAccount", kind: Kind::Before, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60799", "269/102319"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_ADD_SUBSCRIBER, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60800", "269/102320"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_OFFICIAL_ACCOUNT_FULL, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60801"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_DELETE_SUBSCRIBER, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60802"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG, product: Product::Chat, family: "OfficialAccount", kind: Kind::Before, custom_codes: Some(CodeRange { start: 120001, end: 130000 }), result_codes: None, silent_discard: true, blocks_without_reply: false, docs: &["1047/60803", "269/102323"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_SEND_MSG, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60804", "269/102324"] },
    CommandInfo { name: commands::OFFICIAL_ACCOUNT_CALLBACK_AFTER_MSG_WITH_DRAW, product: Product::Chat, family: "OfficialAccount", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1047/60805", "269/102325"] },
    CommandInfo { name: commands::CALL_CALLBACK_AFTER_START_CALL, product: Product::CallKit, family: "Call", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/68941"] },
    CommandInfo { name: commands::CALL_CALLBACK_AFTER_END_CALL, product: Product::CallKit, family: "Call", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/68940"] },
    CommandInfo { name: commands::CALL_CALLBACK_AFTER_MEMBER_CHANGED, product: Product::CallKit, family: "Call", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/69215"] },
    CommandInfo { name: commands::ROOM_CALLBACK_AFTER_CREATE_ROOM, product: Product::RoomKit, family: "Room", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60733"] },
    CommandInfo { name: commands::ROOM_CALLBACK_AFTER_DESTROY_ROOM, product: Product::RoomKit, family: "Room", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60732"] },
    CommandInfo { name: commands::ROOM_CALLBACK_AFTER_UPDATE_ROOM_INFO, product: Product::RoomKit, family: "Room", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60731"] },
    CommandInfo { name: commands::ROOM_CALLBACK_AFTER_MEMBER_ENTER, product: Product::RoomKit, family: "Room", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60735"] },
    CommandInfo { name: commands::ROOM_CALLBACK_AFTER_MEMBER_LEAVE, product: Product::RoomKit, family: "Room", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60734"] },
    CommandInfo { name: commands::MIC_CALLBACK_AFTER_SEAT_INFO_CHANGED, product: Product::RoomKit, family: "Mic", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/60736"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_CREATE_ROOM, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/110679", "1071/78183"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_DESTROY_ROOM, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["1071/78184"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_UPDATE_ROOM_INFO, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/117545", "647/115659", "1071/78185"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_SET_METADATA, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/125789", "647/116310", "1071/78186"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_DEL_METADATA, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/125790", "647/116311"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_CREATE_ROOM_REACHING_THRESHOLD, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/119913", "1071/78188"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_MEMBER_STATE_CHANGED, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/125793", "647/110526"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_MODIFY_ADMIN, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["647/72554"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_CREATE_BATTLE, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/117721", "647/68259"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_START_BATTLE, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/117554", "647/68260"] },
    CommandInfo { name: commands::LIVE_CALLBACK_AFTER_END_BATTLE, product: Product::LiveKit, family: "Live", kind: Kind::After, custom_codes: None, result_codes: None, silent_discard: false, blocks_without_reply: false, docs: &["269/117555", "647/68261"] },
    CommandInfo { name: commands::LIVE_CALLBACK_BEFORE_SEND_GIFT, product: Product::LiveKit, family: "Live", kind: Kind::Before, custom_codes: Some(CodeRange { start: 102100, end: 102200 }), result_codes: None, silent_discard: false, blocks_without_reply: true, docs: &["647/72210", "1071/78196"] },
];

/// The row of `name` (exact, case-sensitive match: Tencent's names are case-sensitive).
pub fn command_info(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|info| info.name == name)
}

/// The kind of `command`: from the table, or for a command not in it (Tencent adds some
/// without notice), from its name: `CallbackBefore*` and `CallbackPrev*` decide, anything
/// else is a notification.
pub fn kind_of(command: &str) -> Kind {
    if let Some(info) = command_info(command) {
        return info.kind;
    }
    let verb = command.rsplit('.').next().unwrap_or(command);
    if verb.starts_with("CallbackBefore") || verb.starts_with("CallbackPrev") {
        Kind::Before
    } else {
        Kind::After
    }
}

/// The command reference as Markdown: one row per command with product, kind, custom codes
/// and documentation links. `COMMANDS.md` at the crate root is this text.
pub fn commands_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Tencent Cloud Chat callback commands\n\n");
    out.push_str(
        "Generated from `chathook_protocol::COMMANDS` by `commands_markdown()`; do not edit.\n\
         Regenerate with `UPDATE_COMMANDS_MD=1 cargo test -p chathook-protocol`.\n\n",
    );
    out.push_str(
        "Kind: **before** = Chat acts on the reply; **after** = reply ignored; \
         **reply-bearing** = the reply carries data Chat uses.\n\n",
    );
    out.push_str("| Command | Product | Kind | Custom codes | Doc |\n|---|---|---|---|---|\n");
    for info in COMMANDS {
        let codes = match (info.custom_codes, info.result_codes) {
            (Some(range), _) => format!("{}–{}", range.start, range.end),
            (None, Some(range)) => format!(
                "per target: `ResultCode` {}–{} (top level 0)",
                range.start, range.end
            ),
            (None, None) => "—".to_owned(),
        };
        let docs: Vec<String> = info
            .docs
            .iter()
            .map(|id| format!("[{id}]({})", doc_url(id)))
            .collect();
        let kind = if info.blocks_without_reply {
            format!("{} (no reply in time refuses)", info.kind.as_str())
        } else {
            info.kind.as_str().to_owned()
        };
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            info.name,
            info.product.as_str(),
            kind,
            codes,
            docs.join(", ")
        );
    }
    out.push_str(LEFT_OUT);
    out
}

/// What the table leaves out, and why.
const LEFT_OUT: &str = "
## Left out

TUILiveKit's list of callbacks (269/117536) names two more after-callbacks, \"after the owner \
changed\" (修改房主之后回调) and \"after the seat list changed\" (麦位列表变更之后回调), but no \
stored page gives their `CallbackCommand`. A guessed name would route nothing, so they are not \
in the table; until their names are published they parse as `Request::Unknown` and are \
answered as after-callbacks (by name, `kind_of`). Its \"before/after speaking in a group\" and \
\"after follow/unfollow\" entries are the Chat commands `Group.CallbackBeforeSendMsg`, \
`Group.CallbackAfterSendMsg` and `Follow.*` above.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_catalogued_command_once() {
        let chat = COMMANDS
            .iter()
            .filter(|c| c.product == Product::Chat)
            .count();
        assert_eq!(chat, 60);
        let live = COMMANDS
            .iter()
            .filter(|c| c.product == Product::LiveKit)
            .count();
        assert_eq!(live, 12);
        assert_eq!(COMMANDS.len(), 81);
        for (i, a) in COMMANDS.iter().enumerate() {
            assert!(
                COMMANDS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
            assert_eq!(a.name.split_once('.').map(|(f, _)| f), Some(a.family));
        }
    }

    #[test]
    fn lookup_and_kinds() {
        const RECEIPT: &str = commands::GROUP_CALLBACK_AFTER_READ_RECEIPT;
        assert_eq!(RECEIPT, "Group.CallbackAfterReadReceipt");
        assert_eq!(command_info(RECEIPT).map(|c| c.kind), Some(Kind::After));
        let signal = command_info(commands::CHATBOT_ON_C2C_SIGNAL_MESSAGE).unwrap();
        assert_eq!(signal.kind, Kind::ReplyBearing);
        let send = command_info(commands::C2C_CALLBACK_BEFORE_SEND_MSG).unwrap();
        assert_eq!(
            send.custom_codes,
            Some(CodeRange {
                start: 120_001,
                end: 130_000
            })
        );
        assert!(send.silent_discard);
        assert!(command_info(commands::C2C_CALLBACK_AFTER_MSG_READ_RECEIPT).is_some());
        assert!(command_info(commands::C2C_CALLBACK_AFTER_MODIFY_MSG).is_some());
        assert_eq!(
            command_info(commands::MIC_CALLBACK_AFTER_SEAT_INFO_CHANGED).map(|c| c.product),
            Some(Product::RoomKit)
        );
        assert!(command_info("group.callbackafterreadreceipt").is_none());
        assert_eq!(
            kind_of(commands::SNS_CALLBACK_PREV_FRIEND_ADD),
            Kind::Before
        );
        assert_eq!(kind_of("Live.CallbackBeforeEnterRoom"), Kind::Before);
        assert_eq!(kind_of("Live.CallbackAfterUpdateRoomInfo"), Kind::After);
        let before = COMMANDS.iter().filter(|c| c.kind == Kind::Before).count();
        assert_eq!(before, 12);
        // The gift is blocked when no reply comes in time, unlike every Chat before-callback.
        let gift = command_info(commands::LIVE_CALLBACK_BEFORE_SEND_GIFT).unwrap();
        assert!(gift.blocks_without_reply && gift.kind == Kind::Before);
        let blocking: Vec<_> = COMMANDS.iter().filter(|c| c.blocks_without_reply).collect();
        assert_eq!(blocking, [gift]);
    }

    #[test]
    fn commands_md_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/COMMANDS.md");
        let rendered = commands_markdown();
        if std::env::var_os("UPDATE_COMMANDS_MD").is_some() {
            std::fs::write(path, &rendered).expect("write COMMANDS.md");
            return;
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "COMMANDS.md is stale; regenerate it with \
             `UPDATE_COMMANDS_MD=1 cargo test -p chathook-protocol`"
        );
    }
}
