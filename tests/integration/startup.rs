//! Misconfigurations stop the start-up with an error that names the culprit.

use chathook_core::auth::Secret;
use chathook_core::config::AppConfig;
use chathook_core::{Config, linked_handlers};
use chathook_tests::*;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde_json::json;

async fn startup_error(config: Config) -> String {
    match TestServer::try_start(config).await {
        Ok(_) => panic!("the server started"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_linked_handlers_are_exactly_the_stock_plugins_and_the_test_handlers() {
    // The one place the test suite names the linked handlers; every other expectation derives
    // from linked_handlers().
    let names: Vec<_> = linked_handlers().iter().map(|r| r.name()).collect();
    // Stock plugins from crates/chathook/src/plugins.rs: http_forward, nats, read_receipt.
    // Test-only: denier, flaky (queued), probe, the recorders, relay (destinations), rival; and
    // the example crm_sync, for its end-to-end test.
    assert_eq!(
        names,
        [
            "crm_sync",
            "denier",
            "flaky",
            "http_forward",
            "nats",
            "probe",
            "read_receipt",
            "recorder_a",
            "recorder_b",
            "recorder_c",
            "relay",
            "rival"
        ]
    );
    // And the extensions the stock list links (crates/chathook/src/plugins.rs).
    let extensions: Vec<_> = chathook_core::extension::linked_extensions()
        .iter()
        .map(|extension| extension.name())
        .collect();
    assert_eq!(extensions, ["console"]);
    let probe = linked_handlers()
        .into_iter()
        .find(|r| r.name() == "probe")
        .unwrap();
    assert_eq!(
        probe.commands(),
        chathook_core::handler::Commands::Fixed(&handlers::PROBE_COMMANDS)
    );
}

#[tokio::test]
async fn a_table_for_a_handler_that_is_not_linked() {
    let mut config = base_config();
    config
        .handlers
        .insert("read_reciept".into(), enabled_table());
    // The list is the linked set, asserted once above.
    let linked: Vec<_> = linked_handlers().iter().map(|r| r.name()).collect();
    assert_eq!(
        startup_error(config).await,
        format!(
            "config table [handlers.read_reciept] names no linked handler (linked handlers: \
             {}); fix the name or add the plugin crate to the binary's link list",
            linked.join(", ")
        )
    );
}

#[tokio::test]
async fn an_unknown_or_mistyped_key_in_a_handler_table() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "delay": 5 }));
    let error = startup_error(config).await;
    assert!(
        error.starts_with("invalid settings in [handlers.probe]: "),
        "{error}"
    );
    assert!(error.contains("unknown field `delay`"), "{error}");

    let mut config = base_config();
    enable(&mut config, "probe", json!({ "delay_ms": "soon" }));
    let error = startup_error(config).await;
    assert!(
        error.contains("delay_ms: invalid type: string \"soon\""),
        "{error}"
    );

    // rival takes no settings at all.
    let mut config = base_config();
    enable(&mut config, "rival", json!({ "anything": true }));
    let error = startup_error(config).await;
    assert!(
        error.starts_with("invalid settings in [handlers.rival]: "),
        "{error}"
    );
    assert!(error.contains("anything"), "{error}");
}

