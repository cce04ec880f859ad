//! What the matching core asks its driver to do. Plain data: the driver turns each action
//! into frames (or, in a multi-node relay, into broker messages for another node).

use std::time::Duration;

use confidant_proto::{Availability, NoPeerReason, OfferWithdrawnReason, QueueNone};

use super::handles::{OfferKey, PeerId, SeekerId};

/// One instruction from the matcher, in the order it must be carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Tell a waiting seeker its queue figures (coalesced: only when they changed).
    Queued {
        /// The seeker.
        seeker: SeekerId,
        /// 1 = next to be offered.
        position: u32,
        /// Available peers of the program.
        peers_online: u32,
        /// Estimated wait in seconds, if the matcher can tell.
        estimate_secs: Option<u32>,
        /// Why no available peer can take the seeker now, if so (the driver sends it only
        /// to connections that agreed on feature `queue-none`).
        none: Option<QueueNone>,
    },
    /// Offer a waiting seeker to a peer; its capacity is reserved until answered.
    Offer {
        /// Peer and offer number.
        offer: OfferKey,
        /// The seeker (never shown to the peer).
        seeker: SeekerId,
        /// The seeker's chosen topic.
        topic: Option<String>,
        /// The seeker's chosen language.
        language: Option<String>,
        /// The seeker said it needs to talk soon (feature `urgency`).
        urgent: bool,
        /// How long the peer has to answer.
        expires_in: Duration,
    },
    /// An offer is gone before the peer answered.
    OfferWithdrawn {
        /// Peer and offer number.
        offer: OfferKey,
        /// Why.
        reason: OfferWithdrawnReason,
    },
    /// A match: the driver creates the chat. Capacity is already counted.
    Matched {
        /// The offer that was accepted (or auto-accepted).
        offer: OfferKey,
        /// The seeker.
        seeker: SeekerId,
    },
    /// The seeker leaves the queue without a peer.
    NoPeer {
        /// The seeker.
        seeker: SeekerId,
        /// Why.
        reason: NoPeerReason,
    },
    /// The seeker left the queue on its own `cancel`.
    Cancelled {
        /// The seeker.
        seeker: SeekerId,
    },
    /// A peer's availability as now in force.
    AvailabilitySet {
        /// The peer.
        peer: PeerId,
        /// Available or away.
        status: Availability,
        /// Chats at once.
        capacity: u16,
        /// Chats open now.
        active_chats: u16,
    },
}
