//! The task per node: one broker connection, presence in and out (which is also the
//! heartbeat), the inbox where other nodes ask for capacity, and failure detection — a node
//! not heard from within the TTL is gone, and losing the broker makes every other node gone
//! at once (each node then serves its own seekers and peers until the broker returns).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confidant_proto::SeekPreferences;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::virtual_conn::{self, Context, Ingress, Registry};
use super::wire::{self, NodeMessage, PeerPresence, Presence, ReserveReply};
use super::{ClusterConfig, token};
use crate::chat_features::ChatFeatures;
use crate::credentials::{could_replace, install_list, verify_presented};
use crate::messages::{ClusterEvent, ConnId, HubEvent};
use crate::shared::Shared;

/// A remote peer this node knows, by its token.
struct KnownPeer {
    ingress: mpsc::Sender<Ingress>,
    gone: CancellationToken,
}

/// Another node as heard.
struct KnownNode {
    last_seen: Instant,
    peers: HashMap<String, KnownPeer>,
    /// Peers whose certificates are being checked, with their newest presence.
    verifying: HashMap<String, (PeerPresence, bool)>,
    /// Peers whose certificates failed: not checked again while their node lists them.
    rejected: std::collections::HashSet<String>,
}

impl KnownNode {
    fn new() -> Self {
        Self {
            last_seen: Instant::now(),
            peers: HashMap::new(),
            verifying: HashMap::new(),
            rejected: std::collections::HashSet::new(),
        }
    }
}

/// Certificates checked off the node loop: each peer as it was checked, and the result.
struct Verified {
    node: String,
    results: Vec<(PeerPresence, Option<crate::credentials::VerifiedPeer>)>,
}

struct Node {
    ctx: Context,
    config: ClusterConfig,
    nodes: HashMap<String, KnownNode>,
    /// Local peer connection → its random token (and back), refreshed each heartbeat.
    local_tokens: HashMap<ConnId, String>,
    local_by_token: HashMap<String, (ConnId, String)>,
    /// Nodes let go at the TTL, most recent last (bounded): one heard from again was alive
    /// after all, which `NODES_RETURNED` counts for the operator.
    let_go: std::collections::VecDeque<String>,
    /// Where `verify_new_peers` sends its results.
    verified: mpsc::UnboundedSender<Verified>,
}

