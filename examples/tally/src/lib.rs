//! example-tally: the smallest plugin whose commands come from its config
//! (`commands: from_config`), doing the least a forwarder would: decode the typed request and
//! answer OK.
//!
//! It is registered twice, as `tally_a` and `tally_b`, so two of them can serve one command:
//! the load benchmark's fan-out scenario (e) enables both on `Group.CallbackAfterSendMsg`
//! (`commands = [...]` in `[handlers.tally_a]` and `[handlers.tally_b]`), and what (e) adds to
//! the unrouted scenario (a) is the cost of fanning a callback out, not of any handler's work.
//! Like every example plugin it is linked only by the binaries that name it, never by the
//! stock `chathook`.

use chathook_core::{
    Answer, Callback, Handler, HandlerError, NoSettings, async_trait, register_handler,
};

/// The handlers' names, which are also their config tables' keys and metrics labels.
pub const HANDLERS: [&str; 2] = ["tally_a", "tally_b"];

/// Decodes the callback into chathook-protocol's typed model and answers OK; a body that
/// does not fit is the decoder's `HandlerError`.
#[derive(Debug)]
pub struct Tally;

#[async_trait]
impl Handler for Tally {
    async fn handle(&self, callback: Callback) -> Result<Answer, HandlerError> {
        callback.request()?;
        Ok(Answer::default())
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
