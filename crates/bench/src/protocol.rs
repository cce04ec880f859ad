//! The protocol as the load generator speaks it, with `confidant_crypto` directly (no SDK):
//! peers present credentials, answer the possession challenge and go available with a
//! capacity; seekers seek, verify the matched credential, run Noise NK and exchange a first
//! padded record. Every wait is bounded by [`STEP`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confidant_crypto::{ChatSession, Record, SeekerHandshake, verify_chain};
use confidant_proto::{
    Availability, ChatNumber, ClientFrame, DataFrame, ErrorCode, RelayFrame, Role, SeekPreferences,
};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::fixtures::{Credential, Program, now_unix};
use crate::net::{self, STEP, Sources, Ws};
use crate::server::Kind;

/// What arrived.
// Unboxed so the scenarios match `Incoming::Control(RelayFrame::…)` directly; one is held at a
// time per connection.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Incoming {
    Control(RelayFrame),
    Data(Bytes),
    Closed,
}

/// Sends a control frame.
pub(crate) async fn send(ws: &mut Ws, frame: &ClientFrame) -> Result<()> {
    ws.send(Message::Text(frame.to_json().into())).await?;
    Ok(())
}

/// Sends a data frame on `chat`.
pub(crate) async fn send_data(ws: &mut Ws, chat: ChatNumber, noise: &[u8]) -> Result<()> {
    let frame = DataFrame::encode(chat, noise)?;
    ws.send(Message::Binary(frame.into())).await?;
    Ok(())
}

/// The next frame (pings skipped), within [`STEP`].
pub(crate) async fn recv(ws: &mut Ws) -> Result<Incoming> {
    loop {
        let next = tokio::time::timeout(STEP, ws.next())
            .await
            .map_err(|_| "nothing arrived in time")?;
        return Ok(match next {
            Some(Ok(Message::Text(text))) => {
                Incoming::Control(RelayFrame::from_json(text.as_bytes())?)
            }
            Some(Ok(Message::Binary(bytes))) => Incoming::Data(bytes),
            Some(Ok(Message::Close(_))) | None => Incoming::Closed,
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
        });
    }
}

/// The next control frame, skipping `queued` updates; anything else is an error.
pub(crate) async fn recv_control(ws: &mut Ws) -> Result<RelayFrame> {
    loop {
        match recv(ws).await? {
            Incoming::Control(RelayFrame::Queued { .. }) => continue,
            Incoming::Control(frame) => return Ok(frame),
            Incoming::Data(_) => return Err("data frame where a control frame was due".into()),
            Incoming::Closed => return Err("closed where a control frame was due".into()),
        }
    }
}

/// The chat ended (`chat_ended`, with its reason) where a data frame was due: a result a
/// caller may act on (seek again), not only a failure to report.
#[derive(Debug)]
pub(crate) struct ChatEnded(pub(crate) String);

impl std::fmt::Display for ChatEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chat_ended ({}) where data was due", self.0)
    }
}

impl std::error::Error for ChatEnded {}

/// The next data frame on a chat, as (chat, Noise message).
pub(crate) async fn recv_data(ws: &mut Ws) -> Result<(ChatNumber, Bytes)> {
    loop {
        match recv(ws).await? {
            Incoming::Data(bytes) => {
                let chat = DataFrame::decode(&bytes)?.chat;
                return Ok((
                    chat,
                    bytes.slice(confidant_proto::limits::DATA_HEADER_LEN..),
                ));
            }
            Incoming::Control(RelayFrame::Queued { .. }) => continue,
            Incoming::Control(RelayFrame::ChatEnded { reason, .. }) => {
                return Err(Box::new(ChatEnded(format!("{reason:?}"))));
            }
            Incoming::Control(frame) => {
                return Err(
                    format!("control frame where data was due: {}", frame.to_json()).into(),
                );
            }
            Incoming::Closed => return Err("closed where data was due".into()),
        }
    }
}

/// Closes politely and waits (bounded) for the server's close.
pub(crate) async fn close(mut ws: Ws) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// `hello` as `role`, expecting `welcome`.
async fn hello(ws: &mut Ws, role: Role, program: &str) -> Result<()> {
    let frame = ClientFrame::hello_v1(role, program);
    send(ws, &frame).await?;
    match recv_control(ws).await? {
        RelayFrame::Welcome { .. } => Ok(()),
        other => Err(format!("expected welcome, got {}", other.to_json()).into()),
    }
}

