//! Programs and credentials made on the spot: a root key, an issuing key with its
//! certificate, revocation lists, and supporter credentials (valid, expired, revoked, or
//! for another program).

pub use confidant_crypto::wall_clock::unix_now as now_unix;
use confidant_crypto::{
    IssuingKey, MlKemSecret, ProgramAuthority, RootKey, SupporterProfile, SupporterSecret,
};
use confidant_proto::{ClientFrame, Resource};
use confidant_relay::ProgramConfig;

/// One day, in seconds.
const DAY: u64 = 24 * 60 * 60;

/// A program with its keys, as its administrator would hold them (the workspace's one
/// [`ProgramAuthority`], with the tests' validity windows).
pub struct ProgramFixture {
    /// Program id.
    pub id: String,
    /// The root, the issuing key and its certificate, and the revocation state.
    pub authority: ProgramAuthority,
    /// The current signed revocation list.
    pub revocation_list: Vec<u8>,
    next_serial: u64,
}

/// A supporter's credential plus its secret key: what a peer client holds.
pub struct SupporterCredential {
    /// The X25519 secret (never leaves the "device").
    pub secret: SupporterSecret,
    /// The ML-KEM-768 key of a certificate that carries one (the hybrid handshake).
    pub mlkem: Option<MlKemSecret>,
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
pub type SupporterSpec = SupporterProfile;

/// The tests' default supporter: a bilingual resident, valid from yesterday for 30 days.
pub fn default_supporter_spec() -> SupporterSpec {
    let now = now_unix();
    SupporterProfile {
        display_name: "Dr. Test Peer".into(),
        role: "resident".into(),
        department: "Emergency Medicine".into(),
        topics: vec![],
        languages: vec!["en".into(), "fr".into()],
        not_before: now - DAY,
        not_after: now + 30 * DAY,
    }
}

impl ProgramFixture {
    /// A fresh program with sequence-1 revocation list revoking nothing.
    pub fn new(id: &str) -> Self {
        let now = now_unix();
        let authority = ProgramAuthority::new(
            id,
            RootKey::generate().expect("root key"),
            IssuingKey::generate().expect("issuing key"),
            now - DAY,
            now + 365 * DAY,
        )
        .expect("issuer certificate");
        let mut fixture = Self {
            id: id.to_owned(),
            authority,
            revocation_list: Vec::new(),
            next_serial: 1,
        };
        fixture.revocation_list = fixture.revoke(&[]);
        fixture
    }

    /// The program's root key.
    pub fn root(&self) -> &RootKey {
        self.authority.root()
    }

    /// Adds `serials` to the revoked set and signs the next list (sequence + 1).
    pub fn revoke(&mut self, serials: &[u64]) -> Vec<u8> {
        let now = now_unix();
        self.revocation_list = self
            .authority
            .revoke(serials, now, now + 7 * DAY)
            .expect("revocation list");
        self.revocation_list.clone()
    }

    /// A valid supporter with default attributes.
    pub fn supporter(&mut self) -> SupporterCredential {
        self.supporter_with(default_supporter_spec())
    }

    /// A supporter with chosen attributes.
    pub fn supporter_with(&mut self, spec: SupporterSpec) -> SupporterCredential {
        self.issue(spec, None)
    }

    /// A valid supporter whose certificate (version 2) carries an ML-KEM-768 key: seekers
    /// run the hybrid post-quantum handshake with it.
    pub fn hybrid_supporter(&mut self) -> SupporterCredential {
        let mlkem = MlKemSecret::generate().expect("ML-KEM key");
        self.issue(default_supporter_spec(), Some(mlkem))
    }

    fn issue(&mut self, spec: SupporterSpec, mlkem: Option<MlKemSecret>) -> SupporterCredential {
        let secret = SupporterSecret::generate().expect("supporter secret");
        let serial = self.next_serial;
        self.next_serial += 1;
        SupporterCredential {
            supporter_certificate: self
                .authority
                .issue_with_mlkem(
                    serial,
                    secret.public(),
                    mlkem.as_ref().map(MlKemSecret::public),
                    spec,
                )
                .expect("supporter certificate"),
            issuer_certificate: self.authority.issuer_certificate().to_vec(),
            revocation_list: self.revocation_list.clone(),
            secret,
            mlkem,
            serial,
        }
    }

    /// A supporter whose certificate expired yesterday.
    pub fn expired_supporter(&mut self) -> SupporterCredential {
        let now = now_unix();
        self.supporter_with(SupporterSpec {
            not_before: now - 10 * DAY,
            not_after: now - DAY,
            ..default_supporter_spec()
        })
    }

    /// The relay-side configuration for this program, with the seed's resources.
    pub fn program_config(&self) -> ProgramConfig {
        ProgramConfig {
            id: self.id.clone(),
            name: format!("Test program {}", self.id),
            root_public_key: self.root().public(),
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
