//! Credentials for unit tests: a root, an issuer and supporters, all deterministic.

use confidant_crypto::SignedBody as _;
use confidant_crypto::{
    IssuerCertificate, IssuingKey, RevocationList, RootKey, SupporterCertificate, SupporterSecret,
};
use confidant_proto::{Base64Bytes, Credential};

pub(crate) const PROGRAM: &str = "test-program";
pub(crate) const NOW: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

pub(crate) struct Fixture {
    pub(crate) root: RootKey,
    pub(crate) issuing: IssuingKey,
    pub(crate) issuer_certificate: Vec<u8>,
}

pub(crate) struct Supporter {
    pub(crate) secret: SupporterSecret,
    pub(crate) certificate: Vec<u8>,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let root = RootKey::from_bytes(&[1; 32]);
        let issuing = IssuingKey::from_bytes(&[2; 32]);
        let issuer_certificate =
            IssuerCertificate::new(PROGRAM, issuing.public(), NOW - DAY, NOW + 90 * DAY)
                .sign(&root)
                .unwrap();
        Self {
            root,
            issuing,
            issuer_certificate,
        }
    }

    pub(crate) fn supporter(&self, seed: u8, serial: u64, department: &str) -> Supporter {
        let secret = SupporterSecret::from_bytes([seed; 32]);
        let certificate = SupporterCertificate {
            program: PROGRAM.to_owned(),
            issuer_key_id: self.issuing.key_id(),
            serial,
            x25519_public: secret.public(),
            display_name: format!("Supporter {serial}"),
            role: "resident".to_owned(),
            department: department.to_owned(),
            topics: vec!["burnout".to_owned()],
            languages: vec!["en".to_owned()],
            not_before: NOW - DAY,
            not_after: NOW + 30 * DAY,
            mlkem768_public: None,
        }
        .sign(&self.issuing)
        .unwrap();
        Supporter {
            secret,
            certificate,
        }
    }

    pub(crate) fn revocation_list(&self, sequence: u64, revoked: &[u64]) -> Vec<u8> {
        RevocationList {
            program: PROGRAM.to_owned(),
            sequence,
            issued_at: NOW - DAY,
            next_update: NOW + 7 * DAY,
            revoked_serials: revoked.to_vec(),
            revoked_issuers: Vec::new(),
        }
        .sign(&self.root)
        .unwrap()
    }

    pub(crate) fn credential(&self, supporter: &Supporter, list: Vec<u8>) -> Credential {
        Credential {
            issuer_certificate: Base64Bytes(self.issuer_certificate.clone()),
            supporter_certificate: Base64Bytes(supporter.certificate.clone()),
            revocation_list: Base64Bytes(list),
        }
    }
}
