//! A TCP proxy a test controls, to put a misbehaving network between chathook and a database.
//!
//! It forwards bytes both ways until told to blackhole: then it stops forwarding in both
//! directions on every connection, new ones included, while keeping all sockets open, the way
//! a network that drops packets (rather than refusing connections) looks to both ends. It can
//! be armed to blackhole the moment the client sends given bytes, e.g. `COMMIT`, so that a
//! transaction is cut off while it holds its locks. Healing resumes forwarding, including what
//! was held back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The proxy; stops (closing every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    /// `true` while forwarding.
    open: watch::Sender<bool>,
    /// Bytes from the client that blackhole the network before they are forwarded.
    trigger: Mutex<Option<Vec<u8>>>,
}

impl State {
    /// Whether `chunk` (from a client) trips the armed trigger; disarms it if so.
    fn trips(&self, chunk: &[u8]) -> bool {
        let mut trigger = self.trigger.lock().expect("trigger lock");
        let tripped = trigger
            .as_deref()
            .is_some_and(|pattern| chunk.windows(pattern.len()).any(|window| window == pattern));
        if tripped {
            *trigger = None;
            self.open.send_replace(false);
        }
        tripped
    }
}

impl FaultProxy {
    /// Listens on a loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(State {
            open: watch::Sender::new(true),
            trigger: Mutex::new(None),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Dropped with the accept task, which aborts every connection's pumps.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                connections.spawn(pump(client_read, server_write, Arc::clone(&shared), true));
                connections.spawn(pump(server_read, client_write, Arc::clone(&shared), false));
            }
        });
        Self { addr, state, task }
    }

    /// `host:port` to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blackholes the network as soon as a client sends `pattern`; those bytes are held back.
    pub fn blackhole_when_client_sends(&self, pattern: &[u8]) {
        *self.state.trigger.lock().expect("trigger lock") = Some(pattern.to_vec());
    }

    /// Whether the network is blackholed.
    pub fn is_blackholed(&self) -> bool {
        !*self.state.open.borrow()
    }

    /// Blackholes the network now.
    pub fn blackhole(&self) {
        self.state.open.send_replace(false);
    }

    /// Resumes forwarding, starting with what was held back.
    pub fn heal(&self) {
        *self.state.trigger.lock().expect("trigger lock") = None;
        self.state.open.send_replace(true);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding each chunk while the network is blackholed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
    from_client: bool,
) {
    let mut open = state.open.subscribe();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        if from_client {
            state.trips(chunk);
        }
        if open.wait_for(|open| *open).await.is_err() {
            break;
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    // Whatever ended this direction, the other side hears of it once the network forwards.
    let _ = open.wait_for(|open| *open).await;
    let _ = to.shutdown().await;
}

/// `url` (`scheme://[userinfo@]host[:port]/...`) with its host and port replaced by `addr`.
pub fn with_host(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let userinfo = authority
        .rsplit_once('@')
        .map_or(String::new(), |(userinfo, _)| format!("{userinfo}@"));
    format!("{scheme}://{userinfo}{addr}{tail}")
}

/// The host and port a URL names (port 5432 if absent), resolved.
pub async fn host_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL with a scheme").1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(&host_port)
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}
