//! Properties of the request checks, shared by the `cargo fuzz` targets in
//! `tests/fuzz` and the regression tests below.
//!
//! Each function takes one raw fuzz input and panics when a property fails, so a fuzz target is
//! one line and `cargo test` replays the seed corpus and every saved crash input through the
//! very same code, without libFuzzer. Not part of the API: it may change at any time.

use std::borrow::Cow;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::{
    App, CallbackQuery, Secret, check_freshness, check_sign, parse_request_time, sign,
};
use crate::body_check::check_body;
use crate::rejection::{Rejection, echo};

/// The query parameters [`CallbackQuery`] knows, in its spelling.
const KNOWN: [&str; 7] = [
    "SdkAppid",
    "CallbackCommand",
    "contenttype",
    "ClientIP",
    "OptPlatform",
    "Sign",
    "RequestTime",
];

fn known_fields<'q>(query: &'q CallbackQuery<'_>) -> [Option<&'q str>; 7] {
    [
        query.sdk_app_id.as_deref(),
        query.command.as_deref(),
        query.content_type.as_deref(),
        query.client_ip.as_deref(),
        query.opt_platform.as_deref(),
        query.sign.as_deref(),
        query.request_time.as_deref(),
    ]
}

/// Target `query`: the input is a raw query string (lossily UTF-8).
///
/// [`CallbackQuery::parse`] never panics; it refuses exactly the inputs that name a deciding
/// parameter (`SdkAppid`, `CallbackCommand`, `Sign`, `RequestTime`) twice, in any case; of
/// the others it keeps the first; what it keeps is what `form_urlencoded` decodes;
/// [`CallbackQuery::sdk_app_id`] agrees with `u64` parsing; and the parsed query, encoded
/// again under other-cased names, parses back to itself.
pub fn query(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    // The oracle: every decoded pair whose name is a known one, in order.
    let mut seen: [Vec<Cow<'_, str>>; 7] = Default::default();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        if let Some(slot) = KNOWN.iter().position(|k| name.eq_ignore_ascii_case(k)) {
            seen[slot].push(value);
        }
    }
    const DECIDING: [&str; 4] = ["SdkAppid", "CallbackCommand", "Sign", "RequestTime"];
    let duplicates = KNOWN
        .iter()
        .zip(&seen)
        .filter(|(name, values)| values.len() > 1 && DECIDING.contains(name))
        .map(|(name, _)| *name);
    let parsed = CallbackQuery::parse(&raw);
    let query = match parsed {
        Ok(query) => query,
        Err(Rejection::DuplicateParameter(name)) => {
            assert!(
                duplicates.clone().any(|dup| dup == name),
                "{name} refused as duplicate but given once in {raw:?}"
            );
            return;
        }
        Err(other) => panic!("parse of {raw:?} failed with {other:?}"),
    };
    assert_eq!(
        duplicates.count(),
        0,
        "a duplicate went unnoticed in {raw:?}"
    );
    for ((name, field), values) in KNOWN.iter().zip(known_fields(&query)).zip(&seen) {
        assert_eq!(field, values.first().map(|v| &**v), "{name} of {raw:?}");
    }

    match (query.sdk_app_id(), query.sdk_app_id.as_deref()) {
        (Ok(id), Some(text)) => assert_eq!(text.parse::<u64>(), Ok(id)),
        (Err(Rejection::SdkAppIdMissing), None) => {}
        (Err(Rejection::SdkAppIdInvalid(shown)), Some(text)) => {
            // Unauthenticated input is echoed bounded.
            assert_eq!(shown, echo(text));
            assert!(text.parse::<u64>().is_err(), "{text:?} is a number");
        }
        (result, text) => panic!("sdk_app_id() of {text:?} gave {result:?}"),
    }

    let mut encoded = form_urlencoded::Serializer::new(String::new());
    encoded.append_pair("Unknown", "ignored");
    for (i, (name, field)) in KNOWN.iter().zip(known_fields(&query)).enumerate() {
        if let Some(value) = field {
            let name = if i % 2 == 0 {
                name.to_ascii_uppercase()
            } else {
                name.to_ascii_lowercase()
            };
            encoded.append_pair(&name, value);
        }
    }
    let encoded = encoded.finish();
    assert_eq!(
        CallbackQuery::parse(&encoded).as_ref(),
        Ok(&query),
        "{raw:?} re-encoded as {encoded:?}"
    );
}

