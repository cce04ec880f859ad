//! Padded-record decoder: any bytes, never a panic; anything accepted re-encodes canonically.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = confidant_crypto::decode_padded(data) {
        let again = confidant_crypto::encode_padded(&record);
        assert!(again.is_ok(), "a decoded record must encode");
    }
});
