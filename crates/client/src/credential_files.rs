//! Text file formats for the public credential material a peer supporter holds.
//!
//! Same shape as the crypto crate's key files — a label line naming the kind, then
//! standard padded base64 — so a file of the wrong kind is refused by its label instead of
//! failing deep inside verification:
//!
//! ```text
//! confidant-credential-v1          confidant-revocation-list-v1      confidant-key-request-v1
//! <issuer certificate, base64>     <signed list, base64>             <X25519 public key, base64>
//! <supporter certificate, base64>
//! ```
//!
//! Secret keys use the crypto crate's own formats (`SupporterSecret::to_key_file`, …).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Label of a supporter credential file (issuer certificate + supporter certificate).
pub const CREDENTIAL_LABEL: &str = "confidant-credential-v1";
/// Label of a signed revocation list file.
pub const REVOCATION_LIST_LABEL: &str = "confidant-revocation-list-v1";
/// Label of a key request (the supporter's X25519 public key, for the administrator).
pub const KEY_REQUEST_LABEL: &str = "confidant-key-request-v1";
/// Label of a key request that also carries the supporter's ML-KEM-768 public key (two
/// lines: the X25519 public key, the 1184-byte ML-KEM encapsulation key).
pub const KEY_REQUEST_MLKEM_LABEL: &str = "confidant-key-request-v2";
/// Label of an issuer certificate file (written beside the issuing key).
pub const ISSUER_CERTIFICATE_LABEL: &str = "confidant-issuer-certificate-v1";

/// Why a credential file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileFormatError {
    /// The first line is not the expected label.
    #[error("wrong kind of file: expected a first line of `{expected}`")]
    WrongLabel {
        /// The label that was expected.
        expected: &'static str,
    },
    /// Not the expected number of lines.
    #[error("malformed file: expected {expected} base64 line(s) after the label")]
    WrongLineCount {
        /// Base64 lines expected.
        expected: usize,
    },
    /// A line is not standard padded base64.
    #[error("line {line} is not valid base64")]
    BadBase64 {
        /// 1-based line number.
        line: usize,
    },
    /// A value has the wrong length (e.g. a public key that is not 32 bytes).
    #[error("line {line} has the wrong length")]
    WrongLength {
        /// 1-based line number.
        line: usize,
    },
}

/// Writes `label` and one base64 line per blob.
#[must_use]
pub fn encode_labelled(label: &str, blobs: &[&[u8]]) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(label);
    out.push('\n');
    for blob in blobs {
        out.push_str(&STANDARD.encode(blob));
        out.push('\n');
    }
    out
}

/// Reads a file written by [`encode_labelled`]: exactly `count` base64 lines after the
/// label. LF or CRLF line ends; blank trailing lines are ignored.
pub fn decode_labelled(
    label: &'static str,
    count: usize,
    text: &str,
) -> Result<Vec<Vec<u8>>, FileFormatError> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect::<Vec<_>>();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let mut lines = lines.into_iter();
    if lines.next().map(str::trim) != Some(label) {
        return Err(FileFormatError::WrongLabel { expected: label });
    }
    let rest: Vec<&str> = lines.collect();
    if rest.len() != count {
        return Err(FileFormatError::WrongLineCount { expected: count });
    }
    rest.iter()
        .enumerate()
        .map(|(i, line)| {
            STANDARD
                .decode(line.trim())
                .map_err(|_| FileFormatError::BadBase64 { line: i + 2 })
        })
        .collect()
}

/// A credential file: (issuer certificate, supporter certificate).
pub fn decode_credential(text: &str) -> Result<(Vec<u8>, Vec<u8>), FileFormatError> {
    let mut blobs = decode_labelled(CREDENTIAL_LABEL, 2, text)?.into_iter();
    match (blobs.next(), blobs.next()) {
        (Some(issuer), Some(supporter)) => Ok((issuer, supporter)),
        _ => Err(FileFormatError::WrongLineCount { expected: 2 }),
    }
}

/// Writes a credential file.
#[must_use]
pub fn encode_credential(issuer_certificate: &[u8], supporter_certificate: &[u8]) -> String {
    encode_labelled(
        CREDENTIAL_LABEL,
        &[issuer_certificate, supporter_certificate],
    )
}

