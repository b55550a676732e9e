//! chathook-bench: how close chathook comes to the least any axum server could do.
//!
//! One run, on one machine: for each scenario a bare axum baseline (parse the JSON body, answer
//! Tencent's OK packet) and then chathook (signatures on) are each driven by `wrk` with the same
//! connections and duration, the servers pinned to one core and wrk to the other. The report
//! gives requests/s and the ratio to the baseline, p50/p99 latency, chathook's peak RSS, and for
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
//! console's records costs. Every read-receipt scenario also drives the store alone on the same
//! workload (the floor), and its CPU per callback plus the baseline's is the least chathook
//! could spend. Each scenario runs `--runs` times (3) and the report gives
//! medians. A full run ends with [`instructions`]: instructions per callback under callgrind,
//! a figure the machine's load does not move.
//!
//! `cargo run --release -p chathook-bench` runs it; `-- --smoke` is the short CI mode, which
//! checks that every request was answered 200 and the zero-loss counts, and asserts no speed.
//! The same binary also serves as the baseline and as chathook (stock plugins plus
//! `examples/keyword-filter` and the fan-out handlers), so one build has everything.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use chathook_read_receipt::store::Durability;
use clap::{Parser, Subcommand};
use sqlx::Connection as _;
use workload::Workload;

mod instructions;
mod workload;

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
        Some(Role::Chathook { args }) => {
            return chathook_cli::main_with_args(
                std::iter::once("chathook".to_owned()).chain(args),
            );
        }
        None => run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

mod baseline {
    //! The floor for this stack: axum receives the body, serde_json parses it, and the reply is
    //! Tencent's OK packet. No auth, no routing, no storage.

    use std::net::SocketAddr;

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;

    const OK: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;

    async fn callback(
        body: Bytes,
    ) -> (StatusCode, [(&'static str, &'static str); 1], &'static str) {
        let status = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => StatusCode::OK,
            Err(_) => StatusCode::BAD_REQUEST,
        };
        (status, [("content-type", "application/json")], OK)
    }

    pub(crate) fn serve(addr: SocketAddr) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let app = Router::new().route("/callback", post(callback));
            axum::serve(listener, app).await?;
            Ok(())
        })
    }
}

mod store_floor {
    //! The storage's own cost: the read-receipt store fed the same callbacks as a scenario's
    //! workload, already parsed, by concurrent tasks as the handler would. What a stored
    //! callback costs with no HTTP around it.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::workload::{Callbacks, Workload};

    /// `single`, or `many:GROUPS:REDELIVER_PERCENT`, as the scenarios pass it.
    pub(crate) fn parse_workload(spec: &str) -> anyhow::Result<Workload> {
        match spec.split(':').collect::<Vec<_>>().as_slice() {
            ["single"] => Ok(Workload::SingleGroup),
            ["many", groups, redeliver] => Ok(Workload::ManyGroups {
                groups: groups.parse()?,
                redeliver_percent: redeliver.parse()?,
            }),
            _ => anyhow::bail!("workload {spec:?}: expected single or many:GROUPS:PERCENT"),
        }
    }

    /// The workload as `parse_workload` reads it.
    pub(crate) fn workload_spec(workload: Workload) -> String {
        match workload {
            Workload::ManyGroups {
                groups,
                redeliver_percent,
            } => format!("many:{groups}:{redeliver_percent}"),
            _ => "single".into(),
        }
    }

    pub(crate) fn run(
        url: String,
        connections: u32,
        secs: u64,
        count: Option<u64>,
        workload: &str,
        durability: &str,
    ) -> anyhow::Result<()> {
        let workload = parse_workload(workload)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let cpu_before = super::process_cpu_secs(std::process::id())?;
        let stored = runtime.block_on(async {
            // Built as the plugin builds it, with its defaults.
            let config = serde_json::from_value(
                serde_json::json!({ "database_url": url, "durability": durability }),
            )?;
            let handler = chathook_read_receipt::build(config)
                .await
                .map_err(|error| anyhow::anyhow!("read receipt store: {error}"))?;
            let store = handler.store().clone();
            let deadline = Instant::now() + Duration::from_secs(secs);
            // One sequence of callbacks for all writers, as wrk's one thread makes them.
            let callbacks = Arc::new(Mutex::new(Callbacks::new(
                workload,
                super::APP_ID as i64,
                0,
            )));
            let mut writers = tokio::task::JoinSet::new();
            for _ in 0..connections {
                let store = store.clone();
                let callbacks = Arc::clone(&callbacks);
                writers.spawn(async move {
                    let mut stored = 0u64;
                    loop {
                        let callback = {
                            let mut callbacks =
                                callbacks.lock().expect("no panic while generating");
                            let done = match count {
                                Some(count) => callbacks.made() >= count,
                                None => Instant::now() >= deadline,
                            };
                            if done {
                                break;
                            }
                            callbacks.next_callback().expect("a read-receipt workload")
                        };
                        store.record(callback).await?;
                        stored += 1;
                    }
                    anyhow::Ok(stored)
                });
            }
            let mut stored = 0;
            while let Some(writer) = writers.join_next().await {
                stored += writer??;
            }
            let new = callbacks.lock().expect("no panic").new_made();
            anyhow::Ok((stored, new, store.transactions_committed()))
        })?;
        let (stored, new, transactions) = stored;
        let cpu = super::process_cpu_secs(std::process::id())? - cpu_before;
        println!(
            "FLOOR stored={stored} new={new} transactions={transactions} cpu_us={:.0}",
            cpu * 1e6
        );
        Ok(())
    }
}

/// CPU time (user + system) a process has used so far, from `/proc`.
fn process_cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let mut fields = stat
        .rsplit_once(')')
        .context("malformed /proc stat")?
        .1
        .split_whitespace()
        .skip(11);
    let mut next_ticks =
        || -> anyhow::Result<f64> { Ok(fields.next().context("short /proc stat")?.parse()?) };
    let ticks = next_ticks()? + next_ticks()?;
    // USER_HZ is 100 on every Linux architecture chathook runs on.
    Ok(ticks / 100.0)
}

