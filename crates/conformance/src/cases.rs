//! The table: for each state of `proto/spec.md`'s state machines, inputs and the answer the
//! spec demands. Every expected code and close code is written out here from the spec's
//! error catalogue, not taken from any implementation.

use serde_json::{Value, json};

/// Where a case starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Connected, nothing sent.
    Connected,
    /// A seeker after a plain version-1 `hello` / `welcome`.
    SeekerIdle,
    /// A seeker after a `hello` with `features` (the growth rules apply).
    SeekerWithFeatures,
    /// A peer after `hello` / `welcome`, before `present`.
    PeerUnverified,
    /// A peer after `verified` (needs a credential).
    PeerVerified,
}

/// What a case sends.
pub enum Payload {
    /// One text message, exactly these bytes.
    Text(String),
    /// One binary message, exactly these bytes.
    Binary(Vec<u8>),
}

/// What the spec says must follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An `error` frame with this code, then the close with this code.
    Fatal(&'static str, u16),
    /// An `error` frame with this code, and the connection goes on (the probe is answered).
    Continues(&'static str),
    /// No answer at all, and the connection goes on (the probe's answer comes first).
    Silent,
    /// A `welcome` with exactly this `features` member (`None`: no such member).
    Welcome(Option<&'static [&'static str]>),
}

/// One row of the table.
pub struct Case {
    /// What the row checks.
    pub name: &'static str,
    /// Where in `proto/spec.md` the rule is.
    pub spec: &'static str,
    /// The state it starts in.
    pub start: Start,
    /// What it sends.
    pub send: fn() -> Payload,
    /// What must follow.
    pub expect: Expect,
}

/// The largest chat number: no connection has it, so `end` for it is `unknown_chat`.
pub const NO_SUCH_CHAT: u32 = u32::MAX;
/// A tag no program lists.
pub const UNLISTED_TAG: &str = "zz-not-offered-by-this-program";
/// `MAX_CONTROL_FRAME` and `MAX_DATA_FRAME`, from the spec's limits table.
pub const MAX_CONTROL_FRAME: usize = 24_576;
/// See [`MAX_CONTROL_FRAME`].
pub const MAX_DATA_FRAME: usize = 16_404;

fn text(value: &Value) -> Payload {
    Payload::Text(value.to_string())
}

fn raw(text: &str) -> Payload {
    Payload::Text(text.to_owned())
}

/// A well-formed data frame on `chat` with a 48-byte body.
pub fn data_frame(chat: u32) -> Vec<u8> {
    let mut frame = chat.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0x42; 48]);
    frame
}

/// `hello` for `role` as version 1 (no features). The program is filled in by the runner.
pub fn hello(role: &str, program: &str) -> Value {
    hello_with(role, program, &json!({}))
}

/// `hello` for `role` with the members of `extra` added (`features`, `chat_features`).
pub fn hello_with(role: &str, program: &str, extra: &Value) -> Value {
    let mut frame = serde_json::Map::new();
    frame.insert("type".into(), json!("hello"));
    frame.insert("v".into(), json!(1));
    frame.insert("role".into(), json!(role));
    frame.insert("program".into(), json!(program));
    if let Some(extra) = extra.as_object() {
        frame.extend(extra.clone());
    }
    Value::Object(frame)
}

/// `end` for a chat no connection has: answered `unknown_chat`, connection continues.
pub fn probe_end() -> Value {
    json!({"type": "end", "chat": NO_SUCH_CHAT})
}

/// `{"type":"end","chat":4294967295}` padded with whitespace to exactly `len` bytes.
fn padded_end(len: usize) -> Payload {
    let mut text = probe_end().to_string();
    let pad = len.saturating_sub(text.len());
    text.push_str(&" ".repeat(pad));
    Payload::Text(text)
}

/// The program placeholder the runner replaces in `hello` cases.
pub const PROGRAM: &str = "{program}";

