//! chathook-nats: the `nats` handler, which puts every callback it serves into NATS
//! JetStream, so services in any language can read, replay and scale out on them.
//!
//! Each callback becomes one message on `<subject_prefix>.<SdkAppid>.<CallbackCommand>`, with
//! the body exactly as Chat sent it, the query's details in headers, and a `Nats-Msg-Id`
//! digest of app, command and body so a redelivered callback is stored once. An
//! after-callback is answered OK only once JetStream has acknowledged it, or, when JetStream
//! does not answer in time, once it is committed to a local SQLite spool, which a drainer
//! publishes in arrival order as soon as JetStream is back. Its commands come from its config
//! (`"*"` by default), and it only observes before-callbacks: it never holds up a decision.

mod config;
mod forwarder;
mod handler;
mod message;
mod spool;
mod tool;

pub use crate::config::{NatsConfig, Oversized, StreamSetup};
pub use crate::forwarder::{ForwardError, Forwarder, StreamProblem, StreamSettings};
pub use crate::handler::Nats;
pub use crate::message::{
    CLIENT_IP, COMMAND, MSG_ID, OPT_PLATFORM, Outgoing, RECEIVED_AT, REQUEST_TIME, SDK_APP_ID,
    message_id,
};
pub use crate::spool::{Bounds, Spool, SpoolError, SpoolStats};
