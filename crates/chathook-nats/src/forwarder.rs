//! Publishing with a spool behind it: straight into JetStream while it acknowledges in time,
//! into the spool when it does not, and back in arrival order once it answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

use crate::message::Outgoing;
use crate::spool::{Spool, SpoolError, unix_ms};

/// Entries the drainer reads from the spool at a time.
const DRAIN_BATCH: usize = 256;
/// How often the drainer looks at the spool when nobody wakes it, and refreshes the gauges.
const DRAIN_TICK: Duration = Duration::from_secs(1);
/// First and longest pause between two drain attempts while JetStream does not answer.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a spool that cannot drain is said in the log.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The stream chathook publishes into, as configured.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Its name.
    pub name: String,
    /// `<prefix>.>`: every subject chathook publishes.
    pub subjects: String,
    /// Create it (or accept it as it is) rather than only check it.
    pub create: bool,
    /// How long messages are kept; zero keeps them until removed otherwise.
    pub max_age: Duration,
    /// How long JetStream remembers a `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// Copies in a JetStream cluster.
    pub replicas: usize,
}

/// Why JetStream did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    /// No acknowledgement within the deadline.
    #[error("JetStream did not acknowledge within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The message is larger than the server accepts.
    #[error("the message is larger than the NATS server's max_payload")]
    TooLarge,
    /// Anything else the client reports.
    #[error("{0}")]
    Refused(String),
}

/// The plugin's metrics.
#[derive(Clone, Default)]
pub struct NatsMetrics {
    published: Counter,
    duplicates: Counter,
    spooled: Counter,
    drained: Counter,
    spool_refused: Counter,
    oversized: Family<ActionLabel, Counter>,
    spool_entries: Gauge,
    spool_bytes: Gauge,
    spool_oldest_age: Gauge,
    publish_latency: LatencyHistogram,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Clone)]
struct LatencyHistogram(Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self(Histogram::new(exponential_buckets(0.0001, 2.0, 16)))
    }
}

impl NatsMetrics {
    /// Registers every series, as `chathook_nats_*` (the registry adds `chathook_`).
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("nats");
        registry.register(
            "published",
            "Callbacks JetStream acknowledged on first publish",
            self.published.clone(),
        );
        registry.register(
            "duplicates",
            "Publishes JetStream acknowledged as a duplicate of a message already in the stream \
             (same Nats-Msg-Id within the duplicate window)",
            self.duplicates.clone(),
        );
        registry.register(
            "spooled",
            "Callbacks committed to the local spool because JetStream did not acknowledge in time",
            self.spooled.clone(),
        );
        registry.register(
            "drained",
            "Spooled callbacks published to JetStream and removed from the spool",
            self.drained.clone(),
        );
        registry.register(
            "spool_refused",
            "Callbacks answered 500 because the spool was full",
            self.spool_refused.clone(),
        );
        registry.register(
            "oversized",
            "Callbacks larger than the NATS server's max_payload, by the configured action",
            self.oversized.clone(),
        );
        registry.register(
            "spool_entries",
            "Callbacks in the spool now",
            self.spool_entries.clone(),
        );
        registry.register(
            "spool_bytes",
            "Body bytes in the spool now",
            self.spool_bytes.clone(),
        );
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest callback in the spool (0 when empty)",
            self.spool_oldest_age.clone(),
        );
        registry.register(
            "publish_duration_seconds",
            "Time from publish to JetStream's acknowledgement, direct and drained",
            self.publish_latency.0.clone(),
        );
    }

    /// Counts an oversized callback and what was done with it.
    pub fn oversized(&self, action: &'static str) {
        self.oversized.get_or_create(&ActionLabel { action }).inc();
    }
}

/// Which way callbacks go now. Guarded by one lock so that the switch back to direct
/// publishing cannot overtake a callback being queued for the spool.
#[derive(Debug, Default)]
struct Gate {
    /// Appends queued for the spool and not yet committed.
    pending: u64,
}

