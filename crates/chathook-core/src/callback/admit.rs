//! Admission: the checks a request passes before any handler sees it, as one ordered list,
//! [`CHECKS`]. The server walks it to admit a request; `chathook verify-url` walks the same
//! list to explain, check by check, what the server would answer a URL.
//!
//! Cheapest first, and nothing is read that an earlier check could refuse: the source, the
//! query string, the app, the signature and its freshness, the command, then the body (its
//! size and time, its syntax) and last the replay cache, which must see the body.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::auth::{App, Apps, CallbackQuery, ReplayCache, Sources, parse_request_time, unix_now};
use crate::body_check::check_body;
use crate::config::Config;
use crate::http::Connection;
use crate::rejection::Rejection;

/// One check of [`CHECKS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The caller's address is in `auth.allowed_sources` (after trusted proxies).
    Source,
    /// The query string parses, with no deciding parameter twice.
    Query,
    /// `SdkAppid` is a configured app.
    App,
    /// `Sign` and `RequestTime`: present, fresh, and signed with one of the app's tokens.
    Signature,
    /// `CallbackCommand` is given.
    Command,
    /// The body arrives within `server.body_limit_bytes` and `server.body_read_timeout_ms`.
    BodyRead,
    /// The body is one JSON object whose `CallbackCommand`, if any, is the query's.
    BodySyntax,
    /// With `auth.replay_cache`: this `RequestTime` and `Sign` did not come with another body.
    Replay,
}

/// Every check, in the order a request meets them.
pub const CHECKS: [Check; 8] = [
    Check::Source,
    Check::Query,
    Check::App,
    Check::Signature,
    Check::Command,
    Check::BodyRead,
    Check::BodySyntax,
    Check::Replay,
];

impl Check {
    /// The check's name in `chathook verify-url`'s report.
    pub fn name(self) -> &'static str {
        match self {
            Check::Source => "source",
            Check::Query => "query",
            Check::App => "SdkAppid",
            Check::Signature => "Sign",
            Check::Command => "CallbackCommand",
            Check::BodyRead => "body",
            Check::BodySyntax => "body JSON",
            Check::Replay => "replay",
        }
    }
}

/// What the checks hold to: built once from the config.
#[derive(Debug)]
pub struct Gate {
    pub(super) apps: Apps,
    pub(super) max_skew_secs: u64,
    pub(super) sources: Sources,
    pub(super) replay_cache: Option<ReplayCache>,
    pub(super) body_limit: usize,
    pub(super) body_read_timeout: Duration,
}

impl Gate {
    /// The checks as `config` sets them up (validated already).
    pub fn new(config: &Config) -> Self {
        let apps = Apps::new(
            config
                .apps
                .iter()
                .map(|(name, app)| App::new(name.clone(), app.sdk_app_id, app.tokens.clone())),
        );
        Self {
            apps,
            max_skew_secs: config.auth.max_clock_skew_secs,
            sources: Sources::new(
                config.auth.allowed_sources.clone(),
                config.auth.trusted_proxies.clone(),
            ),
            replay_cache: config
                .auth
                .replay_cache
                .then(|| ReplayCache::new(config.auth.replay_cache_entries)),
            body_limit: config.server.body_limit_bytes,
            body_read_timeout: config.server.body_read_timeout(),
        }
    }

    /// Starts the admission of the request whose head is `parts`.
    pub(crate) fn admission<'a>(&'a self, parts: &'a Parts) -> Admission<'a> {
        Admission {
            gate: self,
            parts,
            query: None,
            sdk_app_id: None,
            app: None,
            signed: false,
            body: None,
        }
    }

