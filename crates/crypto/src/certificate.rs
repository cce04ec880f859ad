//! Issuer and supporter certificates in the canonical byte encoding.
//!
//! Both are [`SignedBody`]s (`crate::signed_body`: wire form, domains, signing). Decoding
//! here checks structure only; trust comes from [`crate::validation`].

use crate::codec::{CodecError, Reader, Writer, check_tag};
use crate::keys::{IssuingKey, RootKey, key_id};
use crate::mlkem::MLKEM768_PUBLIC_LEN;
use crate::signed_body::SignedBody;
pub use crate::signed_body::{CREDENTIAL_VERSION, SIGNATURE_LEN, split_signed};

/// Signature domain of issuer certificates (signed by the root).
pub const ISSUER_CERTIFICATE_DOMAIN: &str = "confidant-v1-issuer-certificate";

/// Signature domain of supporter certificates (signed by an issuing key).
pub const SUPPORTER_CERTIFICATE_DOMAIN: &str = "confidant-v1-supporter-certificate";

/// Signature domain of revocation lists (signed by the root).
pub const REVOCATION_LIST_DOMAIN: &str = "confidant-v1-revocation-list";

/// Every domain we sign under, for telling "wrong domain" from "bad signature".
pub(crate) const ALL_DOMAINS: [&str; 3] = [
    ISSUER_CERTIFICATE_DOMAIN,
    SUPPORTER_CERTIFICATE_DOMAIN,
    REVOCATION_LIST_DOMAIN,
];

/// The root's statement "this Ed25519 key may issue supporter certificates for this program
/// during this window".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerCertificate {
    /// Program identifier; must equal the relying party's configured program.
    pub program: String,
    /// First 8 bytes of SHA-256 of `public_key`; supporter certificates name their issuer by it.
    pub key_id: [u8; 8],
    /// The issuing key's Ed25519 public key.
    pub public_key: [u8; 32],
    /// First second (Unix time, inclusive) the certificate is valid.
    pub not_before: u64,
    /// Last second (Unix time, inclusive) the certificate is valid.
    pub not_after: u64,
}

impl IssuerCertificate {
    /// Builds a certificate for `public_key`, deriving its key id so the two cannot disagree.
    #[must_use]
    pub fn new(program: &str, public_key: [u8; 32], not_before: u64, not_after: u64) -> Self {
        Self {
            program: program.to_owned(),
            key_id: key_id(&public_key),
            public_key,
            not_before,
            not_after,
        }
    }
}

/// Signed by the root under [`ISSUER_CERTIFICATE_DOMAIN`].
impl SignedBody for IssuerCertificate {
    const DOMAIN: &'static str = ISSUER_CERTIFICATE_DOMAIN;
    type Signer = RootKey;

    /// Fails if a field is out of bounds or the key id is not derived from the public key.
    fn encode_body(&self) -> Result<Vec<u8>, CodecError> {
        if self.key_id != key_id(&self.public_key) {
            return Err(CodecError::KeyIdMismatch);
        }
        let mut w = Writer::new();
        w.u8(CREDENTIAL_VERSION);
        w.str(&self.program, true)?;
        w.bytes(&self.key_id);
        w.bytes(&self.public_key);
        w.u64(self.not_before);
        w.u64(self.not_after);
        Ok(w.finish())
    }

    fn decode_body(body: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(body);
        r.version(CREDENTIAL_VERSION)?;
        let cert = Self {
            program: r.str(true)?,
            key_id: r.array()?,
            public_key: r.array()?,
            not_before: r.u64()?,
            not_after: r.u64()?,
        };
        r.finish()?;
        if cert.key_id != key_id(&cert.public_key) {
            return Err(CodecError::KeyIdMismatch);
        }
        Ok(cert)
    }
}

