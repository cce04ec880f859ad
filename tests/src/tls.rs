//! Self-signed certificates for the relay's built-in TLS in tests.

use std::path::Path;

use confidant_relay::TlsFiles;

/// A certificate for `localhost` that is its own CA, as written for the relay.
pub struct SelfSigned {
    /// `<name>.pem` and `<name>.key` in the directory given.
    pub files: TlsFiles,
    /// The certificate in PEM (what a client trusts as the CA).
    pub pem: String,
    /// The certificate in DER (what the relay presents).
    pub der: Vec<u8>,
}

/// Makes a fresh certificate and key for `localhost` and writes them as `<name>.pem` and
/// `<name>.key` in `dir`, each through a rename, key first: a relay re-reading the pair on
/// SIGHUP never sees a half-written file, and overwriting the pair is a certificate swap.
pub fn write_self_signed(dir: &Path, name: &str) -> SelfSigned {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    write_pair(dir, name, &certified.cert, &certified.signing_key)
}

/// Like [`write_self_signed`], but with basicConstraints CA:TRUE — what a plain
/// `openssl req -x509` makes, and what clients refuse as a server's own certificate.
pub fn write_ca_as_leaf(dir: &Path, name: &str) -> SelfSigned {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("certificate params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a CA certificate");
    write_pair(dir, name, &cert, &key)
}

fn write_pair(
    dir: &Path,
    name: &str,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> SelfSigned {
    let files = TlsFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    let pem = cert.pem();
    write_by_rename(&files.key, &key.serialize_pem());
    write_by_rename(&files.cert, &pem);
    SelfSigned {
        files,
        pem,
        der: cert.der().to_vec(),
    }
}

fn write_by_rename(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write the test certificate");
    std::fs::rename(&partial, path).expect("rename the test certificate");
}
