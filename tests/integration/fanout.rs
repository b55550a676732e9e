//! Fan-out: several handlers per command, command sets chosen in config, one decider per
//! before-callback, observers that change nothing.

use chathook_core::DecidedBy;
use chathook_core::config::Unrouted;
use chathook_tests::handlers::{Recorded, journal, journal_of};
use chathook_tests::process::{APP_TOML, RunningBinary, block_on, clean_command, write_config};
use chathook_tests::*;
use serde_json::{Value, json};

const AFTER: &str = "Group.CallbackAfterSendMsg";
const BEFORE: &str = "Group.CallbackBeforeSendMsg";

/// A fresh journal key per test, so concurrent tests never read each other's entries.
fn tag(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// `recorder_<which>` with `table` plus its journal tag.
fn recorder(config: &mut chathook_core::Config, which: &str, tag: &str, mut table: Value) {
    table["tag"] = tag.into();
    enable(config, &format!("recorder_{which}"), table);
}

fn handlers_of(entries: &[Recorded], command: &str) -> Vec<&'static str> {
    let mut names: Vec<_> = entries
        .iter()
        .filter(|entry| entry.command == command)
        .map(|entry| entry.handler)
        .collect();
    names.sort_unstable();
    names
}

fn results(handler: &str, command: &str, result: &str) -> String {
    format!(
        r#"chathook_handler_results_total{{handler="{handler}",command="{command}",result="{result}"}}"#
    )
}

#[tokio::test]
async fn two_after_handlers_both_run_and_chat_gets_ok_only_when_both_succeed() {
    let tag = tag("two-after");
    let mut config = base_config();
    recorder(&mut config, "a", &tag, json!({ "commands": [AFTER] }));
    recorder(&mut config, "b", &tag, json!({ "commands": [AFTER] }));
    let server = TestServer::start(config).await;

    let (status, reply) = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
    assert_eq!(status, 200, "{reply}");
    // Two handlers: neither's extra fields, Chat's plain OK.
    assert_eq!(
        reply,
        json!({ "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "" })
    );
    // Both finished before the answer: an after-callback is acknowledged only once all did.
    assert_eq!(
        handlers_of(&journal(&tag), AFTER),
        ["recorder_a", "recorder_b"]
    );
    for handler in ["recorder_a", "recorder_b"] {
        assert_eq!(server.metric(&results(handler, AFTER, "ok")).await, 1.0);
    }
    let ok = format!(r#"chathook_callbacks_total{{command="{AFTER}",outcome="ok"}}"#);
    assert_eq!(server.metric(&ok).await, 1.0);
}

#[tokio::test]
async fn one_failing_after_handler_makes_it_500_and_the_other_still_does_its_work() {
    for (failure, code, info, result, outcome) in [
        (
            json!({ "fail": "error" }),
            50001,
            "handler failed",
            "failed",
            "failed",
        ),
        (
            json!({ "fail": "panic" }),
            50001,
            "handler failed",
            "panicked",
            "failed",
        ),
        (
            json!({ "delay_ms": 2000 }),
            50002,
            "handler timed out",
            "timed_out",
            "timed_out",
        ),
    ] {
        let tag = tag(&format!("one-fails-{result}"));
        let mut config = base_config();
        config.dispatch.handler_timeout_ms = 300;
        let mut failing = failure;
        failing["commands"] = json!(["Group.*"]);
        recorder(&mut config, "a", &tag, failing);
        recorder(&mut config, "b", &tag, json!({ "commands": ["after"] }));
        let server = TestServer::start(config).await;

        let reply = server.post(&fresh_query(AFTER), fixture(AFTER)).await;
        assert_fail(&reply, 500, code, info);
        // Chat is not told which handler failed; the log and the metrics are.
        let text = reply.1.to_string();
        assert!(!text.contains("recorder"), "{text}");
        assert_eq!(handlers_of(&journal(&tag), AFTER), ["recorder_b"]);
        assert_eq!(
            server.metric(&results("recorder_a", AFTER, result)).await,
            1.0
        );
        assert_eq!(
            server.metric(&results("recorder_b", AFTER, "ok")).await,
            1.0
        );
        let counted =
            format!(r#"chathook_callbacks_total{{command="{AFTER}",outcome="{outcome}"}}"#);
        assert_eq!(server.metric(&counted).await, 1.0, "{result}");
    }
}

#[tokio::test]
async fn the_decider_decides_and_the_observer_gets_the_decision() {
    let tag = tag("decider");
    let mut config = base_config();
    // probe's commands are fixed in code; the recorder says it only observes, so probe is the
    // one that can decide.
    enable(&mut config, "probe", json!({ "decide": 10100 }));
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": [BEFORE], "decides": false, "await_decision": true }),
    );
    let server = TestServer::start(config).await;

    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["ErrorCode"], 10100, "{reply}");
    assert_eq!(reply["ErrorInfo"], "probe decided");
    let entries = journal_of(&tag, 1).await;
    assert_eq!(
        entries,
        [Recorded {
            handler: "recorder_a",
            command: BEFORE.into(),
            decision: Some((10100, DecidedBy::Handler("probe"))),
        }]
    );
}

#[tokio::test]
async fn decides_true_picks_the_decider_among_several() {
    let tag = tag("decides-true");
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "decide": 1 }));
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": ["before"], "decides": true, "decide": 2, "await_decision": true }),
    );
    recorder(
        &mut config,
        "b",
        &tag,
        json!({ "commands": ["*"], "decides": false, "await_decision": true }),
    );
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    // recorder_a's reply, not probe's: the config says recorder_a decides.
    assert_eq!(reply["ErrorCode"], 2, "{reply}");
    let entries = journal_of(&tag, 2).await;
    let observed = entries
        .iter()
        .find(|entry| entry.handler == "recorder_b")
        .expect("recorder_b observed");
    assert_eq!(
        observed.decision,
        Some((2, DecidedBy::Handler("recorder_a")))
    );
}

