//! Publishing with a spool behind it: straight into JetStream while it acknowledges in time,
//! into the spool when it does not, and back in arrival order once it answers again.

mod drain;
mod metrics;
mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind};
use tokio::sync::Notify;

use crate::message::Outgoing;
use crate::spool::{Spool, SpoolError, unix_ms};

use metrics::NatsMetrics;
pub use stream::{StreamProblem, StreamSettings};

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
        self.metrics.publish_took(started.elapsed());
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
