//! Extensions: what a crate adds to the service besides handlers (a [`Tap`] on every
//! callback, routes under `/api/v1` behind the bearer token, routes of its own, a word at
//! shutdown), registered at link time with [`register_extension!`](crate::register_extension!) as handlers are. The
//! operator console is one.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::StartupError;
use crate::handler::{Validate, parse_table};
use crate::registry::RoutingRow;
use crate::tap::Tap;

/// What an extension is told of the service it joins, at start-up.
#[non_exhaustive]
pub struct ServiceFacts<'a> {
    /// The validated config.
    pub config: &'a Config,
    /// The enabled (built) handlers.
    pub handlers: Vec<&'static str>,
    /// The routing table, as `chathook handlers` prints it.
    pub routing_table: &'a [RoutingRow],
    /// Where the extension registers its metrics: names get the `chathook_` prefix.
    pub metrics: &'a mut prometheus_client::registry::Registry,
}

/// What an extension adds to the service; every part is optional.
#[non_exhaustive]
pub struct Extension {
    /// The extension's name, for errors and logs.
    pub name: &'static str,
    /// Told of every callback.
    pub tap: Option<Arc<dyn Tap>>,
    /// Routes under `/api/v1`, behind the `[api]` bearer token.
    pub api_routes: Option<Router>,
    /// Routes of its own, outside `/api/v1` and without a token.
    pub routes: Option<Router>,
    /// Called once as shutdown begins (to end what would otherwise hold it up, such as live
    /// streams).
    pub on_shutdown: Option<Box<dyn FnOnce() + Send>>,
}

impl Extension {
    /// An extension named `name` that adds nothing yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            tap: None,
            api_routes: None,
            routes: None,
            on_shutdown: None,
        }
    }
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("tap", &self.tap.is_some())
            .field("api_routes", &self.api_routes.is_some())
            .field("routes", &self.routes.is_some())
            .finish_non_exhaustive()
    }
}

/// An extension as a crate registers it with [`register_extension!`](crate::register_extension!): const data, with all
/// real setup in `build` at start-up.
pub struct ExtensionRegistration {
    name: &'static str,
    paths: &'static [&'static str],
    check: fn(Option<&Value>) -> Result<(), StartupError>,
    effective: fn(Option<&Value>) -> Option<Value>,
    schema: fn() -> schemars::Schema,
    build: fn(&mut ServiceFacts<'_>, Option<&Value>) -> Result<Option<Extension>, StartupError>,
}

inventory::collect!(ExtensionRegistration);

/// An extension's build function, as [`register_extension!`](crate::register_extension!) takes it.
pub type Build<C> = fn(&mut ServiceFacts<'_>, C) -> Result<Option<Extension>, StartupError>;

impl ExtensionRegistration {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        paths: &'static [&'static str],
        check: fn(Option<&Value>) -> Result<(), StartupError>,
        effective: fn(Option<&Value>) -> Option<Value>,
        schema: fn() -> schemars::Schema,
        build: fn(&mut ServiceFacts<'_>, Option<&Value>) -> Result<Option<Extension>, StartupError>,
    ) -> Self {
        Self {
            name,
            paths,
            check,
            effective,
            schema,
            build,
        }
    }

    /// Its config type's JSON Schema, for the configuration reference.
    pub fn config_schema(&self) -> schemars::Schema {
        (self.schema)()
    }

    /// The extension's name, which is also its config table's.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether `path` is one of the paths its routes serve (one ending in `/` is a prefix),
    /// so the callback path cannot take it.
    pub fn serves(&self, path: &str) -> bool {
        self.paths
            .iter()
            .any(|served| match served.strip_suffix('/') {
                Some(prefix) => path == prefix || path.starts_with(served),
                None => path == *served,
            })
    }

    /// Checks its table (`None`: the config has none, so its defaults) without building it.
    pub fn check(&self, section: Option<&Value>) -> Result<(), StartupError> {
        (self.check)(section)
    }

    /// Its table as the extension reads it, defaults filled in, for `check-config`.
    pub fn effective_settings(&self, section: Option<&Value>) -> Option<Value> {
        (self.effective)(section)
    }

    /// Builds the extension for this service; `None` when its config leaves it off.
    pub fn build(
        &self,
        facts: &mut ServiceFacts<'_>,
        section: Option<&Value>,
    ) -> Result<Option<Extension>, StartupError> {
        (self.build)(facts, section)
    }
}

/// Parses and checks an extension's table: the one validation that `check-config`, start-up
/// and `build` share.
#[doc(hidden)]
pub fn __parse<C: DeserializeOwned>(
    extension: &'static str,
    section: Option<&Value>,
    validate: Option<Validate<C>>,
) -> Result<C, StartupError> {
    let problem = |problem| StartupError::ExtensionSettings { extension, problem };
    let table = match section {
        None => Map::new(),
        Some(Value::Object(table)) => table.clone(),
        Some(other) => return Err(problem(format!("expected a table, found {other}"))),
    };
    let config = parse_table::<C>(table).map_err(problem)?;
    if let Some(validate) = validate {
        validate(&config).map_err(problem)?;
    }
    Ok(config)
}

#[doc(hidden)]
pub fn __effective<C: DeserializeOwned + Serialize>(
    extension: &'static str,
    section: Option<&Value>,
) -> Option<Value> {
    let config = __parse::<C>(extension, section, None).ok()?;
    serde_json::to_value(config).ok()
}

impl fmt::Debug for ExtensionRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtensionRegistration")
            .field("name", &self.name)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

/// Every extension linked into this binary, sorted by name.
pub fn linked_extensions() -> Vec<&'static ExtensionRegistration> {
    let mut all: Vec<_> = inventory::iter::<ExtensionRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|registration| registration.name);
    all
}

/// Registers an extension at link time.
///
/// - `name`: snake_case; its config is the top-level `[<name>]` table.
/// - `paths`: the paths its own routes serve, so the callback path cannot take them (one
///   ending in `/` also covers everything under it).
/// - `config`: the type its table deserializes into (`Deserialize + Serialize +
///   schemars::JsonSchema`, and `#[serde(default)]` since the table may be absent); its doc
///   comments are the table's configuration reference.
/// - `validate` (optional): a `fn(&Config) -> Result<(), String>` for what the type cannot
///   express; `check-config` and start-up both run it.
/// - `build`: a [`Build`] function, which returns `None` when the config leaves it off.
#[macro_export]
macro_rules! register_extension {
    (
        name: $name:literal,
        paths: [$($path:expr),* $(,)?],
        config: $config:ty,
        $(validate: $validate:expr,)?
        build: $build:expr $(,)?
    ) => {
        $crate::__private::inventory::submit! {
            $crate::extension::ExtensionRegistration::__new(
                $name,
                &[$($path),*],
                |section| {
                    $crate::extension::__parse::<$config>(
                        $name,
                        section,
                        $crate::__validate!($($validate)?),
                    )
                    .map(drop)
                },
                |section| $crate::extension::__effective::<$config>($name, section),
                $crate::reference::schema_for::<$config>,
                |facts, section| {
                    let config = $crate::extension::__parse::<$config>(
                        $name,
                        section,
                        $crate::__validate!($($validate)?),
                    )?;
                    let build: $crate::extension::Build<$config> = $build;
                    build(facts, config)
                },
            )
        }
    };
}
