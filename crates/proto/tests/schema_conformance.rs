//! `proto/spec.md`, `proto/schemas/*.json` and the Rust types describe one protocol. These
//! tests keep the three in step: a third party writing a client from `proto/` alone must get
//! frames the relay accepts, and the relay must send frames that validate.
//!
//! - every example in the spec validates against the schema its comment names, and parses
//!   with the Rust type;
//! - a sample of every Rust frame variant serialises to JSON that validates;
//! - schema files and Rust variants map one to one;
//! - must-fail documents are refused by the schema and by the Rust parser alike.
//!
//! `schema_spec_tables.rs` checks the spec's tables (errors, end reasons, limits).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use confidant_proto::limits;
use confidant_proto::{
    Availability, Base64Bytes, ChatEndReason, ChatNumber, ClientFrame, Credential, ErrorCode,
    NoPeerReason, OfferWithdrawnReason, ProgramInfo, QueueNone, RelayFrame, Resource, Role,
    SeekPreferences,
};
use jsonschema::{Resource as SchemaResource, Validator};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Loading proto/
// ---------------------------------------------------------------------------------------

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn spec() -> String {
    read(&proto_dir().join("spec.md"))
}

/// Every schema file, by file name, parsed.
fn schema_files() -> BTreeMap<String, Value> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(proto_dir().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.ends_with(".json"),
            "unexpected file in proto/schemas: {name}"
        );
        let value: Value = serde_json::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("proto/schemas/{name} is not JSON: {e}"));
        files.insert(name, value);
    }
    files
}

/// All schemas, compiled with every file registered under its `$id`, so `$ref`s between
/// files resolve offline. Keyed by the name used in spec comments: `client/hello`.
struct Schemas {
    files: BTreeMap<String, Value>,
    validators: BTreeMap<String, Validator>,
}

impl Schemas {
    fn load() -> Self {
        let files = schema_files();
        let mut validators = BTreeMap::new();
        for (name, schema) in &files {
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{name}: every schema is draft 2020-12"
            );
            let id = schema["$id"].as_str().unwrap_or_default();
            assert!(
                id.ends_with(&format!("/{name}")),
                "{name}: $id {id} must end with the file name"
            );
            let mut options = jsonschema::draft202012::options();
            for other in files.values() {
                let other_id = other["$id"].as_str().unwrap().to_owned();
                options = options.with_resource(
                    other_id,
                    SchemaResource::from_contents(other.clone()).unwrap(),
                );
            }
            let validator = options
                .build(schema)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
            validators.insert(key_of(name), validator);
        }
        Self { files, validators }
    }

    fn validator(&self, key: &str) -> &Validator {
        self.validators
            .get(key)
            .unwrap_or_else(|| panic!("no schema proto/schemas/{}", file_of(key)))
    }

    fn errors(&self, key: &str, instance: &Value) -> Vec<String> {
        self.validator(key)
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect()
    }

    fn assert_valid(&self, key: &str, instance: &Value, what: &str) {
        let errors = self.errors(key, instance);
        assert!(
            errors.is_empty(),
            "{what} does not validate against {key}: {errors:#?}\n{instance}"
        );
    }

    /// Frame schemas (`client.hello.json` → `("client", "hello")`), without the unions.
    fn frame_schemas(&self) -> Vec<(String, String, &Value)> {
        self.files
            .iter()
            .filter_map(|(name, schema)| {
                let stem = name.strip_suffix(".json")?;
                let (side, kind) = stem.split_once('.')?;
                matches!(side, "client" | "relay")
                    .then(|| (side.to_owned(), kind.to_owned(), schema))
            })
            .collect()
    }
}

/// `client.hello.json` ↔ `client/hello`.
fn key_of(file: &str) -> String {
    let stem = file.strip_suffix(".json").unwrap();
    match stem.split_once('.') {
        Some((side, kind)) => format!("{side}/{kind}"),
        None => stem.to_owned(),
    }
}

fn file_of(key: &str) -> String {
    format!("{}.json", key.replace('/', "."))
}

fn type_of(json: &Value) -> String {
    json["type"].as_str().unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------------------------------
// Samples: one of every variant, with an exhaustive match so a new variant cannot compile
// until it has a sample here.
// ---------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> Base64Bytes {
    Base64Bytes(bytes.to_vec())
}

