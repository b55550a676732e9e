//! One request to an endpoint: its headers, the exchange under a time limit with the response
//! body read capped, and what went wrong in words an operator can act on.

use std::error::Error as StdError;
use std::time::Duration;

use chathook_core::Callback;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};

/// Header: the app's SDKAppID (the same names as the `nats` plugin's headers).
pub const SDK_APP_ID: &str = "Chathook-Sdk-App-Id";
/// Header: the `CallbackCommand`.
pub const COMMAND: &str = "Chathook-Command";
/// Header: when chathook received the callback, Unix milliseconds; the same on every
/// attempt.
pub const RECEIVED_AT: &str = "Chathook-Received-At";
/// Header: `RequestTime` of the callback's query, as Chat sent it.
pub const REQUEST_TIME: &str = "Chathook-Request-Time";
/// Header: `ClientIP` of the query.
pub const CLIENT_IP: &str = "Chathook-Client-Ip";
/// Header: `OptPlatform` of the query.
pub const OPT_PLATFORM: &str = "Chathook-Opt-Platform";
/// Header: the message id, the same on every attempt of one delivery (Standard Webhooks).
pub const WEBHOOK_ID: &str = standardwebhooks::HEADER_WEBHOOK_ID;
/// Header: when the request was signed, Unix seconds (Standard Webhooks).
pub const WEBHOOK_TIMESTAMP: &str = standardwebhooks::HEADER_WEBHOOK_TIMESTAMP;
/// Header: `v1,<base64>` per signing secret, space-separated (Standard Webhooks).
pub const WEBHOOK_SIGNATURE: &str = standardwebhooks::HEADER_WEBHOOK_SIGNATURE;

/// Headers an endpoint's `headers` cannot set, lower case: chathook's own (besides the
/// `Chathook-*` family) and the message framing the client sets.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    WEBHOOK_ID,
    WEBHOOK_TIMESTAMP,
    WEBHOOK_SIGNATURE,
];

/// The query's facts and the arrival time as headers, for `callback`. A query value is not
/// covered by `Sign`, so a replayed URL can put line breaks in it: control characters become
/// spaces.
pub(crate) fn fact_headers(callback: &Callback) -> Vec<(&'static str, String)> {
    let received_ms = callback
        .received_at()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let mut headers = vec![
        (SDK_APP_ID, callback.sdk_app_id().to_string()),
        (COMMAND, header_text(callback.command())),
        (RECEIVED_AT, received_ms.to_string()),
    ];
    let query = [
        (REQUEST_TIME, callback.request_time()),
        (CLIENT_IP, callback.client_ip()),
        (OPT_PLATFORM, callback.opt_platform()),
    ];
    headers.extend(
        query
            .into_iter()
            .filter_map(|(name, value)| Some((name, header_text(value?)))),
    );
    headers
}

fn header_text(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `webhook-id` of a call: the delivery's idempotency key for a queued attempt (the same on
/// every attempt); for an inline call, the digest the journal keys the same callback by
/// (128 bits of SHA-256 of app, command and body, hex), so a service that gets a callback
/// both ways sees one id.
pub(crate) fn webhook_id(callback: &Callback) -> String {
    if let Some(delivery) = callback.delivery() {
        return delivery.idempotency_key().to_owned();
    }
    let mut hasher = Sha256::new();
    hasher.update(callback.sdk_app_id().to_be_bytes());
    hasher.update(callback.command().as_bytes());
    hasher.update([0]);
    hasher.update(callback.body());
    hex::encode(&hasher.finalize()[..16])
}

/// A response, with its body read up to a cap.
pub(crate) struct Answered {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Capped,
}

/// A response body read up to a cap: what was read, whether there was more, and why the
/// reading stopped early if the connection failed under it.
#[derive(Debug, Default)]
pub(crate) struct Capped {
    pub(crate) bytes: Vec<u8>,
    pub(crate) more: bool,
    pub(crate) broke_off: Option<String>,
}

/// Why no response came.
#[derive(Debug)]
pub(crate) enum NoResponse {
    /// None within the time limit.
    TimedOut,
    /// The TLS handshake failed; what it means.
    Tls(String),
    /// No connection could be made, or it failed before the response.
    Connection(String),
}

/// Sends `request` and reads the response's body up to `max_body` bytes, all within `limit`.
pub(crate) async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
    limit: Duration,
    max_body: usize,
) -> Result<Answered, NoResponse> {
    let exchange = async {
        let mut response = client.execute(request).await.map_err(explain)?;
        let body = read_capped(&mut response, max_body).await;
        Ok(Answered {
            status: response.status(),
            headers: std::mem::take(response.headers_mut()),
            body,
        })
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or(Err(NoResponse::TimedOut))
}

async fn read_capped(response: &mut reqwest::Response, max: usize) -> Capped {
    let mut capped = Capped::default();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max - capped.bytes.len();
                if chunk.len() > room {
                    capped.bytes.extend_from_slice(&chunk[..room]);
                    capped.more = true;
                    return capped;
                }
                capped.bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return capped,
            Err(error) => {
                capped.broke_off = Some(error_chain(&error.without_url()));
                return capped;
            }
        }
    }
}

