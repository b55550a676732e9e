//! A handler that fans out into destinations (as `http_forward` does into endpoints): each
//! destination is routed, decided, journaled and retried as a handler of its own, named
//! `<handler>.<destination>`, while one built handler serves them all.

use std::time::Duration;

use chathook_core::registry::{Plan, Role};
use chathook_core::{Chathook, Config};
use chathook_tests::relay::{RelayCall, read_calls};
use chathook_tests::*;
use serde_json::{Value, json};

use crate::journal::wait_until;

const BEFORE: &str = "Group.CallbackBeforeSendMsg";
const AFTER: &str = "Group.CallbackAfterSendMsg";

/// `relay` with a deciding inline destination `gate` for the before-callback and a queued
/// destination `audit` for every group callback, journaled in `dir`.
fn relay_config(dir: &std::path::Path, table: Value) -> Config {
    let mut config = base_config();
    config.journal.database_url = format!("sqlite://{}", dir.join("journal.db").display());
    let mut relay = json!({
        "record": dir.join("calls.log"),
        "targets": [
            {"name": "gate", "commands": [BEFORE], "decides": true, "decide": 1},
            {"name": "audit", "commands": ["Group.*"], "queued": true, "decides": false,
             "queue": {"backoff_initial_ms": 20, "backoff_jitter": 0.0}},
        ],
    });
    for (key, value) in table.as_object().unwrap() {
        relay[key] = value.clone();
    }
    enable(&mut config, "relay", relay);
    config
}

#[tokio::test]
async fn each_destination_is_routed_decided_and_queued_as_a_handler_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = relay_config(dir.path(), json!({}));

    let rows = Plan::new(&config).unwrap().routing_table();
    let roles = |command: &str| -> Vec<(&str, Option<Role>)> {
        let row = rows.iter().find(|row| row.command == command).unwrap();
        row.handlers
            .iter()
            .filter(|handler| handler.name.starts_with("relay"))
            .map(|handler| (handler.name, handler.role))
            .collect()
    };
    assert_eq!(
        roles(BEFORE),
        [
            ("relay.gate", Some(Role::Decides)),
            ("relay.audit", Some(Role::Queued))
        ]
    );
    assert_eq!(roles(AFTER), [("relay.audit", Some(Role::Queued))]);

    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["ErrorCode"], 1,
        "the gate destination decides: {reply}"
    );
    let (status, reply) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    assert_eq!((status, &reply["ErrorCode"]), (200, &json!(0)), "{reply}");

    let record = dir.path().join("calls.log");
    wait_until(
        Duration::from_secs(10),
        "both callbacks reach audit",
        || read_calls(&record).len() == 3,
    )
    .await;
    let mut calls = read_calls(&record);
    calls.sort_by(|a, b| (&a.destination, &a.command).cmp(&(&b.destination, &b.command)));
    let call = |destination: &str, command: &str, attempt: Option<u32>| RelayCall {
        destination: destination.into(),
        command: command.into(),
        attempt,
    };
    assert_eq!(
        calls,
        [
            call("audit", AFTER, Some(1)),
            call("audit", BEFORE, Some(1)),
            call("gate", BEFORE, None),
        ]
    );
    let delivered =
        "chathook_delivery_attempts_total{handler=\"relay.audit\",result=\"delivered\"}";
    assert_eq!(server.metric(delivered).await, 2.0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn what_only_a_destination_can_say_is_refused_on_the_table_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let refusal = |config: Config| async move {
        match Chathook::build(config).await {
            Ok(_) => panic!("the config was accepted"),
            Err(error) => error.to_string(),
        }
    };

    let mut config = relay_config(dir.path(), json!({}));
    config.handlers.get_mut("relay").unwrap().commands = Some(vec!["*".into()]);
    let error = refusal(config).await;
    assert!(error.contains("handlers.relay.commands"), "{error}");

    let twice = json!({"targets": [
        {"name": "a", "commands": ["*"]}, {"name": "a", "commands": ["Group.*"]},
    ]});
    let error = refusal(relay_config(dir.path(), twice)).await;
    assert!(
        error.contains("\"a\"") && error.contains("two destinations"),
        "{error}"
    );

    let badly_named = json!({"targets": [{"name": "A b", "commands": ["*"]}]});
    let error = refusal(relay_config(dir.path(), badly_named)).await;
    assert!(
        error.contains("\"A b\"") && error.contains("a-z"),
        "{error}"
    );

    let queued_decider = json!({"targets": [
        {"name": "late", "commands": [BEFORE], "queued": true, "decides": true},
    ]});
    let error = refusal(relay_config(dir.path(), queued_decider)).await;
    assert!(error.contains("relay.late"), "{error}");

    let zero_attempts = json!({"targets": [
        {"name": "q", "commands": [AFTER], "queued": true, "queue": {"max_attempts": 0}},
    ]});
    let error = refusal(relay_config(dir.path(), zero_attempts)).await;
    assert!(error.contains("relay.q.queue.max_attempts"), "{error}");

    let none = json!({"targets": []});
    let error = refusal(relay_config(dir.path(), none)).await;
    assert!(error.contains("no destination"), "{error}");
}
