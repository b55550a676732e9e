//! The connection layer under the router: it accepts within `server.max_connections`, runs
//! each connection through hyper with bounded buffers, cuts idle and slow connections, answers
//! in JSON the requests hyper refuses on its own, closes gracefully after a refusal so the
//! client can read it, and gives shutdown a deadline.
//!
//! hyper's own header timer also runs on idle keep-alive connections, and its automatic 400,
//! 414 and 431 replies are written with no body and no hook. So the socket is wrapped
//! (`connection/socket.rs`): it knows where each connection is in its request cycle, which
//! gives separate idle and header timeouts, and it recognises a reply hyper writes while no
//! request has reached the router, which can only be hyper's own refusal, and writes chathook's
//! JSON refusal in its place. What the layer is given and what it reports are in
//! `connection/events.rs`.

mod events;
mod socket;

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::rejection::Rejection;
use socket::{LINGER, LINGER_BYTES, Socket};

/// Most refused connections lingering at once before they close (see [`refuse_source`]).
const MAX_LINGERING_REFUSALS: usize = 256;

pub(crate) use events::{ConnectionEvents, Limits};
pub(crate) use socket::Connection;

/// Accepts and serves connections until `shutdown` resolves, then lets open requests finish
/// for `limits.shutdown_timeout` and drops whatever connections are left.
pub(crate) async fn serve(
    events: ConnectionEvents,
    router: Router,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        events.accept_failed(&error);
                        // Out of file descriptors, most likely: give connections time to close.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Before a slot is taken, so callers from elsewhere cannot fill them.
                if !limits.sources.may_connect(peer.ip()) {
                    refuse_source(&events, &mut connections, &lingering, stream, peer);
                    continue;
                }
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    let limit = limits.max_connections;
                    refuse_at_accept(&events, stream, peer, &Rejection::ConnectionLimit { limit });
                    continue;
                };
                connections.spawn(serve_connection(
                    events.clone(),
                    router.clone(),
                    stream,
                    peer,
                    limits.clone(),
                    stopping.clone(),
                    permit,
                ));
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let dropped = connections.len();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        events.dropped_at_shutdown(dropped, limits.shutdown_timeout);
    }
}

/// From a source neither allowed nor a trusted proxy: refused before it takes a slot. Its
/// request is likely on its way (a client on the wrong network), and closing over it unread
/// would reset the connection before the refusal is read, so the refusal lingers as the
/// socket's do, unless [`MAX_LINGERING_REFUSALS`] already are.
fn refuse_source(
    events: &ConnectionEvents,
    connections: &mut JoinSet<()>,
    lingering: &Arc<Semaphore>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let rejection = Rejection::SourceNotAllowed(peer.ip().to_canonical());
    match Arc::clone(lingering).try_acquire_owned() {
        Ok(permit) => {
            events.refused(&rejection, peer);
            connections.spawn(linger_after_refusal(stream, rejection, permit));
        }
        Err(_) => refuse_at_accept(events, stream, peer, &rejection),
    }
}

/// Waits (boundedly) for the request to begin, since an HTTP client drops an answer that
/// comes before its question; then writes `rejection`, shuts the write side, and reads and
/// discards what comes for a bounded time and amount before closing.
async fn linger_after_refusal(
    mut stream: TcpStream,
    rejection: Rejection,
    _permit: OwnedSemaphorePermit,
) {
    let mut scratch = [0u8; 8192];
    let asked = tokio::time::timeout(LINGER, stream.read(&mut scratch)).await;
    if matches!(asked, Ok(Err(_))) {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(&rejection.http_bytes()).await?;
        stream.shutdown().await?;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut scratch).await? {
                0 => break,
                read => discarded += read,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Over the connection limit, or from a source not allowed while too many refusals linger:
/// the JSON refusal if the socket takes it at once, then close. Nothing waits on this
/// connection, so a flood of them costs no tasks.
fn refuse_at_accept(
    events: &ConnectionEvents,
    stream: TcpStream,
    peer: SocketAddr,
    rejection: &Rejection,
) {
    events.refused(rejection, peer);
    let _ = stream.try_write(&rejection.http_bytes());
    let _ = socket2::SockRef::from(&stream).shutdown(Shutdown::Write);
}

async fn serve_connection(
    events: ConnectionEvents,
    router: Router,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Replies are small and latency-bound: don't let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let _open = events.opened();
    let connection = Arc::new(Connection::new(peer));
    let socket = Socket::new(
        stream,
        Arc::clone(&connection),
        events.clone(),
        limits.clone(),
    );
    let service = {
        let connection = Arc::clone(&connection);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            connection.start_request();
            request.extensions_mut().insert(Arc::clone(&connection));
            router.clone().oneshot(request.map(Body::new))
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(limits.max_header_bytes)
        // Exact: the buffer bound alone lets a head through whole when one read takes it
        // past the limit.
        .max_header_size(limits.max_header_bytes)
        // A client may send its whole request and shut its write side while it waits for
        // the answer; without this hyper drops the request and the callback with it.
        .half_close(true)
        // The socket runs the header timeout itself, apart from the idle one.
        .header_read_timeout(None);
    let serving = builder.serve_connection(TokioIo::new(socket), service);
    let serving = async move {
        tokio::pin!(serving);
        tokio::select! {
            result = serving.as_mut() => result,
            _ = async { stopping.wait_for(|stop| *stop).await.map(drop) } => {
                // Finish the request in progress, take no further one.
                serving.as_mut().graceful_shutdown();
                serving.await
            }
        }
    };
    tokio::select! {
        result = serving => {
            if let Err(error) = result {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
        }
        // Dropping hyper's connection closes the socket.
        () = connection.idle_expired(limits.idle_timeout) => {
            tracing::debug!(%peer, "idle connection closed");
            events.idle_closed();
        }
    }
}
