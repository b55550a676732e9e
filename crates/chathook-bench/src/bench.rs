//! A bench run: the scenarios chosen, each measured `--runs` times at each pre-fill, the
//! report written; or, with `--instructions`, only the callgrind counts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::Cli;
use crate::database::{self, Database, count_rows, drop_database};
use crate::jetstream::{JetStreamResult, JetStreamRun};
use crate::pinning::{Pinning, PinningChoice, Placement};
use crate::queued::{Drained, QueuedRow, add_buckets};
use crate::runs::ChathookRun;
use crate::scenario::{Scenario, scenarios};
use crate::store_floor::Floor;
use crate::wrk::{Measured, ensure_wrk, lua_script};
use crate::{instructions, report, workload};

/// MsgSeqs one run may use in each group: far more than a run writes (about 2 per group per
/// 1000 callbacks).
const RUN_SEQ_SPAN: i64 = 10_000_000;

/// What one run of the bench needs, and the problems found so far.
pub(crate) struct Bench {
    /// Which CPU the servers and wrk run on, in the placement being measured.
    pub pinning: Pinning,
    /// The placements every scenario runs in.
    pub placements: &'static [Placement],
    /// This binary, which is also the baseline, chathook and the store floor.
    pub exe: PathBuf,
    /// Configs, scripts and SQLite files, removed at the end.
    pub work: tempfile::TempDir,
    /// The PostgreSQL server the PostgreSQL scenarios make their schemas on.
    pub postgres: String,
    /// The NATS server of the JetStream scenario.
    pub nats_url: String,
    /// For the database set-up, counts and clean-up between runs.
    pub runtime: tokio::runtime::Runtime,
    /// wrk's connections, and the store floor's writers.
    pub connections: u32,
    /// Seconds per run.
    pub duration: u64,
    /// Seconds per run of a soak scenario.
    pub soak_secs: u64,
    /// Groups of the many-groups workload.
    pub groups: u32,
    /// Half of (b)'s throughput in this run, once measured: the queued scenario's fixed rate.
    pub half_of_receipts: Option<f64>,
    /// What failed a check, reported together at the end.
    pub problems: Vec<String>,
    /// The 1-, 5- and 15-minute load averages when the run began: wall-clock figures mean
    /// little on a machine that was busy.
    pub load_at_start: String,
}

/// A scenario's medians over its runs, at one pre-fill.
pub(crate) struct Row<'a> {
    pub scenario: &'a Scenario,
    /// Pinned or not.
    pub placement: Placement,
    /// Runs the medians are of.
    pub runs: usize,
    /// Messages pre-filled before the first run; 0 for an empty store.
    pub prefilled: u64,
    /// Messages in the store when the first and the last run began.
    pub store_messages: Option<(u64, u64)>,
    /// The store alone, for the read-receipt scenarios at an empty store.
    pub floor: Option<Floor>,
    /// The baseline's medians.
    pub baseline: Measured,
    /// chathook's medians.
    pub chathook: Measured,
    /// The highest over the runs.
    pub peak_rss_mib: f64,
    /// Callbacks stored (new ones, for a workload with redeliveries), or held by the stream.
    pub stored: Option<u64>,
    /// Whether every run stored every acknowledged callback.
    pub zero_lost: bool,
    /// For a fan-out scenario: each handler's successful calls, by chathook's metrics.
    pub handled: Vec<(&'static str, u64)>,
    /// For the JetStream scenario: the stream, the spool and NATS's CPU.
    pub jetstream: Option<JetStreamResult>,
    /// For a queued scenario: its deliveries, the fixed-rate phase and the write cost.
    pub queued: Option<QueuedRow>,
}

