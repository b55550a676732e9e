//! The connection layer under the router: it accepts within `server.max_connections`, runs
//! each connection through hyper with bounded buffers, cuts idle and slow connections, answers
//! in JSON the requests hyper refuses on its own, closes gracefully after a refusal so the
//! client can read it, and gives shutdown a deadline.
//!
//! hyper's own header timer also runs on idle keep-alive connections, and its automatic 400,
//! 414 and 431 replies are written with no body and no hook. So the socket is wrapped
//! ([`Socket`]): it knows where each connection is in its request cycle ([`Phase`]), which
//! gives separate idle and header timeouts, and it recognises a reply hyper writes while no
//! request has reached the router, which can only be hyper's own refusal, and writes chathook's
//! JSON refusal in its place.

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::log_budget::LogBudget;
use crate::config::ServerConfig;
use crate::metrics::{InFlight, Metrics};
use crate::rejection::Rejection;

/// After a refusal, how long the connection is read and discarded before it is closed, so the
/// client's unsent body does not make the kernel reset the connection over the reply.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// The connection settings of `[server]`.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl Limits {
    pub(crate) fn new(server: &ServerConfig) -> Self {
        Self {
            max_connections: server.max_connections,
            max_header_bytes: server.max_header_bytes,
            header_read_timeout: server.header_read_timeout(),
            idle_timeout: server.idle_timeout(),
            shutdown_timeout: server.shutdown_timeout(),
        }
    }
}

/// Where a connection is in its request cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for a request's line and headers: the header timeout runs. A connection starts
    /// here, so one that never sends a request is cut after the header timeout too.
    Head = 0,
    /// The router has the request; its body is read and its reply computed under their own
    /// deadlines, so no timer runs here.
    Request = 1,
    /// The reply is being written or has been: the idle timeout runs until the next request's
    /// first byte.
    Responded = 2,
}

/// What the router and the socket share about one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The TCP peer.
    pub(crate) peer: SocketAddr,
    phase: AtomicU8,
    /// A reply was sent before the request was read to its end: linger before closing.
    linger: AtomicBool,
}

impl Connection {
    fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            phase: AtomicU8::new(Phase::Head as u8),
            linger: AtomicBool::new(false),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Head,
            1 => Phase::Request,
            _ => Phase::Responded,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// The reply leaves part of the request unread: read and discard it before closing.
    pub(crate) fn linger_before_close(&self) {
        self.linger.store(true, Ordering::Relaxed);
    }
}

/// What the connection layer reports, and nothing more: it counts and (within the log
/// budget) logs what it refuses or cuts, and never sees the router's state.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionEvents {
    metrics: Arc<Metrics>,
    log_budget: Arc<LogBudget>,
}

impl ConnectionEvents {
    pub(crate) fn new(metrics: Arc<Metrics>, log_budget: Arc<LogBudget>) -> Self {
        Self {
            metrics,
            log_budget,
        }
    }

    /// Counts a connection as open until the guard drops.
    fn opened(&self) -> InFlight {
        self.metrics.connection_open()
    }

    /// A refusal made here, where only the peer is known.
    fn refused(&self, rejection: &Rejection, peer: SocketAddr) {
        self.metrics.rejection(rejection.reason());
        if self.log_budget.allow() {
            tracing::warn!(
                %peer,
                reason = rejection.reason(),
                status = rejection.status().as_u16(),
                "connection refused: {rejection}"
            );
        }
    }

    fn accept_failed(&self, error: &io::Error) {
        self.metrics.connection_cut("accept_failed");
        if self.log_budget.allow() {
            tracing::error!(
                %error,
                "cannot accept a connection; if it says too many open files, raise the file \
                 limit (ulimit -n) or lower server.max_connections"
            );
        }
    }

    fn idle_closed(&self) {
        self.metrics.connection_cut("idle_timeout");
    }

    fn dropped_at_shutdown(&self, dropped: usize, deadline: Duration) {
        for _ in 0..dropped {
            self.metrics.connection_cut("shutdown_deadline");
        }
        tracing::warn!(
            dropped,
            "shutdown deadline of {} ms passed: open connections dropped",
            deadline.as_millis()
        );
    }
}

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
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    refuse_over_limit(&events, stream, peer, limits.max_connections);
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

/// Over the connection limit: a JSON 503 if the socket takes it at once, then close. Nothing
/// waits on this connection, so a flood of them costs no tasks.
fn refuse_over_limit(events: &ConnectionEvents, stream: TcpStream, peer: SocketAddr, limit: usize) {
    let rejection = Rejection::ConnectionLimit { limit };
    events.refused(&rejection, peer);
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
    let socket = Socket {
        stream,
        connection: Arc::clone(&connection),
        events,
        peer,
        limits: limits.clone(),
        timer: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
        timer_phase: Phase::Head,
        head_started: false,
        wrote: false,
        replacement: None,
        lingering: None,
    };
    let service = {
        let connection = Arc::clone(&connection);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            connection.set_phase(Phase::Request);
            request.extensions_mut().insert(Arc::clone(&connection));
            router.clone().oneshot(request.map(Body::new))
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(limits.max_header_bytes)
        // The socket runs the header timeout itself, apart from the idle one.
        .header_read_timeout(None);
    let serving = builder.serve_connection(TokioIo::new(socket), service);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = serving.as_mut() => result,
        _ = async { stopping.wait_for(|stop| *stop).await.map(drop) } => {
            // Finish the request in progress, take no further one.
            serving.as_mut().graceful_shutdown();
            serving.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, error = %error, "connection ended with an error");
    }
}

