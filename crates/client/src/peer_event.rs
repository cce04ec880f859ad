//! What a peer supporter's app is told, in order, through [`crate::Peer::next_event`].

use std::time::Duration;

use confidant_crypto::ResourceCard;
use confidant_proto::{Availability, ChatNumber, ErrorCode, OfferWithdrawnReason};

use crate::end_reason::EndReason;
use crate::error::ClientError;

/// One thing that happened on a peer supporter's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// The availability now in force.
    AvailabilitySet {
        /// Available or away.
        status: Availability,
        /// Chats at once.
        capacity: u16,
        /// Chats open now.
        active_chats: u16,
    },
    /// A seeker is waiting: `accept` or `decline` before it expires.
    Offer {
        /// The offer number to answer.
        offer: u32,
        /// The seeker's chosen topic, if any.
        topic: Option<String>,
        /// The seeker's chosen language, if any.
        language: Option<String>,
        /// Time before the offer goes to another peer.
        expires_in: Duration,
        /// The seeker said it needs to talk soon (feature `urgency`).
        urgent: bool,
    },
    /// An offer went away before it was answered.
    OfferWithdrawn {
        /// The offer number.
        offer: u32,
        /// Why.
        reason: OfferWithdrawnReason,
    },
    /// A chat started; the seeker's handshake follows.
    ChatStarted {
        /// The chat number on this connection.
        chat: ChatNumber,
        /// The offer it came from.
        offer: u32,
    },
    /// The seeker's handshake completed: the chat is end-to-end encrypted and content may
    /// flow both ways.
    ChatReady {
        /// The chat.
        chat: ChatNumber,
    },
    /// A message from the seeker.
    Message {
        /// The chat.
        chat: ChatNumber,
        /// The text.
        text: String,
    },
    /// The seeker started or stopped typing.
    Typing {
        /// The chat.
        chat: ChatNumber,
        /// Typing or not.
        typing: bool,
    },
    /// The seeker has read this many of the peer's messages.
    ReadUpTo {
        /// The chat.
        chat: ChatNumber,
        /// Count of messages read.
        count: u64,
    },
    /// The seeker sent a resource card (unusual, but the record format allows it).
    Resource {
        /// The chat.
        chat: ChatNumber,
        /// The card.
        card: ResourceCard,
    },
    /// A chat is over.
    Ended {
        /// The chat.
        chat: ChatNumber,
        /// How.
        reason: EndReason,
    },
    /// The relay is shutting down within `deadline`.
    ShuttingDown {
        /// Time until the relay closes the connection.
        deadline: Duration,
    },
    /// The relay refused a frame without closing (e.g. `unknown_offer`).
    RelayError {
        /// Stable code.
        code: ErrorCode,
        /// The relay's message.
        message: String,
    },
    /// The connection to the relay was lost; the SDK is reconnecting, and the chats and
    /// the availability are kept for up to `grace` (open offers lapse meanwhile). Feature
    /// `resume`.
    ConnectionLost {
        /// How long the relay keeps the connection.
        grace: Duration,
    },
    /// The connection is back: nothing was lost, nothing arrives twice.
    Reconnected,
    /// The seeker of `chat` lost its connection; they may be back in a moment.
    PartnerAway {
        /// The chat.
        chat: ChatNumber,
    },
    /// The seeker of `chat` is back.
    PartnerBack {
        /// The chat.
        chat: ChatNumber,
    },
    /// The connection is gone; no further events follow.
    Disconnected(ClientError),
}
