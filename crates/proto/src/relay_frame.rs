//! Control frames the relay sends to clients.

use serde::{Deserialize, Serialize};

use crate::base64_bytes::Base64Bytes;
use crate::client_frame::{Availability, Role};
use crate::data_frame::ChatNumber;
use crate::decode_error::DecodeError;
use crate::error_code::ErrorCode;
use crate::features::{unknown_member, unknown_type};
use crate::optional::non_null;
use crate::program::{ProgramInfo, Resource};

/// The peer's credential as the seeker receives it at match time, to verify in the client.
///
/// Like every relay type, it is read leniently (unknown members skipped) by
/// [`RelayFrame::from_json_lenient`] and strictly by [`RelayFrame::from_json`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Issuer certificate, signed by the program's root key.
    pub issuer_certificate: Base64Bytes,
    /// Supporter certificate, signed by the issuer; binds the peer's X25519 key.
    pub supporter_certificate: Base64Bytes,
    /// The newest revocation list the relay holds for the program.
    pub revocation_list: Base64Bytes,
}

/// `welcome.resume` (feature `resume`): how to take this connection over after a lost socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeOffer {
    /// The one-time secret (32 bytes) to present in `resume`. Kept in memory only.
    pub secret: Base64Bytes,
    /// How long the relay keeps the connection after its socket is lost, in milliseconds.
    pub grace_ms: u32,
}

/// Why no peer could be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPeerReason {
    /// No peer of the program is online and available.
    NoneOnline,
    /// The seeker waited the program's limit.
    WaitLimit,
    /// The queue is at its configured length.
    QueueFull,
}

/// Why nobody can take a waiting seeker right now (`queued.none`, feature `queue-none`). Not
/// an ending: the seeker stays queued and is offered as soon as a peer can take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueNone {
    /// No peer of the program is online and available.
    NoneOnline,
    /// Peers are available, but none fits the seeker's preferences or may be offered this
    /// seeker (it declined or was refused).
    NoneAvailable,
}

/// Why an offer went away before the peer answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferWithdrawnReason {
    /// The peer did not answer in time; the seeker goes to the next peer.
    Timeout,
    /// The seeker cancelled or disconnected.
    SeekerLeft,
}

/// Why a chat ended; both sides are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEndReason {
    /// This side sent `end` (the acknowledgement).
    Ended,
    /// The partner sent `end`.
    PartnerEnded,
    /// The peer blocked the seeker (told to both; the seeker sees it as ended by the peer).
    Blocked,
    /// The partner's connection closed.
    PartnerLeft,
    /// The Noise handshake did not complete in time.
    HandshakeTimeout,
    /// No data in either direction for the idle limit.
    IdleTimeout,
    /// One side did not read fast enough; its buffer reached the bound.
    SlowReader,
    /// The relay is shutting down.
    Shutdown,
    /// The peer's credential was revoked while the chat ran.
    Revoked,
}

