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

use confidant_proto::SeekPreferences;

use super::{Party, Token};

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
