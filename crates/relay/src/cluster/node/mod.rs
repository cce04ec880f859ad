//! The task per node: a thin shell around the cluster core (`cluster/core`). It owns the
//! broker connection, feeds the core what arrives (presence, the inbox, answers, what the
//! virtual connections report) with the time, wakes it at its timeouts, and carries out
//! its actions. The decisions — who is alive, which reservation stands, which chat must be
//! ended where — are the core's; what stays here is I/O: publishing, asking the hub,
//! checking certificates on the blocking pool, and routing chat subjects to each chat's
//! own ingress queue.

mod actions;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::core::{ClusterCore, Party, PartyEvent, Settings, Token};
use super::faults::Faults;
use super::virtual_conn::{ChatIngress, Context, Handle, Input};
use super::wire::{self, NodeMessage, Presence};
use super::{ClusterConfig, token};
use crate::credentials::{could_replace, install_list};
use crate::messages::HubEvent;
use crate::shared::Shared;

/// Most messages held for one chat not yet bound here. Before the seeker's first handshake
/// message the peer's side has nothing to send but `end`; more than this is dropped.
const EARLY_CHAT_MESSAGES: usize = 8;

struct Node {
    core: ClusterCore,
    ctx: Context,
    config: ClusterConfig,
    /// Reply subjects of reservations other nodes asked, until answered.
    replies: HashMap<Token, async_nats::Subject>,
    /// Virtual connections by party.
    parties: HashMap<Party, Handle>,
    /// Chat token → that chat's own ingress queue, while the chat is bound.
    chats: HashMap<Token, ChatIngress>,
    /// Chats whose ingress overflowed: their frames are dropped until the chat is unbound.
    overflowed: HashSet<Token>,
    /// Chats the peer's node opened that are not bound here yet, with what arrived for them
    /// meanwhile (most often the peer's immediate `end`, which must not be lost).
    early: HashMap<Token, Vec<Bytes>>,
    /// Certificates verified, until the core says which peers to register.
    verified: HashMap<(Token, Token), crate::credentials::VerifiedPeer>,
    input: mpsc::UnboundedSender<Input>,
}

fn connect_options(
    config: &ClusterConfig,
    events: mpsc::UnboundedSender<async_nats::Event>,
) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new()
        .name("confidant-relay")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(u64::try_from(attempts).unwrap_or(10).saturating_mul(100))
                .min(Duration::from_secs(1))
        })
        .request_timeout(Some(config.request_timeout))
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    if let Some((user, password)) = &config.user_password {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls_client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options.require_tls(config.require_tls)
}

fn parse_presence(message: &async_nats::Message) -> Option<Presence> {
    serde_json::from_slice::<Presence>(&message.payload).ok()
}

