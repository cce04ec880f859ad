//! The cluster's decisions without I/O: presence, reservations, withdrawals, chat tokens
//! and failure detection as one state machine, in the manner of quinn-proto. The node task
//! (`cluster/node.rs`) feeds it what the broker delivers, what the virtual connections
//! report and the time, and carries out the [`Action`]s it queues (`poll_action`); it wakes
//! it at `poll_timeout`. Nothing here reads a clock, touches a socket, spawns a task or
//! takes a lock (`scripts/check-architecture` checks it), so every failure case runs as a
//! plain unit test (`tests.rs`) and many nodes run together in a seeded simulation
//! (`cluster/simulation.rs`).
//!
//! What stays outside: the broker connection, certificate checks (CPU on the blocking
//! pool), the virtual connections' data path (bounded per-chat queues, `chat_link`), and
//! the hub — whose matcher still decides every grant of a local peer's capacity and the
//! queue-head hold; this core hands it the inputs (`ToHub`).

mod nodes;
mod reservations;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use confidant_proto::limits::MAX_CAPACITY;
use confidant_proto::{Availability, Base64Bytes, ChatEndReason, ChatNumber, SeekPreferences};

use self::nodes::Nodes;
use self::reservations::{Incoming, IncomingState, Outgoing, OutgoingState, Reservations};
use super::wire::{NodeMessage, PeerPresence, Presence};

/// A random token (node, peer, offer reference, chat): 128 bits, hex.
pub(crate) type Token = String;

/// A connection on this node, by number (the hub's `ConnId`): a local peer, or a virtual
/// connection standing for a party on another node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Party(pub(crate) u64);

/// Timings, from `ClusterConfig`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) heartbeat: Duration,
    pub(crate) node_ttl: Duration,
    pub(crate) request_timeout: Duration,
}

/// One local, verified peer for the next presence.
#[derive(Clone, Debug)]
pub(crate) struct LocalPeer {
    pub(crate) party: Party,
    pub(crate) program: String,
    pub(crate) issuer_certificate: Vec<u8>,
    pub(crate) supporter_certificate: Vec<u8>,
    pub(crate) available: bool,
    pub(crate) free: u16,
    pub(crate) topics: Vec<String>,
    pub(crate) languages: Vec<String>,
}

/// What a virtual connection reports: a frame the hub queued for it, or its end.
#[derive(Clone, Debug)]
pub(crate) enum PartyEvent {
    /// Remote peer: the hub offers it a local seeker.
    Offer {
        offer: u32,
        topic: Option<String>,
        language: Option<String>,
    },
    /// Remote peer: the hub took that offer back.
    OfferWithdrawn { offer: u32 },
    /// Remote peer: the hub started the chat of an accepted offer.
    ChatStarted { offer: u32, chat: ChatNumber },
    /// Remote seeker: the local peer accepted it; the chat exists here and travels under
    /// `token` (made and bound by the virtual connection before it reported this).
    Matched { chat: ChatNumber, token: Token },
    /// Remote seeker: its offer ended unmatched (declined, lapsed, peer gone).
    Cancelled,
    /// The hub ended a chat of this party.
    ChatEnded {
        chat: ChatNumber,
        reason: ChatEndReason,
    },
    /// The hub removed the chat's route (after its `chat_ended`).
    ChatRemoved { chat: ChatNumber },
    /// The virtual connection's task ended (the hub is told `Disconnected`).
    Closed,
}

/// What the hub is asked or told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ToHub {
    /// A remote peer's availability as this node's matcher should see it.
    Availability {
        party: Party,
        status: Availability,
        capacity: u16,
        topics: Vec<String>,
        languages: Vec<String>,
    },
    /// The remote peer's node says the peer accepted `offer`.
    Accept { party: Party, offer: u32 },
    /// The remote peer declined `offer` (or let it lapse).
    Decline { party: Party, offer: u32 },
    /// The remote peer's node refused capacity for `offer` (someone else has it).
    OfferRefused { party: Party, offer: u32 },
    /// Grant one unit of local peer `peer` to remote seeker `seeker`, or not; the answer
    /// goes to [`ClusterCore::handle_grant`] with `reference`.
    RemoteOffer {
        reference: Token,
        seeker: Party,
        peer: Party,
        preferences: SeekPreferences,
        waited: Duration,
        from: Token,
    },
    /// Another node's queue heads, for the queue-head hold.
    RemoteHeads {
        node: Token,
        heads: Vec<(String, Duration)>,
        hold: Duration,
    },
}

