//! Deterministic generator of `proto/vectors/{certificates,padding,transcripts,negative,hybrid}.json`.
//!
//! Every key and ephemeral comes from `seed(label)` = SHA-256(label), so rerunning produces
//! byte-identical files (Ed25519 signatures are deterministic).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod credentials;
pub mod hybrid;
pub mod negative;
pub mod noise;

use crate::common::{hex, record_to_json};
use confidant_crypto::{Record, ResourceCard, encode_padded};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The fixed "now" of every vector: 2026-01-01T00:00:00Z.
pub const NOW: u64 = 1_767_225_600;
/// Program id used throughout the vectors.
pub const PROGRAM: &str = "example-health";

/// 32 deterministic bytes for `label`.
pub fn seed(label: &str) -> [u8; 32] {
    Sha256::digest(format!("confidant-v1 test vector seed: {label}").as_bytes()).into()
}

/// Renders a vector file exactly as committed.
pub fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

/// All generated files as `(file name, contents)`.
pub fn generate() -> Vec<(&'static str, String)> {
    let creds = credentials::Credentials::new();
    vec![
        (
            "certificates.json",
            render(&credentials::certificates(&creds)),
        ),
        ("padding.json", render(&padding())),
        ("transcripts.json", render(&noise::transcripts(&creds))),
        ("negative.json", render(&negative::negative(&creds))),
        ("hybrid.json", render(&hybrid::hybrid(&creds))),
    ]
}

/// Raw padded record bytes for invalid-padding cases.
pub fn raw_record(kind: u8, declared_len: u16, body: &[u8], size: usize) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&declared_len.to_be_bytes());
    v.extend_from_slice(body);
    v.resize(size, 0);
    v
}

/// A 256-byte padded record whose declared length matches its body.
fn rb(kind: u8, body: &[u8]) -> Vec<u8> {
    raw_record(kind, u16::try_from(body.len()).unwrap(), body, 256)
}

