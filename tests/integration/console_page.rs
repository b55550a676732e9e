//! `/console` in a real headless Chromium, driven over WebDriver by chromedriver: sign-in,
//! the live stream, filters, a refusal's reason, the detail, pausing, the counts chart and a
//! read-receipt lookup, against the real server.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`).
//! With `CHATHOOK_CONSOLE_SCREENSHOT=docs/console.png` the test also saves its screenshot
//! there (relative paths are from the repository root), as the README's picture is made.

use std::future::Future;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chathook_core::commands::GROUP_CALLBACK_AFTER_READ_RECEIPT as READ_RECEIPT;
use chathook_tests::*;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for anything the page should show; generous for a loaded 2-core CI machine.
const PATIENCE: Duration = Duration::from_secs(20);
/// The fixture's group and the message whose receipt it carries (read by user0 and user1).
const GROUP: &str = "@TGS#2TTV7VSII";

/// chromedriver on a port of its own, killed when dropped.
pub(crate) struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    pub(crate) async fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "the console test drives a real browser: {path} (Debian package {package}) is \
                 missing; run `apt-get install chromium chromium-driver`"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {CHROMEDRIVER}: {error}"));
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        eventually("chromedriver to answer /status", || async {
            let body: Value = reqwest::get(&status).await.ok()?.json().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        })
        .await;
        driver
    }

    pub(crate) async fn browser(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--window-size=1366,900"],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("chromedriver could not start {CHROMIUM}: {error}"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it gives a value, for at most [`PATIENCE`]; panics naming `what`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `script` in the page and returns its result.
pub(crate) async fn js(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|error| panic!("script {script:?} failed: {error}"))
}

/// Waits until `script` returns something other than null, false or "".
pub(crate) async fn wait_js(browser: &Client, what: &str, script: &str) -> Value {
    eventually(what, || async {
        let value = js(browser, script).await;
        let empty = value.is_null() || value == false || value == "";
        (!empty).then_some(value)
    })
    .await
}

/// The ids of the rows in `#callbacks`, top first.
async fn row_ids(browser: &Client) -> Vec<u64> {
    let ids = js(
        browser,
        "return [...document.querySelectorAll('#callbacks tbody tr[data-id]')]\
           .map((row) => Number(row.dataset.id));",
    )
    .await;
    serde_json::from_value(ids).expect("row ids")
}

/// The newest record the server keeps that satisfies `pick`, as `/api/v1/callbacks` gives it.
pub(crate) async fn newest_record(server: &TestServer, pick: impl Fn(&Value) -> bool) -> Value {
    let response = server
        .client
        .get(server.url("/api/v1/callbacks"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("list callbacks");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["callbacks"]
        .as_array()
        .expect("callbacks")
        .iter()
        .find(|record| pick(record))
        .cloned()
        .unwrap_or_else(|| panic!("no such record in {body}"))
}

async fn wait_for_row(browser: &Client, id: u64) -> Element {
    let selector = format!("#callbacks tbody tr[data-id=\"{id}\"]");
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&selector))
        .await
        .unwrap_or_else(|error| panic!("row {id} never showed: {error}"))
}

async fn wait_rows(browser: &Client, what: &str, check: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    eventually(what, || async {
        let ids = row_ids(browser).await;
        check(&ids).then_some(ids)
    })
    .await
}

async fn text_of(browser: &Client, selector: &str) -> String {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("{selector}: {error}"))
        .text()
        .await
        .expect("text")
}

pub(crate) async fn type_into(browser: &Client, selector: &str, text: &str) {
    let input = browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("{selector}: {error}"));
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

