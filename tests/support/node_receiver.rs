//! The Node receiver of `examples/webhook-receiver-node`, run the way a team runs it: `node
//! server.js` on a free loopback port with the secrets a test gives, its JSON log lines
//! collected as they come. Its npm dependencies are installed with `npm ci` the first time.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the receiver may take to print `listening on <port>`, and a test to see the lines
/// it waits for: generous, since the two cores are shared with parallel tests.
const PATIENCE: Duration = Duration::from_secs(30);

/// The example's directory.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webhook-receiver-node")
}

/// A running `node server.js`, killed when dropped.
pub struct NodeReceiver {
    child: Child,
    /// Its port on `127.0.0.1`.
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl NodeReceiver {
    /// Starts the receiver with `secrets` (one `whsec_` secret, or two while rotating) once
    /// it listens, installing its dependencies first if they are not yet.
    pub fn start(secrets: &[&str]) -> Self {
        let dir = example_dir();
        install_dependencies(&dir);
        let mut child = Command::new("node")
            .arg("server.js")
            .current_dir(&dir)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("WEBHOOK_SECRET", secrets.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{}", missing_tool("node", &error)));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            collected.lock().expect("stderr buffer").push_str(&text);
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_sender, port) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let collected = Arc::clone(&lines);
        std::thread::spawn(move || collect(stdout, &port_sender, &collected));
        let mut receiver = Self {
            child,
            port: 0,
            lines,
            stderr,
        };
        receiver.port = match port.recv_timeout(PATIENCE) {
            Ok(port) => port,
            Err(_) => receiver.fail("did not print `listening on <port>`"),
        };
        receiver
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Every JSON line it logged so far, one per request, in order.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().expect("log lines").clone()
    }

    /// The first `count` lines, once it has logged that many. A request's line is written
    /// before its answer, but read here on another thread, so a test waits for it. Async, so
    /// that a chathook serving in the same runtime goes on forwarding meanwhile.
    pub async fn wait_for_lines(&mut self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let lines = self.lines();
            if lines.len() >= count {
                return lines[..count].to_vec();
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "logged {} line(s), not {count}:\n{lines:#?}",
                    lines.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Panics with `what`, the process's exit status if it ended, and what it wrote to stderr.
    fn fail(&mut self, what: &str) -> ! {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            _ => "still running".to_owned(),
        };
        // Give the stderr reader a moment to collect the last words of a process that died.
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().expect("stderr buffer").clone();
        panic!("the Node receiver {what}; it {status}; its stderr:\n{stderr}");
    }
}

impl Drop for NodeReceiver {
    fn drop(&mut self) {
        // A failed test must not leave a receiver behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the receiver's stdout: the port from its first line, then one JSON value per line.
fn collect(stdout: impl BufRead, port: &mpsc::Sender<u16>, lines: &Mutex<Vec<Value>>) {
    let mut stdout = stdout.lines();
    let Some(Ok(first)) = stdout.next() else {
        return;
    };
    match first
        .strip_prefix("listening on ")
        .and_then(|port| port.parse().ok())
    {
        Some(listening) => {
            let _ = port.send(listening);
        }
        None => {
            // Recorded so that a failure shows what came instead; no port is sent.
            lines.lock().expect("log lines").push(Value::String(first));
            return;
        }
    }
    for line in stdout.map_while(Result::ok) {
        let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
        lines.lock().expect("log lines").push(value);
    }
}

/// Runs `npm ci` in `dir` unless its `node_modules` is complete and as new as its lock file.
/// Tests run in parallel: the first to get here installs while the others wait on a lock on
/// `package-lock.json` (a file every checkout has and npm never locks itself), then find the
/// install done.
fn install_dependencies(dir: &Path) {
    let lock_path = dir.join("package-lock.json");
    let lock =
        File::open(&lock_path).unwrap_or_else(|error| panic!("{}: {error}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|error| panic!("locking {}: {error}", lock_path.display()));
    if installed(dir, &lock_path) {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{}", missing_tool("npm", &error)));
    assert!(
        output.status.success(),
        "`npm ci` in {} failed ({}):\n{}{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// npm writes `node_modules/.package-lock.json` last, so it marks a finished install; older
/// than `package-lock.json`, it is an install of other versions.
fn installed(dir: &Path, lock_path: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|meta| meta.modified());
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(lock_path),
    ) {
        (Ok(installed), Ok(locked)) => installed >= locked,
        _ => false,
    }
}

fn missing_tool(tool: &str, error: &std::io::Error) -> String {
    if error.kind() == ErrorKind::NotFound {
        format!(
            "`{tool}` is not on PATH: the Node receiver test (examples/webhook-receiver-node) \
             needs Node.js 18 or newer and npm (Debian: apt-get install nodejs npm)"
        )
    } else {
        format!("`{tool}` could not be started: {error}")
    }
}
