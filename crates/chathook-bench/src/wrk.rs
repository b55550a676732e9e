//! The load: wrk drives a server with a scenario's requests from a Lua script, and reports
//! throughput, latency and the counts the zero-loss checks need on one `RESULT` line, while
//! the server's CPU time is read around it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, ensure};

use crate::pinning::Pinning;
use crate::result_field;
use crate::scenario::Scenario;
use crate::server::{Server, context_switches, process_cpu_secs};

/// Installs wrk if it is missing.
pub(crate) fn ensure_wrk() -> anyhow::Result<()> {
    crate::apt::ensure_installed("wrk", "--version", "wrk")
}

/// What wrk measured in one run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Measured {
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// The server's CPU time (user + system) per completed request.
    pub cpu_us_per_request: f64,
    /// The server's context switches, all threads, per completed request.
    pub switches_per_request: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th-percentile latency.
    pub p99_ms: f64,
    /// The slowest request.
    pub max_ms: f64,
    /// Requests failed or answered 400 or above.
    pub errors: u64,
    /// Requests answered below 400.
    pub acked: u64,
    /// Requests wrk sent, answered or not.
    pub sent: u64,
    /// Requests answered.
    pub answered: u64,
    /// Requests whose body was new rather than a redelivery.
    pub new_sent: u64,
}

impl Measured {
    /// Whether `stored` callbacks (or a handler's successful calls) account for every
    /// acknowledged one: at least those, and no more than were sent (the rest were in flight
    /// when wrk stopped).
    pub(crate) fn all_stored(&self, stored: u64) -> bool {
        (self.acked..=self.sent).contains(&stored)
    }

    /// Whether `stored` new callbacks account for every new one acknowledged: with no request
    /// failed, at least the new ones sent less those in flight when wrk stopped, and no more
    /// than were sent.
    pub(crate) fn all_new_stored(&self, stored: u64) -> bool {
        let in_flight = self.sent - self.answered;
        self.errors == 0
            && (self.new_sent.saturating_sub(in_flight)..=self.new_sent).contains(&stored)
    }

    /// Each figure's median over `runs` (counts summed, the slowest request the slowest).
    pub(crate) fn median(runs: &[Measured]) -> Measured {
        let median = |figure: fn(&Measured) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or_default()
        };
        let sum = |count: fn(&Measured) -> u64| runs.iter().map(count).sum();
        Measured {
            requests_per_sec: median(|run| run.requests_per_sec),
            cpu_us_per_request: median(|run| run.cpu_us_per_request),
            switches_per_request: median(|run| run.switches_per_request),
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

/// The wrk script: the body per request, and in `done` one machine-readable line.
pub(crate) fn lua_script(
    scenario: &Scenario,
    dir: &Path,
    first_seq: i64,
) -> anyhow::Result<PathBuf> {
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
    let path = dir.join(format!("{}.lua", scenario.spec.key));
    std::fs::write(&path, script)?;
    Ok(path)
}

/// Drives `server` with wrk and measures the server's CPU time and context switches while it
/// does.
pub(crate) fn drive(
    pinning: &Pinning,
    script: &Path,
    server: &Server,
    query: &str,
    connections: u32,
    secs: u64,
) -> anyhow::Result<Measured> {
    let port = server.port;
    let cpu_before = process_cpu_secs(server.child.id())?;
    let switches_before = context_switches(server.child.id())?;
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
    let switches = context_switches(server.child.id())?.saturating_sub(switches_before);
    Ok(Measured {
        requests_per_sec: requests as f64 * 1e6 / duration_us as f64,
        cpu_us_per_request: cpu_secs * 1e6 / requests.max(1) as f64,
        switches_per_request: switches as f64 / requests.max(1) as f64,
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
