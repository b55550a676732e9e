//! Instructions per callback, counted by valgrind's callgrind: a figure that does not move
//! with the machine's load, so a regression shows as a number even where wall time jitters.
//!
//! Each path is run twice under callgrind, with `SHORT` and with `LONG` callbacks, one at a
//! time; the difference of the two totals over the difference of the counts is the cost of one
//! callback, with start-up and shutdown cancelled out. The paths:
//!
//! - request: chathook answering an unrouted after-callback over HTTP (auth, routing, reply;
//!   scenario (a)), with the recent-callbacks buffer off, and again with it on (100 records,
//!   so that nearly every callback replaces the oldest) and no reader: their difference is
//!   what recording a callback for the console costs;
//! - store: the read-receipt store alone committing many-groups callbacks into SQLite, no HTTP;
//! - read receipt: chathook storing many-groups read receipts into SQLite over HTTP.
//!
//! One callback at a time, so every group commit holds one callback: the count is the cost
//! of the most expensive case, not of a loaded server's.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

use crate::runs::console_toml;
use crate::scenario::fixture;
use crate::server::{Server, free_port};
use crate::workload::{Callbacks, Workload};
use crate::{APP_ID, TOKEN};

const SHORT: u64 = 200;
const LONG: u64 = 1200;

/// The many-groups workload the store paths use.
const MANY: Workload = Workload::ManyGroups {
    groups: 1000,
    redeliver_percent: 20,
};

/// Counts every path and prints (and returns) the table.
pub(crate) fn run(exe: &Path, dir: &Path) -> anyhow::Result<String> {
    crate::apt::ensure_installed("valgrind", "--version", "valgrind")?;
    let mut text = String::from("| path | instructions per callback |\n|---|---:|\n");
    // Kept for `callgrind_annotate`, next to the build they profile.
    let outputs = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(dir)
        .join("callgrind");
    std::fs::create_dir_all(&outputs)?;
    println!(
        "    callgrind outputs in {} (callgrind_annotate FILE shows where the instructions go)",
        outputs.display()
    );
    let paths = [
        ("request", "request (unrouted, over HTTP)", None, false),
        (
            "request-recent",
            "request, recent-callbacks buffer on (no reader)",
            None,
            true,
        ),
        (
            "store",
            "store (SQLite, 1000 groups, 20% redelivered, no HTTP)",
            Some(MANY),
            false,
        ),
        (
            "read-receipt",
            "read receipt (SQLite, 1000 groups, 20% redelivered, over HTTP)",
            Some(MANY),
            false,
        ),
    ];
    for (file, name, workload, recent) in paths {
        let count = |callbacks: u64| {
            let out = outputs.join(format!("{file}-{callbacks}.out"));
            match (file, workload) {
                ("store", _) => store_alone(exe, dir, &out, callbacks),
                (_, workload) => over_http(exe, dir, &out, callbacks, workload, recent),
            }
        };
        let short = count(SHORT)?;
        let long = count(LONG)?;
        let per_callback = long.saturating_sub(short) / (LONG - SHORT);
        println!("    {name}: {per_callback} instructions per callback");
        let _ = writeln!(text, "| {name} | {per_callback} |");
    }
    Ok(text)
}

/// chathook under callgrind, sent `count` callbacks one at a time: unrouted ones, or read
/// receipts of `workload` into a fresh SQLite store; `recent`: with the recent-callbacks
/// buffer on. Returns the instructions counted.
fn over_http(
    exe: &Path,
    dir: &Path,
    out: &Path,
    count: u64,
    workload: Option<Workload>,
    recent: bool,
) -> anyhow::Result<u64> {
    let port = free_port()?;
    let database = dir.join(format!("instructions-{count}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let handlers = match workload {
        Some(_) => format!(
            "[handlers.read_receipt]\nenabled = true\ndatabase_url = \"sqlite://{}\"\n",
            database.display()
        ),
        None => String::new(),
    };
    // Smaller than SHORT, so that in both runs nearly every callback replaces the oldest
    // record, as on a server that has run a while.
    let console = console_toml(recent.then_some(100));
    let config = dir.join("instructions.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten_addr = \"127.0.0.1:{port}\"\n\n[auth]\nmax_clock_skew_secs = 3600\n\n\
             [apps.bench]\nsdk_app_id = {APP_ID}\ntokens = [\"{TOKEN}\"]\n\n{console}\n{handlers}"
        ),
    )?;
    let mut command = callgrind(exe, out);
    command.args(["chathook", "serve", "--config"]).arg(&config);
    let server = Server::start_within(command, port, std::time::Duration::from_secs(120))?;
    let command_name = match workload {
        Some(_) => "Group.CallbackAfterReadReceipt",
        None => "Group.CallbackAfterSendMsg",
    };
    let time = chathook_core::auth::unix_now();
    let path = format!(
        "/callback?SdkAppid={APP_ID}&CallbackCommand={command_name}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Android&Sign={}&RequestTime={time}",
        chathook_core::auth::sign(TOKEN, time)
    );
    let mut bodies = workload.map(|workload| Callbacks::new(workload, APP_ID as i64, 0));
    let fixed = fixture("Group.CallbackAfterSendMsg");
    let mut connection = TcpStream::connect(("127.0.0.1", port))?;
    let mut reader = BufReader::new(connection.try_clone()?);
    for _ in 0..count {
        let body = match bodies.as_mut() {
            Some(callbacks) => callbacks.next_body(),
            None => fixed.to_owned(),
        };
        write!(
            connection,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let status = read_response(&mut reader)?;
        ensure!(status == 200, "chathook answered {status}");
    }
    drop(reader);
    drop(connection);
    server.stop()?;
    total_instructions(out)
}

/// The store-floor role under callgrind, one writer, `count` callbacks.
fn store_alone(exe: &Path, dir: &Path, out: &Path, count: u64) -> anyhow::Result<u64> {
    let database = dir.join(format!("instructions-floor-{count}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let status = callgrind(exe, out)
        .args([
            "store-floor",
            &format!("sqlite://{}", database.display()),
            "1",
            "0",
        ])
        .args(["--workload", &crate::store_floor::workload_spec(MANY)])
        .args(["--count", &count.to_string()])
        .stdout(Stdio::null())
        .status()?;
    ensure!(status.success(), "store floor under callgrind: {status}");
    total_instructions(out)
}

fn callgrind(exe: &Path, out: &Path) -> Command {
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe);
    command
}

/// The status of one HTTP/1.1 response, its body read and discarded.
pub(crate) fn read_response(reader: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line.split(' ').nth(1).context("no status line")?.parse()?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}

/// The `summary:` (or `totals:`) line of a callgrind output file: instructions executed.
fn total_instructions(out: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(out)
        .with_context(|| format!("no callgrind output at {}", out.display()))?;
    let total = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .context("no summary line in the callgrind output")?;
    Ok(total.trim().split(' ').next().unwrap_or_default().parse()?)
}
