//! Feature `admission` (`proto/spec.md`, "Admission"): what `GET /v1/admission` answers and
//! how a proof is written in the WebSocket URL. The hash itself (SHA-256) is computed by
//! the relay and the SDK; this crate does no crypto.

use serde::{Deserialize, Serialize};

/// The path of the challenge endpoint.
pub const ADMISSION_PATH: &str = "/v1/admission";

/// The query parameter carrying a solved proof: `<challenge>.<nonce>`, the challenge as
/// received (base64url, no padding) and the nonce as a decimal `u64`.
pub const PROOF_PARAMETER: &str = "proof";

/// The answer of `GET /v1/admission`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionChallenge {
    /// Whether the relay asks new connections for a proof right now.
    pub required: bool,
    /// The relay's challenge, base64url without padding (opaque to the client).
    pub challenge: String,
    /// Leading zero bits SHA-256(challenge bytes || nonce as 8 bytes big-endian) must have.
    pub difficulty: u8,
    /// How long the challenge stays valid, from now.
    pub expires_in_ms: u64,
}

/// Leading zero bits of a digest (the work a proof shows).
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// The query value for a solved challenge.
pub fn proof_value(challenge: &str, nonce: u64) -> String {
    format!("{challenge}.{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leading_zero_bits() {
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0, 0x10]), 11);
        assert_eq!(leading_zero_bits(&[0, 0, 1]), 23);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
