//! Everything a peer supporter presents and proves with: the certificate chain, the current
//! revocation list, and the X25519 secret that never leaves the device.

use confidant_crypto::SignedBody as _;
use std::path::Path;

use confidant_crypto::{
    MlKemSecret, SupporterCertificate, SupporterSecret, decode_supporter_key_file,
};

use crate::credential_files::{REVOCATION_LIST_LABEL, decode_credential, decode_single};
use crate::error::ClientError;

/// A peer supporter's credential, in memory.
pub struct PeerCredential {
    /// Issuer certificate (signed by the program's root key), wire bytes.
    pub issuer_certificate: Vec<u8>,
    /// Supporter certificate (signed by the issuer), wire bytes.
    pub supporter_certificate: Vec<u8>,
    /// The program's signed revocation list, wire bytes.
    pub revocation_list: Vec<u8>,
    /// The X25519 secret whose public half the supporter certificate names.
    pub secret: SupporterSecret,
    /// The ML-KEM-768 key whose public half a version-2 supporter certificate carries
    /// (then every chat uses the hybrid handshake); `None` for a version-1 certificate.
    pub mlkem: Option<MlKemSecret>,
}

impl std::fmt::Debug for PeerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCredential")
            .field("issuer_certificate", &self.issuer_certificate.len())
            .field("supporter_certificate", &self.supporter_certificate.len())
            .field("revocation_list", &self.revocation_list.len())
            .finish_non_exhaustive()
    }
}

impl PeerCredential {
    /// Assembles a credential and checks that the secret matches the certificate, so a
    /// mixed-up key file fails here with a clear message instead of at the relay.
    pub fn new(
        issuer_certificate: Vec<u8>,
        supporter_certificate: Vec<u8>,
        revocation_list: Vec<u8>,
        secret: SupporterSecret,
    ) -> Result<Self, ClientError> {
        Self::with_mlkem(
            issuer_certificate,
            supporter_certificate,
            revocation_list,
            secret,
            None,
        )
    }

    /// [`PeerCredential::new`] with the ML-KEM-768 key of a version-2 certificate. The key
    /// must be there exactly when the certificate carries its public half, and match it.
    pub fn with_mlkem(
        issuer_certificate: Vec<u8>,
        supporter_certificate: Vec<u8>,
        revocation_list: Vec<u8>,
        secret: SupporterSecret,
        mlkem: Option<MlKemSecret>,
    ) -> Result<Self, ClientError> {
        let certificate = SupporterCertificate::decode_unverified(&supporter_certificate)
            .map_err(|e| ClientError::Credential(format!("supporter certificate: {e}")))?;
        if certificate.x25519_public != secret.public() {
            return Err(ClientError::Credential(
                "the key file does not match the certificate's public key".to_owned(),
            ));
        }
        match (&certificate.mlkem768_public, &mlkem) {
            (None, None) => {}
            (Some(public), Some(kem)) if *public == kem.public() => {}
            (Some(_), Some(_)) => {
                return Err(ClientError::Credential(
                    "the key file's ML-KEM key does not match the certificate's".to_owned(),
                ));
            }
            (Some(_), None) => {
                return Err(ClientError::Credential(
                    "the certificate carries an ML-KEM key but the key file has none (a \
                     version-1 key file): use the key file written with this certificate's request"
                        .to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(ClientError::Credential(
                    "the key file holds an ML-KEM key but the certificate carries none: ask the \
                     program for a certificate from this key file's request"
                        .to_owned(),
                ));
            }
        }
        Ok(Self {
            issuer_certificate,
            supporter_certificate,
            revocation_list,
            secret,
            mlkem,
        })
    }

    /// Loads the key file (`confidant keygen`), the credential file (`confidant admin
    /// sign`) and the revocation list (`confidant admin revoke`).
    pub fn from_files(
        key: &Path,
        credential: &Path,
        revocation_list: &Path,
    ) -> Result<Self, ClientError> {
        let key_text = read(key, "key")?;
        Self::from_texts(
            &key_text,
            &read(credential, "credential")?,
            &read(revocation_list, "revocation list")?,
        )
    }

    /// The same three files' contents as text, for an app that keeps them in its own
    /// protected storage rather than as files (the mobile bindings).
    pub fn from_texts(
        key: &str,
        credential: &str,
        revocation_list: &str,
    ) -> Result<Self, ClientError> {
        let (secret, mlkem) = decode_supporter_key_file(key)
            .map_err(|e| ClientError::Credential(format!("key file: {e}")))?;
        let (issuer, supporter) = decode_credential(credential)
            .map_err(|e| ClientError::Credential(format!("credential file: {e}")))?;
        let list = decode_single(REVOCATION_LIST_LABEL, revocation_list)
            .map_err(|e| ClientError::Credential(format!("revocation list file: {e}")))?;
        Self::with_mlkem(issuer, supporter, list, secret, mlkem)
    }

    /// The certificate as signed (decoded without verifying; the relay and seekers verify).
    pub fn certificate(&self) -> Result<SupporterCertificate, ClientError> {
        SupporterCertificate::decode_unverified(&self.supporter_certificate)
            .map_err(|e| ClientError::Credential(format!("supporter certificate: {e}")))
    }
}

fn read(path: &Path, what: &str) -> Result<String, ClientError> {
    // The path is the user's own; naming the kind of file is enough and keeps home
    // directories out of logs.
    std::fs::read_to_string(path)
        .map_err(|e| ClientError::Credential(format!("cannot read the {what} file: {e}")))
}
