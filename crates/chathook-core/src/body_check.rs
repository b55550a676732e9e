//! The body check every callback passes before a handler sees it: one JSON object whose
//! `CallbackCommand`, if any, is the query's. A check of the request, not a fact of the wire
//! protocol, so it sits with the other refusals' callers, not in `protocol`.

use std::borrow::Cow;

use serde::Deserialize;

use crate::rejection::{Rejection, echo};

/// Checks that the body is one JSON object and that its `CallbackCommand`, if any, agrees
/// with the query's. Parses nothing else: handlers parse into their own types.
pub fn check_body(body: &[u8], query_command: &str) -> Result<(), Rejection> {
    #[derive(Deserialize)]
    struct Head<'a> {
        /// `None` when absent; `Some(None)` for an explicit `null`, which is no command at
        /// all and so not the query's.
        #[serde(
            rename = "CallbackCommand",
            borrow,
            default,
            deserialize_with = "present"
        )]
        command: Option<Option<Cow<'a, str>>>,
    }

    fn present<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<Cow<'de, str>>>, D::Error> {
        Option::<Cow<'de, str>>::deserialize(deserializer).map(Some)
    }

    // JSON is UTF-8 (RFC 8259 §8.1). serde_json checks it only in strings it keeps, so a bad
    // byte in a string that is skipped would otherwise pass, and reach the handler.
    let body = std::str::from_utf8(body).map_err(|error| {
        Rejection::BodyNotJson(format!("invalid UTF-8 at byte {}", error.valid_up_to()))
    })?;
    if body
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .as_bytes()
        .first()
        != Some(&b'{')
    {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(body) {
            Ok(_) => Rejection::BodyNotObject,
            Err(error) => Rejection::BodyNotJson(error.to_string()),
        });
    }
    let head: Head<'_> = serde_json::from_str(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => {
            Rejection::InvalidBody(format!("invalid CallbackCommand in body: {error}"))
        }
        _ => Rejection::BodyNotJson(error.to_string()),
    })?;
    match head.command {
        Some(Some(body_command)) if body_command != query_command => {
            Err(Rejection::CommandMismatch {
                query: echo(query_command),
                body: echo(&body_command),
            })
        }
        Some(None) => Err(Rejection::CommandMismatch {
            query: echo(query_command),
            body: "null".into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_checks_say_what_is_wrong() {
        assert_eq!(check_body(br#"{"a":1}"#, "X.Y"), Ok(()));
        assert_eq!(check_body(br#" {"CallbackCommand":"X.Y"}"#, "X.Y"), Ok(()));
        assert_eq!(check_body(b"[1,2]", "X.Y"), Err(Rejection::BodyNotObject));
        // An explicit null is no command, so not the query's (audit protocol-3, D5).
        assert_eq!(
            check_body(br#"{"CallbackCommand":null,"GroupId":"g"}"#, "X.Y"),
            Err(Rejection::CommandMismatch {
                query: "X.Y".into(),
                body: "null".into(),
            })
        );
        assert!(matches!(
            check_body(br#"{"CallbackCommand":"X.Z"}"#, "X.Y"),
            Err(Rejection::CommandMismatch { .. })
        ));
        let Err(Rejection::BodyNotJson(detail)) = check_body(b"{\"a\":\n1,}", "X.Y") else {
            panic!("trailing comma must be refused");
        };
        assert!(detail.contains("line 2 column 3"), "{detail}");
        assert!(matches!(
            check_body(br#"{"CallbackCommand":5}"#, "X.Y"),
            Err(Rejection::InvalidBody(_))
        ));
        assert!(matches!(
            check_body(b"", "X.Y"),
            Err(Rejection::BodyNotJson(_))
        ));
        // Found by fuzzing: a bad byte in a string no one reads is still not JSON.
        assert_eq!(
            check_body(b"{\"a\":\"\xff\"}", "X.Y"),
            Err(Rejection::BodyNotJson("invalid UTF-8 at byte 6".into()))
        );
    }
}
