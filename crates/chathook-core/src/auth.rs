//! Who may call: the callback query string, the configured apps, and Tencent's `Sign`.
//!
//! `Sign = lowercase_hex(sha256(token ++ RequestTime))`, with `RequestTime` in Unix seconds
//! (protocol.md §1.1). An app may hold several tokens at once so that one can be rotated in the
//! console while the old one still verifies.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;

use ipnet::IpNet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rejection::Rejection;

/// A secret string (callback token, API token). Its `Debug` and `Serialize` forms never show
/// the value, so a secret cannot leak through a log line or `chathook check-config`.
#[derive(Clone, Deserialize)]
#[serde(try_from = "SecretRepr")]
pub struct Secret(String);

/// The shapes a secret may arrive in from figment. An all-digit environment value is parsed as
/// a number, which would silently drop leading zeros, so anything but a string is refused.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretRepr {
    Text(String),
    NotText(serde::de::IgnoredAny),
}

impl TryFrom<SecretRepr> for Secret {
    type Error = String;

    fn try_from(repr: SecretRepr) -> Result<Self, Self::Error> {
        match repr {
            SecretRepr::Text(text) if text.is_empty() => Err("a secret must not be empty".into()),
            SecretRepr::Text(text) => Ok(Self(text)),
            SecretRepr::NotText(_) => Err("a secret must be a string; in an environment \
                 variable quote an all-digit secret, e.g. '[\"0123\"]'"
                .into()),
        }
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in constant time. Digests are compared, so not even the
    /// secret's length shows in the timing.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        Sha256::digest(self.0.as_bytes())
            .ct_eq(&Sha256::digest(candidate))
            .into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `Sign` for `token` at `request_time` (Unix seconds): lowercase hex SHA-256 of the token
/// immediately followed by the decimal time.
pub fn sign(token: &str, request_time: u64) -> String {
    chathook_protocol::sign(token, &request_time.to_string())
}

/// The query parameters Chat appends to the callback URL, as the protocol crate parses them;
/// its refusals become the rejection table's (`?` converts them).
pub use chathook_protocol::CallbackQuery;

/// A configured Chat app, ready to check requests.
#[derive(Debug)]
pub struct App {
    /// The key of its `[apps.<name>]` table; shared, so a console record names the app
    /// without a copy.
    pub name: Arc<str>,
    /// Its SDKAppID.
    pub sdk_app_id: u64,
    tokens: Vec<Secret>,
}

impl App {
    /// An app whose callbacks must be signed with one of `tokens`; with no tokens, callbacks
    /// are accepted unsigned (config validation allows that only with an explicit opt-out).
    pub fn new(name: impl Into<String>, sdk_app_id: u64, tokens: Vec<Secret>) -> Self {
        Self {
            name: Arc::from(name.into()),
            sdk_app_id,
            tokens,
        }
    }

    /// Whether callbacks must carry a valid `Sign`.
    pub fn requires_signature(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks `Sign` and `RequestTime` against this app's tokens at time `now` (Unix seconds).
    pub fn verify(
        &self,
        query: &CallbackQuery<'_>,
        now: u64,
        max_skew_secs: u64,
    ) -> Result<(), Rejection> {
        if !self.requires_signature() {
            return Ok(());
        }
        let sign = query.sign.as_deref().ok_or(Rejection::SignMissing)?;
        let time_text = query
            .request_time
            .as_deref()
            .ok_or(Rejection::RequestTimeMissing)?;
        check_freshness(parse_request_time(time_text)?, now, max_skew_secs)?;
        check_sign(&self.tokens, sign, time_text)
    }

    /// The app's tokens.
    pub fn tokens(&self) -> &[Secret] {
        &self.tokens
    }
}

/// `RequestTime` as Unix seconds: the protocol crate's reading, refused in the table's words.
pub fn parse_request_time(text: &str) -> Result<u64, Rejection> {
    Ok(chathook_protocol::query::parse_request_time(text)?)
}

/// Whether `request_time` is within `max_skew_secs` of `now`, either way: the protocol
/// crate's check, refused in the table's words.
pub fn check_freshness(request_time: u64, now: u64, max_skew_secs: u64) -> Result<(), Rejection> {
    Ok(chathook_protocol::query::check_freshness(
        request_time,
        now,
        max_skew_secs,
    )?)
}

/// Whether `sign` is the signature of `request_time` (as received) under one of `tokens`.
pub fn check_sign(tokens: &[Secret], sign: &str, request_time: &str) -> Result<(), Rejection> {
    // chathook-protocol's verify reads either hex case (a proxy that upper-cases the digest
    // still carries it), tries every token whatever matches, and compares in constant time.
    if chathook_protocol::verify(tokens.iter().map(Secret::expose), sign, request_time) {
        Ok(())
    } else {
        Err(Rejection::SignMismatch)
    }
}

/// The configured apps, looked up by SDKAppID.
#[derive(Debug, Default)]
pub struct Apps {
    by_id: HashMap<u64, App>,
}

impl Apps {
    /// Indexes `apps` by SDKAppID; the caller has checked ids are unique.
    pub fn new(apps: impl IntoIterator<Item = App>) -> Self {
        Self {
            by_id: apps.into_iter().map(|app| (app.sdk_app_id, app)).collect(),
        }
    }

    /// The app with this SDKAppID.
    pub fn get(&self, sdk_app_id: u64) -> Result<&App, Rejection> {
        self.by_id
            .get(&sdk_app_id)
            .ok_or(Rejection::UnknownApp(sdk_app_id))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn freshness_is_exact_for_any_two_times() {
        // Found by fuzzing: the i64 difference wrapped (and overflowed in debug builds).
        assert!(check_freshness(u64::MAX, 0, 60).is_err());
        assert!(check_freshness(i64::MAX as u64, u64::MAX, 60).is_err());
        assert!(check_freshness(u64::MAX, u64::MAX - 60, 60).is_ok());
        assert_eq!(
            check_freshness(0, u64::MAX, 60),
            Err(Rejection::RequestTimeSkewed {
                skew_secs: i64::MIN,
                max_skew_secs: 60
            })
        );
    }

    const VECTOR_SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

    fn query(sign: &str, time: &str) -> CallbackQuery<'static> {
        let mut query = CallbackQuery::default();
        query.sign = Some(Cow::Owned(sign.to_owned()));
        query.request_time = Some(Cow::Owned(time.to_owned()));
        query
    }

    #[test]
    fn sign_matches_tencents_documented_vector() {
        assert_eq!(sign("xxxxyyyy", 1669872112), VECTOR_SIGN);
    }

    #[test]
    fn verify_accepts_any_active_token_and_refuses_others() {
        let app = App::new(
            "demo",
            1,
            vec![Secret::new("old-token"), Secret::new("xxxxyyyy")],
        );
        let now = 1669872112;
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "1669872112"), now, 60),
            Ok(())
        );
        let old = sign("old-token", now);
        assert_eq!(app.verify(&query(&old, "1669872112"), now, 60), Ok(()));
        let other = sign("other", now);
        assert_eq!(
            app.verify(&query(&other, "1669872112"), now, 60),
            Err(Rejection::SignMismatch)
        );
        // Upper-case hex is the same digest.
        assert_eq!(
            app.verify(&query(&VECTOR_SIGN.to_uppercase(), "1669872112"), now, 60),
            Ok(())
        );
        let not_signatures = [
            VECTOR_SIGN[..62].to_owned(),
            format!("{VECTOR_SIGN}00"),
            format!("{}zz", &VECTOR_SIGN[..62]),
            String::new(),
        ];
        for sign in not_signatures {
            assert_eq!(
                app.verify(&query(&sign, "1669872112"), now, 60),
                Err(Rejection::SignMismatch),
                "{sign:?}"
            );
        }
    }

