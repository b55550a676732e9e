//! chathook-bench: how close chathook comes to the least any axum server could do.
//!
//! One run, on one machine: for each scenario a bare axum baseline (parse the JSON body, answer
//! Tencent's OK packet) and then chathook (signatures on) are each driven by `wrk` with the same
//! connections and duration, the servers pinned to one core and wrk to the other, and again
//! unpinned, everything free on every core as a deployment runs (`--pinning`). The report
//! gives requests/s and the ratio to the baseline, p50/p99 latency, the servers' context
//! switches per request (what wakes cross the worker threads: scenario (a) unpinned is judged
//! on them against the baseline's), chathook's peak RSS, and for
//! the read-receipt scenarios that every acknowledged callback is stored. Scenario (e) serves
//! (a)'s command with two after-handlers (`tally_a` and `tally_b` of
//! `examples/tally`), so (a) against (e) is what fanning a callback out to handlers costs; it checks
//! from chathook's metrics that both handlers handled every acknowledged callback. Scenario (f)
//! publishes every callback into NATS JetStream with the stock `nats` handler (a fresh stream
//! per run on the NATS server at `--nats-url`, deleted afterwards); it checks that the stream
//! holds every acknowledged callback, that the spool was never used, and notes the NATS
//! server's own CPU time per callback (NATS is not pinned).
//!
//! The read-receipt scenarios beyond (b) and (c) follow a real app's traffic (see
//! [`workload`]): (g) and (h) many groups with redeliveries on SQLite and PostgreSQL for
//! `--soak-secs` (5 minutes), judged on p99, the slowest request and CPU against the floor;
//! (i) and (j) the same mix at an empty store and again after pre-filling millions of
//! messages, judged on throughput against the empty store; (k), (l) and (m) repeat (b), (g)
//! and (h) with `durability = "normal"`; (n) and (o) repeat (a) and (b) with the
//! recent-callbacks buffer on (`[console] recent = 1000`, no reader connected) while every other
//! scenario runs with it off, so (a) against (n) and (b) against (o) are what keeping the
//! console's records costs. (p) sends (b)'s requests to one queued no-op handler (`tally_a`,
//! `delivery = "queued"`) behind the SQLite journal (see [`queued`]): chathook answers once the
//! callback is committed, and the check is that every acknowledged one was delivered; a second
//! phase at half of (b)'s throughput gives the delivery lag, and a probe under strace counts
//! the journal's commits. (q) is (p) with the stock `http_forward` handler instead of the
//! no-op: one queued endpoint POSTing each callback, signed, to a local receiver that answers
//! 204 at once (see [`receiver`]), so (q) against (p) is what forwarding over HTTP costs,
//! with the same checks and phases. Every read-receipt scenario also drives the store alone on the same
//! workload (the floor), and its CPU per callback plus the baseline's is the least chathook
//! could spend. Each scenario runs `--runs` times (3) and the report gives
//! medians. A full run ends with [`instructions`]: instructions per callback under callgrind,
//! a figure the machine's load does not move.
//!
//! `cargo run --release -p chathook-bench` runs it; `-- --smoke` is the short CI mode, which
//! checks that every request was answered 200 and the zero-loss counts, and asserts no speed.
//! The same binary also serves as the baseline and as chathook (stock plugins plus
//! `examples/keyword-filter` and the fan-out handlers), so one build has everything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod apt;
mod baseline;
mod bench;
mod checks;
mod database;
mod instructions;
mod jetstream;
mod paced;
mod pinning;
mod queued;
mod receiver;
mod report;
mod runs;
mod scenario;
mod server;
mod store_floor;
mod workload;
mod wrk;

// The stock plugins (the `chathook` crate's link list), as the stock binary has them.
use chathook as _;

// The team plugin of scenario (d), linked like any custom binary's.
use example_keyword_filter as _;

// The two after-handlers of scenario (e), `tally_a` and `tally_b`.
use example_tally as _;

const APP_ID: u64 = 1_400_000_000;
const TOKEN: &str = "bench-token";

