//! Loopback plumbing: the file limit, client sockets bound to rotating `127.0.0.x` source
//! addresses (one address has ~28,000 ephemeral ports), WebSocket settings, and reading a
//! process's RSS and CPU time from `/proc`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Result;

/// A client WebSocket.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Longest wait for any single protocol step.
pub(crate) const STEP: Duration = Duration::from_secs(30);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (no `unsafe`: rustix).
pub(crate) fn raise_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
}

/// The soft file limit now in force (`None`: unlimited).
pub(crate) fn file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Hands out `127.0.0.1 ..= 127.0.0.n` in turn.
#[derive(Debug)]
pub(crate) struct Sources {
    first: u8,
    count: u8,
    next: AtomicUsize,
}

impl Sources {
    pub(crate) fn new(count: u8) -> Self {
        Self::starting_at(1, count)
    }

    /// `127.0.0.first ..= 127.0.0.(first + count − 1)`, so that several generator processes
    /// use disjoint addresses (and port ranges).
    pub(crate) fn starting_at(first: u8, count: u8) -> Self {
        Self {
            first: first.max(1),
            count: count.max(1),
            next: AtomicUsize::new(0),
        }
    }

    /// The same addresses, counting afresh.
    pub(crate) fn same(&self) -> Self {
        Self::starting_at(self.first, self.count)
    }

    fn pick(&self) -> Ipv4Addr {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % usize::from(self.count);
        let last = usize::from(self.first) + n;
        Ipv4Addr::new(127, 0, 0, u8::try_from(last).unwrap_or(1))
    }
}

/// The client side's WebSocket settings: same buffer sizes as the relay's, no limits that
/// would refuse a protocol frame.
pub(crate) fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

/// Connects to `ws://{server}{path}` from the next source address.
pub(crate) async fn connect(sources: &Sources, server: SocketAddr, path: &str) -> Result<Ws> {
    let work = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::V4(SocketAddrV4::new(sources.pick(), 0)))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{server}{path}");
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(client_config())).await?;
        Ok::<_, crate::BoxError>(ws)
    };
    tokio::time::timeout(STEP, work)
        .await
        .map_err(|_| "connect timed out")?
}

/// `VmRSS` of `pid`, in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    let kib: u64 = line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?;
    Ok(kib * 1024)
}

/// User + system CPU time of `pid` so far.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(") ").ok_or("bad stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("no stime")?.parse()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Ok(Duration::from_millis((utime + stime) * 10))
}