/// Something worth a metric or a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    NodeLost,
    NodeLeft,
    NodeReturned,
    ReservationGranted,
    ReservationRefused,
    ReservationUnanswered,
    /// A `matched` for an offer this node no longer has: the chat is ended there.
    MatchedUnknown,
    /// A grant the seeker's node had already withdrawn: undone.
    GrantWithdrawn,
}

/// What the node task must do.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// Ask the hub for the local peers and queue heads, then call `send_presence`.
    SnapshotPresence,
    /// Publish on the presence subject.
    Presence(Presence),
    /// Publish on `node`'s inbox.
    ToNode { node: Token, message: NodeMessage },
    /// Ask `node` for a reservation (request/reply); the answer goes to
    /// `handle_reserve_answer`, but only until this core's own deadline.
    Request { node: Token, message: NodeMessage },
    /// Answer reservation `reference` that another node asked.
    Answer { reference: Token, granted: bool },
    /// Publish `end{reason}` on chat `chat` towards `node`.
    EndChat {
        node: Token,
        chat: Token,
        reason: ChatEndReason,
    },
    /// Check these peers' certificates; results to `handle_verified`.
    Verify {
        node: Token,
        peers: Vec<PeerPresence>,
    },
    /// Register this verified peer as a virtual connection; then `remote_peer_opened`.
    OpenRemotePeer {
        node: Token,
        peer: PeerPresence,
        draining: bool,
    },
    /// Register a remote seeker for reservation `reference` (of local peer `program`);
    /// then `seeker_opened`.
    OpenRemoteSeeker {
        reference: Token,
        from: Token,
        program: String,
    },
    /// Ask the hub how long the seeker of `offer` to remote peer `party` has waited; the
    /// answer goes to `handle_waited`.
    AskWaited { party: Party, offer: u32 },
    /// Tell the hub.
    Hub(ToHub),
    /// End this virtual connection (its task ends; it reports `PartyEvent::Closed`).
    Close(Party),
    /// The peer's node opened chat `token` for `offer` of remote peer `party`: hold what
    /// arrives on it until it is bound, and tell the virtual connection, which binds it
    /// when the hub starts the chat.
    ExpectChat {
        party: Party,
        offer: u32,
        token: Token,
    },
    /// Forget chat `token` (bound or expected).
    UnbindChat(Token),
    /// Count or log.
    Note(Note),
}

/// Which kind of party a virtual connection stands for.
enum PartyKind {
    RemotePeer {
        token: Token,
        last: Option<(PeerPresence, bool)>,
        /// Marked full after a refused reservation, until the next presence.
        refused: bool,
    },
    RemoteSeeker {
        reference: Token,
    },
}

struct VirtualParty {
    node: Token,
    kind: PartyKind,
}

/// One cross-node chat as this node knows it.
struct Chat {
    node: Token,
    number: ChatNumber,
    /// An `end` crossed already (theirs arrived or ours went): nothing more to tell.
    settled: bool,
}

/// The state machine. See the module documentation.
pub(crate) struct ClusterCore {
    me: Token,
    settings: Settings,
    tokens: Box<dyn FnMut() -> Token + Send + Sync>,
    connected: bool,
    draining: bool,
    next_heartbeat: Instant,
    nodes: Nodes,
    parties: HashMap<Party, VirtualParty>,
    /// Local peer → its token for this process (refreshed each heartbeat), and back.
    local_tokens: HashMap<Party, Token>,
    local_by_token: HashMap<Token, (Party, String)>,
    reservations: Reservations,
    chats: HashMap<Token, Chat>,
    chat_of: HashMap<(Party, ChatNumber), Token>,
    /// Seeker's node: offer accepted on the peer's node, not started here yet.
    accepted: HashMap<(Party, u32), Token>,
    actions: VecDeque<Action>,
}

impl ClusterCore {
    /// A node named `me`; `tokens` makes fresh random tokens. The first heartbeat is due at
    /// `now`.
    pub(crate) fn new(
        me: Token,
        settings: Settings,
        tokens: Box<dyn FnMut() -> Token + Send + Sync>,
        now: Instant,
    ) -> Self {
        Self {
            me,
            settings,
            tokens,
            connected: true,
            draining: false,
            next_heartbeat: now,
            nodes: Nodes::default(),
            parties: HashMap::new(),
            local_tokens: HashMap::new(),
            local_by_token: HashMap::new(),
            reservations: Reservations::default(),
            chats: HashMap::new(),
            chat_of: HashMap::new(),
            accepted: HashMap::new(),
            actions: VecDeque::new(),
        }
    }

