//! Typed extractors for `/api/v1` routes, core's and the handlers' alike: the query string
//! and the path parameters deserialized into a route's own struct, refused as an [`ApiError`]
//! (`{"error", "reason"}`, 400 `api_bad_request`) that names the parameter and says why.
//!
//! axum's own `Query` and `Path` answer a refusal as plain text in their own wording; a route
//! would otherwise parse strings by hand to speak the API's format. This is axum's
//! `customize-extractor-error` pattern (and svix's `ValidatedQuery`): a wrapper whose
//! rejection is the API's error. A route's struct should be `#[serde(deny_unknown_fields)]`,
//! so that a misspelt parameter is refused rather than ignored.
//!
//! The value types here ([`NonNegative`], [`Limit`]) word their refusals as a predicate
//! (`must be ...`), which the extractors put after the parameter's name:
//! `limit must be between 1 and 1000, not 0`.

use std::fmt;

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::rejection::ApiError;

/// The query string as `T`; an empty or absent query string is `T` with no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let name = error.path().to_string();
                ApiError::bad_request(query_problem(&name, &error.into_inner().to_string()))
            })
    }
}

/// A refused query string in the API's words: `message` is serde's, or one of this module's
/// predicates, about the parameter `name` (`.` for the query string as a whole).
fn query_problem(name: &str, message: &str) -> String {
    // serde words an unknown key as a field; to a caller it is a query parameter.
    if let Some(unknown) = message.strip_prefix("unknown field ") {
        return format!("unknown query parameter {unknown}");
    }
    if let Some(missing) = message.strip_prefix("missing field ") {
        return format!("missing query parameter {missing}");
    }
    if let Some(twice) = message.strip_prefix("duplicate field ") {
        return format!("query parameter {twice} is given more than once");
    }
    about(name, message)
}

/// `name` followed by what is wrong with it.
fn about(name: &str, message: &str) -> String {
    if message.starts_with("must ") {
        format!("{name} {message}")
    } else {
        format!("{name}: {message}")
    }
}

/// The route's path parameters as `T`, a struct whose fields are named as in the route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::bad_request(path_problem(rejection))),
        }
    }
}

/// A refused path parameter in the API's words.
fn path_problem(rejection: PathRejection) -> String {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return rejection.body_text();
    };
    match failed.into_kind() {
        ErrorKind::DeserializeError { key, message, .. } => about(&key, &message),
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => format!("{key} must be a {expected_type}, not {value:?}"),
        ErrorKind::InvalidUtf8InPathParam { key } => {
            format!("{key} is not UTF-8 once percent-decoded")
        }
        other => other.to_string(),
    }
}

/// A non-negative integer that fits an `i64` (a database's `BIGINT`), from a query or path
/// parameter or a JSON number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NonNegative(i64);

impl NonNegative {
    /// The value.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for NonNegative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NonNegativeVisitor;

        impl Visitor<'_> for NonNegativeVisitor {
            type Value = NonNegative;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<NonNegative, E> {
                text.parse::<i64>()
                    .ok()
                    .filter(|value| *value >= 0)
                    .map(NonNegative)
                    .ok_or_else(|| {
                        E::custom(format!("must be a non-negative integer, not {text:?}"))
                    })
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<NonNegative, E> {
                self.visit_str(&value.to_string())
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<NonNegative, E> {
                self.visit_str(&value.to_string())
            }
        }

        // Query strings and paths hand over text; `deserialize_any` takes JSON numbers too.
        deserializer.deserialize_any(NonNegativeVisitor)
    }
}

/// A page size: between 1 and `MAX`, `DEFAULT` when the caller gives none (use it with
/// `#[serde(default)]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Limit<const DEFAULT: u32, const MAX: u32>(u32);

impl<const DEFAULT: u32, const MAX: u32> Limit<DEFAULT, MAX> {
    /// The number of items asked for.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl<const DEFAULT: u32, const MAX: u32> Default for Limit<DEFAULT, MAX> {
    fn default() -> Self {
        Self(DEFAULT)
    }
}

impl<'de, const DEFAULT: u32, const MAX: u32> Deserialize<'de> for Limit<DEFAULT, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = NonNegative::deserialize(deserializer)?.get();
        match u32::try_from(value) {
            Ok(limit) if (1..=MAX).contains(&limit) => Ok(Self(limit)),
            _ => Err(de::Error::custom(format!(
                "must be between 1 and {MAX}, not {value}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use http_body_util::BodyExt;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Listing {
        after: Option<NonNegative>,
        #[serde(default)]
        limit: Limit<100, 1000>,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        app: NonNegative,
        name: String,
        seq: u32,
    }

    async fn list(ApiQuery(listing): ApiQuery<Listing>) -> axum::Json<Listing> {
        axum::Json(listing)
    }

    async fn item(ApiPath(item): ApiPath<Item>) -> axum::Json<Item> {
        axum::Json(item)
    }

    /// Status and JSON body of `uri` on a router with both extractors.
    async fn answer(uri: &str) -> (StatusCode, Value) {
        let router = Router::new()
            .route("/list", get(list))
            .route("/items/{app}/{name}/{seq}", get(item));
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn refusal(uri: &str) -> String {
        let (status, body) = answer(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["reason"], "api_bad_request", "{uri}");
        body["error"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_query_string_is_typed_with_defaults() {
        assert_eq!(
            answer("/list").await,
            (StatusCode::OK, json!({"after": null, "limit": 100}))
        );
        assert_eq!(
            answer("/list?after=0&limit=1000").await,
            (StatusCode::OK, json!({"after": 0, "limit": 1000}))
        );
        assert_eq!(
            answer("/list?limit=1&after=9223372036854775807").await,
            (
                StatusCode::OK,
                json!({"after": 9_223_372_036_854_775_807_i64, "limit": 1})
            )
        );
    }

    #[tokio::test]
    async fn a_refused_query_parameter_is_named_with_the_reason() {
        for (query, error) in [
            (
                "after=-1",
                "after must be a non-negative integer, not \"-1\"",
            ),
            ("after=x", "after must be a non-negative integer, not \"x\""),
            (
                "after=9223372036854775808",
                "after must be a non-negative integer, not \"9223372036854775808\"",
            ),
            ("limit=0", "limit must be between 1 and 1000, not 0"),
            ("limit=1001", "limit must be between 1 and 1000, not 1001"),
            ("limit=", "limit must be a non-negative integer, not \"\""),
            (
                "cursor=3",
                "unknown query parameter `cursor`, expected `after` or `limit`",
            ),
            (
                "limit=1&limit=2",
                "query parameter `limit` is given more than once",
            ),
        ] {
            assert_eq!(refusal(&format!("/list?{query}")).await, error, "{query}");
        }
    }

    #[tokio::test]
    async fn path_parameters_are_typed_and_a_refused_one_is_named() {
        assert_eq!(
            answer("/items/7/a%20b/3").await,
            (StatusCode::OK, json!({"app": 7, "name": "a b", "seq": 3}))
        );
        assert_eq!(
            refusal("/items/abc/n/3").await,
            "app must be a non-negative integer, not \"abc\""
        );
        assert_eq!(
            refusal("/items/-1/n/3").await,
            "app must be a non-negative integer, not \"-1\""
        );
        assert_eq!(
            refusal("/items/1/n/x").await,
            "seq must be a u32, not \"x\""
        );
        assert_eq!(
            refusal("/items/1/%FF/3").await,
            "name is not UTF-8 once percent-decoded"
        );
    }
}
