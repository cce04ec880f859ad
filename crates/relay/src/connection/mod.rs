//! One task per WebSocket connection: reads frames, runs the connection's state machine,
//! forwards data frames to the partner's outbox, hands matching frames to the hub, and
//! writes its own outbox to the socket (`writer.rs`, polled from the same task: no split
//! socket, no second task).
//!
//! The task owns its connection's chat routes (chat number → partner outbox and chat
//! number). The hub adds and removes routes through a command channel that this task
//! always polls before the socket (`biased` select): the hub sends `AddChat` before it
//! queues `matched`, so by the time a client can send data on a new chat, the route is here.

pub(crate) mod core;
pub(crate) mod rate_limit;
mod replay;
pub(crate) mod state;
mod writer;

use std::collections::HashMap;
use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::{Bytes, BytesMut};
use confidant_proto::limits::{ACK_DELAY, ACK_EVERY_MESSAGES, MAX_CAPACITY};
use confidant_proto::{
    ChatNumber, DataFrame, ErrorCode, FEATURE_CHAT_FEATURES, FEATURE_PROGRAM_DETAILS,
    FEATURE_QUEUE_NONE, FEATURE_RESUME, PROTOCOL_VERSION, RelayFrame, ResumeOffer, Role,
};
use futures_util::StreamExt as _;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use self::core::{ConnCore, Decision};
use self::state::Phase;
use crate::chat_features::ChatFeatures;
use crate::credentials::{VerifiedPeer, verify_presented};
use crate::data_path::ForwardError;
use crate::data_path::{CONTROL_SLACK, Outbox};
use crate::messages::command_channel::CommandReceiver;
use crate::messages::{ConnCommand, ConnId, HubEvent, Route};
use crate::resume_registry::{SecretHash, Takeover, TakeoverInbox};
use crate::shared::Shared;
use writer::Writer;

/// How long a finished connection waits for its writer to flush the last frames.
const WRITER_LINGER: Duration = Duration::from_secs(5);
/// How long a finished connection keeps discarding input so its last frames arrive.
const DRAIN_LINGER: Duration = Duration::from_secs(1);

/// Whether the read loop goes on.
enum Flow {
    Continue,
    Stop,
    /// Feature `resume`: this socket belongs to the connection behind this inbox.
    HandOver(TakeoverInbox, u64),
}

/// How serving one socket ended.
enum Ending {
    /// The connection is over.
    Over,
    /// The socket was lost (closed without a goodbye, failed, or silent past the keepalive
    /// deadline): a resumable connection waits for a new one.
    Lost,
    /// A new socket presented the secret while this one still looked alive.
    TakenOver(Box<Takeover>),
    /// This (new) socket sent `resume`: it goes to the connection the secret names.
    HandOver(TakeoverInbox, u64),
}

