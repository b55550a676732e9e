//! What the store keeps of a read receipt: the callback (chathook-protocol's typed
//! `Group.CallbackAfterReadReceipt`) checked against the store's own limits, and the merge
//! rule that makes stored state independent of delivery order and duplicates.
//!
//! The wire is chathook-protocol's: what Tencent may send, and may leave out, is decided
//! there once for every handler. What this plugin adds is only what a database row can
//! hold: ids within [`MAX_ID_BYTES`] and without NUL bytes, numbers within `BIGINT`.

use std::collections::{BTreeMap, BTreeSet};

use chathook_protocol::request::{GroupCallbackAfterReadReceipt, GroupMsgReceipt};
use chathook_protocol::scalar::UInt;
use serde::Serialize;

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
        // `Option`'s order puts `None` first, so `max` keeps any value over none.
        self.group_type = self.group_type.take().max(other.group_type);
        self.read_num = self.read_num.max(other.read_num);
        self.unread_num = min_known(self.unread_num, other.unread_num);
        self.first_event_time_ms = min_known(self.first_event_time_ms, other.first_event_time_ms);
        self.last_event_time_ms = self.last_event_time_ms.max(other.last_event_time_ms);
        self.readers.extend(other.readers);
    }
}

/// The smaller of two values where either is known; unlike `Option::min`, a `None` never wins.
fn min_known<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Longest `GroupId`, `Member_Account` and `Type` stored, in bytes. Tencent's own limits are
/// 48 bytes for a custom group id and 32 for a UserID; the margin is for ids Tencent makes up
/// itself, while a bound at all keeps one callback from growing the store by megabytes.
pub const MAX_ID_BYTES: usize = 128;

/// Why `text` cannot be a stored identifier, if it cannot. Checked before a callback joins a
/// group commit, so that a bad callback is refused on its own instead of failing the batch.
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

/// A field of a read receipt callback the store cannot hold, and why: shown to the caller
/// as the 400's `ErrorInfo`, in the words of a parse error (`invalid <path>: <why>`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {problem}")]
pub struct Unstorable {
    /// The field's path in the body, e.g. `GroupMsgReceiptList[0].MsgSeq`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Unstorable {
    /// The refusal of top-level `field`, for `map_err`.
    fn at(field: &'static str) -> impl FnOnce(String) -> Self {
        move |problem| Self {
            field: field.to_owned(),
            problem,
        }
    }
}

/// A read receipt callback as the store holds it: one state per message (a message listed
/// twice in one callback counts once), keyed by `MsgSeq`, every id and number checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipts {
    /// The group.
    pub group_id: String,
    /// Each message's state, by `MsgSeq`.
    pub by_message: BTreeMap<i64, ReceiptState>,
}

impl TryFrom<GroupCallbackAfterReadReceipt> for Receipts {
    type Error = Unstorable;

    fn try_from(callback: GroupCallbackAfterReadReceipt) -> Result<Self, Unstorable> {
        let group_id = identifier(callback.group_id).map_err(Unstorable::at("GroupId"))?;
        let group_type = callback
            .group_type
            // The wire spelling, as Chat sent it: the model keeps unknown types too.
            .map(|group_type| bounded(group_type.as_str().to_owned()))
            .transpose()
            .map_err(Unstorable::at("Type"))?;
        let event_time_ms = callback
            .event_time
            .map(|time| big_int(time.0))
            .transpose()
            .map_err(Unstorable::at("EventTime"))?;
        let mut by_message: BTreeMap<i64, ReceiptState> = BTreeMap::new();
        for (index, receipt) in callback
            .group_msg_receipt_list
            .into_iter()
            .flatten()
            .enumerate()
        {
            let (msg_seq, state) = message_state(receipt, &group_type, event_time_ms).map_err(
                |(field, problem)| Unstorable {
                    field: format!("GroupMsgReceiptList[{index}].{field}"),
                    problem,
                },
            )?;
            by_message.entry(msg_seq).or_default().merge(state);
        }
        Ok(Self {
            group_id,
            by_message,
        })
    }
}

