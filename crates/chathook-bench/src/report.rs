//! The report: one line on the machine and the run, the table of every scenario with its
//! verdicts, and the notes that compare scenarios ((a) against (e), durability full against
//! normal, growth, JetStream, the store alone). `results.md` is this text.

use std::fmt::Write as _;
use std::process::Command;

use crate::bench::{Bench, Row};
use crate::database::Database;
use crate::pinning::Placement;
use crate::queued::{PacedPhase, WriteCost, bucket_quantile};
use crate::scenario::MAX_RSS_MIB;

/// The whole report of `rows`; a smoke run's judges no speed.
pub(crate) fn report(rows: &[Row<'_>], bench: &Bench, smoke: bool) -> String {
    let mut text = header(rows, bench, smoke);
    let _ = writeln!(
        text,
        "| scenario | CPUs | baseline req/s | chathook req/s | ratio | p50 ms, baseline → chathook | p99 ms, baseline → chathook | max ms | CPU µs/request, baseline → chathook | context switches/request, baseline → chathook | store floor µs/callback | CPU ÷ (baseline + floor) | peak RSS MiB | acknowledged / stored | targets |"
    );
    let _ = writeln!(
        text,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for row in rows {
        text.push_str(&table_row(row, rows, smoke));
    }
    fan_out_note(&mut text, rows);
    durability_notes(&mut text, rows);
    growth_notes(&mut text, rows);
    jetstream_notes(&mut text, rows);
    queued_notes(&mut text, rows, bench);
    floor_notes(&mut text, rows, bench);
    if rows
        .iter()
        .any(|row| row.scenario.spec.database == Some(Database::Postgres))
    {
        let _ = writeln!(
            text,
            "\nPostgreSQL runs as its own unpinned server: its CPU is in none of these figures, and \
             it shares the CPUs with wrk and chathook."
        );
    }
    text
}

/// The first line: when, on what, how the servers were pinned and driven.
fn header(rows: &[Row<'_>], bench: &Bench, smoke: bool) -> String {
    let mut text = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let build = if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    };
    let runs = rows.first().map_or(0, |row| row.runs);
    let _ = writeln!(
        text,
        "Run {date} on {cpu} ({} CPUs), {}; wrk -t1 -c{}, {} s per run ({} s in the soak \
         scenarios), medians of {runs} runs (the max column is the slowest request of all \
         runs); {build}; load average {} at the start. Where a note quotes one placement it is \
         the first.\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        bench.describe_placements(),
        bench.connections,
        bench.duration,
        bench.soak_secs,
        bench.load_at_start,
    );
    if smoke {
        let _ = writeln!(
            text,
            "Smoke run: judged only on every request answered 200 and nothing lost; no speed is judged.\n"
        );
    }
    text
}

/// One scenario's line of the table.
fn table_row(row: &Row<'_>, rows: &[Row<'_>], smoke: bool) -> String {
    let stored = row.stored.map_or_else(
        || "-".to_owned(),
        |stored| format!("{} / {stored}", row.chathook.acked),
    );
    let title = match row.store_messages {
        Some((first, last)) => {
            format!("{}, {first}–{last} messages stored", row.scenario.title)
        }
        None if row.scenario.spec.growth => format!("{}, empty store", row.scenario.title),
        None => row.scenario.title.clone(),
    };
    let floor = row.floor.map_or_else(
        || "-".to_owned(),
        |floor| format!("{:.1}", floor.cpu_us_per_callback()),
    );
    let over_floor = floor_ratio(row).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
    format!(
        "| ({}) {title} | {} | {:.0} | {:.0} | {:.2} | {:.2} → {:.2} | {:.2} → {:.2} | {:.1} | {:.1} → {:.1} | {:.3} → {:.3} | {floor} | {over_floor} | {:.1} | {stored} | {} |\n",
        row.scenario.spec.key,
        row.placement.as_str(),
        row.baseline.requests_per_sec,
        row.chathook.requests_per_sec,
        ratio(row),
        row.baseline.p50_ms,
        row.chathook.p50_ms,
        row.baseline.p99_ms,
        row.chathook.p99_ms,
        row.chathook.max_ms,
        row.baseline.cpu_us_per_request,
        row.chathook.cpu_us_per_request,
        row.baseline.switches_per_request,
        row.chathook.switches_per_request,
        row.peak_rss_mib,
        verdicts(row, rows, smoke).join(", ")
    )
}

/// The targets column: each target of the scenario met or missed (none in a smoke run), and
/// the zero-loss checks.
fn verdicts(row: &Row<'_>, rows: &[Row<'_>], smoke: bool) -> Vec<String> {
    let target = &row.scenario.spec.target;
    let mut verdicts = Vec::new();
    if !smoke {
        verdicts.extend(
            target
                .min_ratio
                .map(|min| format!("ratio ≥ {min}: {}", yes(ratio(row) >= min))),
        );
        verdicts.extend(
            target
                .max_p99_ms
                .map(|max| format!("p99 ≤ {max} ms: {}", yes(row.chathook.p99_ms <= max))),
        );
        if target.p99_within_baseline {
            verdicts.push(format!(
                "p99 ≤ baseline's: {}",
                yes(row.chathook.p99_ms <= row.baseline.p99_ms)
            ));
        }
        verdicts.extend(
            target
                .max_request_ms
                .map(|max| format!("max ≤ {max} ms: {}", yes(row.chathook.max_ms <= max))),
        );
        if let Some(max) = target.max_switch_ratio
            && row.placement == Placement::Unpinned
        {
            let measured = switch_ratio(row);
            verdicts.push(format!(
                "switches ≤ {max}x baseline's, unpinned: {} ({measured:.2}x)",
                yes(measured <= max)
            ));
        }
        if let (Some(max), Some(measured)) = (target.max_floor_ratio, floor_ratio(row)) {
            verdicts.push(format!("CPU ≤ {max}x floor: {}", yes(measured <= max)));
        }
        let largest_prefill = rows
            .iter()
            .filter(|other| other.scenario.spec.key == row.scenario.spec.key)
            .map(|other| other.prefilled)
            .max()
            .unwrap_or(0);
        if let Some(min) = target.min_growth_ratio
            && row.prefilled > 0
            && row.prefilled == largest_prefill
            && let Some(measured) = growth_ratio(row, rows)
        {
            verdicts.push(format!("≥ {min}x empty store: {}", yes(measured >= min)));
        }
        let compared = |key| placed(rows, key, row.placement);
        if let Some(other) = target.at_least_as_fast_as.and_then(compared) {
            let against = row.chathook.requests_per_sec / other.chathook.requests_per_sec.max(1.0);
            verdicts.push(format!(
                "≥ ({})'s req/s: {} ({against:.2}x)",
                other.scenario.spec.key,
                yes(against >= 1.0)
            ));
        }
        verdicts.push(format!(
            "RSS ≤ {MAX_RSS_MIB} MiB: {}",
            yes(row.peak_rss_mib <= MAX_RSS_MIB)
        ));
    }
    if row.stored.is_some() {
        verdicts.push(format!("zero lost: {}", yes(row.zero_lost)));
    }
    if !row.handled.is_empty() {
        verdicts.push(format!(
            "every callback through each handler: {}",
            yes(row.zero_lost)
        ));
    }
    if let Some(result) = &row.jetstream {
        verdicts.push(format!("spool unused: {}", yes(result.spooled == 0)));
    }
    verdicts
}

