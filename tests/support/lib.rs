//! chathook-tests: run the real chathook server on a real socket, with test-only handlers.
//!
//! [`TestServer`] builds the service in process from a [`Config`] made in code and serves it
//! on `127.0.0.1:0`; [`server_binary`] is the `chathook-test-server` executable (the stock CLI
//! plus these handlers and the test tool of [`tools`]) for tests of the command line and the
//! environment.

pub mod flaky;
pub mod handlers;
pub mod nats;
pub mod process;
pub mod proxy;
pub mod relay;
pub mod tools;

use example_crm_sync as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use chathook_core::auth::{Secret, sign};
use chathook_core::config::{AppConfig, HandlerTable};
use chathook_core::{Chathook, Config, StartupError};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// SDKAppID of the signed test app.
pub const APP_ID: u64 = 1_400_000_000;
/// Its current token.
pub const TOKEN: &str = "test-token-current";
/// Its previous token, still active during rotation.
pub const OLD_TOKEN: &str = "test-token-previous";
/// SDKAppID of an app that opted out of signatures.
pub const UNSIGNED_APP_ID: u64 = 1_400_000_009;
/// The `[api]` bearer token.
pub const API_TOKEN: &str = "api-token-for-tests";

/// `[console] key = value` in `config`, as the file would set it.
pub fn set_console(config: &mut Config, key: &str, value: impl Into<Value>) {
    let table = config
        .extensions
        .entry("console".into())
        .or_insert_with(|| Value::Object(Map::new()));
    table[key] = value.into();
}

/// A config with one signed app (two tokens), one unsigned app and an API token.
pub fn base_config() -> Config {
    let mut config = Config::default();
    config.apps.insert(
        "main".into(),
        AppConfig {
            sdk_app_id: APP_ID,
            tokens: vec![Secret::new(TOKEN), Secret::new(OLD_TOKEN)],
            allow_unsigned: false,
        },
    );
    config.apps.insert(
        "dev".into(),
        AppConfig {
            sdk_app_id: UNSIGNED_APP_ID,
            tokens: Vec::new(),
            allow_unsigned: true,
        },
    );
    config.api.tokens = vec![Secret::new(API_TOKEN)];
    config
}

/// Enables handler `name` in `config` with `table`: a JSON object of its settings and of the
/// platform's keys (`commands`, `decides`, `fallback`), read as the config file's table is.
pub fn enable(config: &mut Config, name: &str, table: Value) {
    let Value::Object(mut table) = table else {
        panic!("a handler table must be a JSON object");
    };
    table.insert("enabled".into(), Value::Bool(true));
    let table: HandlerTable =
        serde_json::from_value(Value::Object(table)).expect("a handler table");
    config.handlers.insert(name.into(), table);
}

/// A handler table with no settings, enabled.
pub fn enabled_table() -> HandlerTable {
    HandlerTable {
        enabled: true,
        settings: Map::new(),
        ..HandlerTable::default()
    }
}

/// Unix time now, in seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The query string Chat would send for `command` from the signed app, signed with `token`
/// at `time`.
pub fn signed_query(command: &str, token: &str, time: u64) -> String {
    format!(
        "SdkAppid={APP_ID}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1\
         &OptPlatform=Android&Sign={}&RequestTime={time}",
        sign(token, time)
    )
}

/// [`signed_query`] with the current token, now.
pub fn fresh_query(command: &str) -> String {
    signed_query(command, TOKEN, now())
}

/// The bundled sample request body for `command` (what `chathook fixtures` prints).
pub fn fixture(command: &str) -> String {
    chathook_cli::fixtures::fixture(command)
        .unwrap_or_else(|| panic!("no bundled fixture for {command}"))
        .to_owned()
}

/// Path of the `chathook-test-server` binary, when called from this package's tests.
#[macro_export]
macro_rules! server_binary {
    () => {
        env!("CARGO_BIN_EXE_chathook-test-server")
    };
}

