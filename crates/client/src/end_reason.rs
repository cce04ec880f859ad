//! Why a chat ended, as the SDK can vouch for it.
//!
//! The relay's `chat_ended` reason is a claim by the relay; an `End` or `Block` record
//! inside the encryption is the partner's own word. Keeping the two apart is what makes a
//! truncated conversation detectable.

use confidant_proto::ChatEndReason;

use crate::error::ClientError;

/// How a chat ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// This side ended it (`end`, `block`, or a seeker skipping a same-department peer).
    Local,
    /// The partner sent an encrypted `End` record: a clean, complete ending.
    PartnerEnded,
    /// The peer blocked the seeker with an encrypted `Block` record (seeker side only).
    PartnerBlocked,
    /// The relay ended the chat and no `End` record arrived: the partner left, a timeout,
    /// a shutdown — or a relay cutting the conversation short. Apps should say that the
    /// chat ended without the partner closing it.
    WithoutEndRecord(ChatEndReason),
    /// The SDK ended the chat because something failed verification or decryption. Nothing
    /// from the partner after the failure was shown.
    Failed(ClientError),
}

impl EndReason {
    /// A stable machine code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::PartnerEnded => "partner_ended",
            Self::PartnerBlocked => "partner_blocked",
            Self::WithoutEndRecord(_) => "ended_without_end_record",
            Self::Failed(_) => "failed",
        }
    }

    /// The error, if the chat ended because of one.
    #[must_use]
    pub fn error(&self) -> Option<&ClientError> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("you ended the chat"),
            Self::PartnerEnded => f.write_str("the other side ended the chat"),
            Self::PartnerBlocked => f.write_str("the peer ended the chat"),
            Self::WithoutEndRecord(reason) => {
                write!(
                    f,
                    "the chat ended without an end record (relay said: {reason:?})"
                )
            }
            Self::Failed(error) => write!(f, "the chat was closed for safety: {error}"),
        }
    }
}
