//! `[handlers.http_forward]`: the endpoints, their checks, and what they set up (the HTTP
//! client with its TLS settings, the signing keys, the extra headers).
//!
//! Every refusal names the endpoint and the key (`endpoints[crm].url: ...`); the platform
//! puts `invalid settings in [handlers.http_forward]:` in front. No refusal quotes a secret,
//! and a URL is shown with its password replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chathook_core::auth::Secret;
use chathook_core::config::{Fallback, QueueConfig};
use chathook_core::pattern::{CommandSet, CommandShape};
use chathook_core::protocol::{KNOWN_COMMANDS, kind_of};
use chathook_core::{CallbackKind, redact};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::request::RESERVED_HEADERS;
use crate::signing::Signer;

/// `[handlers.http_forward]`, besides the platform's `enabled`. `Serialize` so that
/// `check-config` shows every setting with its default (secrets redacted there); `JsonSchema`
/// so that the config reference lists them.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpForwardConfig {
    /// The services callbacks are POSTed to, each with the commands it takes:
    /// `[[handlers.http_forward.endpoints]]`, one table per endpoint.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
}

/// `[[handlers.http_forward.endpoints]]`: one service and what it gets.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The endpoint's name (lower-case letters, digits, `_` and `-`), unique among the
    /// endpoints: its deliveries, metrics and console records say `http_forward.<name>`.
    pub name: String,
    /// Required. Where callbacks are POSTed: `https://` or `http://`, without credentials
    /// (secrets go in `secret`/`secrets` and `headers`, which are redacted; URLs are logged)
    /// and without a fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Required. The commands it takes, as patterns (`"Group.*"`, `"after"`,
    /// `"Group.*:after"`, `"!Group.CallbackAfterGroupInfoChanged"`, `"*"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// The signing secret, `whsec_<base64>` (Standard Webhooks). Give this or `secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub secret: Option<Secret>,
    /// Two signing secrets while rotating: each request carries one `v1,` signature per
    /// secret, so the service may verify with either. Give this or `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<String>>")]
    pub secrets: Option<Vec<Secret>>,
    /// How long one request may take, in milliseconds, at most: a request also ends where
    /// the platform's deadline for the call does (`dispatch.handler_timeout_ms` for a
    /// decision, `queue.attempt_timeout_ms` for a delivery).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra headers on every request (an `Authorization` for the service, a team tag).
    /// Values whose names look like credentials are redacted in `check-config`. The headers
    /// chathook sets itself (`Content-Type`, `webhook-*`, `Chathook-*`) cannot be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Whether the endpoint decides the before-callbacks it takes: it is called while Chat
    /// waits and its JSON reply, once checked, is Chat's answer. Only before-callbacks may be
    /// decided: `commands` must then select no other kind.
    #[serde(default)]
    pub decides: bool,
    /// What a deciding endpoint's late, failed or invalid reply is replaced with: `allow` or
    /// `deny`; unset, `dispatch.before_fallback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// 4xx statuses to retry rather than treat as permanent (dead letter), e.g. `[409]` for a
    /// service that answers 409 while it catches up. 429 is always retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_statuses: Vec<u16>,
    /// TLS beyond the system's root certificates: an extra CA, a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// The retry policy of its deliveries (not for a deciding endpoint, which is called once,
    /// inline); unset, the defaults of `[handlers.<name>.queue]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueConfig>,
}

/// `tls = { ... }` of an endpoint. Files are read and parsed at start-up (and by
/// `check-config`), so a missing or malformed one is said then, not at the first callback.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of CA certificates trusted besides the system's roots (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for mutual TLS, with `client_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of `client_cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
}

fn default_timeout_ms() -> u64 {
    5000
}

/// An endpoint as the handler uses it: checked, with its client, keys and headers ready.
pub(crate) struct Prepared {
    pub(crate) url: Url,
    pub(crate) signer: Signer,
    pub(crate) headers: HeaderMap,
    pub(crate) client: reqwest::Client,
    pub(crate) timeout: Duration,
}

