//! Long-term keys and their text file format.
//!
//! Three kinds of secret exist: the program's offline root (signs issuing keys and
//! revocation lists), an issuing key (signs supporter certificates) and a supporter's X25519
//! static secret (answers chats). Each wraps its `dalek` type so it zeroizes on drop and its
//! `Debug` shows only public material.
//!
//! Key file: first line a label naming the kind (`confidant-root-key-v1`), second line the
//! 32 raw key bytes in standard padded base64, then an optional final newline. The label stops
//! a supporter secret from being loaded as a root key by a slip of the command line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::random;

/// Label of a root secret key file.
pub const ROOT_KEY_LABEL: &str = "confidant-root-key-v1";
/// Label of an issuing secret key file.
pub const ISSUING_KEY_LABEL: &str = "confidant-issuing-key-v1";
/// Label of a supporter X25519 secret key file.
pub const SUPPORTER_KEY_LABEL: &str = "confidant-supporter-key-v1";
/// Label of a supporter key file that also holds an ML-KEM-768 key (three lines: the label,
/// the X25519 secret, the 64-byte ML-KEM seed `d || z`).
pub const SUPPORTER_KEY_MLKEM_LABEL: &str = "confidant-supporter-key-v2";
/// Label of a root *public* key file, as pinned in relay and client configuration.
pub const ROOT_PUBLIC_KEY_LABEL: &str = "confidant-root-public-key-v1";

/// Why a key could not be created or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The first line names another kind of key (or none).
    #[error("key file label does not match the expected kind")]
    WrongLabel,
    /// The file is not exactly a label line and a key line.
    #[error("key file is not two lines")]
    Malformed,
    /// The key line is not standard padded base64.
    #[error("key is not valid base64")]
    BadBase64,
    /// The key does not decode to exactly 32 bytes.
    #[error("key has the wrong length")]
    WrongLength,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

impl KeyError {
    /// Stable snake_case code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLabel => "key_file_wrong_label",
            Self::Malformed => "key_file_malformed",
            Self::BadBase64 => "key_file_bad_base64",
            Self::WrongLength => "key_file_wrong_length",
            Self::Rng => "rng_failed",
        }
    }
}

/// Formats a 32-byte key as a key file; the result zeroizes on drop.
#[must_use]
pub fn encode_key_file(label: &str, key: &[u8; 32]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(label.len().saturating_add(48)));
    out.push_str(label);
    out.push('\n');
    STANDARD.encode_string(key, &mut out);
    out.push('\n');
    out
}

/// Parses a key file written by [`encode_key_file`] with the expected `label`.
///
/// Accepts LF or CRLF line ends and a missing final newline; nothing else.
///
/// # Errors
/// `Malformed`, `WrongLabel`, `BadBase64` or `WrongLength`.
pub fn decode_key_file(label: &str, text: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    let (first, second) = text.split_once('\n').ok_or(KeyError::Malformed)?;
    let first = first.strip_suffix('\r').unwrap_or(first);
    if second.contains('\n') || second.contains('\r') {
        return Err(KeyError::Malformed);
    }
    if first != label {
        return Err(KeyError::WrongLabel);
    }
    let mut buf = Zeroizing::new([0_u8; 48]);
    let n = STANDARD
        .decode_slice(second, buf.as_mut_slice())
        .map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => KeyError::WrongLength,
            base64::DecodeSliceError::DecodeError(_) => KeyError::BadBase64,
        })?;
    let key: [u8; 32] = buf
        .get(..n)
        .and_then(|s| s.try_into().ok())
        .ok_or(KeyError::WrongLength)?;
    Ok(Zeroizing::new(key))
}

/// Formats the root public key for relay and client configuration.
#[must_use]
pub fn encode_root_public_key_file(public: &[u8; 32]) -> String {
    encode_key_file(ROOT_PUBLIC_KEY_LABEL, public).to_string()
}

