//! `chathook verify-url`'s walk: [`CHECKS`] over a callback URL alone, saying what each check
//! finds, or why a URL cannot settle it (the caller's address, the body).

use super::admit::{CHECKS, Check, Gate};
use crate::auth::{
    App, CallbackQuery, Secret, check_freshness, check_sign, parse_request_time, unix_now,
};
use crate::protocol::kind_of;
use crate::rejection::Rejection;

/// One check's verdict on a callback URL alone, for `chathook verify-url`.
#[derive(Debug)]
pub struct Finding {
    /// The check's name in the report.
    pub name: &'static str,
    /// What it found.
    pub verdict: Verdict,
}

/// What one check found.
#[derive(Debug)]
pub enum Verdict {
    /// Passed, with what it saw.
    Passed(String),
    /// Refused, as the server would.
    Failed(Rejection),
    /// Needs what a URL does not carry (the caller's address, the body).
    NotChecked(String),
}

/// What `verify-url`'s walk has learnt so far, and its report.
struct Walk<'a> {
    token: Option<Secret>,
    query: Option<CallbackQuery<'a>>,
    app: Option<App>,
    findings: Vec<Finding>,
}

impl Walk<'_> {
    fn found(&mut self, name: &'static str, verdict: Verdict) {
        self.findings.push(Finding { name, verdict });
    }
}

impl Gate {
    /// Walks [`CHECKS`] over a callback URL, as the server would on a request to it, and
    /// says what each check finds; a check goes on after an earlier one failed whenever it
    /// can, so one report names every problem. `token`, when given, is checked instead of
    /// the configured app's tokens (and for an app that is not configured).
    pub fn explain(&self, url: &str, token: Option<Secret>) -> Vec<Finding> {
        let query_text = url.split_once('?').map_or("", |(_, query)| query);
        let query_text = query_text.split('#').next().unwrap_or("");
        let mut walk = Walk {
            token,
            query: None,
            app: None,
            findings: Vec::new(),
        };
        for check in CHECKS {
            if self.explain_check(check, query_text, &mut walk).is_err() {
                break;
            }
        }
        if walk.query.is_some() {
            walk.found(
                Check::BodyRead.name(),
                Verdict::NotChecked(format!(
                    "Chat sends it: at most {} bytes, one JSON object",
                    self.body_limit
                )),
            );
        }
        walk.findings
    }

    /// One check of the walk; `Err` when the checks after it cannot run.
    fn explain_check<'a>(
        &self,
        check: Check,
        query_text: &'a str,
        walk: &mut Walk<'a>,
    ) -> Result<(), ()> {
        match check {
            Check::Source if self.sources.allows_any() => {
                walk.found(
                    check.name(),
                    Verdict::Passed("any source is allowed".into()),
                );
            }
            Check::Source => walk.found(
                check.name(),
                Verdict::NotChecked(
                    "auth.allowed_sources is set: the caller's address decides".into(),
                ),
            ),
            Check::Query => match CallbackQuery::parse(query_text).map_err(Rejection::from) {
                Ok(parsed) => walk.query = Some(parsed),
                Err(rejection) => {
                    walk.found(check.name(), Verdict::Failed(rejection));
                    return Err(());
                }
            },
            Check::App => self.explain_app(walk)?,
            Check::Signature => {
                if let (Some(query), Some(app)) = (&walk.query, &walk.app)
                    && app.requires_signature()
                {
                    let findings = self.explain_signature(app, query);
                    walk.findings.extend(findings);
                }
            }
            Check::Command => {
                let verdict = match walk.query.as_ref().and_then(|q| q.command.as_deref()) {
                    Some(command) => Verdict::Passed(format!(
                        "{command} ({}-callback)",
                        kind_of(command).as_str()
                    )),
                    None => Verdict::Failed(Rejection::CommandMissing),
                };
                walk.found(check.name(), verdict);
            }
            // Said once, after the walk: a URL carries no body.
            Check::BodyRead | Check::BodySyntax => {}
            Check::Replay if self.replay_cache.is_none() => {}
            Check::Replay => walk.found(
                check.name(),
                Verdict::NotChecked("auth.replay_cache is on: it needs the body".into()),
            ),
        }
        Ok(())
    }

    /// The app check, and which tokens the signature is checked against: the one given, or
    /// the configured app's.
    fn explain_app(&self, walk: &mut Walk<'_>) -> Result<(), ()> {
        let query = walk.query.as_ref().expect("the query parsed");
        let sdk_app_id = match query.sdk_app_id().map_err(Rejection::from) {
            Ok(id) => id,
            Err(rejection) => {
                walk.found(Check::App.name(), Verdict::Failed(rejection));
                return Err(());
            }
        };
        let configured = self.apps.get(sdk_app_id);
        let tokens = match (&walk.token, &configured) {
            (Some(token), _) => vec![token.clone()],
            (None, Ok(configured)) => configured.tokens().to_vec(),
            (None, Err(_)) => Vec::new(),
        };
        let name = configured
            .as_ref()
            .map_or("checked".into(), |app| app.name.clone());
        let checked = App::new(&*name, sdk_app_id, tokens);
        let unchecked = configured.is_err() && walk.token.is_none();
        match configured {
            Ok(configured) => walk.found(
                Check::App.name(),
                Verdict::Passed(format!("{sdk_app_id} is app {:?}", &*configured.name)),
            ),
            Err(rejection) => walk.found(Check::App.name(), Verdict::Failed(rejection)),
        }
        if unchecked {
            walk.found(
                Check::Signature.name(),
                Verdict::Passed("not checked: pass --token, or configure the app".into()),
            );
        } else if !checked.requires_signature() {
            walk.found(
                Check::Signature.name(),
                Verdict::Passed("not required (the app sets allow_unsigned)".into()),
            );
        }
        walk.app = Some(checked);
        Ok(())
    }

    /// The signature check in its parts, so one report names each problem.
    fn explain_signature(&self, app: &App, query: &CallbackQuery<'_>) -> Vec<Finding> {
        let name = Check::Signature.name();
        let mut findings = Vec::new();
        let sign = query.sign.as_deref();
        findings.push(Finding {
            name,
            verdict: match sign {
                Some(_) => Verdict::Passed("present".into()),
                None => Verdict::Failed(Rejection::SignMissing),
            },
        });
        let Some(time_text) = query.request_time.as_deref() else {
            findings.push(Finding {
                name: "RequestTime",
                verdict: Verdict::Failed(Rejection::RequestTimeMissing),
            });
            return findings;
        };
        let max_skew_secs = self.max_skew_secs;
        let freshness = parse_request_time(time_text).and_then(|time| {
            check_freshness(time, unix_now(), max_skew_secs).map(|()| {
                format!(
                    "{time} is {} s from now (allowed ±{max_skew_secs} s)",
                    time as i64 - unix_now() as i64
                )
            })
        });
        findings.push(Finding {
            name: "RequestTime",
            verdict: match freshness {
                Ok(seen) => Verdict::Passed(seen),
                Err(rejection) => Verdict::Failed(rejection),
            },
        });
        if let Some(sign) = sign {
            findings.push(Finding {
                name,
                verdict: match check_sign(app.tokens(), sign, time_text) {
                    Ok(()) => Verdict::Passed("matches the token".into()),
                    Err(rejection) => Verdict::Failed(rejection),
                },
            });
        }
        findings
    }
}
