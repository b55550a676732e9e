//! The zero-loss checks after a run: the store holds every acknowledged callback, whole; the
//! stream holds every acknowledged one and the spool none; and the store alone on the same
//! workload, the floor chathook is judged against.

use anyhow::ensure;

use crate::bench::Bench;
use crate::database::{Database, count_rows, drop_database};
use crate::jetstream::{JetStreamResult, JetStreamRun};
use crate::scenario::Scenario;
use crate::store_floor::{self, Floor};
use crate::workload::Workload;
use crate::wrk::Measured;

impl Bench {
    /// The callbacks a run stored, from the store's row counts before and after it, or `None`
    /// (and a problem noted) if an acknowledged one is missing or one was stored in part.
    pub(crate) fn check_stored(
        &mut self,
        scenario: &Scenario,
        measured: &Measured,
        (messages_before, readers_before): (u64, u64),
        (messages_after, readers_after): (u64, u64),
    ) -> Option<u64> {
        // Every new callback carries two new messages; in the one-group workload also three
        // readers.
        let messages = messages_after - messages_before;
        let readers = readers_after - readers_before;
        let callbacks = messages / 2;
        let whole = messages % 2 == 0
            && match scenario.workload {
                Workload::SingleGroup => readers == callbacks * 3,
                _ => readers >= messages,
            };
        println!(
            "    stored {callbacks} new callbacks; {} new sent, {} acknowledged in all; {} in \
             flight at stop",
            measured.new_sent,
            measured.acked,
            measured.sent - measured.answered
        );
        if !whole {
            self.problems.push(format!(
                "({}) {messages} messages and {readers} readers stored: a callback was stored in part",
                scenario.spec.key
            ));
            return None;
        }
        if !measured.all_new_stored(callbacks) {
            self.problems.push(format!(
                "({}) {} new callbacks sent, {} answered of {} sent, but {callbacks} stored",
                scenario.spec.key, measured.new_sent, measured.answered, measured.sent
            ));
            return None;
        }
        Some(callbacks)
    }

    /// The store alone on the scenario's workload, on a fresh database.
    pub(crate) fn floor(
        &mut self,
        scenario: &Scenario,
        kind: Database,
        run: usize,
    ) -> anyhow::Result<Floor> {
        let url = self.fresh_database(kind, &format!("{}-floor-{run}", scenario.spec.key))?;
        let floor = store_floor::measure(
            &self.pinning,
            &self.exe,
            &url,
            scenario,
            self.connections,
            self.duration,
        )?;
        let (messages, _) = self.runtime.block_on(count_rows(&url))?;
        self.runtime.block_on(drop_database(&url))?;
        ensure!(
            messages == floor.new * 2,
            "the store acknowledged {} new callbacks but holds {messages} messages",
            floor.new
        );
        println!(
            "    storage alone {:>9.0} callbacks/s, {:.1} µs CPU each",
            floor.per_sec(),
            floor.cpu_us_per_callback()
        );
        Ok(floor)
    }

    /// What the run's stream holds; the stream is deleted.
    pub(crate) fn check_stream(
        &mut self,
        scenario: &Scenario,
        stream: &mut JetStreamRun,
        measured: &Measured,
        (spooled, nats_cpu_secs): (Option<u64>, Option<f64>),
    ) -> anyhow::Result<JetStreamResult> {
        let held = self.runtime.block_on(stream.count_and_delete())?;
        let spooled = spooled.unwrap_or_default();
        if !measured.all_stored(held) {
            self.problems.push(format!(
                "({}) {} callbacks acknowledged, {} sent, but the stream holds {held}",
                scenario.spec.key, measured.acked, measured.sent
            ));
        }
        if spooled > 0 {
            self.problems.push(format!(
                "({}) {spooled} callbacks went to the spool: JetStream did not keep up",
                scenario.spec.key
            ));
        }
        let nats_cpu_us_per_callback = nats_cpu_secs.map(|secs| secs * 1e6 / held.max(1) as f64);
        println!(
            "    stream held {held} callbacks; acknowledged {}; {} in flight at stop; \
             spooled {spooled}; NATS CPU {} µs per callback",
            measured.acked,
            measured.sent - measured.answered,
            nats_cpu_us_per_callback.map_or_else(|| "unknown".into(), |us| format!("{us:.1}"))
        );
        Ok(JetStreamResult {
            held,
            spooled,
            nats_cpu_us_per_callback,
        })
    }
}
