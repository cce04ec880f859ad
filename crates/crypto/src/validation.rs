//! Verifying a supporter's credentials against the pinned root, offline and fail-closed.
//!
//! The clock and the highest revocation sequence already seen are arguments, so the same
//! function serves the seeker's client, the relay and deterministic tests. The order of checks
//! is part of the specification (`proto/crypto.md`): every implementation must report the same
//! first failure.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::certificate::{ALL_DOMAINS, IssuerCertificate, SupporterCertificate};
use crate::codec::CodecError;
use crate::keys::signed_message;
use crate::revocation::RevocationList;
use crate::signed_body::{SignedBody, split_signed};

/// Why a credential chain or revocation list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Bytes are not a canonical certificate or list (detail in the inner error).
    #[error("malformed credential: {0}")]
    Malformed(#[from] CodecError),
    /// The signature is valid, but for another kind of object.
    #[error("signature was made for another domain")]
    WrongDomain,
    /// The signature does not verify (strict Ed25519) under the expected key.
    #[error("bad signature")]
    BadSignature,
    /// `now` is before a certificate's `not_before`.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// `now` is after a certificate's `not_after`.
    #[error("certificate expired")]
    Expired,
    /// A certificate or list belongs to another program.
    #[error("credential belongs to another program")]
    WrongProgram,
    /// The supporter certificate names another issuing key than the issuer certificate.
    #[error("supporter certificate was not issued by this issuer")]
    IssuerMismatch,
    /// The supporter's X25519 key is low-order: no chat with it could be confidential.
    #[error("certificate carries a weak X25519 key")]
    WeakKey,
    /// The supporter's serial or its issuing key is on the revocation list.
    #[error("certificate revoked")]
    Revoked,
    /// `now` is after the revocation list's `next_update`.
    #[error("revocation list is stale")]
    RevocationStale,
    /// The list's sequence is lower than one already seen.
    #[error("revocation list sequence went backwards")]
    RevocationRolledBack,
}

impl CredentialError {
    /// Stable snake_case code, shared with every other implementation.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::WrongDomain => "wrong_domain",
            Self::BadSignature => "bad_signature",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::WrongProgram => "wrong_program",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::WeakKey => "weak_key",
            Self::Revoked => "revoked",
            Self::RevocationStale => "revocation_stale",
            Self::RevocationRolledBack => "revocation_rolled_back",
        }
    }

    /// The finer structural code for `Malformed`, if any.
    #[must_use]
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            Self::Malformed(e) => Some(e.code()),
            _ => None,
        }
    }
}

/// A supporter certificate that passed [`verify_chain`], with what callers need next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSupporter {
    /// The decoded certificate.
    pub certificate: SupporterCertificate,
    /// The decoded issuer certificate it was checked under.
    pub issuer: IssuerCertificate,
    /// SHA-256 of the certificate's wire bytes: the value bound into the Noise prologue.
    pub certificate_hash: [u8; 32],
    /// Sequence of the revocation list checked; store it as the new minimum.
    pub revocation_sequence: u64,
}

impl VerifiedSupporter {
    /// Checks again a chain that passed [`verify_chain`], now under `list` (which must itself
    /// have passed [`verify_revocation_list`] for the same program) and at `now_unix`: the
    /// validity windows, the list's freshness and program, and revocation — everything
    /// [`verify_chain`] checks that can change after the fact. The signatures cannot change
    /// (the bytes are the ones verified), so none is checked again: a relay re-checking
    /// every peer on a new list spends a few comparisons per peer, not three signature
    /// verifications.
    ///
    /// # Errors
    /// The first failed check, as [`verify_chain`] would report it.
    pub fn recheck(&self, list: &RevocationList, now_unix: u64) -> Result<(), CredentialError> {
        check_window(now_unix, self.issuer.not_before, self.issuer.not_after)?;
        check_window(
            now_unix,
            self.certificate.not_before,
            self.certificate.not_after,
        )?;
        if list.program != self.certificate.program {
            return Err(CredentialError::WrongProgram);
        }
        if now_unix > list.next_update {
            return Err(CredentialError::RevocationStale);
        }
        if list.revokes_issuer(&self.issuer.key_id) || list.revokes_serial(self.certificate.serial)
        {
            return Err(CredentialError::Revoked);
        }
        Ok(())
    }
}

