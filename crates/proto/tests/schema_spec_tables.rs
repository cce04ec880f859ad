//! The tables in `proto/spec.md` that a client author copies from — the error catalogue,
//! the chat end reasons and the limits — must match the Rust constants. `schema_conformance.rs`
//! covers the frames, schemas and examples.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;

use confidant_proto::{ErrorCode, limits};
use serde_json::Value;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn spec() -> String {
    read("../../proto/spec.md")
}

/// The rows of the first Markdown table after the heading `heading`, cells trimmed and
/// stripped of backticks, header and separator rows skipped.
fn table_after(spec: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = spec.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "spec.md has no heading {heading:?}");
    lines
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2)
        .map(|row| {
            let row = row.trim().trim_start_matches('|').trim_end_matches('|');
            row.split('|')
                .map(|cell| cell.trim().replace('`', ""))
                .collect()
        })
        .collect()
}

#[test]
fn spec_error_catalogue_matches_error_code() {
    let rows = table_after(&spec(), "## Error catalogue");
    let expected: Vec<(String, String, String)> = ErrorCode::ALL
        .iter()
        .map(|code| {
            let close = code
                .close_code()
                .map_or_else(|| "connection continues".to_owned(), |c| c.to_string());
            (code.as_str().to_owned(), close, code.message().to_owned())
        })
        .collect();
    let found: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| {
            assert!(
                row.len() >= 4,
                "error catalogue row needs code | close | message | meaning: {row:?}"
            );
            (row[0].clone(), row[1].clone(), row[2].clone())
        })
        .collect();
    assert_eq!(
        found, expected,
        "spec.md error catalogue vs ErrorCode::ALL (order, close code, message)"
    );
    println!(
        "schema conformance: {} error codes in the catalogue",
        found.len()
    );
}

#[test]
fn spec_chat_end_reasons_match_schema() {
    let rows = table_after(&spec(), "### Chat end reasons");
    let in_spec: Vec<String> = rows.iter().map(|row| row[0].clone()).collect();
    // schema_conformance.rs proves this enum equals ChatEndReason, variant for variant.
    let schema: Value =
        serde_json::from_str(&read("../../proto/schemas/relay.chat_ended.json")).unwrap();
    let in_schema: Vec<String> = schema["properties"]["reason"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        in_spec, in_schema,
        "spec.md chat end reasons vs relay.chat_ended.json"
    );
}

#[test]
fn spec_limits_table_matches_limits_rs() {
    let rows = table_after(&spec(), "## Limits");
    let secs = |d: std::time::Duration| format!("{} s", d.as_secs());
    let expected: Vec<(&str, String)> = vec![
        ("PROTOCOL_VERSION", limits::PROTOCOL_VERSION.to_string()),
        ("WEBSOCKET_PATH", limits::WEBSOCKET_PATH.to_owned()),
        ("MAX_CONTROL_FRAME", limits::MAX_CONTROL_FRAME.to_string()),
        ("DATA_HEADER_LEN", limits::DATA_HEADER_LEN.to_string()),
        ("MAX_NOISE_MESSAGE", limits::MAX_NOISE_MESSAGE.to_string()),
        ("MAX_DATA_FRAME", limits::MAX_DATA_FRAME.to_string()),
        ("RECORD_BUCKETS", format!("{:?}", limits::RECORD_BUCKETS)),
        ("MAX_RECORD", limits::MAX_RECORD.to_string()),
        ("AEAD_TAG_LEN", limits::AEAD_TAG_LEN.to_string()),
        ("MAX_CERTIFICATE", limits::MAX_CERTIFICATE.to_string()),
        (
            "MAX_REVOCATION_LIST",
            limits::MAX_REVOCATION_LIST.to_string(),
        ),
        ("MAX_CAPACITY", limits::MAX_CAPACITY.to_string()),
        ("MAX_TAGS", limits::MAX_TAGS.to_string()),
        ("MAX_TAG_LEN", limits::MAX_TAG_LEN.to_string()),
        ("MAX_FEATURES", limits::MAX_FEATURES.to_string()),
        ("DEFAULT_HELLO_TIMEOUT", secs(limits::DEFAULT_HELLO_TIMEOUT)),
        ("DEFAULT_OFFER_TIMEOUT", secs(limits::DEFAULT_OFFER_TIMEOUT)),
        (
            "DEFAULT_CHAT_HANDSHAKE_TIMEOUT",
            secs(limits::DEFAULT_CHAT_HANDSHAKE_TIMEOUT),
        ),
        (
            "DEFAULT_CHAT_IDLE_TIMEOUT",
            secs(limits::DEFAULT_CHAT_IDLE_TIMEOUT),
        ),
        ("DEFAULT_WAIT_LIMIT", secs(limits::DEFAULT_WAIT_LIMIT)),
        (
            "DEFAULT_CHAT_BUFFER_FRAMES",
            limits::DEFAULT_CHAT_BUFFER_FRAMES.to_string(),
        ),
        ("RESUME_SECRET_LEN", limits::RESUME_SECRET_LEN.to_string()),
        ("DEFAULT_RESUME_GRACE", secs(limits::DEFAULT_RESUME_GRACE)),
        ("ACK_EVERY_MESSAGES", limits::ACK_EVERY_MESSAGES.to_string()),
        ("ACK_DELAY", format!("{} ms", limits::ACK_DELAY.as_millis())),
        ("KEEPALIVE_IDLE", secs(limits::KEEPALIVE_IDLE)),
        ("KEEPALIVE_DEADLINE", secs(limits::KEEPALIVE_DEADLINE)),
        ("URGENT_HEAD_START", secs(limits::URGENT_HEAD_START)),
    ];
    // Every public constant of limits.rs is in the table (and so in `expected` above).
    let source = read("src/limits.rs");
    let declared: BTreeSet<&str> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split(':').next())
        .collect();
    let listed: BTreeSet<&str> = expected.iter().map(|(name, _)| *name).collect();
    assert_eq!(listed, declared, "limits.rs constants vs this test's list");
    let found: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
    assert_eq!(found, expected, "spec.md limits table vs limits.rs");
}
