//! A fixed-rate load, for the queued scenario's second phase: wrk sends as fast as the server
//! answers and has no rate option, but delivery lag means something only below saturation.
//! The driver is this binary in its `paced` role, pinned where wrk would be: `connections`
//! threads, each with one keep-alive connection, take numbered tickets, and ticket `i` is sent
//! at `i / rate` seconds after the start (or at once, if the driver has fallen behind).

use std::io::{BufReader, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

use crate::instructions::read_response;
use crate::pinning::Pinning;
use crate::result_field;

/// What the paced driver measured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PacedMeasured {
    /// The rate asked for, requests/s.
    pub target_per_sec: f64,
    /// Requests answered per second over the run.
    pub answered_per_sec: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered below 400.
    pub acked: u64,
    /// Requests failed or answered 400 or above.
    pub errors: u64,
    /// Median request latency, from the moment it was sent.
    pub p50_ms: f64,
    /// 99th-percentile request latency.
    pub p99_ms: f64,
    /// How far behind its schedule the latest-sent request went out.
    pub most_behind_ms: f64,
}

/// Runs the paced driver on the load CPU against chathook on `port` for `secs` and reads its
/// result line.
pub(crate) fn drive(
    pinning: &Pinning,
    exe: &Path,
    port: u16,
    query: &str,
    rate: f64,
    secs: u64,
    connections: u32,
) -> anyhow::Result<PacedMeasured> {
    let output = pinning
        .load_program(exe)
        .args([
            "paced",
            &format!("127.0.0.1:{port}"),
            &format!("/callback?{query}"),
            &format!("{rate:.0}"),
            &secs.to_string(),
            &connections.to_string(),
        ])
        .output()
        .context("cannot run the paced driver")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "the paced driver failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("PACED "))
        .with_context(|| format!("no PACED line from the paced driver:\n{stdout}"))?;
    let field = |name: &str| -> anyhow::Result<f64> { Ok(result_field(line, name)?.parse()?) };
    Ok(PacedMeasured {
        target_per_sec: rate,
        answered_per_sec: field("answered_per_sec")?,
        sent: field("sent")? as u64,
        acked: field("acked")? as u64,
        errors: field("errors")? as u64,
        p50_ms: field("p50_us")? / 1000.0,
        p99_ms: field("p99_us")? / 1000.0,
        most_behind_ms: field("behind_us")? / 1000.0,
    })
}

/// One thread's counts.
#[derive(Default)]
struct Counts {
    sent: u64,
    acked: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    behind_us: u64,
}

/// The `paced` role: `rate` requests/s to `addr` + `path` for `secs`, bodies of scenario (b)'s
/// shape (one group, two new messages each), then one `PACED` line.
pub(crate) fn run(
    addr: &str,
    path: &str,
    rate: f64,
    secs: u64,
    connections: u32,
) -> anyhow::Result<()> {
    ensure!(
        rate > 0.0,
        "the paced driver's rate must be above 0, not {rate}"
    );
    let total = (rate * secs as f64) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (next, addr, path) = (Arc::clone(&next), addr.to_owned(), path.to_owned());
            std::thread::spawn(move || send_tickets(&addr, &path, rate, total, start, &next))
        })
        .collect();
    let mut all = Counts::default();
    for thread in threads {
        let counts = thread.join().expect("a paced driver thread panicked")?;
        all.sent += counts.sent;
        all.acked += counts.acked;
        all.errors += counts.errors;
        all.behind_us = all.behind_us.max(counts.behind_us);
        all.latencies_us.extend(counts.latencies_us);
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-3);
    all.latencies_us.sort_unstable();
    let percentile = |q: f64| -> u32 {
        let count = all.latencies_us.len();
        if count == 0 {
            return 0;
        }
        all.latencies_us[((count as f64 * q).ceil() as usize).clamp(1, count) - 1]
    };
    println!(
        "PACED sent={} acked={} errors={} answered_per_sec={:.1} p50_us={} p99_us={} behind_us={}",
        all.sent,
        all.acked,
        all.errors,
        all.latencies_us.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        all.behind_us
    );
    Ok(())
}

/// One connection's loop: the next ticket, its send time, the request, the answer.
fn send_tickets(
    addr: &str,
    path: &str,
    rate: f64,
    total: u64,
    start: Instant,
    next: &AtomicU64,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let mut connection: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        let ticket = next.fetch_add(1, Ordering::Relaxed);
        if ticket >= total {
            return Ok(counts);
        }
        let due = start + Duration::from_secs_f64(ticket as f64 / rate);
        let now = Instant::now();
        match due.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None => counts.behind_us = counts.behind_us.max((now - due).as_micros() as u64),
        }
        let (stream, reader) = match &mut connection {
            Some(open) => open,
            None => {
                let stream = TcpStream::connect(addr)
                    .with_context(|| format!("cannot connect to {addr}"))?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                let reader = BufReader::new(stream.try_clone()?);
                connection.insert((stream, reader))
            }
        };
        let body = receipt_body(ticket);
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent_at = Instant::now();
        counts.sent += 1;
        let status = stream
            .write_all(request.as_bytes())
            .map_err(anyhow::Error::from)
            .and_then(|()| read_response(reader));
        match status {
            Ok(status) => {
                counts
                    .latencies_us
                    .push(sent_at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                if status < 400 {
                    counts.acked += 1;
                } else {
                    counts.errors += 1;
                }
            }
            Err(_) => {
                counts.errors += 1;
                connection = None;
            }
        }
    }
}

/// Ticket `ticket`'s read receipt, of scenario (b)'s shape: one group, two new messages.
fn receipt_body(ticket: u64) -> String {
    let seq = 1_000_000_000 + ticket * 2;
    format!(
        r#"{{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#bench","Type":"Public","GroupMsgReceiptList":[{{"MsgSeq":{seq},"ReadNum":1,"UnreadNum":99,"ReadReceiptMembers":[{{"Member_Account":"user{ticket}"}}]}},{{"MsgSeq":{},"ReadNum":2,"UnreadNum":98,"ReadReceiptMembers":[{{"Member_Account":"user{ticket}"}},{{"Member_Account":"owner"}}]}}],"EventTime":{}}}"#,
        seq + 1,
        1_700_000_000_000 + ticket
    )
}
