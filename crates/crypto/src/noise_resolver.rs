//! The primitives `snow` runs on: ours, not its defaults.
//!
//! `snow` is built with `default-features = false`, so it brings no cryptography of its own.
//! This resolver plugs in the crates the project chose (`x25519-dalek`, `chacha20poly1305`,
//! `sha2`), makes every secret it holds zeroize on drop, and turns a non-contributory
//! (all-zero) X25519 result into an error instead of a key.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use sha2::{Digest, Sha256};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::CryptoResolver;
use snow::types::{Cipher, Dh, Hash, Random};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::random;

/// Length of an X25519 key or shared secret.
const KEY_LEN: usize = 32;
/// Length of a ChaCha20-Poly1305 tag.
const TAG_LEN: usize = 16;

/// Supplies `snow` with exactly one suite: 25519 / ChaChaPoly / SHA256.
///
/// Anything else resolves to `None`, so a typo in a protocol name fails at build time of the
/// handshake rather than silently picking another primitive.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConfidantResolver;

impl CryptoResolver for ConfidantResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(OsRandom))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(X25519::default())),
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        match choice {
            HashChoice::SHA256 => Some(Box::new(Sha256Hash::default())),
            _ => None,
        }
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        match choice {
            CipherChoice::ChaChaPoly => Some(Box::new(ChaChaPoly::default())),
            _ => None,
        }
    }
}

/// Operating-system randomness, through the crate's single randomness entry point.
struct OsRandom;

impl Random for OsRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        random::fill(dest).map_err(|_| snow::Error::Rng)
    }
}

/// X25519 on `x25519-dalek`; the private scalar lives in a zeroizing buffer.
#[derive(Default)]
struct X25519 {
    private: Zeroizing<[u8; KEY_LEN]>,
    public: [u8; KEY_LEN],
}

impl X25519 {
    fn derive_public(&mut self) {
        let secret = StaticSecret::from(*self.private);
        self.public = PublicKey::from(&secret).to_bytes();
    }
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        KEY_LEN
    }

    fn priv_len(&self) -> usize {
        KEY_LEN
    }

    fn set(&mut self, privkey: &[u8]) {
        // snow only ever passes `priv_len()` bytes; anything else leaves a zero key, which
        // then yields a fixed public key rather than reading out of bounds.
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        if let Some(src) = privkey.get(..KEY_LEN) {
            bytes.copy_from_slice(src);
        }
        self.private = bytes;
        self.derive_public();
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        rng.try_fill_bytes(bytes.as_mut_slice())?;
        self.private = bytes;
        self.derive_public();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        self.private.as_slice()
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        // snow hands over its whole fixed-size key buffer; the key is the first 32 bytes.
        let their: [u8; KEY_LEN] = pubkey
            .get(..KEY_LEN)
            .and_then(|k| k.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let secret = StaticSecret::from(*self.private);
        let shared = secret.diffie_hellman(&PublicKey::from(their));
        // A low-order peer key forces the all-zero output whatever our scalar is; accepting it
        // would let an attacker fix the "shared" secret.
        if !shared.was_contributory() {
            return Err(snow::Error::Dh);
        }
        let dest = out.get_mut(..KEY_LEN).ok_or(snow::Error::Dh)?;
        dest.copy_from_slice(shared.as_bytes());
        Ok(())
    }
}

/// ChaCha20-Poly1305 (RFC 8439) on `chacha20poly1305`; the key zeroizes on drop.
#[derive(Default)]
struct ChaChaPoly {
    key: Zeroizing<[u8; KEY_LEN]>,
}

/// Noise's ChaChaPoly nonce: 32 zero bits then the 64-bit counter little-endian.
fn noise_nonce(counter: u64) -> Nonce {
    let mut bytes = [0_u8; 12];
    for (dst, src) in bytes.iter_mut().skip(4).zip(counter.to_le_bytes()) {
        *dst = src;
    }
    Nonce::from(bytes)
}

