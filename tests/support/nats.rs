//! NATS for the tests: the shared server every machine runs at `127.0.0.1:4222`, a server of
//! a test's own that it can stop and restart, and reading a stream back.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use futures_util::StreamExt as _;

/// The NATS server on every developer and CI machine.
pub const SHARED_NATS: &str = "nats://127.0.0.1:4222";

/// A subject prefix and stream name no other test uses, so tests can share one server.
pub fn unique_stream(test: &str) -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("{}_{}_{n}", std::process::id(), test.replace('-', "_"));
    (format!("t{id}"), format!("T{id}").to_uppercase())
}

/// A `nats-server -js` of the test's own on a free port with a store in a temporary
/// directory, which the test can kill and start again with the same port and store.
pub struct OwnNats {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    store: tempfile::TempDir,
    args: Vec<String>,
}

impl OwnNats {
    /// Starts it on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::on(Self::free_port())
    }

    /// A port no server listens on yet, for a NATS the test starts later with [`OwnNats::on`].
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
    }

    /// Starts one on `port`.
    pub fn on(port: u16) -> Self {
        Self::with_args(port, &[])
    }

    /// Starts one on `port` with more `nats-server` arguments (`--user`, `--pass`, ...).
    pub fn with_args(port: u16, args: &[&str]) -> Self {
        let mut nats = Self {
            child: None,
            port,
            store: tempfile::tempdir().expect("a store directory"),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        nats.restart();
        nats
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: nothing is flushed on the way out).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and store, once it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts (apt-get install nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One stored message, as a consumer reads it.
#[derive(Debug)]
pub struct Stored {
    /// Its subject.
    pub subject: String,
    /// Its headers.
    pub headers: async_nats::HeaderMap,
    /// Its payload.
    pub payload: bytes::Bytes,
}

impl Stored {
    /// One header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.as_str())
    }
}

/// Every message of `stream` on the server at `url`, in stream order, read by a pull
/// consumer of the test's own; none when the stream does not exist.
pub async fn read_stream(url: &str, stream: &str) -> Vec<Stored> {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let jetstream = jetstream::new(client);
    // Not (yet) made: nothing stored.
    let Ok(stream) = jetstream.get_stream(stream).await else {
        return Vec::new();
    };
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("a consumer");
    let mut stored = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .expect("a batch");
        let before = stored.len();
        while let Some(message) = batch.next().await {
            let message = message.expect("a message");
            stored.push(Stored {
                subject: message.subject.to_string(),
                headers: message.headers.clone().unwrap_or_default(),
                payload: message.payload.clone(),
            });
        }
        if stored.len() == before {
            return stored;
        }
    }
}

/// Deletes `stream` from the shared server (tests clean up what they made).
pub async fn delete_stream(url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let _ = jetstream::new(client).delete_stream(stream).await;
    }
}
