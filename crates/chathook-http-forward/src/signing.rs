//! Standard Webhooks signatures: one `v1,<base64>` per configured secret, made by the
//! `standardwebhooks` crate over `<webhook-id>.<webhook-timestamp>.<body>`.

use chathook_core::auth::Secret;
use standardwebhooks::Webhook;

/// The prefix of a Standard Webhooks secret.
const PREFIX: &str = "whsec_";
/// The key sizes the Standard Webhooks specification gives, in bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// An endpoint's signing keys, in the order configured.
pub(crate) struct Signer {
    keys: Vec<Webhook>,
}

/// The body cannot be signed: Standard Webhooks signs text.
#[derive(Debug, thiserror::Error)]
#[error("the body is not UTF-8 text, which Standard Webhooks cannot sign")]
pub(crate) struct NotText;

impl Signer {
    /// The keys of `secrets`, or the index of the first one that is not a Standard Webhooks
    /// secret, with why (never the secret itself).
    pub(crate) fn new(secrets: &[Secret]) -> Result<Self, (usize, String)> {
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| key(secret.expose()).map_err(|problem| (index, problem)))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// `webhook-signature` for `body` sent as message `id` at `timestamp` (Unix seconds): the
    /// signatures of every key, space-separated.
    pub(crate) fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, NotText> {
        let signatures = self
            .keys
            .iter()
            .map(|key| key.sign(id, timestamp, body).map_err(|_| NotText))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(signatures.join(" "))
    }
}

fn key(secret: &str) -> Result<Webhook, String> {
    const HOW: &str =
        "make one with `echo whsec_$(openssl rand -base64 32)`; the value is not shown";
    let Some(encoded) = secret.strip_prefix(PREFIX) else {
        return Err(format!(
            "not in the Standard Webhooks form whsec_<base64> ({HOW})"
        ));
    };
    let key = Webhook::new(secret)
        .map_err(|_| format!("the part after whsec_ is not valid base64 ({HOW})"))?;
    let bytes = encoded.trim_end_matches('=').len() * 3 / 4;
    if !KEY_BYTES.contains(&bytes) {
        return Err(format!(
            "the key is {bytes} bytes; Standard Webhooks keys are {} to {} bytes ({HOW})",
            KEY_BYTES.start(),
            KEY_BYTES.end()
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn signer(secrets: &[&str]) -> Signer {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Signer::new(&secrets).unwrap()
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    fn now() -> i64 {
        chathook_core::auth::unix_now() as i64
    }

    #[test]
    fn the_receiver_verifies_with_either_secret_while_rotating() {
        let body = br#"{"CallbackCommand":"State.StateChange"}"#;
        let signature = signer(&[OLD, NEW]).sign("k1", now(), body).unwrap();
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
        assert!(signature.split(' ').all(|part| part.starts_with("v1,")));
        let sent = headers("k1", now(), &signature);
        for secret in [OLD, NEW] {
            Webhook::new(secret).unwrap().verify(body, &sent).unwrap();
        }
    }

    #[test]
    fn a_rotated_out_secret_no_longer_verifies() {
        let body = br#"{"a":1}"#;
        let signature = signer(&[NEW]).sign("k1", now(), body).unwrap();
        let sent = headers("k1", now(), &signature);
        Webhook::new(NEW).unwrap().verify(body, &sent).unwrap();
        assert!(Webhook::new(OLD).unwrap().verify(body, &sent).is_err());
        // Nor does a signature for another id, time or body.
        let elsewhere = headers("k2", now(), &signature);
        assert!(Webhook::new(NEW).unwrap().verify(body, &elsewhere).is_err());
        assert!(
            Webhook::new(NEW)
                .unwrap()
                .verify(br#"{"a":2}"#, &sent)
                .is_err()
        );
    }

    #[test]
    fn the_signature_is_the_specifications() {
        // The specification's own test vector (standard-webhooks, libraries' tests).
        let signature = signer(&[NEW])
            .sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#,
            )
            .unwrap();
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn secrets_not_in_the_whsec_form_are_refused_without_showing_them() {
        let cases = [
            (
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "not in the Standard Webhooks form whsec_<base64>",
            ),
            (
                "whsec_not base64!!",
                "the part after whsec_ is not valid base64",
            ),
            (
                "whsec_c2hvcnQ=",
                "the key is 5 bytes; Standard Webhooks keys are 24 to 64 bytes",
            ),
        ];
        for (secret, expected) in cases {
            let (index, problem) = Signer::new(&[Secret::new(NEW), Secret::new(secret)])
                .err()
                .unwrap();
            assert_eq!(index, 1);
            assert!(problem.starts_with(expected), "{secret}: {problem}");
            assert!(!problem.contains(secret), "{problem}");
            assert!(
                !problem.contains(secret.trim_start_matches("whsec_")),
                "{problem}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_text_cannot_be_signed() {
        assert!(signer(&[NEW]).sign("k", now(), &[0xff, 0xfe]).is_err());
    }
}
