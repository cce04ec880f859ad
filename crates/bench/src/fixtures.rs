//! Programs and supporter credentials made on the spot, as a program administrator would
//! hold them: root key, issuing key and certificate, revocation list, supporter certificates.

pub(crate) use confidant_crypto::hex::encode as hex;
pub(crate) use confidant_crypto::wall_clock::unix_now as now_unix;
use confidant_crypto::{
    ChatSession, IssuingKey, MlKemSecret, PeerHandshake, ProgramAuthority, RootKey,
    SupporterProfile, SupporterSecret,
};
use confidant_proto::ClientFrame;

use crate::Result;

const DAY: u64 = 24 * 60 * 60;

/// A program with its keys (the workspace's one [`ProgramAuthority`]).
pub(crate) struct Program {
    pub(crate) id: String,
    pub(crate) root_public: [u8; 32],
    authority: ProgramAuthority,
    pub(crate) revocation_list: Vec<u8>,
    next_serial: u64,
    /// Supporters get an ML-KEM-768 key too (version-2 certificates: hybrid handshakes).
    pub(crate) hybrid: bool,
}

/// What a peer client holds.
pub(crate) struct Credential {
    pub(crate) secret: SupporterSecret,
    pub(crate) issuer_certificate: Vec<u8>,
    pub(crate) supporter_certificate: Vec<u8>,
    pub(crate) revocation_list: Vec<u8>,
    /// The ML-KEM-768 key of a version-2 certificate.
    pub(crate) mlkem: Option<MlKemSecret>,
}

impl Program {
    /// A fresh program whose revocation list (sequence 1) revokes nothing.
    pub(crate) fn new(id: &str) -> Result<Self> {
        let root = RootKey::generate().map_err(|e| format!("root key: {e:?}"))?;
        let issuer = IssuingKey::generate().map_err(|e| format!("issuing key: {e:?}"))?;
        let now = now_unix();
        let authority = ProgramAuthority::new(id, root, issuer, now - DAY, now + 365 * DAY)
            .map_err(|e| format!("issuer certificate: {e:?}"))?;
        let mut program = Self {
            id: id.to_owned(),
            root_public: authority.root().public(),
            authority,
            revocation_list: Vec::new(),
            next_serial: 1,
            hybrid: false,
        };
        program.next_list(Vec::new())?;
        Ok(program)
    }

    /// A valid supporter credential with a fresh X25519 key.
    pub(crate) fn supporter(&mut self) -> Result<Credential> {
        let secret = SupporterSecret::generate().map_err(|e| format!("secret: {e:?}"))?;
        let serial = self.next_serial;
        self.next_serial += 1;
        let now = now_unix();
        let profile = SupporterProfile {
            display_name: format!("Bench Peer {serial}"),
            role: "resident".into(),
            department: "Emergency Medicine".into(),
            topics: vec![],
            languages: vec!["en".into()],
            not_before: now - DAY,
            not_after: now + 30 * DAY,
        };
        let mlkem = if self.hybrid {
            Some(MlKemSecret::generate().map_err(|e| format!("ML-KEM key: {e:?}"))?)
        } else {
            None
        };
        Ok(Credential {
            supporter_certificate: self
                .authority
                .issue_with_mlkem(
                    serial,
                    secret.public(),
                    mlkem.as_ref().map(MlKemSecret::public),
                    profile,
                )
                .map_err(|e| format!("supporter certificate: {e:?}"))?,
            issuer_certificate: self.authority.issuer_certificate().to_vec(),
            revocation_list: self.revocation_list.clone(),
            secret,
            mlkem,
        })
    }

    /// A newer revocation list (its sequence one above the program's current one) that
    /// revokes `serials`; it becomes the program's current list.
    pub(crate) fn next_list(&mut self, serials: Vec<u64>) -> Result<Vec<u8>> {
        let now = now_unix();
        self.revocation_list = self
            .authority
            .revoke(&serials, now, now + 7 * DAY)
            .map_err(|e| format!("revocation list: {e:?}"))?;
        Ok(self.revocation_list.clone())
    }

    /// How the child relay learns the program: `id:root_hex:revocation_list_hex`.
    pub(crate) fn to_arg(&self) -> String {
        format!(
            "{}:{}:{}",
            self.id,
            hex(&self.root_public),
            hex(&self.revocation_list)
        )
    }
}

impl Credential {
    /// Answers a seeker's msg1 as the SDK's peer does: hybrid exactly when this
    /// credential's certificate carries an ML-KEM key.
    pub(crate) fn respond(&self, msg1: &[u8]) -> Result<(ChatSession, Vec<u8>)> {
        PeerHandshake::respond_for_certificate(
            &self.secret,
            self.mlkem.as_ref(),
            &self.supporter_certificate,
            &[],
            msg1,
        )
        .map_err(|e| format!("respond: {e:?}").into())
    }

    /// The `present` frame.
    pub(crate) fn present_frame(&self) -> ClientFrame {
        ClientFrame::Present {
            issuer_certificate: self.issuer_certificate.clone().into(),
            supporter_certificate: self.supporter_certificate.clone().into(),
            revocation_list: self.revocation_list.clone().into(),
        }
    }
}

/// Parses lowercase or uppercase hex.
pub(crate) fn unhex(text: &str) -> Result<Vec<u8>> {
    confidant_crypto::hex::decode_vec(text).ok_or_else(|| "not hex".into())
}