/// An issuer's statement "the holder of this X25519 key is a certified peer supporter".
///
/// Carries what a seeker is shown before a chat (name, role, topics) so the relay needs no
/// roster: the certificate is the roster entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupporterCertificate {
    /// Program identifier; must equal the issuer's and the relying party's.
    pub program: String,
    /// Key id of the issuing key that signed this certificate.
    pub issuer_key_id: [u8; 8],
    /// Program-wide unique serial number; revocation names certificates by it.
    pub serial: u64,
    /// The supporter's X25519 static public key (the Noise NK responder key).
    pub x25519_public: [u8; 32],
    /// Name shown to seekers; never empty.
    pub display_name: String,
    /// Role shown to seekers (e.g. "Nurse").
    pub role: String,
    /// Department shown to seekers.
    pub department: String,
    /// Topics the supporter covers (matching hints, at most 32).
    pub topics: Vec<String>,
    /// Languages the supporter chats in (at most 32).
    pub languages: Vec<String>,
    /// First second (Unix time, inclusive) the certificate is valid.
    pub not_before: u64,
    /// Last second (Unix time, inclusive) the certificate is valid.
    pub not_after: u64,
    /// The supporter's ML-KEM-768 encapsulation key (1184 bytes), for the hybrid
    /// post-quantum handshake (`proto/crypto.md` §2.1). Present only in a version-2 body:
    /// a certificate with it is encoded as version 2, one without as version 1, so each
    /// value still has exactly one encoding.
    pub mlkem768_public: Option<Vec<u8>>,
}

/// Body version of a supporter certificate that carries an ML-KEM-768 key.
pub const SUPPORTER_CERTIFICATE_VERSION_MLKEM: u8 = 2;

impl SupporterCertificate {
    /// Role, topics and languages are what the relay matches on, so they must be protocol
    /// tags; display name and department are free text shown to the seeker.
    fn check_tags(&self) -> Result<(), CodecError> {
        check_tag(&self.role)?;
        self.topics
            .iter()
            .chain(&self.languages)
            .try_for_each(|tag| check_tag(tag))
    }
}

/// Signed by an issuing key under [`SUPPORTER_CERTIFICATE_DOMAIN`].
impl SignedBody for SupporterCertificate {
    const DOMAIN: &'static str = SUPPORTER_CERTIFICATE_DOMAIN;
    type Signer = IssuingKey;

    /// Fails if a field is out of bounds or a role, topic or language is not a tag.
    fn encode_body(&self) -> Result<Vec<u8>, CodecError> {
        self.check_tags()?;
        let mut w = Writer::new();
        w.u8(if self.mlkem768_public.is_some() {
            SUPPORTER_CERTIFICATE_VERSION_MLKEM
        } else {
            CREDENTIAL_VERSION
        });
        w.str(&self.program, true)?;
        w.bytes(&self.issuer_key_id);
        w.u64(self.serial);
        w.bytes(&self.x25519_public);
        w.str(&self.display_name, true)?;
        w.str(&self.role, false)?;
        w.str(&self.department, false)?;
        w.str_list(&self.topics)?;
        w.str_list(&self.languages)?;
        w.u64(self.not_before);
        w.u64(self.not_after);
        if let Some(key) = &self.mlkem768_public {
            // Exactly 1184 bytes: a shorter key would decode as truncated, a longer one as
            // trailing bytes, so refuse to write either.
            match key.len().cmp(&MLKEM768_PUBLIC_LEN) {
                std::cmp::Ordering::Less => return Err(CodecError::Truncated),
                std::cmp::Ordering::Greater => return Err(CodecError::TrailingBytes),
                std::cmp::Ordering::Equal => w.bytes(key),
            }
        }
        Ok(w.finish())
    }