#[tokio::test]
async fn a_failing_or_slow_observer_changes_nothing() {
    for (observer, result) in [
        (json!({ "fail": "error" }), "failed"),
        (json!({ "fail": "panic" }), "panicked"),
        // Slower than the deadline: stopped there, and counted.
        (json!({ "delay_ms": 5000 }), "timed_out"),
        // Slow but within the deadline: it finishes after Chat has its answer.
        (json!({ "delay_ms": 400 }), "ok"),
    ] {
        let tag = tag(&format!("observer-{result}"));
        let mut config = base_config();
        config.dispatch.handler_timeout_ms = 800;
        enable(&mut config, "probe", json!({}));
        let mut table = observer;
        table["commands"] = json!(["Group.*"]);
        table["decides"] = json!(false);
        recorder(&mut config, "a", &tag, table);
        let server = TestServer::start(config).await;

        let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
        assert_eq!(status, 200, "{result}: {reply}");
        assert_eq!(reply["ErrorCode"], 0, "{result}: {reply}");
        // probe's own reply, whatever the observer does.
        assert_eq!(reply["Handler"], "probe", "{result}: {reply}");
        // The answer did not wait for the observer: it has not finished yet.
        assert!(journal(&tag).is_empty(), "{result}");
        let counted = results("recorder_a", BEFORE, result);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while server.metric(&counted).await < 1.0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{counted} never counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let ok = format!(r#"chathook_callbacks_total{{command="{BEFORE}",outcome="ok"}}"#);
        assert_eq!(server.metric(&ok).await, 1.0, "{result}");
        if result == "ok" {
            assert_eq!(handlers_of(&journal(&tag), BEFORE), ["recorder_a"]);
        }
    }
}

#[tokio::test]
async fn a_failing_decider_gets_its_fallback_and_observers_see_it() {
    let tag = tag("fallback");
    let mut config = base_config();
    enable(
        &mut config,
        "probe",
        json!({ "fail": "error", "fallback": "deny" }),
    );
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": [BEFORE], "decides": false, "await_decision": true }),
    );
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["ErrorCode"], 1, "{reply}");
    let entries = journal_of(&tag, 1).await;
    assert_eq!(entries[0].decision, Some((1, DecidedBy::Fallback("probe"))));
    let fallback = format!(
        r#"chathook_fallbacks_total{{handler="probe",command="{BEFORE}",decision="deny"}}"#
    );
    assert_eq!(server.metric(&fallback).await, 1.0);
}

