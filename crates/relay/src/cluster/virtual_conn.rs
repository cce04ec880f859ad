//! A party on another node, as the hub sees it: a connection with an outbox and a command
//! channel. This task plays the part a WebSocket task plays for a local client — it holds
//! the chat routes, forwards incoming data with the same bounded `ChatLink` path, and turns
//! what the hub queues on the outbox into broker messages.
//!
//! Two kinds:
//! - **remote peer** (on the seeker's node): `offer` → a capacity reservation asked of the
//!   peer's node; `offer_withdrawn` → `withdraw`; `chat_started` binds the chat token the
//!   peer's node chose; data and `chat_ended` go to the chat subject.
//! - **remote seeker** (on the peer's node): one per reservation; `matched` → `matched` to
//!   the seeker's node with a fresh chat token; `cancelled` (the offer ended unmatched) →
//!   `declined`; data and `chat_ended` go to the chat subject.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use confidant_proto::limits::MAX_CAPACITY;
use confidant_proto::{
    Availability, ChatEndReason, ChatNumber, ClientFrame, DataFrame, RelayFrame,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::wire::{self, ChatPayload, NodeMessage, PeerPresence, ReserveReply};
use crate::data_path::Outbound;
use crate::messages::{ClusterEvent, ConnCommand, ConnId, HubEvent, Route};
use crate::shared::Shared;

/// What the node task hands a virtual connection.
#[derive(Debug)]
pub(crate) enum Ingress {
    /// A message to this party's node inbox about one of its offers.
    Message(NodeMessage),
    /// Fresh presence of the remote peer.
    Presence { peer: PeerPresence, draining: bool },
}

/// One bound cross-node chat's ingress: its own bounded queue, drained by its own task, so
/// a stalled reader in one chat never holds up (or overflows into) another chat of the
/// same remote party.
#[derive(Clone)]
pub(crate) struct ChatIngress {
    pub(crate) conn: ConnId,
    pub(crate) chat: ChatNumber,
    pub(crate) to: mpsc::Sender<bytes::Bytes>,
}

/// Where virtual connections are found by token (offer references and chat tokens), and
/// which remote node each belongs to (to end them all when it is gone).
#[derive(Default)]
pub(crate) struct Registry {
    /// Offer reference → the virtual connection it belongs to.
    pub(crate) tokens: std::sync::Mutex<HashMap<String, mpsc::Sender<Ingress>>>,
    /// Virtual connection → (remote node, "gone" signal).
    pub(crate) members: std::sync::Mutex<HashMap<ConnId, (String, CancellationToken)>>,
    /// Chat token → that chat's own ingress queue, while the chat is bound.
    /// Locked after `tokens` (never the other way round).
    chats: std::sync::Mutex<HashMap<String, ChatIngress>>,
    /// Chat tokens whose ingress overflowed: their frames are dropped until the chat ends.
    /// Locked after `tokens`; an entry lives only while its token is bound.
    overflowed: std::sync::Mutex<HashSet<String>>,
    /// The seeker's node: chats the peer's node has opened (its `matched` arrived) that are
    /// not bound here yet (our hub is still starting them), with what arrived for them
    /// meanwhile — most often the peer's immediate `end`, which must not be lost. Handed to
    /// the chat's queue when it is bound. Locked after `tokens`.
    early: std::sync::Mutex<HashMap<String, Vec<bytes::Bytes>>>,
    /// The peer's node: reservations being decided (reference → "withdrawn" flag, which the
    /// hub reads just before it grants). Locked after `tokens`.
    pending: std::sync::Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The peer's node: withdrawals that arrived before their reservation was even read
    /// (the seeker's node gave up first), so it is refused on arrival. Bounded, oldest
    /// dropped. Locked after `tokens`.
    early_withdrawals: std::sync::Mutex<VecDeque<String>>,
}

/// Most remembered early withdrawals (references of reservations that never arrive are
/// forgotten after this many newer ones).
const EARLY_WITHDRAWALS: usize = 1024;

/// Most messages held for one chat not yet bound here. Before the seeker's first handshake
/// message the peer's side has nothing to send but `end`; more than this is dropped.
const EARLY_CHAT_MESSAGES: usize = 8;

/// Where a message on a chat subject goes.
pub(crate) enum Routed {
    /// To this bound chat's queue.
    Bound(ChatIngress),
    /// Held until the chat is bound (or dropped with it).
    Held,
    /// Nowhere: no such chat here (ended, never ours).
    Unknown,
}

impl Registry {
    pub(crate) fn bind(&self, token: &str, to: &mpsc::Sender<Ingress>) {
        lock(&self.tokens).insert(token.to_owned(), to.clone());
    }

    fn bind_chat(&self, token: &str, ingress: ChatIngress) {
        let _tokens = lock(&self.tokens);
        // What arrived before the chat was bound goes first (the queue is new and larger).
        for held in lock(&self.early).remove(token).unwrap_or_default() {
            let _ = ingress.to.try_send(held);
        }
        lock(&self.chats).insert(token.to_owned(), ingress);
    }

    /// The seeker's node: the peer's node opened chat `token`; hold what arrives for it
    /// until it is bound here.
    pub(crate) fn expect_chat(&self, token: &str) {
        let _tokens = lock(&self.tokens);
        lock(&self.early).entry(token.to_owned()).or_default();
    }

    /// Where a message for chat `token` goes: its bound queue, the hold of a chat about to
    /// be bound (the message is kept), or nowhere.
    pub(crate) fn route_chat(&self, token: &str, payload: &bytes::Bytes) -> Routed {
        let _tokens = lock(&self.tokens);
        if let Some(ingress) = lock(&self.chats).get(token) {
            return Routed::Bound(ingress.clone());
        }
        match lock(&self.early).get_mut(token) {
            Some(held) if held.len() < EARLY_CHAT_MESSAGES => {
                held.push(payload.clone());
                Routed::Held
            }
            Some(_) => Routed::Held,
            None => Routed::Unknown,
        }
    }

    pub(crate) fn unbind(&self, token: &str) {
        let mut tokens = lock(&self.tokens);
        tokens.remove(token);
        lock(&self.chats).remove(token);
        lock(&self.overflowed).remove(token);
        lock(&self.early).remove(token);
    }

    /// Marks chat token `token` as overflowed. Returns the chat to end the first time, or
    /// `None` when it was already marked or is not a bound chat.
    pub(crate) fn mark_overflowed(&self, token: &str) -> Option<(ConnId, ChatNumber)> {
        let _tokens = lock(&self.tokens);
        let chat = lock(&self.chats).get(token).map(|c| (c.conn, c.chat))?;
        lock(&self.overflowed)
            .insert(token.to_owned())
            .then_some(chat)
    }

    pub(crate) fn is_overflowed(&self, token: &str) -> bool {
        lock(&self.overflowed).contains(token)
    }

    /// The peer's node: a reservation `offer` arrived. Returns its "withdrawn" flag (set by
    /// a later `withdraw`), or `None` when the seeker's node already withdrew it.
    pub(crate) fn begin_reserve(&self, offer: &str) -> Option<Arc<AtomicBool>> {
        let _tokens = lock(&self.tokens);
        let mut early = lock(&self.early_withdrawals);
        if let Some(at) = early.iter().position(|r| r == offer) {
            early.remove(at);
            return None;
        }
        drop(early);
        let flag = Arc::new(AtomicBool::new(false));
        lock(&self.pending).insert(offer.to_owned(), flag.clone());
        Some(flag)
    }

    /// The peer's node: reservation `offer` is decided (granted or not).
    pub(crate) fn end_reserve(&self, offer: &str) {
        let _tokens = lock(&self.tokens);
        lock(&self.pending).remove(offer);
    }

    /// The peer's node: the seeker's node withdrew `offer`. A reservation still being
    /// decided is marked so the hub refuses it; one not yet arrived is refused when it
    /// does. Returns the remote seeker to stop, if it exists.
    pub(crate) fn withdraw(&self, offer: &str) -> Option<mpsc::Sender<Ingress>> {
        let tokens = lock(&self.tokens);
        let pending = lock(&self.pending);
        let bound = tokens.get(offer).cloned();
        if let Some(flag) = pending.get(offer) {
            flag.store(true, Ordering::Release);
        } else if bound.is_none() {
            let mut early = lock(&self.early_withdrawals);
            if early.len() >= EARLY_WITHDRAWALS {
                early.pop_front();
            }
            early.push_back(offer.to_owned());
        }
        bound
    }

    pub(crate) fn find(&self, token: &str) -> Option<mpsc::Sender<Ingress>> {
        lock(&self.tokens).get(token).cloned()
    }

    pub(crate) fn is_virtual(&self, conn: ConnId) -> bool {
        lock(&self.members).contains_key(&conn)
    }

    /// Signals every virtual connection of `node` (or of every node) that it is gone.
    pub(crate) fn node_gone(&self, node: Option<&str>) {
        for (owner, gone) in lock(&self.members).values() {
            if node.is_none_or(|n| n == owner) {
                gone.cancel();
            }
        }
    }
}

pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Context every virtual connection shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: async_nats::Client,
    pub(crate) registry: Arc<Registry>,
    pub(crate) prefix: String,
    pub(crate) me: String,
    pub(crate) request_timeout: std::time::Duration,
    /// Tests only (`ClusterConfig::test_matched_delay`).
    pub(crate) test_matched_delay: Option<std::time::Duration>,
    /// Tests only (`ClusterConfig::test_accept_delay`).
    pub(crate) test_accept_delay: Option<std::time::Duration>,
}

