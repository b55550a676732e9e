//! The audit's mutation run (protocol audit 3, §6) as a test: every field of every sample is
//! removed, nulled, retyped, emptied and pushed out of range, one at a time. Whatever is
//! accepted must write back exactly as sent (nulls included, issue 25 D5), and whatever is
//! refused must name the field.

use chathook_protocol::samples::REQUESTS;
use chathook_protocol::{Error, Request};
use serde_json::{Value, json};

/// Every (JSON pointer, key) of an object member in `value`, depth first.
fn members(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                out.push((at.to_owned(), key.clone()));
                members(item, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                members(item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The replacements the audit tried for one field's value (`None`: remove the key).
fn mutations(value: &Value) -> Vec<Option<Value>> {
    let mut all = vec![None, Some(Value::Null), Some(json!({})), Some(json!([]))];
    all.extend(
        match value {
            Value::String(_) => vec![json!(""), json!(123)],
            Value::Number(_) => vec![
                json!("abc"),
                json!(-1),
                json!(1.5),
                json!(u64::MAX),
                json!("0042"),
            ],
            _ => vec![json!("x")],
        }
        .into_iter()
        .map(Some),
    );
    all
}

#[test]
fn every_accepted_mutation_round_trips_and_every_refusal_names_its_field() {
    let (mut accepted, mut refused) = (0, 0);
    for (command, body) in REQUESTS {
        let original: Value = serde_json::from_str(body).unwrap();
        let mut fields = Vec::new();
        members(&original, "", &mut fields);
        for (parent, key) in fields {
            let current = &original.pointer(&parent).unwrap()[key.as_str()];
            for replacement in mutations(current) {
                let mut mutated = original.clone();
                let object = mutated
                    .pointer_mut(&parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap();
                match &replacement {
                    None => drop(object.remove(&key)),
                    Some(value) => drop(object.insert(key.clone(), value.clone())),
                }
                let probe = format!("{command} {parent}/{key} = {replacement:?}");
                match Request::from_value(command, mutated.clone()) {
                    Ok(request) => {
                        accepted += 1;
                        assert_eq!(request.to_value(), mutated, "{probe}");
                    }
                    Err(error @ Error::Field { .. }) => {
                        refused += 1;
                        let text = error.to_string();
                        assert!(
                            text.contains(&key) || error.path().is_some_and(|p| p.contains(&key)),
                            "{probe}: {text}"
                        );
                    }
                    Err(Error::CommandMismatch { .. }) if key == "CallbackCommand" => refused += 1,
                    Err(error) => panic!("{probe}: {error}"),
                }
            }
        }
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "{accepted} accepted, {refused} refused"
    );
}
