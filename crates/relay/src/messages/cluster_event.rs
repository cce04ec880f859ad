//! What the cluster module (`crate::cluster`) tells the hub, and the hub's answers.

use confidant_proto::{ChatEndReason, ChatNumber, SeekPreferences};
use tokio::sync::oneshot;

use super::hub_event::ConnId;

/// What the cluster module tells the hub.
#[derive(Debug)]
pub(crate) enum ClusterEvent {
    /// Another node asks to offer one of its seekers (registered here as the virtual
    /// seeker `conn`) to the local peer `peer`. Answered with whether capacity was granted.
    RemoteOffer {
        conn: ConnId,
        peer: ConnId,
        preferences: SeekPreferences,
        /// How long the seeker has waited on its node, as that node measured it.
        waited: std::time::Duration,
        /// The seeker's node.
        from: String,
        reply: oneshot::Sender<bool>,
    },
    /// Virtual peer `conn` is a peer on another node (its capacity is that node's).
    RemotePeer { conn: ConnId },
    /// Another node's queue heads from its presence: per program, how long its
    /// longest-waiting seeker without an open offer has waited. `hold`: how long a freed
    /// local slot may be held for an older remote head.
    RemoteHeads {
        node: String,
        heads: Vec<(String, std::time::Duration)>,
        hold: std::time::Duration,
    },
    /// How long the seeker of offer `offer` to virtual peer `conn` has waited (sent with
    /// the reservation).
    OfferWaited {
        conn: ConnId,
        offer: u32,
        reply: oneshot::Sender<std::time::Duration>,
    },
    /// The peer's node refused to reserve capacity for offer `offer` of virtual peer `conn`.
    OfferRefused { conn: ConnId, offer: u32 },
    /// The remote side of `chat` on virtual connection `conn` ended it; `reason` is what the
    /// local side is told.
    RemoteEnded {
        conn: ConnId,
        chat: ChatNumber,
        reason: ChatEndReason,
    },
    /// The local peers and queue heads, for the next presence message.
    Presence(oneshot::Sender<PresenceSnapshot>),
}

/// One local, verified peer as other nodes need to know it.
#[derive(Debug)]
pub(crate) struct LocalPeer {
    pub(crate) conn: ConnId,
    pub(crate) program: String,
    pub(crate) issuer_certificate: Vec<u8>,
    pub(crate) supporter_certificate: Vec<u8>,
    pub(crate) available: bool,
    /// Capacity not taken by chats or open offers.
    pub(crate) free: u16,
    pub(crate) topics: Vec<String>,
    pub(crate) languages: Vec<String>,
}

/// The hub's view for one presence message. No identifiers: connection handles stay on
/// this node (the cluster module maps them to random tokens).
#[derive(Debug, Default)]
pub(crate) struct PresenceSnapshot {
    pub(crate) peers: Vec<LocalPeer>,
    /// Per program: seekers waiting and the longest wait, in milliseconds.
    pub(crate) heads: Vec<(String, usize, u64)>,
}
