//! JSON control-frame parsers (both directions): never a panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = confidant_proto::ClientFrame::from_json(data);
    let _ = confidant_proto::RelayFrame::from_json(data);
});
