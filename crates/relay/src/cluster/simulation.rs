//! A deterministic, seeded simulation of several nodes: each runs the real cluster core
//! (`cluster/core`); the broker, the hub and the clients are small models of their own.
//! Thousands of schedules — random arrivals, accepts, declines, chats, ends, cancels,
//! broker delays with spikes, a node that crashes, a node that falls silent past the TTL
//! and comes back, a node that loses the broker for a while, a node that drains and
//! leaves — each checked against the cross-node invariants:
//!
//! - **capacity**: on its own node, a peer's open offers and chats never exceed its
//!   capacity; every chat a seeker's node starts with a remote peer is one the peer's node
//!   granted and opened for that same seeker and peer, under its own token, bound once;
//! - **no chat with one half**: when the schedule settles, every cross-node chat half has
//!   its other half (or, its node dead, is gone); once every client has left, no node
//!   holds a chat, an offer, a reservation or a unit of capacity;
//! - **no misdelivered frame**: every data frame reaches the partner it was written for,
//!   in order.
//!
//! The broker keeps order per pair of nodes (as NATS does per connection) and reorders
//! across pairs; a node's own tasks talk through ordered queues with small random delays,
//! as its channels do. A failing schedule names its seed: replay it with
//! `CONFIDANT_SIM_SEED=<seed> cargo test -p confidant-relay --lib simulation`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use confidant_proto::{Availability, ChatEndReason, ChatNumber};

use super::core::{
    Action, ClusterCore, LocalPeer, Note, Party, PartyEvent, Settings, ToHub, Token,
};
use super::wire::{NodeMessage, Presence};

