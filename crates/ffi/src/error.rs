//! The one error the bindings throw (a Kotlin exception, a Swift `Error`), mirroring the
//! SDK's `ClientError`: each variant is one of its stable codes, with the relay's catalogue
//! code or the credential code where there is one. Messages never carry keys, plaintext or
//! addresses (the SDK's own rule). Text members are named `detail`: a Kotlin exception
//! already has a `message` (uniffi-rs #2065).

use confidant_client::ClientError;

use crate::types::{CredentialFailure, RelayErrorCode};

/// Why a call, a connection or a chat failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ConfidantError {
    /// The relay URL is not a `ws://` or `wss://` URL (`invalid_url`).
    #[error("invalid relay URL: {detail}")]
    InvalidUrl {
        /// What is wrong with it.
        detail: String,
    },
    /// The connection could not be opened (`connect_failed`).
    #[error("could not connect to the relay: {detail}")]
    Connect {
        /// Why.
        detail: String,
    },
    /// TLS failed or the trusted CAs are unusable (`tls_failed`).
    #[error("TLS: {detail}")]
    Tls {
        /// What to fix.
        detail: String,
    },
    /// The connection closed while still needed (`connection_closed`).
    #[error("the connection to the relay closed")]
    ConnectionClosed {
        /// The WebSocket close code, when the relay sent one.
        close_code: Option<u16>,
    },
    /// The relay refused with a catalogue code (`relay_error`).
    #[error("the relay refused: {code:?} ({detail})")]
    Relay {
        /// The catalogue code.
        code: RelayErrorCode,
        /// The catalogue's message.
        detail: String,
    },
    /// The relay sent something that is not the protocol (`protocol_violation`).
    #[error("the relay sent an invalid frame: {detail}")]
    ProtocolViolation {
        /// What.
        detail: String,
    },
    /// The relay did not answer in time (`timeout`).
    #[error("the relay did not answer in time")]
    Timeout,
    /// The relay speaks another protocol version (`version_mismatch`).
    #[error("the relay speaks protocol version {version}")]
    VersionMismatch {
        /// The relay's version.
        version: u8,
    },
    /// The matched peer's credential did not verify against the pinned program key; the
    /// chat ended before any content (`peer_rejected`).
    #[error("the peer's credential was rejected: {reason:?}")]
    PeerRejected {
        /// The credential code.
        reason: CredentialFailure,
    },
    /// The secure handshake failed: wrong key or tampering (`handshake_failed`).
    #[error("the secure handshake failed: {code}")]
    Handshake {
        /// The crypto layer's code.
        code: String,
    },
    /// A chat message failed to decrypt; the chat ended (`decrypt_failed`).
    #[error("a chat message failed to decrypt: {code}")]
    Decrypt {
        /// The crypto layer's code.
        code: String,
    },
    /// A message could not be encrypted, e.g. too long (`encrypt_failed`).
    #[error("the message could not be sent: {code}")]
    Encrypt {
        /// The crypto layer's code.
        code: String,
    },
    /// The partner broke the chat protocol (`partner_protocol`).
    #[error("the partner broke the chat protocol: {detail}")]
    PartnerProtocol {
        /// What.
        detail: String,
    },
    /// A credential or key given to the SDK is unusable (`credential`).
    #[error("credential: {detail}")]
    Credential {
        /// What.
        detail: String,
    },
    /// The action needs an open chat (`no_chat`).
    #[error("no open chat")]
    NoChat,
    /// Not allowed in the current state (`invalid_state`).
    #[error("not allowed now: {detail}")]
    InvalidState {
        /// Why.
        detail: String,
    },
    /// The connection is gone or was closed (`shutdown`).
    #[error("the client has shut down")]
    Shutdown,
    /// A code this version of the bindings does not know yet.
    #[error("{code}: {detail}")]
    Other {
        /// The SDK's stable code.
        code: String,
        /// Its message.
        detail: String,
    },
}

impl From<ClientError> for ConfidantError {
    fn from(error: ClientError) -> Self {
        let message = error.to_string();
        match error {
            ClientError::InvalidUrl(why) => Self::InvalidUrl {
                detail: why.to_owned(),
            },
            ClientError::Connect(why) => Self::Connect { detail: why },
            ClientError::Tls(why) => Self::Tls { detail: why },
            ClientError::ConnectionClosed { close_code } => Self::ConnectionClosed { close_code },
            ClientError::Relay { code, message } => Self::Relay {
                code: code.into(),
                detail: message,
            },
            ClientError::ProtocolViolation(why) => Self::ProtocolViolation { detail: why },
            ClientError::Timeout => Self::Timeout,
            ClientError::VersionMismatch(version) => Self::VersionMismatch { version },
            ClientError::PeerRejected(reason) => Self::PeerRejected {
                reason: (&reason).into(),
            },
            ClientError::Handshake(e) => Self::Handshake {
                code: e.code().to_owned(),
            },
            ClientError::Decrypt(e) => Self::Decrypt {
                code: e.code().to_owned(),
            },
            ClientError::Encrypt(e) => Self::Encrypt {
                code: e.code().to_owned(),
            },
            ClientError::PartnerProtocol(why) => Self::PartnerProtocol {
                detail: why.to_owned(),
            },
            ClientError::Credential(why) => Self::Credential { detail: why },
            ClientError::NoChat => Self::NoChat,
            ClientError::InvalidState(why) => Self::InvalidState {
                detail: why.to_owned(),
            },
            ClientError::Shutdown => Self::Shutdown,
            other => Self::Other {
                code: other.code().to_owned(),
                detail: message,
            },
        }
    }
}