async fn choose(browser: &Client, selector: &str, value: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("{selector}: {error}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|error| panic!("{selector} = {value:?}: {error}"));
}

pub(crate) async fn click(browser: &Client, selector: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|error| panic!("{selector}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("click {selector}: {error}"));
}

/// WebDriver's Enter key.
const ENTER: &str = "\u{e007}";

async fn post_ok(server: &TestServer, command: &str, body: String) {
    let (status, reply) = server.post(&fresh_query(command), body).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn the_console_shows_live_callbacks_filters_refusals_and_read_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = base_config();
    set_console(&mut config, "capture_bodies", true);
    enable(
        &mut config,
        "read_receipt",
        json!({"database_url": format!("sqlite://{}", dir.path().join("receipts.db").display())}),
    );
    let server = TestServer::start(config).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    // Always end the session, so no Chromium outlives a failed test.
    let outcome = AssertUnwindSafe(walk_through(&server, &browser))
        .catch_unwind()
        .await;
    let closed = browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("close the browser session");
    server.stop().await.unwrap();
}

async fn walk_through(server: &TestServer, browser: &Client) {
    browser.goto(&server.url("/console")).await.unwrap();
    wait_js(
        browser,
        "the sign-in form",
        "return !document.getElementById('login-view').hidden",
    )
    .await;

    // A wrong token: the server's words, nothing kept, still signed out.
    type_into(browser, "#token", "not-the-api-token").await;
    click(browser, "#login").await;
    let error = wait_js(
        browser,
        "the refusal of a wrong token",
        "return document.getElementById('login-error').textContent",
    )
    .await;
    let error = error.as_str().unwrap().to_owned();
    assert!(error.to_lowercase().contains("token"), "{error:?}");
    assert_eq!(
        js(
            browser,
            "return sessionStorage.getItem('chathook.apiToken')"
        )
        .await,
        Value::Null
    );
    assert_eq!(
        js(browser, "return document.getElementById('app').hidden").await,
        true
    );

    // The right one: the console, its stream live, the token kept for the tab.
    type_into(browser, "#token", API_TOKEN).await;
    click(browser, "#login").await;
    wait_js(
        browser,
        "the live stream",
        "return document.getElementById('stream-status').dataset.state === 'live'",
    )
    .await;
    assert_eq!(
        js(
            browser,
            "return sessionStorage.getItem('chathook.apiToken')"
        )
        .await,
        API_TOKEN
    );
    assert_eq!(
        js(
            browser,
            "return document.getElementById('login-view').hidden"
        )
        .await,
        true
    );
    assert_eq!(
        row_ids(browser).await,
        Vec::<u64>::new(),
        "nothing sent yet"
    );

    // The routing table and readiness show the enabled handler.
    let routes = text_of(browser, "#routes").await;
    assert!(routes.contains(READ_RECEIPT), "{routes}");
    assert!(routes.contains("read_receipt"), "{routes}");
    let count_routes = "return document.querySelectorAll('#routes tbody tr[data-command]').length";
    let enabled_routes = js(browser, count_routes).await.as_u64().unwrap();
    click(browser, "#routes-enabled-only").await;
    let all_routes = js(browser, count_routes).await.as_u64().unwrap();
    assert!(
        enabled_routes >= 1 && all_routes > enabled_routes,
        "{enabled_routes} enabled of {all_routes}"
    );
    click(browser, "#routes-enabled-only").await;
    wait_js(
        browser,
        "read_receipt's readiness",
        "const row = document.querySelector('#readiness tr[data-handler=\"read_receipt\"]');\
         return row && row.textContent.includes('ready');",
    )
    .await;

    // A callback sent now arrives through the live stream.
    post_ok(server, READ_RECEIPT, fixture(READ_RECEIPT)).await;
    let stored = newest_record(server, |record| record["command"] == READ_RECEIPT).await;
    let stored_id = stored["id"].as_u64().unwrap();
    let row = wait_for_row(browser, stored_id).await;
    assert_eq!(
        row.attr("data-outcome").await.unwrap().as_deref(),
        Some("ok")
    );
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains(READ_RECEIPT), "{row_text}");
    assert!(row_text.contains("main"), "{row_text}");
    assert!(row_text.contains("200"), "{row_text}");

    // Only refusals: the stored callback goes; a refusal sent now comes, with its reason.
    choose(browser, "#filter-outcome", "rejected").await;
    wait_rows(browser, "the filter to hide the accepted callback", |ids| {
        ids.is_empty()
    })
    .await;
    let wrong = signed_query(READ_RECEIPT, "not-a-token-of-this-app", now());
    let (status, reply) = server.post(&wrong, fixture(READ_RECEIPT)).await;
    assert_eq!(status, 401, "{reply}");
    let refused = newest_record(server, |record| record["reason"] == "sign_mismatch").await;
    let refused_id = refused["id"].as_u64().unwrap();
    let row = wait_for_row(browser, refused_id).await;
    assert_eq!(
        row.attr("data-outcome").await.unwrap().as_deref(),
        Some("rejected")
    );
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("Sign mismatch"), "{row_text}");
    assert!(row_text.contains("401"), "{row_text}");
    assert_eq!(
        row_ids(browser).await,
        [refused_id],
        "only the refusal shows"
    );

    // Every outcome again: both, newest on top.
    choose(browser, "#filter-outcome", "").await;
    wait_rows(browser, "both callbacks after clearing the filter", |ids| {
        ids == [refused_id, stored_id]
    })
    .await;

    // A command pattern: the refusal (refused before its command was believed) goes.
    type_into(browser, "#filter-command", &format!("Group.*{ENTER}")).await;
    wait_rows(browser, "the command pattern to leave one row", |ids| {
        ids == [stored_id]
    })
    .await;
    type_into(browser, "#filter-command", ENTER).await;
    wait_rows(browser, "both rows after clearing the pattern", |ids| {
        ids == [refused_id, stored_id]
    })
    .await;

    // The refusal's detail: its reason, its words, and no handler ran.
    click(browser, &format!("#callbacks tr[data-id=\"{refused_id}\"]")).await;
    let detail = wait_js(
        browser,
        "the refusal's detail",
        "const d = document.getElementById('detail'); return !d.hidden && d.innerText;",
    )
    .await;
    let detail = detail.as_str().unwrap();
    for words in ["sign_mismatch", "Sign mismatch", "401", "No handler ran"] {
        assert!(detail.contains(words), "{words:?} in {detail}");
    }
    if let Some(explanation) = refused["explanation"].as_str() {
        assert!(detail.contains(explanation), "{explanation:?} in {detail}");
    }

    // The stored callback's detail: its handler and its captured body.
    click(browser, &format!("#callbacks tr[data-id=\"{stored_id}\"]")).await;
    let detail = wait_js(
        browser,
        "the stored callback's detail",
        &format!(
            "const d = document.getElementById('detail');\
             return !d.hidden && d.innerText.includes('#{stored_id}') && d.innerText;"
        ),
    )
    .await;
    let detail = detail.as_str().unwrap();
    let handlers = text_of(browser, "#detail table.handlers").await;
    assert!(handlers.contains("read_receipt"), "{handlers}");
    assert!(handlers.contains("runs"), "{handlers}");
    assert!(detail.contains(GROUP), "the captured body: {detail}");

    // Paused, a new callback is counted, not shown; resumed, it shows.
    click(browser, "#pause").await;
    post_ok(server, READ_RECEIPT, fixture(READ_RECEIPT)).await;
    wait_js(
        browser,
        "the paused count",
        "return document.getElementById('pause').textContent.includes('1 new')",
    )
    .await;
    assert_eq!(row_ids(browser).await, [refused_id, stored_id]);
    click(browser, "#pause").await;
    let ids = wait_rows(browser, "the held callback after resuming", |ids| {
        ids.len() == 3
    })
    .await;
    assert!(ids[0] > refused_id, "{ids:?}");

    // The counts chart and the reasons in its window.
    wait_js(
        browser,
        "bars for ok and rejected",
        "return document.querySelector('#chart rect.bar.o-ok')\
             && document.querySelector('#chart rect.bar.o-rejected');",
    )
    .await;
    wait_js(
        browser,
        "sign_mismatch among the reasons",
        "const row = document.querySelector('#reasons tr[data-reason=\"sign_mismatch\"]');\
         return row && row.textContent.includes('1');",
    )
    .await;

    // The read receipt the fixture stored, and one that does not exist.
    // Prefilled with the overview's first app ("dev", as apps are listed by name).
    let app = js(browser, "return document.getElementById('rr-app').value").await;
    assert_eq!(app, UNSIGNED_APP_ID.to_string());
    type_into(browser, "#rr-app", &APP_ID.to_string()).await;
    type_into(browser, "#rr-group", GROUP).await;
    let result = look_up(browser, "2", "user1").await;
    for words in ["user0", "user1", "2 read", "5 unread", GROUP] {
        assert!(result.contains(words), "{words:?} in {result}");
    }
    let result = look_up(browser, "3", "no read receipt").await;
    assert!(result.contains("message 3"), "{result}");

    // More traffic for the picture: a callback no handler serves and a stale signature.
    post_ok(
        server,
        "State.StateChange",
        json!({"CallbackCommand": "State.StateChange",
               "Info": {"Action": "Login", "To_Account": "alice"}})
        .to_string(),
    )
    .await;
    let stale = signed_query(READ_RECEIPT, TOKEN, now() - 3600);
    let (status, _) = server.post(&stale, fixture(READ_RECEIPT)).await;
    assert_eq!(status, 401);
    wait_rows(browser, "five rows", |ids| ids.len() == 5).await;
    click(browser, &format!("#callbacks tr[data-id=\"{refused_id}\"]")).await;
    js(browser, "window.scrollTo(0, 0)").await;
    if std::env::var_os("CHATHOOK_CONSOLE_SCREENSHOT").is_some() {
        // For the README's picture, the chart's next poll shows all five.
        wait_js(
            browser,
            "the chart to count five callbacks",
            "return document.getElementById('chart-total').textContent.startsWith('5 ')",
        )
        .await;
    }
    screenshot(browser).await;

    // The token is for the tab: a reload keeps the console, and nothing carried it in a URL.
    browser.refresh().await.unwrap();
    wait_js(
        browser,
        "the console after a reload",
        "return document.getElementById('stream-status').dataset.state === 'live'",
    )
    .await;
    wait_rows(browser, "the rows after a reload", |ids| ids.len() == 5).await;
    let urls = js(
        browser,
        "return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)];",
    )
    .await;
    let urls: Vec<String> = serde_json::from_value(urls).unwrap();
    // (A stream still open is not listed yet: entries are added when a response ends.)
    for path in [
        "/api/v1/overview",
        "/api/v1/callbacks?",
        "/api/v1/callbacks/counts?",
    ] {
        assert!(
            urls.iter().any(|url| url.contains(path)),
            "{path} in {urls:?}"
        );
    }
    for url in &urls {
        assert!(!url.contains(API_TOKEN), "the token is in {url}");
    }
    assert_eq!(js(browser, "return document.cookie").await, "");

    // Signing out forgets it.
    click(browser, "#logout").await;
    wait_js(
        browser,
        "the sign-in form after signing out",
        "return !document.getElementById('login-view').hidden",
    )
    .await;
    assert_eq!(
        js(
            browser,
            "return sessionStorage.getItem('chathook.apiToken')"
        )
        .await,
        Value::Null
    );
}

/// Takes a screenshot, checks it is a PNG, and keeps it where `CHATHOOK_CONSOLE_SCREENSHOT`
/// says, if it says.
async fn screenshot(browser: &Client) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("console.png"), &png).unwrap();
    if let Some(target) = std::env::var_os("CHATHOOK_CONSOLE_SCREENSHOT") {
        let mut path = PathBuf::from(target);
        if path.is_relative() {
            // Tests run in tests/; a relative path means the repository root.
            path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, &png).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    }
}

/// Looks up message `seq` of the group in the form and returns the result's text once it
/// contains `shown`.
async fn look_up(browser: &Client, seq: &str, shown: &str) -> String {
    type_into(browser, "#rr-seq", seq).await;
    click(browser, "#rr-lookup").await;
    let script = format!(
        "const r = document.getElementById('rr-result').innerText;\
         return r.includes({shown:?}) && r;"
    );
    let result = wait_js(browser, &format!("the lookup of message {seq}"), &script).await;
    result.as_str().unwrap().to_owned()
}
