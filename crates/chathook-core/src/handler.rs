//! What a plugin implements ([`Handler`]) and how it announces itself ([`register_handler!`](crate::register_handler!)).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use axum::Router;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::error::{BoxError, StartupError};
use crate::protocol::{Answer, CallbackKind};

/// The answer Chat got for a before-callback, as the handlers observing it see it.
#[derive(Clone, Debug)]
pub struct Decision {
    reply: Answer,
    by: DecidedBy,
}

/// Who made a [`Decision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// This handler's reply.
    Handler(&'static str),
    /// This handler failed or was late, so the configured fallback answered.
    Fallback(&'static str),
    /// This handler of a reply-bearing callback failed or was late: Chat got a 500, as for
    /// an after-callback (there is no fallback for data Chat reads from the reply).
    Failed(&'static str),
    /// Only observers serve the command: it was answered as `dispatch.unrouted` says.
    NoDecider,
}

impl Decision {
    pub(crate) fn new(reply: Answer, by: DecidedBy) -> Self {
        Self { reply, by }
    }

    /// The reply packet Chat got.
    pub fn reply(&self) -> &Answer {
        &self.reply
    }

    /// Who decided.
    pub fn decided_by(&self) -> DecidedBy {
        self.by
    }
}

/// A callback handler: serves the commands it registered for, and optionally a read API.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one authenticated callback. Runs under `dispatch.handler_timeout_ms`; for an
    /// after-callback, `Ok` means the event is safely taken care of, since Chat will not send
    /// it again. A handler that observes a before-callback another handler decides has its
    /// reply ignored; [`Callback::decision`] tells it what was decided.
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError>;

    /// Whether the handler's dependencies (database, broker, ...) answer; `/readyz` asks.
    async fn ready(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Routes of the handler's read API, mounted under `/api/v1` behind the `[api]` bearer
    /// token. Paths are relative: `/things/{id}` is served at `/api/v1/things/{id}`.
    fn api_routes(&self) -> Option<Router> {
        None
    }

    /// Registers the handler's own metrics, once, at start-up; they are served on `/metrics`
    /// with the platform's, under the `chathook_` prefix the registry adds.
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }

    /// What `/readyz` shows of the handler's state beyond ready or not (a queue's depth, a
    /// connection's state), as JSON.
    fn status(&self) -> Option<Value> {
        None
    }
}

/// One authenticated callback, as a handler receives it.
#[derive(Clone, Debug)]
pub struct Callback {
    sdk_app_id: u64,
    command: Cow<'static, str>,
    kind: CallbackKind,
    client_ip: Option<String>,
    opt_platform: Option<String>,
    request_time: Option<String>,
    received_at: SystemTime,
    deadline: Option<Instant>,
    body: Bytes,
    /// For a handler observing a before-callback: where the decision arrives once made.
    decision: Option<watch::Receiver<Option<Decision>>>,
}

impl Callback {
    /// A callback for `command` from app `sdk_app_id` with a JSON `body`, e.g. in unit tests.
    pub fn new(
        sdk_app_id: u64,
        command: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        let command = command.into();
        Self {
            sdk_app_id,
            kind: crate::protocol::kind_of(&command),
            command,
            client_ip: None,
            opt_platform: None,
            request_time: None,
            received_at: SystemTime::now(),
            deadline: None,
            body: body.into(),
            decision: None,
        }
    }

    /// Sets `RequestTime` as Chat sent it, and when chathook received the request.
    pub fn with_arrival(mut self, request_time: Option<String>, received_at: SystemTime) -> Self {
        self.request_time = request_time;
        self.received_at = received_at;
        self
    }

    /// The command as the callback holds it: borrowed from the routing table when it is
    /// documented, so a copy costs nothing.
    pub(crate) fn command_cow(&self) -> Cow<'static, str> {
        self.command.clone()
    }

    /// The same callback for a handler that observes while another decides.
    pub(crate) fn observing(&self, decision: watch::Receiver<Option<Decision>>) -> Self {
        Self {
            decision: Some(decision),
            ..self.clone()
        }
    }

    /// For a handler observing a before-callback that another handler decides: the decision
    /// Chat was answered with, once it is made. The decider has the handler deadline to make
    /// it, and an observer has the deadline again from then on, so it can act on even a late
    /// decision. `None` for the deciding handler itself and for after-callbacks.
    pub async fn decision(&self) -> Option<Decision> {
        let mut decision = self.decision.clone()?;
        let made = decision.wait_for(Option::is_some).await.ok()?;
        made.clone()
    }

    /// Sets `ClientIP` and `OptPlatform` as Chat sent them.
    pub fn with_client(mut self, client_ip: Option<String>, opt_platform: Option<String>) -> Self {
        self.client_ip = client_ip;
        self.opt_platform = opt_platform;
        self
    }

    /// The app's SDKAppID, already checked against the config.
    pub fn sdk_app_id(&self) -> u64 {
        self.sdk_app_id
    }

    /// `CallbackCommand`.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Before or after.
    pub fn kind(&self) -> CallbackKind {
        self.kind
    }

    /// `ClientIP`, when Chat sent it.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// `OptPlatform`, when Chat sent it.
    pub fn opt_platform(&self) -> Option<&str> {
        self.opt_platform.as_deref()
    }

    /// `RequestTime` (Unix seconds, as Chat wrote them), when Chat signed the callback.
    pub fn request_time(&self) -> Option<&str> {
        self.request_time.as_deref()
    }

    /// When chathook received the request.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// When this handler's call will be cut off (`dispatch.handler_timeout_ms` after it
    /// started): a handler that has a slower fallback of its own (a spool, a second store)
    /// must leave it time before then.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The raw body: a JSON object, already checked for syntax.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The callback as `chathook-protocol`'s typed model of its command, in one call:
    /// `Request::GroupAfterNewMemberJoin(..)` and so on, with every quirk of Tencent's JSON
    /// already handled, or `Request::Unknown` for a command the table lacks. A body that does
    /// not fit is a 400 (or a before-callback's fallback) naming the field.
    pub fn request(&self) -> Result<chathook_protocol::Request, HandlerError> {
        chathook_protocol::Request::parse(&self.command, &self.body)
            .map_err(|error| HandlerError::InvalidBody(format!("invalid body: {error}")))
    }

    /// Deserializes the body into the handler's own typed model. A mismatch becomes a 400
    /// reply whose `ErrorInfo` gives the path of the offending field.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        // Tracking the path costs on every field; only a failed parse needs it, so a failure
        // is parsed again to say where.
        if let Ok(parsed) = serde_json::from_slice(&self.body) {
            return Ok(parsed);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&self.body);
        let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            invalid_body(&path, &error.into_inner())
        })?;
        // What the first parse refused may be only what follows the value (found by fuzzing).
        deserializer
            .end()
            .map_err(|error| invalid_body(".", &error))?;
        Ok(parsed)
    }
}

