//! The queued scenario's row beyond wrk's figures: the fixed-rate phase, at half of (b)'s
//! throughput, with the delivery lag it gave, and the write-cost probe.

use std::path::Path;

use anyhow::Context as _;

use super::{Drained, WriteCost, drain, remove_journal};
use crate::bench::Bench;
use crate::paced::{self, PacedMeasured};
use crate::scenario::Scenario;
use crate::wrk::{Measured, lua_script};

/// A queued scenario's results beyond wrk's.
pub(crate) struct QueuedRow {
    /// The runs' deliveries, summed, and their lag histograms as one.
    pub drained: Drained,
    /// The second phase, at a fixed rate.
    pub paced: PacedPhase,
    /// The journal's syncs under strace, or why they could not be counted.
    pub write_cost: Result<WriteCost, String>,
}

/// The second phase: a fixed rate, and the delivery lag it gave.
#[derive(Clone, Debug)]
pub(crate) struct PacedPhase {
    /// What the driver measured.
    pub measured: PacedMeasured,
    /// Whose throughput the rate is half of, e.g. "(b)".
    pub rate_of: String,
    /// The deliveries, once drained.
    pub drained: Drained,
    /// Every delivery's lag, from the journal's arrival and delivery times (milliseconds,
    /// whole), sorted.
    pub exact_lags_ms: Vec<i64>,
}

impl PacedPhase {
    /// The `quantile` of the exact lags, in milliseconds.
    pub(crate) fn exact_lag_ms(&self, quantile: f64) -> Option<i64> {
        let count = self.exact_lags_ms.len();
        (count > 0).then(|| {
            self.exact_lags_ms[((count as f64 * quantile).ceil() as usize).clamp(1, count) - 1]
        })
    }
}

impl Bench {
    /// The second phase of `scenario`: a fresh chathook driven at `rate` for the run's
    /// duration, drained, and its delivery lags read.
    pub(crate) fn paced_phase(
        &mut self,
        scenario: &Scenario,
        handler: &'static str,
        rate: f64,
        rate_of: String,
    ) -> anyhow::Result<PacedPhase> {
        let started = self.start_chathook(scenario, None, None, self.duration, None)?;
        let port = started.server.port;
        let measured = paced::drive(
            &self.pinning,
            &self.exe,
            port,
            &started.query,
            rate,
            self.duration,
            self.connections,
        )?;
        let mut drained = drain(port, handler, measured.acked)?;
        started.server.stop()?;
        let journal = started.journal.context("a queued scenario has a journal")?;
        let exact_lags_ms = self.runtime.block_on(journal_lags_ms(&journal, handler))?;
        drained.disk_bytes = remove_journal(&journal)?;
        if measured.errors > 0 {
            self.problems.push(format!(
                "({}) at a fixed rate, {} requests failed or were not answered 200",
                scenario.spec.key, measured.errors
            ));
        }
        if !drained.all_delivered(measured.acked, measured.sent) {
            self.problems.push(format!(
                "({}) at a fixed rate, {}",
                scenario.spec.key,
                drained.shortfall(measured.acked, measured.sent)
            ));
        }
        let phase = PacedPhase {
            measured,
            rate_of,
            drained,
            exact_lags_ms,
        };
        println!(
            "    at {:.0} req/s (half of {}): answered {:.0}/s, p99 {:.2} ms; delivered {} of {} \
             acknowledged; lag p50 {} ms, p99 {} ms",
            rate,
            phase.rate_of,
            phase.measured.answered_per_sec,
            phase.measured.p99_ms,
            phase.drained.delivered,
            phase.measured.acked,
            phase.exact_lag_ms(0.5).unwrap_or_default(),
            phase.exact_lag_ms(0.99).unwrap_or_default()
        );
        Ok(phase)
    }

    /// A queued scenario's second phase, at half of (b)'s throughput (of its own when (b) is
    /// not in the run), and its write-cost probe.
    pub(crate) fn queued_row(
        &mut self,
        scenario: &Scenario,
        handler: &'static str,
        drained: Drained,
        chathook: &Measured,
    ) -> anyhow::Result<QueuedRow> {
        let (rate, rate_of) = match self.half_of_receipts {
            Some(rate) => (rate, "(b)".to_owned()),
            None => (
                chathook.requests_per_sec / 2.0,
                format!("({}) itself, (b) not being in this run", scenario.spec.key),
            ),
        };
        let paced = self.paced_phase(scenario, handler, rate, rate_of)?;
        let script = lua_script(scenario, self.work.path(), 0)?;
        // strace may be missing or ptrace refused (a container's seccomp): the probe is a
        // figure for the report, not a check.
        let write_cost = self
            .write_cost(scenario, handler, &script)
            .map_err(|error| format!("{error:#}"));
        match &write_cost {
            Ok(cost) => println!(
                "    under strace: {:.0} req/s, {:.0} commits/s, {:.1} callbacks per commit",
                cost.measured.requests_per_sec,
                cost.commits_per_sec(),
                cost.callbacks_per_commit()
            ),
            Err(error) => println!("    write cost not measured: {error}"),
        }
        Ok(QueuedRow {
            drained,
            paced,
            write_cost,
        })
    }
}

/// Every delivered delivery's lag of `handler` in the journal at `journal`, in milliseconds,
/// sorted.
async fn journal_lags_ms(journal: &Path, handler: &str) -> anyhow::Result<Vec<i64>> {
    use sqlx::Connection as _;

    let url = format!("sqlite://{}?mode=ro", journal.display());
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .with_context(|| format!("cannot open the journal {}", journal.display()))?;
    let lags = sqlx::query_scalar(
        "SELECT delivered_at_ms - received_at_ms FROM journal_deliveries \
         WHERE handler = ?1 AND state = 'delivered' ORDER BY 1",
    )
    .bind(handler)
    .fetch_all(&mut connection)
    .await
    .context("cannot read the journal's delivery times")?;
    Ok(lags)
}
