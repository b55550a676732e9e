//! Properties of the typed model, shared by the `read_receipt` target in
//! `tests/fuzz` and the regression test below. Not part of the API.

use std::collections::BTreeMap;

use chathook_core::Callback;
use chathook_protocol::Request;

use crate::model::{MessageKey, ReadReceiptCallback, ReceiptState};
use chathook_core::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT as COMMAND;

/// The app the states are keyed under.
const SDK_APP_ID: i64 = 1_400_000_000;
/// Pairs of states checked for commutativity, at most.
const PAIRS: usize = 8;

/// Target `read_receipt`: the input is a callback body.
///
/// Parsing never panics, and the handler's path ([`Callback::parse`]) accepts exactly what
/// `serde_json` does; a parsed callback keeps the model's promises (non-empty ids, no negative
/// sequence or count), read as chathook-protocol's typed model reads them where that model
/// accepts the body too; [`ReadReceiptCallback::into_states`] never panics and gives one state
/// per distinct message; and the merge is order-independent: the receipts in any order, one
/// state at a time forwards or backwards, or the whole callback merged twice, give the same
/// states, and any two states merge the same either way round.
pub fn read_receipt(data: &[u8]) {
    let direct = serde_json::from_slice::<ReadReceiptCallback>(data);
    let via_handler = Callback::new(1, COMMAND, data.to_vec()).parse::<ReadReceiptCallback>();
    assert_eq!(
        direct.as_ref().ok(),
        via_handler.as_ref().ok(),
        "Callback::parse and serde_json disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    let Ok(callback) = direct else {
        return;
    };
    assert!(!callback.group_id.is_empty());
    for receipt in &callback.receipts {
        assert!(receipt.msg_seq >= 0);
        assert!(receipt.read_num.is_none_or(|n| n >= 0));
        assert!(receipt.unread_num.is_none_or(|n| n >= 0));
        assert!(receipt.members.iter().all(|m| !m.account.is_empty()));
    }

    agrees_with_chathook_protocol(data, &callback);

    let states = callback.clone().into_states(SDK_APP_ID);
    let mut seqs: Vec<i64> = callback.receipts.iter().map(|r| r.msg_seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let keys: Vec<i64> = states
        .keys()
        .inspect(|key| {
            assert_eq!(key.sdk_app_id, SDK_APP_ID);
            assert_eq!(key.group_id, callback.group_id);
        })
        .map(|key| key.msg_seq)
        .collect();
    assert_eq!(keys, seqs);

    // The same receipts in other orders.
    let mut reversed = callback.clone();
    reversed.receipts.reverse();
    assert_eq!(reversed.into_states(SDK_APP_ID), states, "reversed");
    if callback.receipts.len() > 2 {
        let mut rotated = callback.clone();
        rotated.receipts.rotate_left(1);
        assert_eq!(rotated.into_states(SDK_APP_ID), states, "rotated");
    }

    // One single-receipt callback per receipt, merged forwards and backwards.
    let singles: Vec<(MessageKey, ReceiptState)> = callback
        .receipts
        .iter()
        .flat_map(|receipt| {
            ReadReceiptCallback {
                receipts: vec![receipt.clone()],
                ..callback.clone()
            }
            .into_states(SDK_APP_ID)
        })
        .collect();
    assert_eq!(fold(singles.iter().cloned()), states, "forwards");
    assert_eq!(fold(singles.iter().rev().cloned()), states, "backwards");

    // Delivered twice: nothing changes.
    let twice = fold(states.clone().into_iter().chain(states.clone()));
    assert_eq!(twice, states, "idempotent");

    for (i, (_, a)) in singles.iter().enumerate().take(PAIRS) {
        for (_, b) in singles.iter().skip(i).take(PAIRS) {
            let mut ab = a.clone();
            ab.merge(b.clone());
            let mut ba = b.clone();
            ba.merge(a.clone());
            assert_eq!(ab, ba, "commutative");
        }
    }
}

/// Where chathook-protocol's typed `Group.CallbackAfterReadReceipt` reads the body too, the
/// plugin's model reads the same values: both take integers with chathook-protocol's lenient
/// scalars; the plugin only adds its own rules (and defaults for what it does not require).
fn agrees_with_chathook_protocol(data: &[u8], callback: &ReadReceiptCallback) {
    let Ok(Request::GroupCallbackAfterReadReceipt(typed)) = Request::parse(COMMAND, data) else {
        return;
    };
    assert_eq!(callback.group_id, typed.group_id);
    let group_type = serde_json::to_value(&typed.group_type).expect("a type serializes");
    assert_eq!(callback.group_type.as_deref(), group_type.as_str());
    assert_eq!(
        callback.event_time_ms.map(i128::from),
        typed.event_time.map(|time| i128::from(time.millis()))
    );
    assert_eq!(callback.receipts.len(), typed.group_msg_receipt_list.len());
    for (ours, theirs) in callback.receipts.iter().zip(&typed.group_msg_receipt_list) {
        assert_eq!(i128::from(ours.msg_seq), i128::from(theirs.msg_seq.value));
        assert_eq!(
            ours.read_num.map(i128::from),
            Some(i128::from(theirs.read_num.value))
        );
        assert_eq!(
            ours.unread_num.map(i128::from),
            Some(i128::from(theirs.unread_num.value))
        );
        let accounts: Vec<&str> = theirs
            .read_receipt_members
            .iter()
            .flatten()
            .map(|member| member.account.as_str())
            .collect();
        let ours: Vec<&str> = ours.members.iter().map(|m| m.account.as_str()).collect();
        assert_eq!(ours, accounts);
    }
}

fn fold(
    states: impl IntoIterator<Item = (MessageKey, ReceiptState)>,
) -> BTreeMap<MessageKey, ReceiptState> {
    let mut merged: BTreeMap<MessageKey, ReceiptState> = BTreeMap::new();
    for (key, state) in states {
        merged.entry(key).or_default().merge(state);
    }
    merged
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_receipt_seeds_and_regressions_hold() {
        chathook_core::fuzzing::replay(
            env!("CARGO_MANIFEST_DIR"),
            "read_receipt",
            super::read_receipt,
        );
    }
}
