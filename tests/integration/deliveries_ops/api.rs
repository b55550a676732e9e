//! `/api/v1/deliveries` on a real server whose `flaky` handler fails until the test removes a
//! file: dead letters listed, filtered and shown with their attempts, retried one at a time
//! and all at once, replayed, discarded; every bad parameter refused by name.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chathook_core::deliveries::{format_time, unix_ms};
use chathook_tests::flaky::read_attempts;
use chathook_tests::*;
use reqwest::Method;
use serde_json::{Value, json};

use super::{call, get_ok, ids};
use crate::journal::{COMMAND, delivered, numbered_body, queued_config};

/// Polls `GET path` until `check` holds on its answer, for at most 20 s.
async fn wait_for(server: &TestServer, path: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = get_ok(server, path).await;
        if check(&body) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: last {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn flaky_line(summary: &Value) -> &Value {
    summary["handlers"]
        .as_array()
        .and_then(|lines| lines.iter().find(|line| line["handler"] == "flaky"))
        .unwrap_or_else(|| panic!("no flaky line in {summary}"))
}

/// A server whose `flaky` fails while `broken` exists, dead after two attempts, with three
/// callbacks dead in its journal.
async fn three_dead_letters(dir: &Path, broken: &Path) -> TestServer {
    std::fs::write(broken, "").unwrap();
    let settings = json!({"fail_while": broken});
    let config = queued_config(dir, settings, json!({"max_attempts": 2}));
    let server = TestServer::start(config).await;
    for seq in 0..3 {
        let reply = server
            .post(&fresh_query(COMMAND), numbered_body("@TGS#ops", seq))
            .await;
        assert_eq!(reply.0, 200, "{}", reply.1);
    }
    wait_for(&server, "/summary", "three dead letters", |summary| {
        flaky_line(summary)["dead"] == 3
    })
    .await;
    server
}

#[tokio::test]
async fn dead_letters_are_listed_shown_retried_replayed_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    let server = three_dead_letters(dir.path(), &broken).await;

    let summary = get_ok(&server, "/summary").await;
    let line = flaky_line(&summary);
    assert_eq!(
        (line["pending"].clone(), line["queued"].clone()),
        (json!(0), json!(true))
    );
    assert_eq!(summary["journal"]["entries"], 3, "{summary}");
    assert!(
        summary["journal"]["database"]
            .as_str()
            .unwrap()
            .contains("journal.db"),
        "{summary}"
    );

    // Newest first, paged with `before`, filtered by command and state.
    let dead = get_ok(&server, "?handler=flaky&state=dead").await;
    let all = ids(&dead);
    assert_eq!(all.len(), 3, "{dead}");
    assert!(all.windows(2).all(|pair| pair[0] > pair[1]), "{all:?}");
    let page = get_ok(&server, "?state=dead&limit=2").await;
    assert_eq!(ids(&page), all[..2]);
    let next = page["next_before"]
        .as_i64()
        .expect("a full page says where to go on");
    let rest = get_ok(&server, &format!("?state=dead&limit=2&before={next}")).await;
    assert_eq!(ids(&rest), all[2..]);
    assert_eq!(rest["next_before"], Value::Null);
    assert_eq!(ids(&get_ok(&server, "?command=Group.*,!C2C.*").await), all);
    assert!(ids(&get_ok(&server, "?command=C2C.*").await).is_empty());
    assert!(ids(&get_ok(&server, "?state=pending").await).is_empty());
    let hour_ago = format_time(unix_ms(SystemTime::now()) - 3_600_000);
    assert_eq!(
        ids(&get_ok(&server, &format!("?since={hour_ago}")).await),
        all
    );
    assert!(ids(&get_ok(&server, &format!("?until={hour_ago}")).await).is_empty());

    // One dead letter with both attempts and their errors.
    let shown = get_ok(&server, &format!("/{}", all[0])).await;
    assert_eq!(shown["state"], "dead");
    assert_eq!(shown["dead_reason"], "max_attempts");
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{shown}");
    assert!(attempts.iter().all(|attempt| {
        attempt["error"]
            .as_str()
            .is_some_and(|error| error.contains("downstream is down"))
    }));
    assert!(shown["body"].as_str().unwrap().contains("@TGS#ops"));

    // The handler is fixed: one retried, then every other dead one.
    std::fs::remove_file(&broken).unwrap();
    let (status, retried) = call(&server, Method::POST, &format!("/{}/retry", all[0]), None).await;
    assert_eq!((status, retried), (200, json!({"retried": 1})));
    let one = format!("/{}", all[0]);
    wait_for(&server, &one, "the retried one delivered", |shown| {
        shown["state"] == "delivered"
    })
    .await;
    assert_eq!(
        get_ok(&server, "?state=dead").await["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, refused) = call(&server, Method::POST, &format!("{one}/retry"), None).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("is delivered"),
        "{refused}"
    );
    let (status, retried) = call(&server, Method::POST, "/retry?handler=flaky", None).await;
    assert_eq!((status, retried), (200, json!({"retried": 2})));
    wait_for(&server, "/summary", "nothing dead or pending", |summary| {
        flaky_line(summary)["dead"] == 0 && flaky_line(summary)["pending"] == 0
    })
    .await;
    let log = dir.path().join("attempts.log");
    assert!(
        delivered(&read_attempts(&log))
            .values()
            .all(|count| *count == 1)
    );

    // A replay of the last hour delivers each again, once more.
    let until = format_time(unix_ms(SystemTime::now()) + 60_000);
    let body = json!({"handler": "flaky", "since": "1h", "until": until, "command": "Group.*"});
    let (status, replayed) = call(&server, Method::POST, "/replay", Some(body)).await;
    assert_eq!((status, replayed), (200, json!({"replayed": 3})));
    let wanted = |count: usize| {
        let attempts = read_attempts(&log);
        let counts = delivered(&attempts);
        counts.len() == 3 && counts.values().all(|delivered| *delivered == count)
    };
    crate::journal::wait_until(Duration::from_secs(20), "replayed", || wanted(2)).await;

    // Discarded once; then there is none.
    let (status, discarded) =
        call(&server, Method::POST, &format!("/{}/discard", all[1]), None).await;
    assert_eq!((status, discarded), (200, json!({"discarded": 1})));
    let (status, again) = call(&server, Method::POST, &format!("/{}/discard", all[1]), None).await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(again["error"], format!("no delivery {}", all[1]));
    let (status, gone) = call(&server, Method::GET, &format!("/{}", all[1]), None).await;
    assert_eq!(
        (status, gone["error"].clone()),
        (404, json!(format!("no delivery {}", all[1])))
    );
    server.stop().await.unwrap();
}

/// `(method, path, body)` answered `status` with an error containing `words`.
async fn refused(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    words: &str,
) {
    let (got, answer) = call(server, method.clone(), path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(words),
        "{method} {path}: {error:?} lacks {words:?}"
    );
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = queued_config(dir.path(), json!({}), json!({}));
    let server = TestServer::start(config).await;
    let get = Method::GET;
    let post = Method::POST;
    for (path, status, words) in [
        (
            "?state=gone",
            400,
            "state \"gone\" is not one of pending, dead, delivered",
        ),
        (
            "?handler=nope",
            404,
            "no queued handler \"nope\" (queued: flaky)",
        ),
        (
            "?command=Group.",
            400,
            "command is refused: \"Group.\" is not a pattern",
        ),
        (
            "?since=yesterday",
            400,
            "since \"yesterday\" is not an RFC 3339 time",
        ),
        (
            "?until=2026-13-01T00:00:00Z",
            400,
            "until \"2026-13-01T00:00:00Z\" is not",
        ),
        ("?since=1h&until=2h", 400, "until must be after since"),
        ("?limit=0", 400, "limit must be between 1 and 1000, not 0"),
        ("?before=-3", 400, "before must be a non-negative integer"),
        ("?colour=red", 400, "unknown query parameter `colour`"),
        (
            "/abc",
            400,
            "id must be a non-negative integer, not \"abc\"",
        ),
        ("/424242", 404, "no delivery 424242"),
    ] {
        refused(&server, get.clone(), path, None, status, words).await;
    }
    for (path, status, words) in [
        ("/424242/retry", 404, "no delivery 424242"),
        ("/424242/discard", 404, "no delivery 424242"),
        ("/retry", 400, "missing query parameter `handler`"),
        ("/retry?handler=nope", 404, "no queued handler \"nope\""),
    ] {
        refused(&server, post.clone(), path, None, status, words).await;
    }
    let replay = |body: Value| Some(body);
    for (body, words) in [
        (
            json!({"handler": "flaky", "since": "2h"}),
            "missing field `until`",
        ),
        (
            json!({"handler": "flaky", "since": "1h", "until": "2h"}),
            "until must be after since",
        ),
        (
            json!({"handler": "flaky", "since": "soon", "until": "1h"}),
            "since \"soon\" is not",
        ),
        (
            json!({"handler": "nope", "since": "2h", "until": "1h"}),
            "handler: no queued handler \"nope\"",
        ),
        (
            json!({"handler": "flaky", "since": "2h", "until": "1h", "commands": "x"}),
            "unknown field `commands`",
        ),
        (
            json!({"handler": "flaky", "since": 5, "until": "1h"}),
            "the replay body's since: invalid type",
        ),
    ] {
        refused(&server, post.clone(), "/replay", replay(body), 400, words).await;
    }
    // Without the token, nothing.
    let response = server
        .client
        .get(server.url("/api/v1/deliveries/summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await.unwrap();

    // No queued handler: no journal, so no deliveries API.
    let server = TestServer::start(base_config()).await;
    let (status, answer) = call(&server, Method::GET, "/summary", None).await;
    assert_eq!(status, 404, "{answer}");
    server.stop().await.unwrap();
}