fn client_samples() -> Vec<ClientFrame> {
    let samples = vec![
        ClientFrame::Hello {
            v: 1,
            role: Role::Seeker,
            program: "resident-peer-support".into(),
            features: None,
            chat_features: None,
        },
        ClientFrame::Hello {
            v: 1,
            role: Role::Peer,
            program: "resident-peer-support".into(),
            features: Some(vec!["chat-features".into(), "from-the-future".into()]),
            chat_features: Some(vec![]),
        },
        ClientFrame::Present {
            issuer_certificate: b64(&[1; 100]),
            supporter_certificate: b64(&[2; 101]),
            revocation_list: b64(&[3; 102]),
        },
        ClientFrame::Prove {
            answer: b64(&[4; 80]),
        },
        ClientFrame::SetAvailability {
            status: Availability::Available,
            capacity: limits::MAX_CAPACITY,
            topics: vec!["burnout".into(), "adverse-event".into()],
            languages: vec!["en".into()],
            auto_accept: true,
        },
        ClientFrame::Seek {
            preferences: SeekPreferences {
                topic: Some("litigation".into()),
                language: Some("fr".into()),
                peer_role: Some("resident".into()),
            },
            urgent: true,
        },
        ClientFrame::Cancel {},
        ClientFrame::Accept { offer: 7 },
        ClientFrame::Decline { offer: u32::MAX },
        ClientFrame::End {
            chat: ChatNumber(1),
        },
        ClientFrame::Block {
            chat: ChatNumber(42),
        },
        ClientFrame::Pass {
            chat: ChatNumber(3),
        },
        ClientFrame::Resume {
            secret: b64(&[7; 32]),
            received: u64::MAX,
        },
        ClientFrame::Ack { received: 0 },
        // Minimal forms, as above for the relay.
        ClientFrame::SetAvailability {
            status: Availability::Away,
            capacity: 1,
            topics: vec![],
            languages: vec![],
            auto_accept: false,
        },
        ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        },
    ];
    let mut seen = [false; CLIENT_VARIANTS];
    for sample in &samples {
        seen[client_variant(sample)] = true;
    }
    assert!(
        seen.iter().all(|s| *s),
        "a ClientFrame variant has no sample: {seen:?}"
    );
    samples
}

const CLIENT_VARIANTS: usize = 13;

/// Exhaustive on purpose: a new variant fails to compile here until it gets an index (and
/// then fails the test above until it gets a sample).
fn client_variant(frame: &ClientFrame) -> usize {
    match frame {
        ClientFrame::Hello { .. } => 0,
        ClientFrame::Present { .. } => 1,
        ClientFrame::Prove { .. } => 2,
        ClientFrame::SetAvailability { .. } => 3,
        ClientFrame::Seek { .. } => 4,
        ClientFrame::Cancel {} => 5,
        ClientFrame::Accept { .. } => 6,
        ClientFrame::Decline { .. } => 7,
        ClientFrame::End { .. } => 8,
        ClientFrame::Block { .. } => 9,
        ClientFrame::Pass { .. } => 10,
        ClientFrame::Resume { .. } => 11,
        ClientFrame::Ack { .. } => 12,
    }
}

fn sample_program() -> ProgramInfo {
    ProgramInfo {
        id: "resident-peer-support".into(),
        name: "Resident Peer Support Program".into(),
        root_key: "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29".into(),
        topics: vec!["adverse-event".into(), "burnout".into()],
        languages: vec!["en".into(), "fr".into()],
        peer_roles: vec!["resident".into(), "staff".into()],
        resources: vec![
            sample_resource(),
            Resource {
                title: "Crisis line".into(),
                url: None,
                phone: None,
                email: None,
            },
        ],
        wait_limit_secs: 600,
        emergency: Some(vec![Resource {
            title: "Emergency services".into(),
            url: None,
            phone: Some("911".into()),
            email: None,
        }]),
        confidentiality: Some([("fr".to_owned(), "Rien n'est enregistré.".to_owned())].into()),
        departments: Some(vec!["Surgery".into()]),
        labels: Some(
            [(
                "fr".to_owned(),
                [("burnout".to_owned(), "Épuisement professionnel".to_owned())].into(),
            )]
            .into(),
        ),
    }
}

fn sample_resource() -> Resource {
    Resource {
        title: "Faculty Wellness Program — counselling".into(),
        url: Some("https://wellness.example/counselling".into()),
        phone: Some("+1 555 0100".into()),
        email: Some("wellness@example.org".into()),
    }
}

