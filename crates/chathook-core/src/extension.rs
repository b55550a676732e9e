//! Extensions: what a crate adds to the service besides handlers (a [`Tap`] on every
//! callback, routes under `/api/v1` behind the bearer token, routes of its own, a word at
//! shutdown), registered at link time with [`register_extension!`] as handlers are. The
//! operator console is one.

use std::fmt;
use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::error::StartupError;
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

/// An extension as a crate registers it with [`register_extension!`]: const data, with all
/// real setup in `build` at start-up.
pub struct ExtensionRegistration {
    name: &'static str,
    build: fn(&mut ServiceFacts<'_>) -> Result<Option<Extension>, StartupError>,
}

inventory::collect!(ExtensionRegistration);

impl ExtensionRegistration {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        build: fn(&mut ServiceFacts<'_>) -> Result<Option<Extension>, StartupError>,
    ) -> Self {
        Self { name, build }
    }

    /// The extension's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Builds the extension for this service; `None` when its config leaves it off.
    pub fn build(&self, facts: &mut ServiceFacts<'_>) -> Result<Option<Extension>, StartupError> {
        (self.build)(facts)
    }
}

impl fmt::Debug for ExtensionRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtensionRegistration")
            .field("name", &self.name)
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

/// Registers an extension at link time: `name` and a
/// `build: fn(&mut ServiceFacts) -> Result<Option<Extension>, StartupError>`.
#[macro_export]
macro_rules! register_extension {
    (name: $name:literal, build: $build:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::extension::ExtensionRegistration::__new($name, $build)
        }
    };
}
