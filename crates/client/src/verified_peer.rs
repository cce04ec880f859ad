//! Checking a matched peer's credential in the client, against the pinned root key.
//!
//! This is the heart of "the relay cannot impersonate a peer supporter": whatever the relay
//! claims, the seeker only sees the name, role and department that the program's root key
//! (via an issuing key) signed, and only talks to the X25519 key that certificate names.

use confidant_proto::Credential;

use crate::clock::Clock;
use crate::error::ClientError;
use crate::revocation_memory::RevocationMemory;

/// A peer supporter as the program signed them. Everything here comes from the verified
/// certificate, nothing from the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPeer {
    /// The display name the program signed.
    pub display_name: String,
    /// The kind of peer, e.g. `resident`.
    pub role: String,
    /// The peer's department (used for the seeker's local "avoid my department" check).
    pub department: String,
    /// Topics the peer is trained for.
    pub topics: Vec<String>,
    /// Languages the peer speaks.
    pub languages: Vec<String>,
    /// The certificate carries an ML-KEM-768 key, so this chat runs the hybrid
    /// post-quantum handshake (X25519 and ML-KEM; `proto/crypto.md` §2.1). Decided by the
    /// signed certificate alone: there is no fallback to X25519 only.
    pub post_quantum: bool,
}

/// A verified credential: what to show, and the key to run Noise towards.
#[derive(Debug)]
pub(crate) struct CheckedCredential {
    pub(crate) peer: VerifiedPeer,
    pub(crate) static_key: [u8; 32],
    /// The ML-KEM-768 key of a version-2 certificate (checked by `verify_chain`).
    pub(crate) mlkem_public: Option<Vec<u8>>,
    pub(crate) supporter_certificate: Vec<u8>,
}

/// Verifies `credential` for `program` against `root_key`, the client's clock and the
/// highest revocation sequence this client has seen; on success remembers the list's
/// sequence so a later, older list is refused.
pub(crate) fn check_credential(
    root_key: &[u8; 32],
    program: &str,
    credential: &Credential,
    clock: &dyn Clock,
    memory: &RevocationMemory,
) -> Result<CheckedCredential, ClientError> {
    let verified = confidant_crypto::verify_chain(
        root_key,
        program,
        credential.issuer_certificate.as_bytes(),
        credential.supporter_certificate.as_bytes(),
        credential.revocation_list.as_bytes(),
        clock.now_unix(),
        memory.minimum(program),
    )
    .map_err(ClientError::PeerRejected)?;
    memory.observe(program, verified.revocation_sequence);
    let certificate = verified.certificate;
    Ok(CheckedCredential {
        static_key: certificate.x25519_public,
        peer: VerifiedPeer {
            post_quantum: certificate.mlkem768_public.is_some(),
            display_name: certificate.display_name,
            role: certificate.role,
            department: certificate.department,
            topics: certificate.topics,
            languages: certificate.languages,
        },
        supporter_certificate: credential.supporter_certificate.as_bytes().to_vec(),
        mlkem_public: certificate.mlkem768_public,
    })
}

/// Whether a signed department is the one the seeker asked to avoid. Compared without
/// regard to case or surrounding spaces, since the seeker types theirs by hand.
pub(crate) fn same_department(signed: &str, avoid: &str) -> bool {
    let avoid = avoid.trim();
    !avoid.is_empty() && signed.trim().eq_ignore_ascii_case(avoid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn department_comparison_is_forgiving_but_not_empty() {
        assert!(same_department(
            "Emergency Medicine",
            " emergency medicine "
        ));
        assert!(!same_department("Emergency Medicine", "Surgery"));
        assert!(!same_department("", ""));
        assert!(!same_department("Surgery", "  "));
    }
}