fn relay_samples() -> Vec<RelayFrame> {
    let samples = vec![
        RelayFrame::Welcome {
            v: limits::PROTOCOL_VERSION,
            role: Role::Peer,
            program: sample_program(),
            features: None,
            resume: None,
        },
        RelayFrame::Welcome {
            v: limits::PROTOCOL_VERSION,
            role: Role::Seeker,
            program: sample_program(),
            features: Some(vec!["chat-features".into()]),
            resume: None,
        },
        RelayFrame::Welcome {
            v: limits::PROTOCOL_VERSION,
            role: Role::Seeker,
            program: sample_program(),
            features: Some(vec!["resume".into()]),
            resume: Some(confidant_proto::ResumeOffer {
                secret: b64(&[9; 32]),
                grace_ms: 60_000,
            }),
        },
        RelayFrame::Resumed {
            secret: b64(&[1; 32]),
            received: 17,
        },
        RelayFrame::Ack { received: 16 },
        RelayFrame::PartnerAway {
            chat: ChatNumber(2),
        },
        RelayFrame::PartnerBack {
            chat: ChatNumber(2),
        },
        RelayFrame::Challenge {
            challenge: b64(&[5; 80]),
        },
        RelayFrame::Verified {
            display_name: "Dr. Alex Moreau".into(),
        },
        RelayFrame::AvailabilitySet {
            status: Availability::Away,
            capacity: 3,
            active_chats: 2,
        },
        RelayFrame::Queued {
            position: 1,
            peers_online: 0,
            estimate_secs: Some(90),
            none: Some(QueueNone::NoneOnline),
        },
        RelayFrame::Cancelled {},
        RelayFrame::NoPeer {
            reason: NoPeerReason::WaitLimit,
            resources: vec![sample_resource()],
        },
        RelayFrame::Offer {
            offer: 3,
            topic: Some("burnout".into()),
            language: None,
            expires_in_ms: 30_000,
            urgent: true,
        },
        RelayFrame::OfferWithdrawn {
            offer: 3,
            reason: OfferWithdrawnReason::SeekerLeft,
        },
        RelayFrame::Matched {
            chat: ChatNumber(1),
            credential: Credential {
                issuer_certificate: b64(&[1; 3]),
                supporter_certificate: b64(&[2; 4]),
                revocation_list: b64(&[3; 5]),
            },
            chat_features: None,
        },
        RelayFrame::Matched {
            chat: ChatNumber(2),
            credential: Credential {
                issuer_certificate: b64(&[1; 3]),
                supporter_certificate: b64(&[2; 4]),
                revocation_list: b64(&[3; 5]),
            },
            chat_features: Some(vec!["x-example".into()]),
        },
        RelayFrame::ChatStarted {
            chat: ChatNumber(9),
            offer: 3,
            chat_features: None,
        },
        RelayFrame::ChatStarted {
            chat: ChatNumber(10),
            offer: 4,
            chat_features: Some(vec![]),
        },
        RelayFrame::ChatEnded {
            chat: ChatNumber(9),
            reason: ChatEndReason::PartnerLeft,
        },
        RelayFrame::Shutdown { deadline_ms: 5_000 },
        RelayFrame::error(ErrorCode::UnknownChat),
        // Minimal forms: every optional field left out, so a schema that wrongly requires
        // one fails.
        RelayFrame::Offer {
            offer: 1,
            topic: None,
            language: None,
            expires_in_ms: 0,
            urgent: false,
        },
        RelayFrame::Queued {
            position: u32::MAX,
            peers_online: u32::MAX,
            estimate_secs: None,
            none: None,
        },
        RelayFrame::NoPeer {
            reason: NoPeerReason::NoneOnline,
            resources: vec![],
        },
    ];
    let mut seen = [false; RELAY_VARIANTS];
    for sample in &samples {
        seen[relay_variant(sample)] = true;
    }
    assert!(
        seen.iter().all(|s| *s),
        "a RelayFrame variant has no sample: {seen:?}"
    );
    samples
}

const RELAY_VARIANTS: usize = 18;

/// Exhaustive on purpose, like [`client_variant`].
fn relay_variant(frame: &RelayFrame) -> usize {
    match frame {
        RelayFrame::Welcome { .. } => 0,
        RelayFrame::Challenge { .. } => 1,
        RelayFrame::Verified { .. } => 2,
        RelayFrame::AvailabilitySet { .. } => 3,
        RelayFrame::Queued { .. } => 4,
        RelayFrame::Cancelled {} => 5,
        RelayFrame::NoPeer { .. } => 6,
        RelayFrame::Offer { .. } => 7,
        RelayFrame::OfferWithdrawn { .. } => 8,
        RelayFrame::Matched { .. } => 9,
        RelayFrame::ChatStarted { .. } => 10,
        RelayFrame::ChatEnded { .. } => 11,
        RelayFrame::Shutdown { .. } => 12,
        RelayFrame::Error { .. } => 13,
        RelayFrame::Resumed { .. } => 14,
        RelayFrame::Ack { .. } => 15,
        RelayFrame::PartnerAway { .. } => 16,
        RelayFrame::PartnerBack { .. } => 17,
    }
}

