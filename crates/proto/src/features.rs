//! Protocol growth: named features negotiated in `hello` / `welcome`, and the rules that let
//! a receiver skip what it does not know (`proto/spec.md`, "Growing the protocol").
//!
//! Version 1 stays version 1: a client that sends no `features` gets exactly the version-1
//! protocol, member for member. A client that sends `features` (even an empty list) declares
//! that it follows the growth rules: it ignores members and frame types it does not know,
//! unless a frame is marked `"critical": true`. The relay answers with the features it will
//! use on the connection, and never sends a frame, member or value that belongs to a feature
//! the connection did not agree on.

use crate::client_frame::check_tag;
use crate::decode_error::DecodeError;

pub use crate::limits::MAX_FEATURES;

/// Relay feature: `matched` and `chat_started` carry the partner's declared chat features
/// (`chat_features`), which both clients bind into the chat's Noise prologue.
pub const FEATURE_CHAT_FEATURES: &str = "chat-features";

/// Relay feature: the program description (in `welcome` and at
/// `GET /v1/programs?features=program-details`) carries `emergency`, `confidentiality`,
/// `departments` and `labels`.
pub const FEATURE_PROGRAM_DETAILS: &str = "program-details";

/// Relay feature: the seeker's `pass` frame, which refuses the matched peer before msg1 and
/// puts the seeker back in the queue at the place it held (its original seek time), that peer
/// excluded. Without it a seeker refuses with `end` and seeks again at the back.
pub const FEATURE_PASS: &str = "pass";

/// Relay feature: `queued.none`, said at once while no available peer of the program can take
/// the seeker (`none_online`: none is available at all; `none_available`: those available
/// do not fit the seeker's preferences or were refused). Non-terminal: the seeker may wait on.
pub const FEATURE_QUEUE_NONE: &str = "queue-none";

/// Relay feature: the connection survives a lost socket for a grace window (`welcome.resume`,
/// `resume`, `resumed`, `ack`, `partner_away`, `partner_back`; `proto/spec.md`, "Resume").
/// Agreed only by a relay whose grace window is not zero.
pub const FEATURE_RESUME: &str = "resume";

/// Transport feature, not a `hello` feature: a client that implements admission says so in
/// the WebSocket URL (`/v1/ws?features=admission`, with `&proof=` once it has solved a
/// challenge from `GET /v1/admission`); only such a client is ever sent `proof_required` or
/// `proof_rejected` (`proto/spec.md`, "Admission"). Not in [`RELAY_FEATURES`]: it is
/// decided before the first frame.
pub const FEATURE_ADMISSION: &str = "admission";

/// Relay feature: `seek.urgent` ("I need to talk soon", self-declared) and `offer.urgent`. An
/// urgent seeker is served as if it had sought [`crate::limits::URGENT_HEAD_START`]
/// earlier: nobody who has waited that long is ever overtaken by an urgent seeker.
pub const FEATURE_URGENCY: &str = "urgency";

/// Every connection feature this implementation of the relay protocol knows, in the order
/// `welcome.features` lists them.
pub const RELAY_FEATURES: &[&str] = &[
    FEATURE_CHAT_FEATURES,
    FEATURE_PROGRAM_DETAILS,
    FEATURE_PASS,
    FEATURE_QUEUE_NONE,
    FEATURE_RESUME,
    FEATURE_URGENCY,
];

/// The features of `offered` this implementation knows, in [`RELAY_FEATURES`] order; unknown
/// names are dropped without an error (that is the point of negotiating).
pub fn agree(offered: &[String]) -> Vec<String> {
    RELAY_FEATURES
        .iter()
        .filter(|known| offered.iter().any(|name| name == *known))
        .map(|known| (*known).to_owned())
        .collect()
}

/// Checks a feature list: at most [`MAX_FEATURES`] tags.
pub(crate) fn check_features(field: &'static str, names: &[String]) -> Result<(), DecodeError> {
    if names.len() > MAX_FEATURES {
        return Err(DecodeError::Invalid {
            field,
            reason: "too many feature names",
        });
    }
    names.iter().try_for_each(|name| check_tag(field, name))
}

/// A text frame whose `type` this implementation does not know, as the growth rules read it:
/// skipped when `critical` is false, a protocol error when true. `None` when the frame is not
/// an object with a string `type`, or its type is known (then its own parse error stands).
pub(crate) fn unknown_type(bytes: &[u8], known: &[&str]) -> Option<bool> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object()?;
    let kind = object.get("type")?.as_str()?;
    if known.contains(&kind) {
        return None;
    }
    Some(matches!(
        object.get("critical"),
        Some(serde_json::Value::Bool(true))
    ))
}

/// The first member of `original` (at any depth) that `canonical` — the same frame parsed
/// and written back — does not have: a member the parser ignored, or an optional member sent
/// as `null`. Arrays are compared element by element.
pub(crate) fn unknown_member(
    original: &serde_json::Value,
    canonical: &serde_json::Value,
) -> Option<String> {
    use serde_json::Value;
    match (original, canonical) {
        (Value::Object(sent), Value::Object(read)) => {
            sent.iter().find_map(|(name, value)| match read.get(name) {
                None => Some(name.clone()),
                Some(read_value) => unknown_member(value, read_value),
            })
        }
        (Value::Array(sent), Value::Array(read)) => sent
            .iter()
            .zip(read)
            .find_map(|(value, read_value)| unknown_member(value, read_value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_keeps_known_names_in_relay_order() {
        let offered = vec![
            "program-details".to_owned(),
            "future-thing".to_owned(),
            "chat-features".to_owned(),
        ];
        assert_eq!(
            agree(&offered),
            vec!["chat-features".to_owned(), "program-details".to_owned()]
        );
        assert!(agree(&[]).is_empty());
    }

    #[test]
    fn unknown_types_and_criticality() {
        let known = &["hello", "seek"];
        assert_eq!(unknown_type(br#"{"type":"seek"}"#, known), None);
        assert_eq!(unknown_type(br#"{"type":"nudge"}"#, known), Some(false));
        assert_eq!(
            unknown_type(br#"{"type":"nudge","critical":true}"#, known),
            Some(true)
        );
        assert_eq!(
            unknown_type(br#"{"type":"nudge","critical":1}"#, known),
            Some(false)
        );
        assert_eq!(unknown_type(b"[1]", known), None);
        assert_eq!(unknown_type(br#"{"type":3}"#, known), None);
    }

    #[test]
    fn unknown_members_at_any_depth() {
        let read = serde_json::json!({"a": 1, "b": {"c": [{"d": 1}]}});
        assert_eq!(unknown_member(&read, &read), None);
        let extra = serde_json::json!({"a": 1, "b": {"c": [{"d": 1, "e": 2}]}});
        assert_eq!(unknown_member(&extra, &read), Some("e".to_owned()));
        let null = serde_json::json!({"a": 1, "z": null});
        assert_eq!(unknown_member(&null, &read), Some("z".to_owned()));
    }
}
