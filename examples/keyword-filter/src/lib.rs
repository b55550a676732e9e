//! example-keyword-filter: a before-callback plugin that keeps banned words out of messages.
//!
//! It serves `Group.CallbackBeforeSendMsg` and `C2C.CallbackBeforeSendMsg`, the callbacks where
//! Chat waits for the app's decision, and on a match does what `[handlers.keyword_filter]`
//! says: refuse the message with a custom error code, drop it silently, or let it through with
//! the words masked. It is the example to copy: typed config with unknown keys refused, a
//! typed model of the callback, decisions built with the protocol crate's checked `Reply`
//! builders, unit tests beside it.

#[doc(hidden)]
pub mod fuzzing;

use chathook_core::{Answer, Callback, Handler, HandlerError, async_trait, register_handler};
use chathook_protocol::reply::{MessageRewrite, Reply, ReplyError, check_decision_code};
use chathook_protocol::{MsgBody, MsgElem};
use serde::Deserialize;
use serde_json::Value;

/// The group before-send callback, one of the two commands served.
pub const GROUP_COMMAND: &str = chathook_protocol::commands::GROUP_CALLBACK_BEFORE_SEND_MSG;
/// The one-to-one before-send callback, the other command served.
pub const C2C_COMMAND: &str = chathook_protocol::commands::C2C_CALLBACK_BEFORE_SEND_MSG;

/// What to do with a message that contains a banned word.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refuse it: the sender gets the custom error code.
    #[default]
    Reject,
    /// Drop it silently: the sender sees success, nobody receives it (`ErrorCode` 2).
    Discard,
    /// Deliver it with each banned word replaced by `*`s.
    Mask,
}

/// `[handlers.keyword_filter]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordFilterConfig {
    /// Words to catch, matched case-insensitively anywhere in a text element.
    pub banned_words: Vec<String>,
    /// What to do on a match.
    #[serde(default)]
    pub action: Action,
    /// `ErrorCode` for a refused group message, in 10100-10200.
    #[serde(default = "default_group_error_code")]
    pub group_error_code: u32,
    /// `ErrorCode` for a refused one-to-one message, in 120001-130000.
    #[serde(default = "default_c2c_error_code")]
    pub c2c_error_code: u32,
    /// `ErrorInfo` of a refusal, which the sender's client receives.
    #[serde(default = "default_reason")]
    pub reason: String,
}

fn default_group_error_code() -> u32 {
    10100
}

fn default_c2c_error_code() -> u32 {
    120_001
}

fn default_reason() -> String {
    "the message contains a banned word".into()
}

/// The parts of a before-send callback the filter reads. Both commands carry `MsgBody`; the
/// other fields are left unread, so a body the filter does not need to understand in full
/// is still filtered.
#[derive(Debug, Deserialize)]
pub struct BeforeSendMsg {
    /// The message's elements, as chathook-protocol types them: every element writes back
    /// exactly the JSON it came as, and one it cannot type (`"ImageFormat": "01"`, a text that
    /// is not a string) is kept as [`MsgElem::Unknown`], so that one odd element neither
    /// changes nor keeps the rest of the message from being filtered. Only text is read.
    #[serde(rename = "MsgBody")]
    pub msg_body: MsgBody,
}

/// The text of a text element, which the filter reads and masks in place.
///
/// A `TIMTextElem` that carries keys besides `MsgType` and `MsgContent` is kept by
/// chathook-protocol as [`MsgElem::Unknown`]; its `MsgContent.Text` is still a message text, so
/// it is filtered too (and everything else in it kept).
pub fn text_mut(element: &mut MsgElem) -> Option<&mut String> {
    match element {
        MsgElem::Text(text) => Some(&mut text.text),
        MsgElem::Unknown(raw) if element_is_text(raw) => {
            match raw.get_mut("MsgContent")?.get_mut("Text")? {
                Value::String(text) => Some(text),
                _ => None,
            }
        }
        _ => None,
    }
}

fn element_is_text(raw: &Value) -> bool {
    raw.get("MsgType").and_then(Value::as_str) == Some("TIMTextElem")
}

/// The handler.
#[derive(Debug)]
pub struct KeywordFilter {
    config: KeywordFilterConfig,
    /// Banned words, lower-cased once, as chars.
    banned: Vec<Vec<char>>,
}