fn padding() -> Value {
    let card = ResourceCard {
        title: "Clinician support line".into(),
        url: Some("https://example.invalid/support".into()),
        phone: Some("+1 555 0100".into()),
    };
    let valid: Vec<(&str, Record)> = vec![
        (
            "short text, smallest bucket",
            Record::Text("Hello, I'm here to listen.".into()),
        ),
        (
            "non-ASCII UTF-8 text",
            Record::Text("Grüße — 你好 — 🙂".into()),
        ),
        (
            "text of 253 bytes: exactly fills the 256 bucket",
            Record::Text("a".repeat(253)),
        ),
        (
            "text of 254 bytes: first size that needs the 1024 bucket",
            Record::Text("b".repeat(254)),
        ),
        (
            "text of 1021 bytes: exactly fills the 1024 bucket",
            Record::Text("c".repeat(1021)),
        ),
        (
            "text of 4093 bytes: exactly fills the 4096 bucket",
            Record::Text("d".repeat(4093)),
        ),
        (
            "text of 16381 bytes (MAX_TEXT_BYTES): the largest bucket",
            Record::Text("e".repeat(16381)),
        ),
        ("typing started", Record::Typing(true)),
        ("typing stopped", Record::Typing(false)),
        ("read receipt: 3 texts read", Record::Read(3)),
        ("read receipt: maximum count", Record::Read(u64::MAX)),
        ("explicit end of chat", Record::End),
        (
            "type 0x07, not assigned in version 1: non-critical, skipped by its receiver",
            Record::Unknown {
                kind: 0x07,
                body: Vec::new(),
            },
        ),
        (
            "type 0x7f with a body: the last non-critical type, skipped unread",
            Record::Unknown {
                kind: 0x7f,
                body: b"from a later revision".to_vec(),
            },
        ),
        ("block", Record::Block),
        ("resource card with all fields", Record::Resource(card)),
        (
            "resource card with only a title",
            Record::Resource(ResourceCard {
                title: "Peer support handbook".into(),
                url: None,
                phone: None,
            }),
        ),
        (
            "resource card with non-ASCII text: written as raw UTF-8, never as \\u escapes",
            Record::Resource(ResourceCard {
                title: "Programme de bien-être — soutien par les pairs".into(),
                url: Some("https://example.invalid/bien-être".into()),
                phone: Some("+1 555 0100".into()),
            }),
        ),
    ];
    let valid: Vec<Value> = valid
        .iter()
        .map(|(d, r)| {
            let padded = encode_padded(r).unwrap();
            json!({"description": d, "record": record_to_json(r), "length": padded.len(), "padded": hex(&padded)})
        })
        .collect();

    let mut nonzero_pad = raw_record(1, 2, b"hi", 256);
    nonzero_pad[255] = 0x01;
    let invalid: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty input", vec![], "record_invalid_length"),
        (
            "255 bytes: not a bucket size",
            raw_record(1, 2, b"hi", 255),
            "record_invalid_length",
        ),
        (
            "257 bytes: not a bucket size",
            raw_record(1, 2, b"hi", 257),
            "record_invalid_length",
        ),
        (
            "16400 bytes: larger than every bucket",
            raw_record(1, 2, b"hi", 16400),
            "record_invalid_length",
        ),
        (
            "type 0x00 is not assigned",
            rb(0, b""),
            "record_unknown_type",
        ),
        (
            "type 0x80: critical and not assigned",
            rb(0x80, b""),
            "record_unknown_type",
        ),
        (
            "type 0xff is not assigned",
            rb(0xff, b""),
            "record_unknown_type",
        ),
        (
            "declared body length 254 runs past a 256-byte bucket",
            raw_record(1, 254, b"x", 256),
            "record_body_overrun",
        ),
        (
            "declared body length 0xffff",
            raw_record(1, 0xffff, b"x", 256),
            "record_body_overrun",
        ),
        (
            "2-byte text in the 1024 bucket (256 would fit)",
            raw_record(1, 2, b"hi", 1024),
            "record_non_minimal_bucket",
        ),
        (
            "end record in the 16384 bucket",
            raw_record(4, 0, b"", 16384),
            "record_non_minimal_bucket",
        ),
        (
            "last padding byte is 0x01",
            nonzero_pad,
            "record_nonzero_padding",
        ),
        (
            "first padding byte is 0x80",
            {
                let mut v = raw_record(1, 2, b"hi", 256);
                v[5] = 0x80;
                v
            },
            "record_nonzero_padding",
        ),
        (
            "text body is not UTF-8",
            rb(1, &[0xc3, 0x28]),
            "record_invalid_utf8",
        ),
        ("text body is empty", rb(1, b""), "record_empty_text"),
        ("typing body is 2", rb(2, &[2]), "record_invalid_body"),
        ("typing body is empty", rb(2, b""), "record_invalid_body"),
        (
            "typing body has 2 bytes",
            rb(2, &[1, 0]),
            "record_invalid_body",
        ),
        (
            "read body has 7 bytes",
            rb(3, &[0; 7]),
            "record_invalid_body",
        ),
        (
            "read body has 9 bytes",
            rb(3, &[0; 9]),
            "record_invalid_body",
        ),
        ("end body is not empty", rb(4, &[0]), "record_invalid_body"),
        (
            "block body is not empty",
            rb(5, &[1]),
            "record_invalid_body",
        ),
        (
            "resource body is not UTF-8",
            rb(6, &[0xff]),
            "record_invalid_utf8",
        ),
        (
            "resource body is not JSON",
            rb(6, b"title"),
            "record_invalid_resource",
        ),
        (
            "resource JSON is an array",
            rb(6, b"[]"),
            "record_invalid_resource",
        ),
        (
            "resource title missing",
            rb(6, br#"{"url":"https://x"}"#),
            "record_invalid_resource",
        ),
        (
            "resource title empty",
            rb(6, br#"{"title":""}"#),
            "record_invalid_resource",
        ),
        (
            "resource has an unknown field",
            rb(6, br#"{"title":"a","email":1}"#),
            "record_invalid_resource",
        ),
        (
            "resource url is a number",
            rb(6, br#"{"title":"a","url":42}"#),
            "record_invalid_resource",
        ),
    ];
    let invalid: Vec<Value> = invalid
        .into_iter()
        .map(|(d, bytes, e)| json!({"description": d, "length": bytes.len(), "padded": hex(&bytes), "error": e}))
        .collect();
    json!({
        "description": "Padded records inside the Noise transport encryption (proto/crypto.md, 'Records'). \
                        'valid' cases: encode(record) must equal 'padded' and decode(padded) must equal 'record'. \
                        'invalid' cases: decode must fail with 'error'. Records are JSON: \
                        {type: text, text} | {type: typing, typing} | {type: read, count} | {type: end} | {type: block} | {type: resource, resource: {title, url?, phone?}}.",
        "version": 1,
        "buckets": confidant_crypto::BUCKETS,
        "valid": valid,
        "invalid": invalid,
    })
}