/// How many nodes let go are remembered, to recognise one that comes back.
const REMEMBERED_LET_GO: usize = 64;

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
    let (verified_tx, mut verified) = mpsc::unbounded_channel();
    let mut node = Node {
        ctx: Context {
            shared,
            client: client.clone(),
            registry: Arc::new(Registry::default()),
            prefix,
            me,
            request_timeout: config.request_timeout,
            test_matched_delay: config.test_matched_delay,
            test_accept_delay: config.test_accept_delay,
        },
        config,
        nodes: HashMap::new(),
        local_tokens: HashMap::new(),
        local_by_token: HashMap::new(),
        let_go: std::collections::VecDeque::new(),
        verified: verified_tx,
    };
    let mut heartbeat = tokio::time::interval(node.config.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Biased, in this order: the inbox before the chat subjects, because the peer's node
        // sends a chat's `matched` (inbox) before anything on the chat's subject, and the
        // two arrive on one connection in that order — a chat's first message (often the
        // peer's immediate `end`) must find the chat expected (see `on_inbox`). Control
        // before data also keeps heartbeats and reservations from waiting behind a flood.
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(event) = events.recv() => node.on_broker_event(event),
            Some(message) = inbox.next() => node.on_inbox(message).await,
            Some(message) = presence.next() => {
                if let Ok(p) = serde_json::from_slice::<Presence>(&message.payload) {
                    node.on_presence(p).await;
                }
            }
            Some(done) = verified.recv() => node.on_verified(done).await,
            _ = heartbeat.tick() => {
                // Presence already delivered counts before the TTL check: a node whose own
                // task was held up (a busy machine) must not let another go whose
                // heartbeats are waiting, unread, in its subscription.
                while let Some(Some(message)) = presence.next().now_or_never() {
                    if let Ok(p) = serde_json::from_slice::<Presence>(&message.payload) {
                        node.on_presence(p).await;
                    }
                }
                node.on_heartbeat().await;
            }
            Some(message) = chats.next() => node.on_chat(message),
        }
    }
    // The last word: the others forget this node now instead of at the TTL, and do not
    // count a shutdown (a rolling restart) as a node lost.
    if client.connection_state() == async_nats::connection::State::Connected {
        let bye = Presence {
            node: node.ctx.me.clone(),
            draining: true,
            peers: Vec::new(),
            lists: Vec::new(),
            heads: Vec::new(),
            leaving: true,
        };
        let payload = serde_json::to_vec(&bye).unwrap_or_default();
        let subject = wire::presence_subject(&node.ctx.prefix);
        if let Err(error) = client.publish(subject, payload.into()).await {
            tracing::debug!(%error, "cluster: leaving not announced");
        }
    }
    node.ctx.registry.node_gone(None);
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
            }
            async_nats::Event::Disconnected => {
                // Cross-node chats cannot move now, and frames may already be lost: end them
                // all at once rather than let a gap reach a client; keep serving locally.
                tracing::warn!(
                    kind = "cluster_broker_lost",
                    "cluster: broker lost; serving locally"
                );
                metrics::gauge!(super::BROKER_CONNECTED).set(0.0);
                metrics::counter!(super::BROKER_DISCONNECTS).increment(1);
                self.forget_all_nodes();
            }
            _ => {}
        }
    }

    fn forget_all_nodes(&mut self) {
        for (_, known) in self.nodes.drain() {
            for peer in known.peers.values() {
                peer.gone.cancel();
            }
        }
        self.ctx.registry.node_gone(None);
        self.update_gauges();
    }

    /// `node` announced it is shutting down: its peers leave and its chats end here now
    /// (its own chats were ended by its drain), as when it is let go, but it is counted as
    /// left — a rolling restart is not a node lost.
    fn node_left(&mut self, node: &str) {
        let Some(known) = self.nodes.remove(node) else {
            return;
        };
        tracing::info!(kind = "cluster_node_left", "cluster: a node shut down");
        metrics::counter!(super::NODES_LEFT).increment(1);
        for peer in known.peers.values() {
            peer.gone.cancel();
        }
        self.ctx.registry.node_gone(Some(node));
        self.update_gauges();
    }

    fn update_gauges(&self) {
        #[allow(clippy::cast_precision_loss)] // small counts
        {
            metrics::gauge!(super::NODES).set(self.nodes.len() as f64);
            let peers: usize = self.nodes.values().map(|n| n.peers.len()).sum();
            metrics::gauge!(super::REMOTE_PEERS).set(peers as f64);
        }
    }

    async fn on_heartbeat(&mut self) {
        let now = Instant::now();
        let ttl = self.config.node_ttl;
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.last_seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            tracing::warn!(
                kind = "cluster_node_lost",
                "cluster: a node stopped answering"
            );
            metrics::counter!(super::NODES_LOST).increment(1);
            if let Some(known) = self.nodes.remove(&id) {
                for peer in known.peers.values() {
                    peer.gone.cancel();
                }
            }
            self.ctx.registry.node_gone(Some(&id));
            if self.let_go.len() >= REMEMBERED_LET_GO {
                self.let_go.pop_front();
            }
            self.let_go.push_back(id);
        }
        self.update_gauges();
        if self.ctx.client.connection_state() != async_nats::connection::State::Connected {
            return;
        }
        if self
            .config
            .test_mute_presence
            .as_ref()
            .is_some_and(|mute| mute.load(std::sync::atomic::Ordering::Relaxed))
        {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self
            .ctx
            .shared
            .hub
            .send(HubEvent::Cluster(ClusterEvent::Presence(tx)))
            .await
            .is_err()
        {
            return;
        }
        let Ok(snapshot) = rx.await else {
            return;
        };
        let mut peers = Vec::new();
        let mut live = HashMap::new();
        for peer in snapshot.peers {
            if self.ctx.registry.is_virtual(peer.conn) {
                continue;
            }
            let token = self
                .local_tokens
                .get(&peer.conn)
                .cloned()
                .unwrap_or_else(token);
            live.insert(peer.conn, (token.clone(), peer.program.clone()));
            peers.push(PeerPresence {
                token,
                program: peer.program,
                issuer_certificate: peer.issuer_certificate.into(),
                supporter_certificate: peer.supporter_certificate.into(),
                available: peer.available,
                free: peer.free,
                topics: peer.topics,
                languages: peer.languages,
            });
        }
        self.local_tokens = live
            .iter()
            .map(|(conn, (token, _))| (*conn, token.clone()))
            .collect();
        self.local_by_token = live
            .into_iter()
            .map(|(conn, (token, program))| (token, (conn, program)))
            .collect();
        let shared = &self.ctx.shared;
        let lists = shared
            .programs()
            .iter()
            .filter_map(|p| {
                shared
                    .store
                    .current(&p.id)
                    .map(|list| (p.id.clone(), list.bytes.to_vec().into()))
            })
            .collect();
        let presence = Presence {
            node: self.ctx.me.clone(),
            draining: shared.draining.is_cancelled(),
            peers,
            lists,
            heads: snapshot.heads,
            leaving: false,
        };
        let payload = serde_json::to_vec(&presence).unwrap_or_default();
        let subject = wire::presence_subject(&self.ctx.prefix);
        if let Err(error) = self.ctx.client.publish(subject, payload.into()).await {
            tracing::debug!(%error, "cluster: presence not sent");
        }
    }

    async fn on_presence(&mut self, presence: Presence) {
        if presence.node == self.ctx.me {
            return;
        }
        if presence.leaving {
            self.node_left(&presence.node);
            return;
        }
        let shared = self.ctx.shared.clone();
        let now_unix = shared.clock.now_unix();
        for (program, list) in &presence.lists {
            // The same list every heartbeat (or an older one from a node that has not caught
            // up): only one that could replace ours is verified — a signature check per node
            // per heartbeat would be CPU spent on the loop that keeps time.
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
        if !self.nodes.contains_key(&presence.node)
            && let Some(at) = self.let_go.iter().position(|id| *id == presence.node)
        {
            self.let_go.remove(at);
            tracing::warn!(
                kind = "cluster_node_returned",
                "cluster: a node let go at the TTL was alive after all; its chats here ended for nothing (is cluster.node_ttl_ms too tight for this machine and broker?)"
            );
            metrics::counter!(super::NODES_RETURNED).increment(1);
        }
        let known = self
            .nodes
            .entry(presence.node.clone())
            .or_insert_with(KnownNode::new);
        known.last_seen = Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut to_verify = Vec::new();
        for peer in presence.peers {
            if shared.program(&peer.program).is_none() {
                continue;
            }
            seen.insert(peer.token.clone());
            if let Some(existing) = known.peers.get(&peer.token)
                && !existing.ingress.is_closed()
            {
                let update = Ingress::Presence {
                    peer,
                    draining: presence.draining,
                };
                let _ = existing.ingress.try_send(update);
                continue;
            }
            if known.rejected.contains(&peer.token) {
                continue;
            }
            // A peer we have not seen: its certificate is checked here (never trusted to
            // the other node), off this loop — see `verify_new_peers`. Until then the
            // newest presence of it is kept, and it is not offered to anyone.
            if known.verifying.contains_key(&peer.token) {
                known
                    .verifying
                    .insert(peer.token.clone(), (peer, presence.draining));
                continue;
            }
            to_verify.push(peer.clone());
            known
                .verifying
                .insert(peer.token.clone(), (peer, presence.draining));
        }
        if !to_verify.is_empty() {
            self.verify_new_peers(presence.node.clone(), to_verify);
        }
        // The other node's queue heads, for the cross-node fairness hold (ages as that
        // node measured them: no clock needs to agree).
        let heads = presence
            .heads
            .iter()
            .filter(|(_, waiting, _)| *waiting > 0)
            .map(|(program, _, oldest_ms)| (program.clone(), Duration::from_millis(*oldest_ms)))
            .collect();
        let hold = self.config.heartbeat * 2;
        let _ = shared
            .hub
            .send(HubEvent::Cluster(ClusterEvent::RemoteHeads {
                node: presence.node.clone(),
                heads,
                hold,
            }))
            .await;
        if let Some(known) = self.nodes.get_mut(&presence.node) {
            known.peers.retain(|token, peer| {
                let keep = seen.contains(token);
                if !keep {
                    peer.gone.cancel();
                }
                keep
            });
            known.verifying.retain(|token, _| seen.contains(token));
            known.rejected.retain(|token| seen.contains(token));
        }
        self.update_gauges();
    }

    /// Checks the certificates of peers first heard of in `node`'s presence on the blocking
    /// pool, and hands the results back to the node loop (`on_verified`). Signature checks
    /// cost CPU in proportion to the peers a node brings (a node joining with a thousand
    /// peers, or any number in a debug build); done on the loop, they delayed this node's
    /// own heartbeat past the other nodes' TTL, and they let it go while it was alive.
    fn verify_new_peers(&self, node: String, peers: Vec<PeerPresence>) {
        let shared = self.ctx.shared.clone();
        let done = self.verified.clone();
        tokio::task::spawn_blocking(move || {
            let now_unix = shared.clock.now_unix();
            let results = peers
                .into_iter()
                .map(|peer| {
                    let verified = shared.program(&peer.program).and_then(|config| {
                        verify_presented(
                            &config,
                            &shared.store,
                            now_unix,
                            peer.issuer_certificate.as_bytes(),
                            peer.supporter_certificate.as_bytes(),
                            &[],
                        )
                        .ok()
                        .map(|(verified, _)| verified)
                    });
                    (peer, verified)
                })
                .collect();
            let _ = done.send(Verified { node, results });
        });
    }

    /// Certificates checked by `verify_new_peers`: each peer that passed, and that `node`
    /// still lists with the same certificates, becomes a virtual connection here with its
    /// newest presence; one that failed is not checked again while its node lists it.
    async fn on_verified(&mut self, done: Verified) {
        let shared = self.ctx.shared.clone();
        for (checked, verified) in done.results {
            let Some(known) = self.nodes.get_mut(&done.node) else {
                // The node was let go meanwhile; its next presence starts over.
                return;
            };
            let Some((latest, draining)) = known.verifying.remove(&checked.token) else {
                continue; // no longer listed
            };
            if latest.issuer_certificate != checked.issuer_certificate
                || latest.supporter_certificate != checked.supporter_certificate
            {
                continue; // changed meanwhile: the next presence has it checked afresh
            }
            let Some(verified) = verified else {
                known.rejected.insert(checked.token);
                continue;
            };
            let program = latest.program.clone();
            let Some((spawned, run)) =
                virtual_conn::open(&self.ctx, &done.node, Some(latest.token.clone()), None).await
            else {
                continue;
            };
            // Cross-node chats carry no chat features yet: both sides agree on none.
            let registered = HubEvent::PeerVerified {
                conn: spawned.conn,
                program,
                peer: Box::new(verified),
                chat_features: ChatFeatures::default(),
            };
            let _ = shared.hub.send(registered).await;
            let remote = HubEvent::Cluster(ClusterEvent::RemotePeer { conn: spawned.conn });
            let _ = shared.hub.send(remote).await;
            shared.tracker.spawn(run);
            let token = latest.token.clone();
            let _ = spawned.ingress.try_send(Ingress::Presence {
                peer: latest,
                draining,
            });
            let peer = KnownPeer {
                ingress: spawned.ingress,
                gone: spawned.gone,
            };
            match self.nodes.get_mut(&done.node) {
                Some(known) => {
                    known.peers.insert(token, peer);
                }
                // Let go while we registered it (`virtual_conn::open` awaits the hub).
                None => peer.gone.cancel(),
            }
        }
        self.update_gauges();
    }

    async fn on_inbox(&mut self, message: async_nats::Message) {
        let Ok(parsed) = serde_json::from_slice::<NodeMessage>(&message.payload) else {
            return;
        };
        match parsed {
            NodeMessage::Reserve {
                offer,
                from,
                peer,
                topic,
                language,
                peer_role,
                waited_ms,
            } => {
                let preferences = SeekPreferences {
                    topic,
                    language,
                    peer_role,
                };
                let waited = Duration::from_millis(waited_ms);
                self.reserve(
                    offer,
                    from,
                    peer,
                    preferences,
                    waited,
                    message.reply.clone(),
                );
            }
            NodeMessage::Withdraw { ref offer } => {
                // Marks a reservation still being decided (the hub then refuses it), stops
                // the remote seeker if it exists, or remembers a withdrawal that overtook
                // its reservation.
                if let Some(to) = self.ctx.registry.withdraw(offer) {
                    let _ = to.try_send(Ingress::Message(parsed.clone()));
                }
            }
            NodeMessage::Matched {
                ref offer,
                ref chat,
                ref from,
            } => match self.ctx.registry.find(offer) {
                Some(to) => {
                    // From now on, what arrives on this chat's subject is held for it until
                    // our hub has started the chat and its queue is bound.
                    self.ctx.registry.expect_chat(chat);
                    let _ = to.try_send(Ingress::Message(parsed.clone()));
                }
                None if !from.is_empty() => {
                    // We gave up on this offer (timed out, withdrawn): the peer's node has a
                    // chat nobody here will join. End it now rather than let it hold the
                    // peer's capacity.
                    tracing::debug!(
                        kind = "cluster_matched_unknown",
                        "cluster: matched for an offer no longer open; chat ended"
                    );
                    self.ctx
                        .end_chat(from, chat, confidant_proto::ChatEndReason::PartnerLeft)
                        .await;
                }
                None => {}
            },
            NodeMessage::Declined { ref offer } => {
                if let Some(to) = self.ctx.registry.find(offer) {
                    let _ = to.try_send(Ingress::Message(parsed.clone()));
                }
            }
        }
    }

    /// The peer's node: grant one unit of `peer`'s capacity to a seeker of node `from`, or
    /// not, and answer on `reply`. Decided in a task of its own, so the node keeps reading
    /// its inbox meanwhile — in particular a `withdraw` of this very reservation, which
    /// makes the hub refuse it if it comes before the grant.
    fn reserve(
        &mut self,
        offer: String,
        from: String,
        peer: String,
        preferences: SeekPreferences,
        waited: Duration,
        reply: Option<async_nats::Subject>,
    ) {
        let ctx = self.ctx.clone();
        let answer = move |granted: bool| {
            let client = ctx.client.clone();
            async move {
                if let Some(reply) = reply {
                    let payload = serde_json::to_vec(&ReserveReply { granted }).unwrap_or_default();
                    let _ = client.publish(reply, payload.into()).await;
                }
            }
        };
        let found = if self.ctx.shared.draining.is_cancelled() {
            None
        } else {
            self.local_by_token.get(&peer).cloned()
        };
        let Some((peer_conn, program)) = found else {
            tokio::spawn(answer(false));
            return;
        };
        let Some(withdrawn) = self.ctx.registry.begin_reserve(&offer) else {
            // The seeker's node gave up on it before it even arrived.
            tokio::spawn(answer(false));
            return;
        };
        let ctx = self.ctx.clone();
        let delay = self.config.test_reserve_delay;
        tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let granted = match virtual_conn::open(&ctx, &from, None, Some(offer.clone())).await {
                None => false,
                Some((spawned, run)) => {
                    let shared = ctx.shared.clone();
                    let _ = shared
                        .hub
                        .send(HubEvent::SeekerJoined {
                            conn: spawned.conn,
                            program,
                            chat_features: ChatFeatures::default(),
                            // A remote seeker is never queued here: no `queued` to send.
                            queue_none: false,
                        })
                        .await;
                    let (tx, rx) = oneshot::channel();
                    let event = ClusterEvent::RemoteOffer {
                        conn: spawned.conn,
                        peer: peer_conn,
                        preferences,
                        waited,
                        from,
                        withdrawn,
                        reply: tx,
                    };
                    let _ = shared.hub.send(HubEvent::Cluster(event)).await;
                    shared.tracker.spawn(run);
                    let granted = rx.await.unwrap_or(false);
                    if !granted {
                        spawned.gone.cancel();
                    }
                    granted
                }
            };
            if let Some(delay) = ctx.test_matched_delay {
                tokio::time::sleep(delay).await;
            }
            ctx.registry.end_reserve(&offer);
            answer(granted).await;
        });
    }

    fn on_chat(&self, message: async_nats::Message) {
        let Some(chat) = message.subject.rsplit('.').next() else {
            return;
        };
        let ingress = match self.ctx.registry.route_chat(chat, &message.payload) {
            virtual_conn::Routed::Bound(ingress) => ingress,
            virtual_conn::Routed::Held | virtual_conn::Routed::Unknown => return,
        };
        if self.ctx.registry.is_overflowed(chat) {
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
            if let Some((conn, number)) = self.ctx.registry.mark_overflowed(chat) {
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
}