#[tokio::test]
async fn observers_alone_leave_the_answer_to_dispatch_unrouted() {
    for unrouted in [Unrouted::Accept, Unrouted::Reject] {
        let tag = tag(&format!("observers-alone-{unrouted:?}"));
        let mut config = base_config();
        config.dispatch.unrouted = unrouted;
        recorder(
            &mut config,
            "a",
            &tag,
            json!({ "commands": ["before"], "decides": false, "await_decision": true }),
        );
        let server = TestServer::start(config).await;
        let reply = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
        let expected_code = match unrouted {
            Unrouted::Accept => {
                assert_eq!(reply.0, 200, "{}", reply.1);
                assert_eq!(reply.1["ErrorCode"], 0);
                0
            }
            Unrouted::Reject => {
                assert_fail(&reply, 501, 50101, BEFORE);
                50101
            }
        };
        let entries = journal_of(&tag, 1).await;
        assert_eq!(
            entries[0].decision,
            Some((expected_code, DecidedBy::NoDecider))
        );
    }
}

#[tokio::test]
async fn patterns_select_by_family_kind_and_everything_including_unknown_commands() {
    let tag = tag("patterns");
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": ["Group.*"], "decides": false }),
    );
    recorder(&mut config, "b", &tag, json!({ "commands": ["after"] }));
    // recorder_a and recorder_c share before-callbacks: one of them decides.
    recorder(
        &mut config,
        "c",
        &tag,
        json!({ "commands": ["*"], "decides": true }),
    );
    let server = TestServer::start(config).await;

    let cases: [(&str, &[&str]); 6] = [
        (AFTER, &["recorder_a", "recorder_b", "recorder_c"]),
        ("State.StateChange", &["recorder_b", "recorder_c"]),
        (BEFORE, &["recorder_a", "recorder_c"]),
        // Commands Tencent has not documented (yet): by family and by kind from the name.
        (
            "Group.CallbackAfterSomethingNew",
            &["recorder_a", "recorder_b", "recorder_c"],
        ),
        ("Nova.CallbackAfterLaunch", &["recorder_b", "recorder_c"]),
        ("Nova.CallbackBeforeLaunch", &["recorder_c"]),
    ];
    for (command, expected) in cases {
        let body = match chathook_core::protocol::known_command(command) {
            Some(_) => fixture(command),
            None => json!({ "CallbackCommand": command, "Extra": 1 }).to_string(),
        };
        let (status, reply) = server.post(&fresh_query(command), body).await;
        assert_eq!(status, 200, "{command}: {reply}");
        let entries = journal_of(&tag, 0).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut got = handlers_of(&entries, command);
        // Observers of a before-callback may finish after the answer.
        while got.len() < expected.len() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            got = handlers_of(&journal(&tag), command);
        }
        assert_eq!(got, expected, "{command}");
    }
    // A command the table lacks is counted as `other`, so a caller cannot grow the series.
    assert_eq!(
        server.metric(&results("recorder_c", "other", "ok")).await,
        3.0
    );
}

#[tokio::test]
async fn exclusions_and_a_registration_default_narrow_the_set() {
    let tag = tag("exclusions");
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": ["Group.*:after", "!Group.CallbackAfterReadReceipt"] }),
    );
    // recorder_c's registration defaults to "Group.*:after" when its table names none.
    recorder(&mut config, "c", &tag, json!({}));
    let server = TestServer::start(config).await;
    for command in [AFTER, "Group.CallbackAfterReadReceipt", "State.StateChange"] {
        let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
        assert_eq!(status, 200, "{command}: {reply}");
    }
    let entries = journal(&tag);
    assert_eq!(handlers_of(&entries, AFTER), ["recorder_a", "recorder_c"]);
    assert_eq!(
        handlers_of(&entries, "Group.CallbackAfterReadReceipt"),
        ["recorder_c"]
    );
    assert!(handlers_of(&entries, "State.StateChange").is_empty());
}

#[tokio::test]
async fn graceful_shutdown_waits_for_observers() {
    let tag = tag("shutdown");
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": [BEFORE], "decides": false, "delay_ms": 500 }),
    );
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    assert!(journal(&tag).is_empty());
    server.stop().await.unwrap();
    assert_eq!(handlers_of(&journal(&tag), BEFORE), ["recorder_a"]);
}