/// Every value of every enum a frame carries, as (schema file, property, wire strings).
/// Each list is built behind an exhaustive match, so a new Rust variant cannot compile
/// without being listed.
fn enum_values() -> Vec<(&'static str, &'static str, Vec<String>)> {
    fn wire<T: serde::Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
    let chat_end = [
        ChatEndReason::Ended,
        ChatEndReason::PartnerEnded,
        ChatEndReason::Blocked,
        ChatEndReason::PartnerLeft,
        ChatEndReason::HandshakeTimeout,
        ChatEndReason::IdleTimeout,
        ChatEndReason::SlowReader,
        ChatEndReason::Shutdown,
        ChatEndReason::Revoked,
    ];
    for reason in chat_end {
        match reason {
            ChatEndReason::Ended
            | ChatEndReason::PartnerEnded
            | ChatEndReason::Blocked
            | ChatEndReason::PartnerLeft
            | ChatEndReason::HandshakeTimeout
            | ChatEndReason::IdleTimeout
            | ChatEndReason::SlowReader
            | ChatEndReason::Shutdown
            | ChatEndReason::Revoked => {}
        }
    }
    let no_peer = [
        NoPeerReason::NoneOnline,
        NoPeerReason::WaitLimit,
        NoPeerReason::QueueFull,
    ];
    for reason in no_peer {
        match reason {
            NoPeerReason::NoneOnline | NoPeerReason::WaitLimit | NoPeerReason::QueueFull => {}
        }
    }
    let queue_none = [QueueNone::NoneOnline, QueueNone::NoneAvailable];
    for none in queue_none {
        match none {
            QueueNone::NoneOnline | QueueNone::NoneAvailable => {}
        }
    }
    let withdrawn = [
        OfferWithdrawnReason::Timeout,
        OfferWithdrawnReason::SeekerLeft,
    ];
    for reason in withdrawn {
        match reason {
            OfferWithdrawnReason::Timeout | OfferWithdrawnReason::SeekerLeft => {}
        }
    }
    let roles = [Role::Seeker, Role::Peer];
    for role in roles {
        match role {
            Role::Seeker | Role::Peer => {}
        }
    }
    let statuses = [Availability::Available, Availability::Away];
    for status in statuses {
        match status {
            Availability::Available | Availability::Away => {}
        }
    }
    vec![
        ("relay.chat_ended.json", "reason", wire(&chat_end)),
        ("relay.no_peer.json", "reason", wire(&no_peer)),
        ("relay.queued.json", "none", wire(&queue_none)),
        ("relay.offer_withdrawn.json", "reason", wire(&withdrawn)),
        ("relay.error.json", "code", wire(&ErrorCode::ALL)),
        ("defs.json", "role", wire(&roles)),
        ("defs.json", "availability", wire(&statuses)),
    ]
}

// ---------------------------------------------------------------------------------------
// The spec's examples and tables
// ---------------------------------------------------------------------------------------