impl Cipher for ChaChaPoly {
    fn name(&self) -> &'static str {
        "ChaChaPoly"
    }

    fn set(&mut self, key: &[u8; 32]) {
        *self.key = *key;
    }

    fn encrypt(&self, nonce: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        let total = plaintext.len().saturating_add(TAG_LEN);
        // snow sizes `out` before calling; if it ever did not, write nothing so the peer's
        // decryption fails instead of us panicking.
        let Some(out) = out.get_mut(..total) else {
            return 0;
        };
        let (body, tag_out) = out.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let aead = ChaCha20Poly1305::new(&(*self.key).into());
        match aead.encrypt_inout_detached(&noise_nonce(nonce), authtext, body.into()) {
            Ok(tag) => {
                tag_out.copy_from_slice(tag.as_slice());
                total
            }
            Err(_) => {
                body.fill(0);
                0
            }
        }
    }

    fn decrypt(
        &self,
        nonce: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let body_len = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(snow::Error::Decrypt)?;
        let (body, tag) = ciphertext.split_at(body_len);
        let tag = Tag::try_from(tag).map_err(|_| snow::Error::Decrypt)?;
        let out = out.get_mut(..body_len).ok_or(snow::Error::Decrypt)?;
        out.copy_from_slice(body);
        let aead = ChaCha20Poly1305::new(&(*self.key).into());
        match aead.decrypt_inout_detached(&noise_nonce(nonce), authtext, out.into(), &tag) {
            Ok(()) => Ok(body_len),
            Err(_) => {
                // Never leave unauthenticated plaintext behind for a careless caller.
                out.fill(0);
                Err(snow::Error::Decrypt)
            }
        }
    }
}

/// SHA-256 on `sha2`; snow's default HMAC/HKDF run on top of it.
#[derive(Default)]
struct Sha256Hash {
    hasher: Sha256,
}

impl Hash for Sha256Hash {
    fn name(&self) -> &'static str {
        "SHA256"
    }

    fn block_len(&self) -> usize {
        64
    }

    fn hash_len(&self) -> usize {
        32
    }

    fn reset(&mut self) {
        self.hasher = Sha256::new();
    }

    fn input(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn result(&mut self, out: &mut [u8]) {
        let digest = self.hasher.finalize_reset();
        if let Some(dest) = out.get_mut(..32) {
            dest.copy_from_slice(digest.as_slice());
        }
    }
}

/// X25519 through the same code path the Noise handshake uses, for conformance tests.
///
/// Returns `None` when the result is all-zero (non-contributory) — exactly when a handshake
/// would fail.
#[doc(hidden)]
#[must_use]
pub fn resolver_x25519(private: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
    let mut dh = X25519::default();
    dh.set(private);
    let mut out = Zeroizing::new([0_u8; 32]);
    dh.dh(public, out.as_mut_slice()).ok()?;
    Some(*out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_all_zero_public_key() {
        assert_eq!(resolver_x25519(&[7; 32], &[0; 32]), None);
    }

    #[test]
    fn rejects_low_order_point_one() {
        let mut one = [0_u8; 32];
        one[0] = 1;
        assert_eq!(resolver_x25519(&[7; 32], &one), None);
    }

    #[test]
    fn agrees_both_ways() {
        let a = [1_u8; 32];
        let b = [2_u8; 32];
        let pa = PublicKey::from(&StaticSecret::from(a)).to_bytes();
        let pb = PublicKey::from(&StaticSecret::from(b)).to_bytes();
        assert_eq!(resolver_x25519(&a, &pb), resolver_x25519(&b, &pa));
        assert!(resolver_x25519(&a, &pb).is_some());
    }

    #[test]
    fn resolves_only_our_suite() {
        let r = ConfidantResolver;
        assert!(r.resolve_dh(&DHChoice::Curve448).is_none());
        assert!(r.resolve_hash(&HashChoice::Blake2s).is_none());
        assert!(r.resolve_cipher(&CipherChoice::AESGCM).is_none());
    }

    #[test]
    fn cipher_rejects_short_ciphertext() {
        let c = ChaChaPoly::default();
        let mut out = [0_u8; 32];
        assert!(c.decrypt(0, &[], &[0_u8; 15], &mut out).is_err());
    }

    #[test]
    fn cipher_round_trip() {
        let mut c = ChaChaPoly::default();
        c.set(&[9; 32]);
        let mut ct = [0_u8; 21];
        assert_eq!(c.encrypt(5, b"ad", b"hello", &mut ct), 21);
        let mut pt = [0_u8; 5];
        assert_eq!(c.decrypt(5, b"ad", &ct, &mut pt), Ok(5));
        assert_eq!(&pt, b"hello");
        assert!(c.decrypt(6, b"ad", &ct, &mut pt).is_err());
    }
}