/// Target `signature`. The input is text in four parts separated by newlines: the server's
/// clock `now`, `max_skew_secs`, the app's tokens separated by tabs (none: signing is off),
/// and a raw query string. A part that is not a number counts as 0.
///
/// [`App::verify`] never panics and gives exactly the verdict a plain reading of the protocol
/// gives (missing parts, time syntax, skew in 128-bit arithmetic, SHA-256 of token and time
/// text); [`check_sign`], [`parse_request_time`] and [`check_freshness`] agree; and a `Sign`
/// made with [`sign`] for any of the tokens verifies, at the query's own `RequestTime` when it
/// has a valid one, else at `now`.
pub fn signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let mut number = || {
        parts
            .next()
            .and_then(|part| part.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let now = number();
    let max_skew_secs = number();
    let token_texts: Vec<&str> = parts
        .next()
        .unwrap_or("")
        .split('\t')
        .filter(|token| !token.is_empty())
        .collect();
    let raw_query = parts.next().unwrap_or("");
    let tokens: Vec<Secret> = token_texts.iter().copied().map(Secret::new).collect();
    let app = App::new("fuzz", 1, tokens.clone());

    let Ok(query) = CallbackQuery::parse(raw_query) else {
        return;
    };
    let verdict = app.verify(&query, now, max_skew_secs);
    let expected = expected_verdict(&token_texts, &query, now, max_skew_secs);
    assert_eq!(verdict, expected, "verify {query:?} at {now}");

    if let Some(time_text) = query.request_time.as_deref() {
        if let Ok(time) = parse_request_time(time_text) {
            let skew = i128::from(time) - i128::from(now);
            assert_eq!(
                check_freshness(time, now, max_skew_secs).is_ok(),
                skew.unsigned_abs() <= u128::from(max_skew_secs),
                "freshness of {time} at {now}"
            );
        }
        if let Some(sign_text) = query.sign.as_deref() {
            let matches = token_texts
                .iter()
                .any(|token| sign_of_text(token, time_text).eq_ignore_ascii_case(sign_text));
            assert_eq!(
                check_sign(&tokens, sign_text, time_text).is_ok(),
                matches,
                "check_sign({sign_text:?}, {time_text:?})"
            );
        }
    }

    // Chat's own signature always verifies.
    let time = query
        .request_time
        .as_deref()
        .and_then(|text| parse_request_time(text).ok())
        .unwrap_or(now);
    for token in &token_texts {
        let signed = sign(token, time);
        assert_eq!(signed, sign_of_text(token, &time.to_string()));
        assert_eq!(check_sign(&tokens, &signed, &time.to_string()), Ok(()));
        let raw = format!("SdkAppid=1&RequestTime={time}&Sign={signed}");
        let signed_query = CallbackQuery::parse(&raw).expect("a plain query parses");
        assert_eq!(
            app.verify(&signed_query, time, max_skew_secs),
            Ok(()),
            "{raw}"
        );
        assert_eq!(app.verify(&signed_query, time, 0), Ok(()), "{raw}");
    }
}

/// `Sign` for `token` over the time text exactly as received.
fn sign_of_text(token: &str, time_text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(time_text.as_bytes());
    hex::encode(hasher.finalize())
}

/// What `verify` must answer, worked out from the protocol alone.
fn expected_verdict(
    tokens: &[&str],
    query: &CallbackQuery<'_>,
    now: u64,
    max_skew_secs: u64,
) -> Result<(), Rejection> {
    if tokens.is_empty() {
        return Ok(());
    }
    let sign_text = query.sign.as_deref().ok_or(Rejection::SignMissing)?;
    let time_text = query
        .request_time
        .as_deref()
        .ok_or(Rejection::RequestTimeMissing)?;
    let time = time_text
        .parse::<u64>()
        .map_err(|_| Rejection::RequestTimeInvalid(echo(time_text)))?;
    let skew = i128::from(time) - i128::from(now);
    if skew.unsigned_abs() > u128::from(max_skew_secs) {
        return Err(Rejection::RequestTimeSkewed {
            skew_secs: i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX }),
            max_skew_secs,
        });
    }
    // Hex in either case carries the same digest.
    if tokens
        .iter()
        .any(|token| sign_of_text(token, time_text).eq_ignore_ascii_case(sign_text))
    {
        Ok(())
    } else {
        Err(Rejection::SignMismatch)
    }
}

/// How a JSON object starts (a constant, so that brace-counting tools are not misled).
const OBJECT_OPEN: &[u8] = b"{";