impl KeywordFilter {
    /// A filter from its config; refuses empty words and codes the commands do not document.
    pub fn new(config: KeywordFilterConfig) -> Result<Self, String> {
        if config
            .banned_words
            .iter()
            .any(|word| word.trim().is_empty())
        {
            return Err("banned_words must not contain an empty word".into());
        }
        // The command's documented codes, from the protocol crate's table.
        for (key, command, code) in [
            ("group_error_code", GROUP_COMMAND, config.group_error_code),
            ("c2c_error_code", C2C_COMMAND, config.c2c_error_code),
        ] {
            check_decision_code(command, code).map_err(|error| format!("{key}: {error}"))?;
        }
        let banned = config
            .banned_words
            .iter()
            .map(|word| word.chars().map(fold_case).collect())
            .collect();
        Ok(Self { config, banned })
    }

    /// The decision for one message, built with the protocol crate's checked builders.
    pub fn decide(&self, command: &str, mut message: BeforeSendMsg) -> Result<Answer, ReplyError> {
        let mut matched = false;
        for element in &mut message.msg_body {
            if let Some(text) = text_mut(element)
                && let Some(masked) = mask(text, &self.banned)
            {
                *text = masked;
                matched = true;
            }
        }
        if !matched {
            return Ok(Answer::default());
        }
        let reason = self.config.reason.clone();
        Ok(match self.config.action {
            Action::Reject => {
                let code = if command == C2C_COMMAND {
                    self.config.c2c_error_code
                } else {
                    self.config.group_error_code
                };
                Reply::decision(command, code, reason)?.into()
            }
            Action::Discard => Reply::decision(command, Reply::DISCARD, reason)?.into(),
            Action::Mask => {
                let rewrite = MessageRewrite::new(Some(message.msg_body), None);
                Reply::rewrite(command, rewrite)?.into()
            }
        })
    }
}

/// `text` with every banned word's characters replaced by `*`, or `None` if none occurs.
/// Matching is case-insensitive per character, so masking keeps the text's own characters
/// everywhere else.
fn mask(text: &str, banned: &[Vec<char>]) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let lowered: Vec<char> = chars.iter().copied().map(fold_case).collect();
    let mut hidden = vec![false; chars.len()];
    for word in banned.iter().filter(|word| word.len() <= lowered.len()) {
        for start in 0..=lowered.len() - word.len() {
            if lowered[start..start + word.len()] == word[..] {
                hidden[start..start + word.len()].fill(true);
            }
        }
    }
    hidden.contains(&true).then(|| {
        chars
            .iter()
            .zip(&hidden)
            .map(|(c, hide)| if *hide { '*' } else { *c })
            .collect()
    })
}

/// `c` in lower case, one char for one (a char whose lower case is longer, such as `İ`, keeps
/// the first), so that text and banned words fold alike and every match covers exactly the
/// text's chars it matched.
fn fold_case(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[async_trait]
impl Handler for KeywordFilter {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let message: BeforeSendMsg = callback.parse()?;
        Ok(self.decide(callback.command(), message)?)
    }
}

async fn build(config: KeywordFilterConfig) -> Result<KeywordFilter, String> {
    KeywordFilter::new(config)
}

