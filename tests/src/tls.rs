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
    let files = TlsFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    let pem = certified.cert.pem();
    write_by_rename(&files.key, &certified.signing_key.serialize_pem());
    write_by_rename(&files.cert, &pem);
    SelfSigned {
        files,
        pem,
        der: certified.cert.der().to_vec(),
    }
}

fn write_by_rename(path: &Path, text: &str) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).expect("write the test certificate");
    std::fs::rename(&partial, path).expect("rename the test certificate");
}
