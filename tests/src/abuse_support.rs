//! Harness for the abuse, fault, isolation and no-records tests (`tests/abuse_*.rs`,
//! `fault_*.rs`, `isolation_*.rs`, `no_records_*.rs`):
//!
//! - [`AbuseRelay`]: the real `confidant-relay` binary as a child process on loopback, with
//!   a fixture program, so its memory can be read from `/proc/<pid>/status`.
//! - [`Canary`]: a chat running beside an attack; it measures its round trip before and
//!   during the attack ([`Latency`]).
//! - [`MemorySampler`]: the relay's resident set, sampled while an attack runs.
//! - Hand-made WebSocket: [`raw_upgrade`] (any request headers, any source address on
//!   `127.0.0.0/8`), [`client_frame`] (FIN, opcode, masking by hand) and [`read_frames`]
//!   for what the relay sends back, so a test can write what no WebSocket library would.
//! - [`WsClient`]: a split WebSocket client whose reads land in a channel (for tests with
//!   many clients at once), connectable from any loopback source address.
//! - [`Row`]: one line of the table in `docs/reliability.md`, printed by the tests.
//!
//! Every wait is bounded.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use confidant_proto::{ChatNumber, ClientFrame, DataFrame, RelayFrame};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::RawClient;
use crate::fixtures::{ProgramFixture, SupporterCredential};
use crate::ops_support::{RelayProcess, peer_at, seeker_at, write_config};
use crate::{Received, WAIT};

/// The program every abuse test uses.
pub const PROGRAM: &str = "resident-peer-support";

/// Serialises the tests of one test binary that measure latency or memory, so two attacks
/// never share the two cores of a CI machine and skew each other's figures.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

// ---------------------------------------------------------------------------------------
// The relay binary

/// The real relay binary with one fixture program, on loopback.
pub struct AbuseRelay {
    /// The process (killed on drop).
    pub process: RelayProcess,
    /// The program's keys.
    pub fixture: ProgramFixture,
    /// Holds the config and revocation list files.
    pub dir: tempfile::TempDir,
}

impl AbuseRelay {
    /// Starts the binary with the fixture program and `flags` (limits, log level…).
    pub fn start(flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture = ProgramFixture::new(PROGRAM);
        let config = write_config(dir.path(), &fixture, "reload_interval_secs = 0", "Line");
        let mut args = vec!["--config", config.to_str().expect("utf-8 path")];
        args.extend_from_slice(flags);
        let process = RelayProcess::start(&args, &[]);
        Self {
            process,
            fixture,
            dir,
        }
    }

    /// `ws://…/v1/ws`.
    pub fn url(&self) -> String {
        self.process.ws_url()
    }

    /// The relay's pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// A verified peer, available with `capacity`.
    pub async fn peer(&mut self, capacity: u16) -> (RawClient, SupporterCredential) {
        let credential = self.fixture.supporter();
        let mut peer = peer_at(&self.url(), PROGRAM, &credential).await;
        peer.available(capacity, false).await;
        (peer, credential)
    }

    /// A seeker after `welcome`.
    pub async fn seeker(&self) -> RawClient {
        seeker_at(&self.url(), PROGRAM).await
    }

    /// The admin `/metrics` page, parsed into `name{labels} → value`.
    pub async fn metrics(&self) -> std::collections::BTreeMap<String, f64> {
        let (status, text) = self.process.admin_get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        parse_metrics(&text)
    }