async fn startup_error(config: chathook_core::Config) -> String {
    match TestServer::try_start(config).await {
        Ok(_) => panic!("the server started"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn each_misconfiguration_is_refused_at_start_up_naming_the_handlers() {
    // Two deciders for one before-callback.
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": ["before"], "decides": true }),
    );
    recorder(
        &mut config,
        "b",
        "x",
        json!({ "commands": [BEFORE], "decides": true }),
    );
    assert_eq!(
        startup_error(config).await,
        "handlers recorder_a and recorder_b all have decides = true and all serve \
         Group.CallbackBeforeSendMsg: only one can decide; set decides = false on the others, or \
         narrow their commands so that only one serves it"
    );

    // Several handlers for one before-callback and no decider.
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    recorder(&mut config, "a", "x", json!({ "commands": ["Group.*"] }));
    assert_eq!(
        startup_error(config).await,
        "handlers probe and recorder_a all serve the before callback Group.CallbackBeforeSendMsg \
         and none decides it: set decides = true in the table of the one whose reply Chat should \
         get (the others then observe)"
    );

    // The same through a command the table lacks: two "*" handlers, neither deciding.
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": ["*", "!before"] }),
    );
    recorder(&mut config, "b", "x", json!({ "commands": ["*"] }));
    recorder(&mut config, "c", "x", json!({ "commands": ["*"] }));
    let error = startup_error(config).await;
    assert!(
        error.starts_with("handlers recorder_b and recorder_c all serve the before callback "),
        "{error}"
    );

    // A malformed pattern.
    let mut config = base_config();
    recorder(&mut config, "a", "x", json!({ "commands": ["Group"] }));
    assert_eq!(
        startup_error(config).await,
        "invalid commands in [handlers.recorder_a]: \"Group\" is not a pattern: a bare word is a \
         kind (before, after, reply-bearing); for the Group family write \"Group.*\""
    );

    // A pattern list that selects nothing.
    let mut config = base_config();
    recorder(&mut config, "a", "x", json!({ "commands": ["!Group.*"] }));
    let error = startup_error(config).await;
    assert!(
        error.starts_with("invalid commands in [handlers.recorder_a]: commands selects nothing"),
        "{error}"
    );

    // Commands set for a handler whose commands are fixed in its code.
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "commands": ["*"] }));
    let error = startup_error(config).await;
    assert!(
        error.starts_with(
            "[handlers.probe] sets commands, but handler probe serves commands fixed in its code \
             (State.StateChange, "
        ),
        "{error}"
    );

    // A handler that takes its commands from config, and its table names none.
    let mut config = base_config();
    recorder(&mut config, "a", "x", json!({}));
    assert_eq!(
        startup_error(config).await,
        "handler recorder_a serves the commands its config selects, and [handlers.recorder_a] has \
         no commands key: add one, e.g. commands = [\"Group.*\"] or commands = [\"*\"]"
    );
}

#[test]
fn a_pattern_that_matches_nothing_known_is_only_a_warning() {
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": ["Grop.*", "Group.CallbackAfterSendMsg"] }),
    );
    let plan = chathook_core::registry::Plan::new(&config).expect("a warning, not an error");
    assert_eq!(
        plan.warnings(),
        [
            "handler recorder_a: commands pattern \"Grop.*\" matches no command in the table; it \
          applies only if Chat sends such a command (check the spelling: `chathook handlers` \
          lists the table)"
        ]
    );
}

#[test]
fn the_failed_handler_is_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let tables = "[handlers.recorder_a]\nenabled = true\ntag = \"log\"\ncommands = [\"after\"]\n\
                  fail = \"error\"\n\
                  [handlers.recorder_b]\nenabled = true\ntag = \"log\"\ncommands = [\"after\"]\n";
    let config = write_config(dir.path(), &format!("{APP_TOML}{tables}"));
    let mut command = clean_command(server_binary!(), dir.path());
    command.arg("--config").arg(&config);
    let mut server = RunningBinary::spawn(command);
    let url = server.url(&format!(
        "/callback?{}",
        signed_query(AFTER, "file-token", now())
    ));
    let status = block_on(async {
        reqwest::Client::new()
            .post(url)
            .body(fixture(AFTER))
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    });
    assert_eq!(status, 500);
    let line = server.next_event("handler failed: recorder_a could not forward the callback");
    assert_eq!(line["span"]["handler"], "recorder_a", "{line}");
    assert_eq!(line["level"], "ERROR", "{line}");
    let _ = server.stop();
}