impl Capped {
    /// The body as one line of text for an error message: at most `keep` bytes of it, cut at
    /// a character boundary and marked as cut; `None` if it is empty.
    pub(crate) fn excerpt(&self, keep: usize) -> Option<String> {
        if self.bytes.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.bytes);
        let mut end = text.len().min(keep);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let shown: String = text[..end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let read = self.bytes.len();
        Some(if self.more {
            format!("{shown}… (cut: the first {end} bytes of more than {read})")
        } else if end < text.len() {
            format!("{shown}… (cut: {end} of {read} bytes)")
        } else {
            shown
        })
    }
}

/// A client error as what happened: the TLS handshake's failure explained, or the
/// connection's, without the URL (it may carry a query an operator did not mean to show).
fn explain(error: reqwest::Error) -> NoResponse {
    let error = error.without_url();
    if let Some(tls) = tls_failure(&error) {
        return NoResponse::Tls(tls);
    }
    NoResponse::Connection(error_chain(&error))
}

/// The TLS failure somewhere in `error`'s chain, in words.
fn tls_failure(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = rustls_error(error) {
            return Some(tls_words(tls));
        }
        current = error.source();
    }
    None
}

/// `error` as rustls's error, looking inside `io::Error`s: rustls's error travels wrapped in
/// one or more of them, and an `io::Error`'s `source()` skips what it wraps.
fn rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}

fn tls_words(error: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError};
    let meaning = match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a CA chathook trusts (the system's roots, \
             and tls.ca_file if set)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate is not valid for the URL's host name",
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired",
        rustls::Error::InvalidCertificate(_) => "the server's certificate is refused",
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateUnknown,
        ) => {
            "the server refused chathook's client certificate, or wants one: set \
             tls.client_cert_file and tls.client_key_file to a certificate its CA signed"
        }
        _ => "the handshake failed",
    };
    format!("TLS: {meaning} ({error})")
}

/// `error` and its causes on one line, each said once (an `io::Error` repeats its inner
/// error's text).
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(bytes: &[u8], more: bool) -> Capped {
        Capped {
            bytes: bytes.to_vec(),
            more,
            broke_off: None,
        }
    }

    #[test]
    fn a_short_body_is_shown_whole_on_one_line() {
        assert_eq!(
            capped(b"{\"error\":\n\"bad\"}", false)
                .excerpt(1024)
                .unwrap(),
            "{\"error\": \"bad\"}"
        );
        assert_eq!(capped(b"", false).excerpt(1024), None);
    }

    #[test]
    fn a_long_body_is_cut_at_a_character_and_marked() {
        // "é" is two bytes: a cut at 5 bytes would split the third one.
        let body = "éééééé".as_bytes();
        assert_eq!(
            capped(body, false).excerpt(5).unwrap(),
            "éé… (cut: 4 of 12 bytes)"
        );
        assert_eq!(
            capped(body, true).excerpt(6).unwrap(),
            "ééé… (cut: the first 6 bytes of more than 12)"
        );
        // Bytes that are not UTF-8 are shown replaced, never split.
        let excerpt = capped(&[b'a', 0xff, b'b'], false).excerpt(1024).unwrap();
        assert_eq!(excerpt, "a\u{fffd}b");
    }

    #[test]
    fn a_tls_failure_is_found_inside_the_io_errors_that_carry_it() {
        use rustls::CertificateError;
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let twice = std::io::Error::other(wrapped);
        assert_eq!(
            tls_failure(&twice).unwrap(),
            "TLS: the server's certificate is not signed by a CA chathook trusts (the system's \
             roots, and tls.ca_file if set) (invalid peer certificate: UnknownIssuer)"
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert!(
            tls_failure(&std::io::Error::other(alert))
                .unwrap()
                .starts_with("TLS: the server refused chathook's client certificate")
        );
        assert_eq!(
            tls_failure(&std::io::Error::other("connection refused")),
            None
        );
    }

    #[test]
    fn query_facts_are_headers_without_line_breaks() {
        let callback = Callback::new(1400000000, "Group.CallbackAfterSendMsg", "{}")
            .with_client(Some("1.2.3.4\r\nX-Forged: 1".into()), Some("iOS".into()));
        let headers = fact_headers(&callback);
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value(SDK_APP_ID), Some("1400000000"));
        assert_eq!(value(COMMAND), Some("Group.CallbackAfterSendMsg"));
        assert_eq!(value(CLIENT_IP), Some("1.2.3.4  X-Forged: 1"));
        assert_eq!(value(OPT_PLATFORM), Some("iOS"));
        assert_eq!(value(REQUEST_TIME), None);
        assert!(value(RECEIVED_AT).is_some_and(|ms| ms.parse::<u64>().is_ok()));
    }

    #[test]
    fn an_inline_webhook_id_is_a_digest_of_app_command_and_body() {
        let id = |app, command, body| webhook_id(&Callback::new(app, command, body));
        let base = id(1, "State.StateChange", "{}");
        assert_eq!(base.len(), 32);
        assert_eq!(base, id(1, "State.StateChange", "{}"));
        assert_ne!(base, id(2, "State.StateChange", "{}"));
        assert_ne!(base, id(1, "State.StateChangeX", "{}"));
        assert_ne!(base, id(1, "State.StateChange", "{ }"));
    }
}