const HEARTBEAT: Duration = Duration::from_millis(200);
const TTL: Duration = Duration::from_millis(600);
const REQUEST: Duration = Duration::from_millis(300);

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn ms(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// A client, by a number unique in the simulation.
type Client = u32;

#[derive(Clone, Debug)]
enum ChatMsg {
    Data { from: Client, to: Client, seq: u32 },
    End(#[allow(dead_code)] ChatEndReason),
}

#[derive(Clone, Debug)]
enum Wire {
    Presence(Presence),
    Node(NodeMessage, Option<(usize, Token)>),
    Reply { reference: Token, granted: bool },
    Chat { token: Token, msg: ChatMsg },
}

#[derive(Clone, Debug)]
enum CoreIn {
    Party(Party, PartyEvent),
    Waited {
        party: Party,
        offer: u32,
    },
    Grant {
        reference: Token,
        granted: bool,
    },
    Verified {
        node: Token,
        peers: Vec<crate::cluster::wire::PeerPresence>,
    },
}

#[derive(Clone, Debug)]
enum HubIn {
    ToHub(ToHub),
    /// The virtual connection's task ended: the hub handles `Disconnected`.
    Disconnected(Party),
    /// The remote side ended this chat (its `end` drained from the chat's queue).
    RemoteEnded {
        party: Party,
        chat: ChatNumber,
    },
    /// A peer decides on an offer.
    PeerAnswer {
        peer: Party,
        offer: u32,
        accept: bool,
    },
    /// A client ends its chat, or a waiting seeker leaves.
    Leave(Party),
    /// A client sends a data frame in its chat.
    Send(Party),
    /// A new seeker.
    Seeker,
}

#[derive(Clone, Debug)]
enum Ev {
    Wire {
        from: usize,
        to: usize,
        wire: Wire,
    },
    Core {
        node: usize,
        input: CoreIn,
    },
    Hub {
        node: usize,
        input: HubIn,
    },
    Tick {
        node: usize,
    },
    /// The node loses the broker, or gets it back.
    Broker {
        node: usize,
        connected: bool,
    },
    /// The node drains (a rolling restart), then says its last word and stops.
    Drain {
        node: usize,
    },
    Leave {
        node: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeekerState {
    Waiting,
    Offered { peer: Party, offer: u32 },
    Chatting,
}

enum Conn {
    LocalPeer {
        client: Client,
        capacity: usize,
    },
    LocalSeeker {
        client: Client,
        state: SeekerState,
        excluded: HashSet<Party>,
    },
    VirtualPeer {
        status: Availability,
        capacity: usize,
        client: Client,
    },
    VirtualSeeker {
        client: Client,
    },
}

/// One chat in a hub model: two connections, each with its own chat number.
struct HubChat {
    seeker: (Party, ChatNumber),
    peer: (Party, ChatNumber),
}

struct Offer {
    seeker: Party,
    peer: Party,
}

/// One node: the real core, and models of its hub and its virtual connections.
struct SimNode {
    core: ClusterCore,
    name: Token,
    alive: bool,
    muted_until: Option<Instant>,
    /// Without the broker: nothing in or out.
    cut_off: bool,
    conns: BTreeMap<Party, Conn>,
    next_conn: u64,
    offers: BTreeMap<u32, Offer>,
    next_offer: u32,
    chats: Vec<HubChat>,
    next_chat: u32,
    /// Virtual connections: open, their chat tokens, tokens of accepted offers.
    parties_open: HashSet<Party>,
    token_of_chat: HashMap<(Party, ChatNumber), Token>,
    accepted: HashMap<(Party, u32), Token>,
    /// The shell: bound chats and what is held for expected ones.
    bound: HashMap<Token, (Party, ChatNumber)>,
    early: HashMap<Token, Vec<ChatMsg>>,
    /// Reply subjects: reference → asking node.
    replies: HashMap<Token, usize>,
    /// Data frames written and read, per (sender, recipient).
    seq_out: HashMap<(Client, Client), u32>,
    seq_in: HashMap<(Client, Client), u32>,
}

struct World {
    rng: Rng,
    start: Instant,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    /// FIFO channels: the last time scheduled on each.
    fifo: HashMap<(u8, usize, usize), Instant>,
    nodes: Vec<SimNode>,
    next_client: Client,
    /// Which client a presence token or a reservation reference stands for.
    client_of_peer_token: HashMap<Token, Client>,
    client_of_reference: HashMap<Token, Client>,
    capacity_of: HashMap<Client, usize>,
    /// Chat token → (seeker, peer) as the peer's node opened it; and bindings seen.
    opened: HashMap<Token, (Client, Client)>,
    bound_on_seeker_side: HashSet<Token>,
    active: bool,
    violations: Vec<String>,
    /// `CONFIDANT_SIM_TRACE=1`: print every event (with one seed).
    trace: bool,
    stats: Stats,
}

/// What the schedules exercised, so a simulation that stopped reaching the hard cases
/// fails instead of passing quietly.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    cross_node_chats: u64,
    frames_delivered: u64,
    ends_held_for_unbound_chats: u64,
    reservations_unanswered: u64,
    grants_withdrawn: u64,
    matched_unknown: u64,
    nodes_lost: u64,
    nodes_returned: u64,
    nodes_left: u64,
    brokers_lost: u64,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        self.cross_node_chats += other.cross_node_chats;
        self.frames_delivered += other.frames_delivered;
        self.ends_held_for_unbound_chats += other.ends_held_for_unbound_chats;
        self.reservations_unanswered += other.reservations_unanswered;
        self.grants_withdrawn += other.grants_withdrawn;
        self.matched_unknown += other.matched_unknown;
        self.nodes_lost += other.nodes_lost;
        self.nodes_returned += other.nodes_returned;
        self.nodes_left += other.nodes_left;
        self.brokers_lost += other.brokers_lost;
    }
}

impl World {
    fn new(seed: u64, nodes: usize) -> Self {
        let start = Instant::now();
        let mut world = World {
            rng: Rng(seed),
            start,
            now: start,
            queue: BTreeMap::new(),
            seq: 0,
            fifo: HashMap::new(),
            nodes: Vec::new(),
            next_client: 1,
            client_of_peer_token: HashMap::new(),
            client_of_reference: HashMap::new(),
            capacity_of: HashMap::new(),
            opened: HashMap::new(),
            bound_on_seeker_side: HashSet::new(),
            active: true,
            violations: Vec::new(),
            trace: std::env::var_os("CONFIDANT_SIM_TRACE").is_some(),
            stats: Stats::default(),
        };
        for n in 0..nodes {
            let name = format!("n{n}");
            let prefix = name.clone();
            let mut counter = 0u64;
            let tokens = Box::new(move || {
                counter += 1;
                format!("{prefix}.{counter}")
            });
            let settings = Settings {
                heartbeat: HEARTBEAT,
                node_ttl: TTL,
                request_timeout: REQUEST,
            };
            // Nodes start a little apart, so their heartbeats do not line up.
            let first = start + world.rng.ms(0, 150);
            let core = ClusterCore::new(name.clone(), settings, tokens, first);
            world.nodes.push(SimNode {
                core,
                name,
                alive: true,
                muted_until: None,
                cut_off: false,
                conns: BTreeMap::new(),
                next_conn: 1,
                offers: BTreeMap::new(),
                next_offer: 1,
                chats: Vec::new(),
                next_chat: 1,
                parties_open: HashSet::new(),
                token_of_chat: HashMap::new(),
                accepted: HashMap::new(),
                bound: HashMap::new(),
                early: HashMap::new(),
                replies: HashMap::new(),
                seq_out: HashMap::new(),
                seq_in: HashMap::new(),
            });
            world.at(first, Ev::Tick { node: n });
        }
        world
    }

    fn at(&mut self, when: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((when, self.seq), ev);
    }

    /// Schedules on an ordered channel: never before what was scheduled on it earlier.
    fn fifo(&mut self, channel: (u8, usize, usize), delay: Duration, ev: Ev) {
        let earliest = self.now + delay;
        let when = match self.fifo.get(&channel) {
            Some(last) if *last > earliest => *last,
            _ => earliest,
        };
        self.fifo.insert(channel, when);
        self.at(when, ev);
    }

    fn wire(&mut self, from: usize, to: usize, wire: Wire) {
        if !self.nodes[from].alive || self.nodes[from].cut_off || self.nodes[to].cut_off {
            return;
        }
        let delay = if self.rng.chance(3) {
            self.rng.ms(100, 450) // a slow broker path: reservations time out, nodes look lost
        } else {
            self.rng.ms(1, 15)
        };
        self.fifo((0, from, to), delay, Ev::Wire { from, to, wire });
    }

    fn tell_core(&mut self, node: usize, input: CoreIn) {
        let delay = self.rng.ms(0, 3);
        self.fifo((1, node, 0), delay, Ev::Core { node, input });
    }

    fn tell_hub(&mut self, node: usize, input: HubIn) {
        let delay = self.rng.ms(0, 3);
        self.fifo((2, node, 0), delay, Ev::Hub { node, input });
    }

    fn later(&mut self, node: usize, delay: Duration, input: HubIn) {
        let when = self.now + delay;
        self.at(when, Ev::Hub { node, input });
    }

    fn violation(&mut self, what: String) {
        self.violations
            .push(format!("at {:?}: {what}", self.now - self.start));
    }

    // ---- setting up ----

    fn add_peer(&mut self, node: usize, capacity: usize) {
        let client = self.next_client;
        self.next_client += 1;
        self.capacity_of.insert(client, capacity);
        let n = &mut self.nodes[node];
        let party = Party(n.next_conn);
        n.next_conn += 1;
        n.conns.insert(party, Conn::LocalPeer { client, capacity });
    }

    fn add_seeker(&mut self, node: usize) {
        let client = self.next_client;
        self.next_client += 1;
        let n = &mut self.nodes[node];
        let party = Party(n.next_conn);
        n.next_conn += 1;
        n.conns.insert(
            party,
            Conn::LocalSeeker {
                client,
                state: SeekerState::Waiting,
                excluded: HashSet::new(),
            },
        );
        self.dispatch(node);
        // Some leave while they wait, or during their chat.
        if self.rng.chance(20) {
            let after = self.rng.ms(10, 1500);
            self.later(node, after, HubIn::Leave(party));
        }
    }

    // ---- running ----

    fn run_until(&mut self, until: Instant) {
        while let Some((&(when, seq), _)) = self.queue.first_key_value() {
            if when > until {
                break;
            }
            let ev = self.queue.remove(&(when, seq)).unwrap();
            self.now = when;
            if self.trace {
                eprintln!("{:>6?} {ev:?}", when - self.start);
            }
            self.handle(ev);
            self.check_capacity();
        }
        self.now = until;
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Broker { node, connected } => {
                if self.nodes[node].alive {
                    self.nodes[node].cut_off = !connected;
                    self.nodes[node].core.handle_broker(connected);
                    self.carry_out(node);
                }
            }
            Ev::Drain { node } => self.nodes[node].core.set_draining(true),
            Ev::Leave { node } => {
                if self.nodes[node].alive {
                    self.nodes[node].core.leave();
                    self.carry_out(node);
                    self.nodes[node].alive = false;
                    self.stats.nodes_left += 1;
                }
            }
            Ev::Wire { from, to, wire } => {
                if !self.nodes[to].alive || self.nodes[to].cut_off {
                    return;
                }
                let _ = from;
                self.on_wire(to, wire);
            }
            Ev::Core { node, input } => {
                if self.nodes[node].alive {
                    self.on_core_input(node, input);
                }
            }
            Ev::Hub { node, input } => {
                if self.nodes[node].alive {
                    self.on_hub(node, input);
                }
            }
            Ev::Tick { node } => {
                if !self.nodes[node].alive {
                    return;
                }
                let now = self.now;
                self.nodes[node].core.handle_timeout(now);
                self.carry_out(node);
                let next = self.nodes[node]
                    .core
                    .poll_timeout()
                    .max(now + Duration::from_millis(1));
                self.at(next, Ev::Tick { node });
            }
        }
    }

    fn on_wire(&mut self, to: usize, wire: Wire) {
        let now = self.now;
        match wire {
            Wire::Presence(p) => self.nodes[to].core.handle_presence(p, now),
            Wire::Node(message, reply) => {
                if let (NodeMessage::Reserve { offer, .. }, Some((asker, _))) = (&message, &reply) {
                    self.nodes[to].replies.insert(offer.clone(), *asker);
                }
                self.nodes[to].core.handle_node_message(message, now);
            }
            Wire::Reply { reference, granted } => {
                self.nodes[to]
                    .core
                    .handle_reserve_answer(&reference, Some(granted));
            }
            Wire::Chat { token, msg } => {
                if matches!(msg, ChatMsg::End(_)) {
                    self.nodes[to].core.handle_chat_end(&token);
                }
                match self.nodes[to].bound.get(&token).copied() {
                    Some((party, chat)) => self.chat_arrived(to, party, chat, msg),
                    None => {
                        if let Some(held) = self.nodes[to].early.get_mut(&token) {
                            held.push(msg);
                        }
                    }
                }
            }
        }
        self.carry_out(to);
    }

    fn chat_arrived(&mut self, node: usize, party: Party, chat: ChatNumber, msg: ChatMsg) {
        match msg {
            ChatMsg::End(_) => self.tell_hub(node, HubIn::RemoteEnded { party, chat }),
            ChatMsg::Data { from, to, seq } => {
                let n = &self.nodes[node];
                let Some(hub_chat) = n
                    .chats
                    .iter()
                    .find(|c| c.seeker == (party, chat) || c.peer == (party, chat))
                else {
                    return; // the chat ended here meanwhile
                };
                let local = if hub_chat.seeker.0 == party {
                    hub_chat.peer.0
                } else {
                    hub_chat.seeker.0
                };
                let local_client = client_of(&n.conns, local);
                let remote_client = client_of(&n.conns, party);
                if local_client != Some(to) || remote_client != Some(from) {
                    self.violation(format!(
                        "frame from {from} to {to} delivered on {} to {local_client:?} (partner {remote_client:?})",
                        n.name
                    ));
                    return;
                }
                self.stats.frames_delivered += 1;
                let last = self.nodes[node].seq_in.insert((from, to), seq).unwrap_or(0);
                if seq <= last {
                    self.violation(format!("frame {seq} from {from} to {to} after {last}"));
                }
            }
        }
    }

    fn on_core_input(&mut self, node: usize, input: CoreIn) {
        let now = self.now;
        let core = &mut self.nodes[node].core;
        match input {
            CoreIn::Party(party, event) => core.handle_party(party, event, now),
            CoreIn::Waited { party, offer } => {
                let waited = Duration::from_millis(self.rng.below(500));
                self.nodes[node]
                    .core
                    .handle_waited(party, offer, waited, now);
            }
            CoreIn::Grant { reference, granted } => core.handle_grant(&reference, granted),
            CoreIn::Verified { node: from, peers } => {
                let results = peers.into_iter().map(|p| (p, true)).collect();
                core.handle_verified(&from, results);
            }
        }
        self.carry_out(node);
    }

    /// The node task: carries out the core's actions.
    fn carry_out(&mut self, node: usize) {
        while let Some(action) = self.nodes[node].core.poll_action() {
            self.act(node, action);
        }
    }

    fn broadcast(&mut self, node: usize, wire: Wire) {
        for to in 0..self.nodes.len() {
            self.wire(node, to, wire.clone());
        }
    }

    fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn act(&mut self, node: usize, action: Action) {
        match action {
            Action::SnapshotPresence => {
                if self.nodes[node]
                    .muted_until
                    .is_some_and(|until| self.now < until)
                {
                    return;
                }
                let n = &self.nodes[node];
                let mut peers = Vec::new();
                for (party, conn) in &n.conns {
                    if let Conn::LocalPeer { capacity, .. } = conn {
                        let load = n.offers.values().filter(|o| o.peer == *party).count()
                            + n.chats.iter().filter(|c| c.peer.0 == *party).count();
                        peers.push(LocalPeer {
                            party: *party,
                            program: "p".to_owned(),
                            issuer_certificate: vec![1],
                            supporter_certificate: vec![2],
                            available: true,
                            free: u16::try_from(capacity.saturating_sub(load)).unwrap(),
                            topics: Vec::new(),
                            languages: Vec::new(),
                        });
                    }
                }
                self.nodes[node]
                    .core
                    .send_presence(peers, Vec::new(), Vec::new());
            }
            Action::Presence(presence) => {
                // Record which client each token stands for (the core maps party → token).
                for (party, conn) in &self.nodes[node].conns {
                    if let Conn::LocalPeer { client, .. } = conn
                        && let Some(token) = self.nodes[node].core.local_token(*party)
                    {
                        self.client_of_peer_token.insert(token, *client);
                    }
                }
                self.broadcast(node, Wire::Presence(presence));
            }
            Action::ToNode { node: to, message } => {
                if let Some(to) = self.node_index(&to) {
                    self.wire(node, to, Wire::Node(message, None));
                }
            }
            Action::Request { node: to, message } => {
                if let NodeMessage::Reserve { offer, .. } = &message
                    && let Some(client) = self.seeker_of_reservation(node, offer)
                {
                    self.client_of_reference.insert(offer.clone(), client);
                }
                if let (Some(to), NodeMessage::Reserve { offer, .. }) =
                    (self.node_index(&to), &message)
                {
                    let reply = Some((node, offer.clone()));
                    self.wire(node, to, Wire::Node(message, reply));
                }
            }
            Action::Answer { reference, granted } => {
                if let Some(asker) = self.nodes[node].replies.remove(&reference) {
                    self.wire(node, asker, Wire::Reply { reference, granted });
                }
            }
            Action::EndChat {
                node: to,
                chat,
                reason,
            } => {
                if let Some(to) = self.node_index(&to) {
                    self.wire(
                        node,
                        to,
                        Wire::Chat {
                            token: chat,
                            msg: ChatMsg::End(reason),
                        },
                    );
                }
            }
            Action::Verify { node: from, peers } => {
                self.tell_core(node, CoreIn::Verified { node: from, peers });
            }
            Action::OpenRemotePeer {
                node: from,
                peer,
                draining,
            } => {
                let client = self
                    .client_of_peer_token
                    .get(&peer.token)
                    .copied()
                    .unwrap_or(0);
                let n = &mut self.nodes[node];
                let party = Party(n.next_conn);
                n.next_conn += 1;
                n.conns.insert(
                    party,
                    Conn::VirtualPeer {
                        status: Availability::Away,
                        capacity: 1,
                        client,
                    },
                );
                n.parties_open.insert(party);
                n.core.remote_peer_opened(&from, peer, draining, party);
            }
            Action::OpenRemoteSeeker { reference, .. } => {
                let client = self
                    .client_of_reference
                    .get(&reference)
                    .copied()
                    .unwrap_or(0);
                let n = &mut self.nodes[node];
                let party = Party(n.next_conn);
                n.next_conn += 1;
                n.conns.insert(party, Conn::VirtualSeeker { client });
                n.parties_open.insert(party);
                n.core.seeker_opened(&reference, Some(party));
            }
            Action::AskWaited { party, offer } => {
                self.tell_core(node, CoreIn::Waited { party, offer })
            }
            Action::Hub(to_hub) => self.tell_hub(node, HubIn::ToHub(to_hub)),
            Action::Close(party) => self.close_party(node, party),
            Action::ExpectChat {
                party,
                offer,
                token,
            } => {
                let n = &mut self.nodes[node];
                n.early.entry(token.clone()).or_default();
                if n.parties_open.contains(&party) {
                    n.accepted.insert((party, offer), token);
                }
            }
            Action::UnbindChat(token) => {
                let n = &mut self.nodes[node];
                n.bound.remove(&token);
                n.early.remove(&token);
            }
            Action::Note(note) => {
                let stats = &mut self.stats;
                match note {
                    Note::NodeLost => stats.nodes_lost += 1,
                    Note::NodeReturned => stats.nodes_returned += 1,
                    Note::ReservationUnanswered => stats.reservations_unanswered += 1,
                    Note::GrantWithdrawn => stats.grants_withdrawn += 1,
                    Note::MatchedUnknown => stats.matched_unknown += 1,
                    _ => {}
                }
            }
        }
    }

    /// Which local seeker holds the offer behind reservation `reference` (by the core's
    /// outgoing table, read through the hub model: the seeker offered to that party).
    fn seeker_of_reservation(&self, node: usize, reference: &str) -> Option<Client> {
        let (party, offer) = self.nodes[node].core.reservation_of(reference)?;
        self.nodes[node].conns.values().find_map(|c| match c {
            Conn::LocalSeeker {
                client,
                state: SeekerState::Offered { peer, offer: o },
                ..
            } if *peer == party && *o == offer => Some(*client),
            _ => None,
        })
    }

    /// The virtual connection's task ends: it reports `Closed`, the hub disconnects it.
    fn close_party(&mut self, node: usize, party: Party) {
        if !self.nodes[node].parties_open.remove(&party) {
            return;
        }
        self.nodes[node]
            .token_of_chat
            .retain(|(p, _), _| *p != party);
        self.tell_core(node, CoreIn::Party(party, PartyEvent::Closed));
        self.tell_hub(node, HubIn::Disconnected(party));
    }

    /// A frame the hub queues for virtual connection `party`: its task reports it to the
    /// core (binding the chat's token first where it must).
    fn frame_to_party(&mut self, node: usize, party: Party, event: PartyEvent) {
        if !self.nodes[node].parties_open.contains(&party) {
            return;
        }
        let event = match event {
            PartyEvent::ChatStarted { offer, chat } => {
                let Some(token) = self.nodes[node].accepted.remove(&(party, offer)) else {
                    return;
                };
                self.bind(node, party, chat, token);
                PartyEvent::ChatStarted { offer, chat }
            }
            PartyEvent::Matched { chat, .. } => {
                let token = format!("{}.chat{}", self.nodes[node].name, self.seq);
                self.bind(node, party, chat, token.clone());
                PartyEvent::Matched { chat, token }
            }
            PartyEvent::OfferWithdrawn { offer } => {
                self.nodes[node].accepted.remove(&(party, offer));
                PartyEvent::OfferWithdrawn { offer }
            }
            other => other,
        };
        let stops = matches!(event, PartyEvent::Cancelled);
        self.tell_core(node, CoreIn::Party(party, event));
        if stops {
            self.close_party(node, party);
        }
    }

    fn bind(&mut self, node: usize, party: Party, chat: ChatNumber, token: Token) {
        let n = &mut self.nodes[node];
        let Some(hub_chat) = n
            .chats
            .iter()
            .find(|c| c.seeker == (party, chat) || c.peer == (party, chat))
        else {
            return;
        };
        let seeker = client_of(&n.conns, hub_chat.seeker.0);
        let peer = client_of(&n.conns, hub_chat.peer.0);
        n.token_of_chat.insert((party, chat), token.clone());
        n.bound.insert(token.clone(), (party, chat));
        let held = n.early.remove(&token).unwrap_or_default();
        let (Some(seeker), Some(peer)) = (seeker, peer) else {
            return;
        };
        if matches!(n.conns.get(&party), Some(Conn::VirtualSeeker { .. })) {
            // The peer's node opens the chat: the one record of who is in it.
            if self.opened.insert(token.clone(), (seeker, peer)).is_some() {
                self.violation(format!("chat token {token} opened twice"));
            }
        } else {
            self.stats.cross_node_chats += 1;
            if held.iter().any(|m| matches!(m, ChatMsg::End(_))) {
                self.stats.ends_held_for_unbound_chats += 1;
            }
            if !self.bound_on_seeker_side.insert(token.clone()) {
                self.violation(format!(
                    "chat token {token} bound twice on the seeker's node"
                ));
            }
            match self.opened.get(&token) {
                Some(pair) if *pair == (seeker, peer) => {}
                other => self.violation(format!(
                    "seeker {seeker} started a chat with peer {peer} under {token}, which the peer's node opened for {other:?}"
                )),
            }
        }
        for msg in held {
            self.chat_arrived(node, party, chat, msg);
        }
    }

    // ---- the hub model ----

    fn on_hub(&mut self, node: usize, input: HubIn) {
        match input {
            HubIn::ToHub(to_hub) => self.on_to_hub(node, to_hub),
            HubIn::Disconnected(party) => self.disconnect(node, party),
            HubIn::RemoteEnded { party, chat } => {
                if let Some(at) = self.nodes[node]
                    .chats
                    .iter()
                    .position(|c| c.seeker == (party, chat) || c.peer == (party, chat))
                {
                    self.end_chat(node, at);
                }
            }
            HubIn::PeerAnswer {
                peer,
                offer,
                accept,
            } => {
                let Some(o) = self.nodes[node].offers.get(&offer) else {
                    return; // withdrawn meanwhile
                };
                if o.peer != peer {
                    return;
                }
                if accept {
                    self.start_chat(node, offer);
                } else {
                    let o = self.nodes[node].offers.remove(&offer).unwrap();
                    self.seeker_offer_ended(node, o.seeker, o.peer, true);
                }
            }
            HubIn::Leave(party) => self.leave(node, party),
            HubIn::Send(party) => self.send(node, party),
            HubIn::Seeker => {
                if self.active {
                    self.add_seeker(node);
                }
            }
        }
        self.dispatch(node);
    }

    fn on_to_hub(&mut self, node: usize, to_hub: ToHub) {
        match to_hub {
            ToHub::Availability {
                party,
                status: s,
                capacity: c,
                ..
            } => {
                if let Some(Conn::VirtualPeer {
                    status, capacity, ..
                }) = self.nodes[node].conns.get_mut(&party)
                {
                    *status = s;
                    *capacity = usize::from(c);
                }
            }
            ToHub::Accept { party, offer } => {
                if self.nodes[node]
                    .offers
                    .get(&offer)
                    .is_some_and(|o| o.peer == party)
                {
                    self.start_chat(node, offer);
                }
            }
            ToHub::Decline { party, offer } | ToHub::OfferRefused { party, offer } => {
                if self.nodes[node]
                    .offers
                    .get(&offer)
                    .is_some_and(|o| o.peer == party)
                {
                    let o = self.nodes[node].offers.remove(&offer).unwrap();
                    // A decline excludes the peer for the seeker; a refusal does not.
                    let exclude = matches!(to_hub, ToHub::Decline { .. });
                    self.seeker_offer_ended(node, o.seeker, o.peer, exclude);
                }
            }
            ToHub::RemoteOffer {
                reference,
                seeker,
                peer,
                ..
            } => {
                let n = &self.nodes[node];
                let room = match n.conns.get(&peer) {
                    Some(Conn::LocalPeer { capacity, .. }) => {
                        let load = n.offers.values().filter(|o| o.peer == peer).count()
                            + n.chats.iter().filter(|c| c.peer.0 == peer).count();
                        load < *capacity
                    }
                    _ => false,
                };
                let granted = room && n.conns.contains_key(&seeker);
                if granted {
                    self.make_offer(node, seeker, peer);
                }
                self.tell_core(node, CoreIn::Grant { reference, granted });
            }
            ToHub::RemoteHeads { .. } => {}
        }
    }

    fn make_offer(&mut self, node: usize, seeker: Party, peer: Party) {
        let n = &mut self.nodes[node];
        let offer = n.next_offer;
        n.next_offer += 1;
        n.offers.insert(offer, Offer { seeker, peer });
        if let Some(Conn::LocalSeeker { state, .. }) = n.conns.get_mut(&seeker) {
            *state = SeekerState::Offered { peer, offer };
        }
        match n.conns.get(&peer) {
            Some(Conn::LocalPeer { .. }) => {
                // The peer answers: mostly accepts, sometimes at once (auto-accept).
                let accept = self.rng.chance(80);
                let after = if self.rng.chance(30) {
                    Duration::ZERO
                } else {
                    self.rng.ms(1, 120)
                };
                self.later(
                    node,
                    after,
                    HubIn::PeerAnswer {
                        peer,
                        offer,
                        accept,
                    },
                );
            }
            Some(Conn::VirtualPeer { .. }) => {
                self.frame_to_party(
                    node,
                    peer,
                    PartyEvent::Offer {
                        offer,
                        topic: None,
                        language: None,
                    },
                );
            }
            _ => {}
        }
    }

    fn start_chat(&mut self, node: usize, offer: u32) {
        let n = &mut self.nodes[node];
        let Some(o) = n.offers.remove(&offer) else {
            return;
        };
        let (seeker_chat, peer_chat) = (ChatNumber(n.next_chat), ChatNumber(n.next_chat + 1));
        n.next_chat += 2;
        n.chats.push(HubChat {
            seeker: (o.seeker, seeker_chat),
            peer: (o.peer, peer_chat),
        });
        if let Some(Conn::LocalSeeker { state, .. }) = n.conns.get_mut(&o.seeker) {
            *state = SeekerState::Chatting;
        }
        // What each side is told; a virtual party's task binds the chat's token.
        if matches!(n.conns.get(&o.peer), Some(Conn::VirtualPeer { .. })) {
            self.frame_to_party(
                node,
                o.peer,
                PartyEvent::ChatStarted {
                    offer,
                    chat: peer_chat,
                },
            );
        }
        if matches!(
            self.nodes[node].conns.get(&o.seeker),
            Some(Conn::VirtualSeeker { .. })
        ) {
            self.frame_to_party(
                node,
                o.seeker,
                PartyEvent::Matched {
                    chat: seeker_chat,
                    token: String::new(),
                },
            );
        }
        // The local clients talk a while, then one of them ends.
        for side in [o.seeker, o.peer] {
            if matches!(
                self.nodes[node].conns.get(&side),
                Some(Conn::LocalSeeker { .. } | Conn::LocalPeer { .. })
            ) {
                for k in 0..self.rng.below(4) {
                    let after = self.rng.ms(5, 60) * u32::try_from(k + 1).unwrap();
                    self.later(node, after, HubIn::Send(side));
                }
            }
        }
        let local_seeker = matches!(
            self.nodes[node].conns.get(&o.seeker),
            Some(Conn::LocalSeeker { .. })
        );
        let ender = if local_seeker && self.rng.chance(50) {
            o.seeker
        } else {
            o.peer
        };
        if matches!(
            self.nodes[node].conns.get(&ender),
            Some(Conn::LocalSeeker { .. } | Conn::LocalPeer { .. })
        ) {
            let after = self.rng.ms(100, 900);
            self.later(node, after, HubIn::Leave(ender));
        }
    }

    /// An offer ended without a chat: the seeker waits again (a local one) or is told
    /// (a remote one, whose task then ends).
    fn seeker_offer_ended(&mut self, node: usize, seeker: Party, peer: Party, exclude: bool) {
        match self.nodes[node].conns.get_mut(&seeker) {
            Some(Conn::LocalSeeker {
                state, excluded, ..
            }) => {
                *state = SeekerState::Waiting;
                if exclude {
                    excluded.insert(peer);
                }
            }
            Some(Conn::VirtualSeeker { .. }) => {
                self.frame_to_party(node, seeker, PartyEvent::Cancelled)
            }
            _ => {}
        }
    }

    /// Offers each waiting local seeker to the first peer with room (FCFS, local and
    /// remote peers alike, as the matcher sees them).
    fn dispatch(&mut self, node: usize) {
        if !self.active {
            return;
        }
        let waiting: Vec<Party> = self.nodes[node]
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(
                    c,
                    Conn::LocalSeeker {
                        state: SeekerState::Waiting,
                        ..
                    }
                )
            })
            .map(|(p, _)| *p)
            .collect();
        for seeker in waiting {
            let n = &self.nodes[node];
            let Some(Conn::LocalSeeker { excluded, .. }) = n.conns.get(&seeker) else {
                continue;
            };
            let peer = n.conns.iter().find_map(|(party, c)| {
                let (capacity, available) = match c {
                    Conn::LocalPeer { capacity, .. } => (*capacity, true),
                    Conn::VirtualPeer {
                        status, capacity, ..
                    } => (*capacity, *status == Availability::Available),
                    _ => return None,
                };
                let load = n.offers.values().filter(|o| o.peer == *party).count()
                    + n.chats.iter().filter(|c| c.peer.0 == *party).count();
                (available && load < capacity && !excluded.contains(party)).then_some(*party)
            });
            if let Some(peer) = peer {
                self.make_offer(node, seeker, peer);
            }
        }
    }

    fn end_chat(&mut self, node: usize, at: usize) {
        let chat = self.nodes[node].chats.remove(at);
        for (party, number) in [chat.seeker, chat.peer] {
            match self.nodes[node].conns.get(&party) {
                Some(Conn::VirtualPeer { .. } | Conn::VirtualSeeker { .. }) => {
                    self.frame_to_party(
                        node,
                        party,
                        PartyEvent::ChatEnded {
                            chat: number,
                            reason: ChatEndReason::PartnerEnded,
                        },
                    );
                    if self.nodes[node].parties_open.contains(&party) {
                        self.nodes[node].token_of_chat.remove(&(party, number));
                        self.tell_core(
                            node,
                            CoreIn::Party(party, PartyEvent::ChatRemoved { chat: number }),
                        );
                        if matches!(
                            self.nodes[node].conns.get(&party),
                            Some(Conn::VirtualSeeker { .. })
                        ) {
                            self.close_party(node, party); // one chat per remote seeker
                        }
                    }
                }
                Some(Conn::LocalSeeker { .. }) => {
                    self.nodes[node].conns.remove(&party); // a seeker whose chat ended is done
                }
                _ => {}
            }
        }
    }

    /// A client leaves: its chats end, its offer is withdrawn; a seeker is gone.
    fn leave(&mut self, node: usize, party: Party) {
        while let Some(at) = self.nodes[node]
            .chats
            .iter()
            .position(|c| c.seeker.0 == party || c.peer.0 == party)
        {
            self.end_chat(node, at);
        }
        if let Some(Conn::LocalSeeker {
            state: SeekerState::Offered { peer, offer },
            ..
        }) = self.nodes[node].conns.get(&party)
        {
            let (peer, offer) = (*peer, *offer);
            self.nodes[node].offers.remove(&offer);
            if matches!(
                self.nodes[node].conns.get(&peer),
                Some(Conn::VirtualPeer { .. })
            ) {
                self.frame_to_party(node, peer, PartyEvent::OfferWithdrawn { offer });
            }
        }
        if matches!(
            self.nodes[node].conns.get(&party),
            Some(Conn::LocalSeeker { .. })
        ) {
            self.nodes[node].conns.remove(&party);
        }
    }

    /// The hub handles a virtual connection's `Disconnected`.
    fn disconnect(&mut self, node: usize, party: Party) {
        while let Some(at) = self.nodes[node]
            .chats
            .iter()
            .position(|c| c.seeker.0 == party || c.peer.0 == party)
        {
            let chat = self.nodes[node].chats.remove(at);
            for side in [chat.seeker.0, chat.peer.0] {
                if side != party
                    && matches!(
                        self.nodes[node].conns.get(&side),
                        Some(Conn::LocalSeeker { .. })
                    )
                {
                    self.nodes[node].conns.remove(&side);
                }
            }
        }
        let offers: Vec<u32> = self.nodes[node]
            .offers
            .iter()
            .filter(|(_, o)| o.seeker == party || o.peer == party)
            .map(|(n, _)| *n)
            .collect();
        for offer in offers {
            let o = self.nodes[node].offers.remove(&offer).unwrap();
            if o.peer == party {
                self.seeker_offer_ended(node, o.seeker, o.peer, false);
            }
        }
        self.nodes[node].conns.remove(&party);
    }

    fn send(&mut self, node: usize, party: Party) {
        let n = &self.nodes[node];
        let Some(chat) = n
            .chats
            .iter()
            .find(|c| c.seeker.0 == party || c.peer.0 == party)
        else {
            return;
        };
        let (other, other_chat) = if chat.seeker.0 == party {
            chat.peer
        } else {
            chat.seeker
        };
        let (Some(from), Some(to)) = (client_of(&n.conns, party), client_of(&n.conns, other))
        else {
            return;
        };
        let Some(token) = n.token_of_chat.get(&(other, other_chat)).cloned() else {
            return; // a local chat, or not bound yet
        };
        let Some(remote) = n
            .core
            .node_of_party(other)
            .and_then(|name| self.node_index(&name))
        else {
            return;
        };
        let seq = {
            let s = self.nodes[node].seq_out.entry((from, to)).or_insert(0);
            *s += 1;
            *s
        };
        self.wire(
            node,
            remote,
            Wire::Chat {
                token,
                msg: ChatMsg::Data { from, to, seq },
            },
        );
    }

    // ---- invariants ----

    fn check_capacity(&mut self) {
        let mut problems = Vec::new();
        for n in &self.nodes {
            for (party, conn) in &n.conns {
                if let Conn::LocalPeer { client, capacity } = conn {
                    let load = n.offers.values().filter(|o| o.peer == *party).count()
                        + n.chats.iter().filter(|c| c.peer.0 == *party).count();
                    if load > *capacity {
                        problems.push(format!(
                            "peer {client} on {} holds {load} > capacity {capacity}",
                            n.name
                        ));
                    }
                }
            }
        }
        for p in problems {
            self.violation(p);
        }
    }

    /// Every cross-node chat half has its other half (its node alive), or is gone.
    fn check_halves(&mut self) {
        let mut halves: HashMap<Token, Vec<usize>> = HashMap::new();
        let mut problems = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.alive {
                continue;
            }
            for chat in &n.chats {
                for side in [chat.seeker, chat.peer] {
                    if !matches!(
                        n.conns.get(&side.0),
                        Some(Conn::VirtualPeer { .. } | Conn::VirtualSeeker { .. })
                    ) {
                        continue;
                    }
                    match n.token_of_chat.get(&side) {
                        Some(token) => halves.entry(token.clone()).or_default().push(i),
                        None => {
                            problems.push(format!("{} has a cross-node chat never bound", n.name))
                        }
                    }
                }
            }
        }
        for (token, at) in halves {
            if at.len() != 2 {
                let names: Vec<&str> = at.iter().map(|i| self.nodes[*i].name.as_str()).collect();
                problems.push(format!("chat {token} has one half, on {names:?}"));
            }
        }
        for p in problems {
            self.violation(p);
        }
    }

    /// Nothing held anywhere.
    fn check_empty(&mut self) {
        let mut problems = Vec::new();
        for n in self.nodes.iter().filter(|n| n.alive) {
            if !n.chats.is_empty()
                || !n.offers.is_empty()
                || n.core.chats() != 0
                || !n.bound.is_empty()
            {
                problems.push(format!(
                    "{} still holds {} chats, {} offers, {} core chats, {} bound tokens",
                    n.name,
                    n.chats.len(),
                    n.offers.len(),
                    n.core.chats(),
                    n.bound.len()
                ));
            }
            if n.conns
                .values()
                .any(|c| matches!(c, Conn::VirtualSeeker { .. }))
            {
                problems.push(format!("{} still has a remote seeker", n.name));
            }
        }
        for p in problems {
            self.violation(p);
        }
    }
}