/// One benchmark scenario.
struct Scenario {
    key: &'static str,
    title: String,
    command: &'static str,
    workload: Workload,
    /// `[handlers...]` tables for chathook; `{db}` stands for the database URL and
    /// `{durability}` for the read-receipt durability, and for the JetStream scenario `{nats}`,
    /// `{stream}`, `{prefix}` and `{spool}` for the server, the run's stream and subject
    /// prefix, and the spool file.
    handlers: &'static str,
    database: Option<Database>,
    durability: Durability,
    /// Driven for `--soak-secs` rather than `--duration`.
    soak: bool,
    /// Measured at an empty store and again after each `--growth` pre-fill.
    growth: bool,
    /// Whether chathook publishes into a JetStream stream that must hold every acknowledged
    /// callback.
    jetstream: bool,
    /// Handlers that must each have handled every acknowledged callback, by chathook's
    /// metrics.
    handled_by: &'static [&'static str],
    /// Whether chathook keeps the recent-callbacks buffer (`[console] recent = 1000`, with an
    /// API token so it is served, and no reader connected); off everywhere else.
    recent: bool,
    target: Target,
}

#[derive(Clone, Copy, PartialEq)]
enum Database {
    Sqlite,
    Postgres,
}

#[derive(Default)]
struct Target {
    min_ratio: Option<f64>,
    max_p99_ms: Option<f64>,
    /// Slowest single request, over every run.
    max_request_ms: Option<f64>,
    /// CPU per callback against the baseline's plus the store floor's.
    max_floor_ratio: Option<f64>,
    /// Throughput at the largest pre-fill against an empty store.
    min_growth_ratio: Option<f64>,
}

const MAX_RSS_MIB: f64 = 64.0;

const READ_RECEIPTS: &str = "[handlers.read_receipt]\nenabled = true\ndatabase_url = \"{db}\"\n\
                             durability = \"{durability}\"\n";

fn scenarios(cli: &Cli) -> Vec<Scenario> {
    let many = Workload::ManyGroups {
        groups: cli.groups,
        redeliver_percent: cli.redeliver_percent,
    };
    let many_title = format!(
        "{} groups, {}% redelivered",
        cli.groups, cli.redeliver_percent
    );
    let plain = |key, title: &str, command, workload| Scenario {
        key,
        title: title.to_owned(),
        command,
        workload,
        handlers: "",
        database: None,
        durability: Durability::Full,
        soak: false,
        growth: false,
        jetstream: false,
        handled_by: &[],
        recent: false,
        target: Target::default(),
    };
    let receipts = |key, title: String, workload, database, durability| Scenario {
        handlers: READ_RECEIPTS,
        database: Some(database),
        durability,
        ..plain(key, &title, "Group.CallbackAfterReadReceipt", workload)
    };
    let durable_and_fast = Target {
        max_p99_ms: Some(10.0),
        max_floor_ratio: Some(1.25),
        ..Target::default()
    };
    vec![
        Scenario {
            target: Target {
                min_ratio: Some(0.85),
                max_p99_ms: Some(2.0),
                ..Target::default()
            },
            ..plain(
                "a",
                "unrouted (auth + routing + reply)",
                "Group.CallbackAfterSendMsg",
                Workload::Fixed(fixture("Group.CallbackAfterSendMsg")),
            )
        },
        Scenario {
            target: Target {
                max_p99_ms: Some(10.0),
                max_floor_ratio: Some(1.25),
                ..Target::default()
            },
            ..receipts(
                "b",
                "read receipts into SQLite, one group".into(),
                Workload::SingleGroup,
                Database::Sqlite,
                Durability::Full,
            )
        },
        receipts(
            "c",
            "read receipts into PostgreSQL, one group".into(),
            Workload::SingleGroup,
            Database::Postgres,
            Durability::Full,
        ),
        Scenario {
            handlers: "[handlers.keyword_filter]\nenabled = true\nbanned_words = [\"spam\", \"scam\", \"fraud\"]\naction = \"mask\"\n",
            ..plain(
                "d",
                "before-callback through keyword-filter",
                "Group.CallbackBeforeSendMsg",
                Workload::Fixed(fixture("Group.CallbackBeforeSendMsg")),
            )
        },
        Scenario {
            handlers: "[handlers.tally_a]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n\n\
                       [handlers.tally_b]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n",
            handled_by: &example_tally::HANDLERS,
            ..plain(
                "e",
                "two after-handlers on one command (fan-out; compare with (a))",
                "Group.CallbackAfterSendMsg",
                Workload::Fixed(fixture("Group.CallbackAfterSendMsg")),
            )
        },
        Scenario {
            handlers: "[handlers.nats]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n\
                       servers = [\"{nats}\"]\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n\
                       spool_path = \"{spool}\"\n",
            jetstream: true,
            ..plain(
                "f",
                "callbacks into NATS JetStream",
                "Group.CallbackAfterSendMsg",
                Workload::NewMessages,
            )
        },
        Scenario {
            soak: true,
            target: Target {
                max_request_ms: Some(100.0),
                ..durable_and_fast
            },
            ..receipts(
                "g",
                format!("read receipts into SQLite, {many_title}, soak"),
                many,
                Database::Sqlite,
                Durability::Full,
            )
        },
        Scenario {
            soak: true,
            ..receipts(
                "h",
                format!("read receipts into PostgreSQL, {many_title}, soak"),
                many,
                Database::Postgres,
                Durability::Full,
            )
        },
        Scenario {
            growth: true,
            target: Target {
                min_growth_ratio: Some(0.8),
                ..Target::default()
            },
            ..receipts(
                "i",
                format!("read receipts into SQLite, {many_title}, as the store grows"),
                many,
                Database::Sqlite,
                Durability::Full,
            )
        },
        Scenario {
            growth: true,
            ..receipts(
                "j",
                format!("read receipts into PostgreSQL, {many_title}, as the store grows"),
                many,
                Database::Postgres,
                Durability::Full,
            )
        },
        receipts(
            "k",
            "read receipts into SQLite, one group, durability normal".into(),
            Workload::SingleGroup,
            Database::Sqlite,
            Durability::Normal,
        ),
        receipts(
            "l",
            format!("read receipts into SQLite, {many_title}, durability normal"),
            many,
            Database::Sqlite,
            Durability::Normal,
        ),
        receipts(
            "m",
            format!("read receipts into PostgreSQL, {many_title}, durability normal"),
            many,
            Database::Postgres,
            Durability::Normal,
        ),
        Scenario {
            recent: true,
            ..plain(
                "n",
                "(a) with the recent-callbacks buffer on, no reader",
                "Group.CallbackAfterSendMsg",
                Workload::Fixed(fixture("Group.CallbackAfterSendMsg")),
            )
        },
        Scenario {
            recent: true,
            ..receipts(
                "o",
                "(b) with the recent-callbacks buffer on, no reader".into(),
                Workload::SingleGroup,
                Database::Sqlite,
                Durability::Full,
            )
        },
    ]
}

