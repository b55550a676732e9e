//! The team's service of the forwarding scenario (q): a local HTTP receiver that takes every
//! POST and answers 204 at once, on a thread and runtime of its own in the bench's process, so
//! that (q) against (p) is what forwarding costs chathook (signing, the request, its reply),
//! not what a service takes.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::sync::oneshot;

/// A receiver, serving until dropped.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind the receiver")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the receiver's runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a bound listener converts");
                    let app = axum::Router::new()
                        .fallback(|| async { axum::http::StatusCode::NO_CONTENT });
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    // Ends when the receiver is dropped; chathook's connections close with it.
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        () = stopped => {}
                    }
                });
            })
            .context("cannot start the receiver's thread")?;
        Ok(Self {
            addr,
            shutdown: Some(shutdown),
        })
    }

    /// The URL chathook POSTs to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/chat-events", self.addr)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