impl HttpForwardConfig {
    /// The checks its types cannot express, for every endpoint; run by `check-config`, at
    /// start-up and by `build`, so a config that `check-config` passes never fails later.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_names()?;
        for endpoint in &self.endpoints {
            endpoint.prepare()?;
        }
        Ok(())
    }

    /// Each endpoint with a name of its own. None at all is refused by the platform when the
    /// handler is enabled (a handler with no destination); a disabled table may have none.
    pub(crate) fn validate_names(&self) -> Result<(), String> {
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            endpoint.validate_name(index)?;
            if let Some(first) = self.endpoints[..index]
                .iter()
                .position(|other| other.name == endpoint.name)
            {
                return Err(format!(
                    "endpoints[{index}].name: {:?} is also the name of endpoints[{first}]: \
                     every endpoint needs a name of its own",
                    endpoint.name
                ));
            }
        }
        Ok(())
    }
}

impl EndpointConfig {
    /// `name`: the one key checked before the others, which are named after it.
    fn validate_name(&self, index: usize) -> Result<(), String> {
        let fits = (1..=64).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !fits {
            return Err(format!(
                "endpoints[{index}].name: {:?} must be 1 to 64 lower-case letters, digits, '_' \
                 and '-' (it names the endpoint in deliveries, metrics and the console)",
                self.name
            ));
        }
        Ok(())
    }

    /// `endpoints[<name>].<key>: <problem>`.
    fn refuse(&self, key: &str, problem: impl std::fmt::Display) -> String {
        format!("endpoints[{}].{key}: {problem}", self.name)
    }

