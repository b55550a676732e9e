//! What the connection layer is given ([`Limits`], from `[server]`) and what it reports
//! ([`ConnectionEvents`]): counts and, within the log budget, log lines, and nothing of the
//! router's state.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Sources;
use crate::config::Config;
use crate::http::LogBudget;
use crate::metrics::{InFlight, Metrics};
use crate::rejection::Rejection;

/// The connection settings of `[server]`, and the sources `[auth]` lets connect.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Checked as a connection is accepted, so a source refused anyway takes no slot.
    pub(crate) sources: Arc<Sources>,
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl Limits {
    pub(crate) fn new(config: &Config) -> Self {
        let server = &config.server;
        Self {
            sources: Arc::new(Sources::new(
                config.auth.allowed_sources.clone(),
                config.auth.trusted_proxies.clone(),
            )),
            max_connections: server.max_connections,
            max_header_bytes: server.max_header_bytes,
            header_read_timeout: server.header_read_timeout(),
            idle_timeout: server.idle_timeout(),
            shutdown_timeout: server.shutdown_timeout(),
        }
    }
}

/// What the connection layer reports, and nothing more: it counts and (within the log
/// budget) logs what it refuses or cuts, and never sees the router's state.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionEvents {
    metrics: Arc<Metrics>,
    log_budget: Arc<LogBudget>,
}

impl ConnectionEvents {
    pub(crate) fn new(metrics: Arc<Metrics>, log_budget: Arc<LogBudget>) -> Self {
        Self {
            metrics,
            log_budget,
        }
    }

    /// Counts a connection as open until the guard drops.
    pub(super) fn opened(&self) -> InFlight {
        self.metrics.connection_open()
    }

    /// A refusal made here, where only the peer is known.
    pub(super) fn refused(&self, rejection: &Rejection, peer: SocketAddr) {
        self.metrics.rejection(rejection.reason());
        if self.log_budget.allow() {
            tracing::warn!(
                %peer,
                reason = rejection.reason(),
                status = rejection.status().as_u16(),
                "connection refused: {rejection}"
            );
        }
    }

    pub(super) fn accept_failed(&self, error: &io::Error) {
        self.metrics.connection_cut("accept_failed");
        if self.log_budget.allow() {
            tracing::error!(
                %error,
                "cannot accept a connection; if it says too many open files, raise the file \
                 limit (ulimit -n) or lower server.max_connections"
            );
        }
    }

    pub(super) fn idle_closed(&self) {
        self.metrics.connection_cut("idle_timeout");
    }

    pub(super) fn dropped_at_shutdown(&self, dropped: usize, deadline: Duration) {
        for _ in 0..dropped {
            self.metrics.connection_cut("shutdown_deadline");
        }
        tracing::warn!(
            dropped,
            "shutdown deadline of {} ms passed: open connections dropped",
            deadline.as_millis()
        );
    }
}