#[test]
fn the_docs_fan_out_example_holds() {
    use chathook_core::registry::{Plan, Role, Source};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/callbacks.md")).unwrap();
    let section = doc
        .split_once("## Several handlers per command")
        .expect("the fan-out section")
        .1;
    let example = section
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("its example config")
        .0;
    // The same shape with handlers this binary links: probe's before-command is fixed in its
    // code like keyword_filter's, and a recorder takes its commands from config like the
    // team's audit log.
    let linked = example
        .replace("keyword_filter", "probe")
        .replace("banned_words = [\"spam\"]", "")
        .replace("audit_log]", "recorder_a]\ntag = \"readme\"");
    let config = figment::Figment::from(figment::providers::Serialized::defaults(base_config()))
        .merge(<figment::providers::Toml as figment::providers::Format>::string(&linked));
    let config = chathook_core::Config::from_figment(&config).expect("the example loads");
    let plan = Plan::new(&config).expect("the example is a valid routing table");
    assert!(plan.warnings().is_empty(), "{:?}", plan.warnings());
    let rows = plan.routing_table();
    let handlers = |command: &str| -> Vec<(&'static str, Option<Role>, Source)> {
        rows.iter()
            .find(|row| row.command == command)
            .unwrap()
            .handlers
            .iter()
            .filter(|handler| handler.role.is_some())
            .map(|handler| (handler.name, handler.role, handler.source.clone()))
            .collect()
    };
    let group = Source::Config("Group.*".into());
    assert_eq!(
        handlers("Group.CallbackAfterReadReceipt"),
        [("read_receipt", Some(Role::Runs), Source::Code)]
    );
    assert_eq!(
        handlers(BEFORE),
        [
            ("probe", Some(Role::Decides), Source::Code),
            ("recorder_a", Some(Role::Observes), group.clone())
        ]
    );
    assert_eq!(
        handlers("C2C.CallbackAfterSendMsg"),
        [(
            "recorder_a",
            Some(Role::Runs),
            Source::Config("C2C.*".into())
        )]
    );
    // Outside the audit log's families (probe, unlike keyword_filter, also serves it).
    assert_eq!(
        handlers("State.StateChange"),
        [("probe", Some(Role::Runs), Source::Code)]
    );
}

#[tokio::test]
async fn two_handlers_with_fixed_commands_share_an_after_callback() {
    // Before fan-out this was a start-up error; now both run.
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    enable(&mut config, "rival", json!({}));
    let server = TestServer::start(config).await;
    let command = "State.StateChange";
    let (status, reply) = server.post(&fresh_query(command), fixture(command)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({ "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "" })
    );
    for handler in ["probe", "rival"] {
        assert_eq!(server.metric(&results(handler, command, "ok")).await, 1.0);
    }
}

#[tokio::test]
async fn excluding_a_family_holds_for_commands_the_table_lacks() {
    let tag = tag("family-exclusion");
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": ["*", "!Group.*"], "decides": false }),
    );
    let server = TestServer::start(config).await;
    for command in [
        "Group.CallbackAfterSomethingNew",
        "Nova.CallbackAfterLaunch",
    ] {
        let body = json!({ "CallbackCommand": command }).to_string();
        let (status, reply) = server.post(&fresh_query(command), body).await;
        assert_eq!(status, 200, "{command}: {reply}");
    }
    let entries = journal(&tag);
    assert!(handlers_of(&entries, "Group.CallbackAfterSomethingNew").is_empty());
    assert_eq!(
        handlers_of(&entries, "Nova.CallbackAfterLaunch"),
        ["recorder_a"]
    );
}

#[tokio::test]
async fn observers_get_even_a_late_deciders_fallback() {
    let tag = tag("late-decider");
    let mut config = base_config();
    config.dispatch.handler_timeout_ms = 300;
    enable(
        &mut config,
        "probe",
        json!({ "delay_ms": 1000, "fallback": "deny" }),
    );
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": [BEFORE], "decides": false, "await_decision": true }),
    );
    let server = TestServer::start(config).await;
    let (status, reply) = server.post(&fresh_query(BEFORE), fixture(BEFORE)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["ErrorCode"], 1, "{reply}");
    let entries = journal_of(&tag, 1).await;
    assert_eq!(entries.len(), 1, "the observer never got the decision");
    assert_eq!(entries[0].decision, Some((1, DecidedBy::Fallback("probe"))));
    assert_eq!(
        server.metric(&results("probe", BEFORE, "timed_out")).await,
        1.0
    );
}

