//! A party on another node, as the hub sees it: a connection with an outbox and a command
//! channel. This task plays the part a WebSocket task plays for a local client — it holds
//! the chat routes, forwards incoming data with the same bounded `ChatLink` path, and sends
//! outgoing data to the chat's subject. Every control frame the hub queues for it goes to
//! the cluster core as a `PartyEvent` (`cluster/core`), which decides what crosses the
//! broker.
//!
//! Two kinds:
//! - **remote peer** (on the seeker's node): one per peer another node presents.
//! - **remote seeker** (on the peer's node): one per reservation; it ends with its chat,
//!   or when its offer ends unmatched.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use confidant_proto::limits::MAX_CAPACITY;
use confidant_proto::{ChatNumber, DataFrame, RelayFrame};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::core::{Party, PartyEvent, Token};
use super::faults::Faults;
use super::wire::{self, ChatPayload};
use crate::data_path::Outbound;
use crate::messages::{ClusterEvent, ConnCommand, ConnId, HubEvent, Route};
use crate::shared::Shared;

/// What a virtual connection (or a task of the node) hands the node task.
pub(crate) enum Input {
    /// A virtual connection's report, for the core.
    Party(Party, PartyEvent),
    /// A chat's ingress queue is ready: what arrives on `token` goes there.
    ChatBound { token: Token, ingress: ChatIngress },
    /// How long the seeker of `offer` to remote peer `party` has waited (the hub's answer).
    Waited {
        party: Party,
        offer: u32,
        waited: std::time::Duration,
    },
    /// The hub's decision on incoming reservation `reference`.
    Grant { reference: Token, granted: bool },
    /// The peer's node's answer to our reservation `reference` (`None`: no answer).
    ReserveAnswer {
        reference: Token,
        granted: Option<bool>,
    },
    /// Certificates checked on the blocking pool.
    Verified {
        node: Token,
        results: Vec<(wire::PeerPresence, Option<crate::credentials::VerifiedPeer>)>,
    },
    /// Fault injection: a delayed reservation goes on.
    ReserveReady {
        reference: Token,
        from: Token,
        program: String,
    },
}

/// What the node task tells a virtual connection.
pub(crate) enum ToParty {
    /// Remote peer: the peer's node opened chat `token` for `offer`; bind it when the hub
    /// starts the chat.
    Accepted { offer: u32, token: Token },
}

/// One bound cross-node chat's ingress: its own bounded queue, drained by its own task, so
/// a stalled reader in one chat never holds up (or overflows into) another chat of the
/// same remote party.
#[derive(Clone)]
pub(crate) struct ChatIngress {
    pub(crate) conn: ConnId,
    pub(crate) chat: ChatNumber,
    pub(crate) to: mpsc::Sender<Bytes>,
}

/// Context every virtual connection shares.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: async_nats::Client,
    pub(crate) prefix: String,
    pub(crate) node_task: mpsc::UnboundedSender<Input>,
    pub(crate) faults: Faults,
}

/// The node task's handle on a virtual connection.
pub(crate) struct Handle {
    pub(crate) gone: CancellationToken,
    pub(crate) to_party: mpsc::UnboundedSender<ToParty>,
}

/// One virtual connection's task state.
struct VirtualConn {
    ctx: Context,
    conn: ConnId,
    node: Token,
    seeker: bool,
    routes: HashMap<ChatNumber, Route>,
    token_of_chat: HashMap<ChatNumber, Token>,
    /// Remote peer: offers accepted on the peer's node, with the chat's token.
    accepted: HashMap<u32, Token>,
    /// Per bound chat: the signal that stops its ingress task.
    chat_tasks: HashMap<ChatNumber, CancellationToken>,
    kill: CancellationToken,
}

/// Registers a virtual connection with the hub (`Connected`) and returns its handle and
/// its task (to spawn once the caller has sent the kind-specific registration,
/// `SeekerJoined`/`PeerVerified`, so that comes first).
pub(crate) async fn open(
    ctx: &Context,
    node: &str,
    seeker: bool,
) -> Option<(Party, Handle, impl Future<Output = ()> + use<>)> {
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
    let (to_party, from_node) = mpsc::unbounded_channel();
    let gone = CancellationToken::new();
    let connected = HubEvent::Connected {
        conn,
        outbox,
        commands: commands_tx,
    };
    if shared.hub.send(connected).await.is_err() {
        return None;
    }
    let task = VirtualConn {
        ctx: ctx.clone(),
        conn,
        node: node.to_owned(),
        seeker,
        routes: HashMap::new(),
        token_of_chat: HashMap::new(),
        accepted: HashMap::new(),
        chat_tasks: HashMap::new(),
        kill: kill.clone(),
    };
    let run = task.run(outbox_rx, commands_rx, from_node, gone.clone(), kill);
    Some((Party(conn.0), Handle { gone, to_party }, run))
}

/// Whether the task goes on.
enum Flow {
    Continue,
    Stop,
    /// The hub removed a chat's route: its `chat_ended` may still be queued on the outbox.
    RemoveChat(ChatNumber),
}

impl VirtualConn {
    fn party(&self) -> Party {
        Party(self.conn.0)
    }

