//! Group commit, whichever the database: what the writer is asked to do, how callbacks taken
//! off the queue together become one transaction, and how each callback learns its outcome.
//!
//! Nothing here touches a database: the writers pass in their write, so the rules (one
//! transaction for a batch, one by one when the database refuses a batch's data, a broken
//! connection failing the rest at once) are tested below without one.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::health::{WriterExit, WriterHealth};
use crate::model::{MessageKey, ReceiptState};

/// One callback's states, and where to send its outcome.
pub(super) struct Job {
    pub(super) states: BTreeMap<MessageKey, ReceiptState>,
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// What the writer is asked to do.
pub(super) enum Work {
    /// Commit a callback, grouped with the others waiting.
    Record(Job),
    /// Check that a write transaction can commit; clears the last-write-failed flag if so.
    Probe(oneshot::Sender<Result<(), StoreError>>),
    /// Delete one batch of expired messages; SQLite only (it has one writer anyway), so that
    /// callbacks waiting meanwhile are committed between two purge batches.
    Purge {
        cutoff_ms: i64,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// The work taken off the queue besides callbacks.
#[derive(Default)]
pub(super) struct Other {
    /// Readiness checks still waiting for an answer; one probe answers them all.
    pub(super) probes: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// Purge batches: (cutoff, where to answer).
    pub(super) purges: Vec<(i64, oneshot::Sender<Result<u64, StoreError>>)>,
}

/// A writer's batching state, the same for both databases: what it took off the queue, the
/// callbacks among it, its health, and the guard that reports its death.
pub(super) struct Batches {
    pub(super) health: Arc<WriterHealth>,
    pub(super) jobs: Vec<Job>,
    intake: Vec<Work>,
    limit: usize,
    _exit: WriterExit,
}

impl Batches {
    /// Batches of at most `max_batch` pieces of work.
    pub(super) fn new(max_batch: usize, health: Arc<WriterHealth>) -> Self {
        Self {
            health,
            jobs: Vec::with_capacity(max_batch),
            intake: Vec::with_capacity(max_batch),
            limit: max_batch,
            _exit: WriterExit,
        }
    }

    /// Waits for work and takes what else is queued, up to the batch size: the callbacks go to
    /// [`Batches::jobs`], the rest is returned. `None` once the queue is closed and empty.
    pub(super) async fn receive(&mut self, queue: &mut mpsc::Receiver<Work>) -> Option<Other> {
        (queue.recv_many(&mut self.intake, self.limit).await > 0)
            .then(|| split(&mut self.intake, &mut self.jobs))
    }

    /// [`Batches::receive`] for a writer on a thread of its own.
    pub(super) fn receive_blocking(&mut self, queue: &mut mpsc::Receiver<Work>) -> Option<Other> {
        (queue.blocking_recv_many(&mut self.intake, self.limit) > 0)
            .then(|| split(&mut self.intake, &mut self.jobs))
    }
}

/// Merges a batch's callbacks into one state per message. The callbacks keep their own
/// states, in case the batch must be retried one callback at a time.
pub(super) fn merge(jobs: &[Job]) -> BTreeMap<MessageKey, ReceiptState> {
    let mut merged: BTreeMap<MessageKey, ReceiptState> = BTreeMap::new();
    for job in jobs {
        for (key, state) in &job.states {
            match merged.get_mut(key) {
                Some(known) => known.merge(state.clone()),
                None => {
                    merged.insert(key.clone(), state.clone());
                }
            }
        }
    }
    merged
}

/// Answers every callback of a batch with the batch's outcome.
pub(super) fn settle(
    health: &WriterHealth,
    jobs: &mut Vec<Job>,
    messages: usize,
    result: Result<(), StoreError>,
) {
    match &result {
        Ok(()) => {
            health.committed();
            tracing::debug!(callbacks = jobs.len(), messages, "read receipts committed");
        }
        Err(error @ StoreError::InvalidData(_)) => {
            // The database works; it refused this one callback's data.
            tracing::warn!(%error, "read receipt callback refused by the database; answered 400");
        }
        Err(error) => {
            health.write_failed();
            let what = "batch failed; callbacks answered 500";
            health.failures.failed(jobs.len(), error, what);
        }
    }
    for job in jobs.drain(..) {
        let _ = job.done.send(result.clone());
    }
}

/// One callback of a batch the database refused, committed on its own by `result`; `broken`
/// is set when the failure is the database's rather than the data's, so that the rest of
/// the batch is answered at once.
pub(super) fn settle_alone(
    health: &WriterHealth,
    result: Result<(), StoreError>,
    broken: &mut Option<StoreError>,
) -> Result<(), StoreError> {
    match result.map_err(StoreError::for_one_callback) {
        Ok(()) => {
            health.committed();
            Ok(())
        }
        Err(error @ StoreError::InvalidData(_)) => {
            tracing::warn!(%error, "read receipt callback refused by the database; answered 400");
            Err(error)
        }
        Err(error) => {
            health.write_failed();
            let what = "write failed; the rest of the batch is answered 500";
            health.failures.failed(1, &error, what);
            *broken = Some(error.clone());
            Err(error)
        }
    }
}

/// Separates the callbacks to commit from the other work taken off the queue. Probes whose
/// `/readyz` already gave up are dropped: a database that does not answer would otherwise
/// have the writer run one stale probe after another while callbacks wait.
fn split(taken: &mut Vec<Work>, jobs: &mut Vec<Job>) -> Other {
    let mut other = Other::default();
    for work in taken.drain(..) {
        match work {
            Work::Record(job) => jobs.push(job),
            Work::Probe(done) if done.is_closed() => {}
            Work::Probe(done) => other.probes.push(done),
            Work::Purge { cutoff_ms, done } => other.purges.push((cutoff_ms, done)),
        }
    }
    other
}

/// Answers readiness probes; a successful probe clears the last-write-failed flag.
pub(super) fn answer_probes(
    health: &WriterHealth,
    probes: Vec<oneshot::Sender<Result<(), StoreError>>>,
    probed: Result<(), StoreError>,
) {
    if probed.is_ok() {
        health.probed_ok();
    }
    for done in probes {
        let _ = done.send(probed.clone());
    }
}

/// Commits the callbacks in `$batches` (a `&mut Batches`) in one transaction written by
/// `$write` (an expression using the states bound to `$states`), and answers each callback.
///
/// If the database refuses the batch's data itself (see [`StoreError::data_problem`]), one
/// callback it cannot store would otherwise fail every callback grouped with it, and Chat
/// does not send after-callbacks again: so each callback is then committed on its own, and
/// only the one refused fails (400). Any other error (connection, timeout, lock) fails the
/// batch at once with 500: retrying callback by callback would only multiply the wait.
///
/// A macro rather than a function because the SQLite writer is blocking and the PostgreSQL
/// writer is async; the logic must be the same.
macro_rules! commit_jobs {
    ($batches:expr, |$states:ident| $write:expr) => {{
        use $crate::store::batch::{merge, settle, settle_alone};
        let batches: &mut $crate::store::batch::Batches = $batches;
        let health = &*batches.health;
        let jobs = &mut batches.jobs;
        if !jobs.is_empty() {
            let merged;
            let $states: &std::collections::BTreeMap<_, _> = if let [job] = jobs.as_slice() {
                &job.states
            } else {
                merged = merge(jobs);
                &merged
            };
            let messages = $states.len();
            let result = {
                let _writing = health.writing();
                $write
            };
            match result {
                Err(error) if jobs.len() > 1 && error.data_problem().is_some() => {
                    tracing::warn!(
                        callbacks = jobs.len(),
                        %error,
                        "the database refused a read receipt batch's data; committing its callbacks one by one"
                    );
                    let mut broken: Option<$crate::store::StoreError> = None;
                    for job in jobs.drain(..) {
                        let outcome = match &broken {
                            Some(error) => Err(error.clone()),
                            None => {
                                let $states = &job.states;
                                let result = {
                                    let _writing = health.writing();
                                    $write
                                };
                                settle_alone(health, result, &mut broken)
                            }
                        };
                        let _ = job.done.send(outcome);
                    }
                }
                result => settle(
                    health,
                    jobs,
                    messages,
                    result.map_err($crate::store::StoreError::for_one_callback),
                ),
            }
        }
    }};
}
pub(super) use commit_jobs;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: &str, msg_seq: i64) -> MessageKey {
        MessageKey {
            sdk_app_id: 1,
            group_id: group.into(),
            msg_seq,
        }
    }

