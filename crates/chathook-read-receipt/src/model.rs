//! The callback's typed model and the merge rule that makes stored state independent of
//! delivery order and duplicates.

use std::collections::{BTreeMap, BTreeSet};

use chathook_protocol::scalar::Int;
use serde::de;
use serde::{Deserialize, Deserializer, Serialize};

/// `Group.CallbackAfterReadReceipt`, as Chat sends it (protocol.md §4 and §7.2).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ReadReceiptCallback {
    /// The group; required.
    #[serde(rename = "GroupId", deserialize_with = "identifier")]
    pub group_id: String,
    /// Group type (`Public`, `Work`, `Meeting`, `AVChatRoom`, ...): any string within
    /// [`MAX_ID_BYTES`].
    #[serde(rename = "Type", default, deserialize_with = "optional_identifier")]
    pub group_type: Option<String>,
    /// One entry per message the callback reports on. Null or missing is read as empty: the
    /// callback then has nothing to store, which is no reason to refuse (and lose) it.
    #[serde(
        rename = "GroupMsgReceiptList",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub receipts: Vec<MessageReceipt>,
    /// Unix milliseconds; Tencent sends it as a number or as a numeric string.
    #[serde(rename = "EventTime", default, deserialize_with = "optional_integer")]
    pub event_time_ms: Option<i64>,
}

/// One message's receipt within a callback.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MessageReceipt {
    /// The message's sequence number in its group; required.
    #[serde(rename = "MsgSeq", deserialize_with = "integer")]
    pub msg_seq: i64,
    /// How many members have read it, as of this callback.
    #[serde(rename = "ReadNum", default, deserialize_with = "optional_count")]
    pub read_num: Option<i64>,
    /// How many have not, as of this callback.
    #[serde(rename = "UnreadNum", default, deserialize_with = "optional_count")]
    pub unread_num: Option<i64>,
    /// Who read it; absent or empty is fine.
    #[serde(
        rename = "ReadReceiptMembers",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub members: Vec<Member>,
}

/// A member in `ReadReceiptMembers`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// The member's user id.
    #[serde(rename = "Member_Account", deserialize_with = "identifier")]
    pub account: String,
}

/// Which message a state belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MessageKey {
    /// The app.
    pub sdk_app_id: i64,
    /// The group.
    pub group_id: String,
    /// The message.
    pub msg_seq: i64,
}

/// What is known about one message's receipts.
///
/// [`ReceiptState::merge`] is commutative, associative and idempotent, so merging callbacks in
/// any order, any number of times, gives the same state. The SQL upsert applies the same rule.
///
/// Serialized as the read API shows it, fields in this order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReceiptState {
    /// The group's type. A group's type never changes; should two callbacks ever disagree,
    /// the greatest value wins so that the result still does not depend on order.
    pub group_type: Option<String>,
    /// The largest `ReadNum` seen.
    pub read_num: Option<i64>,
    /// The smallest `UnreadNum` seen.
    pub unread_num: Option<i64>,
    /// Every member ever reported as a reader, sorted.
    pub readers: BTreeSet<String>,
    /// The earliest `EventTime` seen.
    pub first_event_time_ms: Option<i64>,
    /// The latest `EventTime` seen.
    pub last_event_time_ms: Option<i64>,
}

impl ReceiptState {
    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: Self) {
        self.group_type = max_option(self.group_type.take(), other.group_type);
        self.read_num = max_option(self.read_num, other.read_num);
        self.unread_num = min_option(self.unread_num, other.unread_num);
        self.first_event_time_ms = min_option(self.first_event_time_ms, other.first_event_time_ms);
        self.last_event_time_ms = max_option(self.last_event_time_ms, other.last_event_time_ms);
        self.readers.extend(other.readers);
    }
}

fn max_option<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_option<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl ReadReceiptCallback {
    /// The callback as per-message states, merged by message (a message listed twice in one
    /// callback counts once).
    pub fn into_states(self, sdk_app_id: i64) -> BTreeMap<MessageKey, ReceiptState> {
        let mut states: BTreeMap<MessageKey, ReceiptState> = BTreeMap::new();
        for receipt in self.receipts {
            let key = MessageKey {
                sdk_app_id,
                group_id: self.group_id.clone(),
                msg_seq: receipt.msg_seq,
            };
            let state = ReceiptState {
                group_type: self.group_type.clone(),
                read_num: receipt.read_num,
                unread_num: receipt.unread_num,
                first_event_time_ms: self.event_time_ms,
                last_event_time_ms: self.event_time_ms,
                readers: receipt.members.into_iter().map(|m| m.account).collect(),
            };
            states.entry(key).or_default().merge(state);
        }
        states
    }
}

