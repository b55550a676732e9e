//! How a plugin announces a handler: [`register_handler!`](crate::register_handler!) submits a
//! [`HandlerRegistration`] (const data: a name, a command set, and functions to check and
//! build its config) to `inventory`, and [`linked_handlers`] reads back every one linked into
//! the binary. What the macro expands to beyond that is in `macro_support.rs`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::{Handler, HandlerSettings};
use crate::config::{DeliveryMode, Fallback, QueueConfig};
use crate::error::StartupError;

/// Building one handler from its settings, as `build` returns it.
pub(super) type BuildFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn Handler>, StartupError>> + Send>>;
pub(super) type CheckFn = fn(&'static str, &HandlerSettings) -> Result<(), StartupError>;
pub(super) type BuildFn = fn(&'static str, HandlerSettings) -> BuildFuture;
pub(super) type EffectiveFn = fn(&HandlerSettings) -> Option<Value>;
pub(super) type SchemaFn = fn() -> Option<schemars::Schema>;
/// A fan-out handler's destinations, read from its settings.
pub type DestinationsFn =
    fn(&'static str, &HandlerSettings) -> Result<Vec<Destination>, StartupError>;

/// One destination of a handler that fans out, such as an endpoint of a forwarder: routed,
/// delivered and retried as a handler of its own, named `<handler>.<destination>` in routes,
/// metrics, the journal and `chathook deliveries`, while one built handler serves them all and
/// reads [`Callback::destination`](super::Callback::destination) to know which one a call is
/// for. A registration with destinations takes its commands, delivery and retry policy from
/// them, so its table's own `commands`, `decides`, `delivery` and `queue` are refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Destination {
    /// Lower-case ASCII letters, digits, `_` and `-`; unique within the handler.
    pub name: String,
    /// Patterns, as a table's `commands` (`"Group.*"`, `"before"`, `"*"`).
    pub commands: Vec<String>,
    /// Inline (called while Chat waits) or queued (journaled, retried).
    pub delivery: DeliveryMode,
    /// As a table's `decides`; a queued destination cannot decide.
    pub decides: Option<bool>,
    /// When it decides and fails; `None`: the table's `fallback`, else `dispatch.before_fallback`.
    pub fallback: Option<Fallback>,
    /// The retry policy of a queued destination; `None`: the defaults.
    pub queue: Option<QueueConfig>,
}

/// A handler as registered by a plugin crate with [`register_handler!`](crate::register_handler!):
/// const data only, all real setup happens in `build` at start-up.
///
/// `register_handler!` makes one with `__private::registration`.
pub struct HandlerRegistration {
    pub(super) name: &'static str,
    pub(super) commands: Commands,
    pub(super) decides: Option<bool>,
    pub(super) delivery: DeliveryMode,
    pub(super) module: &'static str,
    pub(super) check: CheckFn,
    pub(super) build: BuildFn,
    pub(super) effective: EffectiveFn,
    pub(super) schema: SchemaFn,
    pub(super) destinations: Option<DestinationsFn>,
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

    /// How it gets its callbacks when its table does not say `delivery`: `Queued` for a
    /// handler whose work is a downstream call that may fail (a forwarder, a CRM sync).
    pub fn delivery(&self) -> DeliveryMode {
        self.delivery
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

    /// Whether it fans out into destinations (see [`Destination`]).
    pub fn has_destinations(&self) -> bool {
        self.destinations.is_some()
    }

    /// Its destinations as `settings` configure them (the settings checked first); `None`
    /// for a handler without destinations.
    pub fn destinations(
        &self,
        settings: &HandlerSettings,
    ) -> Option<Result<Vec<Destination>, StartupError>> {
        self.destinations
            .map(|destinations| destinations(self.name, settings))
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
/// - `delivery` (optional): `queued` to have its callbacks journaled and delivered with
///   retries unless its table says `delivery = "inline"`; `inline` (the default) otherwise.
/// - `config`: the type its settings deserialize into ([`NoSettings`](crate::NoSettings) for none).
/// - `validate` (optional): a `fn(&Config) -> Result<(), String>` for what the type cannot
///   express (ranges, URL schemes). `check-config`, start-up and `build` all run it, so a
///   config that `check-config` passes never fails later on the same settings.
/// - `destinations` (optional): a `fn(&Config) -> Vec<Destination>` for a handler that fans
///   out into [`Destination`]s, each routed and retried as a handler of its own; the
///   registration's `commands` then only say `from_config`.
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
        $(delivery: $delivery:ident,)?
        config: $config:ty,
        $(validate: $validate:expr,)?
        $(destinations: $destinations:expr,)?
        build: $build:expr $(,)?
    ) => {
        $crate::__private::inventory::submit! {
            $crate::__private::registration(
                $name,
                $commands,
                $crate::__validate!($($decides)?),
                $crate::__delivery!($($delivery)?),
                ::core::module_path!(),
                |handler, settings| {
                    $crate::__private::check::<$config>(handler, settings, $crate::__validate!($($validate)?))
                },
                |handler, settings| {
                    $crate::__private::build::<$config, _, _, _>(
                        handler,
                        settings,
                        $crate::__validate!($($validate)?),
                        $build,
                    )
                },
                |settings| {
                    #[allow(unused_imports)]
                    use $crate::__private::{ViaNothing as _, ViaSerialize as _};
                    (&$crate::__private::Effective::<$config>(::core::marker::PhantomData))
                        .effective(settings)
                },
                || {
                    #[allow(unused_imports)]
                    use $crate::__private::{ViaJsonSchema as _, ViaNoSchema as _};
                    (&$crate::__private::Schema::<$config>(::core::marker::PhantomData)).schema()
                },
                $crate::__destinations!($config; [$($validate)?]; $($destinations)?),
            )
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __delivery {
    () => {
        $crate::config::DeliveryMode::Inline
    };
    (inline) => {
        $crate::config::DeliveryMode::Inline
    };
    (queued) => {
        $crate::config::DeliveryMode::Queued
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __destinations {
    ($config:ty; [$($validate:expr)?];) => {
        ::core::option::Option::None
    };
    ($config:ty; [$($validate:expr)?]; $destinations:expr) => {
        ::core::option::Option::Some::<$crate::__private::DestinationsFn>(|handler, settings| {
            $crate::__private::destinations::<$config>(
                handler,
                settings,
                $crate::__validate!($($validate)?),
                $destinations,
            )
        })
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