fn client_of(conns: &BTreeMap<Party, Conn>, party: Party) -> Option<Client> {
    match conns.get(&party)? {
        Conn::LocalPeer { client, .. }
        | Conn::LocalSeeker { client, .. }
        | Conn::VirtualPeer { client, .. }
        | Conn::VirtualSeeker { client } => Some(*client),
    }
}

/// One schedule. Returns the violations found, and what it exercised.
fn simulate(seed: u64) -> (Vec<String>, Stats) {
    let mut rng = Rng(seed ^ 0x5eed);
    let nodes = 2 + usize::try_from(rng.below(2)).unwrap();
    let mut world = World::new(seed, nodes);
    for node in 0..nodes {
        for _ in 0..rng.below(2) + usize::from(node == 0) as u64 {
            let capacity = 1 + usize::try_from(rng.below(2)).unwrap();
            world.add_peer(node, capacity);
        }
    }
    let start = world.start;
    // Seekers arrive over 2 s, on any node.
    for _ in 0..4 + rng.below(8) {
        let node = usize::try_from(rng.below(nodes as u64)).unwrap();
        let at = start + Duration::from_millis(300 + rng.below(2000));
        world.at(
            at,
            Ev::Hub {
                node,
                input: HubIn::Seeker,
            },
        );
    }
    // A node crashes, or falls silent past the TTL and comes back (a false loss).
    let trouble = rng.below(10);
    let victim = usize::try_from(rng.below(nodes as u64)).unwrap();
    let when = start + Duration::from_millis(500 + rng.below(1500));
    world.run_until(when);
    match trouble {
        0 | 1 => world.nodes[victim].alive = false,
        2..=4 => world.nodes[victim].muted_until = Some(when + TTL + rng.ms(100, 600)),
        5 => {
            world.stats.brokers_lost += 1;
            world.at(
                when,
                Ev::Broker {
                    node: victim,
                    connected: false,
                },
            );
            let back = when + rng.ms(50, 900);
            world.at(
                back,
                Ev::Broker {
                    node: victim,
                    connected: true,
                },
            );
        }
        6 => {
            world.at(when, Ev::Drain { node: victim });
            let stop = when + rng.ms(100, 600);
            world.at(stop, Ev::Leave { node: victim });
        }
        _ => {}
    }
    world.run_until(start + Duration::from_millis(3500));
    // Settle: no new seekers or offers, every node heard again, every message delivered.
    world.active = false;
    for n in &mut world.nodes {
        n.muted_until = None;
    }
    let settle = world.now + TTL * 3 + REQUEST * 2;
    world.run_until(settle);
    world.check_halves();
    // Everyone leaves; nothing may stay held anywhere.
    for node in 0..nodes {
        let parties: Vec<Party> = world.nodes[node]
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Conn::LocalSeeker { .. } | Conn::LocalPeer { .. }))
            .map(|(p, _)| *p)
            .collect();
        for party in parties {
            world.tell_hub(node, HubIn::Leave(party));
        }
    }
    let end = world.now + TTL * 3 + REQUEST * 2;
    world.run_until(end);
    world.check_empty();
    (world.violations, world.stats)
}

