//! Binary data-frame header decoder: never a panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = confidant_proto::DataFrame::decode(data);
});