/// Keeps the live-connection count (and the source's slot) right however the task ends.
pub(crate) struct ConnectionGuard(
    pub(crate) Arc<Shared>,
    // Held only for its `Drop`, which gives the source's slot back.
    #[allow(dead_code)] pub(crate) Option<crate::sources::SourceSlot>,
);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.live_connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one upgraded WebSocket until it closes — and, with feature `resume`, every socket
/// that later takes the connection over, until the connection ends.
///
/// One task does everything for the connection: it polls the hub's commands, the kill
/// token, the hello deadline and the socket (reading, and writing whatever the outbox
/// holds) in one loop. While a frame is being handled (a partner's buffer is full, the
/// hub's inbox is busy) the writer keeps draining the outbox, so two connections waiting
/// on each other's buffers cannot stall each other, and a pending write to a client that
/// does not read never stops reading, commands, the kill token or the deadlines.
pub(crate) async fn serve(socket: WebSocket, shared: Arc<Shared>, guard: ConnectionGuard) {
    let mut socket = socket;
    // Replaced by the guard of each socket that takes the connection over.
    let mut guard: Box<dyn std::any::Any + Send> = Box::new(guard);
    let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    let kill = shared.hard_stop.child_token();
    let limits = shared.limits();
    let capacity = limits.chat_buffer_frames * usize::from(MAX_CAPACITY) + CONTROL_SLACK;
    let (outbox, rx) = Outbox::new(capacity, kill.clone());
    let mut writer = Writer::new(rx);
    let (commands_tx, mut commands) = crate::messages::command_channel::channel();
    let connected = HubEvent::Connected {
        conn,
        outbox: outbox.clone(),
        commands: commands_tx,
    };
    if shared.hub.send(connected).await.is_err() {
        outbox.error(ErrorCode::ShuttingDown);
        drop(outbox);
        linger(&mut socket, &mut writer, &kill).await;
        return;
    }
    let hello_deadline = Instant::now() + limits.hello_timeout;
    let mut driver = Driver {
        conn,
        core: ConnCore::new(
            limits.frames_per_second,
            limits.frame_burst,
            Instant::now().into_std(),
        ),
        shared: shared.clone(),
        outbox: outbox.clone(),
        program: String::new(),
        routes: HashMap::new(),
        challenge: None,
        chat_features: ChatFeatures::default(),
        resume: None,
        unacknowledged: 0,
        client_acknowledged: None,
        last_heard: Instant::now(),
    };
    // Created once: a `sleep_until` in the `select!` below would build a timer entry on every
    // loop turn (every frame), even with its branch disabled.
    let hello_timer = sleep_until(hello_deadline);
    tokio::pin!(hello_timer);
    loop {
        let ending = serve_socket(
            &mut socket,
            &mut driver,
            &mut writer,
            &mut commands,
            &kill,
            hello_timer.as_mut(),
        )
        .await;
        let (takeover, was_away) = match ending {
            Ending::Over => break,
            Ending::HandOver(inbox, received) => {
                // Only a connection's first frame hands over: nothing else of it exists yet.
                let _ = shared.hub.send(HubEvent::Disconnected { conn }).await;
                drop(driver);
                drop(outbox);
                writer.stop();
                let takeover = Takeover {
                    socket,
                    received,
                    guard,
                };
                if let Err(takeover) = inbox.send(takeover) {
                    // The connection ended a moment ago.
                    crate::metrics::resume("failed");
                    refuse(takeover.socket, ErrorCode::ResumeFailed, takeover.guard).await;
                }
                return;
            }
            Ending::TakenOver(takeover) => (*takeover, false),
            Ending::Lost => {
                if !driver.resumable() || writer.is_closing() {
                    break;
                }
                let _ = shared.hub.send(HubEvent::Away { conn }).await;
                match driver.wait_away(&mut commands, &kill).await {
                    Some(takeover) => (takeover, true),
                    None => {
                        crate::metrics::resume("expired");
                        break;
                    }
                }
            }
        };
        match driver.take_over(takeover.received, &mut writer) {
            Ok(()) => {
                crate::metrics::resume("resumed");
                // The old socket (dead, or half-open) and its guard go.
                socket = takeover.socket;
                guard = takeover.guard;
                if was_away {
                    let _ = shared.hub.send(HubEvent::Back { conn }).await;
                }
            }
            Err(()) => {
                crate::metrics::resume("failed");
                refuse(takeover.socket, ErrorCode::ResumeFailed, takeover.guard).await;
                break;
            }
        }
    }
    if let Some(resume) = driver.resume.take() {
        shared.resumes.forget(&resume.hash);
    }
    let _ = shared.hub.send(HubEvent::Disconnected { conn }).await;
    outbox.finish();
    drop(driver);
    drop(outbox);
    linger(&mut socket, &mut writer, &kill).await;
    drop(guard);
}