impl Context {
    /// Ends chat `chat` (its token) on `node`: its `end` on the chat's subject.
    pub(crate) async fn end_chat(&self, node: &str, chat: &str, reason: ChatEndReason) {
        let subject = wire::chat_subject(&self.prefix, node, chat);
        if let Err(error) = self.client.publish(subject, wire::encode_end(reason)).await {
            tracing::debug!(%error, "cluster publish failed");
        }
    }
}

/// Per-kind state (one per task, so the size difference does not matter).
#[allow(clippy::large_enum_variant)]
enum Kind {
    RemotePeer {
        token: String,
        last: Option<(PeerPresence, bool)>,
        /// Marked full after a refused reservation, until the next presence.
        refused: bool,
        /// Offer number → reference sent to the peer's node.
        offers: HashMap<u32, String>,
        /// Offer accepted on the peer's node, waiting for our `chat_started`: chat token.
        accepted: HashMap<u32, String>,
    },
    RemoteSeeker {
        offer: String,
    },
}

/// One virtual connection's task state.
pub(crate) struct VirtualConn {
    ctx: Context,
    conn: ConnId,
    node: String,
    kind: Kind,
    routes: HashMap<ChatNumber, Route>,
    chat_of_token: HashMap<String, ChatNumber>,
    token_of_chat: HashMap<ChatNumber, String>,
    /// Per bound chat: set once the remote side's `end` arrived (so it is not echoed back),
    /// and the signal that stops the chat's ingress task.
    chat_tasks: HashMap<ChatNumber, (Arc<AtomicBool>, CancellationToken)>,
    ingress_tx: mpsc::Sender<Ingress>,
    kill: CancellationToken,
}

