//! What [`register_handler!`](crate::register_handler!) expands to in a plugin crate, reached
//! there as `chathook_core::__private::*` and nowhere else: not part of the API.
//!
//! The macro knows the plugin's config type, so it instantiates [`check`] and [`build`] for
//! it, and finds out by autoref specialization ([`Effective`], [`Schema`]) whether the type is
//! `Serialize` (for `check-config`'s effective settings) or `JsonSchema` (for the config
//! reference), so that a plugin need implement neither.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Handler;
pub use super::registration::DestinationsFn;
use super::registration::{
    BuildFn, BuildFuture, CheckFn, Commands, Destination, EffectiveFn, HandlerRegistration,
    SchemaFn,
};
use super::settings::{HandlerSettings, Validate, parse_and_validate};
use crate::error::{BoxError, StartupError};

/// A [`HandlerRegistration`] from the macro's closures.
#[allow(clippy::too_many_arguments)] // one per field: the macro names them all
pub const fn registration(
    name: &'static str,
    commands: Commands,
    decides: Option<bool>,
    delivery: crate::config::DeliveryMode,
    module: &'static str,
    check: CheckFn,
    build: BuildFn,
    effective: EffectiveFn,
    schema: SchemaFn,
    destinations: Option<DestinationsFn>,
) -> HandlerRegistration {
    HandlerRegistration {
        name,
        commands,
        decides,
        delivery,
        module,
        check,
        build,
        effective,
        schema,
        destinations,
    }
}

/// [`HandlerRegistration::destinations`] for config type `C` and the plugin's function.
pub fn destinations<C: DeserializeOwned>(
    handler: &'static str,
    settings: &HandlerSettings,
    validate: Option<Validate<C>>,
    destinations: fn(&C) -> Vec<Destination>,
) -> Result<Vec<Destination>, StartupError> {
    parse_and_validate::<C>(handler, settings.clone(), validate).map(|config| destinations(&config))
}

/// [`HandlerRegistration::check`] for config type `C`.
pub fn check<C: DeserializeOwned>(
    handler: &'static str,
    settings: &HandlerSettings,
    validate: Option<Validate<C>>,
) -> Result<(), StartupError> {
    parse_and_validate::<C>(handler, settings.clone(), validate).map(drop)
}

/// [`HandlerRegistration::build`] for config type `C` and the plugin's `build` function.
pub fn build<C, H, E, Fut>(
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

/// `check-config`'s view of a config type: its settings with their defaults filled in, when
/// the type implements `Serialize` ([`ViaSerialize`]), else nothing ([`ViaNothing`], which
/// method lookup reaches only through one more reference).
pub struct Effective<C>(pub std::marker::PhantomData<C>);

/// [`Effective`] for a `Serialize` config type.
pub trait ViaSerialize {
    /// The settings as the handler will read them, defaults included.
    fn effective(&self, settings: &HandlerSettings) -> Option<Value>;
}

impl<C: DeserializeOwned + serde::Serialize> ViaSerialize for Effective<C> {
    fn effective(&self, settings: &HandlerSettings) -> Option<Value> {
        let config: C = serde_json::from_value(Value::Object(settings.clone())).ok()?;
        serde_json::to_value(config).ok()
    }
}

/// [`Effective`] for any other config type.
pub trait ViaNothing {
    /// Nothing: the type cannot say.
    fn effective(&self, _settings: &HandlerSettings) -> Option<Value> {
        None
    }
}

impl<C> ViaNothing for &Effective<C> {}

/// The config reference's view of a config type: its schema when it derives
/// `schemars::JsonSchema`, found by autoref specialization like [`Effective`].
pub struct Schema<C>(pub std::marker::PhantomData<C>);

/// [`Schema`] for a `JsonSchema` config type.
pub trait ViaJsonSchema {
    /// Its schema, doc comments and defaults included.
    fn schema(&self) -> Option<schemars::Schema>;
}

impl<C: schemars::JsonSchema> ViaJsonSchema for Schema<C> {
    fn schema(&self) -> Option<schemars::Schema> {
        Some(crate::reference::schema_for::<C>())
    }
}

/// [`Schema`] for any other config type.
pub trait ViaNoSchema {
    /// Nothing: the type has no schema.
    fn schema(&self) -> Option<schemars::Schema> {
        None
    }
}

impl<C> ViaNoSchema for &Schema<C> {}
