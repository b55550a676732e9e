//! Test-only handlers, registered from this crate exactly as a plugin crate would.

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::routing::get;
use chathook_core::{
    BoxError, Callback, Handler, HandlerError, NoSettings, Reply, async_trait, commands,
    register_handler,
};
use serde::Deserialize;
use serde_json::json;

/// Commands `probe` serves: one after-callback, one before-callback, one more after.
pub const PROBE_COMMANDS: [&str; 5] = [
    "State.StateChange",
    "Group.CallbackBeforeSendMsg",
    "Group.CallbackAfterSendMsg",
    "Sns.CallbackPrevFriendAdd",
    "Chatbot.OnC2CSignalMessage",
];

/// How `probe` misbehaves when asked to.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    /// Answer normally.
    #[default]
    None,
    /// Return an internal error.
    Error,
    /// Panic.
    Panic,
}

/// `[handlers.probe]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Sleep this long before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fail this way instead of answering.
    #[serde(default)]
    pub fail: ProbeFailure,
    /// Make the build function fail.
    #[serde(default)]
    pub fail_build: bool,
    /// What `ready()` reports.
    #[serde(default = "yes")]
    pub ready: bool,
    /// Answer with this `ErrorCode` as a decision instead of OK.
    #[serde(default)]
    pub decide: Option<i64>,
}

fn yes() -> bool {
    true
}

/// Echoes what it received in its reply, so a test can see routing and parsing happened.
#[derive(Debug)]
pub struct Probe {
    config: ProbeConfig,
}

/// The part of `State.StateChange` the probe insists on, to exercise body errors.
#[derive(Deserialize)]
struct StateChange {
    #[serde(rename = "Info")]
    info: StateInfo,
}

#[derive(Deserialize)]
struct BeforeSend {
    #[serde(rename = "GroupId")]
    group_id: String,
}

#[derive(Deserialize)]
struct StateInfo {
    #[serde(rename = "To_Account")]
    to_account: String,
}

#[async_trait]
impl Handler for Probe {
    async fn handle(&self, callback: Callback) -> Result<Reply, HandlerError> {
        if self.config.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.delay_ms)).await;
        }
        match self.config.fail {
            ProbeFailure::None => {}
            ProbeFailure::Error => {
                return Err(HandlerError::internal(std::io::Error::other(
                    "probe storage password=hunter2 unreachable",
                )));
            }
            ProbeFailure::Panic => panic!("probe was told to panic"),
        }
        if let Some(code) = self.config.decide {
            return Ok(Reply::decision(code, "probe decided"));
        }
        let mut reply = Reply::ok()
            .with_field("Handler", "probe")
            .with_field("Command", callback.command())
            .with_field("SdkAppid", callback.sdk_app_id())
            .with_field("ClientIP", callback.client_ip())
            .with_field("OptPlatform", callback.opt_platform());
        match callback.command() {
            "State.StateChange" => {
                let body: StateChange = callback.parse()?;
                reply = reply.with_field("To_Account", body.info.to_account);
            }
            "Group.CallbackBeforeSendMsg" => {
                let body: BeforeSend = callback.parse()?;
                reply = reply.with_field("GroupId", body.group_id);
            }
            _ => {}
        }
        Ok(reply)
    }

    async fn ready(&self) -> Result<(), BoxError> {
        if self.config.ready {
            Ok(())
        } else {
            Err("probe dependency is down".into())
        }
    }

    fn api_routes(&self) -> Option<axum::Router> {
        Some(axum::Router::new().route(
            "/probe/{id}",
            get(|Path(id): Path<String>| async move { Json(json!({ "id": id })) }),
        ))
    }
}

async fn build_probe(config: ProbeConfig) -> Result<Probe, BoxError> {
    if config.fail_build {
        return Err("probe could not reach its database".into());
    }
    Ok(Probe { config })
}

register_handler! {
    name: "probe",
    commands: [
        "State.StateChange",
        "Group.CallbackBeforeSendMsg",
        "Group.CallbackAfterSendMsg",
        "Sns.CallbackPrevFriendAdd",
        "Chatbot.OnC2CSignalMessage",
    ],
    config: ProbeConfig,
    build: build_probe,
}

/// Claims a command `probe` also claims, to test conflicts.
#[derive(Debug)]
pub struct Rival;

#[async_trait]
impl Handler for Rival {
    async fn handle(&self, _callback: Callback) -> Result<Reply, HandlerError> {
        Ok(Reply::ok().with_field("Handler", "rival"))
    }
}

async fn build_rival(_: NoSettings) -> Result<Rival, std::convert::Infallible> {
    Ok(Rival)
}

register_handler! {
    name: "rival",
    commands: ["State.StateChange"],
    config: NoSettings,
    build: build_rival,
}

/// Serves every before-callback and always fails, so each one is answered by its fallback.
#[derive(Debug)]
pub struct Denier;

#[async_trait]
impl Handler for Denier {
    async fn handle(&self, _callback: Callback) -> Result<Reply, HandlerError> {
        Err(HandlerError::internal(std::io::Error::other(
            "denier never decides",
        )))
    }
}

async fn build_denier(_: NoSettings) -> Result<Denier, std::convert::Infallible> {
    Ok(Denier)
}

register_handler! {
    name: "denier",
    commands: [
        commands::C2C_CALLBACK_BEFORE_SEND_MSG,
        commands::GROUP_CALLBACK_BEFORE_CREATE_GROUP,
        commands::GROUP_CALLBACK_BEFORE_APPLY_JOIN_GROUP,
        commands::GROUP_CALLBACK_BEFORE_INVITE_JOIN_GROUP,
        commands::GROUP_CALLBACK_BEFORE_SEND_MSG,
        commands::GROUP_CALLBACK_BEFORE_CREATE_TOPIC,
        commands::SNS_CALLBACK_PREV_FRIEND_ADD,
        commands::SNS_CALLBACK_PREV_FRIEND_RESPONSE,
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_CREATE_OFFICIAL_ACCOUNT,
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_ADD_SUBSCRIBER,
        commands::OFFICIAL_ACCOUNT_CALLBACK_BEFORE_SEND_MSG,
    ],
    config: NoSettings,
    build: build_denier,
}