/// The TCP stream as hyper sees it: it notes the connection's phase as bytes go by, runs the
/// phase's timer when there is nothing to read, and answers for hyper when hyper refuses.
struct Socket {
    stream: TcpStream,
    connection: Arc<Connection>,
    events: ConnectionEvents,
    peer: SocketAddr,
    limits: Limits,
    timer: Pin<Box<Sleep>>,
    /// The phase the timer was last set for.
    timer_phase: Phase,
    /// Some bytes of the request head being waited for have arrived.
    head_started: bool,
    /// Bytes went out since the timer was set: a reply still being written (a live stream)
    /// is not idle while it makes progress.
    wrote: bool,
    /// chathook's JSON refusal standing in for hyper's own reply, and how much of it is
    /// written.
    replacement: Option<(Vec<u8>, usize)>,
    /// Bytes discarded so far while lingering at shutdown, once it has begun.
    lingering: Option<usize>,
}

impl Socket {
    /// Bytes came in: the first byte after a reply starts the next request's header timer.
    fn on_read(&mut self) {
        match self.connection.phase() {
            Phase::Responded => {
                self.connection.set_phase(Phase::Head);
                self.arm(Phase::Head, self.limits.header_read_timeout);
                self.head_started = true;
            }
            Phase::Head => self.head_started = true,
            Phase::Request => {}
        }
    }

    fn arm(&mut self, phase: Phase, timeout: Duration) {
        self.timer_phase = phase;
        self.wrote = false;
        self.timer.as_mut().reset(Instant::now() + timeout);
    }

    /// Nothing to read: `Pending`, or an error once the phase's deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let phase = self.connection.phase();
        if phase == Phase::Request {
            return Poll::Pending;
        }
        if phase != self.timer_phase {
            // The router answered since the timer was set: the idle time starts now.
            self.arm(phase, self.limits.idle_timeout);
        }
        ready!(self.timer.as_mut().poll(cx));
        // A reply that is still going out (a live stream) counts as idle only from its last
        // write: a reader that stops reading is still cut off, one that keeps up is not.
        // Checked here rather than on every write, so a callback's reply pays nothing.
        while phase == Phase::Responded && self.wrote {
            self.arm(phase, self.limits.idle_timeout);
            ready!(self.timer.as_mut().poll(cx));
        }
        if phase == Phase::Head && self.head_started {
            let timeout_ms = self.limits.header_read_timeout.as_millis() as u64;
            let rejection = Rejection::HeaderTimeout { timeout_ms };
            self.events.refused(&rejection, self.peer);
            let _ = self.stream.try_write(&rejection.http_bytes());
            self.connection.linger_before_close();
        } else {
            // Routine for keep-alive connections, so not a warning.
            tracing::debug!(peer = %self.peer, "idle connection closed");
            self.events.idle_closed();
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connection timed out",
        )))
    }

    /// hyper writes while no request reached the router: its own refusal of a request it
    /// could not parse. chathook's JSON refusal goes out instead.
    fn replace_hyper_reply(&mut self, head: &[u8]) {
        let status = head
            .get(9..12)
            .and_then(|code| std::str::from_utf8(code).ok())
            .and_then(|code| code.parse::<u16>().ok());
        let rejection = match status {
            Some(414) => Rejection::UriTooLong,
            Some(431) => Rejection::HeadersTooLarge {
                limit: self.limits.max_header_bytes,
            },
            _ => Rejection::MalformedRequest,
        };
        self.events.refused(&rejection, self.peer);
        self.connection.linger_before_close();
        self.replacement = Some((rejection.http_bytes(), 0));
    }

    /// Writes what is left of the replacement reply.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                break;
            }
            *written += ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
        }
        Poll::Ready(Ok(()))
    }

    /// After a refusal that left the request unread: with the write side shut, reads and
    /// discards what the client still sends, for a bounded time and amount, so that closing
    /// with unread data does not reset the connection before the client has read the reply.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let discarded = match &mut self.lingering {
            Some(discarded) => discarded,
            None => {
                self.timer.as_mut().reset(Instant::now() + LINGER);
                self.lingering.insert(0)
            }
        };
        let mut scratch = [0u8; 8192];
        while *discarded < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => *discarded += buf.filled().len(),
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    ready!(self.timer.as_mut().poll(cx));
                    return Poll::Ready(());
                }
            }
        }
        Poll::Ready(())
    }

    /// Notes a write; true when it is hyper's own refusal, to be replaced.
    fn on_write(&mut self, first: &[u8]) -> bool {
        if self.replacement.is_some() {
            return true;
        }
        match self.connection.phase() {
            Phase::Head if is_refusal_head(first) => {
                self.replace_hyper_reply(first);
                true
            }
            // An interim `100 Continue` is not the reply: the body is still to come.
            Phase::Request if !first.starts_with(b"HTTP/1.1 1") => {
                self.connection.set_phase(Phase::Responded);
                false
            }
            _ => false,
        }
    }
}

/// The head of a 4xx or 5xx reply. (A write in the `Head` phase that is not a reply head
/// would be the rest of an earlier reply, racing a pipelined request: it passes.)
fn is_refusal_head(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.") && matches!(bytes.get(9), Some(b'4' | b'5'))
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.poll_deadline(cx),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.on_write(buf) {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        this.wrote |= written > 0;
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|buf| !buf.is_empty())
            .map_or(&[][..], |b| b);
        if this.on_write(first) {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|buf| buf.len()).sum()));
        }
        let written = ready!(Pin::new(&mut this.stream).poll_write_vectored(cx, bufs))?;
        this.wrote |= written > 0;
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    /// hyper shuts the connection down once it is done with it, before dropping it: the place
    /// to linger after a refusal.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.lingering.is_none() {
            ready!(this.poll_replacement(cx))?;
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
        }
        if this.connection.linger.load(Ordering::Relaxed) {
            ready!(this.poll_linger(cx));
        }
        Poll::Ready(Ok(()))
    }
}
