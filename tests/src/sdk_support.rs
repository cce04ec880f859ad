//! Harness for SDK-level tests (`tests/sdk_*.rs`, `tests/promise_*.rs`): turning fixtures
//! into SDK credentials, waiting for SDK events with a bound, and two proxies that stand
//! between clients and the relay — one that records every byte, and one that plays a
//! malicious relay by rewriting WebSocket messages.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confidant_client::{PeerCredential, PeerEvent, SeekerEvent};
use confidant_crypto::SupporterSecret;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::WAIT;
use crate::fixtures::SupporterCredential;

impl SupporterCredential {
    /// The same credential as the SDK takes it (the secret is copied).
    pub fn peer_credential(&self) -> PeerCredential {
        PeerCredential::with_mlkem(
            self.issuer_certificate.clone(),
            self.supporter_certificate.clone(),
            self.revocation_list.clone(),
            SupporterSecret::from_bytes(*self.secret.to_bytes()),
            self.mlkem
                .as_ref()
                .map(|kem| confidant_crypto::MlKemSecret::from_seed(&kem.seed())),
        )
        .expect("fixture credential matches its key")
    }
}

/// Waits (bounded by [`WAIT`]) for the first seeker event `pick` accepts, failing on
/// `Disconnected` or timeout. Events skipped on the way are returned for inspection.
pub async fn seeker_until<T>(
    seeker: &mut confidant_client::Seeker,
    mut pick: impl FnMut(&SeekerEvent) -> Option<T>,
) -> (T, Vec<SeekerEvent>) {
    let mut skipped = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, seeker.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for a seeker event; saw {skipped:?}"))
            .unwrap_or_else(|| panic!("seeker events ended; saw {skipped:?}"));
        if let Some(value) = pick(&event) {
            return (value, skipped);
        }
        skipped.push(event);
    }
}

/// As [`seeker_until`], for a peer.
pub async fn peer_until<T>(
    peer: &mut confidant_client::Peer,
    mut pick: impl FnMut(&PeerEvent) -> Option<T>,
) -> (T, Vec<PeerEvent>) {
    let mut skipped = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, peer.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for a peer event; saw {skipped:?}"))
            .unwrap_or_else(|| panic!("peer events ended; saw {skipped:?}"));
        if let Some(value) = pick(&event) {
            return (value, skipped);
        }
        skipped.push(event);
    }
}

/// Sets `peer` available with this capacity (every other setting at its default) and
/// waits until the relay confirms.
pub async fn go_available(peer: &mut confidant_client::Peer, capacity: u16, auto_accept: bool) {
    peer.set_availability(confidant_client::AvailabilitySettings {
        capacity,
        auto_accept,
        ..confidant_client::AvailabilitySettings::default()
    })
    .await
    .expect("set_availability is sent");
    peer_until(peer, |e| {
        matches!(e, PeerEvent::AvailabilitySet { .. }).then_some(())
    })
    .await;
}

/// Collects events arriving within `window` (for "nothing happens" assertions).
pub async fn seeker_events_within(
    seeker: &mut confidant_client::Seeker,
    window: Duration,
) -> Vec<SeekerEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, seeker.next_event()).await {
        events.push(event);
    }
    events
}

/// As [`seeker_events_within`], for a peer.
pub async fn peer_events_within(
    peer: &mut confidant_client::Peer,
    window: Duration,
) -> Vec<PeerEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, peer.next_event()).await {
        events.push(event);
    }
    events
}

/// Every byte that crossed a [`RecordingProxy`], per direction.
#[derive(Debug, Default, Clone)]
pub struct Recording {
    /// Bytes the relay received (client → relay), per connection, in order.
    pub to_relay: Vec<Vec<u8>>,
    /// Bytes the relay sent (relay → client), per connection, in order.
    pub from_relay: Vec<Vec<u8>>,
}

/// A loopback TCP proxy in front of the relay that records every byte both ways.
pub struct RecordingProxy {
    /// Where clients connect.
    pub addr: std::net::SocketAddr,
    recording: Arc<Mutex<Recording>>,
}

