//! The root-signed revocation list.
//!
//! Signed by the root (not an issuing key) so that a compromised issuing key can itself be
//! revoked. `sequence` only ever grows; relying parties remember the highest they have seen
//! and refuse older lists, so a relay cannot replay a list from before a revocation.

use crate::certificate::REVOCATION_LIST_DOMAIN;
use crate::codec::{CodecError, Reader, Writer};
use crate::keys::RootKey;
use crate::signed_body::{CREDENTIAL_VERSION, SignedBody};

/// Most revoked serials one list may carry.
pub const MAX_REVOKED_SERIALS: usize = 10_000;

/// Most revoked issuing keys one list may carry.
pub const MAX_REVOKED_ISSUERS: usize = 1_000;

/// Which supporter certificates and issuing keys are no longer trusted, as of `sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    /// Program identifier; must equal the relying party's.
    pub program: String,
    /// Monotonic list number; a higher number supersedes every lower one.
    pub sequence: u64,
    /// When the list was made (Unix seconds); informational, not checked against the clock.
    pub issued_at: u64,
    /// Last second (inclusive) the list may be relied on; after it the list is stale.
    pub next_update: u64,
    /// Revoked supporter-certificate serials, strictly ascending.
    pub revoked_serials: Vec<u64>,
    /// Revoked issuing-key ids, strictly ascending.
    pub revoked_issuers: Vec<[u8; 8]>,
}

impl RevocationList {
    /// Sorts and de-duplicates both lists, the form the encoding requires.
    pub fn normalize(&mut self) {
        self.revoked_serials.sort_unstable();
        self.revoked_serials.dedup();
        self.revoked_issuers.sort_unstable();
        self.revoked_issuers.dedup();
    }

    /// Whether the list revokes this serial (binary search; the list is sorted).
    #[must_use]
    pub fn revokes_serial(&self, serial: u64) -> bool {
        self.revoked_serials.binary_search(&serial).is_ok()
    }

    /// Whether the list revokes this issuing key.
    #[must_use]
    pub fn revokes_issuer(&self, key_id: &[u8; 8]) -> bool {
        self.revoked_issuers.binary_search(key_id).is_ok()
    }
}

/// Signed by the root under [`REVOCATION_LIST_DOMAIN`].
impl SignedBody for RevocationList {
    const DOMAIN: &'static str = REVOCATION_LIST_DOMAIN;
    type Signer = RootKey;

    /// Fails if a field is out of bounds or a list is not strictly ascending (see
    /// [`RevocationList::normalize`]; [`SignedBody::sign`] normalises a copy first).
    fn encode_body(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer::new();
        w.u8(CREDENTIAL_VERSION);
        w.str(&self.program, true)?;
        w.u64(self.sequence);
        w.u64(self.issued_at);
        w.u64(self.next_update);
        w.u64_list(&self.revoked_serials, MAX_REVOKED_SERIALS)?;
        w.id_list(&self.revoked_issuers, MAX_REVOKED_ISSUERS)?;
        Ok(w.finish())
    }

    fn decode_body(body: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(body);
        r.version(CREDENTIAL_VERSION)?;
        let list = Self {
            program: r.str(true)?,
            sequence: r.u64()?,
            issued_at: r.u64()?,
            next_update: r.u64()?,
            revoked_serials: r.u64_list(MAX_REVOKED_SERIALS)?,
            revoked_issuers: r.id_list(MAX_REVOKED_ISSUERS)?,
        };
        r.finish()?;
        Ok(list)
    }

    /// Normalises a copy (sorted, no duplicates: the form the encoding requires), signs it
    /// with the root and returns the wire form.
    fn sign(&self, root: &RootKey) -> Result<Vec<u8>, CodecError> {
        let mut list = self.clone();
        list.normalize();
        let mut wire = list.encode_body()?;
        wire.extend_from_slice(&crate::signed_body::DomainSigner::sign_domain(
            root,
            Self::DOMAIN,
            &wire,
        ));
        Ok(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_normalizes() {
        let root = RootKey::from_bytes(&[1; 32]);
        let list = RevocationList {
            program: "p".into(),
            sequence: 3,
            issued_at: 1,
            next_update: 2,
            revoked_serials: vec![5, 1, 5],
            revoked_issuers: vec![[2; 8], [1; 8]],
        };
        assert_eq!(list.encode_body(), Err(CodecError::Unsorted));
        let wire = list.sign(&root).expect("sign");
        let back = RevocationList::decode_unverified(&wire).expect("decode");
        assert_eq!(back.revoked_serials, vec![1, 5]);
        assert!(back.revokes_serial(5));
        assert!(!back.revokes_serial(4));
        assert!(back.revokes_issuer(&[1; 8]));
    }

    #[test]
    fn too_many_serials() {
        let list = RevocationList {
            program: "p".into(),
            sequence: 0,
            issued_at: 0,
            next_update: 0,
            revoked_serials: (0..=10_000).collect(),
            revoked_issuers: vec![],
        };
        assert_eq!(list.encode_body(), Err(CodecError::ListTooLong));
    }

    proptest! {
        #[test]
        fn round_trips(mut serials in proptest::collection::vec(any::<u64>(), 0..50), seq in any::<u64>()) {
            serials.sort_unstable();
            serials.dedup();
            let list = RevocationList {
                program: "prog".into(),
                sequence: seq,
                issued_at: 1,
                next_update: 2,
                revoked_serials: serials,
                revoked_issuers: vec![[0; 8], [1; 8]],
            };
            let body = list.encode_body().expect("body");
            prop_assert_eq!(RevocationList::decode_body(&body).expect("decodes"), list);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = RevocationList::decode_unverified(&bytes);
        }
    }
}
