//! The callback URL's query string: `?SdkAppid=…&CallbackCommand=…&contenttype=json&ClientIP=…&
//! OptPlatform=…&RequestTime=…&Sign=…`, and one [`CallbackQuery::verify`] that checks `Sign`
//! and freshness together.
//!
//! Names are matched without regard to case (Chat spells `SdkAppid`, the TRTC siblings
//! `SdkAppId`). A parameter that decides routing or authentication (`SdkAppid`,
//! `CallbackCommand`, `Sign`, `RequestTime`) given twice is refused, since which copy counts
//! would be ambiguous; of the others the first is kept.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::enums::OptPlatform;

/// Why a query string, or one of its parameters, is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A deciding parameter appears twice.
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    /// `SdkAppid` is absent.
    #[error("SdkAppid is missing")]
    SdkAppIdMissing,
    /// `SdkAppid` is not a number.
    #[error("SdkAppid {0:?} is not a number")]
    SdkAppIdInvalid(String),
    /// `Sign` is absent (the app signs its callbacks).
    #[error("Sign is missing")]
    SignMissing,
    /// `RequestTime` is absent (the app signs its callbacks).
    #[error("RequestTime is missing")]
    RequestTimeMissing,
    /// `RequestTime` is not Unix seconds.
    #[error("RequestTime {0:?} is not Unix seconds")]
    RequestTimeInvalid(String),
    /// `RequestTime` is further from now than the window allows (either way).
    #[error("RequestTime is {skew_secs} s from now; at most {max_skew_secs} s is accepted")]
    RequestTimeSkewed {
        /// `RequestTime` minus now, in seconds.
        skew_secs: i64,
        /// The window.
        max_skew_secs: u64,
    },
    /// `Sign` is not the signature of `RequestTime` under any of the tokens.
    #[error("Sign does not match")]
    SignMismatch,
}

/// The parameters Chat appends to the callback URL, as sent (percent-decoded). Unknown
/// parameters are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackQuery<'a> {
    /// `SdkAppid`, unparsed: see [`CallbackQuery::sdk_app_id`].
    pub sdk_app_id: Option<Cow<'a, str>>,
    /// `CallbackCommand`.
    pub command: Option<Cow<'a, str>>,
    /// `contenttype`, normally `json`.
    pub content_type: Option<Cow<'a, str>>,
    /// `ClientIP` of the end user's client, when Chat sends it.
    pub client_ip: Option<Cow<'a, str>>,
    /// `OptPlatform` (`Android`, `iOS`, `RESTAPI`, ...), when Chat sends it.
    pub opt_platform: Option<Cow<'a, str>>,
    /// `Sign`, when callback authentication is on.
    pub sign: Option<Cow<'a, str>>,
    /// `RequestTime`, unparsed: see [`CallbackQuery::request_time`].
    pub request_time: Option<Cow<'a, str>>,
}

