//! A small durable JetStream pull consumer for what chathook's `nats` plugin publishes. It prints
//! each callback's stream sequence, subject and headers on one line, then its body, and
//! acknowledges the message only once it is printed.
//!
//! This is the shape to copy into a service of your own: keep [`run`]'s connect, bind, fetch
//! and ack loop, and put your work where it calls [`print()`].
//!
//! ```text
//! example-nats-consumer --count 10
//! example-nats-consumer --consumer group-msgs --filter 'chathook.*.Group.>'
//! example-nats-consumer --consumer replay-1 --from-time 2026-11-23T08:00:00Z --idle-exit-secs 2
//! ```
//!
//! # Resuming where it left off
//!
//! The consumer is *durable*: JetStream keeps it under its name (`--consumer`, by default
//! `chathook-printer`) and remembers which messages it acknowledged. Stop the process and start
//! it again with the same name, and it carries on after the last acknowledged message, including
//! everything published while it was away. A message that was delivered but never acknowledged
//! (the process died between printing and acking) is delivered again once the consumer's ack
//! wait (30 s by default) has passed. Delivery is therefore at least once: make your work
//! idempotent; `Nats-Msg-Id`, a digest of app, command and body, is a ready key.
//!
//! # Scaling out
//!
//! Start several processes with the same durable name (and the same filter): they pull from the
//! one consumer and JetStream hands each message to exactly one of them, so they share the work.
//! Order across the processes is not kept; if one dies, the messages it held unacknowledged go
//! to the others after the ack wait.
//!
//! # Filtering
//!
//! `--filter` gives the consumer a subject filter, such as `chathook.*.Group.>` (every group
//! callback of every app) or `chathook.1400000000.>` (one app). Subjects are
//! `<prefix>.<SdkAppid>.<CallbackCommand>`, and the command itself contains a dot.
//!
//! # Replay
//!
//! To read history again, create a *new* consumer (another `--consumer` name) that starts
//! elsewhere: `--from-sequence N` (JetStream's `DeliverPolicy::ByStartSequence`) or
//! `--from-time 2026-11-23T08:00:00Z` (`DeliverPolicy::ByStartTime`, RFC 3339). Where a consumer
//! starts, and its filter, are fixed when it is created: NATS refuses to create a consumer under
//! an existing name with another start, and an existing consumer does not change its filter, so
//! [`run`] refuses a `--filter` that differs from the bound consumer's. Run the same replay
//! command again and it resumes the replay. Remove a replay consumer when done
//! (`nats consumer rm CHATHOOK replay-1`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::datetime::DateTime;
use async_nats::jetstream::{
    self, Message,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    stream::Stream,
};
use futures_util::StreamExt as _;

/// At most this many messages are requested at once (fewer when `--count` needs fewer, so no
/// message is held unacknowledged past the last one wanted).
const BATCH: usize = 64;
/// How long one pull request waits for messages before the next is sent.
const POLL: Duration = Duration::from_secs(5);
/// The shortest pull request, when an idle timeout is about to run out.
const MIN_POLL: Duration = Duration::from_millis(50);

/// What to consume and when to stop: the binary's command line.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "example-nats-consumer",
    version,
    about = "Print each chathook callback in a JetStream stream, with its subject and headers, \
             through a durable pull consumer."
)]
pub struct Options {
    /// The NATS server.
    #[arg(long, value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    pub server: String,
    /// The stream chathook publishes into.
    #[arg(long, value_name = "NAME", default_value = "CHATHOOK")]
    pub stream: String,
    /// The durable consumer's name: created if missing, resumed if it exists.
    #[arg(long, value_name = "NAME", default_value = "chathook-printer")]
    pub consumer: String,
    /// A subject filter for a new consumer, such as `chathook.*.Group.>`.
    #[arg(long, value_name = "SUBJECT")]
    pub filter: Option<String>,
    /// Stop after printing this many messages (else run until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop once no message has arrived for this long (seconds; fractions allowed).
    #[arg(long = "idle-exit-secs", value_name = "SECS", value_parser = parse_secs)]
    pub idle_exit: Option<Duration>,
    /// Replay: a new consumer starts at this stream sequence.
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..))]
    pub from_sequence: Option<u64>,
    /// Replay: a new consumer starts at the first message stored at or after this time
    /// (RFC 3339, such as 2026-11-23T08:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "from_sequence")]
    pub from_time: Option<DateTime>,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    Duration::try_from_secs_f64(secs).map_err(|err| err.to_string())
}