/// Parses a root public key file.
///
/// # Errors
/// As for [`decode_key_file`].
pub fn decode_root_public_key_file(text: &str) -> Result<[u8; 32], KeyError> {
    decode_key_file(ROOT_PUBLIC_KEY_LABEL, text).map(|k| *k)
}

/// Short identifier of an Ed25519 issuing key: the first 8 bytes of SHA-256 of its public key.
#[must_use]
pub fn key_id(ed25519_public: &[u8; 32]) -> [u8; 8] {
    let digest = Sha256::digest(ed25519_public);
    let mut id = [0_u8; 8];
    for (d, s) in id.iter_mut().zip(digest.iter()) {
        *d = *s;
    }
    id
}

fn random_seed() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut seed = Zeroizing::new([0_u8; 32]);
    random::fill(seed.as_mut_slice()).map_err(|_| KeyError::Rng)?;
    Ok(seed)
}

/// `domain || 0x00 || body`: what every Confidant Ed25519 signature covers.
pub(crate) fn signed_message(domain: &str, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len().saturating_add(1).saturating_add(body.len()));
    msg.extend_from_slice(domain.as_bytes());
    msg.push(0);
    msg.extend_from_slice(body);
    msg
}

/// Shared Ed25519 behaviour of the root and issuing keys.
struct Ed25519Key(SigningKey);

impl Ed25519Key {
    fn sign(&self, domain: &str, body: &[u8]) -> [u8; 64] {
        self.0.sign(&signed_message(domain, body)).to_bytes()
    }

    fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

macro_rules! ed25519_key {
    ($(#[$doc:meta])* $name:ident, $label:expr) => {
        $(#[$doc])*
        pub struct $name(Ed25519Key);

        impl $name {
            /// Creates a fresh key from the operating system's CSPRNG.
            ///
            /// # Errors
            /// `Rng` if randomness is unavailable.
            pub fn generate() -> Result<Self, KeyError> {
                Ok(Self::from_bytes(&*random_seed()?))
            }

            /// Rebuilds the key from its 32-byte Ed25519 seed.
            #[must_use]
            pub fn from_bytes(seed: &[u8; 32]) -> Self {
                Self(Ed25519Key(SigningKey::from_bytes(seed)))
            }

            /// The 32-byte seed, for writing the key file; zeroizes on drop.
            #[must_use]
            pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
                self.0.to_bytes()
            }

            /// The Ed25519 public key.
            #[must_use]
            pub fn public(&self) -> [u8; 32] {
                self.0.public()
            }

            /// The key in the text key-file format.
            #[must_use]
            pub fn to_key_file(&self) -> Zeroizing<String> {
                encode_key_file($label, &self.to_bytes())
            }

            /// Loads the key from the text key-file format.
            ///
            /// # Errors
            /// See [`decode_key_file`].
            pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
                Ok(Self::from_bytes(&*decode_key_file($label, text)?))
            }

            /// Signs `domain || 0x00 || body` with no check that `body` belongs to `domain`.
            ///
            /// Only for building negative test vectors (e.g. a signature for the wrong domain).
            #[doc(hidden)]
            #[must_use]
            pub fn sign_raw_for_tests(&self, domain: &str, body: &[u8]) -> [u8; 64] {
                self.0.sign(domain, body)
            }

        }

        impl crate::signed_body::DomainSigner for $name {
            fn sign_domain(&self, domain: &str, body: &[u8]) -> [u8; 64] {
                self.0.sign(domain, body)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("key_id", &crate::hex::encode(&key_id(&self.public())))
                    .finish_non_exhaustive()
            }
        }
    };
}

ed25519_key!(
    /// The program's offline root: signs issuer certificates and revocation lists.
    ///
    /// Its public key is pinned in relay and client configuration; everything else is
    /// trusted only through it.
    RootKey,
    ROOT_KEY_LABEL
);

ed25519_key!(
    /// A short-lived issuing key: signs supporter certificates under an issuer certificate.
    ///
    /// Kept separate from the root so a leaked issuing key can be revoked by the root without
    /// replacing every pinned root key.
    IssuingKey,
    ISSUING_KEY_LABEL
);

impl IssuingKey {
    /// This key's id as written in issuer and supporter certificates.
    #[must_use]
    pub fn key_id(&self) -> [u8; 8] {
        key_id(&self.public())
    }
}

/// A supporter's X25519 static secret: the key seekers' Noise NK handshakes are addressed to.
pub struct SupporterSecret(StaticSecret);

impl SupporterSecret {
    /// Creates a fresh secret from the operating system's CSPRNG.
    ///
    /// # Errors
    /// `Rng` if randomness is unavailable.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::from_bytes(*random_seed()?))
    }