    #[test]
    fn verify_bounds_clock_skew_both_ways() {
        let app = App::new("demo", 1, vec![Secret::new("xxxxyyyy")]);
        let at = 1669872112;
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "1669872112"), at + 60, 60),
            Ok(())
        );
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "1669872112"), at - 60, 60),
            Ok(())
        );
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "1669872112"), at + 61, 60),
            Err(Rejection::RequestTimeSkewed {
                skew_secs: -61,
                max_skew_secs: 60
            })
        );
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "1669872112"), at - 61, 60),
            Err(Rejection::RequestTimeSkewed {
                skew_secs: 61,
                max_skew_secs: 60
            })
        );
        assert_eq!(
            app.verify(&query(VECTOR_SIGN, "16698721x2"), at, 60),
            Err(Rejection::RequestTimeInvalid("16698721x2".into()))
        );
    }

    #[test]
    fn query_names_match_any_case_and_duplicates_are_refused() {
        fn parse(raw: &str) -> Result<CallbackQuery<'_>, Rejection> {
            Ok(CallbackQuery::parse(raw)?)
        }
        let query = parse("sdkappid=14&CALLBACKCOMMAND=State.StateChange&x=1").unwrap();
        assert_eq!(query.sdk_app_id(), Ok(14));
        assert_eq!(query.command.as_deref(), Some("State.StateChange"));
        for deciding in ["SdkAppid", "CallbackCommand", "Sign", "RequestTime"] {
            assert_eq!(
                parse(&format!("{deciding}=1&{}=2", deciding.to_lowercase())),
                Err(Rejection::DuplicateParameter(deciding))
            );
        }
        // The console URL may carry contenttype=json already; Chat appends its own.
        let query =
            parse("contenttype=json&SdkAppid=1&contenttype=json&ClientIP=1.2.3.4&ClientIP=5.6.7.8")
                .unwrap();
        assert_eq!(query.content_type.as_deref(), Some("json"));
        assert_eq!(query.client_ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(
            parse("SdkAppid=abc")
                .unwrap()
                .sdk_app_id()
                .map_err(Rejection::from),
            Err(Rejection::SdkAppIdInvalid("abc".into()))
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&secret).unwrap().contains("hunter2"));
    }
}