/// Serves one socket of the connection until the connection ends or the socket is lost.
async fn serve_socket(
    socket: &mut WebSocket,
    driver: &mut Driver,
    writer: &mut Writer,
    commands: &mut CommandReceiver,
    kill: &CancellationToken,
    mut hello_timer: Pin<&mut Sleep>,
) -> Ending {
    let limits = driver.shared.limits();
    // Feature `resume` only: acknowledgements and the keepalive (both timers are created
    // once per socket; their branches are off on other connections).
    let ack_timer = sleep_until(Instant::now());
    tokio::pin!(ack_timer);
    let mut ack_armed = false;
    let keepalive = sleep_until(Instant::now() + limits.keepalive_idle);
    tokio::pin!(keepalive);
    let mut ping_sent: Option<Instant> = None;
    driver.last_heard = Instant::now();
    loop {
        let hello_pending = driver.core.phase().hello_pending();
        let resumable = driver.resume.is_some();
        let message = tokio::select! {
            biased;
            command = commands.recv() => {
                match command {
                    Some(ConnCommand::AddChat(chat, route)) => { driver.routes.insert(chat, *route); }
                    Some(ConnCommand::RemoveChat(chat)) => { driver.routes.remove(&chat); }
                    Some(ConnCommand::Terminate) | None => return Ending::Over,
                }
                continue;
            }
            () = kill.cancelled() => return Ending::Over,
            () = hello_timer.as_mut(), if hello_pending => {
                crate::metrics::rejection(ErrorCode::HelloTimeout);
                driver.outbox.error(ErrorCode::HelloTimeout);
                return Ending::Over;
            }
            takeover = poll_fn(|cx| match driver.resume.as_mut() {
                Some(resume) => Pin::new(&mut resume.takeovers).poll(cx),
                None => Poll::Pending,
            }), if resumable => {
                match takeover {
                    Ok(takeover) => return Ending::TakenOver(Box::new(takeover)),
                    Err(_) => return Ending::Over,
                }
            }
            () = ack_timer.as_mut(), if ack_armed => {
                ack_armed = false;
                driver.acknowledge(writer);
                continue;
            }
            () = keepalive.as_mut(), if resumable => {
                let now = Instant::now();
                match ping_sent {
                    Some(at) if driver.last_heard <= at => return Ending::Lost,
                    _ if driver.last_heard + limits.keepalive_idle > now => {
                        ping_sent = None;
                        keepalive.as_mut().reset(driver.last_heard + limits.keepalive_idle);
                    }
                    _ => {
                        writer.push_front(Message::Ping(Bytes::new()));
                        ping_sent = Some(now);
                        keepalive.as_mut().reset(now + limits.keepalive_deadline);
                    }
                }
                continue;
            }
            message = poll_fn(|cx| {
                // Write first (what is queued goes out), then read.
                let _ = writer.poll_write(cx, socket);
                if writer.is_broken() {
                    return Poll::Ready(None);
                }
                socket.poll_next_unpin(cx)
            }) => message,
        };
        let flow = match message {
            Some(Ok(message)) => {
                driver.last_heard = Instant::now();
                let flow = {
                    let handling = driver.on_message(message);
                    tokio::pin!(handling);
                    tokio::select! {
                        biased;
                        () = kill.cancelled() => return Ending::Over,
                        flow = &mut handling => flow,
                        // Never completes: keeps the outbox draining while the frame is
                        // handled.
                        () = poll_fn(|cx| {
                            let _ = writer.poll_write(cx, socket);
                            Poll::<()>::Pending
                        }) => Flow::Continue,
                    }
                };
                // Feature `resume`: acknowledge every 16 counted messages, or 250 ms after
                // the first one not yet acknowledged.
                if driver.unacknowledged >= ACK_EVERY_MESSAGES {
                    ack_armed = false;
                    driver.acknowledge(writer);
                } else if driver.unacknowledged > 0 && !ack_armed {
                    ack_armed = true;
                    ack_timer.as_mut().reset(Instant::now() + ACK_DELAY);
                }
                if let Some(received) = driver.client_acknowledged.take()
                    && writer.acknowledged(received).is_err()
                {
                    crate::metrics::rejection(ErrorCode::InvalidField);
                    driver.outbox.error(ErrorCode::InvalidField);
                }
                flow
            }
            Some(Err(error)) => match read_error_code(error) {
                Some(ReadRefusal::Catalogue(code)) => {
                    crate::metrics::rejection(code);
                    driver.outbox.error(code);
                    Flow::Stop
                }
                Some(ReadRefusal::WebSocket(close)) => {
                    crate::metrics::rejection(ErrorCode::MalformedFrame);
                    driver.outbox.protocol_close(close);
                    Flow::Stop
                }
                // The network failed under the socket.
                None => return Ending::Lost,
            },
            // The stream ended without a close frame, or the writer found the socket broken.
            None => return Ending::Lost,
        };
        match flow {
            Flow::Continue => {}
            Flow::Stop => return Ending::Over,
            Flow::HandOver(inbox, received) => return Ending::HandOver(inbox, received),
        }
    }
}