/// The bench: every chosen scenario, then the report (written to `results.md` unless a smoke
/// run); fails if any check failed.
pub(crate) fn run(cli: &Cli) -> anyhow::Result<()> {
    let runs = cli.runs.unwrap_or(if cli.smoke { 1 } else { 3 }).max(1);
    let growth = match (cli.growth.is_empty(), cli.smoke) {
        (false, _) => cli.growth.clone(),
        (true, true) => vec![20_000],
        (true, false) => vec![1_000_000, 10_000_000],
    };
    ensure_wrk()?;
    let mut bench = Bench::new(cli)?;
    println!(
        "chathook-bench: {} s per run ({} s soak), {runs} runs, {} connections, {}; load \
         average {}",
        bench.duration,
        bench.soak_secs,
        cli.connections,
        bench.describe_placements(),
        bench.load_at_start
    );
    if cli.instructions {
        let table = instructions::run(&bench.exe, bench.work.path())?;
        println!("\n{table}");
        return Ok(());
    }
    let scenarios = scenarios(cli);
    let mut rows = Vec::new();
    for scenario in scenarios.iter().filter(|scenario| {
        cli.scenarios.is_empty() || cli.scenarios.iter().any(|key| key == scenario.spec.key)
    }) {
        println!("({}) {}", scenario.spec.key, scenario.title);
        let sizes: Vec<u64> = if scenario.spec.growth {
            std::iter::once(0).chain(growth.iter().copied()).collect()
        } else {
            vec![0]
        };
        for &placement in bench.placements {
            bench.pinning.placement = placement;
            println!("  {}", placement.as_str());
            for &prefill in &sizes {
                let row = bench.measure(scenario, prefill, runs)?;
                if scenario.spec.key == "b" {
                    // The queued scenario's fixed rate follows (b) in the same placement.
                    bench.half_of_receipts = Some(row.chathook.requests_per_sec / 2.0);
                }
                rows.push(row);
            }
        }
    }
    bench.report(cli, &rows)?;
    if !bench.problems.is_empty() {
        bail!("{}", bench.problems.join("; "));
    }
    Ok(())
}

/// A scenario's runs so far, at one pre-fill: what becomes its [`Row`].
struct Tally {
    baselines: Vec<Measured>,
    chathook: Vec<Measured>,
    floors: Vec<Floor>,
    peak_rss_mib: f64,
    stored: Option<u64>,
    zero_lost: bool,
    store_messages: Option<(u64, u64)>,
    handled: Vec<(&'static str, u64)>,
    jetstream: Option<JetStreamResult>,
    drained: Option<Drained>,
}

impl Bench {
    fn new(cli: &Cli) -> anyhow::Result<Self> {
        let duration = cli.duration.unwrap_or(if cli.smoke { 2 } else { 10 });
        // CI's smoke run checks answers, not speed: one placement keeps it short.
        let choice = cli.pinning.unwrap_or(if cli.smoke {
            PinningChoice::Pinned
        } else {
            PinningChoice::Both
        });
        Ok(Self {
            pinning: Pinning::detect(),
            placements: choice.placements(),
            exe: std::env::current_exe()?,
            work: tempfile::tempdir()?,
            postgres: cli
                .postgres_url
                .clone()
                .or_else(|| std::env::var("TEST_POSTGRES_URL").ok())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()),
            nats_url: cli.nats_url.clone(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            connections: cli.connections,
            duration,
            soak_secs: cli
                .soak_secs
                .unwrap_or(if cli.smoke { duration } else { 300 }),
            groups: cli.groups,
            half_of_receipts: None,
            problems: Vec::new(),
            load_at_start: std::fs::read_to_string("/proc/loadavg")
                .map(|loadavg| loadavg.split(' ').take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "unknown".into()),
        })
    }

    /// The placements this run measures, for its first line.
    pub(crate) fn describe_placements(&self) -> String {
        self.placements
            .iter()
            .map(|&placement| self.pinning.describe(placement))
            .collect::<Vec<_>>()
            .join("; then ")
    }

