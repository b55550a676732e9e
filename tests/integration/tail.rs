//! `chathook tail` against the real server: the test binary serves, a second process tails its
//! callback stream with piped output, and the test reads the tail's lines as callbacks arrive.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chathook_tests::process::{APP_TOML, RunningBinary, block_on, clean_command, write_config};
use chathook_tests::*;
use serde_json::Value;

/// The `[api]` token the served config accepts.
const API_SECRET: &str = "tail-api-secret";
/// The token of `[apps.main]` in [`APP_TOML`].
const APP_TOKEN: &str = "file-token";
/// How long a test waits for any one line before it fails.
const LINE_WAIT: Duration = Duration::from_secs(15);

/// A served config: the app of [`APP_TOML`], an API token, `probe` on its commands, and a clock
/// skew wide enough that a 14 s old callback with a wrong token is refused for its Sign.
fn served_config() -> String {
    format!(
        "{APP_TOML}[auth]\nmax_clock_skew_secs = 60\n[api]\ntokens = [\"{API_SECRET}\"]\n\
         [handlers.probe]\nenabled = true\n"
    )
}

/// The test server binary serving `config` from a fresh directory.
fn serve(config: &str) -> (tempfile::TempDir, RunningBinary) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), config);
    let mut command = clean_command(server_binary!(), dir.path());
    command.arg("serve").arg("--config").arg(path);
    (dir, RunningBinary::spawn(command))
}

/// `chathook tail ARGS` from an empty directory (no stray config), no colour forced on.
fn tail_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = clean_command(server_binary!(), dir);
    command
        .arg("tail")
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR");
    command
}

/// A running `chathook tail`, its stdout and stderr read line by line on threads of their own.
struct Tail {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every line read so far from each, for failure messages.
    out_seen: Vec<String>,
    err_seen: Vec<String>,
}