/// `(schema key, line number, JSON)` for every ```json block. Each must sit right below a
/// `<!-- schema: side/type -->` comment: an example nobody validates is a wrong example
/// waiting to happen.
fn spec_examples(spec: &str) -> Vec<(String, usize, String)> {
    let lines: Vec<&str> = spec.lines().collect();
    let mut examples = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("```json") {
            let comment = i
                .checked_sub(1)
                .map(|p| lines[p].trim())
                .unwrap_or_default();
            let key = comment
                .strip_prefix("<!-- schema:")
                .and_then(|rest| rest.strip_suffix("-->"))
                .map(str::trim)
                .unwrap_or_else(|| {
                    panic!(
                        "spec.md:{}: a json block must follow <!-- schema: side/type -->",
                        i + 1
                    )
                });
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "```" {
                end += 1;
            }
            assert!(
                end < lines.len(),
                "spec.md:{}: unterminated json block",
                i + 1
            );
            examples.push((key.to_owned(), start, lines[start..end].join("\n")));
            i = end;
        } else if lines[i].contains("<!-- schema:") {
            let next = lines.get(i + 1).copied().unwrap_or_default();
            assert!(
                next.trim_start().starts_with("```json"),
                "spec.md:{}: a schema comment must be followed by a ```json block",
                i + 1
            );
        }
        i += 1;
    }
    examples
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn spec_examples_validate_and_parse() {
    let schemas = Schemas::load();
    let spec = spec();
    let examples = spec_examples(&spec);
    let mut documented = BTreeSet::new();
    for (key, line, text) in &examples {
        let what = format!("spec.md:{line} example");
        let json: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"));
        schemas.assert_valid(key, &json, &what);
        let (side, kind) = key.split_once('/').unwrap();
        match side {
            "client" => {
                schemas.assert_valid("client", &json, &what);
                assert!(
                    text.len() <= limits::MAX_CONTROL_FRAME,
                    "{what} is above MAX_CONTROL_FRAME"
                );
                let frame = ClientFrame::from_json(text.as_bytes())
                    .unwrap_or_else(|e| panic!("{what} does not parse as a ClientFrame: {e}"));
                assert_eq!(frame.kind(), kind, "{what}");
                // What the Rust client would send instead must validate too.
                schemas.assert_valid(key, &serde_json::from_str(&frame.to_json()).unwrap(), &what);
            }
            "relay" => {
                schemas.assert_valid("relay", &json, &what);
                let frame = RelayFrame::from_json(text.as_bytes())
                    .unwrap_or_else(|e| panic!("{what} does not parse as a RelayFrame: {e}"));
                let reserialised: Value = serde_json::from_str(&frame.to_json()).unwrap();
                assert_eq!(type_of(&reserialised), kind, "{what}");
                assert_eq!(
                    reserialised, json,
                    "{what} does not survive a Rust round trip"
                );
            }
            "http" if kind == "admission" => {
                let challenge: confidant_proto::AdmissionChallenge =
                    serde_json::from_value(json.clone()).unwrap_or_else(|e| {
                        panic!("{what} does not parse as AdmissionChallenge: {e}")
                    });
                assert_eq!(serde_json::to_value(&challenge).unwrap(), json, "{what}");
            }
            "http" => {
                assert_eq!(kind, "programs", "{what}: unknown http schema");
                let programs: Vec<ProgramInfo> = serde_json::from_value(json.clone())
                    .unwrap_or_else(|e| panic!("{what} does not parse as Vec<ProgramInfo>: {e}"));
                assert_eq!(serde_json::to_value(&programs).unwrap(), json, "{what}");
            }
            other => panic!("{what}: unknown schema side {other}"),
        }
        documented.insert(key.clone());
    }
    // The spec shows every frame at least once.
    for (side, kind, _) in schemas.frame_schemas() {
        let key = format!("{side}/{kind}");
        assert!(
            documented.contains(&key),
            "spec.md has no example for {key}"
        );
    }
    println!(
        "schema conformance: {} examples in spec.md cover {} schemas; {} schema files",
        examples.len(),
        documented.len(),
        schemas.files.len()
    );
}

#[test]
fn every_rust_variant_serialises_to_valid_json() {
    let schemas = Schemas::load();
    let client = client_samples();
    for frame in &client {
        let json: Value = serde_json::from_str(&frame.to_json()).unwrap();
        let key = format!("client/{}", frame.kind());
        schemas.assert_valid(&key, &json, &format!("{frame:?}"));
        schemas.assert_valid("client", &json, &format!("{frame:?}"));
        assert_eq!(
            ClientFrame::from_json(frame.to_json().as_bytes()).as_ref(),
            Ok(frame)
        );
    }
    let relay = relay_samples();
    for frame in &relay {
        let json: Value = serde_json::from_str(&frame.to_json()).unwrap();
        let key = format!("relay/{}", type_of(&json));
        schemas.assert_valid(&key, &json, &format!("{frame:?}"));
        schemas.assert_valid("relay", &json, &format!("{frame:?}"));
        assert_eq!(
            RelayFrame::from_json(frame.to_json().as_bytes()).as_ref(),
            Ok(frame)
        );
    }
    let programs: Value = serde_json::to_value(vec![sample_program()]).unwrap();
    schemas.assert_valid("http/programs", &programs, "GET /v1/programs sample");
    println!(
        "schema conformance: {} client and {} relay variants validate",
        client.len(),
        relay.len()
    );
}