impl<'a> CallbackQuery<'a> {
    /// Parses a raw (still percent-encoded) query string, without the `?`.
    pub fn parse(raw: &'a str) -> Result<Self, QueryError> {
        let mut query = Self::default();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            let (slot, deciding) = match () {
                _ if name.eq_ignore_ascii_case("SdkAppid") => {
                    (&mut query.sdk_app_id, Some("SdkAppid"))
                }
                _ if name.eq_ignore_ascii_case("CallbackCommand") => {
                    (&mut query.command, Some("CallbackCommand"))
                }
                _ if name.eq_ignore_ascii_case("Sign") => (&mut query.sign, Some("Sign")),
                _ if name.eq_ignore_ascii_case("RequestTime") => {
                    (&mut query.request_time, Some("RequestTime"))
                }
                _ if name.eq_ignore_ascii_case("contenttype") => (&mut query.content_type, None),
                _ if name.eq_ignore_ascii_case("ClientIP") => (&mut query.client_ip, None),
                _ if name.eq_ignore_ascii_case("OptPlatform") => (&mut query.opt_platform, None),
                _ => continue,
            };
            match (slot.is_some(), deciding) {
                (false, _) => *slot = Some(value),
                (true, Some(name)) => return Err(QueryError::Duplicate(name)),
                (true, None) => {}
            }
        }
        Ok(query)
    }

    /// `SdkAppid` as a number.
    pub fn sdk_app_id(&self) -> Result<u64, QueryError> {
        let raw = self
            .sdk_app_id
            .as_deref()
            .ok_or(QueryError::SdkAppIdMissing)?;
        raw.parse()
            .map_err(|_| QueryError::SdkAppIdInvalid(raw.to_owned()))
    }

    /// `CallbackCommand`.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// `ClientIP` as an address, when it is one.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip.as_deref()?.parse().ok()
    }

    /// `OptPlatform`, keeping its spelling.
    pub fn opt_platform(&self) -> Option<OptPlatform> {
        self.opt_platform
            .as_deref()
            .map(|platform| OptPlatform(platform.to_owned()))
    }

    /// `RequestTime` as Unix seconds.
    pub fn request_time(&self) -> Result<u64, QueryError> {
        let raw = self
            .request_time
            .as_deref()
            .ok_or(QueryError::RequestTimeMissing)?;
        parse_request_time(raw)
    }

    /// Checks that the callback is Tencent's and fresh: `RequestTime` within `max_skew_secs`
    /// of `now` (Unix seconds, either way) and `Sign` its signature under one of `tokens`
    /// (several, so a token can be rotated). In that order, so a stale replay is told apart
    /// from a forgery. `Sign` covers only `RequestTime`, not the body: an attacker who
    /// captured one request can resend it with another body inside the window.
    #[cfg(feature = "sign")]
    pub fn verify<T: AsRef<str>>(
        &self,
        tokens: impl IntoIterator<Item = T>,
        now: u64,
        max_skew_secs: u64,
    ) -> Result<(), QueryError> {
        let sign = self.sign.as_deref().ok_or(QueryError::SignMissing)?;
        let time = self
            .request_time
            .as_deref()
            .ok_or(QueryError::RequestTimeMissing)?;
        crate::sign::verify_fresh(tokens, sign, time, now, max_skew_secs)
    }
}

/// `RequestTime` as Unix seconds.
pub fn parse_request_time(text: &str) -> Result<u64, QueryError> {
    text.parse()
        .map_err(|_| QueryError::RequestTimeInvalid(text.to_owned()))
}

/// Whether `request_time` is within `max_skew_secs` of `now`, either way.
pub fn check_freshness(request_time: u64, now: u64, max_skew_secs: u64) -> Result<(), QueryError> {
    // In i128 the difference of any two u64 is exact, whatever the caller passes.
    let skew = i128::from(request_time) - i128::from(now);
    if skew.unsigned_abs() > u128::from(max_skew_secs) {
        return Err(QueryError::RequestTimeSkewed {
            skew_secs: i64::try_from(skew).unwrap_or(if skew < 0 { i64::MIN } else { i64::MAX }),
            max_skew_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_deciding_ones_unique() {
        let query = CallbackQuery::parse(
            "sdkappid=1400000001&CallbackCommand=State.StateChange&contenttype=json\
             &ClientIP=10.0.0.1&OptPlatform=iOS&contenttype=other&x=1",
        )
        .unwrap();
        assert_eq!(query.sdk_app_id(), Ok(1_400_000_001));
        assert_eq!(query.command(), Some("State.StateChange"));
        assert_eq!(query.content_type.as_deref(), Some("json"));
        assert_eq!(query.client_ip(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(query.opt_platform().unwrap().as_str(), "iOS");
        for duplicated in ["SdkAppid", "CallbackCommand", "Sign", "RequestTime"] {
            let raw = format!("{duplicated}=1&{}=2", duplicated.to_lowercase());
            assert_eq!(
                CallbackQuery::parse(&raw),
                Err(QueryError::Duplicate(duplicated))
            );
        }
        assert_eq!(
            CallbackQuery::parse("SdkAppid=x").unwrap().sdk_app_id(),
            Err(QueryError::SdkAppIdInvalid("x".into()))
        );
    }

    #[test]
    fn freshness_is_checked_either_way_without_overflow() {
        assert_eq!(check_freshness(100, 100, 0), Ok(()));
        assert_eq!(check_freshness(160, 100, 60), Ok(()));
        assert!(check_freshness(161, 100, 60).is_err());
        assert!(check_freshness(39, 100, 60).is_err());
        assert!(matches!(
            check_freshness(0, u64::MAX, 1),
            Err(QueryError::RequestTimeSkewed {
                skew_secs: i64::MIN,
                ..
            })
        ));
    }
}
