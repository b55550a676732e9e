//! The `/console` page and its files (served without a token: the page asks for it), and
//! what the console's addresses say while its buffer is off.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chathook_core::ApiError;

/// What the console's addresses answer while `[console] recent = 0`: that the buffer is off,
/// rather than that nothing is there.
async fn buffer_off() -> ApiError {
    ApiError::not_found(
        "the recent-callbacks buffer is off ([console] recent = 0): set console.recent (e.g. \
         1000) to keep callbacks for /api/v1/callbacks, chathook tail and /console",
    )
}

/// The console's API addresses while the buffer is off.
pub(crate) fn off_routes() -> Router {
    Router::new()
        .route("/callbacks", get(buffer_off))
        .route("/callbacks/stream", get(buffer_off))
        .route("/callbacks/counts", get(buffer_off))
        .route("/overview", get(buffer_off))
}

/// `/console` while the buffer is off.
pub(crate) fn page_off_routes() -> Router {
    Router::new()
        .route("/console", get(buffer_off))
        .route("/console/", get(buffer_off))
}

/// The `/console` page and its files, which need no token: the page asks for it.
pub(crate) fn page_routes() -> Router {
    Router::new()
        .route(
            "/console",
            get(|| page(PAGE_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/console/",
            get(|| page(PAGE_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/console/console.js",
            get(|| page(PAGE_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/deliveries.js",
            get(|| page(PAGE_DELIVERIES_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/console.css",
            get(|| page(PAGE_CSS, "text/css; charset=utf-8")),
        )
}

const PAGE_HTML: &str = include_str!("../assets/index.html");
const PAGE_JS: &str = include_str!("../assets/console.js");
const PAGE_DELIVERIES_JS: &str = include_str!("../assets/deliveries.js");
const PAGE_CSS: &str = include_str!("../assets/console.css");

async fn page(text: &'static str, content_type: &'static str) -> Response {
    // The page loads only its own files and talks only to this server; nothing may frame it.
    const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' \
                          'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                HeaderName::from_static("content-security-policy"),
                HeaderValue::from_static(POLICY),
            ),
            (
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
            (
                HeaderName::from_static("referrer-policy"),
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        text,
    )
        .into_response()
}