#[test]
fn schema_files_and_rust_variants_match_one_to_one() {
    let schemas = Schemas::load();
    let client_kinds: BTreeSet<String> = client_samples()
        .iter()
        .map(|f| f.kind().to_owned())
        .collect();
    let relay_kinds: BTreeSet<String> = relay_samples()
        .iter()
        .map(|f| type_of(&serde_json::from_str(&f.to_json()).unwrap()))
        .collect();
    let mut schema_client = BTreeSet::new();
    let mut schema_relay = BTreeSet::new();
    for (side, kind, schema) in schemas.frame_schemas() {
        assert_eq!(
            schema["properties"]["type"]["const"], kind,
            "{side}.{kind}.json: the type const must equal the file name"
        );
        assert_eq!(schema["additionalProperties"], false, "{side}.{kind}.json");
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from("type")),
            "{side}.{kind}.json: type is required"
        );
        match side.as_str() {
            "client" => schema_client.insert(kind),
            _ => schema_relay.insert(kind),
        };
    }
    assert_eq!(
        schema_client, client_kinds,
        "client.<type>.json files vs ClientFrame variants"
    );
    assert_eq!(
        schema_relay, relay_kinds,
        "relay.<type>.json files vs RelayFrame variants"
    );

    // The unions name every frame schema of their side, and nothing else.
    for (side, kinds) in [("client", &client_kinds), ("relay", &relay_kinds)] {
        let refs: BTreeSet<String> = schemas.files[&format!("{side}.json")]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["$ref"].as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = kinds.iter().map(|k| format!("{side}.{k}.json")).collect();
        assert_eq!(refs, expected, "{side}.json oneOf");
    }

    // Only frame schemas, the two unions, the shared definitions and the HTTP body.
    let others: BTreeSet<&str> = schemas
        .files
        .keys()
        .map(String::as_str)
        .filter(|n| {
            !(n.starts_with("client.") || n.starts_with("relay.")) || n.matches('.').count() == 1
        })
        .collect();
    assert_eq!(
        others,
        BTreeSet::from([
            "client.json",
            "defs.json",
            "http.admission.json",
            "http.programs.json",
            "relay.json"
        ]),
        "unexpected schema files"
    );

    // Enumerations agree value for value.
    for (file, property, rust) in enum_values() {
        let schema = &schemas.files[file];
        let node = if file == "defs.json" {
            &schema["$defs"][property]
        } else {
            &schema["properties"][property]
        };
        let in_schema: BTreeSet<String> = node["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{file} {property} has no enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let in_rust: BTreeSet<String> = rust.into_iter().collect();
        assert_eq!(in_schema, in_rust, "{file} {property}");
    }

    // Bounds taken from limits.rs, not typed in twice.
    let defs = &schemas.files["defs.json"]["$defs"];
    let base64_len = |bytes: usize| bytes.div_ceil(3) * 4;
    assert_eq!(defs["capacity"]["maximum"], limits::MAX_CAPACITY);
    assert_eq!(defs["capacity"]["minimum"], 1);
    assert_eq!(defs["tags"]["maxItems"], limits::MAX_TAGS);
    assert_eq!(
        defs["tag"]["pattern"],
        format!("^[a-z0-9-]{{1,{}}}$", limits::MAX_TAG_LEN)
    );
    assert_eq!(
        defs["certificate"]["maxLength"],
        base64_len(limits::MAX_CERTIFICATE)
    );
    assert_eq!(
        defs["revocation_list"]["maxLength"],
        base64_len(limits::MAX_REVOCATION_LIST)
    );
    assert_eq!(
        schemas.files["relay.availability_set.json"]["properties"]["active_chats"]["maximum"],
        limits::MAX_CAPACITY
    );
    assert_eq!(
        schemas.files["relay.welcome.json"]["properties"]["v"]["const"],
        limits::PROTOCOL_VERSION
    );
    println!(
        "schema conformance: {} client + {} relay frame schemas, {} schema files",
        schema_client.len(),
        schema_relay.len(),
        schemas.files.len()
    );
}

