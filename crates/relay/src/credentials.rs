//! Peer credential checks: the only place the relay calls into `confidant_crypto`.
//!
//! The relay verifies *public* things here — certificate chains, revocation lists and the
//! answer to a possession challenge — and nothing else: it never holds a chat's Noise state
//! (`clippy.toml` forbids the chat types in this crate).

use confidant_crypto::SignedBody as _;
use confidant_crypto::{
    CredentialError, RevocationList, VerifiedSupporter, verify_chain, verify_revocation_list,
};
use confidant_proto::limits::{MAX_CERTIFICATE, MAX_REVOCATION_LIST};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::config::ProgramConfig;
use crate::revocation_store::RevocationStore;
use confidant_matcher::PeerProfile;

/// Why a presented credential was refused: `credential_revoked` for a revoked certificate,
/// `credential_rejected` for everything else ([`PresentError::code`]).
#[derive(Debug, Error)]
pub(crate) enum PresentError {
    /// A certificate or list above the protocol's size limits.
    #[error("credential too large")]
    TooLarge,
    /// No revocation list is known for the program and none was presented.
    #[error("no revocation list")]
    NoRevocationList,
    /// The chain or list failed verification.
    #[error("credential rejected: {}", .0.code())]
    Rejected(#[from] CredentialError),
    /// The certificate's role is not one of the program's `peer_roles` (an issuance error:
    /// no seeker could ask for it, and the program does not offer it).
    #[error("credential rejected: role not offered by the program")]
    RoleNotOffered,
    /// The program lists its departments and the certificate names another: a seeker of
    /// that department could not ask to avoid this peer.
    #[error("credential rejected: department not listed by the program")]
    DepartmentNotListed,
}

impl PresentError {
    /// The catalogue code the peer is told. A certificate on the program's revocation list
    /// is `credential_revoked` (the supporter must ask the program, not retry); everything
    /// else is `credential_rejected`.
    pub(crate) fn code(&self) -> confidant_proto::ErrorCode {
        match self {
            Self::Rejected(CredentialError::Revoked) => {
                confidant_proto::ErrorCode::CredentialRevoked
            }
            _ => confidant_proto::ErrorCode::CredentialRejected,
        }
    }
}

/// A short, stable fingerprint of a program's root public key for logs and for comparing
/// keys by eye: the key id (first 8 bytes of SHA-256 of the key) in hex, as
/// `confidant admin init` prints it. Not the key itself.
pub fn root_key_fingerprint(root_public_key: &[u8; 32]) -> String {
    confidant_crypto::hex::encode(&confidant_crypto::keys::key_id(root_public_key))
}

/// Unix second of the last "does not verify under the root key" warning (0: never).
static LAST_BAD_SIGNATURE_WARNING: AtomicU64 = AtomicU64::new(0);

/// A presented credential whose signature does not verify under the program's root key:
/// either a forgery or — when it happens to every peer — a relay configured with the wrong
/// root key, which would otherwise refuse everyone in silence. Warned at most once a minute
/// (anyone can present a bad signature); says nothing about the client.
fn warn_bad_signature(program: &ProgramConfig, now_unix: u64) {
    let last = LAST_BAD_SIGNATURE_WARNING.load(Ordering::Relaxed);
    if now_unix.saturating_sub(last) < 60
        || LAST_BAD_SIGNATURE_WARNING
            .compare_exchange(last, now_unix, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    tracing::warn!(
        kind = "credential_bad_signature",
        program = %program.id,
        root_key_fingerprint = %root_key_fingerprint(&program.root_public_key),
        "a peer's credential does not verify under this program's root key (refused as credential_rejected); \
         if every peer is refused, the configured root_key is not the program's root public key: \
         compare this fingerprint with the one `confidant admin init` printed (at most one such warning a minute)"
    );
}

/// A verification failure, warned about first when it is a bad signature.
fn noticed(program: &ProgramConfig, now_unix: u64, error: CredentialError) -> CredentialError {
    if error == CredentialError::BadSignature {
        warn_bad_signature(program, now_unix);
    }
    error
}

/// A supporter whose chain verified; possession is still to be proven.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedPeer {
    pub(crate) profile: PeerProfile,
    pub(crate) display_name: String,
    pub(crate) x25519_public: [u8; 32],
    pub(crate) issuer_certificate: Vec<u8>,
    pub(crate) supporter_certificate: Vec<u8>,
    /// The chain as verified, for cheap re-checks against newer lists ([`still_valid`]).
    pub(crate) chain: Box<VerifiedSupporter>,
}

/// The proof-of-key challenge for a verified peer (the answer proves it holds the X25519
/// secret its certificate names).
pub(crate) use confidant_crypto::PossessionChallenge;

/// A challenge bound to `peer`'s key and certificate, and the message to send it.
pub(crate) fn possession_challenge(
    peer: &VerifiedPeer,
) -> Result<(PossessionChallenge, Vec<u8>), confidant_crypto::NoiseError> {
    PossessionChallenge::new(&peer.x25519_public, &peer.supporter_certificate)
}

/// Verifies a `present` frame against the program's root key and the newest revocation
/// list (the stored one or the presented one, whichever is newer; a newer valid presented
/// list replaces the stored one). Returns the peer and whether the stored list changed.
pub(crate) fn verify_presented(
    program: &ProgramConfig,
    store: &RevocationStore,
    now_unix: u64,
    issuer_certificate: &[u8],
    supporter_certificate: &[u8],
    revocation_list: &[u8],
) -> Result<(VerifiedPeer, bool), PresentError> {
    if issuer_certificate.len() > MAX_CERTIFICATE
        || supporter_certificate.len() > MAX_CERTIFICATE
        || revocation_list.len() > MAX_REVOCATION_LIST
    {
        return Err(PresentError::TooLarge);
    }
    let mut list_changed = false;
    if !revocation_list.is_empty() {
        // A presented list must be genuine even when older than ours: a forged list is a
        // forged credential.
        let list = verify_revocation_list(
            &program.root_public_key,
            &program.id,
            revocation_list,
            now_unix,
            0,
        )
        .map_err(|e| noticed(program, now_unix, e))?;
        list_changed = store.offer(&program.id, list, revocation_list);
    }
    let newest = store
        .current(&program.id)
        .ok_or(PresentError::NoRevocationList)?;
    let verified = verify_chain(
        &program.root_public_key,
        &program.id,
        issuer_certificate,
        supporter_certificate,
        &newest.bytes,
        now_unix,
        newest.sequence,
    )
    .map_err(|e| noticed(program, now_unix, e))?;
    let certificate = &verified.certificate;
    if !program.peer_roles.is_empty() && !program.peer_roles.contains(&certificate.role) {
        return Err(PresentError::RoleNotOffered);
    }
    if !program.lists_department(&certificate.department) {
        return Err(PresentError::DepartmentNotListed);
    }
    Ok((
        VerifiedPeer {
            profile: PeerProfile {
                role: certificate.role.clone(),
                topics: certificate.topics.clone(),
                languages: certificate.languages.clone(),
            },
            display_name: certificate.display_name.clone(),
            x25519_public: certificate.x25519_public,
            issuer_certificate: issuer_certificate.to_vec(),
            supporter_certificate: supporter_certificate.to_vec(),
            chain: Box::new(verified),
        },
        list_changed,
    ))
}

/// Whether a peer verified earlier still passes with the program's newest list and the
/// clock. Runs on the hub (at `prove`, and for every peer when a new list arrives), so it
/// verifies no signature: the chain's were verified at `present` and the list's when it was
/// stored; what can have changed since — revocation, the windows, the list's freshness — is
/// compared ([`VerifiedSupporter::recheck`]).
pub(crate) fn still_valid(
    program: &ProgramConfig,
    store: &RevocationStore,
    now_unix: u64,
    peer: &VerifiedPeer,
) -> bool {
    let Some(newest) = store.current(&program.id) else {
        return true;
    };
    newest.list.program == program.id && peer.chain.recheck(&newest.list, now_unix).is_ok()
}

/// Whether `bytes` could replace `program`'s stored list, judged without verifying it: not
/// when it is the stored list itself or claims a sequence no higher than the stored one
/// (such a list is refused anyway, genuine or not). Lets the cluster skip a signature check
/// for the list every other node repeats in every presence. Nothing is trusted from the
/// unverified decode: a list that passes here is still verified before it is stored.
pub(crate) fn could_replace(store: &RevocationStore, program: &str, bytes: &[u8]) -> bool {
    let Some(current) = store.current(program) else {
        return true;
    };
    if current.bytes.as_ref() == bytes {
        return false;
    }
    RevocationList::decode_unverified(bytes)
        .is_ok_and(|claimed| claimed.sequence > current.sequence)
}

/// Verifies a list an operator supplies and stores it if newer. Returns its sequence.
pub(crate) fn install_list(
    program: &ProgramConfig,
    store: &RevocationStore,
    now_unix: u64,
    bytes: &[u8],
) -> Result<(u64, bool), CredentialError> {
    let min = store.current(&program.id).map_or(0, |l| l.sequence);
    let list = verify_revocation_list(&program.root_public_key, &program.id, bytes, now_unix, min)?;
    let sequence = list.sequence;
    let changed = store.offer(&program.id, list, bytes);
    Ok((sequence, changed))
}

#[cfg(test)]
mod tests {
    use confidant_crypto::SignedBody as _;
    use confidant_crypto::{RevocationList, RootKey};