fn fixture(command: &str) -> &'static str {
    chathook_cli::fixtures::fixture(command).expect("bundled fixture")
}

/// What wrk measured in one run.
#[derive(Debug, Default, Clone)]
struct Measured {
    requests_per_sec: f64,
    /// The server's CPU time (user + system) per completed request.
    cpu_us_per_request: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The slowest request.
    max_ms: f64,
    errors: u64,
    acked: u64,
    sent: u64,
    answered: u64,
    /// Requests whose body was new rather than a redelivery.
    new_sent: u64,
}

impl Measured {
    /// Whether `stored` callbacks (or a handler's successful calls) account for every
    /// acknowledged one: at least those, and no more than were sent (the rest were in flight
    /// when wrk stopped).
    fn all_stored(&self, stored: u64) -> bool {
        (self.acked..=self.sent).contains(&stored)
    }

    /// Whether `stored` new callbacks account for every new one acknowledged: with no request
    /// failed, at least the new ones sent less those in flight when wrk stopped, and no more
    /// than were sent.
    fn all_new_stored(&self, stored: u64) -> bool {
        let in_flight = self.sent - self.answered;
        self.errors == 0
            && (self.new_sent.saturating_sub(in_flight)..=self.new_sent).contains(&stored)
    }

    /// Each figure's median over `runs` (counts summed, the slowest request the slowest).
    fn median(runs: &[Measured]) -> Measured {
        let median = |figure: fn(&Measured) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or_default()
        };
        let sum = |count: fn(&Measured) -> u64| runs.iter().map(count).sum();
        Measured {
            requests_per_sec: median(|run| run.requests_per_sec),
            cpu_us_per_request: median(|run| run.cpu_us_per_request),
            p50_ms: median(|run| run.p50_ms),
            p99_ms: median(|run| run.p99_ms),
            max_ms: runs.iter().map(|run| run.max_ms).fold(0.0, f64::max),
            errors: sum(|run| run.errors),
            acked: sum(|run| run.acked),
            sent: sum(|run| run.sent),
            answered: sum(|run| run.answered),
            new_sent: sum(|run| run.new_sent),
        }
    }
}

/// What the store alone did in the `store-floor` role.
#[derive(Clone, Copy)]
struct Floor {
    stored: u64,
    /// New callbacks among them; the rest were redeliveries.
    new: u64,
    cpu_us: f64,
    secs: u64,
}

impl Floor {
    fn per_sec(&self) -> f64 {
        self.stored as f64 / self.secs.max(1) as f64
    }

    fn cpu_us_per_callback(&self) -> f64 {
        self.cpu_us / self.stored.max(1) as f64
    }

    /// The run with the median CPU per callback.
    fn median(floors: &[Floor]) -> Option<Floor> {
        let mut floors = floors.to_vec();
        floors.sort_by(|a, b| a.cpu_us_per_callback().total_cmp(&b.cpu_us_per_callback()));
        floors.get(floors.len() / 2).copied()
    }
}

/// Runs the `store-floor` role pinned like a server, and reads its result line.
fn store_floor(
    pinning: &Pinning,
    exe: &Path,
    url: &str,
    scenario: &Scenario,
    connections: u32,
    secs: u64,
) -> anyhow::Result<Floor> {
    let output = pinning
        .server(exe)
        .args([
            "store-floor",
            url,
            &connections.to_string(),
            &secs.to_string(),
            "--workload",
            &store_floor::workload_spec(scenario.workload),
            "--durability",
            durability_name(scenario.durability),
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the store floor")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "store floor failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("FLOOR "))
        .with_context(|| format!("no FLOOR line in {stdout}"))?;
    Ok(Floor {
        stored: result_field(line, "stored")?.parse()?,
        new: result_field(line, "new")?.parse()?,
        cpu_us: result_field(line, "cpu_us")?.parse()?,
        secs,
    })
}

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => "full",
        Durability::Normal => "normal",
    }
}

/// How many callbacks handler `name` handled successfully, summed over commands, from the
/// `chathook_handler_results_total` counters of the chathook listening on `port`.
fn handled_ok(port: u16, name: &str) -> anyhow::Result<u64> {
    let response = metrics(port)?;
    let handler = format!("handler=\"{name}\"");
    let mut total = 0;
    for line in response.lines() {
        let Some(rest) = line.strip_prefix("chathook_handler_results_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").context("malformed metrics line")?;
        if labels.split(',').any(|label| label == handler)
            && labels.split(',').any(|label| label == "result=\"ok\"")
        {
            total += value.trim().parse::<f64>()? as u64;
        }
    }
    Ok(total)
}

/// The value of an unlabelled series, e.g. `chathook_nats_spooled_total`, from the chathook
/// listening on `port`.
fn metric_value(port: u16, series: &str) -> anyhow::Result<u64> {
    let response = metrics(port)?;
    let value = response
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .with_context(|| format!("no {series} in /metrics"))?;
    Ok(value.trim().parse::<f64>()? as u64)
}

/// The body of `GET /metrics` from the chathook listening on `port`.
fn metrics(port: u16) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    ensure!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "GET /metrics: {}",
        response.lines().next().unwrap_or_default()
    );
    Ok(response)
}

/// `value` of `name=value` in a result line of space-separated pairs.
fn result_field<'a>(line: &'a str, name: &str) -> anyhow::Result<&'a str> {
    line.split(' ')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .with_context(|| format!("no {name} in {line}"))
}

