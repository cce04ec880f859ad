//! ML-KEM-768 (FIPS 203) for the hybrid chat handshake, on RustCrypto's `ml-kem`.
//!
//! A supporter may hold an ML-KEM-768 key beside its X25519 key; its certificate then carries
//! the 1184-byte encapsulation key (`proto/crypto.md` §2.1, §5.2). The seeker encapsulates to
//! it, the supporter decapsulates, and the 32-byte shared secret becomes a Noise PSK through
//! [`hybrid_psk`]. Nothing here is new cryptography: key generation from the 64-byte seed
//! `d || z`, `Encaps` with a 32-byte `m` and `Decaps` are the crate's, checked against
//! Wycheproof's ML-KEM-768 vectors (`tests/published_vectors.rs`).

use hkdf::Hkdf;
use ml_kem::array::Array;
use ml_kem::{Decapsulate as _, DecapsulationKey, EncapsulationKey, KeyExport as _, MlKem768};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::KeyError;
use crate::noise_error::NoiseError;
use crate::random;

/// Length of an ML-KEM-768 encapsulation (public) key.
pub const MLKEM768_PUBLIC_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext.
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;
/// Length of the seed `d || z` an ML-KEM decapsulation key is stored as.
pub const MLKEM_SEED_LEN: usize = 64;
/// HKDF `info` of the chat PSK (`proto/crypto.md` §2.1).
pub const HYBRID_PSK_INFO: &[u8] = b"confidant-v1-chat-mlkem768-psk";

/// Whether `public` is a valid ML-KEM-768 encapsulation key: 1184 bytes that pass the
/// FIPS 203 §7.2 modulus check (every coefficient below q once decoded).
#[must_use]
pub fn is_valid_public(public: &[u8]) -> bool {
    encapsulation_key(public).is_ok()
}

fn encapsulation_key(public: &[u8]) -> Result<EncapsulationKey<MlKem768>, NoiseError> {
    let bytes = Array::try_from(public).map_err(|_| NoiseError::InvalidKemKey)?;
    EncapsulationKey::<MlKem768>::new(&bytes).map_err(|_| NoiseError::InvalidKemKey)
}

/// `Encaps(public)` with the 32-byte message `m` (FIPS 203 Algorithm 17, `ML-KEM.Encaps_internal`):
/// returns the 1088-byte ciphertext and the 32-byte shared secret.
///
/// `m` must be fresh uniform randomness ([`encapsulate`]); a fixed `m` is for test vectors.
///
/// # Errors
/// `InvalidKemKey` if `public` is not a valid encapsulation key.
pub fn encapsulate_with(
    public: &[u8],
    m: &[u8; 32],
) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), NoiseError> {
    let key = encapsulation_key(public)?;
    let (ciphertext, shared) = key.encapsulate_deterministic(&Array::from(*m));
    let secret: [u8; 32] = shared.into();
    Ok((ciphertext.to_vec(), Zeroizing::new(secret)))
}

/// `Encaps(public)` with 32 bytes from the operating system's CSPRNG.
///
/// # Errors
/// `InvalidKemKey` for a bad key, `Rng` if randomness fails.
pub fn encapsulate(public: &[u8]) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), NoiseError> {
    let mut m = Zeroizing::new([0_u8; 32]);
    random::fill(m.as_mut_slice()).map_err(|_| NoiseError::Rng)?;
    encapsulate_with(public, &m)
}

/// The Noise PSK of a hybrid chat: `HKDF-SHA256(salt = SHA-256(supporter certificate),
/// IKM = ML-KEM shared secret, info = "confidant-v1-chat-mlkem768-psk", L = 32)`.
#[must_use]
pub fn hybrid_psk(shared_secret: &[u8; 32], certificate_hash: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(certificate_hash), shared_secret);
    let mut out = Zeroizing::new([0_u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hk.expand(HYBRID_PSK_INFO, out.as_mut_slice()).is_err() {
        out.fill(0);
    }
    out
}

/// A supporter's ML-KEM-768 decapsulation key, kept as its 64-byte seed `d || z`
/// (FIPS 203 `ML-KEM.KeyGen_internal(d, z)`); zeroized on drop.
pub struct MlKemSecret {
    seed: Zeroizing<[u8; MLKEM_SEED_LEN]>,
    key: DecapsulationKey<MlKem768>,
}

impl MlKemSecret {
    /// A fresh key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// `Rng` if randomness is unavailable.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0_u8; MLKEM_SEED_LEN]);
        random::fill(seed.as_mut_slice()).map_err(|_| KeyError::Rng)?;
        Ok(Self::from_seed(&seed))
    }

    /// Rebuilds the key from its seed `d || z`.
    #[must_use]
    pub fn from_seed(seed: &[u8; MLKEM_SEED_LEN]) -> Self {
        Self {
            seed: Zeroizing::new(*seed),
            key: DecapsulationKey::<MlKem768>::from_seed(Array::from(*seed)),
        }
    }

    /// The 64-byte seed, for the key file.
    #[must_use]
    pub fn seed(&self) -> Zeroizing<[u8; MLKEM_SEED_LEN]> {
        self.seed.clone()
    }

    /// The 1184-byte encapsulation key that goes into the supporter certificate.
    #[must_use]
    pub fn public(&self) -> Vec<u8> {
        self.key.encapsulation_key().to_bytes().to_vec()
    }

    /// `Decaps(ciphertext)`: the shared secret (FIPS 203's implicit rejection gives a
    /// pseudorandom one for a ciphertext that was not made for this key, so a forged
    /// ciphertext shows only as a handshake that fails to decrypt).
    ///
    /// # Errors
    /// `MalformedHandshake` if `ciphertext` is not 1088 bytes.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<Zeroizing<[u8; 32]>, NoiseError> {
        let ct = Array::try_from(ciphertext).map_err(|_| NoiseError::MalformedHandshake)?;
        let shared: [u8; 32] = self.key.decapsulate(&ct).into();
        Ok(Zeroizing::new(shared))
    }
}

impl std::fmt::Debug for MlKemSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlKemSecret").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sizes() {
        let secret = MlKemSecret::from_seed(&[7; 64]);
        let public = secret.public();
        assert_eq!(public.len(), MLKEM768_PUBLIC_LEN);
        assert!(is_valid_public(&public));
        let (ct, ss) = encapsulate(&public).expect("encaps");
        assert_eq!(ct.len(), MLKEM768_CIPHERTEXT_LEN);
        assert_eq!(*secret.decapsulate(&ct).expect("decaps"), *ss);
        // Another key's decapsulation gives another secret (implicit rejection).
        let other = MlKemSecret::from_seed(&[8; 64]);
        assert_ne!(*other.decapsulate(&ct).expect("decaps"), *ss);
        assert_eq!(
            secret.decapsulate(&ct[1..]).err(),
            Some(NoiseError::MalformedHandshake)
        );
        assert!(!is_valid_public(&public[1..]));
        assert!(!is_valid_public(&[0xff; MLKEM768_PUBLIC_LEN]));
        assert_eq!(MlKemSecret::from_seed(&[7; 64]).public(), public);
    }

    #[test]
    fn psk_depends_on_secret_and_certificate() {
        let a = hybrid_psk(&[1; 32], &[2; 32]);
        assert_ne!(*a, *hybrid_psk(&[1; 32], &[3; 32]));
        assert_ne!(*a, *hybrid_psk(&[4; 32], &[2; 32]));
        assert_eq!(*a, *hybrid_psk(&[1; 32], &[2; 32]));
    }
}
