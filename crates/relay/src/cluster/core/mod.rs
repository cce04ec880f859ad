//! The cluster's decisions without I/O: presence, reservations, withdrawals, chat tokens
//! and failure detection as one state machine, in the manner of quinn-proto. The node task
//! (`cluster/node/`) feeds it what the broker delivers, what the virtual connections
//! report and the time, and carries out the [`Action`]s it queues (`poll_action`); it wakes
//! it at `poll_timeout`. Nothing here reads a clock, touches a socket, spawns a task or
//! takes a lock (`scripts/check-architecture` checks it), so every failure case runs as a
//! plain unit test (`tests.rs`) and many nodes run together in a seeded simulation
//! (`cluster/simulation/`).
//!
//! A file per idea: `nodes.rs` (membership and failure detection), `presence.rs` (peers
//! out and in), `reservations.rs` (capacity asked and granted, withdrawals, from both
//! ends), `chats.rs` (chat tokens, what virtual connections report, no half left behind).
//!
//! What stays outside: the broker connection, certificate checks (CPU on the blocking
//! pool), the virtual connections' data path (bounded per-chat queues, `chat_link`), and
//! the hub — whose matcher still decides every grant of a local peer's capacity and the
//! queue-head hold; this core hands it the inputs (`ToHub`).

mod chats;
mod nodes;
mod presence;
mod reservations;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use confidant_proto::{Availability, ChatEndReason, ChatNumber, SeekPreferences};

use self::nodes::Nodes;
use self::reservations::Reservations;
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
    /// Chats ended while the broker was gone: (node, chat), to end again when it is back.
    unsent_ends: Vec<(Token, Token)>,
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
            unsent_ends: Vec::new(),
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

    pub(super) fn push(&mut self, action: Action) {
        if !self.connected
            && let Action::EndChat { node, chat, .. } = &action
        {
            // Without the broker this `end` may never leave (NATS core keeps nothing for
            // us): said again once the broker is back.
            self.unsent_ends.push((node.clone(), chat.clone()));
        }
        self.actions.push_back(action);
    }

    pub(super) fn fresh(&mut self) -> Token {
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
    ///
    /// Back: every `end` this node decided while it was cut off goes out again. A node
    /// whose outage was shorter than the others' TTL is never let go by them, so nothing
    /// else would end their halves of the chats it ended; a second `end` of a chat the
    /// other side already ended is dropped there.
    pub(crate) fn handle_broker(&mut self, connected: bool) {
        let was = self.connected;
        self.connected = connected;
        if !connected {
            self.nodes.known.clear();
            self.close_all();
        } else if !was {
            for (node, chat) in std::mem::take(&mut self.unsent_ends) {
                self.push(Action::EndChat {
                    node,
                    chat,
                    reason: ChatEndReason::PartnerLeft,
                });
            }
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

    pub(super) fn node_of(&self, party: Party) -> Option<Token> {
        self.parties.get(&party).map(|p| p.node.clone())
    }
}
