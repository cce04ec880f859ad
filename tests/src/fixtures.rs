//! Programs and credentials made on the spot: a root key, an issuing key with its
//! certificate, revocation lists, and supporter credentials (valid, expired, revoked, or
//! for another program).

use confidant_crypto::SignedBody as _;
use confidant_crypto::{
    IssuerCertificate, IssuingKey, RevocationList, RootKey, SupporterCertificate, SupporterSecret,
};
use confidant_proto::{ClientFrame, Resource};
use confidant_relay::ProgramConfig;

/// One day, in seconds.
const DAY: u64 = 24 * 60 * 60;

/// The current Unix time.
pub fn now_unix() -> u64 {
    confidant_crypto::wall_clock::unix_now()
}

/// A program with its keys, as its administrator would hold them.
pub struct ProgramFixture {
    /// Program id.
    pub id: String,
    /// The root key (offline in real life).
    pub root: RootKey,
    /// The issuing key.
    pub issuer: IssuingKey,
    /// The issuer certificate, signed by the root.
    pub issuer_certificate: Vec<u8>,
    /// The current revocation list's sequence.
    pub sequence: u64,
    /// Serials revoked so far.
    pub revoked: Vec<u64>,
    /// The current signed revocation list.
    pub revocation_list: Vec<u8>,
    next_serial: u64,
}

/// A supporter's credential plus its secret key: what a peer client holds.
pub struct SupporterCredential {
    /// The X25519 secret (never leaves the "device").
    pub secret: SupporterSecret,
    /// Issuer certificate.
    pub issuer_certificate: Vec<u8>,
    /// Supporter certificate.
    pub supporter_certificate: Vec<u8>,
    /// Revocation list to present.
    pub revocation_list: Vec<u8>,
    /// The certificate's serial.
    pub serial: u64,
}

/// What a supporter certificate should say.
#[derive(Clone, Debug)]
pub struct SupporterSpec {
    /// Display name.
    pub display_name: String,
    /// Role, e.g. `resident`.
    pub role: String,
    /// Department.
    pub department: String,
    /// Topics.
    pub topics: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Validity start.
    pub not_before: u64,
    /// Validity end.
    pub not_after: u64,
}

impl Default for SupporterSpec {
    fn default() -> Self {
        let now = now_unix();
        Self {
            display_name: "Dr. Test Peer".into(),
            role: "resident".into(),
            department: "Emergency Medicine".into(),
            topics: vec![],
            languages: vec!["en".into(), "fr".into()],
            not_before: now - DAY,
            not_after: now + 30 * DAY,
        }
    }
}

impl ProgramFixture {
    /// A fresh program with sequence-1 revocation list revoking nothing.
    pub fn new(id: &str) -> Self {
        let root = RootKey::generate().expect("root key");
        let issuer = IssuingKey::generate().expect("issuing key");
        let now = now_unix();
        let issuer_certificate =
            IssuerCertificate::new(id, issuer.public(), now - DAY, now + 365 * DAY)
                .sign(&root)
                .expect("issuer certificate");
        let mut fixture = Self {
            id: id.to_owned(),
            root,
            issuer,
            issuer_certificate,
            sequence: 0,
            revoked: Vec::new(),
            revocation_list: Vec::new(),
            next_serial: 1,
        };
        fixture.revocation_list = fixture.revoke(&[]);
        fixture
    }

    /// Adds `serials` to the revoked set and signs the next list (sequence + 1).
    pub fn revoke(&mut self, serials: &[u64]) -> Vec<u8> {
        self.revoked.extend_from_slice(serials);
        self.sequence += 1;
        let now = now_unix();
        let list = RevocationList {
            program: self.id.clone(),
            sequence: self.sequence,
            issued_at: now,
            next_update: now + 7 * DAY,
            revoked_serials: self.revoked.clone(),
            revoked_issuers: Vec::new(),
        };
        self.revocation_list = list.sign(&self.root).expect("revocation list");
        self.revocation_list.clone()
    }

    /// A valid supporter with default attributes.
    pub fn supporter(&mut self) -> SupporterCredential {
        self.supporter_with(SupporterSpec::default())
    }

    /// A supporter with chosen attributes.
    pub fn supporter_with(&mut self, spec: SupporterSpec) -> SupporterCredential {
        let secret = SupporterSecret::generate().expect("supporter secret");
        let serial = self.next_serial;
        self.next_serial += 1;
        let certificate = SupporterCertificate {
            program: self.id.clone(),
            issuer_key_id: self.issuer.key_id(),
            serial,
            x25519_public: secret.public(),
            display_name: spec.display_name,
            role: spec.role,
            department: spec.department,
            topics: spec.topics,
            languages: spec.languages,
            not_before: spec.not_before,
            not_after: spec.not_after,
        };
        SupporterCredential {
            supporter_certificate: certificate
                .sign(&self.issuer)
                .expect("supporter certificate"),
            issuer_certificate: self.issuer_certificate.clone(),
            revocation_list: self.revocation_list.clone(),
            secret,
            serial,
        }
    }

    /// A supporter whose certificate expired yesterday.
    pub fn expired_supporter(&mut self) -> SupporterCredential {
        let now = now_unix();
        self.supporter_with(SupporterSpec {
            not_before: now - 10 * DAY,
            not_after: now - DAY,
            ..SupporterSpec::default()
        })
    }

    /// The relay-side configuration for this program, with the seed's resources.
    pub fn program_config(&self) -> ProgramConfig {
        ProgramConfig {
            id: self.id.clone(),
            name: format!("Test program {}", self.id),
            root_public_key: self.root.public(),
            topics: ["adverse-event", "litigation", "burnout", "moral-injury"]
                .map(String::from)
                .to_vec(),
            languages: vec!["en".into(), "fr".into()],
            peer_roles: vec![
                "resident".into(),
                "staff".into(),
                "nursing".into(),
                "demo".into(),
            ],
            resources: vec![Resource {
                title: "Faculty Wellness Program — counselling".into(),
                url: None,
                phone: Some("613-562-5211".into()),
                email: None,
            }],
            wait_limit: std::time::Duration::from_secs(60),
            revocation_list: self.revocation_list.clone(),
            details: confidant_relay::ProgramDetails::default(),
        }
    }
}

impl SupporterCredential {
    /// The `present` frame for this credential.
    pub fn present_frame(&self) -> ClientFrame {
        ClientFrame::Present {
            issuer_certificate: self.issuer_certificate.clone().into(),
            supporter_certificate: self.supporter_certificate.clone().into(),
            revocation_list: self.revocation_list.clone().into(),
        }
    }

    /// The answer to a possession challenge.
    pub fn answer(&self, challenge: &[u8]) -> Vec<u8> {
        confidant_crypto::answer_possession_challenge(
            &self.secret,
            &self.supporter_certificate,
            challenge,
        )
        .expect("answer challenge")
    }
}
