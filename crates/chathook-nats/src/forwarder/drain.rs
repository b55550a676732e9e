//! The drainer: the spool published into JetStream in arrival order, in batches, whenever it
//! holds something and JetStream answers.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::context::{PublishAckFuture, PublishError};

use super::{Forwarder, PublishFailure};
use crate::spool::{Spooled, unix_ms};

/// Entries the drainer reads from the spool at a time.
const DRAIN_BATCH: usize = 256;
/// How often the drainer looks at the spool when nobody wakes it, and refreshes the gauges.
const DRAIN_TICK: Duration = Duration::from_secs(1);
/// First and longest pause between two drain attempts while JetStream does not answer.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a spool that cannot drain is said in the log.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// One spooled entry sent, its acknowledgement still to come.
struct Sent<'a> {
    entry: &'a Spooled,
    started: Instant,
    ack: Result<PublishAckFuture, PublishError>,
}

/// What became of a sent batch: the entries JetStream took, those it never can, and why the
/// rest were not taken.
struct Settled {
    done: Vec<i64>,
    dead: Vec<i64>,
    failure: Option<String>,
}

impl Forwarder {
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
        let sent = self.send_batch(&batch).await;
        let Settled {
            done,
            dead,
            failure,
        } = self.settle(sent).await;
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

    /// Sends the batch back to back, up to and including the first send that fails.
    async fn send_batch<'a>(&self, batch: &'a [Spooled]) -> Vec<Sent<'a>> {
        let mut sent = Vec::with_capacity(batch.len());
        for entry in batch {
            let publish = jetstream::message::PublishMessage::build()
                .payload(entry.message.body.clone())
                .headers(entry.message.header_map());
            let ack = self
                .jetstream
                .send_publish(entry.message.subject.clone(), publish)
                .await;
            let failed = ack.is_err();
            sent.push(Sent {
                entry,
                started: Instant::now(),
                ack,
            });
            if failed {
                break;
            }
        }
        sent
    }

    /// Awaits the acknowledgements in order, up to the first failure (an entry too large
    /// ever to be published is set aside rather than failing the rest).
    async fn settle(&self, sent: Vec<Sent<'_>>) -> Settled {
        let mut settled = Settled {
            done: Vec::with_capacity(sent.len()),
            dead: Vec::new(),
            failure: None,
        };
        for Sent {
            entry,
            started,
            ack,
        } in sent
        {
            let acked = match ack {
                Ok(ack) => tokio::time::timeout(self.publish_timeout, ack.into_future())
                    .await
                    .map_err(|_| PublishFailure::TimedOut(self.publish_timeout))
                    .and_then(|acked| acked.map_err(|error| self.failure(&error))),
                Err(error) => Err(self.failure(&error)),
            };
            match acked {
                Ok(ack) => {
                    self.metrics.publish_took(started.elapsed());
                    if ack.duplicate {
                        self.metrics.duplicates.inc();
                    }
                    settled.done.push(entry.id);
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
                    settled.dead.push(entry.id);
                }
                Err(error) => {
                    settled.failure = Some(error.to_string());
                    break;
                }
            }
        }
        settled
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