/// Every row. Text payloads may contain [`PROGRAM`], replaced by the target's program id.
pub fn table() -> Vec<Case> {
    use Expect::{Continues, Fatal, Silent, Welcome};
    use Start::{Connected, PeerUnverified, PeerVerified, SeekerIdle, SeekerWithFeatures};
    vec![
        // ---- connected: only hello -------------------------------------------------------
        Case {
            name: "seek before hello",
            spec: "Seeker connections / Frames allowed",
            start: Connected,
            send: || text(&json!({"type": "seek"})),
            expect: Fatal("unexpected_frame", 4409),
        },
        Case {
            name: "a well-formed data frame before hello",
            spec: "Encoding rules / Order of checks",
            start: Connected,
            send: || Payload::Binary(data_frame(1)),
            expect: Fatal("unexpected_frame", 4409),
        },
        Case {
            name: "a 3-byte binary message before hello: decoding is checked before the state",
            spec: "Encoding rules / Order of checks",
            start: Connected,
            send: || Payload::Binary(vec![0, 0, 1]),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "hello with v 2",
            spec: "hello",
            start: Connected,
            send: || raw(r#"{"type":"hello","v":2,"role":"seeker","program":"{program}"}"#),
            expect: Fatal("unsupported_version", 4505),
        },
        Case {
            name: "hello with v 300 (beyond a u8): still unsupported_version",
            spec: "Encoding rules (hello.v)",
            start: Connected,
            send: || raw(r#"{"type":"hello","v":300,"role":"seeker","program":"{program}"}"#),
            expect: Fatal("unsupported_version", 4505),
        },
        Case {
            name: "hello with v 1.0: not an integer as the spec writes them",
            spec: "Encoding rules",
            start: Connected,
            send: || raw(r#"{"type":"hello","v":1.0,"role":"seeker","program":"{program}"}"#),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "hello with v -1",
            spec: "Encoding rules",
            start: Connected,
            send: || raw(r#"{"type":"hello","v":-1,"role":"seeker","program":"{program}"}"#),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "hello for a program the relay does not host",
            spec: "hello",
            start: Connected,
            send: || text(&hello("seeker", UNLISTED_TAG)),
            expect: Fatal("unknown_program", 4404),
        },
        Case {
            name: "hello with features null",
            spec: "Encoding rules (null members)",
            start: Connected,
            send: || {
                raw(
                    r#"{"type":"hello","v":1,"role":"seeker","program":"{program}","features":null}"#,
                )
            },
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "hello with 33 feature names: invalid_field, and hello may follow",
            spec: "Encoding rules; Limits (MAX_FEATURES)",
            start: Connected,
            send: || {
                let names: Vec<String> = (0..33).map(|i| format!("x-{i}")).collect();
                text(&hello_with("seeker", PROGRAM, &json!({"features": names})))
            },
            expect: Continues("invalid_field"),
        },
        Case {
            name: "a version-1 hello gets a version-1 welcome (no features member)",
            spec: "Versioning and growing the protocol",
            start: Connected,
            send: || text(&hello("seeker", PROGRAM)),
            expect: Welcome(None),
        },
        Case {
            name: "hello with features: welcome lists those the relay implements",
            spec: "Features",
            start: Connected,
            send: || {
                text(&hello_with(
                    "seeker",
                    PROGRAM,
                    &json!({"features": ["x-from-the-future", "chat-features"],
                        "chat_features": ["x-example"]}),
                ))
            },
            expect: Welcome(Some(&["chat-features"])),
        },
        Case {
            name: "program-details: the description carries emergency, confidentiality, departments, labels",
            spec: "GET /v1/programs; Features",
            start: Connected,
            send: || {
                text(&hello_with(
                    "seeker",
                    PROGRAM,
                    &json!({"features": ["program-details"]}),
                ))
            },
            expect: Welcome(Some(&["program-details"])),
        },
        Case {
            name: "a text message of MAX_CONTROL_FRAME + 1 bytes",
            spec: "Limits; Error catalogue (frame_too_large)",
            start: Connected,
            send: || padded_end(MAX_CONTROL_FRAME + 1),
            expect: Fatal("frame_too_large", 1009),
        },
        // ---- seeker, idle ----------------------------------------------------------------
        Case {
            name: "cancel while idle is ignored without an answer",
            spec: "cancel; Seeker connections / Frames allowed",
            start: SeekerIdle,
            send: || text(&json!({"type": "cancel"})),
            expect: Silent,
        },
        Case {
            name: "end for chat 0",
            spec: "Error catalogue (invalid_field)",
            start: SeekerIdle,
            send: || text(&json!({"type": "end", "chat": 0})),
            expect: Continues("invalid_field"),
        },
        Case {
            name: "accept with offer 0 from a seeker: decoding (invalid_field) before the role",
            spec: "Order of checks",
            start: SeekerIdle,
            send: || text(&json!({"type": "accept", "offer": 0})),
            expect: Continues("invalid_field"),
        },
        Case {
            name: "end for a chat the seeker does not have",
            spec: "Seeker connections / Frames allowed",
            start: SeekerIdle,
            send: || text(&probe_end()),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "seek for a topic the program does not list",
            spec: "seek",
            start: SeekerIdle,
            send: || text(&json!({"type": "seek", "preferences": {"topic": UNLISTED_TAG}})),
            expect: Continues("invalid_field"),
        },
        Case {
            name: "seek with a null preference",
            spec: "Encoding rules (null members)",
            start: SeekerIdle,
            send: || text(&json!({"type": "seek", "preferences": {"topic": null}})),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "an unknown frame type on a version-1 connection",
            spec: "Encoding rules",
            start: SeekerIdle,
            send: || text(&json!({"type": "nudge"})),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "a second hello",
            spec: "Seeker connections / Frames allowed",
            start: SeekerIdle,
            send: || text(&hello("seeker", PROGRAM)),
            expect: Fatal("unexpected_frame", 4409),
        },
        Case {
            name: "present from a seeker",
            spec: "Seeker connections / Frames allowed",
            start: SeekerIdle,
            send: || {
                text(&json!({"type": "present", "issuer_certificate": "AQ==",
                    "supporter_certificate": "AQ==", "revocation_list": "AQ=="}))
            },
            expect: Fatal("wrong_role", 4403),
        },
        Case {
            name: "a control frame of exactly MAX_CONTROL_FRAME bytes is read",
            spec: "Limits (the size budget of present and matched)",
            start: SeekerIdle,
            send: || padded_end(MAX_CONTROL_FRAME),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "a binary message of MAX_DATA_FRAME + 1 bytes",
            spec: "Data frames",
            start: SeekerIdle,
            send: || Payload::Binary(vec![0x01; MAX_DATA_FRAME + 1]),
            expect: Fatal("frame_too_large", 1009),
        },
        Case {
            name: "a data frame for a chat the seeker does not have",
            spec: "Data frames",
            start: SeekerIdle,
            send: || Payload::Binary(data_frame(7)),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "a data frame for chat 0",
            spec: "Data frames",
            start: SeekerIdle,
            send: || Payload::Binary(data_frame(0)),
            expect: Continues("invalid_field"),
        },
        Case {
            name: "1.0 where an integer belongs",
            spec: "Encoding rules",
            start: SeekerIdle,
            send: || raw(r#"{"type":"end","chat":1.0}"#),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "a duplicate member",
            spec: "Encoding rules",
            start: SeekerIdle,
            send: || raw(r#"{"type":"end","chat":1,"chat":2}"#),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "something after the JSON value",
            spec: "Encoding rules",
            start: SeekerIdle,
            send: || raw(r#"{"type":"cancel"} {"type":"cancel"}"#),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "pass on a version-1 connection: a type it does not have (feature pass)",
            spec: "pass; Seeker connections / Frames allowed",
            start: SeekerIdle,
            send: || text(&json!({"type": "pass", "chat": 1})),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "pass before hello: no feature is agreed yet, an unknown type",
            spec: "pass; Seeker connections / Frames allowed",
            start: Connected,
            send: || text(&json!({"type": "pass", "chat": 1})),
            expect: Fatal("malformed_frame", 4400),
        },
        // ---- seeker that negotiated features (growth rules) ------------------------------
        Case {
            name: "pass without feature pass agreed is skipped like any unknown type",
            spec: "pass; The growth rules (2)",
            start: SeekerWithFeatures,
            send: || text(&json!({"type": "pass", "chat": 1})),
            expect: Silent,
        },
        Case {
            name: "an unknown frame type, not critical, is skipped",
            spec: "The growth rules (2)",
            start: SeekerWithFeatures,
            send: || text(&json!({"type": "x-nudge", "gently": true})),
            expect: Silent,
        },
        Case {
            name: "an unknown frame type marked critical",
            spec: "The growth rules (2)",
            start: SeekerWithFeatures,
            send: || text(&json!({"type": "x-nudge", "critical": true})),
            expect: Fatal("malformed_frame", 4400),
        },
        Case {
            name: "an unknown member of a known frame is still refused by the relay",
            spec: "The growth rules (1)",
            start: SeekerWithFeatures,
            send: || text(&json!({"type": "cancel", "urgent": true})),
            expect: Fatal("malformed_frame", 4400),
        },
        // ---- peer before verified --------------------------------------------------------
        Case {
            name: "accept before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "accept", "offer": 1})),
            expect: Continues("unknown_offer"),
        },
        Case {
            name: "decline before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "decline", "offer": 1})),
            expect: Continues("unknown_offer"),
        },
        Case {
            name: "end before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "end", "chat": 1})),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "block before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "block", "chat": 1})),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "a data frame before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || Payload::Binary(data_frame(1)),
            expect: Continues("unknown_chat"),
        },
        Case {
            name: "set_availability before verified",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || {
                text(&json!({"type": "set_availability", "status": "available", "capacity": 1}))
            },
            expect: Continues("not_available"),
        },
        Case {
            name: "seek from a peer",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "seek"})),
            expect: Fatal("wrong_role", 4403),
        },
        Case {
            name: "prove before challenge",
            spec: "Peer connections / Frames allowed",
            start: PeerUnverified,
            send: || text(&json!({"type": "prove", "answer": "AQ=="})),
            expect: Fatal("unexpected_frame", 4409),
        },
        // ---- peer, verified --------------------------------------------------------------
        Case {
            name: "set_availability with a topic the program does not list",
            spec: "set_availability",
            start: PeerVerified,
            send: || {
                text(&json!({"type": "set_availability", "status": "available",
                    "capacity": 1, "topics": [UNLISTED_TAG]}))
            },
            expect: Continues("invalid_field"),
        },
        Case {
            name: "set_availability with capacity 0",
            spec: "set_availability; Encoding rules",
            start: PeerVerified,
            send: || {
                text(&json!({"type": "set_availability", "status": "available", "capacity": 0}))
            },
            expect: Continues("invalid_field"),
        },
        Case {
            name: "accept for an offer that never existed",
            spec: "accept",
            start: PeerVerified,
            send: || text(&json!({"type": "accept", "offer": 99})),
            expect: Continues("unknown_offer"),
        },
        Case {
            name: "present again after verified",
            spec: "Peer connections / Frames allowed",
            start: PeerVerified,
            send: || {
                text(&json!({"type": "present", "issuer_certificate": "AQ==",
                    "supporter_certificate": "AQ==", "revocation_list": "AQ=="}))
            },
            expect: Fatal("unexpected_frame", 4409),
        },
    ]
}
