//! Properties of the filter, shared by the `keyword_filter` target in `tests/fuzz`
//! and the regression test below. Not part of the API.

use chathook_core::Reply;
use chathook_protocol::MsgElem;
use serde_json::Value;

use crate::{
    Action, BeforeSendMsg, C2C_COMMAND, GROUP_COMMAND, KeywordFilter, KeywordFilterConfig,
};

/// Banned words when the input names none.
const DEFAULT_WORDS: [&str; 2] = ["spam", "坏话"];
const GROUP_CODE: u32 = 10_150;
const C2C_CODE: u32 = 125_000;

/// Target `keyword_filter`. The input is the banned words separated by `|`, a newline, then
/// a `C2C`/`Group.CallbackBeforeSendMsg` body; an input without a newline is all body, with
/// the default words.
///
/// Parsing [`BeforeSendMsg`] and deciding never panic. Every occurrence of a banned word in a
/// text element, as written or in other ASCII case, is caught: `reject` answers the command's
/// code, `discard` answers 2, and `mask` returns the body with the same elements, each text
/// the same length with those occurrences (at least) turned into `*` and every other character
/// either kept or `*`, and every other element exactly as sent. A message with no banned word
/// passes unchanged.
pub fn keyword_filter(data: &[u8]) {
    let (words, body) = words_and_body(data);
    let Some((message, sent)) = message_and_elements(body) else {
        return;
    };
    let filter = |action| {
        KeywordFilter::new(KeywordFilterConfig {
            banned_words: words.clone(),
            action,
            group_error_code: GROUP_CODE,
            c2c_error_code: C2C_CODE,
            reason: "banned".into(),
        })
    };
    let Ok(reject) = filter(Action::Reject) else {
        assert!(words.iter().any(|word| word.trim().is_empty()));
        return;
    };
    // Each decision on a copy of the message; the codes were checked when the filter was built.
    let decide = |filter: &KeywordFilter, command| {
        let copy = BeforeSendMsg {
            msg_body: message.msg_body.clone(),
        };
        filter
            .decide(command, copy)
            .expect("codes checked at build")
    };

    // Where each text element must be masked (char indices), by the plain reading.
    let texts: Vec<Option<&str>> = message.msg_body.iter().map(text_of).collect();
    let must_mask: Vec<Vec<bool>> = texts
        .iter()
        .map(|text| text.map_or_else(Vec::new, |text| occurrences(text, &words)))
        .collect();
    let caught = must_mask.iter().flatten().any(|hide| *hide);

    for (command, code) in [(GROUP_COMMAND, GROUP_CODE), (C2C_COMMAND, C2C_CODE)] {
        let reply = decide(&reject, command);
        if caught {
            assert_eq!(reply.error_code(), code, "{words:?} in {texts:?}");
        } else if reply != Reply::ok() {
            // Caught by the filter's Unicode case folding, which the plain reading skips.
            assert_eq!(reply.error_code(), code);
        }
    }
    let discard = filter(Action::Discard).expect("the same config");
    let reply = decide(&discard, GROUP_COMMAND);
    if caught {
        assert_eq!(reply.error_code(), Reply::DISCARD, "{words:?} in {texts:?}");
    }

    let mask = filter(Action::Mask).expect("the same config");
    let reply = decide(&mask, GROUP_COMMAND);
    assert_eq!(reply.error_code(), 0);
    let Some(masked) = reply.fields().get("MsgBody") else {
        assert!(!caught, "{words:?} in {texts:?} not masked");
        assert_eq!(reply, Reply::ok());
        return;
    };
    let masked = masked.as_array().expect("MsgBody is an array");
    assert_eq!(masked.len(), message.msg_body.len());
    for (((element, before), after), hide) in message
        .msg_body
        .iter()
        .zip(&sent)
        .zip(masked)
        .zip(&must_mask)
    {
        check_masked_element(element, before, after, hide, &words);
    }
}

