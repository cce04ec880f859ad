//! A small model of each node's hub: offers (first come, first served), grants of a local
//! peer's capacity, accepts and declines, chats, data frames, and what the hub queues for
//! a virtual connection — reported to the core as that connection's task would.

use std::time::Duration;

use confidant_proto::{Availability, ChatEndReason, ChatNumber};

use super::*;

impl World {
    // ---- the hub model ----

    pub(super) fn on_hub(&mut self, node: usize, input: HubIn) {
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

    pub(super) fn on_to_hub(&mut self, node: usize, to_hub: ToHub) {
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

    pub(super) fn make_offer(&mut self, node: usize, seeker: Party, peer: Party) {
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

    pub(super) fn start_chat(&mut self, node: usize, offer: u32) {
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
    pub(super) fn seeker_offer_ended(
        &mut self,
        node: usize,
        seeker: Party,
        peer: Party,
        exclude: bool,
    ) {
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
    pub(super) fn dispatch(&mut self, node: usize) {
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

    pub(super) fn end_chat(&mut self, node: usize, at: usize) {
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
    pub(super) fn leave(&mut self, node: usize, party: Party) {
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
    pub(super) fn disconnect(&mut self, node: usize, party: Party) {
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

    pub(super) fn send(&mut self, node: usize, party: Party) {
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
}
