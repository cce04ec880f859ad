//! The node task of each simulated node (carrying out its core's actions), the broker and
//! the clock: events in time order, each channel in order.

use std::collections::HashSet;
use std::time::Duration;

use confidant_proto::{Availability, ChatNumber};

use super::*;

impl World {
    // ---- setting up ----

    pub(super) fn add_peer(&mut self, node: usize, capacity: usize) {
        let client = self.next_client;
        self.next_client += 1;
        self.capacity_of.insert(client, capacity);
        let n = &mut self.nodes[node];
        let party = Party(n.next_conn);
        n.next_conn += 1;
        n.conns.insert(party, Conn::LocalPeer { client, capacity });
    }

    pub(super) fn add_seeker(&mut self, node: usize) {
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

    pub(super) fn run_until(&mut self, until: Instant) {
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

    pub(super) fn handle(&mut self, ev: Ev) {
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

    pub(super) fn on_wire(&mut self, to: usize, wire: Wire) {
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

    pub(super) fn chat_arrived(
        &mut self,
        node: usize,
        party: Party,
        chat: ChatNumber,
        msg: ChatMsg,
    ) {
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

    pub(super) fn on_core_input(&mut self, node: usize, input: CoreIn) {
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
    pub(super) fn carry_out(&mut self, node: usize) {
        while let Some(action) = self.nodes[node].core.poll_action() {
            self.act(node, action);
        }
    }

    pub(super) fn broadcast(&mut self, node: usize, wire: Wire) {
        for to in 0..self.nodes.len() {
            self.wire(node, to, wire.clone());
        }
    }

    pub(super) fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub(super) fn act(&mut self, node: usize, action: Action) {
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
    pub(super) fn seeker_of_reservation(&self, node: usize, reference: &str) -> Option<Client> {
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
    pub(super) fn close_party(&mut self, node: usize, party: Party) {
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
    pub(super) fn frame_to_party(&mut self, node: usize, party: Party, event: PartyEvent) {
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

    pub(super) fn bind(&mut self, node: usize, party: Party, chat: ChatNumber, token: Token) {
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
}
