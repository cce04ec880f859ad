//! Confidant's cryptography: the only crate that touches keys.
//!
//! * [`handshake`] / [`session`] — the seeker ↔ supporter chat over
//!   `Noise_NK_25519_ChaChaPoly_SHA256`, certificate-bound prologue, fail-closed transport.
//! * [`record`] — the padded record format inside the encryption.
//! * [`certificate`], [`revocation`], [`validation`], [`keys`] — credentials without a roster:
//!   root → issuing key → supporter certificate, plus a root-signed revocation list.
//! * [`possession`] — how the relay checks a supporter holds its key without ever being able
//!   to read a chat.
//! * [`noise_resolver`] — the primitives `snow` runs on.
//!
//! No I/O and no async: time and randomness come in as arguments or through one module.
//! The byte-level specification is `proto/crypto.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod certificate;
pub mod codec;
pub mod handshake;
pub mod hex;
pub mod keys;
pub mod mlkem;
pub mod noise_error;
pub mod noise_resolver;
pub mod possession;
pub mod program_authority;
mod random;
pub mod record;
pub mod revocation;
pub mod session;
pub mod signed_body;
pub mod validation;
pub mod wall_clock;

pub use certificate::{
    ISSUER_CERTIFICATE_DOMAIN, IssuerCertificate, REVOCATION_LIST_DOMAIN,
    SUPPORTER_CERTIFICATE_DOMAIN, SupporterCertificate,
};
pub use codec::CodecError;
pub use handshake::{
    CHAT_PROLOGUE_LABEL, HYBRID_MSG1_LEN, HYBRID_PROTOCOL_NAME, MAX_NOISE_MESSAGE, PROTOCOL_NAME,
    PROTOCOL_VERSION, PeerHandshake, SeekerHandshake, agreed_chat_features, chat_prologue,
};
pub use keys::{
    IssuingKey, KeyError, RootKey, SupporterSecret, decode_supporter_key_file,
    encode_supporter_key_file,
};
pub use mlkem::MlKemSecret;
pub use noise_error::NoiseError;
pub use noise_resolver::ConfidantResolver;
pub use possession::{PossessionChallenge, answer_possession_challenge};
pub use program_authority::{ProgramAuthority, SupporterProfile};
pub use record::{
    BUCKETS, MAX_TEXT_BYTES, Record, RecordError, ResourceCard, decode_padded, encode_padded,
};
pub use revocation::RevocationList;
pub use session::ChatSession;
pub use signed_body::SignedBody;
pub use validation::{CredentialError, VerifiedSupporter, verify_chain, verify_revocation_list};
