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
use clap::{Parser, Subcommand};
use sqlx::Connection as _;

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
    /// Run only these scenarios, e.g. `--scenarios a,b` [default: all].
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// PostgreSQL for scenario (c) [default: $TEST_POSTGRES_URL, or the local server].
    #[arg(long)]
    postgres_url: Option<String>,
    /// NATS server (JetStream on) for scenario (f).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
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
        }) => store_floor::run(url, connections, secs),
        Some(Role::Chathook { args }) => {
            return chathook::main_with_args(std::iter::once("chathook".to_owned()).chain(args));
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

    pub fn serve(addr: SocketAddr) -> anyhow::Result<()> {
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
    //! The storage's own cost: the read-receipt store fed the same callbacks as scenarios (b)
    //! and (c), already parsed, by concurrent tasks as the handler would. What a stored callback
    //! costs with no HTTP around it.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::{Duration, Instant};

    use chathook_read_receipt::model::{MessageKey, ReceiptState};

    pub fn run(url: String, connections: u32, secs: u64) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let cpu_before = super::process_cpu_secs(std::process::id())?;
        let stored = runtime.block_on(async {
            // Built as the plugin builds it, with its defaults.
            let config = serde_json::from_value(serde_json::json!({ "database_url": url }))?;
            let handler = chathook_read_receipt::build(config)
                .await
                .map_err(|error| anyhow::anyhow!("read receipt store: {error}"))?;
            let store = handler.store().clone();
            let deadline = Instant::now() + Duration::from_secs(secs);
            // One rising MsgSeq shared by every task, like wrk's counter in (b) and (c).
            let next_seq = Arc::new(AtomicI64::new(0));
            let mut writers = tokio::task::JoinSet::new();
            for _ in 0..connections {
                let store = store.clone();
                let next_seq = Arc::clone(&next_seq);
                writers.spawn(async move {
                    let mut stored = 0u64;
                    while Instant::now() < deadline {
                        let seq = next_seq.fetch_add(2, Ordering::Relaxed);
                        store.record(callback(seq)).await?;
                        stored += 1;
                    }
                    anyhow::Ok(stored)
                });
            }
            let mut stored = 0;
            while let Some(writer) = writers.join_next().await {
                stored += writer??;
            }
            anyhow::Ok((stored, store.transactions_committed()))
        })?;
        let (stored, transactions) = stored;
        let cpu = super::process_cpu_secs(std::process::id())? - cpu_before;
        println!(
            "FLOOR stored={stored} transactions={transactions} cpu_us={:.0}",
            cpu * 1e6
        );
        Ok(())
    }

    /// What the handler makes of the scenarios' body: two new messages, three readers.
    fn callback(seq: i64) -> BTreeMap<MessageKey, ReceiptState> {
        let reader = format!("user{seq}");
        let message = |msg_seq, read_num, readers: &[&str]| {
            let key = MessageKey {
                sdk_app_id: super::APP_ID as i64,
                group_id: "@TGS#bench".into(),
                msg_seq,
            };
            let state = ReceiptState {
                group_type: Some("Public".into()),
                read_num: Some(read_num),
                unread_num: Some(100 - read_num),
                first_event_time_ms: Some(1_700_000_000_000 + seq),
                last_event_time_ms: Some(1_700_000_000_000 + seq),
                readers: readers.iter().map(|r| (*r).to_owned()).collect(),
            };
            (key, state)
        };
        BTreeMap::from([
            message(seq, 1, &[&reader]),
            message(seq + 1, 2, &[&reader, "owner"]),
        ])
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
    title: &'static str,
    command: &'static str,
    body: Body,
    /// `[handlers...]` tables for chathook; `{db}` stands for the database URL, and for the
    /// JetStream scenario `{nats}`, `{stream}`, `{prefix}` and `{spool}` for the server, the
    /// run's stream and subject prefix, and the spool file.
    handlers: &'static str,
    database: Option<Database>,
    /// Whether chathook publishes into a JetStream stream that must hold every acknowledged
    /// callback.
    jetstream: bool,
    /// Handlers that must each have handled every acknowledged callback, by chathook's
    /// metrics.
    handled_by: &'static [&'static str],
    target: Target,
}