    /// The report, with the callgrind counts in a full run, printed and (unless a smoke run)
    /// written to `--out`.
    fn report(&self, cli: &Cli, rows: &[Row<'_>]) -> anyhow::Result<()> {
        let mut report = report::report(rows, self, cli.smoke);
        // A full run also counts instructions, the figure that does not move with the load.
        if !cli.smoke && cli.scenarios.is_empty() {
            println!("instructions per callback, under callgrind");
            let table = instructions::run(&self.exe, self.work.path())?;
            let _ = write!(
                report,
                "\nInstructions per callback, counted by callgrind (one callback at a time; \
                 `crates/chathook-bench/instructions.sh`):\n\n{table}"
            );
        }
        println!("\n{report}");
        if !cli.smoke {
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results.md"));
            std::fs::write(&out, &report)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("written to {}", out.display());
        }
        Ok(())
    }

    /// A new database of `kind` for this bench, as a URL.
    pub(crate) fn fresh_database(&self, kind: Database, name: &str) -> anyhow::Result<String> {
        self.runtime.block_on(database::fresh(
            kind,
            self.work.path(),
            name,
            &self.postgres,
        ))
    }

    /// `runs` runs of `scenario`, each the baseline then chathook, on a store pre-filled with
    /// `prefill` messages (shared by the runs) or a fresh one per run.
    fn measure<'a>(
        &mut self,
        scenario: &'a Scenario,
        prefill: u64,
        runs: usize,
    ) -> anyhow::Result<Row<'a>> {
        let shared = match (scenario.spec.database, prefill) {
            (Some(kind), 1..) => {
                let url = self.fresh_database(kind, scenario.spec.key)?;
                self.runtime
                    .block_on(database::prefill(&url, prefill, self.groups))?;
                Some(url)
            }
            _ => None,
        };
        let mut tally = Tally {
            baselines: Vec::new(),
            chathook: Vec::new(),
            floors: Vec::new(),
            peak_rss_mib: 0.0,
            stored: None,
            zero_lost: true,
            store_messages: None,
            handled: scenario
                .spec
                .handled_by
                .iter()
                .map(|&name| (name, 0))
                .collect(),
            jetstream: None,
            drained: None,
        };
        for run in 1..=runs {
            self.measure_run(scenario, prefill, run, shared.as_deref(), &mut tally)?;
        }
        if let Some(url) = &shared {
            self.runtime.block_on(drop_database(url))?;
        }
        let chathook = Measured::median(&tally.chathook);
        let queued = match (scenario.spec.queued, tally.drained.take()) {
            (Some(handler), Some(drained)) => {
                Some(self.queued_row(scenario, handler, drained, &chathook)?)
            }
            _ => None,
        };
        Ok(Row {
            scenario,
            placement: self.pinning.placement,
            runs,
            prefilled: prefill,
            store_messages: tally.store_messages,
            floor: Floor::median(&tally.floors),
            baseline: Measured::median(&tally.baselines),
            chathook,
            peak_rss_mib: tally.peak_rss_mib,
            stored: tally.stored,
            zero_lost: tally.zero_lost,
            handled: tally.handled,
            jetstream: tally.jetstream,
            queued,
        })
    }

    /// Run `run` of `scenario`: the baseline, then chathook on the `shared` store or a fresh
    /// one, then the checks of what it stored, handled or published.
    fn measure_run(
        &mut self,
        scenario: &Scenario,
        prefill: u64,
        run: usize,
        shared: Option<&str>,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        // Runs sharing a store each write MsgSeqs of their own, above the pre-fill and
        // above the runs before: the same sequence again would be all merges.
        let first_seq =
            workload::prefilled_per_group(prefill, self.groups) + (run as i64 - 1) * RUN_SEQ_SPAN;
        let script = lua_script(scenario, self.work.path(), first_seq)?;
        let baseline = self.baseline(scenario, &script)?;
        let database = match (shared, scenario.spec.database) {
            (Some(url), _) => Some(url.to_owned()),
            (None, Some(kind)) => {
                Some(self.fresh_database(kind, &format!("{}-{prefill}-{run}", scenario.spec.key))?)
            }
            (None, None) => None,
        };
        let before = match shared {
            Some(url) => {
                let before = self.runtime.block_on(count_rows(url))?;
                let first = tally.store_messages.map_or(before.0, |(first, _)| first);
                tally.store_messages = Some((first, before.0));
                before
            }
            None => (0, 0),
        };
        let mut stream = scenario
            .spec
            .jetstream
            .then(|| JetStreamRun::new(&self.nats_url, self.work.path()));
        let outcome = self.chathook(scenario, &script, database.as_deref(), stream.as_ref())?;
        let measured = &outcome.measured;
        tally.peak_rss_mib = tally.peak_rss_mib.max(outcome.peak_rss_mib);
        print_run(run, &baseline, &outcome);
        if measured.errors > 0 {
            self.problems.push(format!(
                "({}) {} requests failed or were not answered 200",
                scenario.spec.key, measured.errors
            ));
        }
        self.tally_handled(scenario, measured, &outcome.handled, tally);
        if let Some(drained) = &outcome.drained {
            self.tally_drained(scenario, measured, drained, tally);
        }
        if let (Some(url), Some(kind)) = (&database, scenario.spec.database) {
            let after = self.runtime.block_on(count_rows(url))?;
            let stored = self.check_stored(scenario, measured, before, after);
            tally.zero_lost &= stored.is_some();
            *tally.stored.get_or_insert(0) += stored.unwrap_or_default();
            if shared.is_none() {
                self.runtime.block_on(drop_database(url))?;
            }
            if prefill == 0 {
                tally.floors.push(self.floor(scenario, kind, run)?);
            }
        }
        if let Some(stream) = stream.as_mut() {
            self.tally_stream(scenario, stream, &outcome, tally)?;
        }
        tally.baselines.push(baseline);
        tally.chathook.push(outcome.measured);
        Ok(())
    }