    fn decode_body(body: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != CREDENTIAL_VERSION && version != SUPPORTER_CERTIFICATE_VERSION_MLKEM {
            return Err(CodecError::UnknownVersion);
        }
        let mut cert = Self {
            program: r.str(true)?,
            issuer_key_id: r.array()?,
            serial: r.u64()?,
            x25519_public: r.array()?,
            display_name: r.str(true)?,
            role: r.str(false)?,
            department: r.str(false)?,
            topics: r.str_list()?,
            languages: r.str_list()?,
            not_before: r.u64()?,
            not_after: r.u64()?,
            mlkem768_public: None,
        };
        if version == SUPPORTER_CERTIFICATE_VERSION_MLKEM {
            cert.mlkem768_public = Some(r.take(MLKEM768_PUBLIC_LEN)?.to_vec());
        }
        r.finish()?;
        cert.check_tags()?;
        Ok(cert)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample_supporter(issuer_key_id: [u8; 8]) -> SupporterCertificate {
        SupporterCertificate {
            program: "example-health".into(),
            issuer_key_id,
            serial: 42,
            x25519_public: [7; 32],
            display_name: "Sam".into(),
            role: "nursing".into(),
            department: "ICU".into(),
            topics: vec!["burnout".into(), "grief".into()],
            languages: vec!["en".into(), "fr".into()],
            not_before: 100,
            not_after: 200,
            mlkem768_public: None,
        }
    }

    #[test]
    fn supporter_with_mlkem_key_is_version_2() {
        let mut cert = sample_supporter([3; 8]);
        let v1 = cert.encode_body().expect("v1");
        cert.mlkem768_public = Some(vec![9; MLKEM768_PUBLIC_LEN]);
        let body = cert.encode_body().expect("v2");
        assert_eq!(body[0], 2);
        assert_eq!(&body[1..v1.len()], &v1[1..]);
        assert_eq!(body.len(), v1.len() + MLKEM768_PUBLIC_LEN);
        assert_eq!(SupporterCertificate::decode_body(&body), Ok(cert.clone()));
        // A version-2 body without its key, or a version-1 body with one, is refused.
        let mut stripped = body.clone();
        stripped.truncate(v1.len());
        assert_eq!(
            SupporterCertificate::decode_body(&stripped),
            Err(CodecError::Truncated)
        );
        let mut v1_with_key = body.clone();
        v1_with_key[0] = 1;
        assert_eq!(
            SupporterCertificate::decode_body(&v1_with_key),
            Err(CodecError::TrailingBytes)
        );
        let mut v3 = body;
        v3[0] = 3;
        assert_eq!(
            SupporterCertificate::decode_body(&v3),
            Err(CodecError::UnknownVersion)
        );
        cert.mlkem768_public = Some(vec![9; 10]);
        assert_eq!(cert.encode_body(), Err(CodecError::Truncated));
    }

    #[test]
    fn issuer_round_trip_and_trailing() {
        let root = RootKey::from_bytes(&[1; 32]);
        let issuer = IssuingKey::from_bytes(&[2; 32]);
        let cert = IssuerCertificate::new("p", issuer.public(), 1, 2);
        let wire = cert.sign(&root).expect("sign");
        assert_eq!(
            IssuerCertificate::decode_unverified(&wire),
            Ok(cert.clone())
        );
        let body = cert.encode_body().expect("body");
        let mut long = body.clone();
        long.push(0);
        assert_eq!(
            IssuerCertificate::decode_body(&long),
            Err(CodecError::TrailingBytes)
        );
        let mut v2 = body.clone();
        v2[0] = 2;
        assert_eq!(
            IssuerCertificate::decode_body(&v2),
            Err(CodecError::UnknownVersion)
        );
        let mut bad_id = cert.clone();
        bad_id.key_id = [0; 8];
        assert_eq!(bad_id.encode_body(), Err(CodecError::KeyIdMismatch));
        assert_eq!(
            split_signed(&[0; 64]).map(|_| ()),
            Err(CodecError::Truncated)
        );
    }

    #[test]
    fn supporter_round_trip() {
        let cert = sample_supporter([3; 8]);
        let body = cert.encode_body().expect("body");
        assert_eq!(SupporterCertificate::decode_body(&body), Ok(cert));
        for cut in 0..body.len() {
            assert!(SupporterCertificate::decode_body(&body[..cut]).is_err());
        }
    }

    #[test]
    fn supporter_bounds() {
        let mut cert = sample_supporter([3; 8]);
        cert.topics = vec!["t".into(); 33];
        assert_eq!(cert.encode_body(), Err(CodecError::ListTooLong));
        let mut cert = sample_supporter([3; 8]);
        cert.display_name = String::new();
        assert_eq!(cert.encode_body(), Err(CodecError::EmptyField));
    }

    proptest! {
        #[test]
        fn supporter_codec_round_trips(
            serial in any::<u64>(),
            name in "[^\u{0}]{1,40}",
            role in "[a-z0-9-]{1,40}",
            topics in proptest::collection::vec("[a-z0-9-]{1,20}", 0..5),
            nb in any::<u64>(),
            na in any::<u64>(),
        ) {
            let mut cert = sample_supporter([9; 8]);
            cert.serial = serial;
            cert.display_name = name;
            cert.role = role;
            cert.topics = topics;
            cert.not_before = nb;
            cert.not_after = na;
            let body = cert.encode_body().expect("body");
            prop_assert_eq!(SupporterCertificate::decode_body(&body).expect("decodes"), cert);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SupporterCertificate::decode_unverified(&bytes);
            let _ = IssuerCertificate::decode_unverified(&bytes);
        }
    }
}
