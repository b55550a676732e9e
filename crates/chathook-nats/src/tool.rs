//! `chathook nats spool [--drain]`: what the spool holds, and, with `--drain`, publishing all
//! of it now. Registered as the nats plugin's tool, so the stock CLI names no plugin.

use std::sync::Arc;
use std::time::Duration;

use chathook_core::BoxError;
use chathook_core::tool::ToolInput;
use chathook_core::tool::clap::{Arg, ArgAction, Command};

use crate::spool::{self, Spool, SpoolStats};
use crate::{Forwarder, NatsConfig};

chathook_core::register_tool! {
    command: command,
    settings_of: "nats",
    run: run,
}

/// `chathook nats ...`.
fn command() -> Command {
    Command::new("nats")
        .about("The `nats` handler's tools")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("spool")
                .about(
                    "Show what the spool holds (callbacks JetStream has not acknowledged yet); \
                     with `--drain`, publish all of it now, in order. Drain while chathook is \
                     stopped: a running chathook drains its spool itself",
                )
                .arg(
                    Arg::new("drain")
                        .long("drain")
                        .action(ArgAction::SetTrue)
                        .help("Publish every spooled callback to JetStream, then remove it"),
                ),
        )
}

async fn run(input: ToolInput) -> Result<(), BoxError> {
    let Some(("spool", spool)) = input.matches().subcommand() else {
        return Err("`chathook nats` has one subcommand: spool".into());
    };
    let nats: NatsConfig = input.settings()?;
    // Each error in its own words only, as the CLI printed it before it was a plugin's tool.
    println!("{}", report(&nats).map_err(|error| error.to_string())?);
    if spool.get_flag("drain") {
        let published = drain(&nats).await.map_err(|error| error.to_string())?;
        println!(
            "published {published} spooled callbacks to stream {}",
            nats.stream
        );
    }
    Ok(())
}

/// The spool's state, in words.
fn describe(config: &NatsConfig, stats: SpoolStats) -> String {
    let age = stats
        .oldest_ms
        .map(|oldest| format!("{} s", (spool::unix_ms() - oldest).max(0) / 1000))
        .unwrap_or_else(|| "-".into());
    format!(
        "spool {}: {} entries, {} bytes (bounds {} entries, {} bytes), oldest {age}",
        config.spool_path.display(),
        stats.entries,
        stats.bytes,
        config.spool_max_entries,
        config.spool_max_bytes
    )
}

/// Reports the spool, without taking it over: a running chathook may own it.
fn report(config: &NatsConfig) -> Result<String, BoxError> {
    let (stats, dead) = Spool::peek(&config.spool_path)?;
    let mut report = describe(config, stats);
    if dead > 0 {
        report.push_str(&format!(
            "; {dead} callbacks too large for the NATS server kept in its spool_dead table"
        ));
    }
    Ok(report)
}

/// Publishes everything in the spool, in order; returns how many.
async fn drain(config: &NatsConfig) -> Result<usize, BoxError> {
    let spool = config.open_spool()?;
    let client = config.connect(Arc::default()).await?;
    let forwarder = Forwarder::new(
        client,
        config.stream_settings(),
        spool,
        Duration::from_millis(config.publish_timeout_ms),
    );
    let mut published = 0;
    while forwarder.spool().stats().entries > 0 {
        published += forwarder
            .drain_once()
            .await
            .map_err(|failure| format!("drain stopped after {published}: {failure}"))?;
    }
    Ok(published)
}
