//! Helpers shared by the vector tests: hex and where the vectors live.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub use confidant_crypto::hex::encode as hex;
use std::path::PathBuf;

/// `proto/vectors/` in the repository.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/vectors")
}

/// Reads and parses one JSON file under `proto/vectors/`.
pub fn load_json(relative: &str) -> serde_json::Value {
    let path = vectors_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes lower- or upper-case hex; panics on bad input (test data only).
pub fn unhex(s: &str) -> Vec<u8> {
    confidant_crypto::hex::decode_vec(s).unwrap_or_else(|| panic!("not hex: {s}"))
}

/// Decodes hex into a fixed-size array.
pub fn unhex_array<const N: usize>(s: &str) -> [u8; N] {
    unhex(s).try_into().expect("hex length")
}

/// A JSON field as a hex-decoded byte string.
pub fn field_bytes(v: &serde_json::Value, key: &str) -> Vec<u8> {
    unhex(v[key].as_str().unwrap_or_else(|| panic!("missing {key}")))
}

use confidant_crypto::{Record, ResourceCard};
use serde_json::{Value, json};

/// A record in the vectors' JSON form: `{"type": "text", "text": ...}` etc.
pub fn record_to_json(r: &Record) -> Value {
    match r {
        Record::Text(t) => json!({"type": "text", "text": t}),
        Record::Typing(b) => json!({"type": "typing", "typing": b}),
        Record::Read(n) => json!({"type": "read", "count": n}),
        Record::End => json!({"type": "end"}),
        Record::Block => json!({"type": "block"}),
        Record::Resource(c) => {
            json!({"type": "resource", "resource": serde_json::to_value(c).unwrap()})
        }
        Record::Unknown { kind, body } => {
            json!({"type": "unknown", "kind": kind, "body": hex(body)})
        }
    }
}

/// Inverse of [`record_to_json`].
pub fn record_from_json(v: &Value) -> Record {
    match v["type"].as_str().unwrap() {
        "text" => Record::Text(v["text"].as_str().unwrap().to_owned()),
        "typing" => Record::Typing(v["typing"].as_bool().unwrap()),
        "read" => Record::Read(v["count"].as_u64().unwrap()),
        "end" => Record::End,
        "block" => Record::Block,
        "resource" => {
            Record::Resource(serde_json::from_value::<ResourceCard>(v["resource"].clone()).unwrap())
        }
        "unknown" => Record::Unknown {
            kind: u8::try_from(v["kind"].as_u64().unwrap()).unwrap(),
            body: unhex(v["body"].as_str().unwrap()),
        },
        other => panic!("unknown record type {other}"),
    }
}
