//! Not API: an entry point for the `relay_session` fuzz target (`fuzz/`).
//!
//! [`run_session`] drives one connection's protocol logic without I/O — the frame-size
//! check, the token bucket, control-frame parsing, the state machine
//! (`connection/state.rs`: `Phase::admit`), the phase transitions the driver makes on
//! `hello`, `present` and `prove`, and the data-frame header decode and rewrite — over an
//! arbitrary sequence of WebSocket messages, and panics if an invariant breaks:
//!
//! - nothing is handled after a fatal error (the connection is closed);
//! - the role, once fixed by `hello`, never changes; phases only move forward;
//! - the hello deadline stops exactly when the connection is a seeker or a verified peer;
//! - every refusal is a catalogue code that fits the phase;
//! - a data frame's header rewrite keeps its payload byte for byte;
//! - every accepted control frame survives a JSON round trip unchanged.
//!
//! What the credential and proof checks answer is an input ([`Outcomes`]): they are
//! cryptography, fuzzed by their own targets. The async driver (`connection/mod.rs`) makes
//! the same calls in the same order; the hub and forwarding are covered by the tests.
// Panicking is how this module reports a broken invariant to the fuzzer.
#![allow(missing_docs, clippy::indexing_slicing, clippy::expect_used)]

use std::time::{Duration, Instant};

use confidant_proto::limits::{MAX_CONTROL_FRAME, MAX_DATA_FRAME};
use confidant_proto::{ChatNumber, ClientFrame, DataFrame, ErrorCode, PROTOCOL_VERSION, Role};

use crate::connection::rate_limit::TokenBucket;
use crate::connection::state::{Admit, Phase};

/// One WebSocket message from the client (or the passing of time).
#[derive(Clone, Debug)]
pub enum Event {
    /// A text message (any bytes; the WebSocket layer would refuse invalid UTF-8 first).
    Text(Vec<u8>),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping or pong.
    Ping,
    /// Time passes (milliseconds).
    Wait(u16),
}

/// What the checks outside the state machine answer.
#[derive(Clone, Copy, Debug)]
pub struct Outcomes {
    /// Whether `hello.program` is hosted.
    pub program_known: bool,
    /// Whether the presented chain verifies.
    pub credential_ok: bool,
    /// Whether the possession proof verifies.
    pub proof_ok: bool,
    /// Frames per second and burst of the token bucket.
    pub rate: (u32, u32),
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Handled; the connection goes on.
    Handled,
    /// Refused with `code`; fatal codes close the connection.
    Refused(ErrorCode),
}

fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::AwaitHello => 0,
        Phase::Seeker | Phase::PeerAwaitPresent => 1,
        Phase::PeerAwaitProof => 2,
        Phase::PeerVerified => 3,
    }
}

/// Runs `events` through one connection's logic; returns a step per event handled (the
/// list stops at the first fatal refusal). Panics when an invariant breaks.
pub fn run_session(events: &[Event], outcomes: Outcomes) -> Vec<Step> {
    let start = Instant::now();
    let mut now = start;
    let mut bucket = TokenBucket::new(outcomes.rate.0, outcomes.rate.1, now);
    let mut phase = Phase::AwaitHello;
    let mut role: Option<Role> = None;
    let mut steps = Vec::new();
    for event in events {
        let before = phase;
        let step = match event {
            Event::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                continue;
            }
            Event::Ping => {
                if bucket.take(now) {
                    Step::Handled
                } else {
                    Step::Refused(ErrorCode::RateLimited)
                }
            }
            Event::Text(bytes) => {
                if !bucket.take(now) {
                    Step::Refused(ErrorCode::RateLimited)
                } else {
                    text(bytes, &mut phase, outcomes)
                }
            }
            Event::Binary(bytes) => {
                if !bucket.take(now) {
                    Step::Refused(ErrorCode::RateLimited)
                } else {
                    binary(bytes, phase)
                }
            }
        };
        // Invariants after every event.
        assert!(
            rank(phase) >= rank(before),
            "phase went back: {before:?} → {phase:?}"
        );
        if let Some(fixed) = role {
            assert_eq!(phase.role(), Some(fixed), "role changed");
        }
        role = phase.role();
        assert_eq!(
            phase.hello_pending(),
            !matches!(phase, Phase::Seeker | Phase::PeerVerified),
            "hello deadline out of step with {phase:?}"
        );
        assert_eq!(phase.admit_data().is_ok(), !phase.hello_pending());
        if let Step::Refused(code) = step {
            assert!(
                allowed(before, code),
                "{code} is not a refusal {before:?} can give"
            );
            assert_eq!(phase, before, "a refused frame changed the phase");
        }
        steps.push(step);
        if matches!(step, Step::Refused(code) if code.is_fatal()) {
            break;
        }
    }
    steps
}

fn allowed(phase: Phase, code: ErrorCode) -> bool {
    use ErrorCode as E;
    let always = matches!(
        code,
        E::MalformedFrame
            | E::FrameTooLarge
            | E::RateLimited
            | E::UnexpectedFrame
            | E::InvalidField
    );
    always
        || match phase {
            Phase::AwaitHello => matches!(code, E::UnsupportedVersion | E::UnknownProgram),
            Phase::Seeker => matches!(code, E::WrongRole | E::UnknownChat),
            Phase::PeerAwaitPresent => {
                matches!(
                    code,
                    E::WrongRole
                        | E::CredentialRejected
                        | E::NotAvailable
                        | E::UnknownChat
                        | E::UnknownOffer
                )
            }
            Phase::PeerAwaitProof => {
                matches!(
                    code,
                    E::WrongRole
                        | E::PossessionFailed
                        | E::NotAvailable
                        | E::UnknownChat
                        | E::UnknownOffer
                )
            }
            Phase::PeerVerified => matches!(code, E::WrongRole | E::UnknownChat),
        }
}