    /// Checks every key and sets up what the handler needs: the one path validation and
    /// `build` share.
    pub(crate) fn prepare(&self) -> Result<Prepared, String> {
        let url = self.checked_url()?;
        self.check_commands()?;
        let signer = self.signer()?;
        if self.timeout_ms == 0 {
            return Err(self.refuse("timeout_ms", "must be at least 1"));
        }
        let headers = self.checked_headers()?;
        self.check_retry_statuses()?;
        if self.decides && self.queue.is_some() {
            return Err(self.refuse(
                "queue",
                "a deciding endpoint is called inline, once, while Chat waits: it has no \
                 retry policy (remove queue, or decides = true)",
            ));
        }
        if !self.decides && self.fallback.is_some() {
            return Err(self.refuse(
                "fallback",
                "only a deciding endpoint (decides = true) has a fallback",
            ));
        }
        let client = self.client()?;
        Ok(Prepared {
            url,
            signer,
            headers,
            client,
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }

    fn checked_url(&self) -> Result<Url, String> {
        let Some(text) = &self.url else {
            return Err(self.refuse(
                "url",
                "missing: give the URL the endpoint's callbacks are POSTed to",
            ));
        };
        let shown = redact::url(text);
        let url = Url::parse(text)
            .map_err(|error| self.refuse("url", format!("{shown:?} is not a URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.refuse(
                "url",
                format!(
                    "{shown:?} must start with https:// or http://, not {}://",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(self.refuse("url", format!("{shown:?} has no host")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.refuse(
                "url",
                format!(
                    "credentials in the URL are refused ({shown:?}): URLs are logged; put them \
                     in headers (an Authorization header), which are redacted"
                ),
            ));
        }
        if url.fragment().is_some() {
            return Err(self.refuse(
                "url",
                format!("{shown:?} has a fragment (#...), which is never sent: remove it"),
            ));
        }
        Ok(url)
    }

    fn check_commands(&self) -> Result<(), String> {
        let commands = self.commands.as_deref().unwrap_or_default();
        if commands.is_empty() {
            return Err(self.refuse(
                "commands",
                "missing: list the commands the endpoint takes, e.g. [\"after\"] or \
                 [\"Group.*\"]",
            ));
        }
        let set = CommandSet::parse(commands).map_err(|error| self.refuse("commands", error))?;
        if !self.decides {
            return Ok(());
        }
        // The table's commands by shape, then any command a pattern names that the table
        // lacks (its kind then comes from its name, as the router reads it).
        let known = KNOWN_COMMANDS
            .iter()
            .map(|command| (command.name, command.kind));
        let named = set
            .patterns()
            .iter()
            .filter(|pattern| !pattern.excludes())
            .filter_map(|pattern| pattern.command())
            .map(|name| (name, kind_of(name)));
        let not_before = known.chain(named).find(|(name, kind)| {
            *kind != CallbackKind::Before
                && set.selecting(&CommandShape::named(name, *kind)).is_some()
        });
        match not_before {
            Some((name, kind)) => Err(self.refuse(
                "decides",
                format!(
                    "true, but commands select {name}, {}: an endpoint decides before-callbacks \
                     only (select them with \"before\" or \"Group.*:before\", or give the \
                     others to an endpoint with decides = false)",
                    match kind {
                        CallbackKind::After => "an after-callback, whose reply Chat ignores",
                        _ => "a reply-bearing notification, which is not a decision",
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    fn signer(&self) -> Result<Signer, String> {
        let (key, secrets) = match (&self.secret, &self.secrets) {
            (Some(_), Some(_)) => {
                return Err(self.refuse(
                    "secrets",
                    "give secret or secrets, not both (secrets = [\"whsec_...\", \
                     \"whsec_...\"] while rotating)",
                ));
            }
            (None, None) => {
                return Err(self.refuse(
                    "secret",
                    "missing: every endpoint signs its requests; give secret = \
                     \"whsec_...\" (a key from `openssl rand -base64 32`, prefixed whsec_)",
                ));
            }
            (Some(secret), None) => ("secret", std::slice::from_ref(secret)),
            (None, Some(secrets)) => ("secrets", secrets.as_slice()),
        };
        if !(1..=2).contains(&secrets.len()) {
            return Err(self.refuse(
                key,
                format!(
                    "holds {} secrets: give one, or two while rotating",
                    secrets.len()
                ),
            ));
        }
        Signer::new(secrets).map_err(|(index, problem)| {
            let key = if key == "secrets" {
                format!("secrets[{index}]")
            } else {
                key.to_owned()
            };
            self.refuse(&key, problem)
        })
    }

    fn checked_headers(&self) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| self.refuse(&key, format!("{name:?} is not an HTTP header name")))?;
            let lower = header.as_str();
            if RESERVED_HEADERS.contains(&lower) || lower.starts_with("chathook-") {
                return Err(self.refuse(
                    &key,
                    "chathook sets this header itself (Content-Type, Content-Length, Host, \
                     webhook-id, webhook-timestamp, webhook-signature and Chathook-*)",
                ));
            }
            // The value is not quoted: it may be a credential.
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                self.refuse(
                    &key,
                    "the value is not a valid HTTP header value (visible ASCII, no line \
                     breaks)",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        Ok(headers)
    }

    fn check_retry_statuses(&self) -> Result<(), String> {
        match self
            .retry_statuses
            .iter()
            .find(|status| !(400..=499).contains(*status))
        {
            Some(status) => Err(self.refuse(
                "retry_statuses",
                format!(
                    "{status} is not a 4xx status: 5xx and 429 are always retried, and only \
                     a 4xx is otherwise permanent"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The endpoint's HTTP client: no redirects, the system's roots plus `tls.ca_file`, the
    /// client identity of `tls.client_cert_file` and `tls.client_key_file`.
    fn client(&self) -> Result<reqwest::Client, String> {
        let tls = self.tls.clone().unwrap_or_default();
        let roots = match &tls.ca_file {
            Some(path) => {
                let pem = self.read("tls.ca_file", path)?;
                let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                    .ok()
                    .filter(|certificates| !certificates.is_empty())
                    .ok_or_else(|| {
                        self.refuse(
                            "tls.ca_file",
                            format!("{} holds no PEM certificate", path.display()),
                        )
                    })?;
                Some(certificates)
            }
            None => None,
        };
        let builder = || {
            let builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("chathook/", env!("CARGO_PKG_VERSION")));
            match &roots {
                Some(roots) => builder.tls_certs_merge(roots.iter().cloned()),
                None => builder,
            }
        };
        let Some(identity) = self.identity(&tls)? else {
            return builder().build().map_err(|error| {
                self.refuse(
                    "tls.ca_file",
                    format!("cannot be used: {}", crate::request::error_chain(&error)),
                )
            });
        };
        builder().identity(identity).build().map_err(|error| {
            // Which file is at fault: the client without the identity tells.
            let key = if builder().build().is_ok() {
                "tls.client_key_file"
            } else {
                "tls.ca_file"
            };
            self.refuse(
                key,
                format!("cannot be used: {}", crate::request::error_chain(&error)),
            )
        })
    }

    /// The client identity of `tls.client_cert_file` and `tls.client_key_file`, if given.
    fn identity(&self, tls: &TlsConfig) -> Result<Option<reqwest::Identity>, String> {
        let (cert_path, key_path) = match (&tls.client_cert_file, &tls.client_key_file) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(self.refuse(
                    "tls.client_key_file",
                    "missing: client_cert_file and client_key_file go together",
                ));
            }
            (None, Some(_)) => {
                return Err(self.refuse(
                    "tls.client_cert_file",
                    "missing: client_cert_file and client_key_file go together",
                ));
            }
            (Some(cert), Some(key)) => (cert, key),
        };
        let cert = self.read("tls.client_cert_file", cert_path)?;
        let key = self.read("tls.client_key_file", key_path)?;
        if !contains_pem(&cert, "CERTIFICATE")
            || reqwest::Certificate::from_pem_bundle(&cert).is_err()
        {
            return Err(self.refuse(
                "tls.client_cert_file",
                format!("{} holds no PEM certificate", cert_path.display()),
            ));
        }
        if !contains_pem(&key, "PRIVATE KEY") {
            return Err(self.refuse(
                "tls.client_key_file",
                format!(
                    "{} holds no PEM private key (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or \
                     BEGIN EC PRIVATE KEY)",
                    key_path.display()
                ),
            ));
        }
        let mut pem = cert;
        pem.push(b'\n');
        pem.extend_from_slice(&key);
        reqwest::Identity::from_pem(&pem)
            .map(Some)
            .map_err(|error| {
                self.refuse(
                    "tls.client_key_file",
                    format!(
                        "{} with {} is not a client identity: {}",
                        key_path.display(),
                        cert_path.display(),
                        crate::request::error_chain(&error)
                    ),
                )
            })
    }

    fn read(&self, key: &str, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path)
            .map_err(|error| self.refuse(key, format!("cannot read {}: {error}", path.display())))
    }
}

/// Whether `pem` has a `-----BEGIN ...<label>-----` block.
fn contains_pem(pem: &[u8], label: &str) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const OTHER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The `crm` endpoint, with `changes` applied (a null removes the key).
    fn endpoint(changes: Value) -> Value {
        let mut endpoint = json!({
            "name": "crm",
            "url": "https://crm.example.com/hooks",
            "commands": ["after"],
            "secret": SECRET,
        });
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                endpoint.as_object_mut().unwrap().remove(key);
            } else {
                endpoint[key] = value.clone();
            }
        }
        endpoint
    }

    fn config(endpoints: Vec<Value>) -> HttpForwardConfig {
        serde_json::from_value(json!({ "endpoints": endpoints })).unwrap()
    }

    fn refusal(changes: Value) -> String {
        config(vec![endpoint(changes)]).validate().unwrap_err()
    }

    #[test]
    fn a_complete_endpoint_passes() {
        config(vec![
            endpoint(json!({})),
            endpoint(json!({
                "name": "moderation-2",
                "url": "http://127.0.0.1:8080/decide?team=chat",
                "commands": ["Group.*:before", "C2C.CallbackBeforeSendMsg"],
                "secrets": [SECRET, OTHER],
                "secret": null,
                "decides": true,
                "fallback": "deny",
                "timeout_ms": 800,
                "headers": {"Authorization": "Bearer t", "X-Team": "chat"},
            })),
            endpoint(json!({"name": "audit", "commands": ["*"], "retry_statuses": [409, 423]})),
        ])
        .validate()
        .unwrap();
    }

    #[test]
    fn endpoints_and_their_names_are_required_and_unique() {
        // The shipped config's disabled table has none.
        config(vec![]).validate().unwrap();
        assert_eq!(
            refusal(json!({"name": "CRM"})),
            "endpoints[0].name: \"CRM\" must be 1 to 64 lower-case letters, digits, '_' and '-' \
             (it names the endpoint in deliveries, metrics and the console)"
        );
        assert!(refusal(json!({"name": ""})).starts_with("endpoints[0].name: \"\" must be"));
        assert!(refusal(json!({"name": "a.b"})).starts_with("endpoints[0].name: \"a.b\" must be"));
        assert!(refusal(json!({"name": "a".repeat(65)})).starts_with("endpoints[0].name: \"aaa"));
        let twice = config(vec![
            endpoint(json!({})),
            endpoint(json!({"url": "https://b/"})),
        ]);
        assert_eq!(
            twice.validate().unwrap_err(),
            "endpoints[1].name: \"crm\" is also the name of endpoints[0]: every endpoint needs a \
             name of its own"
        );
    }

    #[test]
    fn the_url_is_required_http_without_credentials_or_fragment() {
        assert_eq!(
            refusal(json!({"url": null})),
            "endpoints[crm].url: missing: give the URL the endpoint's callbacks are POSTed to"
        );
        assert_eq!(
            refusal(json!({"url": "ftp://crm.example.com/hooks"})),
            "endpoints[crm].url: \"ftp://crm.example.com/hooks\" must start with https:// or \
             http://, not ftp://"
        );
        assert!(
            refusal(json!({"url": "crm.example.com/hooks"}))
                .starts_with("endpoints[crm].url: \"crm.example.com/hooks\" is not a URL: ")
        );
        let credentials = refusal(json!({"url": "https://sync:hunter2@crm.example.com/hooks"}));
        assert_eq!(
            credentials,
            "endpoints[crm].url: credentials in the URL are refused \
             (\"https://sync:[redacted]@crm.example.com/hooks\"): URLs are logged; put them in \
             headers (an Authorization header), which are redacted"
        );
        assert!(
            refusal(json!({"url": "https://token@crm.example.com/"}))
                .starts_with("endpoints[crm].url: credentials in the URL are refused")
        );
        assert_eq!(
            refusal(json!({"url": "https://crm.example.com/hooks#top"})),
            "endpoints[crm].url: \"https://crm.example.com/hooks#top\" has a fragment (#...), \
             which is never sent: remove it"
        );
    }

    #[test]
    fn commands_are_required_patterns() {
        assert!(
            refusal(json!({"commands": null}))
                .starts_with("endpoints[crm].commands: missing: list the commands")
        );
        assert!(refusal(json!({"commands": []})).starts_with("endpoints[crm].commands: missing"));
        assert!(
            refusal(json!({"commands": ["Group"]}))
                .starts_with("endpoints[crm].commands: \"Group\" is not a pattern")
        );
    }

    #[test]
    fn a_decider_takes_before_callbacks_only() {
        let cases = [
            (
                json!(["after"]),
                "Alert.RequestOverLimit, an after-callback",
            ),
            (json!(["*"]), "Alert.RequestOverLimit, an after-callback"),
            (
                json!(["Group.*"]),
                "Group.CallbackAfterCreateGroup, an after-callback",
            ),
            (
                json!(["before", "Group.CallbackAfterSendMsg"]),
                "Group.CallbackAfterSendMsg, an after-callback",
            ),
            (
                json!(["Chatbot.*"]),
                "Chatbot.OnC2CSignalMessage, a reply-bearing notification",
            ),
            (
                json!(["before", "Foo.CallbackAfterBar"]),
                "Foo.CallbackAfterBar, an after-callback",
            ),
        ];
        for (commands, selected) in cases {
            let error = refusal(json!({"decides": true, "commands": commands}));
            assert!(
                error.starts_with(&format!(
                    "endpoints[crm].decides: true, but commands select {selected}"
                )),
                "{commands}: {error}"
            );
        }
        for commands in [
            json!(["before"]),
            json!(["Group.*:before"]),
            json!(["*", "!after", "!reply-bearing"]),
            json!(["Foo.CallbackBeforeBar"]),
        ] {
            config(vec![endpoint(
                json!({"decides": true, "commands": commands}),
            )])
            .validate()
            .unwrap_or_else(|error| panic!("{error}"));
        }
    }

    #[test]
    fn one_or_two_secrets_in_the_whsec_form_are_required_and_never_shown() {
        assert!(
            refusal(json!({"secret": null}))
                .starts_with("endpoints[crm].secret: missing: every endpoint signs its requests")
        );
        assert!(
            refusal(json!({"secrets": [OTHER]}))
                .starts_with("endpoints[crm].secrets: give secret or secrets, not both")
        );
        assert_eq!(
            refusal(json!({"secret": null, "secrets": [SECRET, OTHER, SECRET]})),
            "endpoints[crm].secrets: holds 3 secrets: give one, or two while rotating"
        );
        assert!(
            refusal(json!({"secret": null, "secrets": []}))
                .starts_with("endpoints[crm].secrets: holds 0 secrets")
        );
        let plain = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let error = refusal(json!({"secret": plain}));
        assert!(
            error.starts_with(
                "endpoints[crm].secret: not in the Standard Webhooks form whsec_<base64>"
            ),
            "{error}"
        );
        assert!(!error.contains(plain), "{error}");
        let error = refusal(json!({"secret": null, "secrets": [SECRET, "whsec_%%hunter2%%"]}));
        assert!(
            error.starts_with(
                "endpoints[crm].secrets[1]: the part after whsec_ is not valid base64"
            ),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        // An all-digit value from the environment is not silently taken as a number.
        let parsed = serde_json::from_value::<HttpForwardConfig>(json!({
            "endpoints": [endpoint(json!({"secret": 123}))]
        }));
        assert!(parsed.is_err());
    }

    #[test]
    fn secrets_print_redacted() {
        let config = config(vec![endpoint(
            json!({"secret": null, "secrets": [SECRET, OTHER], "headers": {"X-Team": "chat"}}),
        )]);
        let shown = serde_json::to_string(&config).unwrap();
        assert!(
            !shown.contains(&SECRET[6..]) && !shown.contains(&OTHER[6..]),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn timeout_headers_and_retry_statuses_are_checked() {
        assert_eq!(
            refusal(json!({"timeout_ms": 0})),
            "endpoints[crm].timeout_ms: must be at least 1"
        );
        for name in [
            "Content-Type",
            "webhook-signature",
            "Webhook-Id",
            "Chathook-Command",
            "chathook-anything",
            "Host",
        ] {
            let error = refusal(json!({"headers": {name: "x"}}));
            assert!(
                error.starts_with(&format!(
                    "endpoints[crm].headers.{name}: chathook sets this header itself"
                )),
                "{error}"
            );
        }
        assert_eq!(
            refusal(json!({"headers": {"Bad Name": "x"}})),
            "endpoints[crm].headers.Bad Name: \"Bad Name\" is not an HTTP header name"
        );
        let error = refusal(json!({"headers": {"Authorization": "Bearer s3cr3t\r\nX: 1"}}));
        assert_eq!(
            error,
            "endpoints[crm].headers.Authorization: the value is not a valid HTTP header value \
             (visible ASCII, no line breaks)"
        );
        assert_eq!(
            refusal(json!({"retry_statuses": [409, 503]})),
            "endpoints[crm].retry_statuses: 503 is not a 4xx status: 5xx and 429 are always \
             retried, and only a 4xx is otherwise permanent"
        );
    }

    #[test]
    fn a_decider_has_a_fallback_and_no_queue_and_only_a_decider_does() {
        assert!(
            refusal(json!({"decides": true, "commands": ["before"], "queue": {"max_attempts": 3}}))
                .starts_with("endpoints[crm].queue: a deciding endpoint is called inline")
        );
        assert_eq!(
            refusal(json!({"fallback": "deny"})),
            "endpoints[crm].fallback: only a deciding endpoint (decides = true) has a fallback"
        );
    }

    #[test]
    fn tls_files_must_exist_and_hold_what_they_are_named_for() {
        let dir = std::env::temp_dir().join(format!("http-forward-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        let path = |p: &Path| p.display().to_string();
        let error = refusal(json!({"tls": {"ca_file": path(&missing)}}));
        assert!(
            error.starts_with(&format!(
                "endpoints[crm].tls.ca_file: cannot read {}: ",
                path(&missing)
            )),
            "{error}"
        );
        assert_eq!(
            refusal(json!({"tls": {"ca_file": path(&garbage)}})),
            format!(
                "endpoints[crm].tls.ca_file: {} holds no PEM certificate",
                path(&garbage)
            )
        );
        assert_eq!(
            refusal(json!({"tls": {"client_cert_file": path(&garbage)}})),
            "endpoints[crm].tls.client_key_file: missing: client_cert_file and client_key_file \
             go together"
        );
        assert_eq!(
            refusal(json!({"tls": {"client_key_file": path(&garbage)}})),
            "endpoints[crm].tls.client_cert_file: missing: client_cert_file and client_key_file \
             go together"
        );
        assert_eq!(
            refusal(
                json!({"tls": {"client_cert_file": path(&garbage), "client_key_file": path(&garbage)}})
            ),
            format!(
                "endpoints[crm].tls.client_cert_file: {} holds no PEM certificate",
                path(&garbage)
            )
        );
        assert!(
            refusal(json!({"tls": {"client_cert_file": path(&missing), "client_key_file": path(&garbage)}}))
                .starts_with("endpoints[crm].tls.client_cert_file: cannot read")
        );
        let unknown = serde_json::from_value::<HttpForwardConfig>(json!({
            "endpoints": [endpoint(json!({"tls": {"nonsense": true}}))]
        }));
        let error = unknown.err().unwrap().to_string();
        assert!(error.starts_with("unknown field `nonsense`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
