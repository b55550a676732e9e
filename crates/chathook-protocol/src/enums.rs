//! Open string enums: the documented values as variants, anything else kept in `Other`.
//!
//! Tencent adds values without notice (group types `Work`/`Meeting`, new platforms, new
//! login reasons), so a value this crate does not know must parse, and must serialize back
//! exactly as it came.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an open enum over string values.
///
/// `exact` enums match case-sensitively and so round-trip every input unchanged.
/// `case_insensitive` ones match ASCII case-insensitively (Tencent writes `IOS` in
/// `State.StateChange` and `iOS` elsewhere); a known value is written back in its documented
/// spelling, so wire fields hold such a value through a spelling-keeping wrapper
/// ([`OptPlatform`] around [`Platform`]).
macro_rules! open_enum {
    (
        $(#[$doc:meta])* $name:ident, $mode:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        // Tencent adds values: a new variant must not break a downstream `match`.
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
            /// A value this crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(other) => other,
                }
            }

            /// The value for a wire string.
            pub fn parse(text: &str) -> Self {
                $( if open_enum!(@eq $mode, text, $text) { return Self::$variant; } )*
                Self::Other(text.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
    (@eq exact, $a:expr, $b:expr) => { $a == $b };
    (@eq case_insensitive, $a:expr, $b:expr) => { $a.eq_ignore_ascii_case($b) };
}

open_enum!(
    /// A group's `Type`.
    GroupType, exact {
        /// Work group (new name of `Private`).
        Private = "Private",
        /// Public group.
        Public = "Public",
        /// Meeting group (new name of `ChatRoom`).
        ChatRoom = "ChatRoom",
        /// Live-stream group.
        AvChatRoom = "AVChatRoom",
        /// Online-member broadcast group (the Java server SDK only).
        BChatRoom = "BChatRoom",
        /// Community (supports topics).
        Community = "Community",
        /// TRTC live room.
        Live = "Live",
    }
);

open_enum!(
    /// A client platform (`OptPlatform`, `KickedDevice[].Platform`), matched case-insensitively.
    Platform, case_insensitive {
        /// Sent through the REST API.
        RestApi = "RESTAPI",
        /// Web SDK.
        Web = "Web",
        /// Android.
        Android = "Android",
        /// iOS (`IOS` in `State.StateChange`).
        Ios = "iOS",
        /// Windows.
        Windows = "Windows",
        /// macOS (Chinese pages).
        Mac = "Mac",
        /// macOS (English overview).
        MacOs = "macOS",
        /// iPad (the Java server SDK constant).
        IPad = "iPad",
        /// Unknown platform.
        Unknown = "Unknown",
    }
);

/// A platform as sent (`OptPlatform` query parameter, `KickedDevice[].Platform`): keeps the
/// exact spelling for the round trip, and [`OptPlatform::platform`] matches it
/// case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OptPlatform(pub String);

impl OptPlatform {
    /// The platform, whatever the case it was sent in (`IOS` and `iOS` are both [`Platform::Ios`]).
    pub fn platform(&self) -> Platform {
        Platform::parse(&self.0)
    }

    /// The spelling as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

open_enum!(
    /// `State.StateChange` `Info.Action`.
    StateAction, exact {
        /// Came online.
        Login = "Login",
        /// Logged out.
        Logout = "Logout",
        /// Connection lost.
        Disconnect = "Disconnect",
    }
);

open_enum!(
    /// `State.StateChange` `Info.Reason`.
    StateReason, exact {
        /// Login.
        Register = "Register",
        /// Logout.
        Unregister = "Unregister",
        /// The connection closed.
        LinkClose = "LinkClose",
        /// Heartbeat timeout.
        TimeOut = "TimeOut",
    }
);

open_enum!(
    /// `Sns.CallbackFriendAdd` `ClientCmd`: which request added the friends.
    ClientCmd, exact {
        /// An add-friend request (lower-case form).
        FriendAddSnake = "friend_add",
        /// An add-friend request.
        FriendAdd = "FriendAdd",
        /// A response to a friend request (lower-case form).
        FriendResponseSnake = "friend_response",
        /// A response to a friend request.
        FriendResponse = "FriendResponse",
    }
);

open_enum!(
    /// `Group.CallbackAfterNewMemberJoin` `JoinType`.
    JoinType, exact {
        /// Joined by applying.
        Apply = "Apply",
        /// Joined by invitation.
        Invited = "Invited",
    }
);

open_enum!(
    /// `Group.CallbackAfterMemberExit` `ExitType`.
    ExitType, exact {
        /// Removed by an admin.
        Kicked = "Kicked",
        /// Left.
        Quit = "Quit",
    }
);

open_enum!(
    /// `Sns.CallbackPrevFriendResponse` `ResponseAction`.
    ResponseAction, exact {
        /// Agree and add the requester back.
        AgreeAndAdd = "Response_Action_AgreeAndAdd",
        /// Agree (one-way).
        Agree = "Response_Action_Agree",
        /// Reject.
        Reject = "Response_Action_Reject",
    }
);

open_enum!(
    /// `Sns.CallbackPrevFriendAdd` `AddType`.
    AddType, exact {
        /// One-way friendship.
        Single = "Add_Type_Single",
        /// Two-way friendship.
        Both = "Add_Type_Both",
    }
);

open_enum!(
    /// `Group.CallbackOnMemberStateChange` `EventType`.
    MemberStateEvent, exact {
        /// The member came online.
        Online = "Online",
        /// The member went offline.
        Offline = "Offline",
    }
);

open_enum!(
    /// `Group.CallbackAfterGroupAttrChanged` `OptionType`.
    GroupAttrOption, exact {
        /// Attributes set.
        Set = "set",
        /// Attributes modified.
        Modify = "modify",
        /// All attributes cleared.
        Clear = "clear",
        /// Attributes deleted.
        Delete = "delete",
    }
);

open_enum!(
    /// A group member's `Role`.
    MemberRole, exact {
        /// Owner.
        Owner = "Owner",
        /// Administrator.
        Admin = "Admin",
        /// Ordinary member.
        Member = "Member",
    }
);

open_enum!(
    /// `ContentCallback.ResultNotify` `Scene`: where the moderated content came from.
    ContentScene, exact {
        /// A C2C message.
        C2c = "C2C",
        /// A C2C custom message.
        C2cCustom = "C2CCustom",
        /// A group message.
        Group = "Group",
        /// A group custom message.
        GroupCustom = "GroupCustom",
        /// Group profile.
        GroupInfo = "GroupInfo",
        /// Group member profile.
        GroupMemberInfo = "GroupMemberInfo",
        /// Relation chain (friend remarks, groups…).
        RelationChain = "RelationChain",
        /// User profile.
        UserInfo = "UserInfo",
    }
);

open_enum!(
    /// `ContentCallback.ResultNotify` `ContentType`.
    ContentType, exact {
        /// Text.
        Text = "Text",
        /// Image.
        Image = "Image",
        /// Audio.
        Audio = "Audio",
        /// Video.
        Video = "Video",
    }
);

open_enum!(
    /// `ContentCallback.ResultNotify` `CtxcbSuggestion`.
    Suggestion, exact {
        /// Blocked.
        Block = "Block",
        /// Needs manual review.
        Review = "Review",
        /// Passed.
        Normal = "Normal",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_and_unknown_values_round_trip() {
        for text in ["Public", "Community", "Work", "Meeting", "AVChatRoom"] {
            let parsed: GroupType = serde_json::from_value(json!(text)).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), json!(text));
        }
        assert_eq!(GroupType::parse("AVChatRoom"), GroupType::AvChatRoom);
        assert_eq!(GroupType::parse("Work"), GroupType::Other("Work".into()));
        // Body enums are case-sensitive: an unusual spelling is kept, not normalized.
        assert_eq!(JoinType::parse("apply"), JoinType::Other("apply".into()));
        assert_eq!(ClientCmd::parse("friend_add"), ClientCmd::FriendAddSnake);
    }

    #[test]
    fn platforms_match_case_insensitively_and_keep_their_spelling() {
        assert_eq!(Platform::parse("IOS"), Platform::Ios);
        assert_eq!(Platform::parse("iOS"), Platform::Ios);
        assert_eq!(Platform::parse("restapi"), Platform::RestApi);
        assert_eq!(
            Platform::parse("Harmony"),
            Platform::Other("Harmony".into())
        );
        let sent: OptPlatform = serde_json::from_value(json!("IOS")).unwrap();
        assert_eq!(sent.platform(), Platform::Ios);
        assert_eq!(serde_json::to_value(&sent).unwrap(), json!("IOS"));
    }
}