fn text(bytes: &[u8], phase: &mut Phase, outcomes: Outcomes) -> Step {
    if bytes.len() > MAX_DATA_FRAME {
        // The WebSocket layer's limit.
        return Step::Refused(ErrorCode::FrameTooLarge);
    }
    if std::str::from_utf8(bytes).is_err() {
        // The WebSocket layer refuses invalid UTF-8 (mapped to malformed_frame).
        return Step::Refused(ErrorCode::MalformedFrame);
    }
    if bytes.len() > MAX_CONTROL_FRAME {
        return Step::Refused(ErrorCode::FrameTooLarge);
    }
    let frame = match ClientFrame::from_json(bytes) {
        Ok(frame) => frame,
        Err(error) => return Step::Refused(error.code()),
    };
    // Whatever parses, prints and parses back to itself.
    let again = ClientFrame::from_json(frame.to_json().as_bytes()).expect("own JSON parses");
    assert_eq!(again, frame, "JSON round trip changed the frame");
    let admitted = match phase.admit(&frame) {
        Ok(admitted) => admitted,
        Err(code) => return Step::Refused(code),
    };
    match (admitted, &frame) {
        (Admit::Hello, ClientFrame::Hello { v, role, .. }) => {
            if *v != u64::from(PROTOCOL_VERSION) {
                return Step::Refused(ErrorCode::UnsupportedVersion);
            }
            if !outcomes.program_known {
                return Step::Refused(ErrorCode::UnknownProgram);
            }
            *phase = match role {
                Role::Seeker => Phase::Seeker,
                Role::Peer => Phase::PeerAwaitPresent,
            };
            Step::Handled
        }
        (Admit::Present, ClientFrame::Present { .. }) => {
            if !outcomes.credential_ok {
                return Step::Refused(ErrorCode::CredentialRejected);
            }
            *phase = Phase::PeerAwaitProof;
            Step::Handled
        }
        (Admit::Prove, ClientFrame::Prove { .. }) => {
            if !outcomes.proof_ok {
                return Step::Refused(ErrorCode::PossessionFailed);
            }
            *phase = Phase::PeerVerified;
            Step::Handled
        }
        (Admit::ToHub, _) => Step::Handled,
        (admitted, frame) => panic!("admit said {admitted:?} for a {} frame", frame.kind()),
    }
}

fn binary(bytes: &[u8], phase: Phase) -> Step {
    if bytes.len() > MAX_DATA_FRAME {
        return Step::Refused(ErrorCode::FrameTooLarge);
    }
    let (chat, payload) = match DataFrame::decode(bytes) {
        Ok(frame) => (frame.chat, frame.noise_message.to_vec()),
        Err(error) => return Step::Refused(error.code()),
    };
    if let Err(code) = phase.admit_data() {
        return Step::Refused(code);
    }
    // The forwarding rewrite keeps the payload and sets the partner's number.
    let mut copy = bytes.to_vec();
    let partner = ChatNumber(chat.0.wrapping_mul(2_654_435_761).max(1));
    DataFrame::rewrite_chat(&mut copy, partner).expect("a decoded frame rewrites");
    let rewritten = DataFrame::decode(&copy).expect("a rewritten frame decodes");
    assert_eq!(rewritten.chat, partner);
    assert_eq!(
        rewritten.noise_message,
        payload.as_slice(),
        "rewrite touched the payload"
    );
    // No routes in this harness: every chat is unknown (not fatal).
    Step::Refused(ErrorCode::UnknownChat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Outcomes = Outcomes {
        program_known: true,
        credential_ok: true,
        proof_ok: true,
        rate: (50, 100),
    };

    fn text(json: &str) -> Event {
        Event::Text(json.as_bytes().to_vec())
    }

    #[test]
    fn a_peer_logs_in_then_stops_at_a_fatal_frame() {
        let steps = run_session(
            &[
                text(r#"{"type":"hello","v":1,"role":"peer","program":"p"}"#),
                text(
                    r#"{"type":"present","issuer_certificate":"AA==","supporter_certificate":"AA==","revocation_list":"AA=="}"#,
                ),
                text(r#"{"type":"prove","answer":"AA=="}"#),
                Event::Binary(vec![0, 0, 0, 1, 9]),
                text(r#"{"type":"seek"}"#),
                text(r#"{"type":"cancel"}"#),
            ],
            OK,
        );
        assert_eq!(
            steps,
            vec![
                Step::Handled,
                Step::Handled,
                Step::Handled,
                Step::Refused(ErrorCode::UnknownChat),
                Step::Refused(ErrorCode::WrongRole),
            ]
        );
    }

    #[test]
    fn pings_cost_tokens() {
        let mut events = vec![Event::Ping; 3];
        events.push(text("{}"));
        let steps = run_session(&events, Outcomes { rate: (1, 2), ..OK });
        assert_eq!(steps.last(), Some(&Step::Refused(ErrorCode::RateLimited)));
        assert_eq!(steps.len(), 3);
    }
}