    fn read_by(reader: &str, read_num: i64) -> ReceiptState {
        ReceiptState {
            read_num: Some(read_num),
            readers: [reader.to_owned()].into(),
            ..ReceiptState::default()
        }
    }

    /// A callback of `states`, and where its answer arrives.
    fn job(
        states: &[(MessageKey, ReceiptState)],
    ) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        let (done, answer) = oneshot::channel();
        let states = states.iter().cloned().collect();
        (Job { states, done }, answer)
    }

    fn batches(jobs: Vec<Job>) -> Batches {
        let mut batches = Batches::new(16, Arc::new(WriterHealth::default()));
        batches.jobs = jobs;
        batches
    }

    fn answer(mut answer: oneshot::Receiver<Result<(), StoreError>>) -> Result<(), String> {
        answer
            .try_recv()
            .expect("every callback is answered")
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_batch_merges_per_message_and_keeps_each_callback_s_own_states() {
        let (a, _) = job(&[(key("g", 1), read_by("alice", 1))]);
        let (b, _) = job(&[
            (key("g", 1), read_by("bob", 2)),
            (key("g", 2), read_by("bob", 1)),
        ]);
        let jobs = [a, b];
        let merged = merge(&jobs);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[&key("g", 1)].read_num, Some(2));
        assert_eq!(merged[&key("g", 1)].readers.len(), 2);
        assert_eq!(jobs[0].states[&key("g", 1)].readers.len(), 1);
    }