    /// Waits (bounded) until `/metrics` shows `chats` chats, no queue and no open offer,
    /// and `connections` connections.
    pub async fn wait_tables(&self, chats: f64, connections: f64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let m = self.metrics().await;
            let get = |name: &str| m.get(name).copied().unwrap_or(f64::NAN);
            if get("confidant_chats_active") == chats
                && get("confidant_queue_length") == 0.0
                && get("confidant_offers_open") == 0.0
                && get("confidant_connections") == connections
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "state tables never emptied: {m:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Prometheus text → `name{labels} → value`.
pub fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Memory

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// Resident set now.
    pub rss_kib: u64,
    /// Peak resident set since the process started.
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/status`.
pub fn memory_of(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

/// Samples a process' resident set every 20 ms until stopped; reports the peak.
pub struct MemorySampler {
    before: Memory,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
    pid: u32,
}

impl MemorySampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let before = memory_of(pid);
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let rss = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    peak = peak.max(rss);
                }
                tokio::select! {
                    _ = &mut stopped => return peak,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        });
        Self {
            before,
            stop,
            task,
            pid,
        }
    }

    /// Stops; returns `(before, peak during, after)` resident set in KiB.
    pub async fn finish(self) -> MemoryFigures {
        let _ = self.stop.send(());
        let peak = self.task.await.unwrap_or(0);
        let after = memory_of(self.pid);
        MemoryFigures {
            before_kib: self.before.rss_kib,
            peak_kib: peak.max(after.rss_kib),
            after_kib: after.rss_kib,
        }
    }
}

/// The relay's resident set around an attack.
#[derive(Clone, Copy, Debug)]
pub struct MemoryFigures {
    /// Before the attack.
    pub before_kib: u64,
    /// Highest sample during it.
    pub peak_kib: u64,
    /// After it.
    pub after_kib: u64,
}

impl MemoryFigures {
    /// Asserts the attack grew the relay by at most `limit_kib`.
    pub fn assert_growth_below(&self, limit_kib: u64, what: &str) {
        let growth = self.peak_kib.saturating_sub(self.before_kib);
        assert!(
            growth <= limit_kib,
            "{what}: relay RSS grew by {growth} KiB (limit {limit_kib} KiB): {self:?}"
        );
    }

    /// For the table.
    pub fn describe(&self) -> String {
        format!(
            "RSS {:.1} → peak {:.1} MiB (+{:.1})",
            mib(self.before_kib),
            mib(self.peak_kib),
            mib(self.peak_kib.saturating_sub(self.before_kib))
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------
// The canary chat

/// Round-trip figures of a canary chat.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// Samples taken.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// Slowest.
    pub max: Duration,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms / max {:.1} ms",
            self.p50.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3
        )
    }
}

/// A chat beside an attack: a seeker and a peer exchanging numbered data frames.
pub struct Canary {
    seeker: RawClient,
    peer: RawClient,
    seeker_chat: ChatNumber,
    peer_chat: ChatNumber,
    next: u64,
}

/// How far a canary may slow down under attack: median at most this many times its
/// quiet median (or [`CANARY_P50_FLOOR`], whichever is larger), slowest at most
/// [`CANARY_MAX`]. Generous, because CI machines are noisy and the relay is a debug build;
/// a relay that stalls (seconds) or drops the chat still fails.
pub const CANARY_SLOWDOWN: u32 = 20;
/// See [`CANARY_SLOWDOWN`].
pub const CANARY_P50_FLOOR: Duration = Duration::from_millis(100);
/// See [`CANARY_SLOWDOWN`].
pub const CANARY_MAX: Duration = Duration::from_secs(2);

impl Canary {
    /// Opens the canary chat on `relay` with its own peer (capacity 1).
    pub async fn open(relay: &mut AbuseRelay) -> Self {
        let (mut peer, _) = relay.peer(1).await;
        let mut seeker = relay.seeker().await;
        seeker
            .send(&ClientFrame::Seek {
                preferences: Default::default(),
                urgent: false,
            })
            .await;
        let offer = peer.offer().await;
        let peer_chat = peer.accept(offer).await;
        let seeker_chat = seeker.matched().await;
        Self {
            seeker,
            peer,
            seeker_chat,
            peer_chat,
            next: 0,
        }
    }

    /// One round trip: seeker → peer → seeker, checking chat numbers and content.
    pub async fn round_trip(&mut self) -> Duration {
        self.next += 1;
        let tag = format!("canary-{}", self.next).into_bytes();
        let started = Instant::now();
        self.seeker.send_data(self.seeker_chat, &tag).await;
        assert_eq!(
            self.peer.data().await,
            (self.peer_chat, tag.clone()),
            "canary frame reached the peer"
        );
        self.peer.send_data(self.peer_chat, &tag).await;
        assert_eq!(
            self.seeker.data().await,
            (self.seeker_chat, tag),
            "canary frame came back"
        );
        started.elapsed()
    }

    /// `count` round trips, `gap` apart (the canary keeps well under the rate limit).
    pub async fn measure(&mut self, count: usize, gap: Duration) -> Latency {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            samples.push(self.round_trip().await);
            tokio::time::sleep(gap).await;
        }
        latency(samples)
    }

    /// Round trips until `done` fires (at least one), `gap` apart.
    pub async fn measure_until(
        &mut self,
        mut done: tokio::sync::oneshot::Receiver<()>,
        gap: Duration,
    ) -> Latency {
        let mut samples = Vec::new();
        loop {
            samples.push(self.round_trip().await);
            tokio::select! {
                _ = &mut done => break,
                () = tokio::time::sleep(gap) => {}
            }
        }
        latency(samples)
    }

    /// The quiet baseline: 20 round trips.
    pub async fn baseline(&mut self) -> Latency {
        self.measure(20, Duration::from_millis(20)).await
    }

    /// Asserts `during` is within the bounds of [`CANARY_SLOWDOWN`] relative to `before`.
    pub fn assert_normal(before: Latency, during: Latency, what: &str) {
        let p50_limit = (before.p50 * CANARY_SLOWDOWN).max(CANARY_P50_FLOOR);
        assert!(
            during.p50 <= p50_limit,
            "{what}: canary median round trip {during} (quiet {before}) over {p50_limit:?}"
        );
        assert!(
            during.max <= CANARY_MAX,
            "{what}: canary slowest round trip {during} (quiet {before}) over {CANARY_MAX:?}"
        );
    }

    /// Ends the canary chat cleanly.
    pub async fn end(mut self) {
        self.seeker
            .send(&ClientFrame::End {
                chat: self.seeker_chat,
            })
            .await;
        let _ = self.seeker.chat_ended().await;
        let _ = self.peer.chat_ended().await;
        self.seeker.close().await;
        self.peer.close().await;
    }
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let samples_len = samples.len();
    Latency {
        samples: samples_len,
        p50: samples.get(samples_len / 2).copied().unwrap_or_default(),
        max: samples.last().copied().unwrap_or_default(),
    }
}

/// Runs `attack` on another task while the canary measures its round trips; returns the
/// attack's result and the canary's latency during it.
pub async fn during_attack<T: Send + 'static>(
    canary: &mut Canary,
    attack: impl std::future::Future<Output = T> + Send + 'static,
) -> (T, Latency) {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let out = attack.await;
        let _ = done_tx.send(());
        out
    });
    let during = canary
        .measure_until(done_rx, Duration::from_millis(25))
        .await;
    let out = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("attack finished in time")
        .expect("attack task did not panic");
    (out, during)
}

// ---------------------------------------------------------------------------------------
// The table

/// One row of the reliability table (`docs/reliability.md`), printed as a Markdown table
/// row prefixed `RELIABILITY-ROW ` so it can be collected from `cargo test` output.
pub struct Row<'a> {
    /// What was done to the relay.
    pub attack: &'a str,
    /// What the relay did (codes, close codes, reasons).
    pub outcome: String,
    /// Connections or frames refused, or `-`.
    pub refused: String,
    /// Memory figures, or `-`.
    pub memory: String,
    /// Canary round trip before → during, or `-`.
    pub canary: String,
}

impl Row<'_> {
    /// Prints the row.
    pub fn print(&self) {
        println!(
            "RELIABILITY-ROW | {} | {} | {} | {} | {} |",
            self.attack, self.outcome, self.refused, self.memory, self.canary
        );
    }
}

/// `before → during` for the table.
pub fn canary_figures(before: Latency, during: Latency) -> String {
    format!("{before} → {during} ({} samples)", during.samples)
}

// ---------------------------------------------------------------------------------------
// Hand-made WebSocket

/// Connects a TCP socket to `addr` from `source` (any address in `127.0.0.0/8`; `None`:
/// the kernel's choice, `127.0.0.1`).
pub async fn tcp_from(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

/// A loopback source address other than `127.0.0.1`: `127.0.0.<n>`.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// The upgrade request for `/v1/ws` with `extra` header lines (each ending in `\r\n`).
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
        path = confidant_proto::limits::WEBSOCKET_PATH
    )
}

/// Sends an upgrade request by hand and returns the socket and the response head
/// (status line and headers, as text). Bounded.
pub async fn raw_upgrade(
    addr: SocketAddr,
    source: Option<IpAddr>,
    extra_headers: &str,
) -> (TcpStream, String) {
    let work = async {
        let mut stream = tcp_from(addr, source).await.expect("connect");
        stream
            .write_all(upgrade_request(addr, extra_headers).as_bytes())
            .await
            .expect("write upgrade");
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("read response");
            assert!(n == 1, "connection closed during the upgrade response");
            head.push(byte[0]);
            assert!(head.len() < 16 * 1024, "response head too long");
        }
        (stream, String::from_utf8(head).expect("ascii head"))
    };
    tokio::time::timeout(WAIT, work)
        .await
        .expect("upgrade answered in time")
}

/// A client WebSocket frame written by hand: FIN bit, opcode, masked payload (any length,
/// any bytes).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    frame_length(&mut out, payload.len() as u64);
    let mask = [0x37_u8, 0xfa, 0x21, 0x3d];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Just the header of a masked client frame that *claims* `length` payload bytes.
pub fn client_frame_header(fin: bool, opcode: u8, length: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | (opcode & 0x0f)];
    frame_length(&mut out, length);
    out.extend_from_slice(&[1, 2, 3, 4]);
    out
}

fn frame_length(out: &mut Vec<u8>, length: u64) {
    if length < 126 {
        out.push(0x80 | length as u8);
    } else if let Ok(short) = u16::try_from(length) {
        out.push(0x80 | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&length.to_be_bytes());
    }
}

/// What the relay sent on a hand-made connection, parsed.
#[derive(Debug, Default)]
pub struct ServerFrames {
    /// Control frames (text messages), parsed.
    pub frames: Vec<RelayFrame>,
    /// Binary messages.
    pub binary: usize,
    /// Pongs.
    pub pongs: usize,
    /// The close code, if a close frame came.
    pub close: Option<u16>,
    /// Whether the TCP stream ended (EOF or reset) within the wait.
    pub ended: bool,
}

impl ServerFrames {
    /// The codes of the `error` frames received.
    pub fn errors(&self) -> Vec<confidant_proto::ErrorCode> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                RelayFrame::Error { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }
}

/// Reads server frames from a hand-made connection until the stream ends or `wait` passes.
pub async fn read_frames<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    wait: Duration,
) -> ServerFrames {
    let mut out = ServerFrames::default();
    let mut buffer = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        while let Some((opcode, payload, used)) = parse_server_frame(&buffer) {
            match opcode {
                1 => out.frames.push(
                    RelayFrame::from_json(&payload).expect("relay sends valid control frames"),
                ),
                2 => out.binary += 1,
                8 => {
                    out.close = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                }
                10 => out.pongs += 1,
                _ => {}
            }
            buffer.drain(..used);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return out,
            Ok(Ok(0) | Err(_)) => {
                out.ended = true;
                return out;
            }
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One unmasked server frame from the front of `buffer`: opcode, payload, bytes used.
fn parse_server_frame(buffer: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let first = *buffer.first()?;
    let second = *buffer.get(1)?;
    let mut length = u64::from(second & 0x7f);
    let mut header = 2;
    if length == 126 {
        length = u64::from(u16::from_be_bytes([*buffer.get(2)?, *buffer.get(3)?]));
        header = 4;
    } else if length == 127 {
        let bytes: [u8; 8] = buffer.get(2..10)?.try_into().ok()?;
        length = u64::from_be_bytes(bytes);
        header = 10;
    }
    let end = header + usize::try_from(length).ok()?;
    let payload = buffer.get(header..end)?.to_vec();
    Some((first & 0x0f, payload, end))
}

// ---------------------------------------------------------------------------------------
// A split client for many connections at once

/// A WebSocket client whose incoming messages a reader task pushes into a channel, tagged
/// with the client's id, so one test can drive many clients and see every event in order.
pub struct WsClient {
    /// The test's id for this client.
    pub id: usize,
    /// The client's local address (its source port).
    pub local: SocketAddr,
    sink: SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
    reader: tokio::task::JoinHandle<()>,
}

/// The raw reading half of a WebSocket.
pub type WsReader = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

impl WsClient {
    /// Connects to `url` at `addr` from `source`; incoming messages go to `events`.
    pub async fn connect(
        id: usize,
        addr: SocketAddr,
        source: Option<IpAddr>,
        events: mpsc::UnboundedSender<(usize, Received)>,
    ) -> Self {
        let (sink, stream, local) = Self::connect_split(addr, source).await;
        let reader = tokio::spawn(pump(id, stream, events));
        Self {
            id,
            local,
            sink,
            reader,
        }
    }

    /// Connects and returns the two halves (for tests that read by hand).
    pub async fn connect_split(
        addr: SocketAddr,
        source: Option<IpAddr>,
    ) -> (
        SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
        WsReader,
        SocketAddr,
    ) {
        let work = async {
            let tcp = tcp_from(addr, source).await.expect("tcp connect");
            let local = tcp.local_addr().expect("local addr");
            let url = format!("ws://{addr}{}", confidant_proto::limits::WEBSOCKET_PATH);
            let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
                .await
                .expect("websocket upgrade");
            let (sink, stream) = ws.split();
            (sink, stream, local)
        };
        tokio::time::timeout(WAIT, work)
            .await
            .expect("connected in time")
    }

    /// Sends a control frame; false if the connection is gone.
    pub async fn send(&mut self, frame: &ClientFrame) -> bool {
        self.sink
            .send(Message::Text(frame.to_json().into()))
            .await
            .is_ok()
    }

    /// Sends a data frame; false if the connection is gone.
    pub async fn send_data(&mut self, chat: ChatNumber, payload: &[u8]) -> bool {
        let bytes = DataFrame::encode(chat, payload).expect("encode data frame");
        self.sink.send(Message::Binary(bytes.into())).await.is_ok()
    }

    /// Drops the TCP connection without a close frame (a killed client).
    pub fn kill(self) {
        self.reader.abort();
        drop(self.sink);
    }

    /// Closes with a close frame.
    pub async fn close(mut self) {
        let _ = self.sink.close().await;
        self.reader.abort();
    }
}

async fn pump(id: usize, mut stream: WsReader, events: mpsc::UnboundedSender<(usize, Received)>) {
    loop {
        let received = match stream.next().await {
            Some(Ok(Message::Text(text))) => Received::Frame(
                RelayFrame::from_json(text.as_bytes()).expect("relay sends valid frames"),
            ),
            Some(Ok(Message::Binary(bytes))) => Received::Data(bytes.to_vec()),
            Some(Ok(Message::Close(close))) => Received::Closed(close.map(|c| u16::from(c.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => Received::Closed(None),
        };
        let closed = matches!(received, Received::Closed(_));
        if events.send((id, received)).is_err() || closed {
            return;
        }
    }
}

/// A small deterministic random number generator (SplitMix64) for seeded property tests:
/// the seed is printed, so any failure replays exactly with `CONFIDANT_SEED=<seed>`.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The seed from `CONFIDANT_SEED`, else from the clock.
    pub fn seed_from_env() -> u64 {
        std::env::var("CONFIDANT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| confidant_crypto::wall_clock::unix_now_nanos() as u64)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// Runs `wave` again and again until `min` has passed (at least once), so a quick attack
/// lasts long enough for the canary to measure during it. Returns every wave's result.
pub async fn waves<T, F, Fut>(min: Duration, mut wave: F) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    let mut out = Vec::new();
    loop {
        out.push(wave().await);
        if started.elapsed() >= min {
            return out;
        }
    }
}
