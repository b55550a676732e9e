//! The storage's own cost: the read-receipt store fed the same callbacks as a scenario's
//! workload, already parsed, by concurrent tasks as the handler would. What a stored
//! callback costs with no HTTP around it.
//!
//! Both sides are here: the role the bench starts itself in, and the bench's side that starts it
//! pinned like a server and reads its result.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

use crate::pinning::Pinning;
use crate::result_field;
use crate::scenario::{Scenario, durability_name};
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

/// The `store-floor` role: stores the workload's callbacks and prints one `FLOOR` line.
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
    let cpu_before = crate::server::process_cpu_secs(std::process::id())?;
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
            crate::APP_ID as i64,
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
                        let mut callbacks = callbacks.lock().expect("no panic while generating");
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
    let cpu = crate::server::process_cpu_secs(std::process::id())? - cpu_before;
    println!(
        "FLOOR stored={stored} new={new} transactions={transactions} cpu_us={:.0}",
        cpu * 1e6
    );
    Ok(())
}

/// What the store alone did in the `store-floor` role.
#[derive(Clone, Copy)]
pub(crate) struct Floor {
    pub stored: u64,
    /// New callbacks among them; the rest were redeliveries.
    pub new: u64,
    pub cpu_us: f64,
    pub secs: u64,
}

impl Floor {
    /// Callbacks stored per second.
    pub(crate) fn per_sec(&self) -> f64 {
        self.stored as f64 / self.secs.max(1) as f64
    }

    /// CPU per stored callback.
    pub(crate) fn cpu_us_per_callback(&self) -> f64 {
        self.cpu_us / self.stored.max(1) as f64
    }

    /// The run with the median CPU per callback.
    pub(crate) fn median(floors: &[Floor]) -> Option<Floor> {
        let mut floors = floors.to_vec();
        floors.sort_by(|a, b| a.cpu_us_per_callback().total_cmp(&b.cpu_us_per_callback()));
        floors.get(floors.len() / 2).copied()
    }
}

/// Runs the `store-floor` role pinned like a server, and reads its result line.
pub(crate) fn measure(
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
            &workload_spec(scenario.workload),
            "--durability",
            durability_name(scenario.spec.durability),
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