/// Documents that both the schema and the Rust parser must refuse, one a line:
/// `schema | why | document`.
const MUST_FAIL: &str = r#"
client/set_availability | capacity zero (capacity is 1..=MAX_CAPACITY) | {"type":"set_availability","status":"available","capacity":0}
client/hello | unknown field | {"type":"hello","v":1,"role":"seeker","program":"p","extra":true}
client/hello | wrong type | {"type":"hello","v":"1","role":"seeker","program":"p"}
client/hello | version negative | {"type":"hello","v":-1,"role":"seeker","program":"p"}
client/hello | version with a fraction | {"type":"hello","v":1.5,"role":"seeker","program":"p"}
client/hello | feature not a tag | {"type":"hello","v":1,"role":"seeker","program":"p","features":["Chat Features"]}
client/hello | too many features | {"type":"hello","v":1,"role":"seeker","program":"p","features":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u","v","w","x","y","z","aa","ab","ac","ad","ae","af","ag"]}
client/hello | null features | {"type":"hello","v":1,"role":"seeker","program":"p","features":null}
client/end | chat number 0 is never assigned | {"type":"end","chat":0}
client/pass | chat number 0 is never assigned | {"type":"pass","chat":0}
relay/queued | unknown none value | {"type":"queued","position":1,"peers_online":1,"none":"nobody"}
client/accept | offer number 0 is never assigned | {"type":"accept","offer":0}
client/seek | null instead of an absent member | {"type":"seek","preferences":{"topic":null}}
client/hello | missing field | {"type":"hello","v":1,"role":"seeker"}
client/hello | unknown role | {"type":"hello","v":1,"role":"admin","program":"p"}
client/hello | program not a tag | {"type":"hello","v":1,"role":"peer","program":"Resident Program"}
client/cancel | unknown field | {"type":"cancel","position":1}
client/seek | unknown preference | {"type":"seek","preferences":{"department":"surgery"}}
client/seek | tag with capitals | {"type":"seek","preferences":{"topic":"Burnout"}}
client/seek | tag too long | {"type":"seek","preferences":{"language":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}
client/seek | null preferences | {"type":"seek","preferences":null}
client/set_availability | capacity above maximum | {"type":"set_availability","status":"available","capacity":17}
client/set_availability | missing capacity | {"type":"set_availability","status":"away"}
client/set_availability | too many topics | {"type":"set_availability","status":"available","capacity":1,"topics":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}
client/present | not base64 | {"type":"present","issuer_certificate":"AQID!","supporter_certificate":"AQ==","revocation_list":"AQ=="}
client/present | unpadded base64 | {"type":"present","issuer_certificate":"AQ","supporter_certificate":"AQ==","revocation_list":"AQ=="}
client/present | non-canonical base64 | {"type":"present","issuer_certificate":"AB==","supporter_certificate":"AQ==","revocation_list":"AQ=="}
client/present | url-safe base64 | {"type":"present","issuer_certificate":"_-8=","supporter_certificate":"AQ==","revocation_list":"AQ=="}
client/prove | answer not a string | {"type":"prove","answer":[1,2,3]}
client/accept | negative offer | {"type":"accept","offer":-1}
client/end | chat as string | {"type":"end","chat":"1"}
client/block | missing chat | {"type":"block"}
client | unknown type | {"type":"ping"}
client | no type | {"v":1,"role":"seeker","program":"p"}
client | relay frame sent by a client | {"type":"cancelled"}
client | not an object | ["hello"]
relay/welcome | program without resources | {"type":"welcome","v":1,"role":"seeker","program":{"id":"p","name":"P","root_key":"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","topics":[],"languages":[],"peer_roles":[],"wait_limit_secs":600}}
relay/error | unknown code | {"type":"error","code":"teapot","message":"short and stout"}
relay/chat_ended | unknown reason | {"type":"chat_ended","chat":1,"reason":"bored"}
relay/matched | unknown credential field | {"type":"matched","chat":1,"credential":{"issuer_certificate":"AQ==","supporter_certificate":"AQ==","revocation_list":"AQ==","department":"AQ=="}}
relay/queued | missing position | {"type":"queued","peers_online":2}
relay/offer | unknown field | {"type":"offer","offer":1,"expires_in_ms":30000,"seeker":"x"}
relay | client frame sent by the relay | {"type":"seek"}
relay/queued | null estimate | {"type":"queued","position":1,"peers_online":0,"estimate_secs":null}
relay/welcome | features not a list | {"type":"welcome","v":1,"role":"seeker","program":{"id":"p","name":"P","root_key":"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","topics":[],"languages":[],"peer_roles":[],"resources":[],"wait_limit_secs":600},"features":"chat-features"}
"#;

/// Documents the schema refuses but the Rust parser still accepts: the schema is the stricter
/// contract a client follows. Each is a known gap, reported; when the Rust side closes one,
/// this test fails and the line moves to `MUST_FAIL`.
const SCHEMA_ONLY: &str = r#"
relay/welcome | a version other than 1 | {"type":"welcome","v":2,"role":"seeker","program":{"id":"p","name":"P","root_key":"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","topics":[],"languages":[],"peer_roles":[],"resources":[],"wait_limit_secs":600}}
relay/no_peer | a resource link that is not http(s) | {"type":"no_peer","reason":"none_online","resources":[{"title":"x","url":"javascript:alert(1)"}]}
relay/offer | a topic that is not a tag | {"type":"offer","offer":1,"topic":"Adverse Event","expires_in_ms":1}
relay/availability_set | capacity above MAX_CAPACITY | {"type":"availability_set","status":"away","capacity":17,"active_chats":0}
"#;

fn table_cases(table: &'static str) -> Vec<(&'static str, &'static str, &'static str)> {
    table
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut cells = line.splitn(3, " | ");
            let (Some(key), Some(why), Some(doc)) = (cells.next(), cells.next(), cells.next())
            else {
                panic!("line is not `schema | why | document`: {line}")
            };
            (key, why, doc)
        })
        .collect()
}

