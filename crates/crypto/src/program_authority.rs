//! A program's signing authority held in memory: its root key, one issuing key and that
//! key's issuer certificate. It issues supporter certificates and signs revocation lists
//! whose sequence only grows.
//!
//! This is what `confidant admin` does with key files, for the places that need a whole
//! program at once and keep nothing: the relay's `--dev` mode, the tests and the bench (one
//! implementation instead of one per harness). Validity windows are arguments: each caller
//! states its own.

use crate::codec::CodecError;
use crate::keys::{IssuingKey, RootKey};
use crate::{IssuerCertificate, RevocationList, SignedBody as _, SupporterCertificate};

/// What a supporter certificate says about its holder (everything but the program, the
/// issuer, the serial and the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupporterProfile {
    /// Name shown to seekers; never empty.
    pub display_name: String,
    /// Role tag, e.g. `resident`.
    pub role: String,
    /// Department (free text; programs list theirs).
    pub department: String,
    /// Topic tags.
    pub topics: Vec<String>,
    /// Language tags.
    pub languages: Vec<String>,
    /// First valid second (Unix time, inclusive).
    pub not_before: u64,
    /// Last valid second (Unix time, inclusive).
    pub not_after: u64,
}

/// A program's root, one issuing key and its issuer certificate, and the revocation state.
#[derive(Debug)]
pub struct ProgramAuthority {
    program: String,
    root: RootKey,
    issuing: IssuingKey,
    issuer_certificate: Vec<u8>,
    sequence: u64,
    revoked_serials: Vec<u64>,
}

impl ProgramAuthority {
    /// An authority for `program` whose issuer certificate (signed by `root` for `issuing`)
    /// is valid from `not_before` to `not_after`. No revocation list is signed yet.
    ///
    /// # Errors
    /// If the program id cannot be encoded (empty or too long).
    pub fn new(
        program: &str,
        root: RootKey,
        issuing: IssuingKey,
        not_before: u64,
        not_after: u64,
    ) -> Result<Self, CodecError> {
        let issuer_certificate =
            IssuerCertificate::new(program, issuing.public(), not_before, not_after).sign(&root)?;
        Ok(Self {
            program: program.to_owned(),
            root,
            issuing,
            issuer_certificate,
            sequence: 0,
            revoked_serials: Vec::new(),
        })
    }

    /// The program id.
    #[must_use]
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The root key (whose public half relays and clients pin).
    #[must_use]
    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// The issuing key.
    #[must_use]
    pub fn issuing(&self) -> &IssuingKey {
        &self.issuing
    }

    /// The issuer certificate's wire bytes.
    #[must_use]
    pub fn issuer_certificate(&self) -> &[u8] {
        &self.issuer_certificate
    }

    /// The sequence of the last list signed (0 before the first).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// A supporter certificate (wire bytes) with `serial` for the X25519 key `x25519_public`.
    ///
    /// # Errors
    /// If the profile cannot be encoded (a field too long, a role, topic or language that is
    /// not a tag).
    pub fn issue(
        &self,
        serial: u64,
        x25519_public: [u8; 32],
        profile: SupporterProfile,
    ) -> Result<Vec<u8>, CodecError> {
        self.issue_with_mlkem(serial, x25519_public, None, profile)
    }

    /// Like [`ProgramAuthority::issue`], with the supporter's ML-KEM-768 encapsulation key
    /// when given (a version-2 certificate: seekers then use the hybrid handshake).
    ///
    /// # Errors
    /// As for [`ProgramAuthority::issue`]; a key that is not 1184 bytes.
    pub fn issue_with_mlkem(
        &self,
        serial: u64,
        x25519_public: [u8; 32],
        mlkem768_public: Option<Vec<u8>>,
        profile: SupporterProfile,
    ) -> Result<Vec<u8>, CodecError> {
        SupporterCertificate {
            program: self.program.clone(),
            issuer_key_id: self.issuing.key_id(),
            serial,
            x25519_public,
            display_name: profile.display_name,
            role: profile.role,
            department: profile.department,
            topics: profile.topics,
            languages: profile.languages,
            not_before: profile.not_before,
            not_after: profile.not_after,
            mlkem768_public,
        }
        .sign(&self.issuing)
    }

    /// Adds `serials` to the revoked set and signs the next list (sequence one above the
    /// last), issued at `issued_at` and relied on until `next_update`.
    ///
    /// # Errors
    /// If the list cannot be encoded (too many serials).
    pub fn revoke(
        &mut self,
        serials: &[u64],
        issued_at: u64,
        next_update: u64,
    ) -> Result<Vec<u8>, CodecError> {
        let mut revoked_serials = self.revoked_serials.clone();
        revoked_serials.extend_from_slice(serials);
        let list = RevocationList {
            program: self.program.clone(),
            sequence: self.sequence.saturating_add(1),
            issued_at,
            next_update,
            revoked_serials,
            revoked_issuers: Vec::new(),
        };
        let wire = list.sign(&self.root)?;
        self.sequence = list.sequence;
        self.revoked_serials = list.revoked_serials;
        Ok(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::verify_chain;

    #[test]
    fn what_it_issues_verifies_and_what_it_revokes_is_refused() {
        let now = 1_700_000_000;
        let mut authority = ProgramAuthority::new(
            "example",
            RootKey::from_bytes(&[1; 32]),
            IssuingKey::from_bytes(&[2; 32]),
            now - 10,
            now + 1000,
        )
        .unwrap();
        let profile = SupporterProfile {
            display_name: "Sam".into(),
            role: "resident".into(),
            department: "Surgery".into(),
            topics: vec![],
            languages: vec!["en".into()],
            not_before: now - 10,
            not_after: now + 100,
        };
        let key = crate::SupporterSecret::from_bytes([9; 32]).public();
        let certificate = authority.issue(7, key, profile).unwrap();
        let root = authority.root().public();
        let first = authority.revoke(&[], now, now + 50).unwrap();
        let verified = verify_chain(
            &root,
            "example",
            authority.issuer_certificate(),
            &certificate,
            &first,
            now,
            0,
        )
        .unwrap();
        assert_eq!(verified.certificate.serial, 7);
        let second = authority.revoke(&[7], now, now + 50).unwrap();
        assert_eq!(authority.sequence(), 2);
        let refused = verify_chain(
            &root,
            "example",
            authority.issuer_certificate(),
            &certificate,
            &second,
            now,
            1,
        );
        assert_eq!(
            refused.err(),
            Some(crate::validation::CredentialError::Revoked)
        );
    }
}