#[test]
fn seeded_schedules_keep_the_cross_node_invariants() {
    let seeds: Vec<u64> = match std::env::var("CONFIDANT_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("CONFIDANT_SIM_SEED is a number")],
        Err(_) => (0..2000).collect(),
    };
    let started = std::time::Instant::now();
    let mut total = Stats::default();
    for seed in &seeds {
        let (violations, stats) = simulate(*seed);
        total.add(stats);
        assert!(
            violations.is_empty(),
            "seed {seed} broke a cross-node invariant (replay: CONFIDANT_SIM_SEED={seed} cargo test -p confidant-relay --lib simulation):\n{}",
            violations.join("\n")
        );
    }
    eprintln!(
        "{} seeded schedules in {:?}: {total:?}",
        seeds.len(),
        started.elapsed()
    );
    if seeds.len() > 1 {
        // Every hard case is reached many times over.
        assert!(total.cross_node_chats > 1000, "{total:?}");
        assert!(total.frames_delivered > 1000, "{total:?}");
        assert!(total.reservations_unanswered > 20, "{total:?}");
        assert!(total.matched_unknown > 5, "{total:?}");
        assert!(total.nodes_lost > 100, "{total:?}");
        assert!(total.nodes_returned > 50, "{total:?}");
        assert!(total.nodes_left > 50, "{total:?}");
        assert!(total.brokers_lost > 50, "{total:?}");
    }
}
