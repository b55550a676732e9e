//! Test-only handlers, registered from this crate exactly as a plugin crate would.

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use chathook_core::extract::ApiPath;
use chathook_core::{
    Answer, BoxError, Callback, Handler, HandlerError, NoSettings, async_trait, commands,
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
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
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
            return unchecked_decision(code, "probe decided");
        }
        let mut reply = Answer::default()
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
        Some(
            axum::Router::new()
                .route("/probe/{id}", get(probe_item))
                .route("/probe-error/{kind}", get(probe_error)),
        )
    }
}

/// `/probe/{id}`.
#[derive(Deserialize)]
struct ProbeItem {
    id: String,
}

/// The id it was asked for: a path parameter refused as the API refuses.
async fn probe_item(ApiPath(item): ApiPath<ProbeItem>) -> Json<serde_json::Value> {
    Json(json!({ "id": item.id }))
}

/// `/probe-error/{kind}`.
#[derive(Deserialize)]
struct ProbeErrorKind {
    kind: String,
}

/// Each API error of the table, as a handler's API would answer it.
async fn probe_error(
    ApiPath(ProbeErrorKind { kind }): ApiPath<ProbeErrorKind>,
) -> chathook_core::ApiError {
    match kind.as_str() {
        "bad_request" => chathook_core::ApiError::bad_request("probe cannot use that"),
        "not_found" => chathook_core::ApiError::not_found("probe has nothing there"),
        _ => chathook_core::ApiError::unavailable("probe's store is down"),
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

/// Serves a command `probe` also serves, to test fan-out and the routing table.
#[derive(Debug)]
pub struct Rival;

#[async_trait]
impl Handler for Rival {
    async fn handle(&self, _callback: Callback) -> Result<Answer, HandlerError> {
        Ok(Answer::default().with_field("Handler", "rival"))
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
    async fn handle(&self, _callback: Callback) -> Result<Answer, HandlerError> {
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
        commands::LIVE_CALLBACK_BEFORE_SEND_GIFT,
    ],
    config: NoSettings,
    build: build_denier,
}

/// What a recorder did: one entry per callback it finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The recorder's registered name.
    pub handler: &'static str,
    /// The command it served.
    pub command: String,
    /// For an observer told to wait for it: the decision's `ErrorCode` and who made it.
    pub decision: Option<(u32, chathook_core::DecidedBy)>,
}

/// Entries by the `tag` of the recorder's settings, so concurrent tests never mix.
static JOURNAL: std::sync::Mutex<Vec<(String, Recorded)>> = std::sync::Mutex::new(Vec::new());

/// What the recorders tagged `tag` have done so far, in the order they finished.
pub fn journal(tag: &str) -> Vec<Recorded> {
    JOURNAL
        .lock()
        .expect("journal")
        .iter()
        .filter(|(entry_tag, _)| entry_tag == tag)
        .map(|(_, entry)| entry.clone())
        .collect()
}

/// [`journal`] once it holds at least `count` entries (after at most 5 s).
pub async fn journal_of(tag: &str, count: usize) -> Vec<Recorded> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let entries = journal(tag);
        if entries.len() >= count || std::time::Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `[handlers.recorder_*]`: the platform's `commands` and `decides`, and these.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderConfig {
    /// The journal key.
    pub tag: String,
    /// Sleep this long before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fail this way instead of answering (then nothing is recorded).
    #[serde(default)]
    pub fail: ProbeFailure,
    /// Answer with this `ErrorCode` as a decision instead of OK.
    #[serde(default)]
    pub decide: Option<i64>,
    /// As an observer: wait for the decision and record it.
    #[serde(default)]
    pub await_decision: bool,
}

/// A handler whose command set comes from its config, recording what it served: several
/// registrations of it make fan-out testable.
#[derive(Debug)]
pub struct Recorder {
    name: &'static str,
    config: RecorderConfig,
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        let decision = if self.config.await_decision {
            callback
                .decision()
                .await
                .map(|decision| (decision.reply().error_code(), decision.decided_by()))
        } else {
            None
        };
        if self.config.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.delay_ms)).await;
        }
        match self.config.fail {
            ProbeFailure::None => {}
            ProbeFailure::Error => {
                return Err(HandlerError::internal(std::io::Error::other(format!(
                    "{} could not forward the callback",
                    self.name
                ))));
            }
            ProbeFailure::Panic => panic!("{} was told to panic", self.name),
        }
        let entry = Recorded {
            handler: self.name,
            command: callback.command().to_owned(),
            decision,
        };
        JOURNAL
            .lock()
            .expect("journal")
            .push((self.config.tag.clone(), entry));
        match self.config.decide {
            Some(code) => unchecked_decision(code, "recorder decided"),
            None => Ok(Answer::default().with_field("Handler", self.name)),
        }
    }
}

/// A decision with whatever code a test configured, unchecked, so the platform's own check
/// of decision codes is what a test sees; a negative code is no code at all, so the handler
/// fails.
fn unchecked_decision(code: i64, info: &str) -> Result<Answer, HandlerError> {
    let code = u32::try_from(code).map_err(|_| {
        HandlerError::internal(std::io::Error::other(format!(
            "ErrorCode {code} is negative"
        )))
    })?;
    Ok(Answer::unchecked(code, info))
}

macro_rules! recorder {
    ($name:literal, $build:ident, $($commands:tt)+) => {
        async fn $build(config: RecorderConfig) -> Result<Recorder, std::convert::Infallible> {
            Ok(Recorder { name: $name, config })
        }

        register_handler! {
            name: $name,
            commands: $($commands)+,
            config: RecorderConfig,
            build: $build,
        }
    };
}

recorder!("recorder_a", build_recorder_a, from_config);
recorder!("recorder_b", build_recorder_b, from_config);
recorder!("recorder_c", build_recorder_c, from_config(default: ["Group.*:after"]));
