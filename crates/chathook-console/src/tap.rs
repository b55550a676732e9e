//! The console's tap: what it keeps of each callback the pipeline answers.

use std::sync::Arc;

use chathook_core::callback::{Exchange, Outcome};
use chathook_core::tap::{HandlerFinished, Tap};

use crate::recent::Recent;
use crate::record::{Answered, Facts};

/// The console's tap: every answered callback into the buffer, and each late handler result
/// into its record.
pub(crate) struct ConsoleTap {
    pub(crate) recent: Arc<Recent>,
}

impl Tap for ConsoleTap {
    fn handler_finished(&self, finished: &HandlerFinished<'_>) {
        self.recent.handler_finished(finished.calls);
    }

    fn answered(&self, exchange: &Exchange<'_>) {
        let query = exchange.query;
        // What the caller says of its client counts once the request is authenticated.
        let authenticated = query.filter(|_| exchange.command.is_some());
        let facts = Facts {
            arrived: Some(exchange.arrived),
            sdk_app_id: exchange.sdk_app_id,
            app: exchange.app.cloned(),
            command: exchange.command,
            // A documented or routed command's own name: nothing to copy.
            static_command: exchange
                .label
                .filter(|label| Some(*label) == exchange.command),
            request_time: query
                .and_then(|query| query.request_time.as_deref())
                .and_then(|time| time.trim().parse().ok()),
            client_ip: authenticated.and_then(|query| query.client_ip.as_deref()),
            opt_platform: authenticated.and_then(|query| query.opt_platform.as_deref()),
            body_bytes: exchange.body.map(|body| body.len()),
            body: exchange.body,
            handlers: exchange.handlers.cloned(),
        };
        let answered = Answered {
            outcome: exchange.outcome,
            status: exchange.status().as_u16(),
            latency: exchange.latency,
            rejection: exchange
                .rejection()
                .filter(|_| exchange.outcome == Outcome::Rejected)
                .cloned(),
        };
        self.recent.record(facts, answered);
    }
}
