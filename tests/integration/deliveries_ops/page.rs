//! The console's Deliveries view in headless Chromium against the real server: a dead letter
//! shows under its handler, its attempts open, Retry delivers it and it leaves the dead list,
//! Discard (asked twice) removes one; on a server with no queued handler, a note says so.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use chathook_tests::*;
use fantoccini::Client;
use futures_util::FutureExt as _;
use reqwest::Method;
use serde_json::json;

use super::{call, get_ok, ids};
use crate::console_page::{Chromedriver, click, eventually, js, type_into, wait_js};
use crate::journal::{COMMAND, numbered_body, queued_config};

#[tokio::test]
async fn the_deliveries_view_retries_and_discards_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "").unwrap();
    let config = queued_config(
        dir.path(),
        json!({"fail_while": broken}),
        json!({"max_attempts": 1}),
    );
    let server = TestServer::start(config).await;
    let bare = TestServer::start(base_config()).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    // Always end the session, so no Chromium outlives a failed test.
    let outcome = AssertUnwindSafe(walk_through(&server, &bare, &browser, &broken))
        .catch_unwind()
        .await;
    let closed = browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    closed.expect("close the browser session");
    server.stop().await.unwrap();
    bare.stop().await.unwrap();
}

async fn sign_in(server: &TestServer, browser: &Client) {
    browser.goto(&server.url("/console")).await.unwrap();
    wait_js(
        browser,
        "the sign-in form",
        "return !document.getElementById('login-view').hidden",
    )
    .await;
    type_into(browser, "#token", API_TOKEN).await;
    click(browser, "#login").await;
    wait_js(
        browser,
        "the signed-in page",
        "return !document.getElementById('app').hidden",
    )
    .await;
}

/// The ids in the Deliveries list, top first.
async fn listed(browser: &Client) -> Vec<i64> {
    let ids = js(
        browser,
        "return [...document.querySelectorAll('#deliveries tbody tr[data-id]')]\
           .map((row) => Number(row.dataset.id));",
    )
    .await;
    serde_json::from_value(ids).expect("ids")
}

async fn walk_through(server: &TestServer, bare: &TestServer, browser: &Client, broken: &Path) {
    for seq in 0..2 {
        let reply = server
            .post(&fresh_query(COMMAND), numbered_body("@TGS#page", seq))
            .await;
        assert_eq!(reply.0, 200, "{}", reply.1);
    }
    let dead = eventually("two dead letters", || async {
        let listed = get_ok(server, "?state=dead").await;
        let dead = ids(&listed);
        (dead.len() == 2).then_some(dead)
    })
    .await;

    sign_in(server, browser).await;
    let dead_count = "#deliveries-summary tr[data-handler='flaky'] td.dead button";
    wait_js(
        browser,
        "flaky's two dead letters in the summary",
        &format!("return document.querySelector(\"{dead_count}\")?.textContent === '2'"),
    )
    .await;
    click(browser, dead_count).await;
    eventually("the dead list", || async {
        (listed(browser).await == dead).then_some(())
    })
    .await;

    // One delivery's attempts.
    let (retried, discarded) = (dead[0], dead[1]);
    click(
        browser,
        &format!("#deliveries tr[data-id='{retried}'] td.command"),
    )
    .await;
    let attempt = wait_js(
        browser,
        "the delivery's attempts",
        "const row = document.querySelector('#delivery-detail .attempts tbody tr');\
         return row ? row.textContent : null;",
    )
    .await;
    assert!(
        attempt.as_str().unwrap().contains("downstream is down"),
        "{attempt}"
    );

    // The handler is fixed; Retry delivers it and it leaves the dead list.
    std::fs::remove_file(broken).unwrap();
    click(
        browser,
        &format!("#deliveries tr[data-id='{retried}'] button[data-action='retry']"),
    )
    .await;
    eventually("the retried one gone from the dead list", || async {
        (listed(browser).await == [discarded]).then_some(())
    })
    .await;
    eventually("the retried one delivered", || async {
        let shown = get_ok(server, &format!("/{retried}")).await;
        (shown["state"] == "delivered").then_some(())
    })
    .await;
    let done = js(
        browser,
        "return document.getElementById('deliveries-done').textContent",
    )
    .await;
    assert_eq!(done, format!("Delivery {retried}: retried (1), due now."));

    // Discard asks first, then removes it.
    let discard = format!("#deliveries tr[data-id='{discarded}'] button[data-action='discard']");
    click(browser, &discard).await;
    let asked = js(
        browser,
        &format!("return document.querySelector(\"{discard}\").textContent"),
    )
    .await;
    assert_eq!(asked, "Confirm discard");
    assert_eq!(
        listed(browser).await,
        [discarded],
        "nothing is discarded on the first click"
    );
    click(browser, &discard).await;
    eventually("the discarded one gone", || async {
        listed(browser).await.is_empty().then_some(())
    })
    .await;
    let (status, _) = call(server, Method::GET, &format!("/{discarded}"), None).await;
    assert_eq!(status, 404);
    wait_js(
        browser,
        "the summary at 0 dead",
        &format!("return document.querySelector(\"{dead_count}\")?.textContent === '0'"),
    )
    .await;

    // A server with no queued handler keeps no journal, and the view says so.
    sign_in(bare, browser).await;
    let note = wait_js(
        browser,
        "the no-journal note",
        "const note = document.getElementById('deliveries-off');\
         return note.hidden ? null : note.textContent;",
    )
    .await;
    assert!(
        note.as_str().unwrap().contains("No handler is queued"),
        "{note}"
    );
}
