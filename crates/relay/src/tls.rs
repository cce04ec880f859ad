//! Built-in TLS (rustls with the `ring` provider): the certificate and key are read from
//! PEM files and can be re-read at any time ([`crate::RelayHandle::reload_tls`]). A reload
//! swaps the certificate new handshakes get; connections already open keep theirs.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Why the certificate or key could not be used: the setting (`tls.cert` / `tls.key`), its
/// file and what to do, in words (never a library's enum alone). Never prints key bytes.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read, parsed or used.
    #[error("{key}: {path}: {reason}")]
    File {
        /// The setting: `tls.cert` or `tls.key`.
        key: &'static str,
        /// The file.
        path: String,
        /// What was wrong, and what to do.
        reason: String,
    },
    /// rustls refused the setup.
    #[error("tls: {0}")]
    Setup(String),
}

/// Where the docs say how to make a certificate and key the relay and its clients accept.
const TLS_DOCS: &str = "see docs/operators.md#tls";

/// The current certificate, swapped on reload.
pub(crate) struct CertStore {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// SHA-256 of the certificate and key files as read for `current`: tells a reload that
    /// found the same pair from one that found a new one (no key bytes are kept for it).
    contents: RwLock<[u8; 32]>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn cert_error(files: &TlsFiles, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        key: "tls.cert",
        path: files.cert.display().to_string(),
        reason: reason.to_string(),
    }
}

fn key_error(files: &TlsFiles, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        key: "tls.key",
        path: files.key.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Whether `pem` holds a block of this kind (to tell a swapped pair from an empty file).
fn has_block(pem: &[u8], label: &str) -> bool {
    let marker = format!("-----BEGIN {label}-----");
    pem.windows(marker.len()).any(|w| w == marker.as_bytes())
}

/// Reads both files and checks they make a usable pair (or says what to fix).
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let cert_pem = std::fs::read(&files.cert)
        .map_err(|e| cert_error(files, format!("cannot read it: {e}")))?;
    let key_pem =
        std::fs::read(&files.key).map_err(|e| key_error(files, format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| cert_error(files, "is not a valid PEM file"))?;
    let Some(leaf) = certs.first() else {
        let reason = if PrivateKeyDer::from_pem_slice(&cert_pem).is_ok() {
            "holds a private key, not a certificate: tls.cert takes the certificate chain \
             (leaf first) and tls.key the private key; are the two swapped?"
        } else {
            "holds no certificate (no -----BEGIN CERTIFICATE----- block); tls.cert takes the \
             PEM certificate chain, leaf first"
        };
        return Err(cert_error(files, reason));
    };
    if is_ca_certificate(leaf.as_ref()) {
        return Err(cert_error(
            files,
            format!(
                "the relay's certificate (the first in the file) is a CA certificate \
                 (basicConstraints CA:TRUE), which clients refuse; issue a leaf certificate with \
                 basicConstraints CA:FALSE from your CA ({TLS_DOCS})"
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        let reason = if has_block(&key_pem, "ENCRYPTED PRIVATE KEY") {
            "the private key is encrypted with a passphrase; the relay needs it unencrypted \
             (`openssl pkey -in encrypted.pem -out relay.key`, then keep it mode 0600)"
        } else if has_block(&key_pem, "CERTIFICATE") {
            "holds a certificate, not a private key: tls.key takes the private key and tls.cert \
             the certificate chain; are the two swapped?"
        } else {
            "holds no private key (no PEM block PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
        };
        key_error(files, reason)
    })?;
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        key_error(
            files,
            "this kind of private key is not supported; use ECDSA P-256 or P-384, Ed25519, or RSA",
        )
    })?;
    let certified = CertifiedKey::new(certs, signing);
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(key_error(
            files,
            format!(
                "is not the private key of the certificate in tls.cert ({}); give the key the \
                 certificate was issued for",
                files.cert.display()
            ),
        ));
    }
    let mut digest = Sha256::new();
    for file in [&cert_pem, &key_pem] {
        digest.update(u64::try_from(file.len()).unwrap_or(u64::MAX).to_be_bytes());
        digest.update(file);
    }
    Ok(Loaded {
        certified: Arc::new(certified),
        files: digest.finalize().into(),
    })
}

/// Whether a DER certificate says basicConstraints CA:TRUE. A scan for the extension's
/// encoding (OID 2.5.29.19, optional `critical`, then the OCTET STRING holding the
/// SEQUENCE whose first element is the `cA` BOOLEAN), enough to warn an operator before a
/// client refuses the certificate; a certificate it cannot read is left to the clients.
fn is_ca_certificate(der: &[u8]) -> bool {
    const OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x13];
    let Some(at) = der.windows(OID.len()).position(|w| w == OID) else {
        return false;
    };
    let mut rest = der.get(at + OID.len()..).unwrap_or_default();
    if let Some(after) = rest.strip_prefix(&[0x01, 0x01]) {
        rest = after.get(1..).unwrap_or_default();
    }
    // OCTET STRING (short length), SEQUENCE (short length), BOOLEAN TRUE.
    matches!(rest, [0x04, _, 0x30, _, 0x01, 0x01, value, ..] if *value != 0)
}

/// The certificate in use and a digest of the files it came from (to tell a reload that
/// changed something from one that did not).
struct Loaded {
    certified: Arc<CertifiedKey>,
    files: [u8; 32],
}

/// Reads and checks the files without serving them: what the binary does before it listens,
/// so a bad file stops it with the setting named.
///
/// # Errors
/// The first problem found, naming `tls.cert` or `tls.key` and the file.
pub fn check(files: &TlsFiles) -> Result<(), TlsError> {
    load(files, &rustls::crypto::ring::default_provider()).map(|_| ())
}

impl CertStore {
    /// Re-reads the files. `Ok(true)`: a new certificate or key is in use for new
    /// connections; `Ok(false)`: the files hold what is already in use; on error the
    /// previous certificate stays in use.
    pub(crate) fn reload(&self) -> Result<bool, TlsError> {
        let loaded = load(&self.files, &self.provider)?;
        let mut contents = self
            .contents
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *contents == loaded.files {
            return Ok(false);
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded.certified;
        *contents = loaded.files;
        Ok(true)
    }
}

/// Reads the files and builds the acceptor.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, Arc<CertStore>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let loaded = load(files, &provider)?;
    let store = Arc::new(CertStore {
        current: RwLock::new(loaded.certified),
        contents: RwLock::new(loaded.files),
        files: files.clone(),
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(format!("cannot set up TLS ({e})")))?
        .with_no_client_auth()
        .with_cert_resolver(store.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), store))
}
