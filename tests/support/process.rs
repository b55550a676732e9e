//! Running a chathook binary as a child process, the way an operator does.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use serde_json::Value;

/// A config file's one signed app: SdkAppid 1400000000 with the token `file-token`.
pub const APP_TOML: &str = "[apps.main]\nsdk_app_id = 1400000000\ntokens = [\"file-token\"]\n";

/// Runs `future` to completion, for a test that drives a binary and is not async itself.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(future)
}

/// `binary` run in `dir` with none of this process's `CHATHOOK_*` or `RUST_LOG` variables, so
/// only what a test sets reaches it.
pub fn clean_command(binary: impl AsRef<Path>, dir: &Path) -> Command {
    let mut command = Command::new(binary.as_ref());
    command.current_dir(dir).env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("CHATHOOK_") {
            command.env_remove(key);
        }
    }
    command
}

/// Writes `text` as `chathook.toml` in `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("chathook.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A serving binary: listening on a loopback port it chose, logging JSON lines.
pub struct RunningBinary {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every log line read so far.
    pub log: Vec<String>,
    /// `host:port` it listens on.
    pub addr: String,
}

impl RunningBinary {
    /// Starts `command` (a `serve`) on `127.0.0.1:0` with JSON logs and waits until it listens.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .env("CHATHOOK_SERVER__LISTEN_ADDR", "127.0.0.1:0")
            .env("CHATHOOK_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("binary starts");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut running = Self {
            child,
            lines,
            log: Vec::new(),
            addr: String::new(),
        };
        let listening = running.next_event("listening");
        running.addr = listening["addr"].as_str().expect("addr field").to_owned();
        running
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Reads log lines until one whose message starts with `message`, and returns it.
    pub fn next_event(&mut self, message: &str) -> Value {
        loop {
            let line = self
                .lines
                .next()
                .unwrap_or_else(|| panic!("log ended before {message:?}:\n{}", self.log.join("\n")))
                .expect("log line");
            self.log.push(line.clone());
            let entry: Value = serde_json::from_str(&line).expect("a JSON log line");
            if entry["message"]
                .as_str()
                .is_some_and(|text| text.starts_with(message))
            {
                return entry;
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// Sends SIGTERM and waits at most `limit` for the exit (then kills the process and
    /// panics with the log, so a hang fails the test instead of stalling it).
    pub fn stop_within(mut self, limit: std::time::Duration) -> (ExitStatus, String) {
        self.signal("TERM");
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for exit") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.log
                    .extend(self.lines.by_ref().map(|line| line.expect("log line")));
                panic!(
                    "still running {limit:?} after SIGTERM:\n{}",
                    self.log.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        self.log
            .extend(self.lines.by_ref().map(|line| line.expect("log line")));
        (status, self.log.join("\n"))
    }

    /// Sends SIGTERM, waits for the exit, and returns the status and the whole log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success(), "kill -TERM {pid} failed");
        let status = self.child.wait().expect("wait for exit");
        self.log
            .extend(self.lines.by_ref().map(|line| line.expect("log line")));
        (status, self.log.join("\n"))
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