// Integers: Tencent sends them as JSON numbers or as numeric strings. Both are read by
// chathook-protocol's lenient `Int`; what this plugin adds is its own rule on top (no
// negative sequence or count), with an error naming the rule, in the field's own path.

fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = Int::deserialize(deserializer)?.value;
    if value < 0 {
        return Err(de::Error::custom(format!(
            "must not be negative, found {value}"
        )));
    }
    Ok(value)
}

fn optional_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Int>::deserialize(deserializer)?.map(|int| int.value))
}

fn optional_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let count = optional_integer(deserializer)?;
    if let Some(negative) = count.filter(|count| *count < 0) {
        return Err(de::Error::custom(format!(
            "a count must not be negative, found {negative}"
        )));
    }
    Ok(count)
}

/// Longest `GroupId`, `Member_Account` and `Type` stored, in bytes. Tencent's own limits are
/// 48 bytes for a custom group id and 32 for a UserID; the margin is for ids Tencent makes up
/// itself, while a bound at all keeps one callback from growing the store by megabytes.
pub const MAX_ID_BYTES: usize = 128;

/// Why `text` cannot be a stored identifier, if it cannot. Checked while parsing, so a bad
/// callback is refused on its own before it joins a group commit it would make fail.
pub fn identifier_problem(text: &str) -> Option<String> {
    if text.len() > MAX_ID_BYTES {
        Some(format!(
            "{} bytes, more than the {MAX_ID_BYTES} allowed",
            text.len()
        ))
    } else if text.contains('\0') {
        // PostgreSQL's TEXT cannot hold it, and no Chat id contains one.
        Some("contains a NUL byte".into())
    } else {
        None
    }
}

fn bounded<E: de::Error>(text: String) -> Result<String, E> {
    match identifier_problem(&text) {
        Some(problem) => Err(E::custom(problem)),
        None => Ok(text),
    }
}

fn identifier<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    bounded(text)
}