pub(crate) async fn run(config: ClusterConfig, shared: Arc<Shared>, stop: CancellationToken) {
    let me = token();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    metrics::gauge!(super::BROKER_CONNECTED).set(0.0);
    let client = match connect_options(&config, events_tx)
        .connect(config.nats_url.as_str())
        .await
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(kind = "cluster_failed", %error, "cluster: cannot use the broker; serving as a single node");
            return;
        }
    };
    let prefix = config.subject_prefix.clone();
    let subscriptions = async {
        Ok::<_, async_nats::SubscribeError>((
            client.subscribe(wire::presence_subject(&prefix)).await?,
            client.subscribe(wire::inbox_subject(&prefix, &me)).await?,
            client.subscribe(format!("{prefix}.chat.{me}.*")).await?,
        ))
    };
    let (mut presence, mut inbox, mut chats) = match subscriptions.await {
        Ok(subs) => subs,
        Err(error) => {
            tracing::error!(kind = "cluster_failed", %error, "cluster: cannot subscribe; serving as a single node");
            return;
        }
    };
    tracing::info!(kind = "cluster_started", "cluster: node joined the broker");
    let (input_tx, mut input) = mpsc::unbounded_channel();
    let settings = Settings {
        heartbeat: config.heartbeat,
        node_ttl: config.node_ttl,
        request_timeout: config.request_timeout,
    };
    let mut node = Node {
        core: ClusterCore::new(me, settings, Box::new(token), Instant::now().into_std()),
        ctx: Context {
            shared,
            client: client.clone(),
            prefix,
            node_task: input_tx.clone(),
            faults: Faults::of(&config),
        },
        config,
        replies: HashMap::new(),
        parties: HashMap::new(),
        chats: HashMap::new(),
        overflowed: HashSet::new(),
        early: HashMap::new(),
        verified: HashMap::new(),
        input: input_tx,
    };
    // Presence goes out only while the broker is there (the client connects in the
    // background; its events say when).
    node.core
        .handle_broker(client.connection_state() == async_nats::connection::State::Connected);
    loop {
        let wake = Instant::from_std(node.core.poll_timeout());
        node.core
            .set_draining(node.ctx.shared.draining.is_cancelled());
        // Biased, in this order: the inbox before the chat subjects, because the peer's node
        // sends a chat's `matched` (inbox) before anything on the chat's subject, and the
        // two arrive on one connection in that order — a chat's first message (often the
        // peer's immediate `end`) must find the chat expected. Control before data also
        // keeps heartbeats and reservations from waiting behind a flood.
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(event) = events.recv() => node.on_broker_event(event),
            Some(message) = inbox.next() => node.on_inbox(message),
            Some(message) = presence.next() => {
                if let Some(p) = parse_presence(&message) {
                    node.on_presence(p).await;
                }
            }
            Some(message) = input.recv() => node.on_input(message).await,
            () = tokio::time::sleep_until(wake) => {
                // Presence already delivered counts before the TTL check: a node whose own
                // task was held up (a busy machine) must not let another go whose
                // heartbeats are waiting, unread, in its subscription.
                while let Some(Some(message)) = presence.next().now_or_never() {
                    if let Some(p) = parse_presence(&message) {
                        node.on_presence(p).await;
                    }
                }
                node.core.handle_timeout(Instant::now().into_std());
            }
            Some(message) = chats.next() => node.on_chat(message),
        }
        node.execute().await;
    }
    // The last word: the others forget this node now instead of at the TTL, and do not
    // count a shutdown (a rolling restart) as a node lost.
    node.core
        .handle_broker(client.connection_state() == async_nats::connection::State::Connected);
    node.core.leave();
    node.execute().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
}

