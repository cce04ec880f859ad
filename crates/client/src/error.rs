//! The SDK's one error enum. Every variant has a stable snake_case code (for apps, logs and
//! bindings) and a message that never contains keys, plaintext or addresses.

use confidant_crypto::{CredentialError, NoiseError};
use confidant_proto::{DecodeError, ErrorCode};

/// Why an SDK call, a connection or a chat failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay URL is not a `ws://` or `wss://` URL this SDK can reach.
    #[error("invalid relay URL: {0}")]
    InvalidUrl(&'static str),
    /// The WebSocket connection could not be opened.
    #[error("could not connect to the relay: {0}")]
    Connect(String),
    /// TLS to a `wss://` relay failed (e.g. its certificate does not chain to a trusted
    /// authority), or the trusted authorities given could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection closed (or failed) while the SDK still needed it.
    #[error("the connection to the relay closed")]
    ConnectionClosed {
        /// The WebSocket close code, when the relay sent one.
        close_code: Option<u16>,
    },
    /// The relay sent an `error` frame.
    #[error("the relay refused: {code} ({message})")]
    Relay {
        /// The stable code from the catalogue.
        code: ErrorCode,
        /// The relay's human message (the catalogue's, never content).
        message: String,
    },
    /// The relay sent something that is not a valid frame of the protocol.
    #[error("the relay sent an invalid frame: {0}")]
    ProtocolViolation(String),
    /// The relay did not answer in time during connection setup.
    #[error("the relay did not answer in time")]
    Timeout,
    /// The relay speaks another protocol version.
    #[error("the relay speaks protocol version {0}, this SDK speaks {PROTOCOL}", PROTOCOL = confidant_proto::PROTOCOL_VERSION)]
    VersionMismatch(u8),
    /// The peer's credential did not verify against the pinned root key: the chat was
    /// ended before any content, and nothing from that peer was shown.
    #[error("the peer's credential was rejected: {}", .0.code())]
    PeerRejected(CredentialError),
    /// The Noise handshake with the peer failed (wrong key, tampering): nothing was shown.
    #[error("the secure handshake failed: {}", .0.code())]
    Handshake(NoiseError),
    /// A chat message failed to decrypt or decode; the chat ended (no resync).
    #[error("a chat message failed to decrypt: {}", .0.code())]
    Decrypt(NoiseError),
    /// A record could not be encrypted (e.g. a text too long for the largest bucket).
    #[error("the message could not be sent: {}", .0.code())]
    Encrypt(NoiseError),
    /// The partner sent something out of order (e.g. a second handshake message).
    #[error("the partner broke the chat protocol: {0}")]
    PartnerProtocol(&'static str),
    /// A local credential file or value is unusable.
    #[error("credential: {0}")]
    Credential(String),
    /// The action needs an open chat, and there is none (or not that one).
    #[error("no open chat")]
    NoChat,
    /// The action is not allowed in the current state (e.g. `seek` while chatting).
    #[error("not allowed now: {0}")]
    InvalidState(&'static str),
    /// The SDK's background task is gone (the connection ended).
    #[error("the client has shut down")]
    Shutdown,
}

impl ClientError {
    /// A stable machine code. Never renamed once published.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "invalid_url",
            Self::Connect(_) => "connect_failed",
            Self::Tls(_) => "tls_failed",
            Self::ConnectionClosed { .. } => "connection_closed",
            Self::Relay { .. } => "relay_error",
            Self::ProtocolViolation(_) => "protocol_violation",
            Self::Timeout => "timeout",
            Self::VersionMismatch(_) => "version_mismatch",
            Self::PeerRejected(_) => "peer_rejected",
            Self::Handshake(_) => "handshake_failed",
            Self::Decrypt(_) => "decrypt_failed",
            Self::Encrypt(_) => "encrypt_failed",
            Self::PartnerProtocol(_) => "partner_protocol",
            Self::Credential(_) => "credential",
            Self::NoChat => "no_chat",
            Self::InvalidState(_) => "invalid_state",
            Self::Shutdown => "shutdown",
        }
    }

    /// The relay's catalogue code, when the relay refused something.
    #[must_use]
    pub fn relay_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Relay { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The credential failure, when a peer was rejected.
    #[must_use]
    pub fn credential_error(&self) -> Option<&CredentialError> {
        match self {
            Self::PeerRejected(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn protocol(error: &DecodeError) -> Self {
        Self::ProtocolViolation(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case() {
        let samples = [
            ClientError::InvalidUrl("x"),
            ClientError::Connect("x".into()),
            ClientError::Tls("x".into()),
            ClientError::ConnectionClosed { close_code: None },
            ClientError::Timeout,
            ClientError::NoChat,
            ClientError::Shutdown,
            ClientError::Decrypt(NoiseError::Decrypt),
        ];
        for error in samples {
            assert!(
                error
                    .code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