    pub(crate) fn me(&self) -> &str {
        &self.me
    }

    /// The next thing to do, if any.
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub(crate) fn poll_timeout(&self) -> Instant {
        match self.reservations.next_deadline() {
            Some(deadline) => deadline.min(self.next_heartbeat),
            None => self.next_heartbeat,
        }
    }

    /// Nodes known now.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.known.len()
    }

    /// Remote peers registered here now.
    pub(crate) fn remote_peers(&self) -> usize {
        self.nodes.remote_peers()
    }

    /// Cross-node chats started here now.
    pub(crate) fn chats(&self) -> usize {
        self.chats.len()
    }

    /// Whether `party` is a virtual connection.
    #[cfg(test)]
    pub(crate) fn is_virtual(&self, party: Party) -> bool {
        self.parties.contains_key(&party)
    }

    /// The token local peer `party` was presented under.
    #[cfg(test)]
    pub(crate) fn local_token(&self, party: Party) -> Option<Token> {
        self.local_tokens.get(&party).cloned()
    }

    /// The remote peer and offer behind outgoing reservation `reference`.
    #[cfg(test)]
    pub(crate) fn reservation_of(&self, reference: &str) -> Option<(Party, u32)> {
        self.reservations
            .outgoing
            .get(reference)
            .map(|o| (o.party, o.offer))
    }

    /// The node of virtual connection `party`.
    #[cfg(test)]
    pub(crate) fn node_of_party(&self, party: Party) -> Option<Token> {
        self.node_of(party)
    }

    /// Whether chat `token` is known here (bound or expected).
    #[cfg(test)]
    pub(crate) fn knows_chat(&self, token: &str) -> bool {
        self.chats.contains_key(token) || self.accepted.values().any(|t| t == token)
    }

    fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn fresh(&mut self) -> Token {
        (self.tokens)()
    }

    /// The node started or stopped draining: it refuses new reservations.
    pub(crate) fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    // ---- time ----

    /// Timers: the TTL of other nodes, reservations not answered in time, the heartbeat.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for (node, _) in self.nodes.expire(now, self.settings.node_ttl) {
            self.push(Action::Note(Note::NodeLost));
            self.close_node(&node);
        }
        for reference in self.reservations.overdue(now) {
            // No answer in time: refused here, so the seeker may be offered elsewhere, and
            // withdrawn there, so the peer's node does not grant it after all. A grant that
            // crosses this ends with the `end` its `matched` gets (`handle_node_message`).
            self.push(Action::Note(Note::ReservationUnanswered));
            if let Some(outgoing) = self.reservations.outgoing.remove(&reference) {
                let node = self.node_of(outgoing.party);
                if let Some(node) = node {
                    self.push(Action::ToNode {
                        node,
                        message: NodeMessage::Withdraw {
                            offer: reference.clone(),
                        },
                    });
                }
                self.refused(outgoing.party, outgoing.offer);
            }
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.settings.heartbeat;
            if self.connected {
                self.push(Action::SnapshotPresence);
            }
        }
    }

    // ---- the broker ----

    /// The broker connection came back (`true`) or went away (`false`). Gone: cross-node
    /// chats cannot move and frames may already be lost, so every other node is forgotten
    /// at once (their parties closed, chats ended here); this node serves its own.
    pub(crate) fn handle_broker(&mut self, connected: bool) {
        self.connected = connected;
        if !connected {
            self.nodes.known.clear();
            self.close_all();
        }
    }

    /// This node shuts down: its last word (the others forget it now and count it as
    /// left), then every virtual connection closes.
    pub(crate) fn leave(&mut self) {
        if self.connected {
            self.push(Action::Presence(Presence {
                node: self.me.clone(),
                draining: true,
                peers: Vec::new(),
                lists: Vec::new(),
                heads: Vec::new(),
                leaving: true,
            }));
        }
        self.close_all();
    }

    fn close_all(&mut self) {
        let mut all: Vec<Party> = self.parties.keys().copied().collect();
        all.sort();
        for party in all {
            self.push(Action::Close(party));
        }
    }

    /// Every virtual connection of `node` (peers and seekers) ends.
    fn close_node(&mut self, node: &str) {
        let mut parties: Vec<Party> = self
            .parties
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(party, _)| *party)
            .collect();
        parties.sort();
        for party in parties {
            self.push(Action::Close(party));
        }
    }

    // ---- presence ----

    /// The hub's snapshot for the next presence (after `Action::SnapshotPresence`).
    /// `lists`: each program's newest revocation list.
    pub(crate) fn send_presence(
        &mut self,
        peers: Vec<LocalPeer>,
        heads: Vec<(String, usize, u64)>,
        lists: Vec<(String, Base64Bytes)>,
    ) {
        let mut out = Vec::new();
        let mut tokens = HashMap::new();
        let mut by_token = HashMap::new();
        for peer in peers {
            if self.parties.contains_key(&peer.party) {
                continue; // another node's peer: never presented as ours
            }
            let token = match self.local_tokens.get(&peer.party) {
                Some(token) => token.clone(),
                None => self.fresh(),
            };
            tokens.insert(peer.party, token.clone());
            by_token.insert(token.clone(), (peer.party, peer.program.clone()));
            out.push(PeerPresence {
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
        self.local_tokens = tokens;
        self.local_by_token = by_token;
        let presence = Presence {
            node: self.me.clone(),
            draining: self.draining,
            peers: out,
            lists,
            heads,
            leaving: false,
        };
        self.push(Action::Presence(presence));
    }

    /// Another node's presence (its peers of programs this node does not serve, and its
    /// revocation lists, already dealt with by the caller).
    pub(crate) fn handle_presence(&mut self, presence: Presence, now: Instant) {
        if presence.node == self.me {
            return;
        }
        if presence.leaving {
            if self.nodes.known.remove(&presence.node).is_some() {
                self.push(Action::Note(Note::NodeLeft));
                self.close_node(&presence.node);
            }
            return;
        }
        let (known, returned) = self.nodes.heard(&presence.node, now);
        let mut seen = HashSet::new();
        let mut to_verify = Vec::new();
        let mut updates = Vec::new();
        for peer in presence.peers {
            seen.insert(peer.token.clone());
            if let Some(party) = known.peers.get(&peer.token) {
                updates.push((*party, peer));
                continue;
            }
            if known.rejected.contains(&peer.token) {
                continue;
            }
            // A peer not seen before: its certificates are checked here (never trusted to
            // the other node), off the node loop. Until then the newest presence is kept.
            if !known.verifying.contains_key(&peer.token) {
                to_verify.push(peer.clone());
            }
            known
                .verifying
                .insert(peer.token.clone(), (peer, presence.draining));
        }
        let mut removed = Vec::new();
        known.peers.retain(|token, party| {
            let keep = seen.contains(token);
            if !keep {
                removed.push(*party);
            }
            keep
        });
        known.verifying.retain(|token, _| seen.contains(token));
        known.rejected.retain(|token| seen.contains(token));
        if returned {
            self.push(Action::Note(Note::NodeReturned));
        }
        for (party, peer) in updates {
            if let Some(VirtualParty {
                kind: PartyKind::RemotePeer { last, refused, .. },
                ..
            }) = self.parties.get_mut(&party)
            {
                *last = Some((peer, presence.draining));
                *refused = false;
            }
            self.availability(party);
        }
        if !to_verify.is_empty() {
            self.push(Action::Verify {
                node: presence.node.clone(),
                peers: to_verify,
            });
        }
        // The other node's queue heads, for the queue-head hold (ages as that node
        // measured them: no clock needs to agree).
        let heads = presence
            .heads
            .iter()
            .filter(|(_, waiting, _)| *waiting > 0)
            .map(|(program, _, oldest_ms)| (program.clone(), Duration::from_millis(*oldest_ms)))
            .collect();
        self.push(Action::Hub(ToHub::RemoteHeads {
            node: presence.node,
            heads,
            hold: self.settings.heartbeat * 2,
        }));
        removed.sort();
        for party in removed {
            self.push(Action::Close(party));
        }
    }

    /// Certificates checked after `Action::Verify`: each peer that passed, and that `node`
    /// still lists with the same certificates, is to be registered (`OpenRemotePeer`); one
    /// that failed is not checked again while its node lists it.
    pub(crate) fn handle_verified(&mut self, node: &str, results: Vec<(PeerPresence, bool)>) {
        for (checked, ok) in results {
            let Some(known) = self.nodes.known.get_mut(node) else {
                return; // let go meanwhile; its next presence starts over
            };
            let Some((latest, draining)) = known.verifying.remove(&checked.token) else {
                continue; // no longer listed
            };
            if latest.issuer_certificate != checked.issuer_certificate
                || latest.supporter_certificate != checked.supporter_certificate
            {
                continue; // changed meanwhile: the next presence has it checked afresh
            }
            if !ok {
                known.rejected.insert(checked.token);
                continue;
            }
            self.push(Action::OpenRemotePeer {
                node: node.to_owned(),
                peer: latest,
                draining,
            });
        }
    }

    /// The virtual connection for remote peer `peer` of `node` is registered as `party`.
    pub(crate) fn remote_peer_opened(
        &mut self,
        node: &str,
        peer: PeerPresence,
        draining: bool,
        party: Party,
    ) {
        self.parties.insert(
            party,
            VirtualParty {
                node: node.to_owned(),
                kind: PartyKind::RemotePeer {
                    token: peer.token.clone(),
                    last: None,
                    refused: false,
                },
            },
        );
        match self.nodes.known.get_mut(node) {
            Some(known) => {
                known.peers.insert(peer.token.clone(), party);
                if let Some(VirtualParty {
                    kind: PartyKind::RemotePeer { last, .. },
                    ..
                }) = self.parties.get_mut(&party)
                {
                    *last = Some((peer, draining));
                }
                self.availability(party);
            }
            None => self.push(Action::Close(party)), // let go meanwhile
        }
    }

    /// The remote peer's availability as this node's matcher should see it: available only
    /// while its own node reports free capacity; our own chats and offers with it on top,
    /// since the matcher counts those against the capacity it is given.
    fn availability(&mut self, party: Party) {
        let Some(VirtualParty {
            kind:
                PartyKind::RemotePeer {
                    last: Some((peer, draining)),
                    refused,
                    ..
                },
            ..
        }) = self.parties.get(&party)
        else {
            return;
        };
        let ours = self.chat_of.keys().filter(|(p, _)| *p == party).count()
            + self.reservations.outgoing_of(party).count()
            + self.accepted.keys().filter(|(p, _)| *p == party).count();
        let capacity = (usize::from(peer.free) + ours).clamp(1, usize::from(MAX_CAPACITY));
        let status = if peer.available && peer.free > 0 && !*refused && !*draining {
            Availability::Available
        } else {
            Availability::Away
        };
        let action = ToHub::Availability {
            party,
            status,
            capacity: u16::try_from(capacity).unwrap_or(MAX_CAPACITY),
            topics: peer.topics.clone(),
            languages: peer.languages.clone(),
        };
        self.push(Action::Hub(action));
    }

    fn node_of(&self, party: Party) -> Option<Token> {
        self.parties.get(&party).map(|p| p.node.clone())
    }

    // ---- the inbox ----

    /// A message to this node's inbox.
    pub(crate) fn handle_node_message(&mut self, message: NodeMessage, now: Instant) {
        let _ = now;
        match message {
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
                self.reserve(offer, from, &peer, preferences, waited_ms);
            }
            NodeMessage::Withdraw { offer } => self.withdrawn(offer),
            NodeMessage::Matched { offer, chat, from } => self.matched(&offer, chat, from),
            NodeMessage::Declined { offer } => {
                if let Some(outgoing) = self.reservations.outgoing.remove(&offer) {
                    self.push(Action::Hub(ToHub::Decline {
                        party: outgoing.party,
                        offer: outgoing.offer,
                    }));
                }
            }
        }
    }

    /// The peer's node: a reservation of one unit of local peer `peer`.
    fn reserve(
        &mut self,
        reference: Token,
        from: Token,
        peer: &str,
        preferences: SeekPreferences,
        waited_ms: u64,
    ) {
        let found = if self.draining {
            None
        } else {
            self.local_by_token.get(peer).cloned()
        };
        let Some((peer, program)) = found else {
            self.push(Action::Answer {
                reference,
                granted: false,
            });
            return;
        };
        if self.reservations.take_early_withdrawal(&reference) {
            // The seeker's node gave up on it before it even arrived.
            self.push(Action::Answer {
                reference,
                granted: false,
            });
            return;
        }
        self.reservations.incoming.insert(
            reference.clone(),
            Incoming {
                from: from.clone(),
                peer,
                preferences,
                waited: Duration::from_millis(waited_ms),
                state: IncomingState::Opening,
                withdrawn: false,
            },
        );
        self.push(Action::OpenRemoteSeeker {
            reference,
            from,
            program,
        });
    }

    /// The peer's node: the remote seeker for `reference` is registered as `party` (or
    /// could not be: `None`).
    pub(crate) fn seeker_opened(&mut self, reference: &str, party: Option<Party>) {
        let Some(incoming) = self.reservations.incoming.get_mut(reference) else {
            if let Some(party) = party {
                self.push(Action::Close(party));
            }
            return;
        };
        let Some(party) = party else {
            self.reservations.incoming.remove(reference);
            self.answer(reference, false);
            return;
        };
        self.parties.insert(
            party,
            VirtualParty {
                node: incoming.from.clone(),
                kind: PartyKind::RemoteSeeker {
                    reference: reference.to_owned(),
                },
            },
        );
        if incoming.withdrawn {
            // Withdrawn while it was registered: never asked of the hub.
            incoming.state = IncomingState::Open { party };
            self.push(Action::Note(Note::GrantWithdrawn));
            self.push(Action::Close(party));
            self.answer(reference, false);
            return;
        }
        incoming.state = IncomingState::Granting { party };
        let action = ToHub::RemoteOffer {
            reference: reference.to_owned(),
            seeker: party,
            peer: incoming.peer,
            preferences: incoming.preferences.clone(),
            waited: incoming.waited,
            from: incoming.from.clone(),
        };
        self.push(Action::Hub(action));
    }

    fn answer(&mut self, reference: &str, granted: bool) {
        self.push(Action::Answer {
            reference: reference.to_owned(),
            granted,
        });
    }

    /// The peer's node: the hub's decision on `reference`.
    pub(crate) fn handle_grant(&mut self, reference: &str, granted: bool) {
        let Some(incoming) = self.reservations.incoming.get_mut(reference) else {
            return;
        };
        let IncomingState::Granting { party } = incoming.state else {
            return;
        };
        incoming.state = IncomingState::Open { party };
        if !granted || incoming.withdrawn {
            if granted {
                // The withdrawal crossed the hub's grant: undone (the remote seeker leaves,
                // so the hub ends its offer or chat and the capacity is free again).
                self.push(Action::Note(Note::GrantWithdrawn));
            }
            self.push(Action::Close(party));
            self.answer(reference, false);
            return;
        }
        self.answer(reference, true);
    }

    /// The peer's node: the seeker's node withdrew `reference`.
    fn withdrawn(&mut self, reference: Token) {
        let Some(incoming) = self.reservations.incoming.get_mut(&reference) else {
            self.reservations.remember_early_withdrawal(reference);
            return;
        };
        incoming.withdrawn = true;
        match incoming.state {
            IncomingState::Opening => {}
            IncomingState::Granting { party } | IncomingState::Open { party } => {
                self.push(Action::Close(party));
            }
        }
    }

    /// The seeker's node: the peer accepted; the chat exists on its node under `chat`.
    fn matched(&mut self, reference: &str, chat: Token, from: Token) {
        match self.reservations.outgoing.remove(reference) {
            Some(outgoing) => {
                if matches!(outgoing.state, OutgoingState::Requested { .. }) {
                    // The match proves the grant; its answer may come later or never.
                    self.push(Action::Note(Note::ReservationGranted));
                }
                // From now on what arrives on the chat's subject is held until the hub has
                // started the chat here.
                self.accepted
                    .insert((outgoing.party, outgoing.offer), chat.clone());
                self.push(Action::ExpectChat {
                    party: outgoing.party,
                    offer: outgoing.offer,
                    token: chat,
                });
                self.push(Action::Hub(ToHub::Accept {
                    party: outgoing.party,
                    offer: outgoing.offer,
                }));
            }
            None if !from.is_empty() => {
                // We gave up on this offer (timed out, withdrawn): the peer's node has a chat
                // nobody here will join. End it now rather than let it hold the capacity.
                self.push(Action::Note(Note::MatchedUnknown));
                self.push(Action::EndChat {
                    node: from,
                    chat,
                    reason: ChatEndReason::PartnerLeft,
                });
            }
            None => {}
        }
    }

    /// The seeker's node: how long the seeker of `offer` has waited (after
    /// `Action::AskWaited`); the reservation goes out now.
    pub(crate) fn handle_waited(&mut self, party: Party, offer: u32, waited: Duration, now: Instant) {
        let Some(reference) = self.reservations.outgoing_ref(party, offer) else {
            return; // withdrawn meanwhile: nothing was sent
        };
        let (Some(node), Some(PartyKind::RemotePeer { token, .. })) = (
            self.node_of(party),
            self.parties.get(&party).map(|p| &p.kind),
        ) else {
            return;
        };
        let peer = token.clone();
        let Some(outgoing) = self.reservations.outgoing.get_mut(&reference) else {
            return;
        };
        if outgoing.state != OutgoingState::AwaitingWait {
            return;
        }
        outgoing.state = OutgoingState::Requested {
            deadline: now + self.settings.request_timeout,
        };
        let message = NodeMessage::Reserve {
            offer: reference,
            from: self.me.clone(),
            peer,
            topic: outgoing.topic.clone(),
            language: outgoing.language.clone(),
            peer_role: None,
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        };
        self.push(Action::Request { node, message });
    }

    /// The seeker's node: the peer's node answered reservation `reference` (`None`: the
    /// request failed). Past the deadline the answer is moot (already withdrawn).
    pub(crate) fn handle_reserve_answer(&mut self, reference: &str, granted: Option<bool>) {
        let Some(outgoing) = self.reservations.outgoing.get_mut(reference) else {
            return;
        };
        if !matches!(outgoing.state, OutgoingState::Requested { .. }) {
            return;
        }
        match granted {
            Some(true) => {
                outgoing.state = OutgoingState::Granted;
                self.push(Action::Note(Note::ReservationGranted));
            }
            Some(false) => {
                let (party, offer) = (outgoing.party, outgoing.offer);
                self.reservations.outgoing.remove(reference);
                self.push(Action::Note(Note::ReservationRefused));
                self.refused(party, offer);
            }
            None => {
                // The request failed outright: as if unanswered.
                let (party, offer) = (outgoing.party, outgoing.offer);
                self.reservations.outgoing.remove(reference);
                self.push(Action::Note(Note::ReservationUnanswered));
                if let Some(node) = self.node_of(party) {
                    self.push(Action::ToNode {
                        node,
                        message: NodeMessage::Withdraw {
                            offer: reference.to_owned(),
                        },
                    });
                }
                self.refused(party, offer);
            }
        }
    }

    /// Someone else got the capacity: not a decline, no exclusion; the peer counts as full
    /// here until its next presence says otherwise.
    fn refused(&mut self, party: Party, offer: u32) {
        if let Some(VirtualParty {
            kind: PartyKind::RemotePeer { refused, .. },
            ..
        }) = self.parties.get_mut(&party)
        {
            *refused = true;
        }
        self.availability(party);
        self.push(Action::Hub(ToHub::OfferRefused { party, offer }));
    }

    // ---- the virtual connections ----

    /// What virtual connection `party` reports.
    pub(crate) fn handle_party(&mut self, party: Party, event: PartyEvent, now: Instant) {
        let _ = now;
        match event {
            PartyEvent::Offer {
                offer,
                topic,
                language,
            } => {
                if !matches!(
                    self.parties.get(&party).map(|p| &p.kind),
                    Some(PartyKind::RemotePeer { .. })
                ) {
                    return;
                }
                let reference = self.fresh();
                self.reservations.outgoing.insert(
                    reference,
                    Outgoing {
                        party,
                        offer,
                        topic,
                        language,
                        state: OutgoingState::AwaitingWait,
                    },
                );
                self.push(Action::AskWaited { party, offer });
            }
            PartyEvent::OfferWithdrawn { offer } => {
                if let Some(reference) = self.reservations.outgoing_ref(party, offer) {
                    if let Some(outgoing) = self.reservations.outgoing.remove(&reference)
                        && outgoing.state != OutgoingState::AwaitingWait
                        && let Some(node) = self.node_of(party)
                    {
                        self.push(Action::ToNode {
                            node,
                            message: NodeMessage::Withdraw { offer: reference },
                        });
                    }
                } else if let Some(chat) = self.accepted.remove(&(party, offer)) {
                    // The peer's node already opened the chat, but our seeker left before our
                    // hub started it: end it there, or the peer would hold it until the
                    // handshake timeout.
                    self.push(Action::UnbindChat(chat.clone()));
                    if let Some(node) = self.node_of(party) {
                        self.push(Action::EndChat {
                            node,
                            chat,
                            reason: ChatEndReason::PartnerLeft,
                        });
                    }
                }
            }
            PartyEvent::ChatStarted { offer, chat } => {
                if let Some(token) = self.accepted.remove(&(party, offer)) {
                    self.bind(party, chat, token);
                }
            }
            PartyEvent::Matched { chat, token } => {
                let Some(VirtualParty {
                    node,
                    kind: PartyKind::RemoteSeeker { reference },
                }) = self.parties.get(&party)
                else {
                    return;
                };
                let (node, reference) = (node.clone(), reference.clone());
                self.bind(party, chat, token.clone());
                if self
                    .reservations
                    .incoming
                    .get(&reference)
                    .is_none_or(|i| i.withdrawn)
                {
                    // Withdrawn: the party is closing and the hub ends the chat; the
                    // seeker's node never hears of it, so there is nothing to tell it.
                    if let Some(state) = self.chats.get_mut(&token) {
                        state.settled = true;
                    }
                    return;
                }
                self.push(Action::ToNode {
                    node,
                    message: NodeMessage::Matched {
                        offer: reference,
                        chat: token,
                        from: self.me.clone(),
                    },
                });
            }
            PartyEvent::Cancelled => {
                if let Some(VirtualParty {
                    node,
                    kind: PartyKind::RemoteSeeker { reference },
                }) = self.parties.get(&party)
                {
                    let message = NodeMessage::Declined {
                        offer: reference.clone(),
                    };
                    let node = node.clone();
                    self.push(Action::ToNode { node, message });
                }
            }
            PartyEvent::ChatEnded { chat, reason } => {
                if let Some(token) = self.chat_of.get(&(party, chat))
                    && let Some(state) = self.chats.get_mut(token)
                    && !state.settled
                {
                    state.settled = true;
                    let action = Action::EndChat {
                        node: state.node.clone(),
                        chat: token.clone(),
                        reason,
                    };
                    self.push(action);
                }
            }
            PartyEvent::ChatRemoved { chat } => self.forget_chat(party, chat),
            PartyEvent::Closed => self.closed(party),
        }
    }

    fn bind(&mut self, party: Party, chat: ChatNumber, token: Token) {
        let Some(node) = self.node_of(party) else {
            return;
        };
        self.chat_of.insert((party, chat), token.clone());
        self.chats.insert(
            token.clone(),
            Chat {
                node,
                number: chat,
                settled: false,
            },
        );
    }

    fn forget_chat(&mut self, party: Party, chat: ChatNumber) {
        if let Some(token) = self.chat_of.remove(&(party, chat)) {
            self.chats.remove(&token);
            self.push(Action::UnbindChat(token));
        }
    }

    /// An `end` arrived on chat `token`: the other side knows; ours is not sent back.
    pub(crate) fn handle_chat_end(&mut self, token: &str) {
        if let Some(chat) = self.chats.get_mut(token) {
            chat.settled = true;
        }
    }

    /// Virtual connection `party` ended while chats or offers with it may still be open on
    /// its node — most often because this node let that node go at the TTL, which happens
    /// to a node alive but heard late. The hub ends our halves; the other halves are told
    /// here, so no client there sits in a chat nobody writes to and no peer's capacity
    /// stays taken. (A node really gone hears nothing, and loses nothing by it.)
    fn closed(&mut self, party: Party) {
        let Some(info) = self.parties.remove(&party) else {
            return;
        };
        let mut chats: Vec<(ChatNumber, Token)> = self
            .chat_of
            .iter()
            .filter(|((p, _), _)| *p == party)
            .map(|((_, number), token)| (*number, token.clone()))
            .collect();
        chats.sort();
        for (number, token) in chats {
            if let Some(chat) = self.chats.remove(&token) {
                debug_assert_eq!(chat.number, number);
                if !chat.settled {
                    self.push(Action::EndChat {
                        node: chat.node,
                        chat: token.clone(),
                        reason: ChatEndReason::PartnerLeft,
                    });
                }
            }
            self.chat_of.remove(&(party, number));
            self.push(Action::UnbindChat(token));
        }
        match info.kind {
            PartyKind::RemotePeer { token, .. } => {
                // Granted on the peer's node, not started here: its chat is open there.
                let mut accepted: Vec<(u32, Token)> = self
                    .accepted
                    .iter()
                    .filter(|((p, _), _)| *p == party)
                    .map(|((_, offer), token)| (*offer, token.clone()))
                    .collect();
                accepted.sort();
                for (offer, chat) in accepted {
                    self.accepted.remove(&(party, offer));
                    self.push(Action::UnbindChat(chat.clone()));
                    self.push(Action::EndChat {
                        node: info.node.clone(),
                        chat,
                        reason: ChatEndReason::PartnerLeft,
                    });
                }
                let mut offers: Vec<(Token, OutgoingState)> = self
                    .reservations
                    .outgoing_of(party)
                    .map(|(reference, o)| (reference.clone(), o.state))
                    .collect();
                offers.sort_by(|a, b| a.0.cmp(&b.0));
                for (reference, state) in offers {
                    self.reservations.outgoing.remove(&reference);
                    if state != OutgoingState::AwaitingWait {
                        self.push(Action::ToNode {
                            node: info.node.clone(),
                            message: NodeMessage::Withdraw { offer: reference },
                        });
                    }
                }
                if let Some(known) = self.nodes.known.get_mut(&info.node)
                    && known.peers.get(&token) == Some(&party)
                {
                    known.peers.remove(&token);
                }
            }
            PartyKind::RemoteSeeker { reference } => {
                self.reservations.incoming.remove(&reference);
            }
        }
    }
}
