//! Revocation-list decoder: never a panic; accepted bodies re-encode to the same bytes.
#![no_main]

use confidant_crypto::{RevocationList, SignedBody as _};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = RevocationList::decode_body(data) {
        assert_eq!(list.encode_body().ok().as_deref(), Some(data));
    }
    let _ = RevocationList::decode_unverified(data);
});