/// One append on its way into the spool, counted in the gate until it is dropped.
struct Pending<'a>(&'a Mutex<Gate>);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("gate").pending -= 1;
    }
}

/// Publishes callbacks, spooling what JetStream does not acknowledge in time.
pub struct Forwarder {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: StreamSettings,
    stream_ready: AtomicBool,
    /// True while the spool holds (or is about to hold) callbacks: new ones queue behind them.
    spooling: AtomicBool,
    gate: Mutex<Gate>,
    spool: Spool,
    publish_timeout: Duration,
    wake_drainer: Arc<Notify>,
    metrics: NatsMetrics,
}

impl Forwarder {
    /// A forwarder on a connected (or connecting) client; spools from the start if the
    /// spool is not empty, so what a previous run left is published first.
    pub fn new(
        client: async_nats::Client,
        stream: StreamSettings,
        spool: Spool,
        publish_timeout: Duration,
    ) -> Arc<Self> {
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(publish_timeout);
        let spooling = spool.stats().entries > 0;
        Arc::new(Self {
            client,
            jetstream,
            stream,
            stream_ready: AtomicBool::new(false),
            spooling: AtomicBool::new(spooling),
            gate: Mutex::new(Gate::default()),
            spool,
            publish_timeout,
            wake_drainer: Arc::new(Notify::new()),
            metrics: NatsMetrics::default(),
        })
    }

