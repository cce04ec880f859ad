//! `--dev`: the seed's two programs with ephemeral keys made in memory at start-up. Nothing
//! is written to disk; the keys die with the process.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use confidant_crypto::{
    CodecError, IssuerCertificate, IssuingKey, KeyError, RevocationList, RootKey,
    SupporterCertificate, SupporterSecret,
};
use confidant_proto::Resource;
use confidant_relay::ProgramConfig;

const DAY: u64 = 24 * 60 * 60;

/// Why dev keys could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    /// Randomness or key generation failed.
    #[error("key generation failed: {0:?}")]
    Key(KeyError),
    /// Encoding a certificate or list failed.
    #[error("encoding failed: {0:?}")]
    Codec(CodecError),
}

/// A dev program and every key the demo peer hook needs to get a credential.
pub(crate) struct DevProgram {
    /// Program id.
    pub(crate) id: &'static str,
    /// Human name.
    pub(crate) name: &'static str,
    /// The ephemeral root key.
    pub(crate) root: RootKey,
    /// The ephemeral issuing key.
    pub(crate) issuer: IssuingKey,
    /// Issuer certificate signed by `root`.
    #[allow(dead_code)] // read by the demo peer hook once it is plugged in
    pub(crate) issuer_certificate: Vec<u8>,
    /// Revocation list (sequence 1, revokes nothing).
    pub(crate) revocation_list: Vec<u8>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl DevProgram {
    /// The seed's programs: the Resident Peer Support Program and the TOH Peer Mentoring
    /// Program.
    pub(crate) fn seed() -> Result<Vec<Self>, DevError> {
        Ok(vec![
            Self::new("resident-peer-support", "Resident Peer Support Program")?,
            Self::new("toh-peer-mentoring", "TOH Peer Mentoring Program")?,
        ])
    }

    fn new(id: &'static str, name: &'static str) -> Result<Self, DevError> {
        let root = RootKey::generate().map_err(DevError::Key)?;
        let issuer = IssuingKey::generate().map_err(DevError::Key)?;
        let now = now_unix();
        let issuer_certificate =
            IssuerCertificate::new(id, issuer.public(), now - DAY, now + 30 * DAY)
                .sign(&root)
                .map_err(DevError::Codec)?;
        let revocation_list = RevocationList {
            program: id.to_owned(),
            sequence: 1,
            issued_at: now,
            next_update: now + 30 * DAY,
            revoked_serials: Vec::new(),
            revoked_issuers: Vec::new(),
        }
        .sign(&root)
        .map_err(DevError::Codec)?;
        Ok(Self {
            id,
            name,
            root,
            issuer,
            issuer_certificate,
            revocation_list,
        })
    }

    /// The relay configuration for this program.
    pub(crate) fn config(&self) -> ProgramConfig {
        ProgramConfig {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            root_public_key: self.root.public(),
            topics: ["adverse-event", "litigation", "burnout", "moral-injury"]
                .map(String::from)
                .to_vec(),
            languages: vec!["en".into(), "fr".into()],
            peer_roles: vec!["resident".into(), "staff".into(), "nursing".into()],
            resources: vec![Resource {
                title: "Faculty Wellness Program — counselling services".into(),
                url: None,
                phone: Some("613-562-5211".into()),
                email: None,
            }],
            wait_limit: confidant_proto::limits::DEFAULT_WAIT_LIMIT,
            revocation_list: self.revocation_list.clone(),
        }
    }

    /// Signs a demo supporter certificate for `secret` (for the demo peer hook).
    /// Returns the supporter certificate's wire bytes.
    #[allow(dead_code)] // used by the demo peer hook once it is plugged in
    pub(crate) fn issue_supporter(
        &self,
        secret: &SupporterSecret,
        serial: u64,
        display_name: &str,
        role: &str,
    ) -> Result<Vec<u8>, DevError> {
        let now = now_unix();
        SupporterCertificate {
            program: self.id.to_owned(),
            issuer_key_id: self.issuer.key_id(),
            serial,
            x25519_public: secret.public(),
            display_name: display_name.to_owned(),
            role: role.to_owned(),
            department: "Demo".to_owned(),
            topics: Vec::new(),
            languages: vec!["en".into(), "fr".into()],
            not_before: now - DAY,
            not_after: now + Duration::from_secs(7 * DAY).as_secs(),
        }
        .sign(&self.issuer)
        .map_err(DevError::Codec)
    }
}

/// Tells the operator how to try the relay.
pub(crate) fn print_banner(addr: SocketAddr, programs: &[DevProgram]) {
    println!("confidant-relay --dev: listening on {addr} (ephemeral keys, memory only)");
    println!("  programs:   http://{addr}/v1/programs");
    println!(
        "  websocket:  ws://{addr}{}",
        confidant_proto::limits::WEBSOCKET_PATH
    );
    for program in programs {
        println!("  program {:<24} {}", program.id, program.name);
    }
    println!("Try: curl http://{addr}/v1/programs");
    println!("Stop with Ctrl-C (clients are told and given time to finish).");
}