#[derive(Clone, Copy)]
enum Body {
    /// The same sample body every time.
    Fixed(&'static str),
    /// A read receipt for two new messages every request.
    NewReceipts,
    /// A new group message every request (its own MsgSeq, Random and MsgId), so no two
    /// bodies share a `Nats-Msg-Id`.
    NewMessages,
}

#[derive(Clone, Copy, PartialEq)]
enum Database {
    Sqlite,
    Postgres,
}

struct Target {
    min_ratio: Option<f64>,
    max_p99_ms: Option<f64>,
}

const MAX_RSS_MIB: f64 = 64.0;

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "a",
            title: "unrouted (auth + routing + reply)",
            command: "Group.CallbackAfterSendMsg",
            body: Body::Fixed(fixture("Group.CallbackAfterSendMsg")),
            handlers: "",
            database: None,
            jetstream: false,
            handled_by: &[],
            target: Target {
                min_ratio: Some(0.85),
                max_p99_ms: Some(2.0),
            },
        },
        Scenario {
            key: "b",
            title: "read receipts into SQLite",
            command: "Group.CallbackAfterReadReceipt",
            body: Body::NewReceipts,
            handlers: "[handlers.read_receipt]\nenabled = true\ndatabase_url = \"{db}\"\n",
            database: Some(Database::Sqlite),
            jetstream: false,
            handled_by: &[],
            target: Target {
                min_ratio: Some(0.5),
                max_p99_ms: Some(10.0),
            },
        },
        Scenario {
            key: "c",
            title: "read receipts into PostgreSQL",
            command: "Group.CallbackAfterReadReceipt",
            body: Body::NewReceipts,
            handlers: "[handlers.read_receipt]\nenabled = true\ndatabase_url = \"{db}\"\n",
            database: Some(Database::Postgres),
            jetstream: false,
            handled_by: &[],
            target: Target {
                min_ratio: None,
                max_p99_ms: None,
            },
        },
        Scenario {
            key: "d",
            title: "before-callback through keyword-filter",
            command: "Group.CallbackBeforeSendMsg",
            body: Body::Fixed(fixture("Group.CallbackBeforeSendMsg")),
            handlers: "[handlers.keyword_filter]\nenabled = true\nbanned_words = [\"spam\", \"scam\", \"fraud\"]\naction = \"mask\"\n",
            database: None,
            jetstream: false,
            handled_by: &[],
            target: Target {
                min_ratio: None,
                max_p99_ms: None,
            },
        },
        Scenario {
            key: "e",
            title: "two after-handlers on one command (fan-out; compare with (a))",
            command: "Group.CallbackAfterSendMsg",
            body: Body::Fixed(fixture("Group.CallbackAfterSendMsg")),
            handlers: "[handlers.tally_a]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n\n\
                       [handlers.tally_b]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n",
            database: None,
            jetstream: false,
            handled_by: &example_tally::HANDLERS,
            target: Target {
                min_ratio: None,
                max_p99_ms: None,
            },
        },
        Scenario {
            key: "f",
            title: "callbacks into NATS JetStream",
            command: "Group.CallbackAfterSendMsg",
            body: Body::NewMessages,
            handlers: "[handlers.nats]\nenabled = true\ncommands = [\"Group.CallbackAfterSendMsg\"]\n\
                       servers = [\"{nats}\"]\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n\
                       spool_path = \"{spool}\"\n",
            database: None,
            jetstream: true,
            handled_by: &[],
            target: Target {
                min_ratio: None,
                max_p99_ms: None,
            },
        },
    ]
}

fn fixture(command: &str) -> &'static str {
    chathook::fixtures::fixture(command).expect("bundled fixture")
}

/// What wrk measured in one run.
#[derive(Debug, Default, Clone)]
struct Measured {
    requests_per_sec: f64,
    /// The server's CPU time (user + system) per completed request.
    cpu_us_per_request: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    acked: u64,
    sent: u64,
    answered: u64,
}

impl Measured {
    /// Whether `stored` callbacks (or a handler's successful calls) account for every
    /// acknowledged one: at least those, and no more than were sent (the rest were in flight
    /// when wrk stopped).
    fn all_stored(&self, stored: u64) -> bool {
        (self.acked..=self.sent).contains(&stored)
    }
}