fn parse_time(text: &str) -> Result<DateTime, String> {
    async_nats::datetime::parse_rfc3339(text)
        .map_err(|err| format!("{text:?} is not an RFC 3339 time: {err}"))
}

impl Options {
    /// Where a new consumer starts: the stream's first message unless a replay flag says
    /// otherwise.
    pub fn deliver_policy(&self) -> DeliverPolicy {
        match (self.from_sequence, self.from_time) {
            (Some(start_sequence), _) => DeliverPolicy::ByStartSequence { start_sequence },
            (None, Some(start_time)) => DeliverPolicy::ByStartTime { start_time },
            (None, None) => DeliverPolicy::All,
        }
    }
}

/// Connects, binds the durable consumer (creating it if missing) and prints messages to `out`,
/// acknowledging each once printed, until `count` messages are printed or none arrived for
/// `idle_exit`. Returns how many it printed.
///
/// Without either limit it runs until its future is dropped (the binary drops it on Ctrl-C); a
/// message printed but not yet acknowledged then is delivered again later.
pub async fn run(options: &Options, out: &mut impl Write) -> anyhow::Result<usize> {
    let client = async_nats::connect(&options.server)
        .await
        .with_context(|| format!("cannot connect to NATS at {}", options.server))?;
    let jetstream = jetstream::new(client);
    let stream = jetstream
        .get_stream(&options.stream)
        .await
        .with_context(|| format!("cannot get stream {}", options.stream))?;
    let consumer = bind(&stream, options).await?;

    let mut printed = 0;
    let mut last_message = Instant::now();
    while options.count.is_none_or(|count| printed < count) {
        let wanted = options
            .count
            .map_or(BATCH, |count| (count - printed).min(BATCH));
        let wait = options.idle_exit.map_or(POLL, |idle| {
            idle.saturating_sub(last_message.elapsed())
                .clamp(MIN_POLL, POLL)
        });
        let mut batch = consumer
            .batch()
            .max_messages(wanted)
            .expires(wait)
            .messages()
            .await
            .context("cannot pull messages")?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(anyhow::Error::from_boxed)?;
            print(&message, out)?;
            // Acknowledged only once printed; the double ack waits until JetStream recorded it.
            message
                .double_ack()
                .await
                .map_err(anyhow::Error::from_boxed)
                .context("cannot acknowledge a message")?;
            printed += 1;
            last_message = Instant::now();
        }
        if options
            .idle_exit
            .is_some_and(|idle| last_message.elapsed() >= idle)
        {
            break;
        }
    }
    Ok(printed)
}

/// The durable pull consumer `options.consumer` on `stream`: bound if it exists, else created
/// with explicit acks, the filter and the start of `options`.
async fn bind(stream: &Stream, options: &Options) -> anyhow::Result<PullConsumer> {
    let name = &options.consumer;
    let config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: options.filter.clone().unwrap_or_default(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: options.deliver_policy(),
        ..Default::default()
    };
    let consumer = if options.from_sequence.is_some() || options.from_time.is_some() {
        // Create, not get: NATS refuses an existing name whose start differs.
        stream.create_consumer(config).await.with_context(|| {
            format!("cannot create consumer {name} (replay needs a new consumer name)")
        })?
    } else {
        stream
            .get_or_create_consumer(name, config)
            .await
            .with_context(|| format!("cannot bind consumer {name}"))?
    };
    if let Some(filter) = &options.filter {
        let bound = &consumer.cached_info().config.filter_subject;
        if bound != filter {
            bail!(
                "consumer {name} exists with filter {bound:?}, not {filter:?}; \
                 a consumer's filter is fixed when it is created: use a new consumer name"
            );
        }
    }
    Ok(consumer)
}

/// Writes one message to `out`: `#<stream sequence> <subject>` and its headers, sorted by name,
/// as `Name=value` on one line, then the body exactly as stored on the next.
pub fn print(message: &Message, out: &mut impl Write) -> anyhow::Result<()> {
    let sequence = message
        .info()
        .map_err(anyhow::Error::from_boxed)?
        .stream_sequence;
    let mut headers = BTreeMap::new();
    for (name, values) in message.headers.iter().flat_map(|headers| headers.iter()) {
        headers.insert(name.to_string(), values);
    }
    write!(out, "#{sequence} {}", message.subject)?;
    for (name, values) in headers {
        for value in values {
            write!(out, " {name}={value}")?;
        }
    }
    writeln!(out)?;
    out.write_all(&message.payload)?;
    if !message.payload.ends_with(b"\n") {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