/// A scenario's medians over its runs, at one pre-fill.
struct Row<'a> {
    scenario: &'a Scenario,
    runs: usize,
    /// Messages pre-filled before the first run; 0 for an empty store.
    prefilled: u64,
    /// Messages in the store when the first and the last run began.
    store_messages: Option<(u64, u64)>,
    /// The store alone, for the read-receipt scenarios at an empty store.
    floor: Option<Floor>,
    baseline: Measured,
    chathook: Measured,
    peak_rss_mib: f64,
    /// Callbacks stored (new ones, for a workload with redeliveries), or held by the stream.
    stored: Option<u64>,
    /// Whether every run stored every acknowledged callback.
    zero_lost: bool,
    /// For a fan-out scenario: each handler's successful calls, by chathook's metrics.
    handled: Vec<(&'static str, u64)>,
    /// For the JetStream scenario: the stream, the spool and NATS's CPU.
    jetstream: Option<JetStreamResult>,
}

/// MsgSeqs one run may use in each group: far more than a run writes (about 2 per group per
/// 1000 callbacks).
const RUN_SEQ_SPAN: i64 = 10_000_000;

/// What one run of the bench needs, and the problems found so far.
struct Bench {
    pinning: Pinning,
    exe: PathBuf,
    work: tempfile::TempDir,
    postgres: String,
    nats_url: String,
    runtime: tokio::runtime::Runtime,
    connections: u32,
    duration: u64,
    soak_secs: u64,
    groups: u32,
    problems: Vec<String>,
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let duration = cli.duration.unwrap_or(if cli.smoke { 2 } else { 10 });
    let runs = cli.runs.unwrap_or(if cli.smoke { 1 } else { 3 }).max(1);
    let growth = match (cli.growth.is_empty(), cli.smoke) {
        (false, _) => cli.growth.clone(),
        (true, true) => vec![20_000],
        (true, false) => vec![1_000_000, 10_000_000],
    };
    ensure_wrk()?;
    let mut bench = Bench {
        pinning: Pinning::detect(),
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
        problems: Vec::new(),
    };
    println!(
        "chathook-bench: {duration} s per run ({} s soak), {runs} runs, {} connections, {}",
        bench.soak_secs,
        cli.connections,
        bench.pinning.describe()
    );
    if cli.instructions {
        let table = instructions::run(&bench.exe, bench.work.path())?;
        println!("\n{table}");
        return Ok(());
    }
    let scenarios = scenarios(cli);
    let mut rows = Vec::new();
    for scenario in scenarios
        .iter()
        .filter(|s| cli.scenarios.is_empty() || cli.scenarios.iter().any(|k| k == s.key))
    {
        println!("({}) {}", scenario.key, scenario.title);
        let sizes = if scenario.growth {
            std::iter::once(0).chain(growth.iter().copied()).collect()
        } else {
            vec![0]
        };
        for prefill in sizes {
            rows.push(bench.measure(scenario, prefill, runs)?);
        }
    }

    // A full run also counts instructions, the figure that does not move with the load.
    let mut report = report(&rows, &bench, cli.smoke);
    if !cli.smoke && cli.scenarios.is_empty() {
        println!("instructions per callback, under callgrind");
        let table = instructions::run(&bench.exe, bench.work.path())?;
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
        std::fs::write(&out, &report).with_context(|| format!("cannot write {}", out.display()))?;
        println!("written to {}", out.display());
    }
    if !bench.problems.is_empty() {
        bail!("{}", bench.problems.join("; "));
    }
    Ok(())
}

impl Bench {
    /// A new database of `kind` for this bench, as a URL.
    fn fresh_database(&self, kind: Database, name: &str) -> anyhow::Result<String> {
        match kind {
            Database::Sqlite => Ok(format!(
                "sqlite://{}",
                self.work.path().join(format!("{name}.db")).display()
            )),
            Database::Postgres => self.runtime.block_on(postgres_schema(&self.postgres)),
        }
    }