/// What the store alone did in the `store-floor` role.
struct Floor {
    stored: u64,
    cpu_us: f64,
}

impl Floor {
    fn per_sec(&self, duration: u64) -> f64 {
        self.stored as f64 / duration.max(1) as f64
    }

    fn cpu_us_per_callback(&self) -> f64 {
        self.cpu_us / self.stored.max(1) as f64
    }
}

/// Runs the `store-floor` role pinned like a server, and reads its result line.
fn store_floor(
    pinning: &Pinning,
    exe: &Path,
    url: &str,
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
        cpu_us: result_field(line, "cpu_us")?.parse()?,
    })
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

struct Row {
    /// The store alone, for the read-receipt scenarios.
    floor: Option<Floor>,
    scenario: Scenario,
    baseline: Measured,
    chathook: Measured,
    peak_rss_mib: f64,
    stored: Option<u64>,
    /// For a fan-out scenario: each handler's successful calls, by chathook's metrics.
    handled: Vec<(&'static str, u64)>,
    /// For the JetStream scenario: the stream, the spool and NATS's CPU.
    jetstream: Option<JetStreamResult>,
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let duration = cli.duration.unwrap_or(if cli.smoke { 2 } else { 10 });
    ensure_wrk()?;
    let pinning = Pinning::detect();
    let exe = std::env::current_exe()?;
    let work = tempfile::tempdir()?;
    let postgres = cli
        .postgres_url
        .clone()
        .or_else(|| std::env::var("TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    println!(
        "chathook-bench: {duration} s per run, {} connections, {}",
        cli.connections,
        pinning.describe()
    );
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let chosen = scenarios()
        .into_iter()
        .filter(|s| cli.scenarios.is_empty() || cli.scenarios.iter().any(|k| k == s.key));
    for scenario in chosen {
        println!("({}) {}", scenario.key, scenario.title);
        let script = lua_script(&scenario, work.path())?;

        let port = free_port()?;
        let mut server = pinning.server(&exe);
        server.args(["baseline", &format!("127.0.0.1:{port}")]);
        let baseline_server = Server::start(server, port)?;
        let query = format!("SdkAppid={APP_ID}&CallbackCommand={}", scenario.command);
        let baseline = wrk(
            &pinning,
            &script,
            &baseline_server,
            &query,
            cli.connections,
            duration,
        )?;
        drop(baseline_server);
        println!(
            "    baseline  {:>9.0} req/s  p99 {:.2} ms",
            baseline.requests_per_sec, baseline.p99_ms
        );

        let fresh_database = |kind: Database, name: &str| -> anyhow::Result<String> {
            match kind {
                Database::Sqlite => Ok(format!(
                    "sqlite://{}",
                    work.path().join(format!("{name}.db")).display()
                )),
                Database::Postgres => runtime.block_on(postgres_schema(&postgres)),
            }
        };
        let database = scenario
            .database
            .map(|kind| fresh_database(kind, scenario.key))
            .transpose()?;
        let mut jetstream = scenario
            .jetstream
            .then(|| JetStreamRun::new(&cli.nats_url, work.path()));
        let port = free_port()?;
        let config = work.path().join(format!("{}.toml", scenario.key));
        std::fs::write(
            &config,
            chathook_config(
                port,
                &scenario,
                database.as_deref(),
                jetstream.as_ref(),
                duration,
            ),
        )?;
        let mut server = pinning.server(&exe);
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
        let nats_pid = jetstream
            .as_ref()
            .and_then(|stream| listening_pid(&stream.url));
        let nats_cpu_before = nats_pid.map(process_cpu_secs).transpose()?;
        let measured = wrk(
            &pinning,
            &script,
            &chathook_server,
            &query,
            cli.connections,
            duration,
        )?;
        let nats_cpu_secs = match (nats_pid, nats_cpu_before) {
            (Some(pid), Some(before)) => Some(process_cpu_secs(pid)? - before),
            _ => None,
        };
        let spooled = jetstream
            .as_ref()
            .map(|_| metric_value(port, "chathook_nats_spooled_total"))
            .transpose()?;
        let handled = scenario
            .handled_by
            .iter()
            .map(|&name| Ok((name, handled_ok(port, name)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let peak_rss_mib = chathook_server.peak_rss_mib()?;
        chathook_server.stop()?;
        println!(
            "    chathook  {:>9.0} req/s  p99 {:.2} ms  peak RSS {peak_rss_mib:.1} MiB",
            measured.requests_per_sec, measured.p99_ms
        );
        for &(name, count) in &handled {
            println!(
                "    {name} handled {count} callbacks; acknowledged {}",
                measured.acked
            );
            if !measured.all_stored(count) {
                problems.push(format!(
                    "({}) {} callbacks acknowledged, {} sent, but {name} handled {count}",
                    scenario.key, measured.acked, measured.sent
                ));
            }
        }

        if measured.errors > 0 {
            problems.push(format!(
                "({}) {} requests failed or were not answered 200",
                scenario.key, measured.errors
            ));
        }
        let (stored, floor) = match (scenario.database, &database) {
            (Some(kind), Some(url)) => {
                let stored = runtime.block_on(count_stored_callbacks(url))?;
                if !measured.all_stored(stored) {
                    problems.push(format!(
                        "({}) {} callbacks acknowledged, {} sent, but {stored} stored",
                        scenario.key, measured.acked, measured.sent
                    ));
                }
                println!(
                    "    stored {stored} callbacks; acknowledged {}; {} in flight at stop",
                    measured.acked,
                    measured.sent - measured.answered
                );

                let url = fresh_database(kind, &format!("{}-floor", scenario.key))?;
                let floor = store_floor(&pinning, &exe, &url, cli.connections, duration)?;
                let counted = runtime.block_on(count_stored_callbacks(&url))?;
                ensure!(
                    counted == floor.stored,
                    "the store acknowledged {} callbacks but holds {counted}",
                    floor.stored
                );
                println!(
                    "    storage alone {:>9.0} callbacks/s, {:.1} µs CPU each",
                    floor.per_sec(duration),
                    floor.cpu_us_per_callback()
                );
                (Some(stored), Some(floor))
            }
            _ => (None, None),
        };
        let jetstream = match jetstream.as_mut() {
            Some(stream) => {
                let held = runtime.block_on(stream.count_and_delete())?;
                let spooled = spooled.unwrap_or_default();
                if !measured.all_stored(held) {
                    problems.push(format!(
                        "({}) {} callbacks acknowledged, {} sent, but the stream holds {held}",
                        scenario.key, measured.acked, measured.sent
                    ));
                }
                if spooled > 0 {
                    problems.push(format!(
                        "({}) {spooled} callbacks went to the spool: JetStream did not keep up",
                        scenario.key
                    ));
                }
                let nats_cpu_us_per_callback =
                    nats_cpu_secs.map(|secs| secs * 1e6 / held.max(1) as f64);
                println!(
                    "    stream held {held} callbacks; acknowledged {}; {} in flight at stop; \
                     spooled {spooled}; NATS CPU {} µs per callback",
                    measured.acked,
                    measured.sent - measured.answered,
                    nats_cpu_us_per_callback
                        .map_or_else(|| "unknown".into(), |us| format!("{us:.1}"))
                );
                Some(JetStreamResult {
                    held,
                    spooled,
                    nats_cpu_us_per_callback,
                })
            }
            None => None,
        };
        let stored = stored.or(jetstream.as_ref().map(|result| result.held));
        rows.push(Row {
            floor,
            scenario,
            baseline,
            chathook: measured,
            peak_rss_mib,
            stored,
            handled,
            jetstream,
        });
    }

    let report = report(&rows, duration, cli.connections, &pinning, cli.smoke);
    println!("\n{report}");
    if !cli.smoke {
        let out = cli
            .out
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results.md"));
        std::fs::write(&out, &report).with_context(|| format!("cannot write {}", out.display()))?;
        println!("written to {}", out.display());
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
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
    let mut handlers = scenario.handlers.replace("{db}", database.unwrap_or(""));
    if let Some(stream) = stream {
        handlers = handlers
            .replace("{nats}", &stream.url)
            .replace("{stream}", &stream.name)
            .replace("{prefix}", &stream.prefix)
            .replace("{spool}", &stream.spool.display().to_string());
    }
    let skew = secs + 60;
    format!(
        "[server]\nlisten_addr = \"127.0.0.1:{port}\"\n\n[auth]\nmax_clock_skew_secs = {skew}\n\n\
         [apps.bench]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\n{handlers}"
    )
}

/// The wrk script: the body per request, and in `done` one machine-readable line.
fn lua_script(scenario: &Scenario, dir: &Path) -> anyhow::Result<PathBuf> {
    let make_body = match scenario.body {
        Body::Fixed(body) => format!("local fixed = [==[{}]==]\nfunction make_body() return fixed end\n", body.trim()),
        Body::NewReceipts => r#"
counter = 0
function make_body()
  counter = counter + 1
  local seq = (index + 1) * 1000000000 + counter * 2
  return string.format('{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#bench","Type":"Public","GroupMsgReceiptList":[{"MsgSeq":%d,"ReadNum":1,"UnreadNum":99,"ReadReceiptMembers":[{"Member_Account":"user%d"}]},{"MsgSeq":%d,"ReadNum":2,"UnreadNum":98,"ReadReceiptMembers":[{"Member_Account":"user%d"},{"Member_Account":"owner"}]}],"EventTime":%d}', seq, counter, seq + 1, counter, 1700000000000 + counter)
end
"#
        .to_owned(),
        Body::NewMessages => r#"
counter = 0
function make_body()
  counter = counter + 1
  local seq = (index + 1) * 1000000000 + counter
  return string.format('{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#bench","Type":"Public","From_Account":"user%d","Operator_Account":"user%d","Random":%d,"MsgSeq":%d,"MsgId":"%d-1700000000-%d","MsgTime":1700000000,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"@tommy hello %d"}}],"CloudCustomData":"your cloud custom data","EventTime":%d,"GroupAtInfo":[{"GroupAtAllFlag":0,"GroupAt_Account":"tommy"}]}', counter, counter, seq, seq, seq, seq, counter, 1700000000000 + counter)
end
"#
        .to_owned(),
    };
    let script = format!(
        r#"
local threads = {{}}
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end
index = 0
sent = 0
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
  for _, thread in ipairs(threads) do sent_total = sent_total + thread:get("sent") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d sent=%d answered=%d acked=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, sent_total, summary.requests,
    summary.requests - e.status))
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
        errors: field("errors")?,
        sent: field("sent")?,
        answered: field("answered")?,
        acked: field("acked")?,
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
    fn start(mut command: Command, port: u16) -> anyhow::Result<Self> {
        // Logs go where a production deployment's would not slow it: nowhere. Formatting them
        // still costs, and is measured.
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a server")?;
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("server exited during start-up: {status}");
            }
            ensure!(
                Instant::now() < deadline,
                "server did not listen on {port} within 30 s"
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

/// Callbacks stored. Every callback carries two new messages and three readers, so the
/// counts must be 2n and 3n: anything else means a callback was stored in part.
async fn count_stored_callbacks(url: &str) -> anyhow::Result<u64> {
    const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM read_receipts), \
                          (SELECT COUNT(*) FROM read_receipt_readers)";
    let (messages, readers): (i64, i64) = if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query_as(COUNTS).fetch_one(&mut connection).await?
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        let counts = sqlx::query_as(COUNTS).fetch_one(&mut connection).await;
        // The schema was made for this run only: dropped whether or not the count worked.
        if let Some((_, schema)) = url.split_once(SEARCH_PATH) {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut connection)
                .await?;
        }
        counts?
    };
    let callbacks = messages / 2;
    ensure!(
        messages == callbacks * 2 && readers == callbacks * 3,
        "{messages} messages and {readers} readers stored: a callback was stored in part"
    );
    Ok(callbacks as u64)
}

fn report(rows: &[Row], duration: u64, connections: u32, pinning: &Pinning, smoke: bool) -> String {
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
    let _ = writeln!(
        text,
        "Run {date} on {cpu} ({} CPUs), {}; wrk -t1 -c{connections}, {duration} s per run; {build}.\n",
        std::thread::available_parallelism().map_or(1, usize::from),
        pinning.describe()
    );
    if smoke {
        let _ = writeln!(
            text,
            "Smoke run: judged only on every request answered 200 and nothing lost; no speed is judged.\n"
        );
    }
    let _ = writeln!(
        text,
        "| scenario | baseline req/s | chathook req/s | ratio | p50 ms | p99 ms | CPU µs/request, baseline → chathook | peak RSS MiB | acknowledged / stored | targets |"
    );
    let _ = writeln!(text, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let ratio = row.chathook.requests_per_sec / row.baseline.requests_per_sec.max(1.0);
        let mut verdicts = Vec::new();
        if !smoke {
            verdicts.extend(
                row.scenario
                    .target
                    .min_ratio
                    .map(|min| format!("ratio ≥ {min}: {}", yes(ratio >= min))),
            );
            verdicts.extend(
                row.scenario
                    .target
                    .max_p99_ms
                    .map(|max| format!("p99 ≤ {max} ms: {}", yes(row.chathook.p99_ms <= max))),
            );
            verdicts.push(format!(
                "RSS ≤ {MAX_RSS_MIB} MiB: {}",
                yes(row.peak_rss_mib <= MAX_RSS_MIB)
            ));
        }
        if let Some(stored) = row.stored {
            verdicts.push(format!(
                "zero lost: {}",
                yes(row.chathook.all_stored(stored))
            ));
        }
        if !row.handled.is_empty() {
            verdicts.push(format!(
                "every callback through each handler: {}",
                yes(row
                    .handled
                    .iter()
                    .all(|&(_, count)| row.chathook.all_stored(count)))
            ));
        }
        if let Some(result) = &row.jetstream {
            verdicts.push(format!("spool unused: {}", yes(result.spooled == 0)));
        }
        let stored = row.stored.map_or_else(
            || "-".to_owned(),
            |stored| format!("{} / {stored}", row.chathook.acked),
        );
        let _ = writeln!(
            text,
            "| ({}) {} | {:.0} | {:.0} | {ratio:.2} | {:.2} | {:.2} | {:.1} → {:.1} | {:.1} | {stored} | {} |",
            row.scenario.key,
            row.scenario.title,
            row.baseline.requests_per_sec,
            row.chathook.requests_per_sec,
            row.chathook.p50_ms,
            row.chathook.p99_ms,
            row.baseline.cpu_us_per_request,
            row.chathook.cpu_us_per_request,
            row.peak_rss_mib,
            verdicts.join(", ")
        );
    }
    let by_key = |key: &str| rows.iter().find(|row| row.scenario.key == key);
    if let (Some(one), Some(two)) = (by_key("a"), by_key("e")) {
        let ratio =
            |row: &Row| row.chathook.requests_per_sec / row.baseline.requests_per_sec.max(1.0);
        let _ = writeln!(
            text,
            "\nFan-out, (a) → (e), the same command unrouted and then served by two after-handlers \
             that each decode it: ratio {:.2} → {:.2}, CPU {:.1} → {:.1} µs/request \
             ({:+.1} µs per callback), p99 {:.2} → {:.2} ms.",
            ratio(one),
            ratio(two),
            one.chathook.cpu_us_per_request,
            two.chathook.cpu_us_per_request,
            two.chathook.cpu_us_per_request - one.chathook.cpu_us_per_request,
            one.chathook.p99_ms,
            two.chathook.p99_ms
        );
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
            "\nJetStream, ({}): the run's stream held {} callbacks for {} acknowledged ({} in \
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
        .filter_map(|row| Some((row, row.floor.as_ref()?)))
        .collect();
    if !floors.is_empty() {
        let _ = writeln!(
            text,
            "\nThe store alone, no HTTP (the same callbacks already parsed, from {connections} \
             tasks on the server's core):\n"
        );
        for (row, floor) in &floors {
            let _ = writeln!(
                text,
                "- ({}) {:.0} callbacks/s, {:.1} µs CPU each",
                row.scenario.key,
                floor.per_sec(duration),
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