/// Every frame the relay sends. Internally tagged by `type`. [`RelayFrame::from_json`] refuses
/// unknown members (version 1); [`RelayFrame::from_json_lenient`] skips them, and frames of
/// unknown types, as a client that negotiated features must.
// `welcome` carries the program description (with `program-details`, its maps): larger than
// the other variants, but a frame is built, written and dropped at once, never stored in bulk
// (the relay's outboxes hold the JSON text), so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayFrame {
    /// Answer to `hello`: version, role and the program's public description.
    Welcome {
        /// The protocol version the relay speaks.
        v: u8,
        /// The role the connection now has.
        role: Role,
        /// The program.
        program: ProgramInfo,
        /// The features the relay will use on this connection: those of `hello.features` it
        /// implements. Sent exactly when `hello` carried `features`.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        features: Option<Vec<String>>,
        /// Feature `resume`: the secret that takes this connection over after a lost socket,
        /// and the grace window.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        resume: Option<ResumeOffer>,
    },
    /// Feature `resume`: the connection was taken over by this socket. Carries a fresh
    /// secret (the old one is spent) and how many counted messages the relay received from
    /// the client; the client re-sends the rest, then the relay re-sends what the client
    /// had not received (after `resume.received`).
    Resumed {
        /// The next one-time secret.
        secret: Base64Bytes,
        /// The count of counted messages the relay received from the client.
        received: u64,
    },
    /// Feature `resume`: how many counted messages the relay has received from the client;
    /// the client forgets what it kept for a resume up to there. Not counted itself.
    Ack {
        /// The count of counted messages received so far on the connection.
        received: u64,
    },
    /// Feature `resume`: the partner of `chat` lost its connection and may come back within
    /// the grace window; what this side sends meanwhile waits in the relay (bounded).
    PartnerAway {
        /// Chat number on this connection.
        chat: ChatNumber,
    },
    /// Feature `resume`: the partner of `chat` is back; the chat goes on.
    PartnerBack {
        /// Chat number on this connection.
        chat: ChatNumber,
    },
    /// Peer: prove possession of the certificate's key by answering this Noise NK msg1.
    Challenge {
        /// Noise NK msg1 carrying 32 random bytes (see `proto/crypto.md`).
        challenge: Base64Bytes,
    },
    /// Peer: credential and possession accepted; `set_availability` may follow.
    Verified {
        /// The display name the certificate carries, as the relay understood it.
        display_name: String,
    },
    /// Peer: the availability now in force.
    AvailabilitySet {
        /// Available or away.
        status: Availability,
        /// Chats at once.
        capacity: u16,
        /// Chats currently open.
        active_chats: u16,
    },
    /// Seeker: waiting; sent on `seek` and whenever the figures change.
    Queued {
        /// 1 = next to be offered.
        position: u32,
        /// Peers of this program online and available (with free capacity or not).
        peers_online: u32,
        /// Honest estimate of the wait in seconds; absent when the relay cannot tell.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        estimate_secs: Option<u32>,
        /// Feature `queue-none` only: present while no available peer can take the seeker.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        none: Option<QueueNone>,
    },
    /// Seeker: left the queue after `cancel`.
    Cancelled {},
    /// Seeker: no peer; the program's resources instead.
    NoPeer {
        /// Why.
        reason: NoPeerReason,
        /// Where to turn.
        resources: Vec<Resource>,
    },
    /// Peer: a seeker is waiting; answer with `accept` or `decline`.
    Offer {
        /// Offer number on this connection.
        offer: u32,
        /// The topic the seeker chose, if any.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        topic: Option<String>,
        /// The language the seeker chose, if any.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        language: Option<String>,
        /// Milliseconds before the offer goes to the next peer.
        expires_in_ms: u32,
        /// Feature `urgency`: the seeker said it needs to talk soon. Absent otherwise.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        urgent: bool,
    },
    /// Peer: an offer is gone.
    OfferWithdrawn {
        /// The offer number.
        offer: u32,
        /// Why.
        reason: OfferWithdrawnReason,
    },
    /// Seeker: matched. Verify the credential, then send Noise msg1 on `chat`.
    Matched {
        /// Chat number on this connection.
        chat: ChatNumber,
        /// The peer's certificate chain and revocation list.
        credential: Credential,
        /// The peer's declared chat features (feature `chat-features`; empty when the peer
        /// declared none). Bound into the chat's Noise prologue.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        chat_features: Option<Vec<String>>,
    },
    /// Peer: a chat started; Noise msg1 will arrive on `chat`.
    ChatStarted {
        /// Chat number on this connection.
        chat: ChatNumber,
        /// The offer it came from.
        offer: u32,
        /// The seeker's declared chat features (feature `chat-features`; empty when the
        /// seeker declared none). Bound into the chat's Noise prologue.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        chat_features: Option<Vec<String>>,
    },
    /// Either side: a chat is over and all its relay state is gone.
    ChatEnded {
        /// Chat number on this connection.
        chat: ChatNumber,
        /// Why.
        reason: ChatEndReason,
    },
    /// The relay is shutting down: finish within the deadline; close code 1001 follows.
    Shutdown {
        /// Milliseconds until the relay closes the connection.
        deadline_ms: u32,
    },
    /// Something went wrong; a close frame follows if the code's catalogue entry says so.
    Error {
        /// Stable machine code from the catalogue.
        code: ErrorCode,
        /// Human explanation (never containing content, keys or addresses).
        message: String,
    },
}

impl RelayFrame {
    /// Parses one text frame from the relay as version 1 does: an unknown type, an unknown
    /// member at any depth or a `null` member is refused. Never panics.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let frame = Self::parse(bytes)?;
        let sent: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::from_json_error(&e))?;
        let read = serde_json::to_value(&frame).map_err(|e| DecodeError::from_json_error(&e))?;
        match unknown_member(&sent, &read) {
            Some(_) => Err(DecodeError::Schema("unknown or null member".to_owned())),
            None => Ok(frame),
        }
    }

    /// Parses one text frame from the relay by the growth rules (a client that sent
    /// `hello.features`): unknown members are skipped, and a frame of an unknown type is
    /// `Ok(None)` — unless it is marked `"critical": true`, which is an error. Never panics.
    pub fn from_json_lenient(bytes: &[u8]) -> Result<Option<Self>, DecodeError> {
        match Self::parse(bytes) {
            Ok(frame) => Ok(Some(frame)),
            Err(DecodeError::UnknownType { critical: false }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(|error| match unknown_type(bytes, Self::TYPES) {
            Some(critical) => DecodeError::UnknownType { critical },
            None => DecodeError::from_json_error(&error),
        })
    }

    /// Every `type` the relay may send in this version of the protocol.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "challenge",
        "verified",
        "availability_set",
        "queued",
        "cancelled",
        "no_peer",
        "offer",
        "offer_withdrawn",
        "matched",
        "chat_started",
        "chat_ended",
        "shutdown",
        "error",
        "resumed",
        "ack",
        "partner_away",
        "partner_back",
    ];

    /// Serialises to JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An `error` frame with the catalogue's message for `code`.
    pub fn error(code: ErrorCode) -> Self {
        Self::Error {
            code,
            message: code.message().to_owned(),
        }
    }
}
