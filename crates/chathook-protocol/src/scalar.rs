//! Lenient scalars shared by every model.
//!
//! Tencent documents most integers as Integer but prints some of them as strings in its
//! samples (`"EventTime":"1670574414123"` on most group pages, a bare number on newer ones),
//! and CallKit/RoomKit samples print a boolean as `"false"`. A receiver must accept both.
//!
//! Round trip: each scalar remembers the JSON form it arrived in ([`Form`]) and serializes
//! back in that form, so parsing and re-serializing a body yields the same JSON value.
//! Values built in code (`From<i64>`, `From<u64>`, `From<bool>`) serialize as JSON numbers
//! and booleans. A numeric string must be canonical decimal (`"42"`, `"-1"`; not `"042"`,
//! `"+4"` or `" 4"`): that keeps the round trip exact, and Tencent never sends other shapes.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The JSON form a lenient scalar arrived in, and the form it is written back in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Form {
    /// A JSON number (or boolean): the documented type.
    #[default]
    Native,
    /// A JSON string holding the value (`"1670574414123"`, `"false"`).
    String,
}

macro_rules! lenient_integer {
    ($(#[$doc:meta])* $name:ident, $int:ty, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            /// The value.
            pub value: $int,
            /// How it was written on the wire.
            pub form: Form,
        }

        impl $name {
            /// A value written as a JSON number.
            pub const fn new(value: $int) -> Self {
                Self { value, form: Form::Native }
            }
        }

        impl From<$int> for $name {
            fn from(value: $int) -> Self {
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.value.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.form {
                    Form::Native => self.value.serialize(serializer),
                    Form::String => serializer.collect_str(&self.value),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct LenientVisitor;

                impl Visitor<'_> for LenientVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        <$int>::try_from(v)
                            .map($name::new)
                            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                    }

                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        <$int>::try_from(v)
                            .map($name::new)
                            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
                    }

                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        match v.parse::<$int>() {
                            // Only the canonical spelling, so that it serializes back unchanged.
                            Ok(value) if value.to_string() == v => {
                                Ok($name { value, form: Form::String })
                            }
                            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                        }
                    }
                }

                deserializer.deserialize_any(LenientVisitor)
            }
        }
    };
}

lenient_integer!(
    /// A signed integer sent as a JSON number or a numeric string.
    Int,
    i64,
    "a signed integer, as a number or a numeric string"
);
lenient_integer!(
    /// An unsigned integer sent as a JSON number or a numeric string.
    UInt,
    u64,
    "an unsigned integer, as a number or a numeric string"
);

/// `EventTime` of every command except `Push.*`: Unix time in **milliseconds**.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventTime(pub UInt);

impl EventTime {
    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> u64 {
        self.0.value
    }
}

/// `EventTime` inside a `Push.*` event: Unix time in **seconds** (unlike [`EventTime`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PushEventTime(pub UInt);

impl PushEventTime {
    /// Seconds since the Unix epoch.
    pub const fn seconds(self) -> u64 {
        self.0.value
    }
}

/// `UnreadMsgNum`: the receiver's unread count, or -1 when delivery failed
/// (`C2C.CallbackAfterSendMsg` with `SendMsgResult` ≠ 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnreadMsgNum(pub Int);

impl UnreadMsgNum {
    /// The count, or `None` for the "unknown" value -1 (and any other negative number).
    pub fn count(self) -> Option<u64> {
        u64::try_from(self.0.value).ok()
    }
}

/// A profile item's `Value` (`Profile.CallbackPortraitSet`): a uint32 or a string
/// depending on the tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ProfileValue {
    /// A numeric tag value (gender, birthday, level…).
    Number(u64),
    /// A text tag value (nickname, custom data…).
    Text(String),
}

/// An identifier documented as a string that some samples print as a number
/// (CallKit `User_Account`, RoomKit `Member_Account`). Kept in the form it came in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum TextOrNumber {
    /// The documented form.
    Text(String),
    /// A number where a string was documented.
    Number(serde_json::Number),
}

impl TextOrNumber {
    /// The identifier as text (a number in its decimal spelling).
    pub fn to_text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
        }
    }
}

/// A boolean sent as `true`/`false` or as the strings `"true"`/`"false"` (the
/// `Room.CallbackAfterUpdateRoomInfo` sample writes `"IsCloudRecordingDisabled": "false"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bool {
    /// The value.
    pub value: bool,
    /// How it was written on the wire.
    pub form: Form,
}

impl From<bool> for Bool {
    fn from(value: bool) -> Self {
        Self {
            value,
            form: Form::Native,
        }
    }
}

impl Serialize for Bool {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.form {
            Form::Native => serializer.serialize_bool(self.value),
            Form::String => serializer.serialize_str(if self.value { "true" } else { "false" }),
        }
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolVisitor;

        impl Visitor<'_> for BoolVisitor {
            type Value = Bool;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, or the string \"true\" or \"false\"")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool::from(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool, E> {
                let value = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                };
                Ok(Bool {
                    value,
                    form: Form::String,
                })
            }
        }

        deserializer.deserialize_any(BoolVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(input: Value) -> (T, Value) {
        let parsed: T = serde_json::from_value(input).unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        (parsed, back)
    }

    #[test]
    fn integers_accept_numbers_and_numeric_strings_and_keep_their_form() {
        for input in [json!(1670574414123_u64), json!("1670574414123")] {
            let (time, back): (EventTime, _) = round_trip(input.clone());
            assert_eq!(time.millis(), 1_670_574_414_123);
            assert_eq!(back, input);
        }
        let (unread, back): (UnreadMsgNum, _) = round_trip(json!(-1));
        assert_eq!((unread.count(), back), (None, json!(-1)));
        let (unread, _): (UnreadMsgNum, _) = round_trip(json!("7"));
        assert_eq!(unread.count(), Some(7));
    }

    #[test]
    fn integers_refuse_what_is_not_an_integer() {
        for bad in [
            json!("12a"),
            json!("042"),
            json!(" 4"),
            json!(1.5),
            json!(null),
            json!(-1),
        ] {
            assert!(
                serde_json::from_value::<UInt>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_value::<Int>(json!("9223372036854775808")).is_err());
        assert_eq!(
            serde_json::from_value::<Int>(json!("-5")).unwrap().value,
            -5
        );
    }

    #[test]
    fn booleans_and_profile_values() {
        for input in [json!(false), json!("false"), json!("true"), json!(true)] {
            let (parsed, back): (Bool, _) = round_trip(input.clone());
            assert_eq!(back, input);
            assert_eq!(parsed.value, input == json!(true) || input == json!("true"));
        }
        assert!(serde_json::from_value::<Bool>(json!("no")).is_err());
        let (value, back): (ProfileValue, _) = round_trip(json!(1));
        assert_eq!((value, back), (ProfileValue::Number(1), json!(1)));
        let (value, _): (ProfileValue, _) = round_trip(json!("nick"));
        assert_eq!(value, ProfileValue::Text("nick".into()));
    }
}