    /// Rebuilds the secret from its 32 bytes (clamping happens inside X25519).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// The 32 secret bytes, for writing the key file; zeroizes on drop.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The X25519 public key that goes into the supporter certificate.
    #[must_use]
    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }

    /// The secret in the text key-file format.
    #[must_use]
    pub fn to_key_file(&self) -> Zeroizing<String> {
        encode_key_file(SUPPORTER_KEY_LABEL, &self.to_bytes())
    }

    /// Loads the secret from the text key-file format.
    ///
    /// # Errors
    /// See [`decode_key_file`].
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        Ok(Self::from_bytes(*decode_key_file(
            SUPPORTER_KEY_LABEL,
            text,
        )?))
    }
}

/// Writes a supporter's key file: the version-1 file (X25519 only) without an ML-KEM key,
/// the version-2 file ([`SUPPORTER_KEY_MLKEM_LABEL`]) with one.
#[must_use]
pub fn encode_supporter_key_file(
    secret: &SupporterSecret,
    mlkem: Option<&crate::mlkem::MlKemSecret>,
) -> Zeroizing<String> {
    let Some(mlkem) = mlkem else {
        return secret.to_key_file();
    };
    let mut out = Zeroizing::new(String::with_capacity(160));
    out.push_str(SUPPORTER_KEY_MLKEM_LABEL);
    out.push('\n');
    STANDARD.encode_string(secret.to_bytes().as_slice(), &mut out);
    out.push('\n');
    STANDARD.encode_string(mlkem.seed().as_slice(), &mut out);
    out.push('\n');
    out
}

/// Reads a supporter's key file of either version: the X25519 secret, and the ML-KEM-768
/// key when the file is version 2. Version-1 files (`confidant keygen` before ML-KEM) load
/// as before.
///
/// # Errors
/// As for [`decode_key_file`]; a version-2 file must have exactly three lines, a 32-byte and
/// a 64-byte key.
pub fn decode_supporter_key_file(
    text: &str,
) -> Result<(SupporterSecret, Option<crate::mlkem::MlKemSecret>), KeyError> {
    let trimmed = text.strip_suffix('\n').unwrap_or(text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    let mut lines = trimmed
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines.next() != Some(SUPPORTER_KEY_MLKEM_LABEL) {
        return SupporterSecret::from_key_file(text).map(|s| (s, None));
    }
    let (Some(x25519), Some(mlkem), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(KeyError::Malformed);
    };
    let x25519: Zeroizing<[u8; 32]> = decode_exact(x25519)?;
    let seed: Zeroizing<[u8; 64]> = decode_exact(mlkem)?;
    Ok((
        SupporterSecret::from_bytes(*x25519),
        Some(crate::mlkem::MlKemSecret::from_seed(&seed)),
    ))
}

fn decode_exact<const N: usize>(line: &str) -> Result<Zeroizing<[u8; N]>, KeyError> {
    let mut buf = Zeroizing::new([0_u8; 96]);
    let n = STANDARD
        .decode_slice(line, buf.as_mut_slice())
        .map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => KeyError::WrongLength,
            base64::DecodeSliceError::DecodeError(_) => KeyError::BadBase64,
        })?;
    let key: [u8; N] = buf
        .get(..n)
        .and_then(|s| s.try_into().ok())
        .ok_or(KeyError::WrongLength)?;
    Ok(Zeroizing::new(key))
}

