//! chathook-core: the platform every chathook plugin stands on.
//!
//! It receives Tencent Cloud Chat callbacks on one endpoint, checks that they come from a
//! configured app (SdkAppid, `Sign`, freshness), and routes each on its `CallbackCommand` to
//! the [`Handler`]s registered for it with [`register_handler!`]: every one of them for an
//! after-callback, one decider and any observers for a before-callback. It names no plugin:
//! the binary links them.
//!
//! Where things live: [`callback`] (the callback path: [`callback::CHECKS`], dispatch, the
//! [`callback::Exchange`] that tells one callback's story), [`tap`] (what watches it: logs,
//! metrics, extensions), [`extension`] (what a crate adds besides handlers, such as the
//! console), [`protocol`] (command table, reply packet), [`auth`] (query string, apps,
//! signatures), [`config`], [`handler`] (the plugin interface), [`pattern`] (command patterns
//! in config), [`registry`] (the routing table), [`metrics`], [`rejection`] (every HTTP
//! error). The HTTP edge (connection layer, API router, health and metrics routes) is
//! private: [`Chathook`] is its face. [`tool`]: command-line verbs a crate adds, with
//! [`register_tool!`]; [`extract`]: typed API parameters; [`redact`]: credentials out of text.

pub mod auth;
pub mod body_check;
pub mod callback;
pub mod config;
mod delivery;
mod error;
pub mod extension;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
mod http;
pub mod journal;
pub mod metrics;
pub mod pattern;
pub mod protocol;
pub mod redact;
pub mod reference;
pub mod registry;
pub mod rejection;
mod service;
pub mod sqlite_checkpoint;
pub mod sqlite_files;
pub mod tap;
pub mod tool;

pub use async_trait::async_trait;

pub use crate::config::Config;
pub use crate::error::{BoxError, StartupError};
pub use crate::handler::{
    Callback, DecidedBy, Decision, DeliveryAttempt, Destination, Handler, HandlerError,
    HandlerRegistration, HandlerSettings, NoSettings, linked_handlers,
};
/// What operators ask of the journal, from text: shared by `/api/v1/deliveries` and
/// `chathook deliveries`.
pub use crate::http::operator as deliveries;
pub use crate::protocol::{Answer, CallbackKind, Reply};
pub use crate::rejection::{ApiError, Rejection};
pub use crate::service::Chathook;
/// Every `CallbackCommand` as a constant, for `register_handler!` and matches.
pub use chathook_protocol::commands;

/// What the registration macros expand to in a plugin crate: not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::macro_support::{
        DestinationsFn, Effective, Schema, ViaJsonSchema, ViaNoSchema, ViaNothing, ViaSerialize,
        build, check, destinations, registration,
    };
    pub use inventory;
}