/// A parse failure at `path` (`.` for the whole body) as the caller is told of it.
fn invalid_body(path: &str, error: &serde_json::Error) -> HandlerError {
    // The path says where; serde_json's " at line 1 column 80" adds nothing to it.
    let message = error.to_string();
    let message = match message.rsplit_once(" at line ") {
        Some((message, _)) if error.line() > 0 => message.to_owned(),
        _ => message,
    };
    let place = if path == "." { "body" } else { path };
    HandlerError::InvalidBody(format!("invalid {place}: {message}"))
}

/// Why a handler could not handle a callback.
///
/// Any `std::error::Error` converts into [`HandlerError::Internal`] with `?`.
pub enum HandlerError {
    /// The body is unusable; the text (shown to the caller) says which field and why.
    InvalidBody(String),
    /// Anything else; logged with its cause chain, never shown to the caller.
    Internal(BoxError),
}

impl HandlerError {
    /// An unusable body, with words the caller can act on.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::InvalidBody(message.into())
    }

    /// An internal failure.
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBody(message) => f.debug_tuple("InvalidBody").field(message).finish(),
            Self::Internal(error) => f.debug_tuple("Internal").field(error).finish(),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBody(message) => f.write_str(message),
            Self::Internal(error) => write!(f, "{}", ErrorChain(error.as_ref())),
        }
    }
}

/// Displays an error followed by each of its sources.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A handler's own settings: its `[handlers.<name>]` table without the platform's keys.
pub type HandlerSettings = Map<String, Value>;

type BuildFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Handler>, StartupError>> + Send>>;