    /// The metrics, for registration.
    pub fn metrics(&self) -> &NatsMetrics {
        &self.metrics
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Whether new callbacks go to the spool.
    pub fn is_spooling(&self) -> bool {
        self.spooling.load(Ordering::Acquire)
    }

    /// Whether the stream has been created or checked.
    pub fn stream_ready(&self) -> bool {
        self.stream_ready.load(Ordering::Acquire)
    }

    /// The client's connection state.
    pub fn connection(&self) -> async_nats::connection::State {
        self.client.connection_state()
    }

    /// The largest payload the server takes, or NATS's default before it has said.
    pub fn max_payload(&self) -> usize {
        match self.client.server_info().max_payload {
            0 => 1024 * 1024,
            max => max,
        }
    }

    /// Creates or checks the stream; an error says what is wrong with it, and whether
    /// waiting could help.
    pub async fn ensure_stream(&self) -> Result<(), StreamProblem> {
        self.set_up_stream().await.map_err(|problem| {
            let connected =
                self.client.connection_state() == async_nats::connection::State::Connected;
            if !connected || problem.contains("timed out") {
                StreamProblem::Unreachable(problem)
            } else {
                StreamProblem::Misconfigured(problem)
            }
        })
    }

    async fn set_up_stream(&self) -> Result<(), String> {
        if self.stream_ready() {
            return Ok(());
        }
        let settings = &self.stream;
        let info =
            if settings.create {
                let config = stream::Config {
                    name: settings.name.clone(),
                    subjects: vec![settings.subjects.clone()],
                    storage: stream::StorageType::File,
                    max_age: settings.max_age,
                    duplicate_window: settings.duplicate_window,
                    num_replicas: settings.replicas,
                    ..Default::default()
                };
                let mut created = self
                    .jetstream
                    .get_or_create_stream(config)
                    .await
                    .map_err(|error| format!("cannot create stream {}: {error}", settings.name))?;
                created
                    .info()
                    .await
                    .map_err(|error| format!("cannot read stream {}: {error}", settings.name))?
                    .clone()
            } else {
                let mut found = self.jetstream.get_stream(&settings.name).await.map_err(|error| {
                format!(
                    "stream {} is not usable ({error}); create it with subjects [{:?}], or set \
                     stream_setup = \"create\"",
                    settings.name, settings.subjects
                )
            })?;
                found
                    .info()
                    .await
                    .map_err(|error| format!("cannot read stream {}: {error}", settings.name))?
                    .clone()
            };
        let covered = info
            .config
            .subjects
            .iter()
            .any(|subject| subject == &settings.subjects || subject == ">");
        if !covered {
            return Err(format!(
                "stream {} takes subjects {:?}, which do not include {:?}: chathook's messages \
                 would not be stored; add it to the stream's subjects or change subject_prefix",
                settings.name, info.config.subjects, settings.subjects
            ));
        }
        if info.config.storage != stream::StorageType::File {
            tracing::warn!(
                stream = %settings.name,
                "the stream keeps messages in memory: what it holds is lost when NATS restarts"
            );
        }
        if info.config.duplicate_window != settings.duplicate_window {
            tracing::warn!(
                stream = %settings.name,
                configured_secs = settings.duplicate_window.as_secs(),
                actual_secs = info.config.duplicate_window.as_secs(),
                "the stream's duplicate window differs from duplicate_window_secs; the stream's \
                 own applies"
            );
        }
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// One publish, acknowledged within `publish_timeout_ms`.
    pub async fn publish(&self, message: &Outgoing) -> Result<(), PublishFailure> {
        self.publish_within(message, self.publish_timeout).await
    }

    /// One publish, acknowledged within `limit`.
    async fn publish_within(
        &self,
        message: &Outgoing,
        limit: Duration,
    ) -> Result<(), PublishFailure> {
        let started = Instant::now();
        let publish = jetstream::message::PublishMessage::build()
            .payload(message.body.clone())
            .headers(message.header_map());
        let attempt = async {
            let ack = self
                .jetstream
                .send_publish(message.subject.clone(), publish)
                .await?;
            ack.await
        };
        let acked = tokio::time::timeout(limit, attempt)
            .await
            .map_err(|_| PublishFailure::TimedOut(limit))?
            .map_err(|error| match self.failure(&error) {
                PublishFailure::TimedOut(_) => PublishFailure::TimedOut(limit),
                other => other,
            })?;
        self.metrics
            .publish_latency
            .0
            .observe(started.elapsed().as_secs_f64());
        if acked.duplicate {
            self.metrics.duplicates.inc();
        }
        Ok(())
    }

    /// Publishes `message` now, or commits it to the spool when JetStream does not
    /// acknowledge in time (or older callbacks are still spooled). `Ok` means it is durable
    /// in one or the other.
    ///
    /// With a `deadline` (the handler's), the publish gets at most half of the time left, so
    /// the spool still has the rest.
    pub async fn forward(
        &self,
        message: Outgoing,
        deadline: Option<Instant>,
    ) -> Result<(), ForwardError> {
        if !self.is_spooling() && self.stream_ready() {
            let limit = deadline.map_or(self.publish_timeout, |deadline| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.publish_timeout.min(left / 2)
            });
            match self.publish_within(&message, limit).await {
                Ok(()) => {
                    self.metrics.published.inc();
                    return Ok(());
                }
                Err(PublishFailure::TooLarge) => return Err(ForwardError::TooLarge),
                Err(failure) => {
                    if !self.spooling.swap(true, Ordering::AcqRel) {
                        tracing::warn!(
                            "JetStream did not take a callback ({failure}); spooling to {} \
                             until it answers again",
                            self.spool.path().display()
                        );
                    }
                }
            }
        }
        self.spool_message(message).await
    }

    async fn spool_message(&self, message: Outgoing) -> Result<(), ForwardError> {
        let committed = {
            let mut gate = self.gate.lock().expect("gate");
            self.spooling.store(true, Ordering::Release);
            gate.pending += 1;
            // Queued under the lock: the spool's order is the order of this lock.
            self.spool.append(message)
        };
        // Counted down however this ends, the handler's deadline cutting it off included:
        // a count left behind would keep chathook spooling for good.
        let _pending = Pending(&self.gate);
        let result = committed.await;
        match result {
            Ok(()) => {
                self.metrics.spooled.inc();
                self.refresh_gauges();
                self.wake_drainer.notify_one();
                Ok(())
            }
            Err(error @ SpoolError::Full { .. }) => {
                self.metrics.spool_refused.inc();
                Err(ForwardError::Spool(error))
            }
            Err(error) => Err(ForwardError::Spool(error)),
        }
    }

    /// Publishes the spool's oldest entries in order, removing each once acknowledged; stops
    /// at the first failure. Returns how many were published.
    ///
    /// The batch is sent back to back and its acknowledgements awaited in order: JetStream
    /// stores one connection's messages in the order sent, so this keeps the spool's order at
    /// a fraction of the round trips. After a failure everything from the failed entry on is
    /// sent again later, with the same `Nats-Msg-Id`.
    pub async fn drain_once(&self) -> Result<usize, String> {
        self.ensure_stream()
            .await
            .map_err(|problem| problem.to_string())?;
        let batch = self
            .spool
            .oldest(DRAIN_BATCH)
            .await
            .map_err(|error| error.to_string())?;
        let mut sent = Vec::with_capacity(batch.len());
        for entry in &batch {
            let publish = jetstream::message::PublishMessage::build()
                .payload(entry.message.body.clone())
                .headers(entry.message.header_map());
            let ack = self
                .jetstream
                .send_publish(entry.message.subject.clone(), publish)
                .await;
            let failed = ack.is_err();
            sent.push((entry, Instant::now(), ack));
            if failed {
                break;
            }
        }
        let mut done = Vec::with_capacity(sent.len());
        let mut dead = Vec::new();
        let mut failure = None;
        for (entry, started, ack) in sent {
            let acked = match ack {
                Ok(ack) => tokio::time::timeout(self.publish_timeout, ack.into_future())
                    .await
                    .map_err(|_| PublishFailure::TimedOut(self.publish_timeout))
                    .and_then(|acked| acked.map_err(|error| self.failure(&error))),
                Err(error) => Err(self.failure(&error)),
            };
            match acked {
                Ok(ack) => {
                    self.metrics
                        .publish_latency
                        .0
                        .observe(started.elapsed().as_secs_f64());
                    if ack.duplicate {
                        self.metrics.duplicates.inc();
                    }
                    done.push(entry.id);
                }
                Err(PublishFailure::TooLarge) => {
                    // It can never be published (the server's limit is below what was
                    // assumed while it was down): kept aside, said and counted.
                    tracing::error!(
                        subject = %entry.message.subject,
                        msg_id = %entry.message.msg_id,
                        bytes = entry.message.body.len(),
                        "a spooled callback is larger than the NATS server's max_payload; moved \
                         to the spool_dead table of the spool file"
                    );
                    self.metrics.oversized("dead_lettered");
                    dead.push(entry.id);
                }
                Err(error) => {
                    failure = Some(error.to_string());
                    break;
                }
            }
        }
        let published = done.len();
        if !done.is_empty() {
            self.spool
                .remove(done)
                .await
                .map_err(|error| error.to_string())?;
            self.metrics.drained.inc_by(published as u64);
        }
        if !dead.is_empty() {
            self.spool
                .bury(dead)
                .await
                .map_err(|error| error.to_string())?;
        }
        match failure {
            Some(failure) => Err(failure),
            None => Ok(published),
        }
    }

    /// What a publish error means here.
    fn failure(&self, error: &jetstream::context::PublishError) -> PublishFailure {
        match error.kind() {
            PublishErrorKind::TimedOut => PublishFailure::TimedOut(self.publish_timeout),
            PublishErrorKind::MaxPayloadExceeded => PublishFailure::TooLarge,
            PublishErrorKind::StreamNotFound => {
                // Deleted under us: set it up again before the next attempt.
                self.stream_ready.store(false, Ordering::Release);
                PublishFailure::Refused(error.to_string())
            }
            _ => PublishFailure::Refused(error.to_string()),
        }
    }

    /// Back to direct publishing once the spool is empty and nothing is on its way into it.
    fn resume_direct(&self) -> bool {
        let gate = self.gate.lock().expect("gate");
        if gate.pending == 0 && self.spool.stats().entries == 0 {
            if self.spooling.swap(false, Ordering::AcqRel) {
                tracing::info!("spool drained; publishing to JetStream directly again");
            }
            return true;
        }
        false
    }

    /// Refreshes the spool gauges.
    pub fn refresh_gauges(&self) {
        let stats = self.spool.stats();
        self.metrics.spool_entries.set(stats.entries as i64);
        self.metrics.spool_bytes.set(stats.bytes as i64);
        let age_secs = stats
            .oldest_ms
            .map_or(0, |oldest| (unix_ms() - oldest).max(0) / 1000);
        self.metrics.spool_oldest_age.set(age_secs);
    }

    /// Runs until the forwarder is dropped: drains the spool whenever it holds something,
    /// backing off while JetStream does not answer, and saying so every half minute.
    pub async fn drain_forever(this: Weak<Self>) {
        let mut backoff = MIN_BACKOFF;
        let mut last_warning: Option<Instant> = None;
        loop {
            let Some(forwarder) = this.upgrade() else {
                return;
            };
            forwarder.refresh_gauges();
            let wake = Arc::clone(&forwarder.wake_drainer);
            let pause = if forwarder.spool.stats().entries == 0 {
                forwarder.resume_direct();
                backoff = MIN_BACKOFF;
                None
            } else {
                match forwarder.drain_once().await {
                    Ok(published) => {
                        backoff = MIN_BACKOFF;
                        if last_warning.take().is_some() {
                            tracing::info!("JetStream answers again; draining the spool");
                        }
                        // Nothing read although entries were counted: wait, do not spin.
                        (published == 0).then_some(DRAIN_TICK)
                    }
                    Err(failure) => {
                        if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                            let stats = forwarder.spool.stats();
                            tracing::warn!(
                                %failure,
                                entries = stats.entries,
                                oldest_age_secs = stats
                                    .oldest_ms
                                    .map_or(0, |oldest| (unix_ms() - oldest).max(0) / 1000),
                                "cannot drain the spool into JetStream; retrying"
                            );
                            last_warning = Some(Instant::now());
                        }
                        let pause = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        Some(pause)
                    }
                }
            };
            drop(forwarder);
            match pause {
                Some(pause) => tokio::time::sleep(pause).await,
                None => {
                    let _ = tokio::time::timeout(DRAIN_TICK, wake.notified()).await;
                }
            }
        }
    }

    /// [`Forwarder::drain_forever`] on a task of its own, started again should it ever panic,
    /// so the spool cannot stop draining.
    pub fn spawn_drainer(this: &Arc<Self>) {
        let weak = Arc::downgrade(this);
        tokio::spawn(async move {
            loop {
                let run = tokio::spawn(Self::drain_forever(weak.clone()));
                match run.await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::error!(%error, "the spool drainer failed; starting it again");
                        tokio::time::sleep(MAX_BACKOFF).await;
                    }
                }
            }
        });
    }
}

/// Why the stream is not ready.
#[derive(Debug, thiserror::Error)]
pub enum StreamProblem {
    /// NATS or JetStream did not answer: waiting may help.
    #[error("{0}")]
    Unreachable(String),
    /// NATS answered, and the stream cannot be used as configured.
    #[error("{0}")]
    Misconfigured(String),
}

/// Why a callback is neither in JetStream nor in the spool.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Larger than the server's `max_payload`.
    #[error("the callback is larger than the NATS server's max_payload")]
    TooLarge,
    /// The spool could not take it.
    #[error(transparent)]
    Spool(SpoolError),
}
