//! `flaky`: a queued handler that fails as a test tells it to, and writes every attempt to a
//! file, so tests in this process and tests of separate server processes (a `kill -9`, two
//! replicas) read the same record.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chathook_core::{Answer, Callback, Handler, HandlerError, async_trait, register_handler};
use serde::Deserialize;

/// `[handlers.flaky]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlakyConfig {
    /// Fail each callback's first this many attempts (counted in this process).
    #[serde(default)]
    pub fail_first: u32,
    /// Fail every attempt while this file exists: a test "fixes" the handler by removing it.
    #[serde(default)]
    pub fail_while: Option<PathBuf>,
    /// With `fail_while`: fail only callbacks of this GroupId.
    #[serde(default)]
    pub fail_group: Option<String>,
    /// Fail as permanent rather than retry.
    #[serde(default)]
    pub permanent: bool,
    /// Each attempt takes this long, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Where each attempt is appended as one line of [`AttemptLine`].
    pub record: PathBuf,
}

/// One attempt as `flaky` records it, tab-separated: key, attempt, delivery, pid, start and end
/// (Unix ms), `ok` or `failed`, the body's `Seq` and `GroupId`, the decision's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptLine {
    /// The idempotency key.
    pub key: String,
    /// The attempt's number.
    pub attempt: u32,
    /// The journal's delivery id.
    pub delivery: i64,
    /// The server process.
    pub pid: u32,
    /// When the attempt began, Unix milliseconds.
    pub start_ms: u128,
    /// When it ended.
    pub end_ms: u128,
    /// Whether it succeeded.
    pub ok: bool,
    /// The body's `Seq` field when it has one (tests number their callbacks).
    pub seq: Option<u64>,
    /// The body's `GroupId`, when it has one.
    pub group: Option<String>,
    /// For a before-callback: the `ErrorCode` of the decision Chat got.
    pub decision: Option<u32>,
}

/// Every attempt recorded in `path`, in the order written.
pub fn read_attempts(path: &std::path::Path) -> Vec<AttemptLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            AttemptLine {
                key: fields[0].to_owned(),
                attempt: fields[1].parse().expect("attempt"),
                delivery: fields[2].parse().expect("delivery"),
                pid: fields[3].parse().expect("pid"),
                start_ms: fields[4].parse().expect("start"),
                end_ms: fields[5].parse().expect("end"),
                ok: fields[6] == "ok",
                seq: fields[7].parse().ok(),
                group: Some(fields[8].to_owned()).filter(|group| !group.is_empty()),
                decision: fields[9].parse().ok(),
            }
        })
        .collect()
}

struct Flaky {
    config: FlakyConfig,
    failures: Mutex<HashMap<String, u32>>,
}

#[derive(Deserialize)]
struct Numbered {
    #[serde(rename = "Seq")]
    seq: Option<u64>,
    #[serde(rename = "GroupId")]
    group: Option<String>,
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
}

#[async_trait]
impl Handler for Flaky {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let start_ms = unix_ms();
        let delivery = callback
            .delivery()
            .ok_or_else(|| HandlerError::permanent("flaky is a queued handler"))?;
        if self.config.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.delay_ms)).await;
        }
        let key = delivery.idempotency_key().to_owned();
        let numbered: Numbered = callback.parse().unwrap_or(Numbered {
            seq: None,
            group: None,
        });
        let in_failing_group = match &self.config.fail_group {
            Some(group) => numbered.group.as_ref() == Some(group),
            None => true,
        };
        let fail = {
            let mut failures = self.failures.lock().expect("not poisoned");
            let failed = failures.entry(key.clone()).or_default();
            let fail = *failed < self.config.fail_first
                || (in_failing_group
                    && self
                        .config
                        .fail_while
                        .as_ref()
                        .is_some_and(|path| path.exists()));
            if fail {
                *failed += 1;
            }
            fail
        };
        let decision = callback.decision().await.map(|d| d.reply().error_code());
        let line = format!(
            "{key}\t{}\t{}\t{}\t{start_ms}\t{}\t{}\t{}\t{}\t{}\n",
            delivery.number(),
            delivery.delivery_id(),
            std::process::id(),
            unix_ms(),
            if fail { "failed" } else { "ok" },
            numbered.seq.map_or_else(String::new, |seq| seq.to_string()),
            numbered.group.unwrap_or_default(),
            decision.map_or_else(String::new, |code| code.to_string()),
        );
        // One write of one line with O_APPEND: lines of concurrent attempts never interleave.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.record)?
            .write_all(line.as_bytes())?;
        match (fail, self.config.permanent) {
            (false, _) => Ok(Answer::default()),
            (true, true) => Err(HandlerError::permanent("flaky was told this is bad data")),
            (true, false) => Err(HandlerError::retry("flaky's downstream is down")),
        }
    }
}

async fn build_flaky(config: FlakyConfig) -> Result<Flaky, std::convert::Infallible> {
    Ok(Flaky {
        config,
        failures: Mutex::new(HashMap::new()),
    })
}

register_handler! {
    name: "flaky",
    commands: from_config(default: ["after"]),
    delivery: queued,
    config: FlakyConfig,
    build: build_flaky,
}
