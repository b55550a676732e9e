//! Properties of the models, shared by the `request` target in `tests/fuzz` and the
//! regression test below, which replays that target's seeds. Not part of the API.

use serde_json::Value;

use crate::reply::{Fields, Reply};
use crate::{Error, Request};

/// Target `request`. The input is the query's `CallbackCommand`, a newline, then the body (the
/// `body` target's format, whose seeds it shares); an input without a newline is all body,
/// with an empty command.
///
/// Parsing never panics; a body that parses writes back exactly the JSON value it came as
/// (nulls, number forms and unknown fields included) and names its command; a refusal is
/// `Syntax` exactly when `serde_json` cannot read the body, `CommandMismatch` only for a
/// body whose own `CallbackCommand` is another string or `null`, and a field error only for a
/// catalogued command. The same body read back as an erased reply writes back the same way,
/// and checking it against the command never panics.
pub fn request(data: &[u8]) {
    let (command, body) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (String::from_utf8_lossy(&data[..at]), &data[at + 1..]),
        None => (String::new().into(), data),
    };
    let shown = String::from_utf8_lossy(body);
    let value = serde_json::from_slice::<Value>(body);
    match Request::parse(&command, body) {
        Ok(request) => {
            let value = value.expect("a parsed body is JSON");
            assert_eq!(request.command(), &*command, "{shown:?}");
            assert_eq!(request.to_value(), value, "{command}: {shown:?}");
        }
        Err(Error::Syntax(_)) => assert!(value.is_err(), "JSON refused as not JSON: {shown:?}"),
        Err(Error::CommandMismatch { found, .. }) => {
            let in_body = value.expect("JSON").get("CallbackCommand").cloned();
            match in_body {
                Some(Value::String(text)) => {
                    assert_ne!(text, *command, "{shown:?}");
                    assert_eq!(found, text);
                }
                Some(Value::Null) => assert_eq!(found, "null"),
                other => panic!("a mismatch with CallbackCommand {other:?}: {shown:?}"),
            }
        }
        Err(error @ Error::Field { .. }) => {
            assert!(value.is_ok(), "{shown:?}");
            assert!(crate::command_info(&command).is_some(), "{error}");
        }
    }
    if let Ok(reply) = serde_json::from_slice::<Reply<Fields>>(body) {
        let value = serde_json::from_slice::<Value>(body).expect("a reply is JSON");
        assert_eq!(serde_json::to_value(&reply).ok(), Some(value), "{shown:?}");
        let _ = reply.check(&command);
    }
}

#[cfg(test)]
mod tests {
    /// The `body` target's seeds and both targets' saved regressions, under `tests/fuzz`.
    #[test]
    fn request_seeds_and_regressions_hold() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz");
        let mut ran = 0;
        for dir in ["seeds/body", "regressions/body", "regressions/request"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a readable directory").path();
                if path.is_file() {
                    super::request(&std::fs::read(&path).expect("a readable seed"));
                    ran += 1;
                }
            }
        }
        assert!(ran >= 60, "only {ran} seeds");
    }
}
