//! What a seeker's app is told, in order, through [`crate::Seeker::next_event`].

use std::time::Duration;

use confidant_crypto::ResourceCard;
use confidant_proto::{ErrorCode, NoPeerReason, QueueNone, Resource};

use crate::end_reason::EndReason;
use crate::error::ClientError;
use crate::verified_peer::VerifiedPeer;

/// One thing that happened on a seeker's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeekerEvent {
    /// Waiting for a peer; sent on `seek` and whenever the figures change.
    Queued {
        /// 1 = next to be offered.
        position: u32,
        /// Peers of the program online and available.
        peers_online: u32,
        /// The relay's honest estimate, when it has one.
        estimate: Option<Duration>,
        /// Set while no available peer can take the seeker (feature `queue-none`; always
        /// `None` from a relay without it). Not an ending: the seeker may keep waiting, and
        /// the app should show the program's resources now.
        none: Option<QueueNone>,
    },
    /// No peer is available: show the program's resources.
    NoPeer {
        /// Why.
        reason: NoPeerReason,
        /// Where to turn instead.
        resources: Vec<Resource>,
    },
    /// The queue was left after [`crate::SeekerHandle::cancel`].
    Cancelled,
    /// A matched peer was from the department the seeker asked to avoid; the SDK refused
    /// that match before any content (without telling the relay why) and is waiting again:
    /// in the place it held (feature `pass`), or, against a relay without it, at the back of
    /// the queue after a new `seek`.
    SkippedSameDepartment,
    /// The peer's credential verified and the secure channel is up: chat may begin.
    Matched {
        /// The peer as the program signed them.
        peer: VerifiedPeer,
    },
    /// A message from the peer.
    Message(String),
    /// The peer started or stopped typing.
    Typing(bool),
    /// The peer has read this many of the seeker's messages.
    ReadUpTo(u64),
    /// The peer shared a resource card.
    Resource(ResourceCard),
    /// The chat is over; the seeker may `seek` again.
    Ended(EndReason),
    /// The relay is shutting down within `deadline`.
    ShuttingDown {
        /// Time until the relay closes the connection.
        deadline: Duration,
    },
    /// The relay refused a frame without closing (e.g. `already_seeking`).
    RelayError {
        /// Stable code.
        code: ErrorCode,
        /// The relay's message.
        message: String,
    },
    /// The connection to the relay was lost (a network switch, a dead socket). The SDK is
    /// reconnecting; the queue place or the chat is kept for up to `grace`, and messages
    /// sent meanwhile go out once it is back. Feature `resume`; tell the person the truth
    /// ("reconnecting…") and keep help on screen.
    ConnectionLost {
        /// How long the relay keeps the connection.
        grace: Duration,
    },
    /// The connection is back: nothing was lost, nothing arrives twice.
    Reconnected,
    /// The peer's connection dropped; they may be back in a moment (feature `resume`).
    PeerAway,
    /// The peer is back.
    PeerBack,
    /// The connection is gone; no further events follow.
    Disconnected(ClientError),
}