impl Node {
    fn on_broker_event(&mut self, event: async_nats::Event) {
        match event {
            async_nats::Event::Connected => {
                tracing::info!(
                    kind = "cluster_broker_connected",
                    "cluster: broker connected"
                );
                metrics::gauge!(super::BROKER_CONNECTED).set(1.0);
                self.core.handle_broker(true);
            }
            async_nats::Event::Disconnected => {
                tracing::warn!(
                    kind = "cluster_broker_lost",
                    "cluster: broker lost; serving locally"
                );
                metrics::gauge!(super::BROKER_CONNECTED).set(0.0);
                metrics::counter!(super::BROKER_DISCONNECTS).increment(1);
                self.core.handle_broker(false);
            }
            _ => {}
        }
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    async fn on_presence(&mut self, mut presence: Presence) {
        if presence.node == self.core.me() {
            return;
        }
        if !presence.leaving {
            let shared = self.ctx.shared.clone();
            let now_unix = shared.clock.now_unix();
            for (program, list) in &presence.lists {
                // The same list every heartbeat (or an older one from a node that has not
                // caught up): only one that could replace ours is verified — a signature
                // check per node per heartbeat would be CPU spent on the loop that keeps time.
                if could_replace(&shared.store, program, list.as_bytes())
                    && let Some(config) = shared.program(program)
                    && let Ok((_, true)) =
                        install_list(&config, &shared.store, now_unix, list.as_bytes())
                {
                    let _ = shared
                        .hub
                        .send(HubEvent::RevocationUpdated {
                            program: program.clone(),
                        })
                        .await;
                }
            }
            presence
                .peers
                .retain(|peer| shared.program(&peer.program).is_some());
        }
        let now = self.now();
        self.core.handle_presence(presence, now);
    }

    fn on_inbox(&mut self, message: async_nats::Message) {
        let Ok(parsed) = serde_json::from_slice::<NodeMessage>(&message.payload) else {
            return;
        };
        if let (NodeMessage::Reserve { offer, .. }, Some(reply)) = (&parsed, &message.reply) {
            self.replies.insert(offer.clone(), reply.clone());
        }
        let now = self.now();
        self.core.handle_node_message(parsed, now);
    }

    async fn on_input(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Party(party, event) => {
                if matches!(event, PartyEvent::Closed) {
                    self.parties.remove(&party);
                }
                self.core.handle_party(party, event, now);
            }
            Input::ChatBound { token, ingress } => {
                // What arrived before the chat was bound goes first (the queue is new and
                // larger than the hold).
                for held in self.early.remove(&token).unwrap_or_default() {
                    let _ = ingress.to.try_send(held);
                }
                self.chats.insert(token, ingress);
            }
            Input::Waited {
                party,
                offer,
                waited,
            } => self.core.handle_waited(party, offer, waited, now),
            Input::Grant { reference, granted } => self.core.handle_grant(&reference, granted),
            Input::ReserveAnswer { reference, granted } => {
                self.core.handle_reserve_answer(&reference, granted);
            }
            Input::Verified { node, results } => {
                let mut outcome = Vec::new();
                for (peer, verified) in results {
                    outcome.push((peer.clone(), verified.is_some()));
                    if let Some(verified) = verified {
                        self.verified.insert((node.clone(), peer.token), verified);
                    }
                }
                self.core.handle_verified(&node, outcome);
                self.execute().await;
                self.verified.clear();
            }
            Input::ReserveReady {
                reference,
                from,
                program,
            } => self.open_seeker(reference, from, program).await,
        }
    }

    fn on_chat(&mut self, message: async_nats::Message) {
        let Some(chat) = message.subject.rsplit('.').next() else {
            return;
        };
        if matches!(
            wire::decode_chat(&message.payload),
            Some(wire::ChatPayload::End(_))
        ) {
            // The other side ended it: ours is not sent back.
            self.core.handle_chat_end(chat);
        }
        let Some(ingress) = self.chats.get(chat) else {
            if let Some(held) = self.early.get_mut(chat)
                && held.len() < EARLY_CHAT_MESSAGES
            {
                held.push(message.payload);
            }
            return;
        };
        if self.overflowed.contains(chat) {
            // Already ending as `slow_reader`: nothing after the lost frame is delivered.
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = ingress.to.try_send(message.payload) {
            // This chat's own queue is full (its reader is stalled): the frame is lost (NATS
            // core has no back-pressure to apply), so end this chat — and only this one — as
            // a slow reader now, as a full local link would, rather than let a gap through.
            // The hub ends it under the link's lock, which also wakes the chat's ingress
            // task if it is waiting for room; frames it already queued are before the gap,
            // and every later one is dropped above. Other chats have their own queues.
            let (conn, number) = (ingress.conn, ingress.chat);
            self.overflowed.insert(chat.to_owned());
            metrics::counter!(super::INGRESS_OVERFLOWS).increment(1);
            tracing::debug!(
                kind = "cluster_ingress_full",
                "cluster: chat ingress full; chat ends as slow_reader"
            );
            let hub = self.ctx.shared.hub.clone();
            self.ctx.shared.tracker.spawn(async move {
                let _ = hub.send(HubEvent::SlowReader { conn, chat: number }).await;
            });
        }
    }
}