    fn check_source(&self, parts: &Parts) -> Result<(), Rejection> {
        if self.sources.allows_any() {
            return Ok(());
        }
        // Served without the connection layer (a test's router): the peer is unknown.
        let peer = parts
            .extensions
            .get::<Arc<Connection>>()
            .map(|connection| connection.peer.ip())
            .ok_or(Rejection::SourceNotAllowed(IpAddr::from([0, 0, 0, 0])))?;
        let forwarded = parts.headers.get_all("x-forwarded-for").iter();
        self.sources
            .check(peer, forwarded.map(HeaderValue::as_bytes))
    }

    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Rejection> {
        let limit = self.body_limit;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(Rejection::BodyTooLarge { limit });
        }
        let collected =
            tokio::time::timeout(self.body_read_timeout, Limited::new(body, limit).collect())
                .await
                .map_err(|_| Rejection::BodyTimeout {
                    timeout_ms: self.body_read_timeout.as_millis() as u64,
                })?;
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => Err(Rejection::BodyTooLarge { limit }),
            Err(error) => {
                tracing::debug!(error = %error, "body read failed");
                Err(Rejection::BodyUnreadable)
            }
        }
    }

    fn check_replay(
        &self,
        app: &App,
        query: &CallbackQuery<'_>,
        body: &[u8],
    ) -> Result<(), Rejection> {
        let Some(cache) = &self.replay_cache else {
            return Ok(());
        };
        let (Some(time), Some(sign)) = (&query.request_time, &query.sign) else {
            return Ok(());
        };
        if !app.requires_signature() {
            return Ok(());
        }
        let time = parse_request_time(time)?;
        cache.check(
            app.sdk_app_id,
            time,
            sign,
            body,
            unix_now(),
            self.max_skew_secs,
        )
    }
}

/// One request's way through [`CHECKS`], and what each check learnt on the way: a refused
/// request still tells which app and command it was about, as far as the checks got.
pub(crate) struct Admission<'a> {
    gate: &'a Gate,
    parts: &'a Parts,
    query: Option<CallbackQuery<'a>>,
    sdk_app_id: Option<u64>,
    app: Option<&'a App>,
    /// The command check passed: the query's fields are the signed app's.
    signed: bool,
    body: Option<Bytes>,
}

impl<'a> Admission<'a> {
    /// Runs every check in order; the first that fails refuses the request.
    pub(crate) async fn run(&mut self, body: Body) -> Result<(), Rejection> {
        let mut body = Some(body);
        for check in CHECKS {
            self.check(check, &mut body).await?;
        }
        Ok(())
    }

    async fn check(&mut self, check: Check, body: &mut Option<Body>) -> Result<(), Rejection> {
        let gate = self.gate;
        match check {
            Check::Source => gate.check_source(self.parts),
            Check::Query => {
                let raw = self.parts.uri.query().unwrap_or("");
                self.query = Some(CallbackQuery::parse(raw)?);
                Ok(())
            }
            Check::App => {
                let sdk_app_id = self.query().sdk_app_id()?;
                self.sdk_app_id = Some(sdk_app_id);
                self.app = Some(gate.apps.get(sdk_app_id)?);
                Ok(())
            }
            Check::Signature => self
                .app()
                .verify(self.query(), unix_now(), gate.max_skew_secs),
            Check::Command => {
                self.query()
                    .command
                    .as_ref()
                    .ok_or(Rejection::CommandMissing)?;
                self.signed = true;
                Ok(())
            }
            Check::BodyRead => {
                let body = body.take().expect("the body is read once");
                self.body = Some(gate.read_body(&self.parts.headers, body).await?);
                Ok(())
            }
            Check::BodySyntax => check_body(self.body(), self.command().expect("checked")),
            Check::Replay => gate.check_replay(self.app(), self.query(), self.body()),
        }
    }

    fn query(&self) -> &CallbackQuery<'a> {
        self.query.as_ref().expect("the query check ran")
    }

    fn app(&self) -> &'a App {
        self.app.expect("the app check ran")
    }

    fn body(&self) -> &Bytes {
        self.body.as_ref().expect("the body was read")
    }

    /// The parsed query string, once it parsed; its fields are unauthenticated until
    /// [`Admission::command`] is known.
    pub(crate) fn parsed_query(&self) -> Option<&CallbackQuery<'a>> {
        self.query.as_ref()
    }

    /// `SdkAppid`, once it parsed.
    pub(crate) fn sdk_app_id(&self) -> Option<u64> {
        self.sdk_app_id
    }

    /// The configured app, once `SdkAppid` named one.
    pub(crate) fn known_app(&self) -> Option<&'a App> {
        self.app
    }

    /// `CallbackCommand`, once the request is authenticated.
    pub(crate) fn command(&self) -> Option<&str> {
        self.signed
            .then(|| self.query.as_ref()?.command.as_deref())
            .flatten()
    }

    /// The body, once read.
    pub(crate) fn received_body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }
}
