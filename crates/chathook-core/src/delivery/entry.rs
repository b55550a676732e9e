//! A callback into a journal entry and back: its idempotency key, its conversation key (what
//! ordered delivery keeps in order), and the decision a before-callback was answered with.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::handler::{Callback, DecidedBy, Decision, DeliveryAttempt};
use crate::journal::{Claimed, StoredCallback};
use crate::protocol::Answer;

/// The journal's record of a callback: every fact a queued handler's `Callback` has.
pub(crate) fn stored(callback: &Callback, decision: Option<&Decision>) -> StoredCallback {
    StoredCallback {
        sdk_app_id: callback.sdk_app_id(),
        command: callback.command().to_owned(),
        client_ip: callback.client_ip().map(str::to_owned),
        opt_platform: callback.opt_platform().map(str::to_owned),
        request_time: callback.request_time().map(str::to_owned),
        received_at: callback.received_at(),
        body: callback.body().clone(),
        decision: decision.map(encode_decision),
        conversation_key: conversation_key(callback.command(), callback.body()),
        idempotency_key: idempotency_key(
            callback.sdk_app_id(),
            callback.command(),
            callback.body(),
        ),
    }
}

/// The callback a delivery's attempt is called with: as it arrived, with the attempt's facts
/// and, for a before-callback, the decision Chat got.
pub(crate) fn callback_of(claimed: &Claimed, names: &[&'static str]) -> Callback {
    let stored = &claimed.callback;
    let mut callback = Callback::new(
        stored.sdk_app_id,
        stored.command.clone(),
        stored.body.clone(),
    )
    .with_arrival(stored.request_time.clone(), stored.received_at)
    .with_client(stored.client_ip.clone(), stored.opt_platform.clone())
    .attempting(DeliveryAttempt {
        number: claimed.attempt,
        idempotency_key: stored.idempotency_key.clone(),
        delivery_id: claimed.id,
    });
    if let Some(decision) = stored
        .decision
        .as_deref()
        .and_then(|json| decode_decision(json, names))
    {
        callback = callback.decided(decision);
    }
    callback
}

/// The same for the same app, command and body, whatever the attempt or the arrival: 128
/// bits of SHA-256, hex.
pub(crate) fn idempotency_key(sdk_app_id: u64, command: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(sdk_app_id.to_be_bytes());
    hasher.update(command.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex::encode(&hasher.finalize()[..16])
}

/// The conversation a callback belongs to: `group:<GroupId>` for a group command, the pair
/// `c2c:<a>:<b>` (sorted, so both directions are one conversation) for a C2C command, else
/// none (such entries are never held back by ordering).
pub(crate) fn conversation_key(command: &str, body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Keys {
        #[serde(rename = "GroupId")]
        group_id: Option<String>,
        #[serde(rename = "From_Account")]
        from: Option<String>,
        #[serde(rename = "To_Account")]
        to: Option<String>,
    }
    let family = command.split_once('.').map(|(family, _)| family)?;
    if family != "Group" && family != "C2C" {
        return None;
    }
    // Other fields' types are the handler's business: a key not found is no ordering, not
    // an error.
    let keys: Keys = serde_json::from_slice(body).ok()?;
    match family {
        "Group" => keys.group_id.map(|group| format!("group:{group}")),
        _ => {
            let (from, to) = (keys.from?, keys.to?);
            let (a, b) = if from <= to { (from, to) } else { (to, from) };
            Some(format!("c2c:{a}:{b}"))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredDecision {
    reply: Answer,
    /// `handler`, `fallback`, `failed` or `no_decider`.
    by: String,
    handler: Option<String>,
}

fn encode_decision(decision: &Decision) -> String {
    let (by, handler) = match decision.decided_by() {
        DecidedBy::Handler(name) => ("handler", Some(name)),
        DecidedBy::Fallback(name) => ("fallback", Some(name)),
        DecidedBy::Failed(name) => ("failed", Some(name)),
        DecidedBy::NoDecider => ("no_decider", None),
    };
    let stored = StoredDecision {
        reply: decision.reply().clone(),
        by: by.to_owned(),
        handler: handler.map(str::to_owned),
    };
    serde_json::to_string(&stored).expect("a decision serializes")
}

/// The decision as the journal kept it; the deciding handler's name is matched to the
/// linked one (`names`), since a `DecidedBy` holds `&'static` names.
fn decode_decision(json: &str, names: &[&'static str]) -> Option<Decision> {
    let stored: StoredDecision = serde_json::from_str(json).ok()?;
    let name = || {
        let named = stored.handler.as_deref()?;
        Some(
            names
                .iter()
                .copied()
                .find(|name| *name == named)
                .unwrap_or_else(|| Box::leak(named.to_owned().into_boxed_str())),
        )
    };
    let by = match stored.by.as_str() {
        "handler" => DecidedBy::Handler(name()?),
        "fallback" => DecidedBy::Fallback(name()?),
        "failed" => DecidedBy::Failed(name()?),
        _ => DecidedBy::NoDecider,
    };
    Some(Decision::new(stored.reply, by))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idempotency_key_depends_on_app_command_and_body_only() {
        let key = idempotency_key(1, "Group.CallbackAfterSendMsg", b"{}");
        assert_eq!(key.len(), 32);
        assert_eq!(key, idempotency_key(1, "Group.CallbackAfterSendMsg", b"{}"));
        assert_ne!(key, idempotency_key(2, "Group.CallbackAfterSendMsg", b"{}"));
        assert_ne!(
            key,
            idempotency_key(1, "Group.CallbackAfterSendMsg", b"{ }")
        );
    }

    #[test]
    fn a_conversation_is_a_group_or_a_pair_in_either_direction() {
        let group = br#"{"GroupId":"@TGS#1","From_Account":"a"}"#;
        assert_eq!(
            conversation_key("Group.CallbackAfterSendMsg", group).as_deref(),
            Some("group:@TGS#1")
        );
        let there = br#"{"From_Account":"bob","To_Account":"alice"}"#;
        let back = br#"{"From_Account":"alice","To_Account":"bob"}"#;
        assert_eq!(
            conversation_key("C2C.CallbackAfterSendMsg", there),
            conversation_key("C2C.CallbackAfterSendMsg", back)
        );
        assert_eq!(conversation_key("State.StateChange", back), None);
        assert_eq!(
            conversation_key("Group.CallbackAfterSendMsg", br#"{"GroupId":7}"#),
            None
        );
    }

    #[test]
    fn a_decision_comes_back_as_it_was_stored() {
        let decision = Decision::new(Answer::default(), DecidedBy::Handler("filter"));
        let json = encode_decision(&decision);
        let back = decode_decision(&json, &["filter"]).unwrap();
        assert_eq!(back.decided_by(), DecidedBy::Handler("filter"));
        assert_eq!(back.reply(), decision.reply());
    }
}