impl std::fmt::Debug for SupporterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupporterSecret")
            .field("public", &crate::hex::encode(&self.public()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supporter_key_file_versions() {
        let secret = SupporterSecret::from_bytes([9; 32]);
        let v1 = encode_supporter_key_file(&secret, None);
        let (back, kem) = decode_supporter_key_file(&v1).expect("v1");
        assert_eq!(back.public(), secret.public());
        assert!(kem.is_none());
        let mlkem = crate::mlkem::MlKemSecret::from_seed(&[4; 64]);
        let v2 = encode_supporter_key_file(&secret, Some(&mlkem));
        assert!(v2.starts_with("confidant-supporter-key-v2\n"));
        let (back, kem) = decode_supporter_key_file(&v2.replace('\n', "\r\n")).expect("v2");
        assert_eq!(back.public(), secret.public());
        assert_eq!(kem.expect("kem").public(), mlkem.public());
        let two_lines: String = v2.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(
            decode_supporter_key_file(&two_lines).map(|_| ()),
            Err(KeyError::Malformed)
        );
        let swapped = format!(
            "confidant-supporter-key-v2\n{}\n{}\n",
            v2.lines().nth(2).expect("3"),
            v2.lines().nth(1).expect("2")
        );
        assert_eq!(
            decode_supporter_key_file(&swapped).map(|_| ()),
            Err(KeyError::WrongLength)
        );
        assert_eq!(
            decode_supporter_key_file("confidant-root-key-v1\nAAAA\n").map(|_| ()),
            Err(KeyError::WrongLabel)
        );
    }

    #[test]
    fn key_file_round_trip() {
        let root = RootKey::from_bytes(&[5; 32]);
        let text = root.to_key_file();
        assert!(text.starts_with("confidant-root-key-v1\n"));
        let back = RootKey::from_key_file(&text).expect("parses");
        assert_eq!(back.public(), root.public());
        let crlf = text.replace('\n', "\r\n");
        assert!(RootKey::from_key_file(&crlf).is_ok());
        let trimmed = text.trim_end();
        assert!(RootKey::from_key_file(trimmed).is_ok());
    }

    #[test]
    fn key_file_errors() {
        let s = SupporterSecret::from_bytes([9; 32]);
        let text = s.to_key_file();
        assert_eq!(
            RootKey::from_key_file(&text).map(|_| ()),
            Err(KeyError::WrongLabel)
        );
        assert_eq!(
            decode_key_file(ROOT_KEY_LABEL, "confidant-root-key-v1").map(|_| ()),
            Err(KeyError::Malformed)
        );
        assert_eq!(
            decode_key_file(ROOT_KEY_LABEL, "confidant-root-key-v1\nAAAA\nAAAA\n").map(|_| ()),
            Err(KeyError::Malformed)
        );
        assert_eq!(
            decode_key_file(ROOT_KEY_LABEL, "confidant-root-key-v1\n!!!!\n").map(|_| ()),
            Err(KeyError::BadBase64)
        );
        assert_eq!(
            decode_key_file(ROOT_KEY_LABEL, "confidant-root-key-v1\nAAAA\n").map(|_| ()),
            Err(KeyError::WrongLength)
        );
        let long = format!("confidant-root-key-v1\n{}\n", STANDARD.encode([0_u8; 40]));
        assert_eq!(
            decode_key_file(ROOT_KEY_LABEL, &long).map(|_| ()),
            Err(KeyError::WrongLength)
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = SupporterSecret::from_bytes([0xab; 32]);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(&"ab".repeat(32)));
        let r = RootKey::from_bytes(&[0xab; 32]);
        assert!(!format!("{r:?}").contains(&"ab".repeat(32)));
    }

    #[test]
    fn supporter_public_matches_x25519() {
        let s = SupporterSecret::from_bytes([1; 32]);
        let back = SupporterSecret::from_bytes(*s.to_bytes());
        assert_eq!(s.public(), back.public());
    }
}