    /// A new store grown to `messages` messages of the many-groups workload's groups.
    fn prefilled_store(&self, kind: Database, name: &str, messages: u64) -> anyhow::Result<String> {
        let url = self.fresh_database(kind, name)?;
        let started = Instant::now();
        self.runtime.block_on(async {
            // The schema, as chathook makes it.
            let store = chathook_read_receipt::store::Store::open(
                &chathook_read_receipt::store::StoreOptions {
                    database_url: url.clone(),
                    max_connections: 1,
                    busy_timeout: Duration::from_secs(5),
                    max_batch: 1,
                    write_timeout: Duration::from_secs(60),
                    durability: Durability::Full,
                },
            )
            .await?;
            drop(store);
            workload::prefill(&url, APP_ID as i64, messages, self.groups).await
        })?;
        println!(
            "    pre-filled {messages} messages in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(url)
    }

    /// `runs` runs of `scenario`, each the baseline then chathook, on a store pre-filled with
    /// `prefill` messages (shared by the runs) or a fresh one per run.
    fn measure<'a>(
        &mut self,
        scenario: &'a Scenario,
        prefill: u64,
        runs: usize,
    ) -> anyhow::Result<Row<'a>> {
        let prefilled_per_group = workload::prefilled_per_group(prefill, self.groups);
        let shared = match (scenario.database, prefill) {
            (Some(kind), 1..) => Some(self.prefilled_store(kind, scenario.key, prefill)?),
            _ => None,
        };
        let mut baselines = Vec::new();
        let mut measured_runs = Vec::new();
        let mut floors = Vec::new();
        let mut peak_rss_mib: f64 = 0.0;
        let mut stored_total: Option<u64> = None;
        let mut zero_lost = true;
        let mut store_messages: Option<(u64, u64)> = None;
        let mut handled: Vec<(&'static str, u64)> =
            scenario.handled_by.iter().map(|&name| (name, 0)).collect();
        let mut jetstream: Option<JetStreamResult> = None;
        for run in 1..=runs {
            // Runs sharing a store each write MsgSeqs of their own, above the pre-fill and
            // above the runs before: the same sequence again would be all merges.
            let first_seq = prefilled_per_group + (run as i64 - 1) * RUN_SEQ_SPAN;
            let script = lua_script(scenario, self.work.path(), first_seq)?;
            let baseline = self.baseline(scenario, &script)?;
            let database = match (&shared, scenario.database) {
                (Some(url), _) => Some(url.clone()),
                (None, Some(kind)) => {
                    Some(self.fresh_database(kind, &format!("{}-{prefill}-{run}", scenario.key))?)
                }
                (None, None) => None,
            };
            let before = match &database {
                Some(url) if shared.is_some() => self.runtime.block_on(count_rows(url))?,
                _ => (0, 0),
            };
            if shared.is_some() {
                let messages = before.0;
                store_messages = Some(
                    store_messages.map_or((messages, messages), |(first, _)| (first, messages)),
                );
            }
            let mut stream = scenario
                .jetstream
                .then(|| JetStreamRun::new(&self.nats_url, self.work.path()));
            let outcome = self.chathook(scenario, &script, database.as_deref(), stream.as_ref())?;
            let measured = outcome.measured;
            peak_rss_mib = peak_rss_mib.max(outcome.peak_rss_mib);
            println!(
                "    run {run}: baseline {:>7.0} req/s {:>5.1} µs CPU | chathook {:>7.0} req/s \
                 {:>5.1} µs CPU, p99 {:.2} ms, max {:.1} ms, peak RSS {:.1} MiB",
                baseline.requests_per_sec,
                baseline.cpu_us_per_request,
                measured.requests_per_sec,
                measured.cpu_us_per_request,
                measured.p99_ms,
                measured.max_ms,
                outcome.peak_rss_mib
            );
            if measured.errors > 0 {
                self.problems.push(format!(
                    "({}) {} requests failed or were not answered 200",
                    scenario.key, measured.errors
                ));
            }
            for ((name, total), (_, count)) in handled.iter_mut().zip(&outcome.handled) {
                *total += count;
                if !measured.all_stored(*count) {
                    zero_lost = false;
                    self.problems.push(format!(
                        "({}) {} callbacks acknowledged, {} sent, but {name} handled {count}",
                        scenario.key, measured.acked, measured.sent
                    ));
                }
            }
            if let (Some(url), Some(kind)) = (&database, scenario.database) {
                let after = self.runtime.block_on(count_rows(url))?;
                let stored = self.check_stored(scenario, &measured, before, after);
                zero_lost &= stored.is_some();
                *stored_total.get_or_insert(0) += stored.unwrap_or_default();
                if shared.is_none() {
                    self.runtime.block_on(drop_database(url))?;
                }
                if prefill == 0 {
                    floors.push(self.floor(scenario, kind, run)?);
                }
            }
            if let Some(stream) = stream.as_mut() {
                let result = self.check_stream(
                    scenario,
                    stream,
                    &measured,
                    (outcome.spooled, outcome.nats_cpu_secs),
                )?;
                zero_lost &= measured.all_stored(result.held);
                *stored_total.get_or_insert(0) += result.held;
                let total = jetstream.get_or_insert(JetStreamResult {
                    held: 0,
                    spooled: 0,
                    nats_cpu_us_per_callback: result.nats_cpu_us_per_callback,
                });
                total.held += result.held;
                total.spooled += result.spooled;
            }
            baselines.push(baseline);
            measured_runs.push(measured);
        }
        if let Some(url) = &shared {
            self.runtime.block_on(drop_database(url))?;
        }
        Ok(Row {
            scenario,
            runs,
            prefilled: prefill,
            store_messages,
            floor: Floor::median(&floors),
            baseline: Measured::median(&baselines),
            chathook: Measured::median(&measured_runs),
            peak_rss_mib,
            stored: stored_total,
            zero_lost,
            handled,
            jetstream,
        })
    }

    /// The bare axum baseline driven with the scenario's requests for `--duration`.
    fn baseline(&self, scenario: &Scenario, script: &Path) -> anyhow::Result<Measured> {
        let port = free_port()?;
        let mut server = self.pinning.server(&self.exe);
        server.args(["baseline", &format!("127.0.0.1:{port}")]);
        let baseline_server = Server::start(server, port)?;
        let query = format!("SdkAppid={APP_ID}&CallbackCommand={}", scenario.command);
        wrk(
            &self.pinning,
            script,
            &baseline_server,
            &query,
            self.connections,
            self.duration,
        )
    }

    /// chathook serving the scenario, driven by wrk, then stopped as in production.
    fn chathook(
        &self,
        scenario: &Scenario,
        script: &Path,
        database: Option<&str>,
        stream: Option<&JetStreamRun>,
    ) -> anyhow::Result<ChathookRun> {
        let secs = if scenario.soak {
            self.soak_secs
        } else {
            self.duration
        };
        let port = free_port()?;
        let config = self.work.path().join(format!("{}.toml", scenario.key));
        std::fs::write(
            &config,
            chathook_config(port, scenario, database, stream, secs),
        )?;
        let mut server = self.pinning.server(&self.exe);
        server
            .arg("chathook")
            .arg("serve")
            .arg("--config")
            .arg(&config);
        let chathook_server = Server::start(server, port)?;
        let time = chathook_core::auth::unix_now();
        let query = format!(
            "SdkAppid={APP_ID}&CallbackCommand={}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Android&Sign={}&RequestTime={time}",
            scenario.command,
            chathook_core::auth::sign(TOKEN, time)
        );
        // NATS's own CPU time while wrk drives chathook; NATS is not pinned.
        let nats_pid = stream.and_then(|stream| listening_pid(&stream.url));
        let nats_cpu_before = nats_pid.map(process_cpu_secs).transpose()?;
        let measured = wrk(
            &self.pinning,
            script,
            &chathook_server,
            &query,
            self.connections,
            secs,
        )?;
        let nats_cpu_secs = match (nats_pid, nats_cpu_before) {
            (Some(pid), Some(before)) => Some(process_cpu_secs(pid)? - before),
            _ => None,
        };
        let spooled = stream
            .map(|_| metric_value(port, "chathook_nats_spooled_total"))
            .transpose()?;
        let handled = scenario
            .handled_by
            .iter()
            .map(|&name| Ok((name, handled_ok(port, name)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let peak_rss_mib = chathook_server.peak_rss_mib()?;
        chathook_server.stop()?;
        Ok(ChathookRun {
            measured,
            peak_rss_mib,
            handled,
            spooled,
            nats_cpu_secs,
        })
    }

    /// The callbacks a run stored, from the store's row counts before and after it, or `None`
    /// (and a problem noted) if an acknowledged one is missing or one was stored in part.
    fn check_stored(
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
                scenario.key
            ));
            return None;
        }
        if !measured.all_new_stored(callbacks) {
            self.problems.push(format!(
                "({}) {} new callbacks sent, {} answered of {} sent, but {callbacks} stored",
                scenario.key, measured.new_sent, measured.answered, measured.sent
            ));
            return None;
        }
        Some(callbacks)
    }