fn by_key<'r, 'a>(rows: &'r [Row<'a>], key: &str) -> Option<&'r Row<'a>> {
    rows.iter().find(|row| row.scenario.spec.key == key)
}

/// Scenario `key`'s row of the same placement: a target against another scenario compares
/// pinned with pinned, unpinned with unpinned.
fn placed<'r, 'a>(rows: &'r [Row<'a>], key: &str, placement: Placement) -> Option<&'r Row<'a>> {
    rows.iter()
        .find(|row| row.scenario.spec.key == key && row.placement == placement)
}

/// (a) against (e): what fanning a callback out to two handlers costs.
fn fan_out_note(text: &mut String, rows: &[Row<'_>]) {
    for placement in [Placement::Pinned, Placement::Unpinned] {
        let placed = |key| {
            rows.iter()
                .find(|row| row.scenario.spec.key == key && row.placement == placement)
        };
        if let (Some(one), Some(two)) = (placed("a"), placed("e")) {
            fan_out_line(text, placement, one, two);
        }
    }
}

fn fan_out_line(text: &mut String, placement: Placement, one: &Row<'_>, two: &Row<'_>) {
    let _ = writeln!(
        text,
        "\nFan-out, {}, (a) → (e), the same command unrouted and then served by two after-handlers \
         that each decode it: ratio {:.2} → {:.2}, CPU {:.1} → {:.1} µs/request \
         ({:+.1} µs per callback), p99 {:.2} → {:.2} ms.",
        placement.as_str(),
        ratio(one),
        ratio(two),
        one.chathook.cpu_us_per_request,
        two.chathook.cpu_us_per_request,
        two.chathook.cpu_us_per_request - one.chathook.cpu_us_per_request,
        one.chathook.p99_ms,
        two.chathook.p99_ms
    );
}

/// Each durable scenario against its `durability = "normal"` twin.
fn durability_notes(text: &mut String, rows: &[Row<'_>]) {
    for (full, normal) in [("b", "k"), ("g", "l"), ("h", "m")] {
        let (Some(full), Some(normal)) = (by_key(rows, full), by_key(rows, normal)) else {
            continue;
        };
        let _ = writeln!(
            text,
            "\nDurability full → normal, ({}) → ({}): {:.0} → {:.0} req/s, p99 {:.2} → {:.2} ms, \
             CPU {:.1} → {:.1} µs/request.",
            full.scenario.spec.key,
            normal.scenario.spec.key,
            full.chathook.requests_per_sec,
            normal.chathook.requests_per_sec,
            full.chathook.p99_ms,
            normal.chathook.p99_ms,
            full.chathook.cpu_us_per_request,
            normal.chathook.cpu_us_per_request
        );
    }
}

/// Each pre-filled row against the same scenario at an empty store.
fn growth_notes(text: &mut String, rows: &[Row<'_>]) {
    for row in rows.iter().filter(|row| row.prefilled > 0) {
        if let Some(ratio) = growth_ratio(row, rows) {
            let _ = writeln!(
                text,
                "\nGrowth, ({}) after a pre-fill of {} messages: {:.0} req/s, {ratio:.2}x the empty \
                 store's, p99 {:.2} ms.",
                row.scenario.spec.key,
                row.prefilled,
                row.chathook.requests_per_sec,
                row.chathook.p99_ms
            );
        }
    }
}

/// What the JetStream scenario's streams held, the spool, and the NATS server's CPU.
fn jetstream_notes(text: &mut String, rows: &[Row<'_>]) {
    for row in rows {
        let Some(result) = &row.jetstream else {
            continue;
        };
        let nats_cpu = result.nats_cpu_us_per_callback.map_or_else(
            || "the NATS server's process was not found, so its CPU is unknown".to_owned(),
            |us| {
                format!(
                    "the NATS server (its own process, not pinned, sharing the CPUs with wrk and \
                     chathook; not in the CPU column) spent {us:.1} µs CPU per callback, so \
                     {:.1} µs with chathook's",
                    us + row.chathook.cpu_us_per_request
                )
            },
        );
        let _ = writeln!(
            text,
            "\nJetStream, ({}): the runs' streams held {} callbacks for {} acknowledged ({} in \
             flight when wrk stopped), {} went to the spool; {nats_cpu}.",
            row.scenario.spec.key,
            result.held,
            row.chathook.acked,
            row.chathook.sent - row.chathook.answered,
            result.spooled
        );
    }
}

/// A queued scenario: against the baseline and (b), its deliveries, the fixed-rate phase's
/// delivery lag, and what each write costs.
fn queued_notes(text: &mut String, rows: &[Row<'_>], bench: &Bench) {
    for row in rows {
        let Some(queued) = &row.queued else {
            continue;
        };
        let key = row.scenario.spec.key;
        let against_receipts = by_key(rows, "b").map_or_else(String::new, |receipts| {
            format!(
                ", {:.2}x (b)'s {:.0} req/s (p99 {:.2} ms, {:.1} µs CPU)",
                row.chathook.requests_per_sec / receipts.chathook.requests_per_sec.max(1.0),
                receipts.chathook.requests_per_sec,
                receipts.chathook.p99_ms,
                receipts.chathook.cpu_us_per_request
            )
        });
        let drained = &queued.drained;
        let _ = writeln!(
            text,
            "\nQueued, ({key}): {:.0} req/s, {:.2}x the baseline{against_receipts}; p50 {:.2} ms, \
             p99 {:.2} ms, {:.1} µs CPU per request, peak RSS {:.1} MiB{}. Deliveries, by \
             `/metrics` once the pending ones reached 0 (or the wait's deadline passed): {} \
             delivered of {} journaled for {} acknowledged, {} retried, {} dead. Delivery lag at \
             full load, by the histogram: p50 {}, p99 {}. The journal file held {:.0} bytes per \
             callback (the body is about 300).",
            row.chathook.requests_per_sec,
            ratio(row),
            row.chathook.p50_ms,
            row.chathook.p99_ms,
            row.chathook.cpu_us_per_request,
            row.peak_rss_mib,
            if row.peak_rss_mib > MAX_RSS_MIB {
                ", OVER 64 MiB"
            } else {
                ""
            },
            drained.delivered,
            drained.journaled,
            row.chathook.acked,
            drained.retried,
            drained.dead,
            bucket_text(&drained.lag_buckets, 0.5),
            bucket_text(&drained.lag_buckets, 0.99),
            drained.disk_bytes as f64 / drained.journaled.max(1) as f64
        );
        paced_note(text, key, &queued.paced, bench);
        write_cost_note(text, key, &queued.write_cost);
    }
}

/// The fixed-rate phase of queued scenario `key`: the rate held and the delivery lag.
fn paced_note(text: &mut String, key: &str, paced: &PacedPhase, bench: &Bench) {
    let exact = |quantile| {
        paced
            .exact_lag_ms(quantile)
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
    };
    let _ = writeln!(
        text,
        "\nAt a fixed rate, ({key}) at {:.0} req/s (half of {}) for {} s: {:.0} answered \
         per second, request p50 {:.2} ms, p99 {:.2} ms (the driver at most {:.1} ms behind \
         its schedule); {} delivered of {} journaled for {} acknowledged. Delivery lag, \
         arrival to success: by the histogram's buckets p50 {}, p99 {}; by the journal's \
         arrival and delivery times (whole milliseconds) p50 {}, p99 {}, slowest {}.",
        paced.measured.target_per_sec,
        paced.rate_of,
        bench.duration,
        paced.measured.answered_per_sec,
        paced.measured.p50_ms,
        paced.measured.p99_ms,
        paced.measured.most_behind_ms,
        paced.drained.delivered,
        paced.drained.journaled,
        paced.measured.acked,
        bucket_text(&paced.drained.lag_buckets, 0.5),
        bucket_text(&paced.drained.lag_buckets, 0.99),
        exact(0.5),
        exact(0.99),
        exact(1.0)
    );
}

/// What each write of queued scenario `key` costs, by the strace probe.
fn write_cost_note(text: &mut String, key: &str, write_cost: &Result<WriteCost, String>) {
    let cost = match write_cost {
        Ok(cost) => format!(
            "one more full load with chathook under `strace -f --seccomp-bpf` (only the \
             syncs stop it; {:.0} req/s there) synced the journal's WAL {} times and its \
             database file {} times (checkpoints, each also one of the WAL's) in {:.1} s: \
             about {} commits, {:.0} per second, {:.1} callbacks acknowledged per commit, \
             so {:.3} fsyncs per callback, the workers' claims and settlements included",
            cost.measured.requests_per_sec,
            cost.wal_syncs,
            cost.database_syncs,
            cost.secs,
            cost.commits(),
            cost.commits_per_sec(),
            cost.callbacks_per_commit(),
            (cost.wal_syncs + cost.database_syncs) as f64 / cost.measured.acked.max(1) as f64
        ),
        Err(error) => format!("not measured ({error})"),
    };
    let _ = writeln!(text, "\nWhat each write costs, ({key}): {cost}.");
}

/// The bucket a lag quantile falls in, as "≤ 4 ms".
fn bucket_text(buckets: &[(f64, u64)], quantile: f64) -> String {
    match bucket_quantile(buckets, quantile) {
        None => "- (no deliveries)".to_owned(),
        Some(bound) if bound.is_infinite() => "above the last bucket".to_owned(),
        // The bounds are powers of two times 1 ms; rounding drops the float's tail.
        Some(bound) => format!("≤ {} ms", (bound * 1e6).round() / 1e3),
    }
}

/// The store alone, per read-receipt scenario.
fn floor_notes(text: &mut String, rows: &[Row<'_>], bench: &Bench) {
    let floors: Vec<_> = rows
        .iter()
        .filter_map(|row| Some((row, row.floor?)))
        .collect();
    if floors.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "\nThe store alone, no HTTP (the same workload's callbacks already parsed, from {} \
         tasks on the server's core, on an empty store; median run):\n",
        bench.connections
    );
    for (row, floor) in &floors {
        let _ = writeln!(
            text,
            "- ({}) {:.0} callbacks/s, {:.1} µs CPU each",
            row.scenario.spec.key,
            floor.per_sec(),
            floor.cpu_us_per_callback()
        );
    }
}

/// chathook's context switches per request against the baseline's. Unpinned, each is mostly
/// one worker thread waking the other: what chathook's request path shares or hands across
/// threads beyond what hyper and tokio do for any server.
fn switch_ratio(row: &Row<'_>) -> f64 {
    row.chathook.switches_per_request / row.baseline.switches_per_request.max(f64::EPSILON)
}

/// chathook's throughput against the baseline's.
fn ratio(row: &Row<'_>) -> f64 {
    row.chathook.requests_per_sec / row.baseline.requests_per_sec.max(1.0)
}

/// CPU per callback against the floor of this work: the baseline's CPU per request plus the
/// store's CPU per callback.
fn floor_ratio(row: &Row<'_>) -> Option<f64> {
    let floor = row.floor?;
    Some(
        row.chathook.cpu_us_per_request
            / (row.baseline.cpu_us_per_request + floor.cpu_us_per_callback()).max(f64::EPSILON),
    )
}

/// Throughput of `row` against the same scenario's row at an empty store.
fn growth_ratio(row: &Row<'_>, rows: &[Row<'_>]) -> Option<f64> {
    let empty = rows
        .iter()
        .find(|other| other.scenario.spec.key == row.scenario.spec.key && other.prefilled == 0)?;
    Some(row.chathook.requests_per_sec / empty.chathook.requests_per_sec.max(1.0))
}

fn yes(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