    /// Adds what the run's stream held to the tally, the stream deleted.
    fn tally_stream(
        &mut self,
        scenario: &Scenario,
        stream: &mut JetStreamRun,
        outcome: &ChathookRun,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        let measured = &outcome.measured;
        let result = self.check_stream(
            scenario,
            stream,
            measured,
            (outcome.spooled, outcome.nats_cpu_secs),
        )?;
        tally.zero_lost &= measured.all_stored(result.held);
        *tally.stored.get_or_insert(0) += result.held;
        let total = tally.jetstream.get_or_insert(JetStreamResult {
            held: 0,
            spooled: 0,
            nats_cpu_us_per_callback: result.nats_cpu_us_per_callback,
        });
        total.held += result.held;
        total.spooled += result.spooled;
        Ok(())
    }

    /// Adds a run's deliveries to the tally; an acknowledged callback not delivered is a
    /// problem.
    fn tally_drained(
        &mut self,
        scenario: &Scenario,
        measured: &Measured,
        drained: &Drained,
        tally: &mut Tally,
    ) {
        println!(
            "    delivered {} of {} journaled ({} retried, {} dead, {} pending); {} acknowledged, \
             {} sent",
            drained.delivered,
            drained.journaled,
            drained.retried,
            drained.dead,
            drained.pending,
            measured.acked,
            measured.sent
        );
        if !drained.all_delivered(measured.acked, measured.sent) {
            tally.zero_lost = false;
            self.problems.push(format!(
                "({}) {}",
                scenario.spec.key,
                drained.shortfall(measured.acked, measured.sent)
            ));
        }
        *tally.stored.get_or_insert(0) += drained.delivered;
        let total = tally.drained.get_or_insert_with(Drained::default);
        total.delivered += drained.delivered;
        total.retried += drained.retried;
        total.dead += drained.dead;
        total.pending += drained.pending;
        total.journaled += drained.journaled;
        total.disk_bytes += drained.disk_bytes;
        add_buckets(&mut total.lag_buckets, &drained.lag_buckets);
    }

    /// Adds a run's successful calls of each handler to the tally; a handler that missed an
    /// acknowledged callback is a problem.
    fn tally_handled(
        &mut self,
        scenario: &Scenario,
        measured: &Measured,
        handled: &[(&'static str, u64)],
        tally: &mut Tally,
    ) {
        for ((name, total), (_, count)) in tally.handled.iter_mut().zip(handled) {
            *total += count;
            if !measured.all_stored(*count) {
                tally.zero_lost = false;
                self.problems.push(format!(
                    "({}) {} callbacks acknowledged, {} sent, but {name} handled {count}",
                    scenario.spec.key, measured.acked, measured.sent
                ));
            }
        }
    }
}

/// One run's line of progress.
fn print_run(run: usize, baseline: &Measured, outcome: &ChathookRun) {
    let measured = &outcome.measured;
    println!(
        "    run {run}: baseline {:>7.0} req/s {:>5.1} µs CPU {:.3} switches | chathook {:>7.0} \
         req/s {:>5.1} µs CPU {:.3} switches, p99 {:.2} ms, max {:.1} ms, peak RSS {:.1} MiB",
        baseline.requests_per_sec,
        baseline.cpu_us_per_request,
        baseline.switches_per_request,
        measured.requests_per_sec,
        measured.cpu_us_per_request,
        measured.switches_per_request,
        measured.p99_ms,
        measured.max_ms,
        outcome.peak_rss_mib
    );
}