/// The channels a new virtual connection needs; `Connected` has been sent with the other
/// halves when this is returned.
pub(crate) struct Spawned {
    pub(crate) conn: ConnId,
    pub(crate) ingress: mpsc::Sender<Ingress>,
    pub(crate) gone: CancellationToken,
}

/// Registers a virtual connection with the hub (`Connected`) and starts its task. The
/// caller sends the kind-specific registration (`SeekerJoined`/`PeerVerified`) next, before
/// anything reaches the task.
pub(crate) async fn open(
    ctx: &Context,
    node: &str,
    remote_peer_token: Option<String>,
    offer: Option<String>,
) -> Option<(Spawned, impl Future<Output = ()> + use<>)> {
    let shared = &ctx.shared;
    let conn = ConnId(
        shared
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    );
    let kill = shared.hard_stop.child_token();
    let capacity = shared.limits().chat_buffer_frames * usize::from(MAX_CAPACITY)
        + crate::data_path::CONTROL_SLACK;
    let (outbox, outbox_rx) = crate::data_path::Outbox::new(capacity, kill.clone());
    let (commands_tx, commands_rx) = crate::messages::command_channel::channel();
    // Control only (offer outcomes, presence): chat data has a queue per chat.
    let (ingress_tx, ingress_rx) = mpsc::channel(crate::data_path::CONTROL_SLACK);
    let gone = CancellationToken::new();
    lock(&ctx.registry.members).insert(conn, (node.to_owned(), gone.clone()));
    let connected = HubEvent::Connected {
        conn,
        outbox,
        commands: commands_tx,
    };
    if shared.hub.send(connected).await.is_err() {
        lock(&ctx.registry.members).remove(&conn);
        return None;
    }
    let kind = match (remote_peer_token, offer) {
        (Some(token), _) => Kind::RemotePeer {
            token,
            last: None,
            refused: false,
            offers: HashMap::new(),
            accepted: HashMap::new(),
        },
        (None, Some(offer)) => {
            ctx.registry.bind(&offer, &ingress_tx);
            Kind::RemoteSeeker { offer }
        }
        (None, None) => return None,
    };
    let task = VirtualConn {
        ctx: ctx.clone(),
        conn,
        node: node.to_owned(),
        kind,
        routes: HashMap::new(),
        chat_of_token: HashMap::new(),
        token_of_chat: HashMap::new(),
        chat_tasks: HashMap::new(),
        ingress_tx: ingress_tx.clone(),
        kill: kill.clone(),
    };
    let run = task.run(outbox_rx, commands_rx, ingress_rx, gone.clone(), kill);
    Some((
        Spawned {
            conn,
            ingress: ingress_tx,
            gone,
        },
        run,
    ))
}