/// The lingering close: while the writer sends the last frames (an `error`, the close
/// frame), keep reading and discarding what the client still sends, for a bounded time.
/// Closing a socket with unread input makes the kernel send a reset, which destroys the
/// error and close code the client should see (a flood cut off mid-burst never learned it
/// was rate-limited). A client that is gone, or answers the close, ends the reading at once;
/// the writer then gets a bounded time to finish. The kill token ends both at once.
async fn linger(socket: &mut WebSocket, writer: &mut Writer, kill: &CancellationToken) {
    let drain = poll_fn(|cx| {
        let _ = writer.poll_write(cx, socket);
        loop {
            match socket.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    });
    tokio::select! {
        () = kill.cancelled() => {
            writer.stop();
            return;
        }
        _ = tokio::time::timeout(DRAIN_LINGER, drain) => {}
    }
    let write = poll_fn(|cx| writer.poll_write(cx, socket));
    tokio::select! {
        () = kill.cancelled() => {}
        finished = tokio::time::timeout(WRITER_LINGER, write) => {
            if finished.is_err() {
                kill.cancel();
            }
        }
    }
    writer.stop();
}

/// How a read failure the client caused is answered.
enum ReadRefusal {
    /// A message above the size limit: the catalogue's `frame_too_large`.
    Catalogue(ErrorCode),
    /// The client broke RFC 6455 itself: its close code (1002 protocol error, 1007 text
    /// that is not UTF-8), with no `error` frame — `proto/spec.md`, "Transport".
    WebSocket(u16),
}

/// Maps a read failure to its answer, when the client caused it.
fn read_error_code(error: axum::Error) -> Option<ReadRefusal> {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => {
            Some(ReadRefusal::Catalogue(ErrorCode::FrameTooLarge))
        }
        Some(tungstenite::Error::Utf8(_)) => Some(ReadRefusal::WebSocket(1007)),
        // The stream ended without a close frame: the network went, not the client's will.
        Some(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )) => None,
        Some(tungstenite::Error::Protocol(_)) => Some(ReadRefusal::WebSocket(1002)),
        _ => None,
    }
}

/// The connection's state while it runs.
struct Driver {
    conn: ConnId,
    shared: Arc<Shared>,
    outbox: Outbox,
    /// The protocol logic without I/O: what to do with each message (`core.rs`).
    core: ConnCore,
    program: String,
    routes: HashMap<ChatNumber, Route>,
    /// Boxed: only a peer between `present` and `prove` holds it (about 1 KiB); inline, every
    /// connection's task would carry its size for its whole life.
    challenge: Option<Box<(crate::credentials::PossessionChallenge, VerifiedPeer)>>,
    /// What `hello` said about chat features, for the hub.
    chat_features: ChatFeatures,
    /// Feature `resume`: the secret and the way in for a new socket. Boxed: most connections
    /// never have one.
    resume: Option<Box<ResumeState>>,
    /// Feature `resume`: counted messages received from the client, not yet acknowledged.
    unacknowledged: u64,
    /// Feature `resume`: the client's latest `ack`, for the writer.
    client_acknowledged: Option<u64>,
    /// When the socket last carried anything from the client (the keepalive).
    last_heard: Instant,
}

/// Feature `resume`: what lets a new socket take a connection over.
struct ResumeState {
    /// Hash of the current one-time secret, as registered in `Shared::resumes`.
    hash: SecretHash,
    /// Where a new socket arrives.
    takeovers: oneshot::Receiver<Takeover>,
    /// Counted messages received from the client so far.
    received: u64,
}

impl Driver {
    /// Whether a lost socket leaves the connection waiting for a new one: it agreed on
    /// `resume` and has something to keep (a seeker after `welcome`, a verified peer).
    fn resumable(&self) -> bool {
        self.resume.is_some() && matches!(self.core.phase(), Phase::Seeker | Phase::PeerVerified)
    }

