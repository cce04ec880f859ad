//! Capacity reservations, from both ends.
//!
//! - **Outgoing** (this node is the seeker's): one per offer the hub made to a remote peer.
//!   It waits for the seeker's wait time (asked of the hub), then for the peer's node's
//!   answer until a deadline, then for `matched` or `declined`.
//! - **Incoming** (this node is the peer's): one per `reserve` another node asked. It is
//!   opened as a remote seeker, then asked of the hub, then answered. A `withdraw` marks it
//!   (the hub is never asked, or its grant is undone); one that overtook its reservation is
//!   remembered so the reservation is refused on arrival.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, SeekPreferences};

use super::{Action, ClusterCore, Note, Party, PartyKind, ToHub, Token, VirtualParty};
use crate::cluster::wire::NodeMessage;

/// Most remembered early withdrawals (references of reservations that never arrive are
/// forgotten after this many newer ones).
pub(super) const EARLY_WITHDRAWALS: usize = 1024;

/// Where an outgoing reservation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OutgoingState {
    /// The hub is asked how long the seeker has waited; nothing sent yet.
    AwaitingWait,
    /// `reserve` sent; refused if no answer by the deadline.
    Requested { deadline: Instant },
    /// Granted: the peer's node answers with `matched` or `declined`.
    Granted,
}

/// An offer this node's hub made to a remote peer.
pub(super) struct Outgoing {
    pub(super) party: Party,
    pub(super) offer: u32,
    pub(super) topic: Option<String>,
    pub(super) language: Option<String>,
    pub(super) state: OutgoingState,
}

/// Where an incoming reservation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IncomingState {
    /// The remote seeker is being registered with the hub.
    Opening,
    /// The hub is asked to grant it (remote seeker `party`).
    Granting { party: Party },
    /// Granted and answered.
    Open { party: Party },
}

/// A reservation another node asked of this one.
pub(super) struct Incoming {
    pub(super) from: Token,
    pub(super) peer: Party,
    pub(super) preferences: SeekPreferences,
    pub(super) waited: Duration,
    pub(super) state: IncomingState,
    pub(super) withdrawn: bool,
}

#[derive(Default)]
pub(super) struct Reservations {
    /// Reference → outgoing reservation.
    pub(super) outgoing: HashMap<Token, Outgoing>,
    /// Reference → incoming reservation.
    pub(super) incoming: HashMap<Token, Incoming>,
    /// Withdrawals that arrived before their reservation.
    early_withdrawals: VecDeque<Token>,
}

impl Reservations {
    pub(super) fn outgoing_ref(&self, party: Party, offer: u32) -> Option<Token> {
        self.outgoing
            .iter()
            .find(|(_, o)| o.party == party && o.offer == offer)
            .map(|(reference, _)| reference.clone())
    }

    pub(super) fn outgoing_of(&self, party: Party) -> impl Iterator<Item = (&Token, &Outgoing)> {
        self.outgoing.iter().filter(move |(_, o)| o.party == party)
    }

    /// The earliest deadline of a reservation waiting for its answer.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.outgoing
            .values()
            .filter_map(|o| match o.state {
                OutgoingState::Requested { deadline } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// References whose answer is overdue at `now`.
    pub(super) fn overdue(&self, now: Instant) -> Vec<Token> {
        let mut overdue: Vec<Token> = self
            .outgoing
            .iter()
            .filter(|(_, o)| matches!(o.state, OutgoingState::Requested { deadline } if deadline <= now))
            .map(|(reference, _)| reference.clone())
            .collect();
        overdue.sort();
        overdue
    }

    /// Whether a withdrawal of `offer` arrived before it (and forgets it).
    pub(super) fn take_early_withdrawal(&mut self, offer: &str) -> bool {
        match self.early_withdrawals.iter().position(|r| r == offer) {
            Some(at) => {
                self.early_withdrawals.remove(at);
                true
            }
            None => false,
        }
    }

    pub(super) fn remember_early_withdrawal(&mut self, offer: Token) {
        if self.early_withdrawals.len() >= EARLY_WITHDRAWALS {
            self.early_withdrawals.pop_front();
        }
        self.early_withdrawals.push_back(offer);
    }
}

impl ClusterCore {
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
    pub(crate) fn handle_waited(
        &mut self,
        party: Party,
        offer: u32,
        waited: Duration,
        now: Instant,
    ) {
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
    pub(super) fn refused(&mut self, party: Party, offer: u32) {
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
}