/// Whether the task goes on.
enum Flow {
    Continue,
    Stop,
    /// The hub removed a chat's route: its `chat_ended` may still be queued on the outbox.
    RemoveChat(ChatNumber),
}

impl VirtualConn {
    async fn run(
        mut self,
        mut outbox: crate::data_path::OutboxReceiver,
        mut commands: crate::messages::command_channel::CommandReceiver,
        mut ingress: mpsc::Receiver<Ingress>,
        gone: CancellationToken,
        kill: CancellationToken,
    ) {
        loop {
            let flow = tokio::select! {
                biased;
                () = kill.cancelled() => Flow::Stop,
                () = gone.cancelled() => Flow::Stop,
                command = commands.recv() => match command {
                    Some(ConnCommand::AddChat(chat, route)) => {
                        self.routes.insert(chat, *route);
                        Flow::Continue
                    }
                    Some(ConnCommand::RemoveChat(chat)) => Flow::RemoveChat(chat),
                    Some(ConnCommand::Terminate) | None => Flow::Stop,
                },
                item = outbox.recv() => match item {
                    Some(item) => self.on_outbound(item).await,
                    None => Flow::Stop,
                },
                message = ingress.recv() => match message {
                    Some(message) => self.on_ingress(message).await,
                    None => Flow::Stop,
                },
            };
            match flow {
                Flow::Continue => {}
                Flow::Stop => break,
                Flow::RemoveChat(chat) => {
                    // The `chat_ended` was queued before the command: send it first.
                    while let Ok(item) = outbox.try_recv() {
                        let _ = self.on_outbound(item).await;
                    }
                    self.routes.remove(&chat);
                    self.forget_chat(chat);
                    if matches!(self.kind, Kind::RemoteSeeker { .. }) {
                        // One chat per remote seeker: done.
                        break;
                    }
                }
            }
        }
        // Whatever is still queued to the remote side (a `chat_ended` from the same event
        // that stopped us) goes out before we leave.
        while let Ok(item) = outbox.try_recv() {
            let _ = self.on_outbound(item).await;
        }
        self.close().await;
    }

    async fn close(&mut self) {
        self.leave_no_half_behind().await;
        lock(&self.ctx.registry.members).remove(&self.conn);
        // Every chat still bound here ends with this party (most often: its node was lost,
        // and `RemoveChat` never comes): forget each one, so the cross-node chat gauge falls
        // with it and its token and ingress task go.
        let chats: Vec<ChatNumber> = self.token_of_chat.keys().copied().collect();
        for chat in chats {
            self.forget_chat(chat);
        }
        for (_, stop) in self.chat_tasks.values() {
            stop.cancel();
        }
        match &self.kind {
            Kind::RemotePeer {
                offers, accepted, ..
            } => {
                for reference in offers.values().chain(accepted.values()) {
                    self.ctx.registry.unbind(reference);
                }
            }
            Kind::RemoteSeeker { offer } => self.ctx.registry.unbind(offer),
        }
        let _ = self
            .ctx
            .shared
            .hub
            .send(HubEvent::Disconnected { conn: self.conn })
            .await;
    }