impl RecordingProxy {
    /// Starts a proxy forwarding to `relay`.
    pub async fn start(relay: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let recording = Arc::new(Mutex::new(Recording::default()));
        let shared = recording.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(relay).await else {
                    continue;
                };
                let index = {
                    let mut rec = shared.lock().expect("lock");
                    rec.to_relay.push(Vec::new());
                    rec.from_relay.push(Vec::new());
                    rec.to_relay.len() - 1
                };
                let (client_read, client_write) = client.into_split();
                let (relay_read, relay_write) = upstream.into_split();
                tokio::spawn(pump(client_read, relay_write, shared.clone(), index, true));
                tokio::spawn(pump(relay_read, client_write, shared.clone(), index, false));
            }
        });
        Self { addr, recording }
    }

    /// The WebSocket URL through the proxy.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.addr,
            confidant_proto::limits::WEBSOCKET_PATH
        )
    }

    /// A copy of everything recorded so far.
    pub fn recording(&self) -> Recording {
        self.recording.lock().expect("lock").clone()
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    recording: Arc<Mutex<Recording>>,
    index: usize,
    to_relay: bool,
) {
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        {
            let mut rec = recording.lock().expect("lock");
            let side = if to_relay {
                &mut rec.to_relay
            } else {
                &mut rec.from_relay
            };
            side[index].extend_from_slice(chunk);
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A WebSocket frame's payload, unmasked, from a recorded byte stream.
#[derive(Debug, Clone)]
pub struct WireFrame {
    /// The opcode (1 text, 2 binary, 8 close, …).
    pub opcode: u8,
    /// The payload as the endpoint saw it (client frames unmasked).
    pub payload: Vec<u8>,
}

/// Parses a recorded connection: skips the HTTP upgrade, then splits WebSocket frames and
/// removes client masking, so a search sees what each endpoint actually sent. Without the
/// unmasking, client-to-relay plaintext would be hidden by the mask and a "no plaintext"
/// test could never fail.
pub fn wire_frames(stream: &[u8]) -> Vec<WireFrame> {
    let Some(start) = stream.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    let mut rest = &stream[start + 4..];
    let mut frames = Vec::new();
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let masked = rest[1] & 0x80 != 0;
        let mut len = u64::from(rest[1] & 0x7f);
        let mut header = 2;
        if len == 126 {
            if rest.len() < 4 {
                break;
            }
            len = u64::from(u16::from_be_bytes([rest[2], rest[3]]));
            header = 4;
        } else if len == 127 {
            if rest.len() < 10 {
                break;
            }
            let mut bytes = [0_u8; 8];
            bytes.copy_from_slice(&rest[2..10]);
            len = u64::from_be_bytes(bytes);
            header = 10;
        }
        let mask = if masked {
            if rest.len() < header + 4 {
                break;
            }
            let mut key = [0_u8; 4];
            key.copy_from_slice(&rest[header..header + 4]);
            header += 4;
            Some(key)
        } else {
            None
        };
        let Ok(len) = usize::try_from(len) else { break };
        if rest.len() < header + len {
            break;
        }
        let mut payload = rest[header..header + len].to_vec();
        if let Some(key) = mask {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= key[i % 4];
            }
        }
        frames.push(WireFrame { opcode, payload });
        rest = &rest[header + len..];
    }
    frames
}