/// The real service on a real socket, stopped gracefully by [`TestServer::stop`].
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// A client for talking to it.
    pub client: reqwest::Client,
}

impl TestServer {
    /// Builds and serves `config`; panics if it does not start.
    pub async fn start(config: Config) -> Self {
        match Self::try_start(config).await {
            Ok(server) => server,
            Err(error) => panic!("server did not start: {error}"),
        }
    }

    /// Builds and serves `config` on `127.0.0.1:0`.
    pub async fn try_start(config: Config) -> Result<Self, StartupError> {
        let service = Chathook::build(config).await?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
            task,
            client: reqwest::Client::new(),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to `/callback?<query>` and returns status and JSON reply.
    pub async fn post(&self, query: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/callback?{query}")))
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("reply body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("reply {text:?} is not JSON: {error}"));
        (status, json)
    }

    /// GETs `path` and returns status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// The current value of one Prometheus series, e.g. `chathook_callbacks_in_flight`.
    pub async fn metric(&self, series: &str) -> f64 {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        metric(&text, series)
    }

    /// Writes `request` as-is on a new connection and returns everything read back until the
    /// server closes it (send `Connection: close`).
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        stream.write_all(request).await.expect("write request");
        let mut response = Vec::new();
        // The server may answer and close before reading the whole body; what was read counts.
        let _ = stream.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Stops accepting, waits for in-flight requests, and returns how serving ended.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task).await.expect("server task")
    }
}

/// Asserts a FAIL reply: its status, `ErrorCode`, and words in `ErrorInfo`.
pub fn assert_fail(reply: &(u16, Value), status: u16, code: i64, info_contains: &str) {
    let (got_status, body) = reply;
    assert_eq!(*got_status, status, "{body}");
    assert_eq!(body["ActionStatus"], "FAIL", "{body}");
    assert_eq!(body["ErrorCode"], code, "{body}");
    let info = body["ErrorInfo"].as_str().expect("ErrorInfo is a string");
    assert!(
        info.contains(info_contains),
        "{info:?} should mention {info_contains:?}"
    );
}

/// The value of a Prometheus sample line such as `name{labels} 3`, or 0 if absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("numeric sample"))
}

/// The PostgreSQL server tests use: `TEST_POSTGRES_URL`, or the one on every developer and CI
/// machine.
pub fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own on the test PostgreSQL server, so concurrent tests (and purges) never
/// see each other's rows. Dropped with everything in it when this is dropped, even by a
/// failing test, so test runs leave nothing behind in the shared database.
pub struct PostgresSchema {
    /// The database URL, with the schema as its search path.
    pub url: String,
    name: String,
}

/// A new [`PostgresSchema`].
pub async fn fresh_postgres_schema() -> PostgresSchema {
    use sqlx::Connection as _;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = postgres_url();
    let name = format!(
        "chathook_test_{}_{}_{}",
        std::process::id(),
        now(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut connection = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL at {base} (set TEST_POSTGRES_URL): {error}"));
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut connection)
        .await
        .expect("create test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    PostgresSchema {
        url: format!("{base}{separator}options=-c%20search_path%3D{name}"),
        name,
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let name = std::mem::take(&mut self.name);
        // On a thread of its own: this may run inside a test's runtime, which cannot block.
        let dropped = std::thread::spawn(move || {
            block_on_new_runtime(async move {
                let mut connection = sqlx::PgConnection::connect(&postgres_url()).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut connection)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop a test schema: {error}");
        }
    }
}

fn block_on_new_runtime<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A second connection that holds SQLite's write lock on `url` until it is dropped, as another
/// process would: the store under test can commit nothing meanwhile.
pub async fn lock_sqlite(url: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;
    let mut blocker = sqlx::SqliteConnection::connect(url)
        .await
        .expect("open SQLite");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .expect("take the write lock");
    blocker
}