    /// This party is going away while chats or offers with it may still be open on its
    /// node — most often because this node let that node go at the TTL, which happens to a
    /// node that is alive but was heard too late (a busy machine, a slow broker path). The
    /// hub ends our local halves when we disconnect; the remote halves are told here, so no
    /// client there sits in a chat nobody will write to and no peer's capacity stays taken.
    /// Best effort: a node that is really gone hears nothing, and nothing is lost by that.
    async fn leave_no_half_behind(&mut self) {
        let mut ends: Vec<&String> = self
            .token_of_chat
            .iter()
            .filter(|(chat, _)| !self.remote_ended(**chat))
            .map(|(_, token)| token)
            .collect();
        let mut withdrawals = Vec::new();
        if let Kind::RemotePeer {
            offers, accepted, ..
        } = &self.kind
        {
            // Granted on the peer's node, not yet started here: its chat is open there.
            ends.extend(accepted.values());
            withdrawals.extend(offers.values().cloned());
        }
        for token in ends {
            self.ctx
                .end_chat(&self.node, token, ChatEndReason::PartnerLeft)
                .await;
        }
        for offer in withdrawals {
            self.to_node(&NodeMessage::Withdraw { offer }).await;
        }
    }

    /// Whether the remote side already ended `chat` (its `end` arrived): not to be echoed.
    fn remote_ended(&self, chat: ChatNumber) -> bool {
        self.chat_tasks
            .get(&chat)
            .is_some_and(|(ended, _)| ended.load(Ordering::Acquire))
    }

    fn forget_chat(&mut self, chat: ChatNumber) {
        if let Some(token) = self.token_of_chat.remove(&chat) {
            self.chat_of_token.remove(&token);
            self.ctx.registry.unbind(&token);
            metrics::gauge!(super::CROSS_NODE_CHATS).decrement(1.0);
        }
        if let Some((_, stop)) = self.chat_tasks.remove(&chat) {
            stop.cancel();
        }
    }

    fn bind_chat(&mut self, chat: ChatNumber, token: String) {
        // The hub sent `AddChat` before queuing the frame that binds the chat, and commands
        // are polled first: the route is here.
        if let Some(route) = self.routes.get(&chat) {
            let (to, frames) = mpsc::channel(chat_ingress_frames(&self.ctx.shared));
            let remote_ended = Arc::new(AtomicBool::new(false));
            let stop = self.kill.child_token();
            let task = ChatTask {
                shared: self.ctx.shared.clone(),
                conn: self.conn,
                chat,
                route: Route {
                    link: route.link.clone(),
                    side: route.side,
                    partner: route.partner.clone(),
                    partner_chat: route.partner_chat,
                },
                remote_ended: remote_ended.clone(),
            };
            self.ctx
                .shared
                .tracker
                .spawn(task.run(frames, stop.clone()));
            self.chat_tasks.insert(chat, (remote_ended, stop));
            self.ctx.registry.bind_chat(
                &token,
                ChatIngress {
                    conn: self.conn,
                    chat,
                    to,
                },
            );
        }
        self.chat_of_token.insert(token.clone(), chat);
        self.token_of_chat.insert(chat, token);
        metrics::gauge!(super::CROSS_NODE_CHATS).increment(1.0);
    }

    async fn publish(&self, subject: String, payload: bytes::Bytes) {
        if let Err(error) = self.ctx.client.publish(subject, payload).await {
            tracing::debug!(%error, "cluster publish failed");
        }
    }

    async fn to_node(&self, message: &NodeMessage) {
        let subject = wire::inbox_subject(&self.ctx.prefix, &self.node);
        let payload = serde_json::to_vec(message).unwrap_or_default();
        self.publish(subject, payload.into()).await;
    }

    async fn hub(&self, event: HubEvent) {
        let _ = self.ctx.shared.hub.send(event).await;
    }