/// Where callbacks may come from: `auth.allowed_sources`, with `X-Forwarded-For` believed only
/// from `auth.trusted_proxies`.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    allowed: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
}

impl Sources {
    /// Any source is allowed when `allowed` is empty. An IPv4-mapped network
    /// (`::ffff:10.0.0.0/104`) is taken as the IPv4 network it maps.
    pub fn new(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        let canonical = |nets: Vec<IpNet>| nets.into_iter().map(canonical_net).collect();
        Self {
            allowed: canonical(allowed),
            trusted_proxies: canonical(trusted_proxies),
        }
    }

    /// Whether a connection from `peer` may be served at all: an allowed source, or a
    /// trusted proxy (whose clients are checked request by request). Checked as the
    /// connection is accepted, so a source that would be refused takes no connection slot.
    pub fn may_connect(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.allows_any() || self.is_allowed(peer) || self.is_trusted_proxy(peer)
    }

    /// Whether every source is allowed (nothing to check).
    pub fn allows_any(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy (walking from
    /// the right, since every proxy appends and only the nearest ones are trusted). An entry
    /// that is not an address stops the walk: it is all a forger could have written.
    /// Addresses are canonical: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
    /// dual-stack listener sees of an IPv4 caller) is its IPv4 address.
    pub fn client<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'h [u8]>,
    ) -> Option<IpAddr> {
        let peer = peer.to_canonical();
        if !self.is_trusted_proxy(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for header in forwarded_for.rev() {
            let header = std::str::from_utf8(header).ok()?;
            for entry in header.rsplit(',') {
                client = entry.trim().parse::<IpAddr>().ok()?.to_canonical();
                if !self.is_trusted_proxy(client) {
                    return Some(client);
                }
            }
        }
        Some(client)
    }

    /// Checks the request's source against the allow-list.
    pub fn check<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'h [u8]>,
    ) -> Result<(), Rejection> {
        if self.allows_any() {
            return Ok(());
        }
        match self.client(peer, forwarded_for) {
            Some(client) if self.is_allowed(client) => Ok(()),
            Some(client) => Err(Rejection::SourceNotAllowed(client)),
            None => Err(Rejection::SourceNotAllowed(peer.to_canonical())),
        }
    }

    fn is_allowed(&self, address: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&address))
    }

    fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }
}

/// `net`, or the IPv4 network it maps when it lies within `::ffff:0:0/96`: addresses are
/// compared canonical, so an IPv4-mapped entry must be too.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        net => net,
    }
}

/// `auth.replay_cache`: the body digest each `RequestTime` + `Sign` was first seen with, for
/// as long as that `RequestTime` passes the freshness check. A pair seen again with another
/// body is a captured URL replayed with a forged body; with the same body, a redelivery.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    entries: Mutex<ReplayEntries>,
}

#[derive(Debug, Default)]
struct ReplayEntries {
    digests: HashMap<(u64, u64, [u8; 32]), [u8; 32]>,
    /// Keys in insertion order, with their `RequestTime`, to expire and evict the oldest.
    order: VecDeque<(u64, u64, [u8; 32])>,
}

impl ReplayCache {
    /// A cache remembering at most `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    /// Remembers the pair with `body`, or refuses it if it came before with another body.
    /// Pairs whose `RequestTime` is more than `max_skew_secs` behind `now` are forgotten:
    /// the freshness check refuses them anyway.
    pub fn check(
        &self,
        sdk_app_id: u64,
        request_time: u64,
        sign: &str,
        body: &[u8],
        now: u64,
        max_skew_secs: u64,
    ) -> Result<(), Rejection> {
        let mut sign_bytes = [0u8; 32];
        if hex::decode_to_slice(sign, &mut sign_bytes).is_err() {
            return Err(Rejection::SignMismatch);
        }
        let key = (sdk_app_id, request_time, sign_bytes);
        let digest: [u8; 32] = Sha256::digest(body).into();
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let ReplayEntries { digests, order } = &mut *entries;
        while let Some(&(_, oldest_time, _)) = order.front() {
            let expired = oldest_time.saturating_add(max_skew_secs) < now;
            if !expired && order.len() < self.capacity {
                break;
            }
            if let Some(oldest) = order.pop_front() {
                digests.remove(&oldest);
            }
        }
        match digests.get(&key) {
            Some(seen) if *seen == digest => Ok(()),
            Some(_) => Err(Rejection::SignReplayed),
            None => {
                digests.insert(key, digest);
                order.push_back(key);
                Ok(())
            }
        }
    }
}