/// A handler as registered by a plugin crate with [`register_handler!`](crate::register_handler!): const data only, all
/// real setup happens in `build` at start-up.
pub struct HandlerRegistration {
    name: &'static str,
    commands: Commands,
    decides: Option<bool>,
    module: &'static str,
    check: fn(&'static str, &HandlerSettings) -> Result<(), StartupError>,
    build: fn(&'static str, HandlerSettings) -> BuildFuture,
    effective: fn(&HandlerSettings) -> Option<Value>,
    schema: fn() -> Option<schemars::Schema>,
}

inventory::collect!(HandlerRegistration);

/// Which commands a registration serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commands {
    /// Exactly these, fixed in code; its config table cannot change them.
    Fixed(&'static [&'static str]),
    /// Those its config table's `commands = [...]` patterns select, or these default patterns
    /// when the table has none (`None`: the table must say).
    FromConfig(Option<&'static [&'static str]>),
}

impl HandlerRegistration {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        commands: Commands,
        decides: Option<bool>,
        module: &'static str,
        check: fn(&'static str, &HandlerSettings) -> Result<(), StartupError>,
        build: fn(&'static str, HandlerSettings) -> BuildFuture,
        effective: fn(&HandlerSettings) -> Option<Value>,
    ) -> Self {
        Self {
            name,
            commands,
            decides,
            module,
            check,
            build,
            effective,
            schema: || None,
        }
    }

    #[doc(hidden)]
    pub const fn __with_schema(mut self, schema: fn() -> Option<schemars::Schema>) -> Self {
        self.schema = schema;
        self
    }

    /// The snake_case name, which is also its config table's key.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The commands it serves: fixed in code, or chosen in its config table.
    pub fn commands(&self) -> Commands {
        self.commands
    }

    /// What `decides` is when its table does not say: `Some(false)` for a handler that only
    /// ever observes before-callbacks (a forwarder), so it never holds up a decision.
    pub fn decides(&self) -> Option<bool> {
        self.decides
    }

    /// The module that registered it, to name the culprit in errors.
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// Checks `settings` against the handler's config type without building it.
    pub fn check(&self, settings: &HandlerSettings) -> Result<(), StartupError> {
        (self.check)(self.name, settings)
    }

    /// Every setting as the handler will see it, its defaults included, for `check-config`;
    /// `None` if the settings do not parse or its config type is not `Serialize`.
    pub fn effective_settings(&self, settings: &HandlerSettings) -> Option<Value> {
        (self.effective)(settings)
    }

    /// The JSON Schema of its settings, doc comments and defaults included, for the config
    /// reference; `None` if its config type does not derive `schemars::JsonSchema`.
    pub fn config_schema(&self) -> Option<schemars::Schema> {
        (self.schema)()
    }

    /// Builds the handler from its settings.
    pub async fn build(&self, settings: HandlerSettings) -> Result<Arc<dyn Handler>, StartupError> {
        (self.build)(self.name, settings).await
    }
}

impl fmt::Debug for HandlerRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerRegistration")
            .field("name", &self.name)
            .field("commands", &self.commands)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

/// Every registration linked into this binary, sorted by name.
pub fn linked_handlers() -> Vec<&'static HandlerRegistration> {
    let mut all: Vec<_> = inventory::iter::<HandlerRegistration>.into_iter().collect();
    all.sort_by_key(|registration| registration.name);
    all
}

/// Settings for a handler that takes none: any key in its table is refused.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// Deserializes a handler's settings into its config type. Keys the type does not read are
/// refused even if the type itself would ignore them, so a typo never goes unnoticed.
fn parse_settings<C: DeserializeOwned>(
    handler: &'static str,
    settings: HandlerSettings,
) -> Result<C, StartupError> {
    parse_table(settings).map_err(|problem| StartupError::HandlerSettings { handler, problem })
}

/// Deserializes a settings table into `C`, refusing keys `C` does not read; what is wrong, in
/// words, naming the key.
pub(crate) fn parse_table<C: DeserializeOwned>(settings: HandlerSettings) -> Result<C, String> {
    let mut unknown = Vec::new();
    let mut record_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let deserializer =
        serde_ignored::Deserializer::new(Value::Object(settings), &mut record_unknown);
    let parsed = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        if path == "." {
            error.into_inner().to_string()
        } else {
            format!("{path}: {}", error.into_inner())
        }
    })?;
    if let Some(key) = unknown.first() {
        return Err(format!("unknown key `{key}`"));
    }
    Ok(parsed)
}

/// A handler config's own checks, beyond what its type can express (ranges, URL schemes).
pub type Validate<C> = fn(&C) -> Result<(), String>;