register_handler! {
    name: "keyword_filter",
    commands: [GROUP_COMMAND, C2C_COMMAND],
    config: KeywordFilterConfig,
    build: build,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(action: Action) -> KeywordFilter {
        KeywordFilter::new(KeywordFilterConfig {
            banned_words: vec!["spam".into(), "坏话".into()],
            action,
            group_error_code: 10123,
            c2c_error_code: 120_123,
            reason: "no spam here".into(),
        })
        .unwrap()
    }

    fn message(body: Value) -> BeforeSendMsg {
        serde_json::from_value(json!({ "MsgBody": body })).unwrap()
    }

    fn text(text: &str) -> Value {
        json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": text } }])
    }

    #[test]
    fn clean_messages_pass() {
        let reply = filter(Action::Reject)
            .decide(GROUP_COMMAND, message(text("hello")))
            .unwrap();
        assert_eq!(reply, Reply::ok());
    }

    #[test]
    fn reject_uses_the_code_range_of_the_command() {
        let group = filter(Action::Reject)
            .decide(GROUP_COMMAND, message(text("buy SPAM now")))
            .unwrap();
        assert_eq!(
            (group.error_code(), group.error_info()),
            (10123, "no spam here")
        );
        let c2c = filter(Action::Reject)
            .decide(C2C_COMMAND, message(text("spam")))
            .unwrap();
        assert_eq!(c2c.error_code(), 120_123);
    }

    #[test]
    fn discard_is_error_code_2() {
        let reply = filter(Action::Discard)
            .decide(GROUP_COMMAND, message(text("spam")))
            .unwrap();
        assert_eq!(reply.error_code(), Reply::DISCARD);
    }

    #[test]
    fn mask_rewrites_text_elements_only() {
        let image = json!({ "MsgType": "TIMImageElem", "MsgContent": { "UUID": "spam", "ImageFormat": 1 } });
        let body = json!([
            { "MsgType": "TIMTextElem", "MsgContent": { "Text": "Spam and 坏话, spam!" } },
            image,
        ]);
        let reply = filter(Action::Mask)
            .decide(GROUP_COMMAND, message(body))
            .unwrap();
        assert_eq!(reply.error_code(), 0);
        assert_eq!(
            reply.fields()["MsgBody"],
            json!([
                { "MsgType": "TIMTextElem", "MsgContent": { "Text": "**** and **, ****!" } },
                image,
            ])
        );
    }

    #[test]
    fn mask_keeps_every_other_element_exactly_as_it_came() {
        // Known elements with numbers as strings, an element type chathook-protocol does not
        // know, and a text element with a key of its own (kept raw by chathook-protocol, and
        // still filtered).
        let others = [
            json!({ "MsgType": "TIMImageElem", "MsgContent": { "UUID": "spam", "ImageFormat": "1",
                "ImageInfoArray": [{ "Type": 1, "Size": "1853095", "Width": 2448, "URL": "https://x/spam" }] } }),
            json!({ "MsgType": "TIMLocationElem", "MsgContent": { "Desc": "spam", "Latitude": 22, "Longitude": 113.9 } }),
            json!({ "MsgType": "TIMRelayElem", "MsgContent": { "Title": "spam", "MsgList": [] } }),
            json!({ "MsgType": "TIMCustomElem", "MsgContent": { "Data": "spam", "Future": true } }),
        ];
        let mut body = vec![json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "spam" } })];
        body.extend(others.iter().cloned());
        body.push(json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "SPAM!", "Lang": "en" }, "Ext": 1 }));
        let reply = filter(Action::Mask)
            .decide(GROUP_COMMAND, message(Value::from(body)))
            .unwrap();
        let mut expected =
            vec![json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "****" } })];
        expected.extend(others.iter().cloned());
        expected.push(json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "****!", "Lang": "en" }, "Ext": 1 }));
        assert_eq!(reply.fields()["MsgBody"], Value::from(expected));

        // The raw text element alone is caught as well.
        let raw = json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "spam" }, "Ext": 1 }]);
        let reply = filter(Action::Reject)
            .decide(C2C_COMMAND, message(raw))
            .unwrap();
        assert_eq!(reply.error_code(), 120_123);
    }

    #[test]
    fn elements_chathook_protocol_cannot_type_are_kept_and_the_rest_filtered() {
        let odd = [
            json!({ "MsgType": "TIMImageElem", "MsgContent": { "UUID": "spam", "ImageFormat": "01" } }),
            json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": 7 } }),
            json!({ "MsgType": "TIMTextElem", "MsgContent": "spam" }),
            json!({ "MsgContent": { "Text": "spam" } }),
        ];
        let mut body = odd.to_vec();
        body.push(json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "spam" } }));
        let reply = filter(Action::Mask)
            .decide(GROUP_COMMAND, message(Value::from(body)))
            .unwrap();
        let mut expected = odd.to_vec();
        expected.push(json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": "****" } }));
        assert_eq!(reply.fields()["MsgBody"], Value::from(expected));

        let body = json!({ "MsgBody": [
            { "MsgType": "TIMTextElem", "MsgContent": { "Text": "fine" } },
            "spam",
        ] });
        let error = Callback::new(1, GROUP_COMMAND, body.to_string())
            .parse::<BeforeSendMsg>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid MsgBody[1]: a message element must be a JSON object"
        );
    }

    #[test]
    fn words_whose_lower_case_is_longer_are_caught() {
        // Found by the fuzz property: "İ" lower-cases to two chars, and was never matched.
        let filter = KeywordFilter::new(KeywordFilterConfig {
            banned_words: vec!["İstanbul".into()],
            action: Action::Mask,
            group_error_code: 10100,
            c2c_error_code: 120_001,
            reason: String::new(),
        })
        .unwrap();
        let reply = filter
            .decide(GROUP_COMMAND, message(text("İSTANBUL, İstanbul!")))
            .unwrap();
        assert_eq!(
            reply.fields()["MsgBody"],
            json!([{ "MsgType": "TIMTextElem", "MsgContent": { "Text": "********, ********!" } }])
        );
    }

    #[test]
    fn codes_outside_tencents_ranges_are_refused() {
        let config = KeywordFilterConfig {
            banned_words: vec!["x".into()],
            action: Action::Reject,
            group_error_code: 500,
            c2c_error_code: 120_001,
            reason: String::new(),
        };
        let refused = KeywordFilter::new(config).unwrap_err();
        assert!(
            refused.starts_with(
                "group_error_code: ErrorCode 500 is not valid for Group.CallbackBeforeSendMsg"
            ),
            "{refused}"
        );
    }
}
