//! The servers the bench starts (the baseline, chathook, the store floor's process) and what
//! it reads from them: their CPU time and memory from `/proc`, chathook's counters from
//! `/metrics`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

/// A server child process, killed when dropped.
pub(crate) struct Server {
    /// The server's process (under taskset, the same process).
    pub child: Child,
    /// Where it listens, on 127.0.0.1.
    pub port: u16,
}

impl Server {
    /// Starts a server that listens on `port` within 30 s.
    pub(crate) fn start(command: Command, port: u16) -> anyhow::Result<Self> {
        Self::start_within(command, port, Duration::from_secs(30))
    }

    /// Starts a server that may take up to `limit` to listen (under valgrind, say).
    pub(crate) fn start_within(
        mut command: Command,
        port: u16,
        limit: Duration,
    ) -> anyhow::Result<Self> {
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
    pub(crate) fn peak_rss_mib(&self) -> anyhow::Result<f64> {
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
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
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

/// A port nothing listens on now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// CPU time (user + system) a process has used so far, from `/proc`.
pub(crate) fn process_cpu_secs(pid: u32) -> anyhow::Result<f64> {
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

/// Context switches (voluntary and not) of every thread of a process so far, from `/proc`:
/// each is a thread that slept and was woken, or was preempted. A server whose request path
/// wakes another worker thread per request shows it here, whatever the machine's load.
pub(crate) fn context_switches(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that ended since the listing is simply no longer counted.
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(count) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += count.trim().parse::<u64>()?;
            }
        }
    }
    Ok(total)
}

/// How many callbacks handler `name` handled successfully, summed over commands, from the
/// `chathook_handler_results_total` counters of the chathook listening on `port`.
pub(crate) fn handled_ok(port: u16, name: &str) -> anyhow::Result<u64> {
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
pub(crate) fn metric_value(port: u16, series: &str) -> anyhow::Result<u64> {
    let response = metrics(port)?;
    let value = response
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .with_context(|| format!("no {series} in /metrics"))?;
    Ok(value.trim().parse::<f64>()? as u64)
}

/// The value of series `name` whose labels include each of `labels` (`handler="tally_a"`),
/// in a `/metrics` body; `None` if there is no such line.
pub(crate) fn labelled_value(response: &str, name: &str, labels: &[&str]) -> Option<f64> {
    labelled_series(response, name)
        .find(|(line_labels, _)| labels.iter().all(|label| line_labels.contains(label)))
        .map(|(_, value)| value)
}

/// Every line of series `name` with labels, as (its labels, its value).
pub(crate) fn labelled_series<'a>(
    response: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (Vec<&'a str>, f64)> + 'a {
    response.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.rsplit_once("} ")?;
        Some((labels.split(',').collect(), value.trim().parse().ok()?))
    })
}

/// The body of `GET /metrics` from the chathook listening on `port`.
pub(crate) fn metrics(port: u16) -> anyhow::Result<String> {
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