/// Verifies `body || signature` under `public` for `T`'s domain, then decodes the body.
///
/// A signature that fails for `T`'s domain but verifies for another of our domains is
/// reported as `WrongDomain`, so a mix-up shows up as such rather than as a forgery.
fn verify_signed<T: SignedBody>(public: &[u8; 32], wire: &[u8]) -> Result<T, CredentialError> {
    let domain = T::DOMAIN;
    let (body, sig) = split_signed(wire)?;
    let key = VerifyingKey::from_bytes(public).map_err(|_| CredentialError::BadSignature)?;
    let sig = Signature::from_bytes(&sig);
    if key
        .verify_strict(&signed_message(domain, body), &sig)
        .is_ok()
    {
        return Ok(T::decode_body(body)?);
    }
    let other_domain = ALL_DOMAINS
        .iter()
        .filter(|d| **d != domain)
        .any(|d| key.verify_strict(&signed_message(d, body), &sig).is_ok());
    Err(if other_domain {
        CredentialError::WrongDomain
    } else {
        CredentialError::BadSignature
    })
}

fn check_window(now: u64, not_before: u64, not_after: u64) -> Result<(), CredentialError> {
    if now < not_before {
        return Err(CredentialError::NotYetValid);
    }
    if now > not_after {
        return Err(CredentialError::Expired);
    }
    Ok(())
}

/// Whether an X25519 public key is of small order (every scalar maps it to zero).
fn is_low_order_x25519(public: &[u8; 32]) -> bool {
    // Any clamped scalar is a multiple of the cofactor, so low-order points give all-zero.
    let probe = x25519_dalek::x25519([0x55; 32], *public);
    probe.iter().fold(0_u8, |acc, b| acc | b) == 0
}

/// Verifies a revocation list on its own: the relay's reload path and part of
/// [`verify_chain`].
///
/// Order: split and verify the root signature (domain), decode, program, sequence not below
/// `min_sequence`, `now <= next_update`.
///
/// # Errors
/// `Malformed`, `WrongDomain`, `BadSignature`, `WrongProgram`, `RevocationRolledBack`,
/// `RevocationStale`.
pub fn verify_revocation_list(
    root_public: &[u8; 32],
    program: &str,
    revocation_list: &[u8],
    now_unix: u64,
    min_sequence: u64,
) -> Result<RevocationList, CredentialError> {
    let list: RevocationList = verify_signed(root_public, revocation_list)?;
    if list.program != program {
        return Err(CredentialError::WrongProgram);
    }
    if list.sequence < min_sequence {
        return Err(CredentialError::RevocationRolledBack);
    }
    if now_unix > list.next_update {
        return Err(CredentialError::RevocationStale);
    }
    Ok(list)
}