    /// Feature `resume`: the socket is lost. Waits for a new one for the grace window,
    /// keeping the chat routes current; `None` when the window closed (or the relay stops,
    /// or the hub ends the connection).
    async fn wait_away(
        &mut self,
        commands: &mut CommandReceiver,
        kill: &CancellationToken,
    ) -> Option<Takeover> {
        let grace = sleep_until(Instant::now() + self.shared.limits().resume_grace);
        tokio::pin!(grace);
        loop {
            let resume = self.resume.as_mut()?;
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(ConnCommand::AddChat(chat, route)) => { self.routes.insert(chat, *route); }
                    Some(ConnCommand::RemoveChat(chat)) => { self.routes.remove(&chat); }
                    Some(ConnCommand::Terminate) | None => return None,
                },
                () = kill.cancelled() => return None,
                () = &mut grace => return None,
                takeover = &mut resume.takeovers => return takeover.ok(),
            }
        }
    }

    /// Feature `resume`: a new socket presented the secret, having received `received`
    /// counted messages. Issues the next secret and has the writer send `resumed` and what
    /// the client missed. `Err` when `received` does not fit what was sent.
    fn take_over(&mut self, received: u64, writer: &mut Writer) -> Result<(), ()> {
        let resume = self.resume.as_mut().ok_or(())?;
        let (secret, hash, takeovers) = self.shared.resumes.issue().ok_or(())?;
        let resumed = RelayFrame::Resumed {
            secret: secret.to_vec().into(),
            received: resume.received,
        };
        resume.hash = hash;
        resume.takeovers = takeovers;
        // `resumed.received` acknowledges everything received.
        self.unacknowledged = 0;
        self.client_acknowledged = None;
        writer
            .resume(received, Message::Text(resumed.to_json().into()))
            .map_err(|_| ())
    }

    /// Feature `resume`: sends `ack` for everything received so far.
    fn acknowledge(&mut self, writer: &mut Writer) {
        if let Some(resume) = &self.resume
            && self.unacknowledged > 0
        {
            self.unacknowledged = 0;
            let ack = RelayFrame::Ack {
                received: resume.received,
            };
            writer.push_front(Message::Text(ack.to_json().into()));
        }
    }

    /// Feature `resume`: a counted message arrived from the client.
    fn count_received(&mut self) {
        if let Some(resume) = &mut self.resume {
            resume.received += 1;
            self.unacknowledged += 1;
        }
    }

    async fn on_message(&mut self, message: Message) -> Flow {
        match message {
            Message::Text(text) => {
                let decision = self.core.on_text(
                    text.as_bytes(),
                    Instant::now().into_std(),
                    self.shared.draining.is_cancelled(),
                );
                if decision != Decision::Refuse(ErrorCode::RateLimited) {
                    self.shared.hot.control_frames.increment(1);
                }
                // Every message after `hello` but `ack` is counted (`resume` comes first on a
                // socket, before there is anything to count).
                if !matches!(decision, Decision::Ack(_)) {
                    self.count_received();
                }
                // Boxed: control frames are rare next to data frames, and inline this future
                // (credential checks, hub sends) would size every connection's task.
                Box::pin(self.carry_out(decision)).await
            }
            Message::Binary(bytes) => {
                self.count_received();
                let now = Instant::now();
                match self.core.on_binary(&bytes, now.into_std()) {
                    Decision::Forward(chat) => self.forward(chat, bytes, now).await,
                    Decision::Refuse(code) => self.fail(code),
                    _ => self.fail(ErrorCode::InternalError),
                }
            }
            // Pings are answered by the WebSocket layer; pongs need nothing. Both are frames
            // and cost a token like any other: otherwise a ping flood makes the relay read
            // and answer at line rate forever (tests/tests/abuse_relay.rs).
            Message::Ping(_) | Message::Pong(_) => {
                match self.core.on_ping(Instant::now().into_std()) {
                    Decision::Refuse(code) => self.fail(code),
                    _ => Flow::Continue,
                }
            }
            Message::Close(_) => Flow::Stop,
        }
    }

    /// Sends the error; stops if the catalogue says the connection closes.
    fn fail(&self, code: ErrorCode) -> Flow {
        tracing::debug!(code = code.as_str(), "refused frame");
        crate::metrics::rejection(code);
        self.outbox.error(code);
        if code.is_fatal() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Carries out the core's decision on a text message.
    async fn carry_out(&mut self, decision: Decision) -> Flow {
        match decision {
            Decision::Nothing => {
                tracing::debug!("skipped a frame of an unknown type");
                Flow::Continue
            }
            Decision::Refuse(code) => self.fail(code),
            Decision::Hello {
                role,
                program,
                features,
                chat_features,
            } => self.on_hello(role, program, features, chat_features).await,
            Decision::Present {
                issuer_certificate,
                supporter_certificate,
                revocation_list,
            } => {
                self.on_present(
                    issuer_certificate.as_bytes(),
                    supporter_certificate.as_bytes(),
                    revocation_list.as_bytes(),
                )
                .await
            }
            Decision::Prove { answer } => self.on_prove(answer.as_bytes()).await,
            Decision::ToHub(frame) => {
                let event = HubEvent::Frame {
                    conn: self.conn,
                    frame,
                };
                if self.shared.hub.send(event).await.is_err() {
                    return self.fail(ErrorCode::ShuttingDown);
                }
                Flow::Continue
            }
            // Data frames are decided by `on_binary`.
            Decision::Forward(_) => self.fail(ErrorCode::InternalError),
            Decision::Ack(received) => {
                self.client_acknowledged = Some(received);
                Flow::Continue
            }
            Decision::Resume { secret, received } => {
                match self.shared.resumes.take(secret.as_bytes()) {
                    Some(inbox) => Flow::HandOver(inbox, received),
                    None => {
                        crate::metrics::resume("failed");
                        self.fail(ErrorCode::ResumeFailed)
                    }
                }
            }
        }
    }

    async fn on_hello(
        &mut self,
        role: Role,
        program: String,
        features: Option<Vec<String>>,
        chat_features: Option<Vec<String>>,
    ) -> Flow {
        let Some(config) = self.shared.program(&program) else {
            return self.fail(ErrorCode::UnknownProgram);
        };
        let grace = self.shared.limits().resume_grace;
        let mut agreed = features.as_deref().map(confidant_proto::features::agree);
        // A relay whose grace window is zero does not implement `resume` at all.
        if grace.is_zero()
            && let Some(names) = agreed.as_mut()
        {
            names.retain(|name| name != FEATURE_RESUME);
        }
        self.core.hello_accepted(role, agreed.as_deref());
        let resume = if self.core.resume_agreed() {
            self.shared.resumes.issue()
        } else {
            None
        };
        self.chat_features = ChatFeatures {
            receives_partner_list: agreed
                .as_ref()
                .is_some_and(|names| names.iter().any(|n| n == FEATURE_CHAT_FEATURES)),
            declared: chat_features.unwrap_or_default(),
        };
        let details = agreed
            .as_ref()
            .is_some_and(|names| names.iter().any(|n| n == FEATURE_PROGRAM_DETAILS));
        let queue_none = agreed
            .as_ref()
            .is_some_and(|names| names.iter().any(|n| n == FEATURE_QUEUE_NONE));
        self.outbox.control(&RelayFrame::Welcome {
            v: PROTOCOL_VERSION,
            role,
            program: if details {
                config.info_with_details()
            } else {
                config.info()
            },
            features: agreed,
            resume: resume.as_ref().map(|(secret, _, _)| ResumeOffer {
                secret: secret.to_vec().into(),
                grace_ms: u32::try_from(grace.as_millis()).unwrap_or(u32::MAX).max(1),
            }),
        });
        if let Some((_, hash, takeovers)) = resume {
            // Counting starts after `welcome`; at most what the outbox itself may hold is kept.
            let keep =
                self.shared.limits().chat_buffer_frames * usize::from(MAX_CAPACITY) + CONTROL_SLACK;
            self.outbox.count_from_here(keep);
            self.resume = Some(Box::new(ResumeState {
                hash,
                takeovers,
                received: 0,
            }));
        }
        self.program = program;
        match role {
            Role::Seeker => {
                let event = HubEvent::SeekerJoined {
                    conn: self.conn,
                    program: self.program.clone(),
                    chat_features: self.chat_features.clone(),
                    queue_none,
                    resume: self.resume.is_some(),
                };
                if self.shared.hub.send(event).await.is_err() {
                    return self.fail(ErrorCode::ShuttingDown);
                }
            }
            Role::Peer => {}
        }
        Flow::Continue
    }

    async fn on_present(&mut self, issuer: &[u8], supporter: &[u8], list: &[u8]) -> Flow {
        let Some(config) = self.shared.program(&self.program) else {
            return self.fail(ErrorCode::InternalError);
        };
        let now = self.shared.clock.now_unix();
        let (peer, list_changed) =
            match verify_presented(&config, &self.shared.store, now, issuer, supporter, list) {
                Ok(verified) => verified,
                Err(error) => {
                    tracing::debug!(%error, "credential rejected");
                    return self.fail(error.code());
                }
            };
        if list_changed {
            let event = HubEvent::RevocationUpdated {
                program: self.program.clone(),
            };
            let _ = self.shared.hub.send(event).await;
        }
        let (challenge, message) = match crate::credentials::possession_challenge(&peer) {
            Ok(pair) => pair,
            Err(_) => return self.fail(ErrorCode::CredentialRejected),
        };
        self.challenge = Some(Box::new((challenge, peer)));
        self.core.presented();
        self.outbox.control(&RelayFrame::Challenge {
            challenge: message.into(),
        });
        Flow::Continue
    }

    async fn on_prove(&mut self, answer: &[u8]) -> Flow {
        let Some((challenge, peer)) = self.challenge.take().map(|boxed| *boxed) else {
            return self.fail(ErrorCode::UnexpectedFrame);
        };
        if challenge.verify(answer).is_err() {
            return self.fail(ErrorCode::PossessionFailed);
        }
        self.core.proved();
        self.outbox.control(&RelayFrame::Verified {
            display_name: peer.display_name.clone(),
        });
        let event = HubEvent::PeerVerified {
            conn: self.conn,
            program: self.program.clone(),
            peer: Box::new(peer),
            chat_features: self.chat_features.clone(),
            resume: self.resume.is_some(),
            urgency: self.core.urgency_agreed(),
        };
        if self.shared.hub.send(event).await.is_err() {
            return self.fail(ErrorCode::ShuttingDown);
        }
        Flow::Continue
    }

    /// Forwards a data frame the core admitted on `chat` to the chat's partner.
    async fn forward(&mut self, chat: ChatNumber, bytes: Bytes, now: Instant) -> Flow {
        let Some(route) = self.routes.get(&chat) else {
            return self.fail(ErrorCode::UnknownChat);
        };
        // Zero-copy only if this task holds the only reference. With tungstenite 0.29 it never
        // does: a payload is a slice of the read buffer, whose remainder still holds the
        // allocation until the next read, so this copies the frame (docs/performance.md).
        let mut frame = bytes
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(shared.as_ref()));
        if DataFrame::rewrite_chat(&mut frame, route.partner_chat).is_err() {
            return self.fail(ErrorCode::MalformedFrame);
        }
        let now_ms = u64::try_from(now.saturating_duration_since(self.shared.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let length = frame.len();
        // Fast path: room in the partner's buffer (the usual case) needs no waiting, no timer
        // and no limits lookup; only a full buffer waits up to the slow-reader grace.
        let forwarded =
            match route
                .link
                .try_forward(route.side, &route.partner, frame.freeze(), now_ms)
            {
                Err((ForwardError::Full, Some(frame))) => {
                    let grace = self.shared.limits().slow_reader_grace;
                    // Boxed: rare, and inline its timer and waiter would size every
                    // connection's task.
                    Box::pin(route.link.forward_within(
                        route.side,
                        &route.partner,
                        frame,
                        now_ms,
                        grace,
                    ))
                    .await
                }
                other => other.map_err(|(error, _)| error),
            };
        match forwarded {
            Ok(()) => {
                self.shared.hot.relayed(length);
                Flow::Continue
            }
            Err(ForwardError::Ended) => Flow::Continue,
            Err(ForwardError::BeforeMsg1) => self.fail(ErrorCode::UnexpectedFrame),
            Err(ForwardError::SlowReader | ForwardError::Full) => {
                let event = HubEvent::SlowReader {
                    conn: self.conn,
                    chat,
                };
                let _ = Box::pin(self.shared.hub.send(event)).await;
                Flow::Continue
            }
        }
    }
}

/// Answers a connection the relay will not serve (full, or shutting down): the `error`
/// frame, then the catalogue's close code.
pub(crate) async fn refuse<G>(socket: WebSocket, code: ErrorCode, _guard: G) {
    use futures_util::SinkExt as _;
    let mut socket = socket;
    let _ = socket
        .feed(Message::Text(RelayFrame::error(code).to_json().into()))
        .await;
    let close = code.close_code().map(|code| axum::extract::ws::CloseFrame {
        code,
        reason: axum::extract::ws::Utf8Bytes::from_static(""),
    });
    let _ = tokio::time::timeout(WRITER_LINGER, socket.send(Message::Close(close))).await;
}
