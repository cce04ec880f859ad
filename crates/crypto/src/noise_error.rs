//! Errors of the Noise layer: handshakes, chat transport and the possession proof.

use crate::record::RecordError;

/// Why a handshake, a transport message or a possession proof was refused.
///
/// Messages never include key material, plaintext or peer data; `code()` is the stable
/// machine-readable name shared with every other implementation (see `proto/crypto.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A Diffie-Hellman result was all-zero: the peer key (static or ephemeral) is low-order.
    #[error("non-contributory Diffie-Hellman result (low-order public key)")]
    NonContributory,
    /// A handshake message did not authenticate (wrong key, wrong prologue, tampering).
    #[error("handshake message failed to decrypt")]
    HandshakeDecrypt,
    /// A handshake message had the wrong length for its pattern and payload rules.
    #[error("handshake message has the wrong length")]
    MalformedHandshake,
    /// A handshake message carried a payload where none (or another) is allowed.
    #[error("handshake message carries an unexpected payload")]
    UnexpectedPayload,
    /// A transport message did not authenticate (tampered, replayed, reordered, wrong key).
    #[error("transport message failed to decrypt")]
    Decrypt,
    /// A transport message's length is not a padding bucket plus the tag.
    #[error("transport message has an invalid length")]
    MalformedMessage,
    /// A message is longer than `MAX_NOISE_MESSAGE`.
    #[error("message too large")]
    MessageTooLarge,
    /// The decrypted record was malformed, or a record to send could not be encoded.
    #[error("invalid record: {0}")]
    Record(#[from] RecordError),
    /// An earlier failure ended this session; it cannot be resynchronised.
    #[error("session is broken after an earlier failure")]
    SessionBroken,
    /// The possession-proof answer decrypted but echoed a different challenge.
    #[error("possession proof does not match the challenge")]
    ChallengeMismatch,
    /// An ML-KEM-768 encapsulation key is not 1184 bytes or fails the FIPS 203 modulus check.
    #[error("invalid ML-KEM encapsulation key")]
    InvalidKemKey,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// `snow` refused an operation for a reason that indicates a bug on our side.
    #[error("internal Noise state error")]
    Internal,
}

impl NoiseError {
    /// Stable snake_case code for logs, metrics and the wire; never changes once released.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NonContributory => "non_contributory_dh",
            Self::HandshakeDecrypt => "handshake_decrypt_failed",
            Self::MalformedHandshake => "malformed_handshake",
            Self::UnexpectedPayload => "unexpected_payload",
            Self::Decrypt => "decrypt_failed",
            Self::MalformedMessage => "malformed_message",
            Self::MessageTooLarge => "message_too_large",
            Self::Record(_) => "invalid_record",
            Self::SessionBroken => "session_broken",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::InvalidKemKey => "invalid_kem_key",
            Self::Rng => "rng_failed",
            Self::Internal => "internal",
        }
    }

    /// Maps a `snow` error met while processing a handshake message.
    pub(crate) fn from_handshake(err: &snow::Error) -> Self {
        match err {
            snow::Error::Dh => Self::NonContributory,
            snow::Error::Decrypt => Self::HandshakeDecrypt,
            snow::Error::Input => Self::MalformedHandshake,
            snow::Error::Rng => Self::Rng,
            _ => Self::Internal,
        }
    }

    /// Maps a `snow` error met while processing a transport message.
    pub(crate) fn from_transport(err: &snow::Error) -> Self {
        match err {
            snow::Error::Decrypt => Self::Decrypt,
            snow::Error::Input => Self::MalformedMessage,
            _ => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let all = [
            NoiseError::NonContributory,
            NoiseError::HandshakeDecrypt,
            NoiseError::MalformedHandshake,
            NoiseError::UnexpectedPayload,
            NoiseError::Decrypt,
            NoiseError::MalformedMessage,
            NoiseError::MessageTooLarge,
            NoiseError::Record(RecordError::TooLong),
            NoiseError::SessionBroken,
            NoiseError::ChallengeMismatch,
            NoiseError::InvalidKemKey,
            NoiseError::Rng,
            NoiseError::Internal,
        ];
        let mut codes: Vec<_> = all.iter().map(NoiseError::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