fn optional_identifier<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(bounded)
        .transpose()
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chathook_core::{Callback, HandlerError};

    /// The catalogue's sample read receipt.
    fn fixture() -> &'static str {
        chathook_protocol::samples::request_sample(
            chathook_protocol::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT,
        )
        .expect("the catalogue has a read receipt sample")
    }

    fn parse(body: &str) -> Result<ReadReceiptCallback, String> {
        Callback::new(1, "Group.CallbackAfterReadReceipt", body.to_owned())
            .parse()
            .map_err(|error: HandlerError| error.to_string())
    }

    #[test]
    fn the_fixture_parses() {
        let callback = parse(fixture()).unwrap();
        assert!(callback.group_id.starts_with("@TGS#"));
        assert!(!callback.receipts.is_empty());
        assert!(callback.event_time_ms.is_some());
    }

    #[test]
    fn lenient_where_tencent_is_inconsistent() {
        let body = r#"{"GroupId":"g","Type":"SomethingNew","Extra":[1],
            "GroupMsgReceiptList":[{"MsgSeq":"7","ReadNum":1,"UnreadNum":2},
                                   {"MsgSeq":8,"ReadReceiptMembers":[]},
                                   {"MsgSeq":9,"ReadReceiptMembers":null}],
            "EventTime":"1670574414123"}"#;
        let callback = parse(body).unwrap();
        assert_eq!(callback.event_time_ms, Some(1_670_574_414_123));
        assert_eq!(callback.group_type.as_deref(), Some("SomethingNew"));
        assert_eq!(callback.receipts[0].msg_seq, 7);
        assert!(callback.receipts[1].members.is_empty());
        assert!(parse(r#"{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":1}"#).is_ok());
        let body = r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":"1","ReadNum":"3",
            "UnreadNum":null}],"EventTime":null}"#;
        let callback = parse(body).unwrap();
        assert_eq!(
            (
                callback.receipts[0].read_num,
                callback.receipts[0].unread_num
            ),
            (Some(3), None)
        );
        assert_eq!(callback.event_time_ms, None);
        for empty in [
            r#"{"GroupId":"g","GroupMsgReceiptList":null}"#,
            r#"{"GroupId":"g","EventTime":1}"#,
        ] {
            assert!(parse(empty).unwrap().receipts.is_empty(), "{empty}");
        }
    }

    #[test]
    fn strict_where_the_data_would_be_wrong() {
        let cases = [
            (
                r#"{"GroupMsgReceiptList":[]}"#,
                "invalid body: missing field `GroupId`",
            ),
            (
                r#"{"GroupId":"","GroupMsgReceiptList":[]}"#,
                "invalid GroupId: must not be empty",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"ReadNum":1}]}"#,
                "invalid GroupMsgReceiptList[0]: missing field `MsgSeq`",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":"x"}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \"x\", expected a signed integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1.5}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid type: floating point `1.5`, expected a signed integer, as a number or a numeric string",
            ),
            (
                // Numeric strings must be canonical, as chathook-protocol reads them.
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":" 7"}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \" 7\", expected a signed integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":9223372036854775808}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: integer `9223372036854775808`, expected a signed integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":"-3"}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: must not be negative, found -3",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadNum":"-2"}]}"#,
                "invalid GroupMsgReceiptList[0].ReadNum: a count must not be negative, found -2",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1},{"MsgSeq":2,"UnreadNum":-1}]}"#,
                "invalid GroupMsgReceiptList[1].UnreadNum: a count must not be negative, found -1",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadReceiptMembers":[{}]}]}"#,
                "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0]: missing field `Member_Account`",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":"soon"}"#,
                "invalid EventTime: invalid value: string \"soon\", expected a signed integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g\u0000","GroupMsgReceiptList":[]}"#,
                "invalid GroupId: contains a NUL byte",
            ),
            (
                r#"{"GroupId":"g","Type":"P\u0000","GroupMsgReceiptList":[]}"#,
                "invalid Type: contains a NUL byte",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadReceiptMembers":[{"Member_Account":"a\u0000"}]}]}"#,
                "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0].Member_Account: contains a NUL byte",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn ids_are_capped_at_128_bytes() {
        let at_cap = "g".repeat(MAX_ID_BYTES);
        let body =
            format!(r#"{{"GroupId":"{at_cap}","Type":"{at_cap}","GroupMsgReceiptList":[]}}"#);
        assert!(parse(&body).is_ok());
        let over = "é".repeat(MAX_ID_BYTES / 2) + "x";
        let body = format!(r#"{{"GroupId":"{over}","GroupMsgReceiptList":[]}}"#);
        assert_eq!(
            parse(&body).unwrap_err(),
            "invalid GroupId: 129 bytes, more than the 128 allowed"
        );
    }

    fn state(read: i64, unread: i64, time: i64, readers: &[&str]) -> ReceiptState {
        ReceiptState {
            group_type: Some("Public".into()),
            read_num: Some(read),
            unread_num: Some(unread),
            first_event_time_ms: Some(time),
            last_event_time_ms: Some(time),
            readers: readers.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn merge_is_order_independent_and_idempotent() {
        let a = state(1, 5, 100, &["alice"]);
        let b = state(3, 3, 300, &["bob", "carol"]);
        let c = state(2, 4, 200, &["alice", "dave"]);
        let fold = |parts: &[&ReceiptState]| {
            let mut merged = ReceiptState::default();
            for part in parts {
                merged.merge((*part).clone());
            }
            merged
        };
        let expected = fold(&[&a, &b, &c]);
        assert_eq!(fold(&[&c, &b, &a]), expected);
        assert_eq!(fold(&[&b, &a, &c, &a, &b]), expected);
        assert_eq!(expected.read_num, Some(3));
        assert_eq!(expected.unread_num, Some(3));
        assert_eq!(expected.first_event_time_ms, Some(100));
        assert_eq!(expected.last_event_time_ms, Some(300));
        assert_eq!(expected.readers.len(), 4);
        // Absent values never erase known ones.
        let mut partial = expected.clone();
        partial.merge(ReceiptState::default());
        assert_eq!(partial, expected);
    }
}