/// Target `body`. The input is the query's `CallbackCommand`, a newline, then the body; an
/// input without a newline is all body, with an empty command.
///
/// [`check_body`] never panics; it accepts only a JSON object whose `CallbackCommand` is
/// absent, null or the query's; and each refusal names the right reason (not JSON, not an
/// object, a mismatch with both commands as given, or an unusable `CallbackCommand`). JSON
/// that `serde_json::Value` cannot hold is only checked to be accepted as an object at most.
pub fn body(data: &[u8]) {
    let (command, body) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (String::from_utf8_lossy(&data[..at]), &data[at + 1..]),
        None => (Cow::Borrowed(""), data),
    };
    let verdict = check_body(body, &command);
    let parsed = serde_json::from_slice::<Value>(body);
    let grammatical = std::str::from_utf8(body)
        .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok());
    if parsed.is_err() && grammatical {
        // JSON that `Value` cannot hold (a float past f64, a lone surrogate escape). Where
        // check_body need not read it, it may accept it; a number past f64 given as
        // CallbackCommand is called "not JSON", as serde_json calls it.
        assert!(
            verdict.is_err() || body.trim_ascii_start().starts_with(OBJECT_OPEN),
            "{:?} accepted",
            String::from_utf8_lossy(body)
        );
        return;
    }
    let body_command = match &parsed {
        Ok(Value::Object(map)) => map.get("CallbackCommand"),
        _ => None,
    };
    match verdict {
        Ok(()) => accepted_an_object(&parsed, body_command, &command, body),
        Err(rejection) => refused_for_its_reason(rejection, &parsed, body_command, &command, body),
    }
}

/// [`body`]: what [`check_body`] accepts is an object whose `CallbackCommand` is absent or
/// the query's (an explicit null is no command, so a mismatch).
fn accepted_an_object(
    parsed: &serde_json::Result<Value>,
    body_command: Option<&Value>,
    command: &str,
    body: &[u8],
) {
    let shown = String::from_utf8_lossy(body);
    assert!(
        matches!(parsed, Ok(Value::Object(_))),
        "accepted a non-object: {shown:?}"
    );
    match body_command {
        None => {}
        Some(Value::String(text)) => assert_eq!(text, command, "{shown:?}"),
        Some(other) => panic!("accepted CallbackCommand {other} in {shown:?}"),
    }
}

/// [`body`]: each refusal of [`check_body`] names the reason the body really has.
fn refused_for_its_reason(
    rejection: Rejection,
    parsed: &serde_json::Result<Value>,
    body_command: Option<&Value>,
    command: &str,
    body: &[u8],
) {
    let shown = String::from_utf8_lossy(body);
    match rejection {
        Rejection::BodyNotJson(_) => {
            assert!(parsed.is_err(), "valid JSON refused as invalid: {shown:?}");
        }
        Rejection::BodyNotObject => {
            assert!(
                matches!(parsed, Ok(value) if !value.is_object()),
                "{shown:?} refused as not an object"
            );
        }
        Rejection::CommandMismatch { query, body } => {
            // Both are echoed bounded.
            assert_eq!(query, echo(command));
            match body_command {
                // No command at all is not the query's.
                Some(Value::Null) => assert_eq!(body, "null", "{shown:?}"),
                Some(Value::String(full_body_command)) => {
                    assert_ne!(full_body_command.as_str(), command);
                    assert_eq!(body, echo(full_body_command), "{shown:?}");
                }
                _ => panic!("{shown:?}: mismatch without a body command"),
            }
        }
        Rejection::InvalidBody(_) => {
            // serde_json stops at the first error; in a body that is not JSON either, that
            // may be the command's type.
            assert!(
                body_command.is_some() || parsed.is_err(),
                "{shown:?} refused for a CallbackCommand it lacks"
            );
        }
        other => panic!("check_body({shown:?}) gave {other:?}"),
    }
}

/// Runs `property` on every file of the seed corpus and the saved regressions of `target` in
/// `tests/fuzz`, from a crate directory two levels under the repository root; returns how many it ran.
///
/// For the regression tests of the crates whose code the targets check.
pub fn replay(crate_dir: &str, target: &str, property: fn(&[u8])) -> usize {
    let fuzz_dir = std::path::Path::new(crate_dir).join("../../tests/fuzz");
    let mut ran = 0;
    let mut failed = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert_eq!(kind, "regressions", "{} is missing", dir.display());
            continue;
        };
        let mut paths: Vec<_> = entries
            .map(|entry| entry.expect("a readable directory").path())
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("a readable input");
            if std::panic::catch_unwind(|| property(&data)).is_err() {
                failed.push(path.display().to_string());
            }
            ran += 1;
        }
    }
    assert!(ran > 0, "no inputs for fuzz target {target}");
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = env!("CARGO_MANIFEST_DIR");

    #[test]
    fn query_seeds_and_regressions_hold() {
        replay(DIR, "query", query);
    }

    #[test]
    fn signature_seeds_and_regressions_hold() {
        replay(DIR, "signature", signature);
    }

    #[test]
    fn body_seeds_and_regressions_hold() {
        replay(DIR, "body", body);
    }
}