/// One receipt of the list as its message's state, or the field (its path within the
/// receipt) that the store cannot hold and why. Paths are only written for a refusal: this
/// runs for every receipt of every callback.
fn message_state(
    receipt: GroupMsgReceipt,
    group_type: &Option<String>,
    event_time_ms: Option<i64>,
) -> Result<(i64, ReceiptState), (String, String)> {
    let field = |name: &'static str| move |problem| (name.to_owned(), problem);
    let msg_seq = big_int(receipt.msg_seq).map_err(field("MsgSeq"))?;
    let read_num = receipt
        .read_num
        .map(big_int)
        .transpose()
        .map_err(field("ReadNum"))?;
    let unread_num = (receipt.unread_num.map(big_int).transpose()).map_err(field("UnreadNum"))?;
    let readers = receipt
        .read_receipt_members
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(member, reader)| {
            identifier(reader.account).map_err(|problem| {
                let path = format!("ReadReceiptMembers[{member}].Member_Account");
                (path, problem)
            })
        })
        .collect::<Result<BTreeSet<String>, _>>()?;
    let state = ReceiptState {
        group_type: group_type.clone(),
        read_num,
        unread_num,
        readers,
        first_event_time_ms: event_time_ms,
        last_event_time_ms: event_time_ms,
    };
    Ok((msg_seq, state))
}

impl Receipts {
    /// Whether the callback reported on no message at all.
    pub fn is_empty(&self) -> bool {
        self.by_message.is_empty()
    }

    /// The states keyed by message, under app `sdk_app_id`.
    pub fn into_states(self, sdk_app_id: i64) -> BTreeMap<MessageKey, ReceiptState> {
        let group_id = self.group_id;
        self.by_message
            .into_iter()
            .map(|(msg_seq, state)| {
                let key = MessageKey {
                    sdk_app_id,
                    group_id: group_id.clone(),
                    msg_seq,
                };
                (key, state)
            })
            .collect()
    }
}

/// A number the store's `BIGINT` columns hold, or why not.
fn big_int(number: UInt) -> Result<i64, String> {
    i64::try_from(number.value)
        .map_err(|_| format!("{} is more than the {} stored", number.value, i64::MAX))
}

/// A required id: not empty, and storable; or why not.
fn identifier(text: String) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    bounded(text)
}