/// A peer's whole login: hello, present, prove, available with `capacity` and auto-accept.
pub(crate) async fn peer_login(
    ws: &mut Ws,
    program: &str,
    credential: &Credential,
    capacity: u16,
) -> Result<()> {
    hello(ws, Role::Peer, program).await?;
    send(ws, &credential.present_frame()).await?;
    let challenge = match recv_control(ws).await? {
        RelayFrame::Challenge { challenge } => challenge,
        other => return Err(format!("expected challenge, got {}", other.to_json()).into()),
    };
    let answer = confidant_crypto::answer_possession_challenge(
        &credential.secret,
        &credential.supporter_certificate,
        challenge.as_bytes(),
    )
    .map_err(|e| format!("possession: {e:?}"))?;
    send(
        ws,
        &ClientFrame::Prove {
            answer: answer.into(),
        },
    )
    .await?;
    match recv_control(ws).await? {
        RelayFrame::Verified { .. } => {}
        other => return Err(format!("expected verified, got {}", other.to_json()).into()),
    }
    let availability = ClientFrame::SetAvailability {
        status: Availability::Available,
        capacity,
        topics: vec![],
        languages: vec![],
        auto_accept: true,
    };
    send(ws, &availability).await?;
    match recv_control(ws).await? {
        RelayFrame::AvailabilitySet { .. } => Ok(()),
        other => Err(format!("expected availability_set, got {}", other.to_json()).into()),
    }
}

/// A seeker's hello and seek; returns after `queued` (or at once on `matched`).
pub(crate) async fn seeker_seek(ws: &mut Ws, program: &str) -> Result<Option<RelayFrame>> {
    let mut seek_sent = Instant::now();
    seeker_seek_timed(ws, program, &mut seek_sent).await
}

/// [`seeker_seek`], setting `seek_sent` to the moment `seek` was written.
pub(crate) async fn seeker_seek_timed(
    ws: &mut Ws,
    program: &str,
    seek_sent: &mut Instant,
) -> Result<Option<RelayFrame>> {
    hello(ws, Role::Seeker, program).await?;
    seek_timed(ws, seek_sent).await
}

/// `seek` on a seeker's connection that has had its `hello` (the first time, or again after
/// a chat ended); returns after `queued` (or at once on `matched`).
pub(crate) async fn seek_timed(ws: &mut Ws, seek_sent: &mut Instant) -> Result<Option<RelayFrame>> {
    let seek = ClientFrame::Seek {
        preferences: SeekPreferences::default(),
        urgent: false,
    };
    *seek_sent = Instant::now();
    send(ws, &seek).await?;
    loop {
        return match recv(ws).await? {
            Incoming::Control(RelayFrame::Queued { .. }) => Ok(None),
            Incoming::Control(frame @ RelayFrame::Matched { .. }) => Ok(Some(frame)),
            // A handshake message already on its way when the last chat ended is answered
            // with `unknown_chat`: harmless, and not about this seek.
            Incoming::Control(RelayFrame::Error {
                code: ErrorCode::UnknownChat,
                ..
            }) => continue,
            Incoming::Control(other) => {
                Err(format!("expected queued, got {}", other.to_json()).into())
            }
            Incoming::Data(_) | Incoming::Closed => Err("expected queued".into()),
        };
    }
}

/// Who a seeker expects to talk to, and how it checks them.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) kind: Kind,
    pub(crate) program: String,
    pub(crate) root_public: [u8; 32],
    /// For the baseline (no relay hands out credentials): the peer's credential.
    pub(crate) baseline_peer: Option<Arc<Credential>>,
    pub(crate) sources: Sources,
    pub(crate) next_pair: AtomicU64,
}

impl Target {
    pub(crate) fn new(
        addr: SocketAddr,
        kind: Kind,
        program: &mut Program,
        sources: u8,
    ) -> Result<Self> {
        let baseline_peer = match kind {
            Kind::Relay => None,
            Kind::Baseline => Some(Arc::new(program.supporter()?)),
        };
        Ok(Self {
            addr,
            kind,
            program: program.id.clone(),
            root_public: program.root_public,
            baseline_peer,
            sources: Sources::new(sources),
            next_pair: AtomicU64::new(1),
        })
    }