    use super::could_replace;
    use crate::revocation_store::RevocationStore;

    fn list(root: &RootKey, sequence: u64) -> (RevocationList, Vec<u8>) {
        let list = RevocationList {
            program: "p".into(),
            sequence,
            issued_at: 0,
            next_update: u64::MAX,
            revoked_serials: vec![],
            revoked_issuers: vec![],
        };
        let bytes = list.sign(root).expect("sign");
        (list, bytes)
    }

    #[test]
    fn only_a_list_claiming_a_higher_sequence_could_replace_the_stored_one() {
        let root = RootKey::from_bytes(&[7; 32]);
        let store = RevocationStore::default();
        let (_, one_bytes) = list(&root, 1);
        assert!(could_replace(&store, "p", &one_bytes), "nothing stored yet");
        let (two, two_bytes) = list(&root, 2);
        assert!(store.offer("p", two, &two_bytes));
        assert!(
            !could_replace(&store, "p", &two_bytes),
            "the stored list itself"
        );
        assert!(!could_replace(&store, "p", &one_bytes), "an older list");
        let (_, three_bytes) = list(&root, 3);
        assert!(could_replace(&store, "p", &three_bytes), "a newer list");
        assert!(!could_replace(&store, "p", b"not a list"), "garbage");
    }
}