    fn report(&self, event: PartyEvent) {
        let _ = self.ctx.node_task.send(Input::Party(self.party(), event));
    }

    async fn run(
        mut self,
        mut outbox: crate::data_path::OutboxReceiver,
        mut commands: crate::messages::command_channel::CommandReceiver,
        mut from_node: mpsc::UnboundedReceiver<ToParty>,
        gone: CancellationToken,
        kill: CancellationToken,
    ) {
        loop {
            // Biased: what the node task said comes before the outbox, so a chat's token
            // (sent before the hub was asked to accept) is here when `chat_started` is.
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
                Some(message) = from_node.recv() => {
                    match message {
                        ToParty::Accepted { offer, token } => {
                            self.accepted.insert(offer, token);
                        }
                    }
                    Flow::Continue
                }
                item = outbox.recv() => match item {
                    Some(item) => self.on_outbound(item).await,
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
                    if self.seeker {
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
        for stop in self.chat_tasks.values() {
            stop.cancel();
        }
        // The core ends whatever is still open with this party on its node.
        self.report(PartyEvent::Closed);
        let _ = self
            .ctx
            .shared
            .hub
            .send(HubEvent::Disconnected { conn: self.conn })
            .await;
    }

    fn forget_chat(&mut self, chat: ChatNumber) {
        if self.token_of_chat.remove(&chat).is_some() {
            self.report(PartyEvent::ChatRemoved { chat });
        }
        if let Some(stop) = self.chat_tasks.remove(&chat) {
            stop.cancel();
        }
    }

    /// Chat `chat` travels under `token` from now on: its own ingress queue and task.
    fn bind_chat(&mut self, chat: ChatNumber, token: Token) {
        // The hub sent `AddChat` before queuing the frame that binds the chat, and commands
        // are polled first: the route is here.
        if let Some(route) = self.routes.get(&chat) {
            let (to, frames) = mpsc::channel(chat_ingress_frames(&self.ctx.shared));
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
            };
            self.ctx
                .shared
                .tracker
                .spawn(task.run(frames, stop.clone()));
            self.chat_tasks.insert(chat, stop);
            let ingress = ChatIngress {
                conn: self.conn,
                chat,
                to,
            };
            let bound = Input::ChatBound {
                token: token.clone(),
                ingress,
            };
            let _ = self.ctx.node_task.send(bound);
        }
        self.token_of_chat.insert(chat, token);
    }

    /// Something the hub queued for this party.
    async fn on_outbound(&mut self, item: Outbound) -> Flow {
        match item {
            Outbound::Data { frame, link, to } => {
                let chat = DataFrame::decode(&frame).map(|f| f.chat);
                if let Some(token) = chat.ok().and_then(|c| self.token_of_chat.get(&c)) {
                    let subject = wire::chat_subject(&self.ctx.prefix, &self.node, token);
                    if let Err(error) = self
                        .ctx
                        .client
                        .publish(subject, wire::encode_data(&frame))
                        .await
                    {
                        tracing::debug!(%error, "cluster publish failed");
                    }
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
            // A virtual party never agrees on `resume`.
            Outbound::CountFromHere(_) => Flow::Continue,
        }
    }

    async fn on_frame(&mut self, frame: RelayFrame) -> Flow {
        match frame {
            // Published by the core on the node task, after every data frame this task
            // published before it (one client, one queue, in order).
            RelayFrame::ChatEnded { chat, reason } => {
                self.report(PartyEvent::ChatEnded { chat, reason });
            }
            RelayFrame::Offer {
                offer,
                topic,
                language,
                ..
            } if !self.seeker => self.report(PartyEvent::Offer {
                offer,
                topic,
                language,
            }),
            RelayFrame::OfferWithdrawn { offer, .. } if !self.seeker => {
                self.accepted.remove(&offer);
                self.report(PartyEvent::OfferWithdrawn { offer });
            }
            RelayFrame::ChatStarted { chat, offer, .. } if !self.seeker => {
                if let Some(token) = self.accepted.remove(&offer) {
                    self.bind_chat(chat, token);
                    self.report(PartyEvent::ChatStarted { offer, chat });
                }
            }
            RelayFrame::Matched { chat, .. } if self.seeker => {
                // The peer's node: our local peer accepted this remote seeker. Bound before
                // the seeker's node hears of it (the core says `matched`): its data can
                // follow at once.
                if let Some(delay) = self.ctx.faults.matched_delay {
                    tokio::time::sleep(delay).await;
                }
                let token = super::token();
                self.bind_chat(chat, token.clone());
                self.report(PartyEvent::Matched { chat, token });
            }
            RelayFrame::Cancelled {} if self.seeker => {
                // The offer ended without a match (declined, timed out, or the peer left):
                // the seeker's node offers its seeker elsewhere.
                self.report(PartyEvent::Cancelled);
                return Flow::Stop;
            }
            _ => {}
        }
        Flow::Continue
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
}

impl ChatTask {
    async fn run(self, mut frames: mpsc::Receiver<Bytes>, stop: CancellationToken) {
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

    async fn forward(&self, frame: Bytes) {
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
