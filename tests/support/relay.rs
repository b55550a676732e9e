//! `relay`: a handler that fans out into destinations, as a forwarder does, each with its own
//! commands, delivery and decision; every call is appended to a file as
//! `destination\tcommand\tattempt` (`inline` for an inline call).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use chathook_core::config::DeliveryMode;
use chathook_core::config::QueueConfig;
use chathook_core::{
    Answer, Callback, Destination, Handler, HandlerError, async_trait, register_handler,
};
use serde::Deserialize;

/// `[handlers.relay]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Its destinations.
    pub targets: Vec<RelayTarget>,
    /// Where each call is appended.
    pub record: PathBuf,
}

/// `[[handlers.relay.targets]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayTarget {
    /// The destination's name.
    pub name: String,
    /// Its command patterns.
    pub commands: Vec<String>,
    /// Journaled and delivered by workers rather than called inline.
    #[serde(default)]
    pub queued: bool,
    /// As a handler table's `decides`.
    #[serde(default)]
    pub decides: Option<bool>,
    /// The `ErrorCode` it decides with.
    #[serde(default)]
    pub decide: u32,
    /// Its retry policy.
    #[serde(default)]
    pub queue: Option<QueueConfig>,
}

/// One call as `relay` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayCall {
    /// The destination the call was for.
    pub destination: String,
    /// The command.
    pub command: String,
    /// The attempt's number, `None` inline.
    pub attempt: Option<u32>,
}

/// Every call recorded in `path`.
pub fn read_calls(path: &std::path::Path) -> Vec<RelayCall> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            RelayCall {
                destination: fields[0].to_owned(),
                command: fields[1].to_owned(),
                attempt: fields[2].parse().ok(),
            }
        })
        .collect()
}

struct Relay {
    config: RelayConfig,
    record: Mutex<std::fs::File>,
}

#[async_trait]
impl Handler for Relay {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let destination = callback
            .destination()
            .ok_or_else(|| HandlerError::internal("called without a destination"))?;
        let target = self
            .config
            .targets
            .iter()
            .find(|target| target.name == destination)
            .ok_or_else(|| HandlerError::internal(format!("no destination {destination}")))?;
        let attempt = callback.delivery().map_or_else(
            || "inline".to_owned(),
            |attempt| attempt.number().to_string(),
        );
        let line = format!("{destination}\t{}\t{attempt}\n", callback.command());
        self.record
            .lock()
            .expect("not poisoned")
            .write_all(line.as_bytes())
            .map_err(HandlerError::internal)?;
        Ok(Answer::unchecked(target.decide, ""))
    }
}

fn destinations(config: &RelayConfig) -> Vec<Destination> {
    config
        .targets
        .iter()
        .map(|target| Destination {
            name: target.name.clone(),
            commands: target.commands.clone(),
            delivery: if target.queued {
                DeliveryMode::Queued
            } else {
                DeliveryMode::Inline
            },
            decides: target.decides,
            fallback: None,
            queue: target.queue.clone(),
        })
        .collect()
}

async fn build(config: RelayConfig) -> Result<Relay, std::io::Error> {
    let record = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.record)?;
    Ok(Relay {
        config,
        record: Mutex::new(record),
    })
}

register_handler! {
    name: "relay",
    commands: from_config,
    config: RelayConfig,
    destinations: destinations,
    build: build,
}
