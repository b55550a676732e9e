//! Properties of reading and merging a read receipt, shared by the `read_receipt` target in
//! `tests/fuzz` and the regression test below. Not part of the API.

use std::collections::BTreeMap;

use chathook_core::Callback;
use chathook_core::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT as COMMAND;
use chathook_protocol::Request;
use chathook_protocol::request::GroupCallbackAfterReadReceipt;

use crate::model::{MAX_ID_BYTES, MessageKey, ReceiptState, Receipts};

/// The app the states are keyed under.
const SDK_APP_ID: i64 = 1_400_000_000;
/// Pairs of states checked for commutativity, at most.
const PAIRS: usize = 8;

/// Target `read_receipt`: the input is a callback body.
///
/// Parsing never panics, and the handler's path ([`Callback::parse`]) accepts exactly what
/// `serde_json` does, and reads what chathook-protocol's [`Request::parse`] reads wherever
/// both accept; what the store's limits let through ([`Receipts::try_from`]) keeps their
/// promises (non-empty ids within [`MAX_ID_BYTES`], no NUL, one state per distinct message);
/// and the merge is order-independent: the receipts in any order, one at a time forwards or
/// backwards, or the whole callback merged twice, give the same states, and any two states
/// merge the same either way round.
pub fn read_receipt(data: &[u8]) {
    let direct = serde_json::from_slice::<GroupCallbackAfterReadReceipt>(data);
    let via_handler =
        Callback::new(1, COMMAND, data.to_vec()).parse::<GroupCallbackAfterReadReceipt>();
    assert_eq!(
        direct.as_ref().ok(),
        via_handler.as_ref().ok(),
        "Callback::parse and serde_json disagree on {:?}",
        String::from_utf8_lossy(data)
    );
    let Ok(typed) = direct else {
        return;
    };
    if let Ok(Request::GroupCallbackAfterReadReceipt(request)) = Request::parse(COMMAND, data) {
        assert_eq!(request, typed, "Request::parse reads another body");
    }
    let Ok(receipts) = Receipts::try_from(typed.clone()) else {
        return;
    };
    let stored = |id: &str| !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.contains('\0');
    assert!(stored(&receipts.group_id));
    for state in receipts.by_message.values() {
        assert!(state.readers.iter().all(|reader| stored(reader)));
        assert!(
            state
                .group_type
                .as_deref()
                .is_none_or(|t| t.len() <= MAX_ID_BYTES)
        );
    }
    let mut seqs: Vec<u64> = typed.receipts().iter().map(|r| r.msg_seq.value).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let states = receipts.into_states(SDK_APP_ID);
    let keys: Vec<u64> = states
        .keys()
        .inspect(|key| {
            assert_eq!(key.sdk_app_id, SDK_APP_ID);
            assert_eq!(key.group_id, typed.group_id);
        })
        .map(|key| u64::try_from(key.msg_seq).expect("stored sequences are not negative"))
        .collect();
    assert_eq!(keys, seqs);
    merging_is_order_independent(&typed, &states);
}

/// The states of `typed`'s receipts in other orders, one by one, and twice, are `states`.
fn merging_is_order_independent(
    typed: &GroupCallbackAfterReadReceipt,
    states: &BTreeMap<MessageKey, ReceiptState>,
) {
    let with_receipts = |receipts: Vec<_>| {
        let mut callback = typed.clone();
        callback.group_msg_receipt_list = Some(receipts);
        Receipts::try_from(callback)
            .expect("a part of a storable callback is storable")
            .into_states(SDK_APP_ID)
    };
    let receipts = typed.receipts().to_vec();
    let mut reversed = receipts.clone();
    reversed.reverse();
    assert_eq!(&with_receipts(reversed), states, "reversed");
    if receipts.len() > 2 {
        let mut rotated = receipts.clone();
        rotated.rotate_left(1);
        assert_eq!(&with_receipts(rotated), states, "rotated");
    }

    // One single-receipt callback per receipt, merged forwards and backwards.
    let singles: Vec<(MessageKey, ReceiptState)> = receipts
        .iter()
        .flat_map(|receipt| with_receipts(vec![receipt.clone()]))
        .collect();
    assert_eq!(&fold(singles.iter().cloned()), states, "forwards");
    assert_eq!(&fold(singles.iter().rev().cloned()), states, "backwards");

    // Delivered twice: nothing changes.
    let twice = fold(states.clone().into_iter().chain(states.clone()));
    assert_eq!(&twice, states, "idempotent");

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
