//! `examples/nats-consumer` against the shared NATS server: it prints what chathook publishes
//! (subject, headers, body) in stream order, a durable consumer resumes after what it
//! acknowledged, a new consumer replays from a sequence or a time, and its command line.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::DeliverPolicy, stream};
use chathook_nats::{
    CLIENT_IP, COMMAND, MSG_ID, OPT_PLATFORM, RECEIVED_AT, REQUEST_TIME, SDK_APP_ID, message_id,
};
use chathook_tests::nats::{SHARED_NATS, delete_stream, unique_stream};
use clap::Parser as _;
use example_nats_consumer::{Options, run};
use serde_json::json;

const APP: u64 = 1_400_000_000;

/// The consumer's options from a command line (after the program name), on the shared server.
fn options<S: AsRef<str>>(args: &[S]) -> Options {
    let program = ["example-nats-consumer", "--server", SHARED_NATS];
    Options::try_parse_from(program.into_iter().chain(args.iter().map(AsRef::as_ref)))
        .expect("valid arguments")
}

/// Runs the consumer; its count and what it printed.
async fn consume(args: &[String]) -> anyhow::Result<(usize, String)> {
    let mut out = Vec::new();
    let printed = run(&options(args), &mut out).await?;
    Ok((printed, String::from_utf8(out).expect("UTF-8 output")))
}

/// One message as chathook publishes it: subject, headers (the last two only when the query
/// had them) and body; with the line and body the consumer prints for it at `sequence`.
async fn publish(
    jetstream: &jetstream::Context,
    prefix: &str,
    sequence: u64,
    command: &str,
    query: Option<(&str, &str)>,
) -> String {
    let body = json!({ "CallbackCommand": command, "Seq": sequence }).to_string();
    let mut headers = vec![
        (SDK_APP_ID, APP.to_string()),
        (COMMAND, command.to_owned()),
        (RECEIVED_AT, (1_763_900_000_000 + sequence).to_string()),
        (REQUEST_TIME, (1_763_900_000 + sequence).to_string()),
        (MSG_ID, message_id(APP, command, body.as_bytes())),
    ];
    if let Some((ip, platform)) = query {
        headers.push((CLIENT_IP, ip.to_owned()));
        headers.push((OPT_PLATFORM, platform.to_owned()));
    }
    let subject = format!("{prefix}.{APP}.{command}");
    let mut map = HeaderMap::new();
    for (name, value) in &headers {
        map.insert(*name, value.as_str());
    }
    let ack = jetstream
        .publish_with_headers(subject.clone(), map, body.clone().into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    assert_eq!(ack.sequence, sequence);
    headers.sort();
    let headers: String = headers
        .iter()
        .map(|(name, value)| format!(" {name}={value}"))
        .collect();
    format!("#{sequence} {subject}{headers}\n{body}\n")
}

#[tokio::test]
async fn prints_each_callback_then_resumes_and_replays() {
    let (prefix, name) = unique_stream("consumer");
    let jetstream = jetstream::new(async_nats::connect(SHARED_NATS).await.unwrap());
    let stream = jetstream
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        })
        .await
        .expect("a stream");

    let mut expected = Vec::new();
    for (sequence, command, query) in [
        (
            1,
            "Group.CallbackAfterSendMsg",
            Some(("203.0.113.7", "iOS")),
        ),
        (
            2,
            "Group.CallbackBeforeSendMsg",
            Some(("203.0.113.8", "Web")),
        ),
        (3, "Group.CallbackAfterNewMemberJoin", None),
        // Not a group callback: outside the filter below.
        (4, "C2C.CallbackAfterSendMsg", None),
    ] {
        expected.push(publish(&jetstream, &prefix, sequence, command, query).await);
    }
    // The headers, sorted, on the subject's line; the body as sent on the next.
    assert!(expected[0].starts_with(&format!(
        "#1 {prefix}.{APP}.Group.CallbackAfterSendMsg Chathook-Client-Ip=203.0.113.7 \
         Chathook-Command=Group.CallbackAfterSendMsg Chathook-Opt-Platform=iOS \
         Chathook-Received-At=1763900000001 Chathook-Request-Time=1763900001 \
         Chathook-Sdk-App-Id=1400000000 Nats-Msg-Id="
    )));

    let filter = format!("{prefix}.*.Group.>");
    let consumer = |durable: &str, extra: &[&str]| {
        let mut args = vec![
            "--stream".to_owned(),
            name.clone(),
            "--consumer".to_owned(),
            durable.to_owned(),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    };

    let printer = consumer("printer", &["--filter", &filter, "--count", "3"]);
    let (printed, out) = consume(&printer).await.unwrap();
    assert_eq!(printed, 3);
    assert_eq!(out, expected[..3].concat());

    // The same durable name resumes after what it acknowledged: nothing old, and nothing
    // outside its filter.
    let again = consumer(
        "printer",
        &[
            "--filter",
            &filter,
            "--count",
            "1",
            "--idle-exit-secs",
            "0.5",
        ],
    );
    let (printed, out) = consume(&again).await.unwrap();
    assert_eq!((printed, out.as_str()), (0, ""));

    // A consumer's filter is fixed when it is created.
    let refiltered = consumer("printer", &["--filter", &format!("{prefix}.>")]);
    let err = consume(&refiltered).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("fixed when it is created"),
        "{err:#}"
    );

    // Replay: a new consumer from sequence 2 prints 2 and 3 (4 is outside the filter), then
    // stops when idle.
    let replay = consumer(
        "replay",
        &[
            "--filter",
            &filter,
            "--from-sequence",
            "2",
            "--idle-exit-secs",
            "0.5",
        ],
    );
    let (printed, out) = consume(&replay).await.unwrap();
    assert_eq!(printed, 2);
    assert_eq!(out, expected[1..3].concat());
    // An existing name cannot be given another start.
    let restart = consumer(
        "replay",
        &[
            "--filter",
            &filter,
            "--from-sequence",
            "1",
            "--idle-exit-secs",
            "0.5",
        ],
    );
    let err = consume(&restart).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("replay needs a new consumer name"),
        "{err:#}"
    );

    // Replay by time, unfiltered: from the time message 2 was stored.
    let second = stream.get_raw_message(2).await.expect("message 2");
    let mut since = options(&consumer("since", &["--idle-exit-secs", "0.5"]));
    since.from_time = Some(second.time);
    let mut out = Vec::new();
    let printed = run(&since, &mut out).await.unwrap();
    assert_eq!(printed, 3);
    assert_eq!(String::from_utf8(out).unwrap(), expected[1..].concat());

    delete_stream(SHARED_NATS, &name).await;
}