    /// Connects to the server (for the baseline: to pairing key `pair`).
    pub(crate) async fn connect(&self, pair: u64) -> Result<Ws> {
        let path = match self.kind {
            Kind::Relay => confidant_proto::limits::WEBSOCKET_PATH.to_owned(),
            Kind::Baseline => format!("/pair/{pair}"),
        };
        net::connect(&self.sources, self.addr, &path).await
    }

    /// The seeker's check of a credential, exactly as the SDK does it: chain, validity,
    /// revocation. Returns the peer's X25519 key.
    /// Verifies the chain as the SDK does; returns the peer's X25519 key and the ML-KEM-768
    /// key its certificate carries (then the handshake is hybrid).
    pub(crate) fn verify(&self, issuer: &[u8], supporter: &[u8], list: &[u8]) -> Result<PeerKeys> {
        let verified = verify_chain(
            &self.root_public,
            &self.program,
            issuer,
            supporter,
            list,
            now_unix(),
            0,
        )
        .map_err(|e| format!("credential did not verify: {e:?}"))?;
        Ok(PeerKeys {
            x25519: verified.certificate.x25519_public,
            mlkem: verified.certificate.mlkem768_public,
        })
    }
}

/// The keys a verified certificate names.
pub(crate) struct PeerKeys {
    pub(crate) x25519: [u8; 32],
    pub(crate) mlkem: Option<Vec<u8>>,
}

/// The seeker's side of the chat handshake on `chat`: Noise NK, or the hybrid NKpsk2 when
/// the certificate carries an ML-KEM key (as the SDK does).
pub(crate) async fn seeker_handshake(
    ws: &mut Ws,
    chat: ChatNumber,
    peer: &PeerKeys,
    certificate: &[u8],
) -> Result<ChatSession> {
    let (handshake, msg1) = SeekerHandshake::start_for_certificate(
        &peer.x25519,
        peer.mlkem.as_deref(),
        certificate,
        &[],
    )
    .map_err(|e| format!("handshake start: {e:?}"))?;
    send_data(ws, chat, &msg1).await?;
    let (got, msg2) = recv_data(ws).await?;
    if got != chat {
        return Err("msg2 on the wrong chat".into());
    }
    handshake
        .finish(&msg2)
        .map_err(|e| format!("handshake finish: {e:?}").into())
}

/// A queued relay seeker: connect, hello, seek, `queued`. Returns the connection.
pub(crate) async fn seeker_queued(target: &Target) -> Result<Ws> {
    let mut ws = target.connect(0).await?;
    match seeker_seek(&mut ws, &target.program).await? {
        None => Ok(ws),
        Some(_) => Err("expected to queue, was matched".into()),
    }
}

/// One complete seeker session: connect, seek, matched, verify, handshake, first text record
/// and the peer's answer, `end`. Returns the time from connect to the answer.
pub(crate) async fn seeker_session(target: &Target) -> Result<Duration> {
    let started = Instant::now();
    let (mut ws, chat) = seeker_open_chat(target).await?;
    let elapsed = started.elapsed();
    if target.kind == Kind::Relay {
        send(&mut ws, &ClientFrame::End { chat }).await?;
        match recv_control(&mut ws).await? {
            RelayFrame::ChatEnded { .. } => {}
            other => return Err(format!("expected chat_ended, got {}", other.to_json()).into()),
        }
    }
    close(ws).await;
    Ok(elapsed)
}

