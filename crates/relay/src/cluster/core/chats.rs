//! Cross-node chats and the virtual connections that carry them: what each reports, the
//! chat tokens bound to them, and — when one ends — the other halves told, so no chat is
//! left with one half and no capacity stays taken.

use std::time::Instant;

use confidant_proto::{ChatEndReason, ChatNumber};

use super::reservations::{IncomingState, Outgoing, OutgoingState};
use super::{Action, Chat, ClusterCore, Party, PartyEvent, PartyKind, Token, VirtualParty};
use crate::cluster::wire::NodeMessage;

impl ClusterCore {
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
                let incoming = self.reservations.incoming.remove(&reference);
                if incoming.is_some_and(|i| matches!(i.state, IncomingState::Granting { .. })) {
                    // Gone before the hub decided (its node lost): the request is answered
                    // now, since the hub's decision will find nothing to answer.
                    self.push(Action::Answer {
                        reference,
                        granted: false,
                    });
                }
            }
        }
    }
}