#[test]
fn command_line() {
    let defaults = Options::try_parse_from(["example-nats-consumer"]).unwrap();
    assert_eq!(defaults.server, "nats://127.0.0.1:4222");
    assert_eq!(defaults.stream, "CHATHOOK");
    assert_eq!(defaults.consumer, "chathook-printer");
    assert_eq!(defaults.filter, None);
    assert_eq!(defaults.count, None);
    assert_eq!(defaults.idle_exit, None);
    assert_eq!(defaults.deliver_policy(), DeliverPolicy::All);

    let set = Options::try_parse_from([
        "example-nats-consumer",
        "--server",
        "nats://nats.internal:4222",
        "--consumer",
        "team",
        "--filter",
        "chathook.*.Group.>",
        "--count",
        "7",
        "--idle-exit-secs",
        "1.5",
        "--from-time",
        "2026-11-23T08:00:00+08:00",
    ])
    .unwrap();
    assert_eq!(set.server, "nats://nats.internal:4222");
    assert_eq!(set.consumer, "team");
    assert_eq!(set.filter.as_deref(), Some("chathook.*.Group.>"));
    assert_eq!(set.count, Some(7));
    assert_eq!(set.idle_exit, Some(Duration::from_millis(1500)));
    assert_eq!(
        set.deliver_policy(),
        DeliverPolicy::ByStartTime {
            start_time: async_nats::datetime::parse_rfc3339("2026-11-23T00:00:00Z").unwrap()
        }
    );
    assert_eq!(
        options(&["--from-sequence", "2"]).deliver_policy(),
        DeliverPolicy::ByStartSequence { start_sequence: 2 }
    );

    for bad in [
        &[
            "--from-sequence",
            "2",
            "--from-time",
            "2026-11-23T08:00:00Z",
        ][..],
        &["--from-sequence", "0"],
        &["--from-time", "yesterday"],
        &["--idle-exit-secs", "-1"],
        &["--count", "many"],
    ] {
        let args = std::iter::once("example-nats-consumer").chain(bad.iter().copied());
        assert!(Options::try_parse_from(args).is_err(), "{bad:?} accepted");
    }
}
