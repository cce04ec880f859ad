//! A loopback TCP proxy in front of the relay that breaks the network on command, the way a
//! phone's network breaks: [`FaultProxy::cut`] drops every open connection without a
//! WebSocket close (a Wi-Fi → LTE switch), [`FaultProxy::refuse`] makes new connections fail
//! (no network at all), [`FaultProxy::stall`] freezes the open connections while new ones
//! work (a half-open socket: it looks alive and carries nothing). Traffic stays on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy; dropping it stops it and drops its connections.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: std::net::SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

struct State {
    /// Where new connections go.
    target: Mutex<std::net::SocketAddr>,
    refuse: AtomicBool,
    /// Open connections: their two pumps and whether they are stalled.
    open: Mutex<Vec<Piped>>,
    /// Connections accepted so far.
    accepted: Mutex<usize>,
}

struct Piped {
    pumps: [JoinHandle<()>; 2],
    stalled: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `relay`.
    pub async fn start(relay: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(State {
            target: Mutex::new(relay),
            refuse: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
            accepted: Mutex::new(0),
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = *shared.target.lock().expect("lock");
                let Ok(upstream) = TcpStream::connect(target).await else {
                    continue;
                };
                *shared.accepted.lock().expect("lock") += 1;
                let stalled = Arc::new(AtomicBool::new(false));
                let (client_read, client_write) = client.into_split();
                let (relay_read, relay_write) = upstream.into_split();
                let pumps = [
                    tokio::spawn(pump(client_read, relay_write, stalled.clone())),
                    tokio::spawn(pump(relay_read, client_write, stalled.clone())),
                ];
                shared
                    .open
                    .lock()
                    .expect("lock")
                    .push(Piped { pumps, stalled });
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    /// The WebSocket URL through the proxy.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.addr,
            confidant_proto::limits::WEBSOCKET_PATH
        )
    }

    /// Drops every open connection at once, both ways, with no WebSocket close.
    pub fn cut(&self) {
        for piped in self.state.open.lock().expect("lock").drain(..) {
            for pump in piped.pumps {
                pump.abort();
            }
        }
    }

    /// Sends new connections to another relay from now on (a restarted relay, as the
    /// clients see it: same address, no memory of them).
    pub fn retarget(&self, relay: std::net::SocketAddr) {
        *self.state.target.lock().expect("lock") = relay;
    }

    /// While `true`, new connections are closed as soon as they arrive.
    pub fn refuse(&self, refuse: bool) {
        self.state.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Freezes every open connection: nothing more crosses it either way, and nothing
    /// tells either end. New connections are not affected.
    pub fn stall(&self) {
        for piped in self.state.open.lock().expect("lock").iter() {
            piped.stalled.store(true, Ordering::SeqCst);
        }
    }

    /// Connections accepted so far (a reconnect shows here).
    pub fn accepted(&self) -> usize {
        *self.state.accepted.lock().expect("lock")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stalled.load(Ordering::SeqCst) {
            // What arrived after the stall is lost, as on a dead path.
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
