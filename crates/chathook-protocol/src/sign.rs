//! Callback authentication: `Sign = hex(sha256(token + RequestTime))` in the URL.

use sha2::{Digest, Sha256};

use crate::query::{self, QueryError};

/// The `Sign` Chat computes for `token` and the URL's `RequestTime` (lower-case hex).
pub fn sign(token: &str, request_time: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    hasher.update(request_time.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether `signature` is the `Sign` of `request_time` under any of `tokens` (several, so a
/// token can be rotated). Upper- and lower-case hex are accepted; the comparison takes the
/// same time wherever the first difference is, so it leaks nothing about the expected value.
///
/// Freshness of `request_time` is not checked here; [`verify_fresh`] (or
/// [`crate::query::CallbackQuery::verify`]) checks both.
pub fn verify<T: AsRef<str>>(
    tokens: impl IntoIterator<Item = T>,
    signature: &str,
    request_time: &str,
) -> bool {
    let Ok(given) = hex::decode(signature.as_bytes()) else {
        return false;
    };
    // Check every token even after a match, so timing does not reveal which one matched.
    tokens.into_iter().fold(false, |found, token| {
        let mut hasher = Sha256::new();
        hasher.update(token.as_ref().as_bytes());
        hasher.update(request_time.as_bytes());
        constant_time_eq(&hasher.finalize(), &given) | found
    })
}

/// [`verify`] and freshness together, the check a receiver makes: `request_time` (the URL's
/// `RequestTime`, as sent) is Unix seconds within `max_skew_secs` of `now` either way, then
/// `signature` is its `Sign` under one of `tokens`. `Sign` covers only the time, not the
/// body, which the window is what limits a replay of.
pub fn verify_fresh<T: AsRef<str>>(
    tokens: impl IntoIterator<Item = T>,
    signature: &str,
    request_time: &str,
    now: u64,
    max_skew_secs: u64,
) -> Result<(), QueryError> {
    query::check_freshness(query::parse_request_time(request_time)?, now, max_skew_secs)?;
    if verify(tokens, signature, request_time) {
        Ok(())
    } else {
        Err(QueryError::SignMismatch)
    }
}

/// Byte-slice equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

    #[test]
    fn tencent_test_vector() {
        assert_eq!(sign("xxxxyyyy", "1669872112"), VECTOR);
    }

    #[test]
    fn verify_accepts_either_case_and_any_configured_token() {
        assert!(verify(["xxxxyyyy"], VECTOR, "1669872112"));
        assert!(verify(["xxxxyyyy"], &VECTOR.to_uppercase(), "1669872112"));
        assert!(verify(["rotated", "xxxxyyyy"], VECTOR, "1669872112"));
        assert!(!verify(["xxxxyyyz"], VECTOR, "1669872112"));
        assert!(!verify(["xxxxyyyy"], VECTOR, "1669872113"));
        assert!(!verify(["xxxxyyyy"], &VECTOR[..62], "1669872112"));
        assert!(!verify(["xxxxyyyy"], "not hex", "1669872112"));
        assert!(!verify(std::iter::empty::<&str>(), VECTOR, "1669872112"));
    }

    #[test]
    fn verify_fresh_checks_the_window_then_the_sign() {
        let now = 1_669_872_112;
        assert_eq!(
            verify_fresh(["xxxxyyyy"], VECTOR, "1669872112", now + 60, 60),
            Ok(())
        );
        assert!(matches!(
            verify_fresh(["xxxxyyyy"], VECTOR, "1669872112", now + 61, 60),
            Err(QueryError::RequestTimeSkewed { skew_secs: -61, .. })
        ));
        assert_eq!(
            verify_fresh(["other"], VECTOR, "1669872112", now, 60),
            Err(QueryError::SignMismatch)
        );
        assert_eq!(
            verify_fresh(["xxxxyyyy"], VECTOR, "soon", now, 60),
            Err(QueryError::RequestTimeInvalid("soon".into()))
        );
        let url = format!("SdkAppid=1&RequestTime=1669872112&Sign={VECTOR}");
        let query = crate::query::CallbackQuery::parse(&url).unwrap();
        assert_eq!(query.verify(["xxxxyyyy"], now, 300), Ok(()));
        let unsigned = crate::query::CallbackQuery::parse("SdkAppid=1").unwrap();
        assert_eq!(
            unsigned.verify(["xxxxyyyy"], now, 300),
            Err(QueryError::SignMissing)
        );
    }
}