/// Load benchmark of chathook against a bare axum baseline.
#[derive(Parser)]
#[command(name = "chathook-bench")]
struct Cli {
    /// Short CI mode: 2 s per run, checks zero loss, asserts no speed, writes no results file.
    #[arg(long)]
    smoke: bool,
    /// Seconds each server is driven per scenario [default: 10, or 2 with --smoke].
    #[arg(long)]
    duration: Option<u64>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Where to write the results table [default: crates/chathook-bench/results.md].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the servers and wrk run: `pinned` (server on one CPU, wrk on the other),
    /// `unpinned` (all free on every CPU, as a deployment runs) or `both`, each scenario's
    /// pinned runs then its unpinned ones [default: both, or pinned with --smoke].
    #[arg(long, value_enum)]
    pinning: Option<pinning::PinningChoice>,
    /// Only count instructions per callback under callgrind (also part of a full run).
    #[arg(long)]
    instructions: bool,
    /// Run only these scenarios, e.g. `--scenarios a,b` [default: all].
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// PostgreSQL for scenario (c) [default: $TEST_POSTGRES_URL, or the local server].
    #[arg(long)]
    postgres_url: Option<String>,
    /// NATS server (JetStream on) for scenario (f).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Runs of each scenario; the report gives their medians [default: 3, or 1 with --smoke].
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds chathook is driven in the soak scenarios (g) and (h) [default: 300, or the
    /// run duration with --smoke].
    #[arg(long)]
    soak_secs: Option<u64>,
    /// Groups of the many-groups workload.
    #[arg(long, default_value_t = 1000)]
    groups: u32,
    /// Share of the many-groups callbacks that repeat an earlier one, in percent.
    #[arg(long, default_value_t = 20)]
    redeliver_percent: u32,
    /// Stored messages the growth scenarios (i) and (j) pre-fill before they measure again,
    /// after measuring an empty store [default: 1000000,10000000, or 20000 with --smoke].
    #[arg(long, value_delimiter = ',')]
    growth: Vec<u64>,
    #[command(subcommand)]
    role: Option<Role>,
}

/// What this process is; the benchmark starts itself in the server roles.
#[derive(Subcommand)]
enum Role {
    /// Serve the baseline on ADDR.
    Baseline {
        /// Address to listen on.
        addr: SocketAddr,
    },
    /// Drive the read-receipt store directly, no HTTP, with `connections` concurrent writers
    /// for `secs` seconds; print the callbacks stored and the CPU time spent.
    StoreFloor {
        /// Database URL.
        url: String,
        /// Concurrent writers.
        connections: u32,
        /// Seconds.
        secs: u64,
        /// `single`, or `many:GROUPS:REDELIVER_PERCENT`.
        #[arg(long, default_value = "single")]
        workload: String,
        /// `full` or `normal`.
        #[arg(long, default_value = "full")]
        durability: String,
        /// Stop after this many callbacks instead of after `secs`.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Send RATE requests/s of scenario (b)'s shape to ADDR + PATH for SECS seconds over
    /// CONNECTIONS connections; print what was answered and how fast.
    Paced {
        /// Address to send to.
        addr: String,
        /// Path and query string.
        path: String,
        /// Requests per second.
        rate: f64,
        /// Seconds.
        secs: u64,
        /// Keep-alive connections, one thread each.
        connections: u32,
    },
    /// Run chathook with the given arguments (e.g. `serve --config PATH`).
    Chathook {
        /// chathook's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.role {
        Some(Role::Baseline { addr }) => baseline::serve(addr),
        Some(Role::StoreFloor {
            url,
            connections,
            secs,
            workload,
            durability,
            count,
        }) => store_floor::run(url, connections, secs, count, &workload, &durability),
        Some(Role::Paced {
            addr,
            path,
            rate,
            secs,
            connections,
        }) => paced::run(&addr, &path, rate, secs, connections),
        Some(Role::Chathook { args }) => {
            return chathook_cli::main_with_args(
                std::iter::once("chathook".to_owned()).chain(args),
            );
        }
        None => bench::run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `value` of `name=value` in a result line of space-separated pairs (wrk's `RESULT` line, the
/// store floor's `FLOOR` line).
fn result_field<'a>(line: &'a str, name: &str) -> anyhow::Result<&'a str> {
    line.split(' ')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .with_context(|| format!("no {name} in {line}"))
}