/// The ways a secret could show up in a recording: raw, base64 at every alignment, hex.
pub fn encodings_of(secret: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let raw = secret.as_bytes();
    let mut out = vec![raw.to_vec()];
    // base64 of the secret at each of the 3 alignments it could have inside a larger blob;
    // the middle of each encoding (away from the partial edge groups) is stable.
    for pad in 0..3 {
        let mut padded = vec![0_u8; pad];
        padded.extend_from_slice(raw);
        for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&padded);
            let from = (pad * 4).div_ceil(3) + 2;
            let to = encoded.len().saturating_sub(4);
            if to > from + 8 {
                out.push(encoded.as_bytes()[from..to].to_vec());
            }
        }
    }
    let hex = confidant_crypto::hex::encode(raw);
    out.push(hex.clone().into_bytes());
    out.push(hex.to_uppercase().into_bytes());
    out
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Which way a message travels through a [`MitmProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client towards the relay.
    ToRelay,
    /// From the relay towards the client.
    ToClient,
}

/// How a [`MitmProxy`] rewrites: given one message, what to send and where (possibly
/// nothing, possibly an answer back the way it came).
pub type Rewrite = Arc<dyn Fn(Direction, Message) -> Vec<(Direction, Message)> + Send + Sync>;

/// A malicious relay: a WebSocket man-in-the-middle that parses and rewrites messages
/// between a client and the real relay.
pub struct MitmProxy {
    /// Where clients connect.
    pub addr: std::net::SocketAddr,
}

impl MitmProxy {
    /// Starts a proxy to `relay_ws_url` applying `rewrite` to every message.
    pub async fn start(relay_ws_url: String, rewrite: Rewrite) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mitm");
        let addr = listener.local_addr().expect("mitm addr");
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let url = relay_ws_url.clone();
                let rewrite = rewrite.clone();
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(client).await else {
                        return;
                    };
                    let Ok((relay, _)) = tokio_tungstenite::connect_async(url.as_str()).await
                    else {
                        return;
                    };
                    let (mut client_sink, mut client_stream) = client.split();
                    let (mut relay_sink, mut relay_stream) = relay.split();
                    let (to_client, mut to_client_rx) = mpsc::unbounded_channel::<Message>();
                    let (to_relay, mut to_relay_rx) = mpsc::unbounded_channel::<Message>();
                    let dispatch = {
                        let to_client = to_client.clone();
                        let to_relay = to_relay.clone();
                        move |out: Vec<(Direction, Message)>| {
                            for (direction, message) in out {
                                let _ = match direction {
                                    Direction::ToClient => to_client.send(message),
                                    Direction::ToRelay => to_relay.send(message),
                                };
                            }
                        }
                    };
                    let dispatch_a = dispatch.clone();
                    let rewrite_a = rewrite.clone();
                    let mut from_client = tokio::spawn(async move {
                        while let Some(Ok(message)) = client_stream.next().await {
                            if message.is_close() {
                                break;
                            }
                            dispatch_a(rewrite_a(Direction::ToRelay, message));
                        }
                    });
                    let mut from_relay = tokio::spawn(async move {
                        while let Some(Ok(message)) = relay_stream.next().await {
                            if message.is_close() {
                                break;
                            }
                            dispatch(rewrite(Direction::ToClient, message));
                        }
                    });
                    let client_writer = tokio::spawn(async move {
                        while let Some(message) = to_client_rx.recv().await {
                            if client_sink.send(message).await.is_err() {
                                break;
                            }
                        }
                        let _ = client_sink.close().await;
                    });
                    let relay_writer = tokio::spawn(async move {
                        while let Some(message) = to_relay_rx.recv().await {
                            if relay_sink.send(message).await.is_err() {
                                break;
                            }
                        }
                        let _ = relay_sink.close().await;
                    });
                    // When either side goes away, close the other: stop its reader (which
                    // holds senders) so both writers drain and close.
                    tokio::select! {
                        _ = &mut from_client => from_relay.abort(),
                        _ = &mut from_relay => from_client.abort(),
                    }
                    drop(to_client);
                    drop(to_relay);
                    let _ = client_writer.await;
                    let _ = relay_writer.await;
                });
            }
        });
        Self { addr }
    }

    /// The WebSocket URL through the proxy.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.addr,
            confidant_proto::limits::WEBSOCKET_PATH
        )
    }
}

/// A rewrite that passes everything through unchanged.
pub fn pass_through(direction: Direction, message: Message) -> Vec<(Direction, Message)> {
    vec![(direction, message)]
}

/// A running chat, once both sides are ready: a fresh supporter of the fixture's program
/// (auto-accept, one chat at a time) connected at `peer_url`, and a seeker connected at
/// `seeker_url` (the relay's URL, or a proxy's in front of it). Returns the seeker, the
/// peer and the peer's chat number.
pub async fn open_chat(
    fixture: &mut crate::ProgramFixture,
    seeker_url: &str,
    peer_url: &str,
) -> (
    confidant_client::Seeker,
    confidant_client::Peer,
    confidant_client::ChatNumber,
) {
    let credential = fixture.supporter();
    let mut peer = confidant_client::Peer::connect(
        peer_url,
        &fixture.id,
        credential.peer_credential(),
        confidant_client::PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut peer, 1, true).await;
    let mut seeker = confidant_client::Seeker::connect(
        seeker_url,
        &fixture.id,
        fixture.root().public(),
        confidant_client::SeekerOptions::default(),
    )
    .await
    .unwrap();
    seeker
        .seek(confidant_client::SeekPreferences::default())
        .await
        .unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    (seeker, peer, chat)
}