/// Parses and validates a handler's settings: the one validation that `check-config`, `serve`
/// and `build` all share, so `check-config` never passes a config that `serve` refuses.
fn parse_and_validate<C: DeserializeOwned>(
    handler: &'static str,
    settings: HandlerSettings,
    validate: Option<Validate<C>>,
) -> Result<C, StartupError> {
    let config = parse_settings::<C>(handler, settings)?;
    if let Some(validate) = validate {
        validate(&config).map_err(|problem| StartupError::HandlerSettings { handler, problem })?;
    }
    Ok(config)
}

#[doc(hidden)]
pub fn __check<C: DeserializeOwned>(
    handler: &'static str,
    settings: &HandlerSettings,
    validate: Option<Validate<C>>,
) -> Result<(), StartupError> {
    parse_and_validate::<C>(handler, settings.clone(), validate).map(drop)
}

/// `check-config`'s view of a config type: its settings with their defaults filled in, when
/// the type can say so (it implements `Serialize`), found by autoref specialization in
/// [`register_handler!`](crate::register_handler!) so that a plugin need not implement anything for it.
#[doc(hidden)]
pub struct __Effective<C>(pub std::marker::PhantomData<C>);

#[doc(hidden)]
pub trait __ViaSerialize {
    fn __effective(&self, settings: &HandlerSettings) -> Option<Value>;
}

impl<C: DeserializeOwned + serde::Serialize> __ViaSerialize for __Effective<C> {
    fn __effective(&self, settings: &HandlerSettings) -> Option<Value> {
        let config: C = serde_json::from_value(Value::Object(settings.clone())).ok()?;
        serde_json::to_value(config).ok()
    }
}

#[doc(hidden)]
pub trait __ViaNothing {
    fn __effective(&self, _settings: &HandlerSettings) -> Option<Value> {
        None
    }
}

impl<C> __ViaNothing for &__Effective<C> {}

/// The config reference's view of a config type: its schema when it derives
/// `schemars::JsonSchema`, found by autoref specialization like [`__Effective`].
#[doc(hidden)]
pub struct __Schema<C>(pub std::marker::PhantomData<C>);

#[doc(hidden)]
pub trait __ViaJsonSchema {
    fn __schema(&self) -> Option<schemars::Schema>;
}

impl<C: schemars::JsonSchema> __ViaJsonSchema for __Schema<C> {
    fn __schema(&self) -> Option<schemars::Schema> {
        Some(crate::reference::schema_for::<C>())
    }
}

#[doc(hidden)]
pub trait __ViaNoSchema {
    fn __schema(&self) -> Option<schemars::Schema> {
        None
    }
}

impl<C> __ViaNoSchema for &__Schema<C> {}

#[doc(hidden)]
pub fn __build<C, H, E, Fut>(
    handler: &'static str,
    settings: HandlerSettings,
    validate: Option<Validate<C>>,
    build: fn(C) -> Fut,
) -> BuildFuture
where
    C: DeserializeOwned,
    H: Handler,
    E: Into<BoxError>,
    Fut: Future<Output = Result<H, E>> + Send + 'static,
{
    let config = match parse_and_validate::<C>(handler, settings, validate) {
        Ok(config) => config,
        Err(error) => return Box::pin(std::future::ready(Err(error))),
    };
    let building = build(config);
    Box::pin(async move {
        match building.await {
            Ok(built) => Ok(Arc::new(built) as Arc<dyn Handler>),
            Err(error) => Err(StartupError::HandlerBuild {
                handler,
                source: error.into(),
            }),
        }
    })
}