#[tokio::test]
async fn a_typo_in_a_disabled_handler_table_is_caught() {
    let mut config = base_config();
    let mut table = enabled_table();
    table.enabled = false;
    table.settings.insert("enable".into(), true.into());
    config.handlers.insert("probe".into(), table);
    let error = startup_error(config).await;
    assert!(
        error.contains("[handlers.probe]") && error.contains("unknown field `enable`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_handler_deadline_past_chats_own_is_refused() {
    let mut config = base_config();
    config.dispatch.handler_timeout_ms = 2000;
    let error = startup_error(config).await;
    assert!(
        error.contains("dispatch.handler_timeout_ms is 2000 but must be between 1 and 1999"),
        "{error}"
    );
}

#[tokio::test]
async fn a_handler_whose_build_fails() {
    let mut config = base_config();
    enable(&mut config, "probe", json!({ "fail_build": true }));
    assert_eq!(
        startup_error(config).await,
        "handler probe failed to build: probe could not reach its database"
    );
}

#[tokio::test]
async fn an_app_without_tokens_needs_the_explicit_opt_out() {
    let mut config = base_config();
    config.apps.get_mut("dev").unwrap().allow_unsigned = false;
    let error = startup_error(config).await;
    assert!(error.contains("apps.dev has no tokens"), "{error}");
    assert!(error.contains("allow_unsigned = true"), "{error}");

    let mut config = base_config();
    config.apps.get_mut("main").unwrap().allow_unsigned = true;
    let error = startup_error(config).await;
    assert!(
        error.contains("apps.main has tokens and allow_unsigned = true"),
        "{error}"
    );
}

#[tokio::test]
async fn two_apps_with_one_sdk_app_id() {
    let mut config = base_config();
    config.apps.insert(
        "copy".into(),
        AppConfig {
            sdk_app_id: APP_ID,
            tokens: vec![Secret::new("t")],
            allow_unsigned: false,
        },
    );
    assert_eq!(
        startup_error(config).await,
        format!("invalid configuration: apps.copy and apps.main both have sdk_app_id {APP_ID}")
    );
}

#[tokio::test]
async fn a_callback_path_that_shadows_a_built_in_route() {
    let mut config = base_config();
    config.server.callback_path = "/metrics".into();
    let error = startup_error(config).await;
    assert!(error.contains("collides with a built-in route"), "{error}");
}

#[test]
fn unknown_keys_anywhere_in_the_file_are_refused_with_their_path() {
    let figment = Figment::new().merge(Toml::string("[server]\nlisten_adress = \"127.0.0.1:1\"\n"));
    let error = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(
        error.contains("server.listen_adress: unknown key; did you mean server.listen_addr?"),
        "{error}"
    );
    // The key as written: no figment profile, no doubled quoting.
    assert!(
        !error.contains("default.") && !error.contains('`'),
        "{error}"
    );

    let figment = Figment::new().merge(Toml::string("[dispatch]\nunrouted = \"drop\"\n"));
    let error = Config::from_figment(&figment).unwrap_err().to_string();
    assert!(
        error.contains("dispatch.unrouted: unknown value \"drop\"; expected one of "),
        "{error}"
    );
}

#[test]
fn the_shipped_config_loads_as_is() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/chathook.toml");
    let figment = Figment::new().merge(Toml::file_exact(path));
    let config = Config::from_figment(&figment).expect("shipped config is valid");
    assert_eq!(config.server.listen_addr.to_string(), "127.0.0.1:8080");
    assert!(config.server.listen_addr.ip().is_loopback());
    assert_eq!(config.server.body_limit_bytes, 4 * 1024 * 1024);
    assert_eq!(config.dispatch.handler_timeout_ms, 1500);
    assert_eq!(config.auth.max_clock_skew_secs, 10);
    // The file shows every [server], [auth] and [log] key at its built-in default.
    let defaults = Config::default();
    assert_eq!(json(&config.server), json(&defaults.server));
    assert_eq!(json(&config.auth), json(&defaults.auth));
    assert_eq!(json(&config.log), json(&defaults.log));
    assert_eq!(config.apps["example"].sdk_app_id, 1_400_000_000);
    assert!(config.handlers["read_receipt"].enabled);
    assert_eq!(
        config.handlers["read_receipt"].settings["database_url"],
        "sqlite://data/read_receipts.db"
    );
}

#[tokio::test]
async fn the_shipped_config_starts_with_its_plugin_settings() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/chathook.toml");
    let mut config = Config::from_figment(&Figment::new().merge(Toml::file_exact(path))).unwrap();
    // Every shipped read_receipt key is accepted; only the file moves somewhere temporary.
    let dir = tempfile::tempdir().unwrap();
    let settings = &mut config.handlers.get_mut("read_receipt").unwrap().settings;
    settings.insert(
        "database_url".into(),
        format!("sqlite://{}", dir.path().join("r.db").display()).into(),
    );
    let server = TestServer::start(config).await;
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
}

/// A config section as JSON, to compare (the sections do not implement `PartialEq`).
fn json(section: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(section).expect("config serializes")
}