/// The message as the filter reads it, and its elements as sent, which a masked body must keep
/// but for the masked words; `None` for a body the filter never sees.
fn message_and_elements(body: &[u8]) -> Option<(BeforeSendMsg, Vec<Value>)> {
    let message = serde_json::from_slice::<BeforeSendMsg>(body).ok()?;
    // JSON that serde_json::Value cannot hold (a lone surrogate escape in a field the model
    // skips) has no copy to compare with (found by fuzzing).
    let mut sent = serde_json::from_slice::<Value>(body).ok()?;
    // serde reads a struct from an array too (`[[]]`); chathook refuses a body that is not an
    // object before any handler sees it (found by fuzzing).
    if !sent.is_object() {
        return None;
    }
    let Value::Array(elements) = sent["MsgBody"].take() else {
        panic!("MsgBody is an array");
    };
    assert_eq!(elements.len(), message.msg_body.len());
    Some((message, elements))
}

/// One element of a masked body against the element as sent: a non-text element unchanged;
/// a text element of the same length, with every char of `hide` turned into `*` and every
/// other kept or `*`, and nothing else about it changed.
fn check_masked_element(
    element: &MsgElem,
    before: &Value,
    after: &Value,
    hide: &[bool],
    words: &[String],
) {
    let Some(text) = text_of(element) else {
        assert_eq!(before, after, "a non-text element changed");
        return;
    };
    let new_text = after["MsgContent"]["Text"]
        .as_str()
        .expect("a text element stays text");
    let mut rest_before = before.clone();
    let mut rest_after = after.clone();
    rest_before["MsgContent"]["Text"] = Value::Null;
    rest_after["MsgContent"]["Text"] = Value::Null;
    assert_eq!(rest_before, rest_after, "only the text may change");
    let old: Vec<char> = text.chars().collect();
    let new: Vec<char> = new_text.chars().collect();
    assert_eq!(old.len(), new.len(), "{text:?} masked as {new_text:?}");
    for (i, (o, n)) in old.iter().zip(&new).enumerate() {
        assert!(*n == '*' || n == o, "{text:?} masked as {new_text:?}");
        if hide[i] {
            assert_eq!(*n, '*', "{words:?} left in {new_text:?}");
        }
    }
}

/// The banned words and the body of a fuzz input.
fn words_and_body(data: &[u8]) -> (Vec<String>, &[u8]) {
    match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (
            String::from_utf8_lossy(&data[..at])
                .split('|')
                .map(str::to_owned)
                .collect(),
            &data[at + 1..],
        ),
        None => (DEFAULT_WORDS.map(str::to_owned).to_vec(), data),
    }
}

/// The text of a `TIMTextElem`, if the element is one: typed, or kept raw by
/// chathook-protocol because it carries other keys too.
fn text_of(element: &MsgElem) -> Option<&str> {
    match element {
        MsgElem::Text(text) => Some(&text.text),
        MsgElem::Unknown(raw) if raw["MsgType"] == "TIMTextElem" => {
            raw.get("MsgContent")?.get("Text")?.as_str()
        }
        _ => None,
    }
}

/// Which chars of `text` belong to an occurrence of a word, matched as written or in other
/// ASCII case (which keeps every char where it is).
fn occurrences(text: &str, words: &[String]) -> Vec<bool> {
    let lowered = text.to_ascii_lowercase();
    let mut hide = vec![false; text.chars().count()];
    for word in words {
        let word = word.to_ascii_lowercase();
        for (at, _) in lowered.match_indices(&word) {
            let start = lowered[..at].chars().count();
            let len = word.chars().count();
            hide[start..start + len].fill(true);
        }
    }
    hide
}

#[cfg(test)]
mod tests {
    #[test]
    fn keyword_filter_seeds_and_regressions_hold() {
        chathook_core::fuzzing::replay(
            env!("CARGO_MANIFEST_DIR"),
            "keyword_filter",
            super::keyword_filter,
        );
    }
}