/// A single-blob file of kind `label`.
pub fn decode_single(label: &'static str, text: &str) -> Result<Vec<u8>, FileFormatError> {
    decode_labelled(label, 1, text)?
        .into_iter()
        .next()
        .ok_or(FileFormatError::WrongLineCount { expected: 1 })
}

/// A key request: the supporter's 32-byte X25519 public key.
pub fn decode_key_request(text: &str) -> Result<[u8; 32], FileFormatError> {
    decode_single(KEY_REQUEST_LABEL, text)?
        .try_into()
        .map_err(|_| FileFormatError::WrongLength { line: 2 })
}

/// A key request of either version: the X25519 public key, and the ML-KEM-768 public key
/// of a version-2 request (checked with the FIPS 203 modulus check).
pub fn decode_key_request_any(text: &str) -> Result<([u8; 32], Option<Vec<u8>>), FileFormatError> {
    let first = text.lines().next().map(|l| l.trim_end_matches('\r'));
    if first != Some(KEY_REQUEST_MLKEM_LABEL) {
        return decode_key_request(text).map(|k| (k, None));
    }
    let mut blobs = decode_labelled(KEY_REQUEST_MLKEM_LABEL, 2, text)?.into_iter();
    let x25519: [u8; 32] = blobs
        .next()
        .and_then(|b| b.try_into().ok())
        .ok_or(FileFormatError::WrongLength { line: 2 })?;
    let mlkem = blobs
        .next()
        .filter(|b| confidant_crypto::mlkem::is_valid_public(b))
        .ok_or(FileFormatError::WrongLength { line: 3 })?;
    Ok((x25519, Some(mlkem)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_round_trip_and_errors() {
        let text = encode_credential(b"issuer", b"supporter");
        assert_eq!(
            decode_credential(&text),
            Ok((b"issuer".to_vec(), b"supporter".to_vec()))
        );
        assert_eq!(
            decode_credential(&text.replace('\n', "\r\n")),
            Ok((b"issuer".to_vec(), b"supporter".to_vec()))
        );
        assert_eq!(
            decode_single(REVOCATION_LIST_LABEL, &text),
            Err(FileFormatError::WrongLabel {
                expected: REVOCATION_LIST_LABEL
            })
        );
        let broken = format!("{CREDENTIAL_LABEL}\n!!!\nAAAA\n");
        assert_eq!(
            decode_credential(&broken),
            Err(FileFormatError::BadBase64 { line: 2 })
        );
        let short = format!("{CREDENTIAL_LABEL}\nAAAA\n");
        assert_eq!(
            decode_credential(&short),
            Err(FileFormatError::WrongLineCount { expected: 2 })
        );
    }

    #[test]
    fn key_request_versions() {
        let kem = confidant_crypto::MlKemSecret::from_seed(&[3; 64]);
        let v2 = encode_labelled(KEY_REQUEST_MLKEM_LABEL, &[&[7; 32], &kem.public()]);
        assert_eq!(
            decode_key_request_any(&v2),
            Ok(([7; 32], Some(kem.public())))
        );
        let v1 = encode_labelled(KEY_REQUEST_LABEL, &[&[7; 32]]);
        assert_eq!(decode_key_request_any(&v1), Ok(([7; 32], None)));
        let bad = encode_labelled(KEY_REQUEST_MLKEM_LABEL, &[&[7; 32], &[0xff; 1184]]);
        assert_eq!(
            decode_key_request_any(&bad),
            Err(FileFormatError::WrongLength { line: 3 })
        );
    }

    #[test]
    fn key_request_needs_32_bytes() {
        let ok = encode_labelled(KEY_REQUEST_LABEL, &[&[7; 32]]);
        assert_eq!(decode_key_request(&ok), Ok([7; 32]));
        let short = encode_labelled(KEY_REQUEST_LABEL, &[&[7; 31]]);
        assert_eq!(
            decode_key_request(&short),
            Err(FileFormatError::WrongLength { line: 2 })
        );
    }
}
