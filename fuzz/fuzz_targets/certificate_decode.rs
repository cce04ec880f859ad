//! Issuer and supporter certificate decoders: never a panic; accepted bodies re-encode to the
//! same bytes (the encoding is canonical).
#![no_main]

use confidant_crypto::{IssuerCertificate, SignedBody as _, SupporterCertificate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = IssuerCertificate::decode_body(data) {
        assert_eq!(cert.encode_body().ok().as_deref(), Some(data));
    }
    if let Ok(cert) = SupporterCertificate::decode_body(data) {
        assert_eq!(cert.encode_body().ok().as_deref(), Some(data));
    }
    let _ = IssuerCertificate::decode_unverified(data);
    let _ = SupporterCertificate::decode_unverified(data);
});
