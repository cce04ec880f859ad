//! One codec for every signed object: issuer certificates, supporter certificates and
//! revocation lists (in the manner of rustls' `Codec` trait).
//!
//! Wire form: `body || signature(64)`; the signature covers `domain || 0x00 || body`. The
//! domain string makes a signature made for one kind of object useless for any other, even
//! if some body happened to parse as both. A type says how its body is encoded and under
//! which domain and key it is signed; splitting, joining, signing and decoding without
//! verification are written once here, and verification (`crate::validation`) is generic
//! over the same trait.

use crate::codec::CodecError;

/// Version byte leading every certificate and revocation-list body.
pub const CREDENTIAL_VERSION: u8 = 1;

/// Length of the Ed25519 signature that ends every signed object.
pub const SIGNATURE_LEN: usize = 64;

/// A key that signs `domain || 0x00 || body` (the root key, an issuing key).
pub trait DomainSigner {
    /// The Ed25519 signature of `domain || 0x00 || body`.
    fn sign_domain(&self, domain: &str, body: &[u8]) -> [u8; SIGNATURE_LEN];
}

/// An object that travels as `body || signature` under its own signature domain.
pub trait SignedBody: Sized {
    /// The signature domain (`confidant-v1-…`).
    const DOMAIN: &'static str;

    /// The key that signs it.
    type Signer: DomainSigner;

    /// The canonical body (what is signed, after the domain prefix).
    ///
    /// # Errors
    /// If a field is out of bounds or breaks a structural rule.
    fn encode_body(&self) -> Result<Vec<u8>, CodecError>;

    /// Decodes a canonical body (no signature).
    ///
    /// # Errors
    /// The first structural rule the bytes break.
    fn decode_body(body: &[u8]) -> Result<Self, CodecError>;

    /// Decodes wire bytes (`body || signature`) **without** verifying the signature.
    ///
    /// # Errors
    /// The first structural rule the bytes break.
    fn decode_unverified(wire: &[u8]) -> Result<Self, CodecError> {
        let (body, _) = split_signed(wire)?;
        Self::decode_body(body)
    }

    /// Signs with `key` and returns the wire form.
    ///
    /// # Errors
    /// If the body cannot be encoded.
    fn sign(&self, key: &Self::Signer) -> Result<Vec<u8>, CodecError> {
        let mut wire = self.encode_body()?;
        let signature = key.sign_domain(Self::DOMAIN, &wire);
        wire.extend_from_slice(&signature);
        Ok(wire)
    }
}

/// Splits `body || signature` without looking at either.
///
/// # Errors
/// `Truncated` if there is no room for a non-empty body and a signature.
pub fn split_signed(wire: &[u8]) -> Result<(&[u8], [u8; SIGNATURE_LEN]), CodecError> {
    let body_len = wire
        .len()
        .checked_sub(SIGNATURE_LEN)
        .filter(|n| *n > 0)
        .ok_or(CodecError::Truncated)?;
    let (body, sig) = wire.split_at(body_len);
    let sig: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| CodecError::Truncated)?;
    Ok((body, sig))
}
