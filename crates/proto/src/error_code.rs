//! The error catalogue: one stable machine code per failure, the WebSocket close code that
//! follows it (if the connection cannot go on), and a human message. `proto/spec.md` lists
//! the same table; a test keeps them in step.

use serde::{Deserialize, Serialize};

/// A stable machine code sent in `error` frames. Never renamed once published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `hello.v` is a version this relay does not speak.
    UnsupportedVersion,
    /// Not JSON, unknown `type`, unknown or missing field, wrong type.
    MalformedFrame,
    /// A field outside its limits (tag format, capacity, counts).
    InvalidField,
    /// A text frame or binary frame above its size limit.
    FrameTooLarge,
    /// A frame the connection's state does not allow (e.g. `seek` before `hello`).
    UnexpectedFrame,
    /// A frame only the other role may send (e.g. a seeker sending `present`).
    WrongRole,
    /// `hello.program` is not hosted by this relay.
    UnknownProgram,
    /// The certificate chain or revocation list did not verify.
    CredentialRejected,
    /// The answer to the possession challenge was wrong.
    PossessionFailed,
    /// `hello` (or the peer's proof) did not arrive in time.
    HelloTimeout,
    /// A data frame for a chat number this connection does not have (or no longer has).
    UnknownChat,
    /// An `accept` or `decline` for an offer that is no longer open.
    UnknownOffer,
    /// `seek` while already queued or chatting.
    AlreadySeeking,
    /// `set_availability` before the credential was verified, or `accept` without capacity.
    NotAvailable,
    /// Too many frames per second on this connection.
    RateLimited,
    /// The relay is at its connection limit, or this source has too many connections.
    TooManyConnections,
    /// The connection's outgoing buffer stayed full; the client is not reading.
    SlowConsumer,
    /// The peer's credential was revoked; it is taken offline.
    CredentialRevoked,
    /// The relay is shutting down.
    ShuttingDown,
    /// A bug on the relay's side; nothing the client did.
    InternalError,
    /// Feature `resume`: the secret is unknown, already used, or its grace window closed.
    ResumeFailed,
    /// Feature `admission`: the relay is under load and the upgrade carried no proof of
    /// work; `GET /v1/admission` gives a challenge.
    ProofRequired,
    /// Feature `admission`: the proof of work is wrong, too weak, expired or already used.
    ProofRejected,
}

/// Standard WebSocket close codes used by the catalogue (RFC 6455 §7.4.1).
pub mod close {
    /// Going away: the relay is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Policy violation.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Internal error.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Try again later (overload).
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

impl ErrorCode {
    /// Every code, for the catalogue test and the spec table.
    pub const ALL: [ErrorCode; 23] = [
        Self::UnsupportedVersion,
        Self::MalformedFrame,
        Self::InvalidField,
        Self::FrameTooLarge,
        Self::UnexpectedFrame,
        Self::WrongRole,
        Self::UnknownProgram,
        Self::CredentialRejected,
        Self::PossessionFailed,
        Self::HelloTimeout,
        Self::UnknownChat,
        Self::UnknownOffer,
        Self::AlreadySeeking,
        Self::NotAvailable,
        Self::RateLimited,
        Self::TooManyConnections,
        Self::SlowConsumer,
        Self::CredentialRevoked,
        Self::ShuttingDown,
        Self::InternalError,
        Self::ResumeFailed,
        Self::ProofRequired,
        Self::ProofRejected,
    ];

    /// The snake_case wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::MalformedFrame => "malformed_frame",
            Self::InvalidField => "invalid_field",
            Self::FrameTooLarge => "frame_too_large",
            Self::UnexpectedFrame => "unexpected_frame",
            Self::WrongRole => "wrong_role",
            Self::UnknownProgram => "unknown_program",
            Self::CredentialRejected => "credential_rejected",
            Self::PossessionFailed => "possession_failed",
            Self::HelloTimeout => "hello_timeout",
            Self::UnknownChat => "unknown_chat",
            Self::UnknownOffer => "unknown_offer",
            Self::AlreadySeeking => "already_seeking",
            Self::NotAvailable => "not_available",
            Self::RateLimited => "rate_limited",
            Self::TooManyConnections => "too_many_connections",
            Self::SlowConsumer => "slow_consumer",
            Self::CredentialRevoked => "credential_revoked",
            Self::ShuttingDown => "shutting_down",
            Self::InternalError => "internal_error",
            Self::ResumeFailed => "resume_failed",
            Self::ProofRequired => "proof_required",
            Self::ProofRejected => "proof_rejected",
        }
    }

    /// The close code that follows the `error` frame, or `None` when the connection goes on.
    /// Application codes are 4000 + an HTTP-like number so they read at a glance.
    pub fn close_code(self) -> Option<u16> {
        match self {
            Self::UnsupportedVersion => Some(4505),
            Self::MalformedFrame => Some(4400),
            Self::InvalidField => None,
            Self::FrameTooLarge => Some(close::MESSAGE_TOO_BIG),
            Self::UnexpectedFrame => Some(4409),
            Self::WrongRole => Some(4403),
            Self::UnknownProgram => Some(4404),
            Self::CredentialRejected => Some(4401),
            Self::PossessionFailed => Some(4401),
            Self::HelloTimeout => Some(4408),
            Self::UnknownChat | Self::UnknownOffer | Self::AlreadySeeking | Self::NotAvailable => {
                None
            }
            Self::RateLimited => Some(4429),
            Self::TooManyConnections => Some(close::TRY_AGAIN_LATER),
            Self::SlowConsumer => Some(close::POLICY_VIOLATION),
            Self::CredentialRevoked => Some(4410),
            Self::ShuttingDown => Some(close::GOING_AWAY),
            Self::InternalError => Some(close::INTERNAL_ERROR),
            Self::ResumeFailed => Some(4412),
            Self::ProofRequired | Self::ProofRejected => Some(4428),
        }
    }

    /// A short human message. Never includes input, keys or addresses.
    pub fn message(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "this relay speaks protocol version 1",
            Self::MalformedFrame => "the frame is not a valid control frame",
            Self::InvalidField => "a field is outside its limits",
            Self::FrameTooLarge => "the frame is larger than the protocol allows",
            Self::UnexpectedFrame => "this frame is not allowed in the connection's state",
            Self::WrongRole => "this frame is for the other role",
            Self::UnknownProgram => "this relay does not host that program",
            Self::CredentialRejected => "the certificate chain or revocation list did not verify",
            Self::PossessionFailed => "the possession proof did not verify",
            Self::HelloTimeout => "hello or the possession proof did not arrive in time",
            Self::UnknownChat => "no chat with that number on this connection",
            Self::UnknownOffer => "no open offer with that number",
            Self::AlreadySeeking => "already queued or in a chat",
            Self::NotAvailable => "not verified, or no free capacity",
            Self::RateLimited => "too many frames; slow down",
            Self::TooManyConnections => "the relay is busy; try again shortly",
            Self::SlowConsumer => "the connection is not reading its frames",
            Self::CredentialRevoked => "the credential was revoked",
            Self::ShuttingDown => "the relay is shutting down",
            Self::InternalError => "internal error on the relay",
            Self::ResumeFailed => "nothing to resume: start again with hello",
            Self::ProofRequired => "the relay is under load: solve GET /v1/admission and reconnect",
            Self::ProofRejected => "the proof of work is wrong, expired or already used",
        }
    }

    /// Whether the connection closes after this error.
    pub fn is_fatal(self) -> bool {
        self.close_code().is_some()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