/// Verifies root → issuer → supporter and the revocation list, in the specified order.
///
/// 1. issuer certificate: root signature (domain), decode, program, validity window;
/// 2. supporter certificate: issuer key id matches, issuer signature (domain), decode,
///    program, validity window, X25519 key not low-order;
/// 3. revocation list: as [`verify_revocation_list`];
/// 4. issuer key id or supporter serial revoked → `Revoked`.
///
/// # Errors
/// The first failed check as a [`CredentialError`]; nothing is trusted on error.
pub fn verify_chain(
    root_public: &[u8; 32],
    program: &str,
    issuer_certificate: &[u8],
    supporter_certificate: &[u8],
    revocation_list: &[u8],
    now_unix: u64,
    min_revocation_sequence: u64,
) -> Result<VerifiedSupporter, CredentialError> {
    let issuer: IssuerCertificate = verify_signed(root_public, issuer_certificate)?;
    if issuer.program != program {
        return Err(CredentialError::WrongProgram);
    }
    check_window(now_unix, issuer.not_before, issuer.not_after)?;

    // Decode before verifying only far enough to learn which issuer is named: a mismatch is
    // reported as such rather than as a bad signature.
    let claimed = SupporterCertificate::decode_unverified(supporter_certificate)
        .map(|c| c.issuer_key_id)
        .ok();
    if claimed.is_some_and(|id| id != issuer.key_id) {
        return Err(CredentialError::IssuerMismatch);
    }
    let supporter: SupporterCertificate = verify_signed(&issuer.public_key, supporter_certificate)?;
    if supporter.program != program {
        return Err(CredentialError::WrongProgram);
    }
    check_window(now_unix, supporter.not_before, supporter.not_after)?;
    if is_low_order_x25519(&supporter.x25519_public) {
        return Err(CredentialError::WeakKey);
    }
    // An ML-KEM-768 key must pass the FIPS 203 §7.2 modulus check (`proto/crypto.md` §6).
    if supporter
        .mlkem768_public
        .as_deref()
        .is_some_and(|key| !crate::mlkem::is_valid_public(key))
    {
        return Err(CredentialError::WeakKey);
    }

    let list = verify_revocation_list(
        root_public,
        program,
        revocation_list,
        now_unix,
        min_revocation_sequence,
    )?;
    if list.revokes_issuer(&issuer.key_id) || list.revokes_serial(supporter.serial) {
        return Err(CredentialError::Revoked);
    }

    Ok(VerifiedSupporter {
        certificate: supporter,
        issuer,
        certificate_hash: Sha256::digest(supporter_certificate).into(),
        revocation_sequence: list.sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::tests::sample_supporter;
    use crate::certificate::{ISSUER_CERTIFICATE_DOMAIN, REVOCATION_LIST_DOMAIN};
    use crate::keys::{IssuingKey, RootKey, SupporterSecret};

    struct Fixture {
        root: RootKey,
        issuer_wire: Vec<u8>,
        issuer: IssuingKey,
        supporter: SupporterCertificate,
        list: RevocationList,
    }

    fn fixture() -> Fixture {
        let root = RootKey::from_bytes(&[1; 32]);
        let issuer = IssuingKey::from_bytes(&[2; 32]);
        let issuer_wire = IssuerCertificate::new("example-health", issuer.public(), 0, 1000)
            .sign(&root)
            .expect("sign");
        let mut supporter = sample_supporter(issuer.key_id());
        supporter.x25519_public = SupporterSecret::from_bytes([3; 32]).public();
        let list = RevocationList {
            program: "example-health".into(),
            sequence: 5,
            issued_at: 100,
            next_update: 300,
            revoked_serials: vec![7],
            revoked_issuers: vec![],
        };
        Fixture {
            root,
            issuer_wire,
            issuer,
            supporter,
            list,
        }
    }

    fn run(f: &Fixture, now: u64, min: u64) -> Result<VerifiedSupporter, CredentialError> {
        let s = f.supporter.sign(&f.issuer).expect("sign");
        let l = f.list.sign(&f.root).expect("sign");
        verify_chain(
            &f.root.public(),
            "example-health",
            &f.issuer_wire,
            &s,
            &l,
            now,
            min,
        )
    }

    #[test]
    fn valid_chain() {
        let f = fixture();
        let v = run(&f, 150, 5).expect("valid");
        assert_eq!(v.revocation_sequence, 5);
        assert_eq!(v.certificate.serial, 42);
    }

    #[test]
    fn each_failure() {
        let f = fixture();
        assert_eq!(
            run(&f, 99, 0).map(|_| ()),
            Err(CredentialError::NotYetValid)
        );
        assert_eq!(run(&f, 201, 0).map(|_| ()), Err(CredentialError::Expired));
        assert_eq!(
            run(&f, 150, 6).map(|_| ()),
            Err(CredentialError::RevocationRolledBack)
        );
        let mut g = fixture();
        g.list.next_update = 149;
        assert_eq!(
            run(&g, 150, 0).map(|_| ()),
            Err(CredentialError::RevocationStale)
        );
        let mut g = fixture();
        g.list.revoked_serials = vec![42];
        assert_eq!(run(&g, 150, 0).map(|_| ()), Err(CredentialError::Revoked));
        let mut g = fixture();
        g.list.revoked_issuers = vec![g.issuer.key_id()];
        assert_eq!(run(&g, 150, 0).map(|_| ()), Err(CredentialError::Revoked));
        let mut g = fixture();
        g.supporter.program = "other".into();
        assert_eq!(
            run(&g, 150, 0).map(|_| ()),
            Err(CredentialError::WrongProgram)
        );
        let mut g = fixture();
        g.supporter.issuer_key_id = [0; 8];
        assert_eq!(
            run(&g, 150, 0).map(|_| ()),
            Err(CredentialError::IssuerMismatch)
        );
        let mut g = fixture();
        g.supporter.x25519_public = [0; 32];
        assert_eq!(run(&g, 150, 0).map(|_| ()), Err(CredentialError::WeakKey));
    }

    /// `recheck` (no signatures) gives what a full `verify_chain` with the new list and
    /// clock gives, for everything that can change after a chain first passed: the clock
    /// against both windows, the list's freshness, revoked serials and revoked issuers.
    #[test]
    fn recheck_agrees_with_a_full_verification() {
        let f = fixture();
        let verified = run(&f, 150, 5).expect("valid");
        type Change = Box<dyn Fn(&mut RevocationList)>;
        let cases: Vec<(&str, u64, Change)> = vec![
            ("unchanged", 150, Box::new(|_| {})),
            ("before the window", 99, Box::new(|_| {})),
            ("after the supporter window", 201, Box::new(|_| {})),
            ("stale list", 150, Box::new(|l| l.next_update = 149)),
            (
                "serial revoked",
                150,
                Box::new(|l| l.revoked_serials = vec![42]),
            ),
            (
                "other serial revoked",
                150,
                Box::new(|l| l.revoked_serials = vec![41, 43]),
            ),
            (
                "issuer revoked",
                150,
                Box::new(|l| l.revoked_issuers = vec![IssuingKey::from_bytes(&[2; 32]).key_id()]),
            ),
        ];
        for (name, now, change) in cases {
            let mut g = fixture();
            change(&mut g.list);
            g.list.sequence = 6;
            let full = run(&g, now, 6).map(|_| ());
            assert_eq!(verified.recheck(&g.list, now), full, "{name}");
        }
        // The issuer's own window counts too (the supporter's is inside it here).
        let mut short = fixture();
        short.issuer_wire = IssuerCertificate::new("example-health", short.issuer.public(), 0, 160)
            .sign(&short.root)
            .expect("sign");
        let verified = run(&short, 150, 5).expect("valid");
        assert_eq!(
            run(&short, 170, 5).map(|_| ()),
            Err(CredentialError::Expired)
        );
        assert_eq!(
            verified.recheck(&short.list, 170),
            Err(CredentialError::Expired)
        );
        // A list of another program never passes.
        let mut other = f.list.clone();
        other.program = "other".into();
        assert_eq!(
            run(&f, 150, 5).expect("valid").recheck(&other, 150),
            Err(CredentialError::WrongProgram)
        );
    }

    #[test]
    fn wrong_domain_is_detected() {
        let f = fixture();
        let body = f.supporter.encode_body().expect("body");
        let mut wire = body.clone();
        wire.extend_from_slice(&f.issuer.sign_raw_for_tests(REVOCATION_LIST_DOMAIN, &body));
        let l = f.list.sign(&f.root).expect("sign");
        let err = verify_chain(
            &f.root.public(),
            "example-health",
            &f.issuer_wire,
            &wire,
            &l,
            150,
            0,
        );
        assert_eq!(err.map(|_| ()), Err(CredentialError::WrongDomain));
        // And a revocation list signed as an issuer certificate.
        let lbody = f.list.encode_body().expect("body");
        let mut lwire = lbody.clone();
        lwire.extend_from_slice(&f.root.sign_raw_for_tests(ISSUER_CERTIFICATE_DOMAIN, &lbody));
        let err = verify_revocation_list(&f.root.public(), "example-health", &lwire, 150, 0);
        assert_eq!(err.map(|_| ()), Err(CredentialError::WrongDomain));
    }

    #[test]
    fn tampered_is_bad_signature() {
        let f = fixture();
        let mut s = f.supporter.sign(&f.issuer).expect("sign");
        if let Some(b) = s.get_mut(40) {
            *b ^= 1;
        }
        let l = f.list.sign(&f.root).expect("sign");
        let err = verify_chain(
            &f.root.public(),
            "example-health",
            &f.issuer_wire,
            &s,
            &l,
            150,
            0,
        );
        assert_eq!(err.map(|_| ()), Err(CredentialError::BadSignature));
    }
}