/// An id the store can hold, or why not.
fn bounded(text: String) -> Result<String, String> {
    match identifier_problem(&text) {
        Some(problem) => Err(problem),
        None => Ok(text),
    }
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

    /// The body as the handler reads it: the typed model, then the store's limits.
    fn parse(body: &str) -> Result<Receipts, String> {
        let typed: GroupCallbackAfterReadReceipt =
            Callback::new(1, "Group.CallbackAfterReadReceipt", body.to_owned())
                .parse()
                .map_err(|error: HandlerError| error.to_string())?;
        Receipts::try_from(typed).map_err(|error| error.to_string())
    }

    #[test]
    fn the_fixture_parses() {
        let callback = parse(fixture()).unwrap();
        assert!(callback.group_id.starts_with("@TGS#"));
        assert!(!callback.is_empty());
        let state = callback.by_message.values().next().unwrap();
        assert!(state.first_event_time_ms.is_some());
    }

    #[test]
    fn lenient_where_tencent_is_inconsistent() {
        let body = r#"{"GroupId":"g","Type":"SomethingNew","Extra":[1],
            "GroupMsgReceiptList":[{"MsgSeq":"7","ReadNum":1,"UnreadNum":2},
                                   {"MsgSeq":8,"ReadReceiptMembers":[]},
                                   {"MsgSeq":9,"ReadReceiptMembers":null}],
            "EventTime":"1670574414123"}"#;
        let callback = parse(body).unwrap();
        let seven = &callback.by_message[&7];
        assert_eq!(seven.first_event_time_ms, Some(1_670_574_414_123));
        assert_eq!(seven.group_type.as_deref(), Some("SomethingNew"));
        assert_eq!((seven.read_num, seven.unread_num), (Some(1), Some(2)));
        assert!(callback.by_message[&8].readers.is_empty());
        assert!(callback.by_message[&9].readers.is_empty());
        assert!(parse(r#"{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":1}"#).is_ok());
        let body = r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":"1","ReadNum":"3",
            "UnreadNum":null}],"EventTime":null}"#;
        let one = &parse(body).unwrap().by_message[&1];
        assert_eq!((one.read_num, one.unread_num), (Some(3), None));
        assert_eq!(one.first_event_time_ms, None);
        for empty in [
            r#"{"GroupId":"g","GroupMsgReceiptList":null}"#,
            r#"{"GroupId":"g","EventTime":1}"#,
        ] {
            assert!(parse(empty).unwrap().is_empty(), "{empty}");
        }
    }

    /// Audit protocol-3, D4: chathook-protocol's typed model and this plugin agree on what
    /// Tencent may leave out, so every handler of the same delivery reads it alike.
    #[test]
    fn the_shared_typed_model_accepts_what_the_plugin_stores() {
        use chathook_protocol::{Request, commands};
        for body in [
            r#"{"GroupId":"g","Type":"Public","GroupMsgReceiptList":null}"#,
            r#"{"GroupId":"g","Type":"Public","GroupMsgReceiptList":[{"MsgSeq":1}]}"#,
            r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadNum":2}]}"#,
            r#"{"GroupId":"g"}"#,
        ] {
            let Ok(Request::GroupCallbackAfterReadReceipt(typed)) =
                Request::parse(commands::GROUP_CALLBACK_AFTER_READ_RECEIPT, body.as_bytes())
            else {
                panic!("the typed model refuses {body}");
            };
            let stored = parse(body).unwrap();
            assert_eq!(stored, Receipts::try_from(typed).unwrap(), "{body}");
            let raw: serde_json::Value = serde_json::from_str(body).unwrap();
            if raw["GroupMsgReceiptList"].is_null() {
                continue; // `null` is written back as absent (audit D5).
            }
            let typed =
                Request::parse(commands::GROUP_CALLBACK_AFTER_READ_RECEIPT, body.as_bytes());
            assert_eq!(typed.unwrap().to_value(), raw, "round trip of {body}");
        }
        let counted = parse(r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1}]}"#).unwrap();
        assert_eq!(counted.by_message[&1], ReceiptState::default());
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
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \"x\", expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1.5}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid type: floating point `1.5`, expected an unsigned integer, as a number or a numeric string",
            ),
            (
                // Numeric strings must be canonical, as chathook-protocol reads them.
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":" 7"}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \" 7\", expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":9223372036854775808}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: 9223372036854775808 is more than the 9223372036854775807 stored",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":"-3"}]}"#,
                "invalid GroupMsgReceiptList[0].MsgSeq: invalid value: string \"-3\", expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadNum":"-2"}]}"#,
                "invalid GroupMsgReceiptList[0].ReadNum: invalid value: string \"-2\", expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1},{"MsgSeq":2,"UnreadNum":-1}]}"#,
                "invalid GroupMsgReceiptList[1].UnreadNum: invalid value: integer `-1`, expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadReceiptMembers":[{}]}]}"#,
                "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0]: missing field `Member_Account`",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":"soon"}"#,
                "invalid EventTime: invalid value: string \"soon\", expected an unsigned integer, as a number or a numeric string",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"UnreadNum":"18446744073709551615"}]}"#,
                "invalid GroupMsgReceiptList[0].UnreadNum: 18446744073709551615 is more than the 9223372036854775807 stored",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[],"EventTime":9223372036854775808}"#,
                "invalid EventTime: 9223372036854775808 is more than the 9223372036854775807 stored",
            ),
            (
                r#"{"GroupId":"g","GroupMsgReceiptList":[{"MsgSeq":1,"ReadReceiptMembers":[{"Member_Account":""}]}]}"#,
                "invalid GroupMsgReceiptList[0].ReadReceiptMembers[0].Member_Account: must not be empty",
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