/// Everything up to and including the first exchange; the chat stays open.
pub(crate) async fn seeker_open_chat(target: &Target) -> Result<(Ws, ChatNumber)> {
    let pair = target.next_pair.fetch_add(1, Ordering::Relaxed);
    let mut ws = target.connect(pair).await?;
    let (chat, issuer, supporter, list) = match target.kind {
        Kind::Relay => {
            let matched = match seeker_seek(&mut ws, &target.program).await? {
                Some(frame) => frame,
                None => recv_control(&mut ws).await?,
            };
            let RelayFrame::Matched {
                chat, credential, ..
            } = matched
            else {
                return Err(format!("expected matched, got {}", matched.to_json()).into());
            };
            (
                chat,
                credential.issuer_certificate.0,
                credential.supporter_certificate.0,
                credential.revocation_list.0,
            )
        }
        Kind::Baseline => {
            let peer = target.baseline_peer.clone().ok_or("no baseline peer")?;
            let peer_ws = target.connect(pair).await?;
            tokio::spawn(baseline_peer_session(peer_ws, peer.clone()));
            (
                ChatNumber(1),
                peer.issuer_certificate.clone(),
                peer.supporter_certificate.clone(),
                peer.revocation_list.clone(),
            )
        }
    };
    let peer_keys = target.verify(&issuer, &supporter, &list)?;
    let mut session = seeker_handshake(&mut ws, chat, &peer_keys, &supporter).await?;
    let first = session
        .seal(&Record::Text("Hello — is anyone there?".into()))
        .map_err(|e| format!("seal: {e:?}"))?;
    send_data(&mut ws, chat, &first).await?;
    let (_, reply) = recv_data(&mut ws).await?;
    session
        .open(&reply)
        .map_err(|e| format!("open reply: {e:?}"))?;
    Ok((ws, chat))
}

/// The baseline's stand-in peer for one session: a fresh connection paired with the seeker.
async fn baseline_peer_session(mut ws: Ws, credential: Arc<Credential>) -> Result<()> {
    let (chat, msg1) = recv_data(&mut ws).await?;
    let (mut session, msg2) = credential.respond(&msg1)?;
    send_data(&mut ws, chat, &msg2).await?;
    let (_, first) = recv_data(&mut ws).await?;
    session.open(&first).map_err(|e| format!("open: {e:?}"))?;
    let reply = session
        .seal(&Record::Read(1))
        .map_err(|e| format!("seal: {e:?}"))?;
    send_data(&mut ws, chat, &reply).await?;
    // Wait for the seeker to close.
    let _ = tokio::time::timeout(STEP, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    Ok(())
}

/// A logged-in relay peer serving many chats: answers every msg1 with msg2 and every first
/// record with a sealed read receipt. Counts failures (error frames, bad Noise messages).
pub(crate) async fn peer_responder(
    mut ws: Ws,
    credential: Arc<Credential>,
    stop: CancellationToken,
    failures: Arc<AtomicU64>,
) {
    let mut chats: HashMap<u32, Option<ChatSession>> = HashMap::new();
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            next = ws.next() => next,
        };
        let result: Result<()> = match next {
            Some(Ok(Message::Text(text))) => match RelayFrame::from_json(text.as_bytes()) {
                Ok(RelayFrame::ChatStarted { chat, .. }) => {
                    chats.insert(chat.0, None);
                    Ok(())
                }
                Ok(RelayFrame::ChatEnded { chat, .. }) => {
                    chats.remove(&chat.0);
                    Ok(())
                }
                Ok(RelayFrame::Error { code, .. }) => Err(format!("error frame {code:?}").into()),
                Ok(_) => Ok(()),
                Err(error) => Err(error.into()),
            },
            Some(Ok(Message::Binary(bytes))) => {
                respond(&mut ws, &mut chats, &credential, &bytes).await
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) => break,
        };
        if result.is_err() {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    close(ws).await;
}

async fn respond(
    ws: &mut Ws,
    chats: &mut HashMap<u32, Option<ChatSession>>,
    credential: &Credential,
    bytes: &[u8],
) -> Result<()> {
    let frame = DataFrame::decode(bytes)?;
    let chat = frame.chat;
    let state = chats.get_mut(&chat.0).ok_or("data on an unknown chat")?;
    match state {
        None => {
            let (session, msg2) = credential.respond(frame.noise_message)?;
            *state = Some(session);
            send_data(ws, chat, &msg2).await
        }
        Some(session) => {
            session
                .open(frame.noise_message)
                .map_err(|e| format!("open: {e:?}"))?;
            let reply = session
                .seal(&Record::Read(1))
                .map_err(|e| format!("seal: {e:?}"))?;
            send_data(ws, chat, &reply).await
        }
    }
}

/// A padded record of exactly `bucket` bytes of plaintext.
pub(crate) fn record_of_bucket(bucket: usize) -> Record {
    // The text header is small; a text just above the next-smaller bucket pads to `bucket`.
    let smaller = confidant_crypto::BUCKETS
        .iter()
        .copied()
        .filter(|b| *b < bucket)
        .max()
        .unwrap_or(0);
    Record::Text("x".repeat(smaller + 1))
}