impl Tail {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tail starts");
        let forward = |reader: Box<dyn std::io::Read + Send>| {
            let (sender, receiver) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
            receiver
        };
        let stdout = forward(Box::new(child.stdout.take().expect("piped stdout")));
        let stderr = forward(Box::new(child.stderr.take().expect("piped stderr")));
        Self {
            child,
            stdout,
            stderr,
            out_seen: Vec::new(),
            err_seen: Vec::new(),
        }
    }

    /// Starts `chathook tail ARGS` and waits until it follows the stream, so that every
    /// callback sent from now on reaches it.
    fn following(dir: &Path, args: &[&str]) -> Self {
        let mut tail = Self::spawn(tail_command(dir, args));
        tail.stderr_line("following ");
        tail
    }

    fn report(&self) -> String {
        format!(
            "stdout so far:\n{}\nstderr so far:\n{}",
            self.out_seen.join("\n"),
            self.err_seen.join("\n")
        )
    }

    /// The next line on stdout, waiting at most [`LINE_WAIT`].
    fn line(&mut self) -> String {
        match self.stdout.recv_timeout(LINE_WAIT) {
            Ok(line) => {
                self.out_seen.push(line.clone());
                line
            }
            Err(_) => {
                self.drain_stderr();
                panic!(
                    "no line on tail's stdout within {LINE_WAIT:?}\n{}",
                    self.report()
                )
            }
        }
    }

    /// Reads stderr until a line starting with `prefix`, waiting at most [`LINE_WAIT`] in all.
    fn stderr_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.err_seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stderr line starting {prefix:?} within {LINE_WAIT:?}\n{}",
                    self.report()
                ),
            }
        }
    }

    fn drain_stderr(&mut self) {
        while let Ok(line) = self.stderr.try_recv() {
            self.err_seen.push(line);
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end (at most [`LINE_WAIT`]) and returns exit code, stdout, stderr.
fn run_to_end(mut command: Command) -> (Option<i32>, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tail starts");
    let deadline = Instant::now() + LINE_WAIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tail still running after {LINE_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// POSTs the sample body of `command` as app `main` signed with `token`, its RequestTime
/// `age_secs` in the past, and returns the status.
fn send(server: &RunningBinary, command: &str, token: &str, age_secs: u64) -> u16 {
    let url = server.url(&format!(
        "/callback?{}",
        signed_query(command, token, now() - age_secs)
    ));
    block_on(async {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(fixture(command))
            .send()
            .await
            .expect("callback sent")
            .status()
            .as_u16()
    })
}

/// Asserts that `line` is `HH:MM:SS.mmm app command outcome status ...` and returns its
/// fields after the time.
fn fields(line: &str) -> Vec<&str> {
    let fields: Vec<&str> = line.split(' ').collect();
    let time = fields[0].as_bytes();
    assert!(
        time.len() == 12
            && [2, 5].iter().all(|&i| time[i] == b':')
            && time[8] == b'.'
            && time
                .iter()
                .enumerate()
                .all(|(i, c)| [2, 5, 8].contains(&i) || c.is_ascii_digit()),
        "{line:?} does not start with HH:MM:SS.mmm"
    );
    fields[1..].to_vec()
}

fn assert_plain(lines: &[String]) {
    for line in lines {
        assert!(!line.contains('\u{1b}'), "an escape sequence in {line:?}");
    }
}

#[test]
fn plain_lines_show_an_ok_callback_and_explain_a_refusal_without_colour_when_piped() {
    let (dir, server) = serve(&served_config());
    let url = format!("http://{}", server.addr);
    let mut tail = Tail::following(dir.path(), &["--url", &url, "--token", API_SECRET]);

    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
        200
    );
    let ok = tail.line();
    let ok_fields = fields(&ok);
    assert_eq!(
        ok_fields[..4],
        ["main", "Group.CallbackAfterSendMsg", "ok", "200"],
        "{ok}"
    );
    assert!(ok_fields[4].ends_with("ms"), "latency in {ok:?}");
    assert_eq!(ok_fields[5..], ["probe:ok"], "{ok}");

    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", "a-changed-token", 14),
        401
    );
    let refused = tail.line();
    let refused_fields = fields(&refused);
    assert_eq!(
        refused_fields[..4],
        ["main", "-", "rejected", "401"],
        "{refused}"
    );
    let explanation = refused_fields[4..].join(" ");
    assert!(
        explanation.starts_with("Sign mismatch: app main, RequestTime "),
        "{refused}"
    );
    let age: u64 = explanation
        .strip_prefix("Sign mismatch: app main, RequestTime ")
        .and_then(|rest| rest.strip_suffix(" s old"))
        .and_then(|age| age.parse().ok())
        .unwrap_or_else(|| panic!("no RequestTime age in {refused:?}"));
    assert!((14..=15).contains(&age), "{refused}");
    assert_plain(&tail.out_seen);
    assert!(!refused.contains("a-changed-token") && !refused.contains(API_SECRET));
}

#[test]
fn a_failed_handler_is_named_with_its_error_and_a_bad_pattern_is_refused_in_words() {
    let config = served_config().replace(
        "[handlers.probe]\nenabled = true\n",
        "[handlers.probe]\nenabled = true\nfail = \"error\"\n",
    );
    let (dir, server) = serve(&config);
    let url = format!("http://{}", server.addr);
    let mut tail = Tail::following(dir.path(), &["--url", &url, "--token", API_SECRET]);
    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
        500
    );
    let failed = tail.line();
    let failed_fields = fields(&failed);
    assert_eq!(
        failed_fields[..4],
        ["main", "Group.CallbackAfterSendMsg", "failed", "500"],
        "{failed}"
    );
    assert_eq!(failed_fields[5], "probe:failed", "{failed}");
    assert!(failed.contains(" - Handler failed: app main"), "{failed}");
    assert!(failed.contains("probe failed: "), "{failed}");

    let (code, stdout, stderr) = run_to_end(tail_command(
        dir.path(),
        &[
            "--url",
            &url,
            "--token",
            API_SECRET,
            "--command",
            "Group..X",
        ],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("the server refused the filters: command Group..X"),
        "{stderr}"
    );
}

#[test]
fn json_lines_are_the_records_one_object_per_line() {
    let (dir, server) = serve(&served_config());
    let url = format!("http://{}", server.addr);
    let mut tail = Tail::following(
        dir.path(),
        &["--url", &url, "--token", API_SECRET, "--json"],
    );
    assert_eq!(send(&server, "State.StateChange", APP_TOKEN, 0), 200);
    assert_eq!(
        send(&server, "State.StateChange", "a-changed-token", 0),
        401
    );

    let ok: Value = serde_json::from_str(&tail.line()).expect("a JSON line");
    assert_eq!(ok["outcome"], "ok", "{ok}");
    assert_eq!(ok["command"], "State.StateChange", "{ok}");
    assert_eq!(ok["app"], "main", "{ok}");
    assert_eq!(ok["sdk_app_id"], APP_ID, "{ok}");
    assert_eq!(ok["status"], 200, "{ok}");
    assert_eq!(ok["handlers"][0]["name"], "probe", "{ok}");
    assert_eq!(ok["handlers"][0]["result"], "ok", "{ok}");
    assert!(ok["explanation"].is_null(), "{ok}");
    let first_id = ok["id"].as_u64().expect("a numeric id");

    let refused: Value = serde_json::from_str(&tail.line()).expect("a JSON line");
    assert_eq!(refused["outcome"], "rejected", "{refused}");
    assert_eq!(refused["status"], 401, "{refused}");
    assert_eq!(refused["reason"], "sign_mismatch", "{refused}");
    assert!(
        refused["explanation"]
            .as_str()
            .is_some_and(|text| text.starts_with("Sign mismatch: app main")),
        "{refused}"
    );
    assert!(refused["id"].as_u64().expect("a numeric id") > first_id);
    assert!(!tail.out_seen.join("\n").contains("a-changed-token"));
}

#[test]
fn outcome_and_command_filters_leave_out_the_rest() {
    let (dir, server) = serve(&served_config());
    let url = format!("http://{}", server.addr);
    let mut refusals = Tail::following(
        dir.path(),
        &[
            "--url",
            &url,
            "--token",
            API_SECRET,
            "--outcome",
            "rejected",
        ],
    );
    let mut state_only = Tail::following(
        dir.path(),
        &["--url", &url, "--token", API_SECRET, "--command", "State.*"],
    );

    // ok, refused, ok (another command), refused, ok (State).
    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
        200
    );
    assert_eq!(send(&server, "State.StateChange", "wrong", 0), 401);
    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
        200
    );
    assert_eq!(send(&server, "Group.CallbackAfterSendMsg", "wrong", 0), 401);
    assert_eq!(send(&server, "State.StateChange", APP_TOKEN, 0), 200);

    // The records come in order: had an ok one passed the filter, it would come before the
    // second refusal.
    for _ in 0..2 {
        let line = refusals.line();
        assert_eq!(fields(&line)[2], "rejected", "{line}");
    }
    let line = state_only.line();
    assert_eq!(fields(&line)[1..3], ["State.StateChange", "ok"], "{line}");
}

