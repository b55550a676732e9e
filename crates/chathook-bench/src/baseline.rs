//! The floor for this stack: axum receives the body, serde_json parses it, and the reply is
//! Tencent's OK packet. No auth, no routing, no storage.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

const OK: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;

async fn callback(body: Bytes) -> (StatusCode, [(&'static str, &'static str); 1], &'static str) {
    let status = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    (status, [("content-type", "application/json")], OK)
}

/// The `baseline` role: serves the baseline on `addr` until killed.
pub(crate) fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let app = Router::new().route("/callback", post(callback));
        axum::serve(listener, app).await?;
        Ok(())
    })
}