/// Registers a handler at link time.
///
/// - `name`: snake_case; its config is the `[handlers.<name>]` table.
/// - `commands`: the `CallbackCommand`s it serves, as constants from
///   `chathook_protocol::commands` (or string literals for a command the table lacks); or
///   `from_config`, to serve what `commands = [...]` in its table selects (patterns such as
///   `"Group.*"`, `"after"`, `"*"`), which the table must then give; or
///   `from_config(default: ["*"])` with the patterns used when the table gives none.
/// - `decides` (optional): `false` for a handler that only observes the before-callbacks it
///   serves, whatever else serves them (its table's `decides` still wins).
/// - `config`: the type its settings deserialize into ([`NoSettings`] for none).
/// - `validate` (optional): a `fn(&Config) -> Result<(), String>` for what the type cannot
///   express (ranges, URL schemes). `check-config`, start-up and `build` all run it, so a
///   config that `check-config` passes never fails later on the same settings.
/// - `build`: an `async fn(Config) -> Result<impl Handler, impl Into<BoxError>>`.
///
/// ```
/// use chathook_core::{Answer, Callback, Handler, HandlerError, register_handler};
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct GreeterConfig {
///     greeting: String,
/// }
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// #[async_trait::async_trait]
/// impl Handler for Greeter {
///     async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
///         tracing::info!(greeting = %self.greeting, command = callback.command(), "hello");
///         Ok(Answer::default())
///     }
/// }
///
/// async fn build(config: GreeterConfig) -> Result<Greeter, std::convert::Infallible> {
///     Ok(Greeter { greeting: config.greeting })
/// }
///
/// register_handler! {
///     name: "greeter",
///     commands: [chathook_core::commands::GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN],
///     config: GreeterConfig,
///     build: build,
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! register_handler {
    (name: $name:literal, commands: [$($command:expr),+ $(,)?], $($rest:tt)*) => {
        $crate::__register_handler!(
            $name,
            $crate::handler::Commands::Fixed(&[$($command),+]),
            $($rest)*
        );
    };
    (
        name: $name:literal,
        commands: from_config(default: [$($pattern:expr),+ $(,)?]),
        $($rest:tt)*
    ) => {
        $crate::__register_handler!(
            $name,
            $crate::handler::Commands::FromConfig(::core::option::Option::Some(&[$($pattern),+])),
            $($rest)*
        );
    };
    (name: $name:literal, commands: from_config, $($rest:tt)*) => {
        $crate::__register_handler!(
            $name,
            $crate::handler::Commands::FromConfig(::core::option::Option::None),
            $($rest)*
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __register_handler {
    (
        $name:literal,
        $commands:expr,
        $(decides: $decides:literal,)?
        config: $config:ty,
        $(validate: $validate:expr,)?
        build: $build:expr $(,)?
    ) => {
        $crate::__private::inventory::submit! {
            $crate::HandlerRegistration::__new(
                $name,
                $commands,
                $crate::__validate!($($decides)?),
                ::core::module_path!(),
                |handler, settings| {
                    $crate::__check::<$config>(handler, settings, $crate::__validate!($($validate)?))
                },
                |handler, settings| {
                    $crate::__build::<$config, _, _, _>(
                        handler,
                        settings,
                        $crate::__validate!($($validate)?),
                        $build,
                    )
                },
                |settings| {
                    #[allow(unused_imports)]
                    use $crate::handler::{__ViaNothing as _, __ViaSerialize as _};
                    (&$crate::handler::__Effective::<$config>(::core::marker::PhantomData))
                        .__effective(settings)
                },
            )
            .__with_schema(|| {
                #[allow(unused_imports)]
                use $crate::handler::{__ViaJsonSchema as _, __ViaNoSchema as _};
                (&$crate::handler::__Schema::<$config>(::core::marker::PhantomData)).__schema()
            })
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __validate {
    () => {
        ::core::option::Option::None
    };
    ($validate:expr) => {
        ::core::option::Option::Some($validate)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_gives_its_typed_model_in_one_call() {
        let command = crate::commands::GROUP_CALLBACK_AFTER_NEW_MEMBER_JOIN;
        let body = chathook_protocol::samples::request_sample(command).unwrap();
        let callback = Callback::new(1400000000, command, body);
        assert!(matches!(
            callback.request(),
            Ok(chathook_protocol::Request::GroupCallbackAfterNewMemberJoin(
                _
            ))
        ));
        let unknown = Callback::new(1, "Foo.CallbackAfterBar", r#"{"a":1}"#);
        assert!(matches!(
            unknown.request(),
            Ok(chathook_protocol::Request::Unknown { .. })
        ));
        let wrong = Callback::new(1, command, r#"{"GroupId":7}"#);
        let error = wrong.request().unwrap_err().to_string();
        assert!(error.contains("GroupId"), "{error}");
    }

    #[test]
    fn parse_refuses_what_follows_the_value() {
        // Found by fuzzing: the path-tracking second parse used to accept trailing bytes.
        let callback = Callback::new(1, "X.Y", r#"{"a":1} x"#);
        let error = callback.parse::<serde_json::Value>().unwrap_err();
        assert_eq!(error.to_string(), "invalid body: trailing characters");
        let error = Callback::new(1, "X.Y", r#"{"a":"x"}"#)
            .parse::<std::collections::HashMap<String, u8>>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid a: invalid type: string \"x\", expected u8"
        );
    }
}