#[test]
fn a_dropped_connection_is_resumed_after_the_last_callback_shown() {
    let (dir, server) = serve(&served_config());
    let proxy = CuttingProxy::start(server.addr.parse().unwrap());
    let url = format!("http://{}/api/v1/callbacks/stream", proxy.addr);
    let mut tail = Tail::following(dir.path(), &["--url", &url, "--token", API_SECRET]);

    assert_eq!(
        send(&server, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
        200
    );
    assert_eq!(fields(&tail.line())[1], "Group.CallbackAfterSendMsg");

    // Cut the connection and refuse new ones; what arrives meanwhile must still be shown.
    proxy.set_down(true);
    let lost = tail.stderr_line("connection to ");
    assert!(lost.contains("resuming after callback"), "{lost}");
    assert_eq!(send(&server, "State.StateChange", APP_TOKEN, 0), 200);
    tail.stderr_line("cannot reconnect: ");
    proxy.set_down(false);
    tail.stderr_line("reconnected to ");

    assert_eq!(
        send(&server, "Group.CallbackBeforeSendMsg", APP_TOKEN, 0),
        200
    );
    let resumed = tail.line();
    assert_eq!(fields(&resumed)[1], "State.StateChange", "{resumed}");
    let next = tail.line();
    assert_eq!(fields(&next)[1], "Group.CallbackBeforeSendMsg", "{next}");
}

#[test]
fn after_a_server_restart_its_callbacks_are_shown_from_the_first() {
    let (dir, first) = serve(&served_config());
    let proxy = CuttingProxy::start(first.addr.parse().unwrap());
    let url = format!("http://{}", proxy.addr);
    let mut tail = Tail::following(dir.path(), &["--url", &url, "--token", API_SECRET]);
    for _ in 0..3 {
        assert_eq!(
            send(&first, "Group.CallbackAfterSendMsg", APP_TOKEN, 0),
            200
        );
        tail.line();
    }

    // A new server counts its ids from 1 again: "after 3" must not hide its first callbacks.
    proxy.set_down(true);
    tail.stderr_line("connection to ");
    drop(first);
    let (_second_dir, second) = serve(&served_config());
    proxy.set_upstream(second.addr.parse().unwrap());
    assert_eq!(send(&second, "State.StateChange", APP_TOKEN, 0), 200);
    proxy.set_down(false);
    let restarted = tail.stderr_line("reconnected to ");
    assert!(restarted.contains("the server restarted"), "{restarted}");
    let line = tail.line();
    assert_eq!(fields(&line)[1], "State.StateChange", "{line}");
}

#[test]
fn a_refused_api_token_names_where_it_came_from_and_is_never_printed() {
    let (dir, server) = serve(&served_config());
    let url = format!("http://{}", server.addr);

    let (code, stdout, stderr) = run_to_end(tail_command(
        dir.path(),
        &["--url", &url, "--token", "stale-api-token"],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("refused the API token from --token"),
        "{stderr}"
    );
    assert!(stderr.contains(&url), "{stderr}");

    let mut from_env = tail_command(dir.path(), &["--url", &url]);
    from_env.env("CHATHOOK_API_TOKEN", "stale-api-token");
    let (code, _, stderr) = run_to_end(from_env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("refused the API token from CHATHOOK_API_TOKEN"),
        "{stderr}"
    );

    // Neither flag: both from the config file, its listen address 0.0.0.0 read as loopback.
    let port = server.addr.rsplit_once(':').unwrap().1;
    let client_dir = tempfile::tempdir().unwrap();
    let client_config = client_config(client_dir.path(), port, "stale-api-token");
    let (code, _, stderr) = run_to_end(tail_command(
        client_dir.path(),
        &["--config", client_config.to_str().unwrap()],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "refused the API token from the first [api] tokens entry (file {})",
            client_config.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/api/v1/callbacks/stream")),
        "{stderr}"
    );
    assert!(!stderr.contains("stale-api-token"), "{stderr}");
}

/// A config for the tail's side: `server.listen_addr` on all interfaces at `port` and one
/// API token.
fn client_config(dir: &Path, port: &str, token: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "{APP_TOML}[server]\nlisten_addr = \"0.0.0.0:{port}\"\n[api]\ntokens = [\"{token}\"]\n"
        ),
    )
}

#[test]
fn the_config_gives_the_address_and_token_when_no_flag_does() {
    let (_dir, server) = serve(&served_config());
    let port = server.addr.rsplit_once(':').unwrap().1;
    let client_dir = tempfile::tempdir().unwrap();
    let client_config = client_config(client_dir.path(), port, API_SECRET);
    let mut tail = Tail::following(
        client_dir.path(),
        &["--config", client_config.to_str().unwrap()],
    );
    assert_eq!(send(&server, "State.StateChange", APP_TOKEN, 0), 200);
    assert_eq!(
        fields(&tail.line())[..3],
        ["main", "State.StateChange", "ok"]
    );
}

#[test]
fn a_server_without_the_api_or_its_buffer_answers_404_and_tail_says_what_turns_it_on() {
    // No [api] tokens: the API, the stream included, is not served.
    let (dir, server) = serve(APP_TOML);
    let url = format!("http://{}", server.addr);
    let (code, _, stderr) = run_to_end(tail_command(dir.path(), &["--url", &url, "--token", "t"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("answered 404"), "{stderr}");
    assert!(stderr.contains("[api] tokens"), "{stderr}");
    assert!(stderr.contains("[console] recent > 0"), "{stderr}");

    // The API served with the buffer off: the server's words say so.
    let (dir, server) = serve(&format!("{}[console]\nrecent = 0\n", served_config()));
    let url = format!("http://{}", server.addr);
    let (code, _, stderr) = run_to_end(tail_command(
        dir.path(),
        &["--url", &url, "--token", API_SECRET],
    ));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("answered 404: the recent-callbacks buffer is off ([console] recent = 0)"),
        "{stderr}"
    );
}

#[test]
fn nothing_listening_names_the_url_and_suggests_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, stderr) = run_to_end(tail_command(dir.path(), &["--url", &url, "--token", "t"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot connect to {url}/api/v1/callbacks/stream: connection refused"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--url"), "{stderr}");
}

#[test]
fn an_unknown_outcome_is_refused_naming_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_to_end(tail_command(
        dir.path(),
        &["--url", "http://127.0.0.1:1", "--outcome", "ok,refused"],
    ));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("'refused'"), "{stderr}");
    assert!(
        stderr.contains("ok, fallback, failed, timed_out, rejected, unrouted"),
        "{stderr}"
    );
}

