//! The TCP stream as hyper sees it ([`Socket`]): it knows where its connection is in the
//! request cycle ([`Connection`], which also times the idle time after a reply), runs the
//! header timer apart from the idle one,
//! writes chathook's JSON refusal in place of hyper's bodiless one, and lingers after a
//! refusal so the client can read it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::events::{ConnectionEvents, Limits};
use crate::rejection::Rejection;

/// After a refusal, how long the connection is read and discarded before it is closed, so the
/// client's unsent body does not make the kernel reset the connection over the reply.
pub(super) const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
pub(super) const LINGER_BYTES: usize = 16 * 1024 * 1024;

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
    /// The reply is being written or has been: the idle timeout runs, beside the connection,
    /// until the next request's first byte.
    Responded = 2,
}

/// What the router, the socket and the idle watch share about one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The TCP peer, canonical: an IPv4 caller of a dual-stack listener is its IPv4 address,
    /// not `::ffff:a.b.c.d`.
    pub(crate) peer: SocketAddr,
    phase: AtomicU8,
    /// A reply was sent before the request was read to its end: linger before closing.
    linger: AtomicBool,
    opened: Instant,
    /// When a reply's bytes last went out, in milliseconds since `opened`.
    last_write_ms: AtomicU64,
    /// Woken as a reply starts going out, so the idle watch need not poll.
    replying: Notify,
}

impl Connection {
    pub(super) fn new(peer: SocketAddr) -> Self {
        Self {
            peer: SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            phase: AtomicU8::new(Phase::Head as u8),
            linger: AtomicBool::new(false),
            opened: Instant::now(),
            last_write_ms: AtomicU64::new(0),
            replying: Notify::new(),
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

    /// The router has the request: no timer runs until its reply is written.
    pub(super) fn start_request(&self) {
        self.set_phase(Phase::Request);
    }

    /// The reply leaves part of the request unread: read and discard it before closing.
    pub(crate) fn linger_before_close(&self) {
        self.linger.store(true, Ordering::Relaxed);
    }

    fn lingers(&self) -> bool {
        self.linger.load(Ordering::Relaxed)
    }

    fn note_write(&self) {
        let since_opened = self.opened.elapsed().as_millis() as u64;
        self.last_write_ms.store(since_opened, Ordering::Release);
    }

    fn last_write(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_write_ms.load(Ordering::Acquire))
    }

    /// Resolves once the connection has sat idle for `idle` after a reply: nothing went out
    /// for that long and no next request began. It runs beside hyper rather than inside the
    /// socket's read, because hyper may poll its last read before the reply is flushed, and
    /// then nothing would ever poll a timer armed there. A reply still going out (a live
    /// stream) is idle only from its last write, so a reader that keeps up is never cut and
    /// one that stops reading is.
    pub(super) async fn idle_expired(&self, idle: Duration) {
        loop {
            self.replying.notified().await;
            while self.phase() == Phase::Responded {
                let last_write = self.last_write();
                tokio::time::sleep_until(last_write + idle).await;
                let idle_since_then = self.phase() == Phase::Responded
                    && self.last_write() == last_write
                    // Lingering after a refusal is bounded on its own, and cutting it
                    // would reset the connection over the refusal.
                    && !self.lingers();
                if idle_since_then {
                    return;
                }
            }
        }
    }
}

/// The TCP stream as hyper sees it: it notes the connection's phase as bytes go by, runs the
/// phase's timer when there is nothing to read, and answers for hyper when hyper refuses.
pub(super) struct Socket {
    stream: TcpStream,
    connection: Arc<Connection>,
    events: ConnectionEvents,
    peer: SocketAddr,
    limits: Limits,
    /// The header timer, while a request's head is awaited; the idle one runs beside the
    /// connection ([`Connection::idle_expired`]).
    timer: Pin<Box<Sleep>>,
    /// Some bytes of the request head being waited for have arrived.
    head_started: bool,
    /// chathook's JSON refusal standing in for hyper's own reply, and how much of it is
    /// written.
    replacement: Option<(Vec<u8>, usize)>,
    /// Bytes discarded so far while lingering at shutdown, once it has begun.
    lingering: Option<usize>,
}

impl Socket {
    /// `stream` of `connection`, waiting for its first request's head.
    pub(super) fn new(
        stream: TcpStream,
        connection: Arc<Connection>,
        events: ConnectionEvents,
        limits: Limits,
    ) -> Self {
        Self {
            stream,
            peer: connection.peer,
            connection,
            events,
            timer: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            limits,
            head_started: false,
            replacement: None,
            lingering: None,
        }
    }

    /// Bytes came in: the first byte after a reply starts the next request's header timer.
    fn on_read(&mut self) {
        match self.connection.phase() {
            Phase::Responded => {
                self.connection.set_phase(Phase::Head);
                let timeout = self.limits.header_read_timeout;
                self.timer.as_mut().reset(Instant::now() + timeout);
                self.head_started = true;
            }
            Phase::Head => self.head_started = true,
            Phase::Request => {}
        }
    }

    /// Nothing to read: `Pending`, or an error once the header timeout has passed. Only a
    /// request's head is timed here: while hyper waits for one it keeps polling its read.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.connection.phase() != Phase::Head {
            return Poll::Pending;
        }
        ready!(self.timer.as_mut().poll(cx));
        if self.head_started {
            let timeout_ms = self.limits.header_read_timeout.as_millis() as u64;
            let rejection = Rejection::HeaderTimeout { timeout_ms };
            self.events.refused(&rejection, self.peer);
            let _ = self.stream.try_write(&rejection.http_bytes());
            self.connection.linger_before_close();
        } else {
            // A connection opened and never used: routine for some clients, so not a warning.
            tracing::debug!(peer = %self.peer, "idle connection closed before any request");
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
                self.connection.note_write();
                self.connection.replying.notify_one();
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
        this.connection.note_write();
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
        this.connection.note_write();
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
        if this.connection.lingers() {
            ready!(this.poll_linger(cx));
        }
        Poll::Ready(Ok(()))
    }
}