    /// The store alone on the scenario's workload, on a fresh database.
    fn floor(&mut self, scenario: &Scenario, kind: Database, run: usize) -> anyhow::Result<Floor> {
        let url = self.fresh_database(kind, &format!("{}-floor-{run}", scenario.key))?;
        let floor = store_floor(
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
    fn check_stream(
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
                scenario.key, measured.acked, measured.sent
            ));
        }
        if spooled > 0 {
            self.problems.push(format!(
                "({}) {spooled} callbacks went to the spool: JetStream did not keep up",
                scenario.key
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

/// What one chathook run gave.
struct ChathookRun {
    measured: Measured,
    peak_rss_mib: f64,
    handled: Vec<(&'static str, u64)>,
    spooled: Option<u64>,
    nats_cpu_secs: Option<f64>,
}

/// chathook's config for a scenario. The query string is signed once per run, so the accepted
/// clock skew must outlast the run.
fn chathook_config(
    port: u16,
    scenario: &Scenario,
    database: Option<&str>,
    stream: Option<&JetStreamRun>,
    secs: u64,
) -> String {
    let mut handlers = scenario
        .handlers
        .replace("{db}", database.unwrap_or(""))
        .replace("{durability}", durability_name(scenario.durability));
    if let Some(stream) = stream {
        handlers = handlers
            .replace("{nats}", &stream.url)
            .replace("{stream}", &stream.name)
            .replace("{prefix}", &stream.prefix)
            .replace("{spool}", &stream.spool.display().to_string());
    }
    let skew = secs + 60;
    // The default size.
    let console = console_toml(scenario.recent.then_some(1000));
    format!(
        "[server]\nlisten_addr = \"127.0.0.1:{port}\"\n\n[auth]\nmax_clock_skew_secs = {skew}\n\n\
         [apps.bench]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\n{console}\n{handlers}"
    )
}

/// `[console]` (and `[api]`) of a chathook config: a recent-callbacks buffer of `recent`
/// records, or none. It is kept only while an API token can read it.
fn console_toml(recent: Option<usize>) -> String {
    match recent {
        Some(recent) => {
            format!("[api]\ntokens = [\"bench-api-token\"]\n\n[console]\nrecent = {recent}\n")
        }
        None => "[console]\nrecent = 0\n".into(),
    }
}

/// The wrk script: the body per request, and in `done` one machine-readable line.
fn lua_script(scenario: &Scenario, dir: &Path, first_seq: i64) -> anyhow::Result<PathBuf> {
    let make_body = scenario.workload.lua(first_seq);
    let script = format!(
        r#"
local threads = {{}}
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end
index = 0
sent = 0
new_sent = 0
{make_body}
local headers = {{ ["Content-Type"] = "application/json" }}
function request()
  sent = sent + 1
  return wrk.format("POST", nil, headers, make_body())
end
-- No response(): a Lua call per response would slow wrk itself. wrk's summary counts the
-- completed responses, and those with a status of 400 or more as status errors.
function done(summary, latency, requests)
  local sent_total = 0
  local new_total = 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    new_total = new_total + thread:get("new_sent")
  end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d sent=%d answered=%d acked=%d new_sent=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout, sent_total, summary.requests,
    summary.requests - e.status, new_total))
end
"#
    );
    let path = dir.join(format!("{}.lua", scenario.key));
    std::fs::write(&path, script)?;
    Ok(path)
}

/// Drives `server` with wrk and measures the server's CPU time while it does.
fn wrk(
    pinning: &Pinning,
    script: &Path,
    server: &Server,
    query: &str,
    connections: u32,
    secs: u64,
) -> anyhow::Result<Measured> {
    let port = server.port;
    let cpu_before = process_cpu_secs(server.child.id())?;
    let output = pinning
        .load()
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/callback?{query}"))
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .with_context(|| format!("no RESULT line from wrk:\n{stdout}"))?;
    let field = |name: &str| -> anyhow::Result<u64> { Ok(result_field(line, name)?.parse()?) };
    let requests = field("requests")?;
    let duration_us = field("duration_us")?.max(1);
    let cpu_secs = process_cpu_secs(server.child.id())? - cpu_before;
    Ok(Measured {
        requests_per_sec: requests as f64 * 1e6 / duration_us as f64,
        cpu_us_per_request: cpu_secs * 1e6 / requests.max(1) as f64,
        p50_ms: field("p50_us")? as f64 / 1000.0,
        p99_ms: field("p99_us")? as f64 / 1000.0,
        max_ms: field("max_us")? as f64 / 1000.0,
        errors: field("errors")?,
        sent: field("sent")?,
        answered: field("answered")?,
        acked: field("acked")?,
        new_sent: field("new_sent")?,
    })
}

/// The bench machine has 2 cores: the server under test gets one, wrk the other.
struct Pinning {
    /// The first two CPUs this process may run on, when taskset can pin to them.
    pair: Option<(usize, usize)>,
}

impl Pinning {
    fn detect() -> Self {
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let cpus = allowed_cpus();
        let pair = match cpus.as_slice() {
            [server, load, ..] if taskset => Some((*server, *load)),
            _ => None,
        };
        Self { pair }
    }

    fn describe(&self) -> String {
        match self.pair {
            Some((server, load)) => format!("server on CPU {server}, wrk on CPU {load}"),
            None => "not pinned (taskset missing or fewer than 2 CPUs)".into(),
        }
    }

    fn pinned(&self, cpu: Option<usize>, program: &Path) -> Command {
        match cpu {
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.args(["-c", &cpu.to_string()]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn server(&self, exe: &Path) -> Command {
        self.pinned(self.pair.map(|(server, _)| server), exe)
    }

    fn load(&self) -> Command {
        self.pinned(self.pair.map(|(_, load)| load), Path::new("wrk"))
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list`, e.g. `0-1` or `2,5-7`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
    else {
        return Vec::new();
    };
    list.trim()
        .split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((first, last)) => Some(first.parse().ok()?..=last.parse().ok()?),
            None => {
                let cpu = part.parse().ok()?;
                Some(cpu..=cpu)
            }
        })
        .flatten()
        .collect()
}

/// A server child process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(command: Command, port: u16) -> anyhow::Result<Self> {
        Self::start_within(command, port, Duration::from_secs(30))
    }

    /// Starts a server that may take up to `limit` to listen (under valgrind, say).
    fn start_within(mut command: Command, port: u16, limit: Duration) -> anyhow::Result<Self> {
        // Logs go where a production deployment's would not slow it: nowhere. Formatting them
        // still costs, and is measured.
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a server")?;
        let mut server = Self { child, port };
        let deadline = Instant::now() + limit;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("server exited during start-up: {status}");
            }
            ensure!(
                Instant::now() < deadline,
                "server did not listen on {port} within {} s",
                limit.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The kernel's high-water mark of the process's resident memory.
    fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .context("no VmHWM")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kib / 1024.0)
    }

    /// SIGTERM and a clean exit, as in production.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        ensure!(
            status.success(),
            "server on port {} exited with {status}",
            self.port
        );
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wrk_present() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn ensure_wrk() -> anyhow::Result<()> {
    if wrk_present() {
        return Ok(());
    }
    println!("wrk is missing; installing it from Debian's packages");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "wrk"][..]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("cannot run apt-get")?;
        ensure!(
            status.success(),
            "apt-get {} failed: install wrk by hand (apt-get install wrk)",
            args.join(" ")
        );
    }
    ensure!(wrk_present(), "wrk still missing after apt-get install");
    Ok(())
}

/// Scenario (f)'s stream on the NATS server: created by chathook's `nats` handler at start-up
/// (`stream_setup = "create"`), counted and deleted by the bench, deleted on drop if a run is
/// cut short.
struct JetStreamRun {
    url: String,
    name: String,
    prefix: String,
    spool: PathBuf,
    deleted: bool,
}

impl JetStreamRun {
    /// A stream name and subject prefix no other run uses, and a spool in `dir`.
    fn new(url: &str, dir: &Path) -> Self {
        let id = format!("{}_{}", std::process::id(), chathook_core::auth::unix_now());
        Self {
            url: url.to_owned(),
            name: format!("CHATHOOK_BENCH_{id}"),
            prefix: format!("chathook_bench_{id}"),
            spool: dir.join("nats-spool.db"),
            deleted: false,
        }
    }

    /// The messages the stream holds; the stream is deleted whether or not counting worked.
    async fn count_and_delete(&mut self) -> anyhow::Result<u64> {
        let client = async_nats::connect(&self.url)
            .await
            .with_context(|| format!("NATS at {} (set --nats-url)", self.url))?;
        let context = async_nats::jetstream::new(client);
        let counted = async {
            let mut stream = context.get_stream(&self.name).await?;
            anyhow::Ok(stream.info().await?.state.messages)
        }
        .await;
        context.delete_stream(&self.name).await?;
        self.deleted = true;
        counted
    }
}

impl Drop for JetStreamRun {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _ = runtime.block_on(async {
            let context = async_nats::jetstream::new(async_nats::connect(&self.url).await?);
            context.delete_stream(&self.name).await?;
            anyhow::Ok(())
        });
    }
}

/// The process listening on the port of `url`, found through `/proc`: the listening socket's
/// inode in `/proc/net/tcp{,6}`, then the process holding a descriptor on it. `None` when it is
/// not visible (another user's process, another network namespace, a remote server).
fn listening_pid(url: &str) -> Option<u32> {
    let port: u16 = url.rsplit(':').next()?.trim_end_matches('/').parse().ok()?;
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(&"0A"), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listens_on_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
                == Some(port);
            if listens_on_port {
                sockets.push(PathBuf::from(format!("socket:[{inode}]")));
            }
        }
    }
    if sockets.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| sockets.contains(&link)) {
                return Some(pid);
            }
        }
    }
    None
}

/// What scenario (f) found once the run was over.
struct JetStreamResult {
    /// Messages in the stream.
    held: u64,
    /// `chathook_nats_spooled_total`: callbacks that went to the spool instead.
    spooled: u64,
    /// The NATS server's CPU time per stored callback while wrk ran, when its process was
    /// found.
    nats_cpu_us_per_callback: Option<f64>,
}

/// How a bench database URL names its PostgreSQL schema.
const SEARCH_PATH: &str = "options=-c%20search_path%3D";

/// A fresh schema on the PostgreSQL server, as a database URL.
async fn postgres_schema(base: &str) -> anyhow::Result<String> {
    let schema = format!(
        "chathook_bench_{}_{}",
        std::process::id(),
        chathook_core::auth::unix_now()
    );
    let mut connection = sqlx::PgConnection::connect(base)
        .await
        .with_context(|| format!("PostgreSQL at {base} (set --postgres-url)"))?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut connection)
        .await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{separator}{SEARCH_PATH}{schema}"))
}

/// Messages and reader rows in the store at `url`.
async fn count_rows(url: &str) -> anyhow::Result<(u64, u64)> {
    const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM read_receipts), \
                          (SELECT COUNT(*) FROM read_receipt_readers)";
    let (messages, readers): (i64, i64) = if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query_as(COUNTS).fetch_one(&mut connection).await?
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        sqlx::query_as(COUNTS).fetch_one(&mut connection).await?
    };
    Ok((messages as u64, readers as u64))
}

/// Removes a bench database: the SQLite file and its WAL, or the PostgreSQL schema made for it.
async fn drop_database(url: &str) -> anyhow::Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
        return Ok(());
    }
    if let Some((base, schema)) = url.split_once(SEARCH_PATH) {
        let mut connection = sqlx::PgConnection::connect(base.trim_end_matches(['?', '&'])).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut connection)
            .await?;
    }
    Ok(())
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
        .find(|other| other.scenario.key == row.scenario.key && other.prefilled == 0)?;
    Some(row.chathook.requests_per_sec / empty.chathook.requests_per_sec.max(1.0))
}

fn report(rows: &[Row<'_>], bench: &Bench, smoke: bool) -> String {
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
         runs); {build}.\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        bench.pinning.describe(),
        bench.connections,
        bench.duration,
        bench.soak_secs,
    );
    if smoke {
        let _ = writeln!(
            text,
            "Smoke run: judged only on every request answered 200 and nothing lost; no speed is judged.\n"
        );
    }
    let _ = writeln!(
        text,
        "| scenario | baseline req/s | chathook req/s | ratio | p50 ms | p99 ms | max ms | CPU µs/request, baseline → chathook | store floor µs/callback | CPU ÷ (baseline + floor) | peak RSS MiB | acknowledged / stored | targets |"
    );
    let _ = writeln!(
        text,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let largest_prefill = |key: &str| {
        rows.iter()
            .filter(|row| row.scenario.key == key)
            .map(|row| row.prefilled)
            .max()
            .unwrap_or(0)
    };
    for row in rows {
        let target = &row.scenario.target;
        let ratio = row.chathook.requests_per_sec / row.baseline.requests_per_sec.max(1.0);
        let mut verdicts = Vec::new();
        if !smoke {
            verdicts.extend(
                target
                    .min_ratio
                    .map(|min| format!("ratio ≥ {min}: {}", yes(ratio >= min))),
            );
            verdicts.extend(
                target
                    .max_p99_ms
                    .map(|max| format!("p99 ≤ {max} ms: {}", yes(row.chathook.p99_ms <= max))),
            );
            verdicts.extend(
                target
                    .max_request_ms
                    .map(|max| format!("max ≤ {max} ms: {}", yes(row.chathook.max_ms <= max))),
            );
            if let (Some(max), Some(measured)) = (target.max_floor_ratio, floor_ratio(row)) {
                verdicts.push(format!("CPU ≤ {max}x floor: {}", yes(measured <= max)));
            }
            if let Some(min) = target.min_growth_ratio
                && row.prefilled > 0
                && row.prefilled == largest_prefill(row.scenario.key)
                && let Some(measured) = growth_ratio(row, rows)
            {
                verdicts.push(format!("≥ {min}x empty store: {}", yes(measured >= min)));
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
        let stored = row.stored.map_or_else(
            || "-".to_owned(),
            |stored| format!("{} / {stored}", row.chathook.acked),
        );
        let title = match row.store_messages {
            Some((first, last)) => {
                format!("{}, {first}–{last} messages stored", row.scenario.title)
            }
            None if row.scenario.growth => format!("{}, empty store", row.scenario.title),
            None => row.scenario.title.clone(),
        };
        let floor = row.floor.map_or_else(
            || "-".to_owned(),
            |floor| format!("{:.1}", floor.cpu_us_per_callback()),
        );
        let over_floor = floor_ratio(row).map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            text,
            "| ({}) {title} | {:.0} | {:.0} | {ratio:.2} | {:.2} | {:.2} | {:.1} | {:.1} → {:.1} | {floor} | {over_floor} | {:.1} | {stored} | {} |",
            row.scenario.key,
            row.baseline.requests_per_sec,
            row.chathook.requests_per_sec,
            row.chathook.p50_ms,
            row.chathook.p99_ms,
            row.chathook.max_ms,
            row.baseline.cpu_us_per_request,
            row.chathook.cpu_us_per_request,
            row.peak_rss_mib,
            verdicts.join(", ")
        );
    }
    let by_key = |key: &str| rows.iter().find(|row| row.scenario.key == key);
    let rate =
        |row: &Row<'_>| row.chathook.requests_per_sec / row.baseline.requests_per_sec.max(1.0);
    if let (Some(one), Some(two)) = (by_key("a"), by_key("e")) {
        let _ = writeln!(
            text,
            "\nFan-out, (a) → (e), the same command unrouted and then served by two after-handlers \
             that each decode it: ratio {:.2} → {:.2}, CPU {:.1} → {:.1} µs/request \
             ({:+.1} µs per callback), p99 {:.2} → {:.2} ms.",
            rate(one),
            rate(two),
            one.chathook.cpu_us_per_request,
            two.chathook.cpu_us_per_request,
            two.chathook.cpu_us_per_request - one.chathook.cpu_us_per_request,
            one.chathook.p99_ms,
            two.chathook.p99_ms
        );
    }
    for (full, normal) in [("b", "k"), ("g", "l"), ("h", "m")] {
        if let (Some(full), Some(normal)) = (by_key(full), by_key(normal)) {
            let _ = writeln!(
                text,
                "\nDurability full → normal, ({}) → ({}): {:.0} → {:.0} req/s, p99 {:.2} → {:.2} ms, \
                 CPU {:.1} → {:.1} µs/request.",
                full.scenario.key,
                normal.scenario.key,
                full.chathook.requests_per_sec,
                normal.chathook.requests_per_sec,
                full.chathook.p99_ms,
                normal.chathook.p99_ms,
                full.chathook.cpu_us_per_request,
                normal.chathook.cpu_us_per_request
            );
        }
    }
    for row in rows.iter().filter(|row| row.prefilled > 0) {
        if let Some(ratio) = growth_ratio(row, rows) {
            let _ = writeln!(
                text,
                "\nGrowth, ({}) after a pre-fill of {} messages: {:.0} req/s, {ratio:.2}x the empty \
                 store's, p99 {:.2} ms.",
                row.scenario.key, row.prefilled, row.chathook.requests_per_sec, row.chathook.p99_ms
            );
        }
    }
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
            row.scenario.key,
            result.held,
            row.chathook.acked,
            row.chathook.sent - row.chathook.answered,
            result.spooled
        );
    }
    let floors: Vec<_> = rows
        .iter()
        .filter_map(|row| Some((row, row.floor?)))
        .collect();
    if !floors.is_empty() {
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
                row.scenario.key,
                floor.per_sec(),
                floor.cpu_us_per_callback()
            );
        }
    }
    if rows
        .iter()
        .any(|row| row.scenario.database == Some(Database::Postgres))
    {
        let _ = writeln!(
            text,
            "\nPostgreSQL runs as its own unpinned server: its CPU is in none of these figures, and \
             it shares the CPUs with wrk and chathook."
        );
    }
    text
}

fn yes(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
