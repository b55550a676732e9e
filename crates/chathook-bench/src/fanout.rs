//! The bench-local plugins of scenario (e): two after-handlers on one command, each doing the
//! least a forwarder would (decode the typed request, answer OK), so what (e) adds to (a) is
//! the cost of fanning a callback out, not of any handler's own work.
//!
//! Both leave their commands to config (`commands = [...]` in `[handlers.tally_a]` and
//! `[handlers.tally_b]`); the bench enables them on `Group.CallbackAfterSendMsg` only.

use chathook_core::{
    Callback, Handler, HandlerError, NoSettings, Reply, async_trait, register_handler,
};

/// The handlers' names, which are also their config tables' keys and metrics labels.
pub const HANDLERS: [&str; 2] = ["tally_a", "tally_b"];

/// Decodes the callback into chathook-protocol's typed model and answers OK; a body that
/// does not fit is the decoder's `HandlerError`.
#[derive(Debug)]
pub struct Tally;

#[async_trait]
impl Handler for Tally {
    async fn handle(&self, callback: Callback) -> Result<Reply, HandlerError> {
        callback.request()?;
        Ok(Reply::ok())
    }
}

async fn build(_: NoSettings) -> Result<Tally, std::convert::Infallible> {
    Ok(Tally)
}

register_handler! {
    name: "tally_a",
    commands: from_config,
    config: NoSettings,
    build: build,
}

register_handler! {
    name: "tally_b",
    commands: from_config,
    config: NoSettings,
    build: build,
}