/// A TCP proxy that can cut every connection and refuse new ones until told otherwise, and
/// forward to another upstream from then on.
struct CuttingProxy {
    addr: SocketAddr,
    down: tokio::sync::watch::Sender<bool>,
    upstream: Arc<Mutex<SocketAddr>>,
    _runtime: tokio::runtime::Runtime,
}

impl CuttingProxy {
    fn start(upstream: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let down = tokio::sync::watch::Sender::new(false);
        let watch = down.clone();
        let upstream = Arc::new(Mutex::new(upstream));
        let target = Arc::clone(&upstream);
        runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // dropped: closed at once
                }
                let mut cut = watch.subscribe();
                let upstream = *target.lock().unwrap();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Self {
            addr,
            down,
            upstream,
            _runtime: runtime,
        }
    }

    /// Where new connections go.
    fn set_upstream(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }

    /// Cuts every connection and refuses new ones (`true`), or forwards again (`false`).
    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

#[test]
fn an_observer_that_ends_after_the_answer_is_shown_again_when_it_ends() {
    let config = format!(
        "{}[handlers.recorder_a]\nenabled = true\ncommands = [\"Group.CallbackBeforeSendMsg\"]\n\
         decides = false\ndelay_ms = 300\ntag = \"tail-update-{}\"\n",
        served_config(),
        std::process::id()
    );
    let (dir, server) = serve(&config);
    let url = format!("http://{}", server.addr);
    let mut tail = Tail::following(dir.path(), &["--url", &url, "--token", API_SECRET]);
    assert_eq!(
        send(&server, "Group.CallbackBeforeSendMsg", APP_TOKEN, 0),
        200
    );
    let answered = tail.line();
    let answered_fields = fields(&answered);
    assert_eq!(
        answered_fields[..4],
        ["main", "Group.CallbackBeforeSendMsg", "ok", "200"],
        "{answered}"
    );
    assert_eq!(
        answered_fields[5..],
        ["probe:ok,", "recorder_a:running"],
        "{answered}"
    );
    let updated = tail.line();
    let rest = updated
        .strip_prefix("↳ ")
        .unwrap_or_else(|| panic!("{updated:?} is not marked as an update"));
    let updated_fields = fields(rest);
    assert_eq!(updated_fields[..4], answered_fields[..4], "{updated}");
    assert_eq!(
        updated_fields[5..],
        ["probe:ok,", "recorder_a:ok"],
        "{updated}"
    );
}