    /// Something the hub queued for this party.
    async fn on_outbound(&mut self, item: Outbound) -> Flow {
        match item {
            Outbound::Data { frame, link, to } => {
                let chat = DataFrame::decode(&frame).map(|f| f.chat);
                if let Some(token) = chat.ok().and_then(|c| self.token_of_chat.get(&c)) {
                    let subject = wire::chat_subject(&self.ctx.prefix, &self.node, token);
                    self.publish(subject, wire::encode_data(&frame)).await;
                    self.ctx.shared.hot.cluster_frames_out.increment(1);
                }
                link.delivered(to);
                Flow::Continue
            }
            Outbound::Control(json) => match serde_json::from_str::<RelayFrame>(&json) {
                Ok(frame) => self.on_frame(frame).await,
                Err(_) => Flow::Continue,
            },
            Outbound::Close(_) | Outbound::ProtocolClose(_) | Outbound::Finish => Flow::Stop,
        }
    }

    async fn on_frame(&mut self, frame: RelayFrame) -> Flow {
        match frame {
            RelayFrame::ChatEnded { chat, reason } => {
                if let Some(token) = self.token_of_chat.get(&chat)
                    && !self.remote_ended(chat)
                {
                    self.ctx.end_chat(&self.node, token, reason).await;
                }
                Flow::Continue
            }
            RelayFrame::Offer {
                offer,
                topic,
                language,
                ..
            } => {
                self.reserve(offer, topic, language).await;
                Flow::Continue
            }
            RelayFrame::OfferWithdrawn { offer, .. } => {
                let Kind::RemotePeer {
                    offers, accepted, ..
                } = &mut self.kind
                else {
                    return Flow::Continue;
                };
                if let Some(reference) = offers.remove(&offer) {
                    self.ctx.registry.unbind(&reference);
                    self.to_node(&NodeMessage::Withdraw { offer: reference })
                        .await;
                } else if let Some(chat) = accepted.remove(&offer) {
                    // The peer's node already opened the chat, but our seeker left before our
                    // hub started it: end it there, or the peer would hold it until the
                    // handshake timeout.
                    self.ctx.registry.unbind(&chat);
                    self.ctx
                        .end_chat(&self.node, &chat, ChatEndReason::PartnerLeft)
                        .await;
                }
                Flow::Continue
            }
            RelayFrame::ChatStarted { chat, offer, .. } => {
                if let Kind::RemotePeer { accepted, .. } = &mut self.kind
                    && let Some(token) = accepted.remove(&offer)
                {
                    self.bind_chat(chat, token);
                }
                Flow::Continue
            }
            RelayFrame::Matched { chat, .. } => {
                // The peer's node: our local peer accepted this remote seeker.
                if let Kind::RemoteSeeker { offer } = &self.kind {
                    let offer = offer.clone();
                    let token = super::token();
                    // Bound before the seeker's node hears of it: its data can follow at once.
                    self.bind_chat(chat, token.clone());
                    let from = self.ctx.me.clone();
                    if let Some(delay) = self.ctx.test_matched_delay {
                        tokio::time::sleep(delay).await;
                    }
                    self.to_node(&NodeMessage::Matched {
                        offer,
                        chat: token,
                        from,
                    })
                    .await;
                }
                Flow::Continue
            }
            RelayFrame::Cancelled {} => {
                // The peer's node: the offer ended without a match (declined, timed out, or
                // the peer left). The seeker's node offers its seeker elsewhere.
                if let Kind::RemoteSeeker { offer } = &self.kind {
                    let offer = offer.clone();
                    self.to_node(&NodeMessage::Declined { offer }).await;
                    return Flow::Stop;
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    /// The seeker's node: ask the peer's node to reserve capacity for offer `number`.
    async fn reserve(&mut self, number: u32, topic: Option<String>, language: Option<String>) {
        let Kind::RemotePeer { token, offers, .. } = &mut self.kind else {
            return;
        };
        let reference = super::token();
        offers.insert(number, reference.clone());
        let message = NodeMessage::Reserve {
            offer: reference.clone(),
            from: self.ctx.me.clone(),
            peer: token.clone(),
            topic,
            language,
            peer_role: None,
            waited_ms: 0,
        };
        let conn = self.conn;
        let hub = self.ctx.shared.hub.clone();
        self.ctx.registry.bind(&reference, &self.ingress_tx);
        let client = self.ctx.client.clone();
        let subject = wire::inbox_subject(&self.ctx.prefix, &self.node);
        let timeout = self.ctx.request_timeout;
        let back = self.ingress_tx.clone();
        // The answer comes back through our own ingress, so this task never waits on it.
        tokio::spawn(async move {
            // How long the seeker has waited here, for the peer's node's fairness check.
            let mut message = message;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let asked = HubEvent::Cluster(ClusterEvent::OfferWaited {
                conn,
                offer: number,
                reply: tx,
            });
            if hub.send(asked).await.is_ok()
                && let Ok(waited) = rx.await
                && let NodeMessage::Reserve { waited_ms, .. } = &mut message
            {
                *waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            }
            let payload = serde_json::to_vec(&message).unwrap_or_default();
            let answer =
                tokio::time::timeout(timeout, client.request(subject.clone(), payload.into()))
                    .await;
            let granted = match answer {
                Ok(Ok(reply)) => serde_json::from_slice::<ReserveReply>(&reply.payload)
                    .map(|r| r.granted)
                    .unwrap_or(false),
                _ => {
                    // No answer in time: this node treats it as refused and offers its seeker
                    // elsewhere, so the peer's node must not grant it after all (it may still
                    // be deciding): withdraw the reference. Should a grant cross this, its
                    // `matched` finds the reference unknown here and is answered with `end`.
                    metrics::counter!(super::RESERVATIONS, "result" => "error").increment(1);
                    tracing::debug!(
                        kind = "cluster_reserve_timeout",
                        "cluster: reservation not answered in time; withdrawn"
                    );
                    let withdraw = NodeMessage::Withdraw {
                        offer: reference.clone(),
                    };
                    let payload = serde_json::to_vec(&withdraw).unwrap_or_default();
                    if let Err(error) = client.publish(subject, payload.into()).await {
                        tracing::debug!(%error, "cluster publish failed");
                    }
                    false
                }
            };
            if granted {
                metrics::counter!(super::RESERVATIONS, "result" => "granted").increment(1);
            } else {
                metrics::counter!(super::RESERVATIONS, "result" => "refused").increment(1);
                let _ = back
                    .send(Ingress::Message(NodeMessage::Declined {
                        offer: format!("refused:{reference}"),
                    }))
                    .await;
            }
        });
    }

    async fn on_ingress(&mut self, message: Ingress) -> Flow {
        match message {
            Ingress::Presence { peer, draining } => {
                if let Kind::RemotePeer { last, refused, .. } = &mut self.kind {
                    *last = Some((peer, draining));
                    *refused = false;
                }
                self.send_availability().await;
                Flow::Continue
            }
            Ingress::Message(message) => self.on_message(message).await,
        }
    }

    async fn on_message(&mut self, message: NodeMessage) -> Flow {
        match message {
            NodeMessage::Matched { offer, chat, .. } => {
                let Kind::RemotePeer {
                    offers, accepted, ..
                } = &mut self.kind
                else {
                    return Flow::Continue;
                };
                let number = offers
                    .iter()
                    .find(|(_, r)| **r == offer)
                    .map(|(number, _)| *number);
                self.ctx.registry.unbind(&offer);
                match number {
                    Some(number) => {
                        offers.remove(&number);
                        accepted.insert(number, chat);
                        if let Some(delay) = self.ctx.test_accept_delay {
                            tokio::time::sleep(delay).await;
                        }
                        self.hub(HubEvent::Frame {
                            conn: self.conn,
                            frame: ClientFrame::Accept { offer: number },
                        })
                        .await;
                    }
                    None => {
                        // We withdrew it meanwhile: the chat on the peer's node must end.
                        self.ctx.registry.unbind(&chat);
                        self.ctx
                            .end_chat(&self.node, &chat, ChatEndReason::PartnerLeft)
                            .await;
                    }
                }
                Flow::Continue
            }
            NodeMessage::Declined { offer } => {
                let (reference, refused_by_node) = match offer.strip_prefix("refused:") {
                    Some(reference) => (reference.to_owned(), true),
                    None => (offer, false),
                };
                let Kind::RemotePeer {
                    offers, refused, ..
                } = &mut self.kind
                else {
                    return Flow::Continue;
                };
                let Some(number) = offers
                    .iter()
                    .find(|(_, r)| **r == reference)
                    .map(|(number, _)| *number)
                else {
                    return Flow::Continue;
                };
                offers.remove(&number);
                self.ctx.registry.unbind(&reference);
                if refused_by_node {
                    // Someone else got the capacity: not a decline, no exclusion. Full until
                    // the next presence says otherwise.
                    *refused = true;
                    self.send_availability().await;
                    self.hub(HubEvent::Cluster(ClusterEvent::OfferRefused {
                        conn: self.conn,
                        offer: number,
                    }))
                    .await;
                } else {
                    self.hub(HubEvent::Frame {
                        conn: self.conn,
                        frame: ClientFrame::Decline { offer: number },
                    })
                    .await;
                }
                Flow::Continue
            }
            // The seeker's node withdrew its offer: this remote seeker leaves.
            NodeMessage::Withdraw { .. } => Flow::Stop,
            NodeMessage::Reserve { .. } => Flow::Continue,
        }
    }

    /// The remote peer's availability as this node's matcher should see it: available only
    /// while its own node reports free capacity; our own chats and offers with it on top,
    /// since the matcher counts those against the capacity it is given.
    async fn send_availability(&self) {
        let Kind::RemotePeer {
            last: Some((peer, draining)),
            refused,
            offers,
            accepted,
            ..
        } = &self.kind
        else {
            return;
        };
        let ours = self.routes.len() + offers.len() + accepted.len();
        let capacity = (usize::from(peer.free) + ours).clamp(1, usize::from(MAX_CAPACITY));
        let status = if peer.available && peer.free > 0 && !*refused && !*draining {
            Availability::Available
        } else {
            Availability::Away
        };
        let frame = ClientFrame::SetAvailability {
            status,
            capacity: u16::try_from(capacity).unwrap_or(MAX_CAPACITY),
            topics: peer.topics.clone(),
            languages: peer.languages.clone(),
            auto_accept: false,
        };
        self.hub(HubEvent::Frame {
            conn: self.conn,
            frame,
        })
        .await;
    }
}

/// Frames one cross-node chat may have waiting on this node before they are in the local
/// partner's chat buffer: four times that buffer plus a little, so a burst a normal reader
/// keeps up with never overflows it. Past it the chat ends as `slow_reader` (NATS core has no
/// back-pressure to apply instead).
pub(crate) fn chat_ingress_frames(shared: &Shared) -> usize {
    shared.limits().chat_buffer_frames.saturating_mul(4) + 32
}

/// The task that drains one cross-node chat's ingress queue into the local partner, through
/// the chat's link exactly as a local connection forwards. Waiting for room here (up to
/// `slow_reader_grace`) holds up this chat only.
struct ChatTask {
    shared: Arc<Shared>,
    conn: ConnId,
    chat: ChatNumber,
    route: Route,
    remote_ended: Arc<AtomicBool>,
}

impl ChatTask {
    async fn run(self, mut frames: mpsc::Receiver<bytes::Bytes>, stop: CancellationToken) {
        loop {
            let payload = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                payload = frames.recv() => match payload {
                    Some(payload) => payload,
                    None => return,
                },
            };
            match wire::decode_chat(&payload) {
                Some(ChatPayload::Data(frame)) => {
                    tokio::select! {
                        biased;
                        () = stop.cancelled() => return,
                        () = self.forward(frame) => {}
                    }
                }
                Some(ChatPayload::End(reason)) => {
                    self.remote_ended.store(true, Ordering::Release);
                    let _ = self
                        .shared
                        .hub
                        .send(HubEvent::Cluster(ClusterEvent::RemoteEnded {
                            conn: self.conn,
                            chat: self.chat,
                            reason,
                        }))
                        .await;
                    return;
                }
                None => {}
            }
        }
    }

    async fn forward(&self, frame: bytes::Bytes) {
        let route = &self.route;
        let mut frame = BytesMut::from(frame.as_ref());
        if DataFrame::rewrite_chat(&mut frame, route.partner_chat).is_err() {
            return;
        }
        self.shared.hot.cluster_frames_in.increment(1);
        let now_ms = self.shared.now_ms();
        let grace = self.shared.limits().slow_reader_grace;
        let result = route
            .link
            .forward_within(route.side, &route.partner, frame.freeze(), now_ms, grace)
            .await;
        if matches!(
            result,
            Err(crate::data_path::ForwardError::SlowReader | crate::data_path::ForwardError::Full)
        ) {
            let _ = self
                .shared
                .hub
                .send(HubEvent::SlowReader {
                    conn: self.conn,
                    chat: self.chat,
                })
                .await;
        }
    }
}