#[test]
fn must_fail_documents_are_refused_by_schema_and_rust() {
    let schemas = Schemas::load();
    let cases = table_cases(MUST_FAIL);
    for (key, why, text) in &cases {
        let json: Value = serde_json::from_str(text).unwrap();
        assert!(
            !schemas.errors(key, &json).is_empty(),
            "{key} ({why}): the schema accepts {text}"
        );
        let side = key.split('/').next().unwrap();
        assert!(
            !schemas.errors(side, &json).is_empty(),
            "{side}.json ({why}): the union schema accepts {text}"
        );
        let rust = match side {
            "client" => ClientFrame::from_json(text.as_bytes()).map(|f| format!("{f:?}")),
            _ => RelayFrame::from_json(text.as_bytes()).map(|f| format!("{f:?}")),
        };
        assert!(
            rust.is_err(),
            "{key} ({why}): the Rust parser accepts {text} as {rust:?}"
        );
    }
    println!(
        "schema conformance: {} must-fail documents refused by both",
        cases.len()
    );
}

#[test]
fn schema_is_stricter_than_rust_only_where_known() {
    let schemas = Schemas::load();
    let cases = table_cases(SCHEMA_ONLY);
    for (key, why, text) in &cases {
        let json: Value = serde_json::from_str(text).unwrap();
        assert!(
            !schemas.errors(key, &json).is_empty(),
            "{key} ({why}): the schema accepts {text}"
        );
        let rust = match key.split('/').next().unwrap() {
            "client" => ClientFrame::from_json(text.as_bytes()).map(|_| ()),
            _ => RelayFrame::from_json(text.as_bytes()).map(|_| ()),
        };
        assert!(
            rust.is_ok(),
            "{key} ({why}): the Rust parser now refuses {text} ({rust:?}); move it to MUST_FAIL"
        );
    }
    println!(
        "schema conformance: {} documents only the schema refuses (known gaps)",
        cases.len()
    );
}

/// The credential and possession examples in the spec are the published vectors, so a
/// reader can verify them; if the vectors are regenerated, the examples must follow.
#[test]
fn spec_credential_examples_are_the_vectors() {
    let vectors = |name: &str| -> Value {
        serde_json::from_str(&read(&proto_dir().join("vectors").join(name))).unwrap()
    };
    let certificates = vectors("certificates.json");
    let chain = certificates["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["name"] == "valid_chain")
        .expect("certificates.json has a valid_chain case");
    let possession = &vectors("transcripts.json")["possession"];
    let hex = |value: &Value| -> Vec<u8> {
        let text = value.as_str().unwrap();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    };
    let credential = |json: &Value| {
        for field in [
            "issuer_certificate",
            "supporter_certificate",
            "revocation_list",
        ] {
            let bytes: Base64Bytes = serde_json::from_value(json[field].clone()).unwrap();
            assert_eq!(bytes.0, hex(&chain[field]), "{field} is not valid_chain's");
        }
    };
    let spec = spec();
    let mut checked = 0;
    for (key, line, text) in spec_examples(&spec) {
        let json: Value = serde_json::from_str(&text).unwrap();
        let bytes_of = |field: &str| -> Vec<u8> {
            serde_json::from_value::<Base64Bytes>(json[field].clone())
                .unwrap()
                .0
        };
        match key.as_str() {
            "client/present" => credential(&json),
            "relay/matched" => credential(&json["credential"]),
            "relay/challenge" => assert_eq!(
                bytes_of("challenge"),
                hex(&possession["challenge_message"]),
                "spec.md:{line}"
            ),
            "client/prove" => assert_eq!(
                bytes_of("answer"),
                hex(&possession["answer_message"]),
                "spec.md:{line}"
            ),
            "relay/welcome" if json["program"]["id"] == chain["program"] => assert_eq!(
                json["program"]["root_key"], chain["root_public_key"],
                "spec.md:{line}"
            ),
            _ => continue,
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} examples checked against the vectors"
    );
}