    #[tokio::test]
    async fn callbacks_go_to_the_batch_and_abandoned_probes_are_dropped() {
        let (sender, mut queue) = mpsc::channel(8);
        let (record, _answer) = job(&[(key("g", 1), read_by("a", 1))]);
        let (waiting, _probe_answer) = oneshot::channel();
        let (abandoned, gave_up) = oneshot::channel();
        drop(gave_up);
        let (purge, _purged) = oneshot::channel();
        for work in [
            Work::Record(record),
            Work::Probe(waiting),
            Work::Probe(abandoned),
            Work::Purge {
                cutoff_ms: 5,
                done: purge,
            },
        ] {
            sender.send(work).await.unwrap();
        }
        let mut batches = batches(Vec::new());
        let other = batches.receive(&mut queue).await.unwrap();
        assert_eq!(batches.jobs.len(), 1);
        assert_eq!(other.probes.len(), 1);
        assert_eq!(
            other
                .purges
                .iter()
                .map(|(cutoff, _)| *cutoff)
                .collect::<Vec<_>>(),
            [5]
        );
        drop(sender);
        assert!(
            batches.receive(&mut queue).await.is_none(),
            "closed and empty"
        );
    }

    #[test]
    fn a_batch_is_one_transaction_and_every_callback_hears_of_it() {
        let (a, a_answer) = job(&[(key("g", 1), read_by("a", 1))]);
        let (b, b_answer) = job(&[(key("g", 1), read_by("b", 2))]);
        let mut batches = batches(vec![a, b]);
        let mut written = Vec::new();
        commit_jobs!(&mut batches, |states| {
            written.push(states.clone());
            Ok::<(), StoreError>(())
        });
        assert_eq!(written.len(), 1);
        assert_eq!(written[0][&key("g", 1)].readers.len(), 2);
        assert_eq!((answer(a_answer), answer(b_answer)), (Ok(()), Ok(())));
        assert_eq!(batches.health.transactions(), 1);
        assert!(batches.jobs.is_empty());
    }

    #[test]
    fn refused_data_fails_only_its_own_callback() {
        let (good, good_answer) = job(&[(key("good", 1), read_by("a", 1))]);
        let (bad, bad_answer) = job(&[(key("bad", 1), read_by("a", 1))]);
        let (later, later_answer) = job(&[(key("later", 1), read_by("a", 1))]);
        let mut batches = batches(vec![good, bad, later]);
        let mut writes = 0;
        commit_jobs!(&mut batches, |states| {
            writes += 1;
            if states.keys().any(|key| key.group_id == "bad") {
                Err(StoreError::InvalidData("value too long".into()))
            } else {
                Ok(())
            }
        });
        assert_eq!(writes, 4, "the batch, then each callback on its own");
        assert_eq!(answer(good_answer), Ok(()));
        assert_eq!(
            answer(bad_answer),
            Err("the database cannot store this callback: value too long".into())
        );
        assert_eq!(answer(later_answer), Ok(()));
        assert_eq!(batches.health.transactions(), 2);
        assert!(!batches.health.last_write_failed(), "the database works");
    }

    #[test]
    fn a_database_failure_while_retrying_fails_the_rest_without_writing() {
        let jobs: Vec<_> = (0..3)
            .map(|seq| job(&[(key("g", seq), read_by("a", 1))]))
            .collect();
        let (jobs, answers): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
        let mut batches = batches(jobs);
        let mut writes = 0;
        commit_jobs!(&mut batches, |states| {
            writes += 1;
            match writes {
                1 => Err(StoreError::InvalidData("bad".into())),
                _ if states.contains_key(&key("g", 0)) => Ok(()),
                _ => Err(StoreError::WriteTimeout(5)),
            }
        });
        assert_eq!(writes, 3, "the third callback is answered without a write");
        let answers: Vec<_> = answers.into_iter().map(answer).collect();
        assert_eq!(answers[0], Ok(()));
        assert!(answers[1..].iter().all(|answer| {
            answer
                .as_ref()
                .is_err_and(|e| e.contains("write_timeout_ms"))
        }));
        assert!(batches.health.last_write_failed());
    }

    #[test]
    fn a_failed_batch_fails_all_its_callbacks_and_a_probe_clears_the_failure() {
        let (a, a_answer) = job(&[(key("g", 1), read_by("a", 1))]);
        let (b, b_answer) = job(&[(key("g", 2), read_by("a", 1))]);
        let mut batches = batches(vec![a, b]);
        let mut writes = 0;
        commit_jobs!(&mut batches, |_states| {
            writes += 1;
            Err::<(), _>(StoreError::WriterStopped)
        });
        assert_eq!(writes, 1, "not retried one by one");
        assert_eq!(answer(a_answer), Err("read receipt writer stopped".into()));
        assert_eq!(answer(b_answer), Err("read receipt writer stopped".into()));
        assert!(batches.health.last_write_failed());

        let (probe, probed) = oneshot::channel();
        answer_probes(&batches.health, vec![probe], Ok(()));
        assert_eq!(answer(probed), Ok(()));
        assert!(!batches.health.last_write_failed());
        assert_eq!(batches.health.transactions(), 0);
    }
}