#[tokio::test]
async fn every_handler_finishes_when_the_client_hangs_up() {
    let tag = tag("hang-up");
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "delay_ms": 300 }));
    recorder(
        &mut config,
        "a",
        &tag,
        json!({ "commands": ["Group.*"], "decides": false, "delay_ms": 300 }),
    );
    recorder(
        &mut config,
        "b",
        &tag,
        json!({ "commands": [AFTER], "delay_ms": 300 }),
    );
    let server = TestServer::start(config).await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(50))
        .build()
        .unwrap();
    for command in [AFTER, BEFORE] {
        let url = server.url(&format!("/callback?{}", fresh_query(command)));
        let sent = client.post(url).body(fixture(command)).send().await;
        assert!(sent.is_err(), "the client was meant to give up first");
    }
    let entries = journal_of(&tag, 3).await;
    assert_eq!(handlers_of(&entries, AFTER), ["recorder_a", "recorder_b"]);
    assert_eq!(handlers_of(&entries, BEFORE), ["recorder_a"]);
    let probe_ok = results("probe", AFTER, "ok");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.metric(&probe_ok).await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "probe never finished");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_misconfigurations_of_commands_the_table_lacks_are_refused_too() {
    // Two handlers for an undocumented family, neither deciding its before-callbacks.
    let mut config = base_config();
    recorder(&mut config, "a", "x", json!({ "commands": ["Nova.*"] }));
    recorder(&mut config, "b", "x", json!({ "commands": ["Nova.*"] }));
    assert_eq!(
        startup_error(config).await,
        "handlers recorder_a and recorder_b all serve the before callback Nova.* (not in the \
         table) and none decides it: set decides = true in the table of the one whose reply \
         Chat should get (the others then observe)"
    );
    // Two of them deciding.
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": ["Nova.*"], "decides": true }),
    );
    recorder(
        &mut config,
        "b",
        "x",
        json!({ "commands": ["*"], "decides": true }),
    );
    let error = startup_error(config).await;
    assert!(
        error.starts_with("handlers recorder_a and recorder_b all have decides = true"),
        "{error}"
    );
    // Several handlers that all only observe: still nobody decides.
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": [BEFORE], "decides": false }),
    );
    recorder(
        &mut config,
        "b",
        "x",
        json!({ "commands": [BEFORE], "decides": false }),
    );
    let error = startup_error(config).await;
    assert!(
        error.starts_with(
            "handlers recorder_a and recorder_b all serve the before callback \
             Group.CallbackBeforeSendMsg and none decides it"
        ),
        "{error}"
    );
}

#[test]
fn a_decider_role_that_can_never_apply_is_a_warning() {
    let mut config = base_config();
    recorder(
        &mut config,
        "a",
        "x",
        json!({ "commands": ["after"], "decides": true }),
    );
    // probe decides nothing it serves once recorder_b decides every before-callback.
    enable(&mut config, "probe", json!({}));
    recorder(
        &mut config,
        "b",
        "x",
        json!({ "commands": ["before", "reply-bearing"], "decides": true }),
    );
    let plan = chathook_core::registry::Plan::new(&config).unwrap();
    assert_eq!(
        plan.warnings(),
        [
            "handler probe: another handler decides every before-callback it serves, so its \
             replies to them are ignored; set decides = false to say that is intended",
            "handler recorder_a: decides = true, but it serves no before-callback",
        ]
    );
}

#[tokio::test]
async fn api_errors_come_from_the_one_table_and_are_counted_by_reason() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({}));
    let server = TestServer::start(config).await;
    for (path, token, status, reason) in [
        ("/api/v1/probe/1", None, 401, "api_token_missing"),
        ("/api/v1/probe/1", Some("wrong"), 401, "api_token_invalid"),
        (
            "/api/v1/probe-error/bad_request",
            Some(API_TOKEN),
            400,
            "api_bad_request",
        ),
        (
            "/api/v1/probe-error/not_found",
            Some(API_TOKEN),
            404,
            "api_not_found",
        ),
        (
            "/api/v1/probe-error/unavailable",
            Some(API_TOKEN),
            503,
            "api_unavailable",
        ),
    ] {
        let mut request = server.client.get(server.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["reason"], reason, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        let counted = format!(r#"chathook_rejections_total{{reason="{reason}"}}"#);
        assert_eq!(server.metric(&counted).await, 1.0, "{reason}");
    }
}
