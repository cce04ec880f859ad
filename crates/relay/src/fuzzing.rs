//! Not API: an entry point for the `relay_session` fuzz target (`fuzz/`).
//!
//! [`run_session`] drives the connection's own sans-I/O core (`connection/core.rs`:
//! [`ConnCore`], the code the connection task runs — rate limit, sizes, parsing, the state
//! machine, the drain) over an arbitrary sequence of WebSocket messages, carrying out its
//! decisions as the driver does (with the checks that need the relay answered by
//! [`Outcomes`]), plus the data-frame header rewrite, and panics if an invariant breaks:
//!
//! - nothing is handled after a fatal error (the connection is closed);
//! - the role, once fixed by `hello`, never changes; phases only move forward;
//! - the hello deadline stops exactly when the connection is a seeker or a verified peer;
//! - every refusal is a catalogue code that fits the phase;
//! - a data frame's header rewrite keeps its payload byte for byte;
//! - every accepted control frame survives a JSON round trip unchanged.
//!
//! What the program lookup, credential and proof checks answer is an input ([`Outcomes`]):
//! they are cryptography and configuration, fuzzed and tested on their own. The hub and
//! forwarding are covered by the tests.
// Panicking is how this module reports a broken invariant to the fuzzer.
#![allow(missing_docs, clippy::indexing_slicing, clippy::expect_used)]

use std::time::{Duration, Instant};

use confidant_proto::{ChatNumber, ClientFrame, DataFrame, ErrorCode, Role};

use crate::connection::core::{ConnCore, Decision};
use crate::connection::state::Phase;

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
    let mut core = ConnCore::new(outcomes.rate.0, outcomes.rate.1, now);
    let mut role: Option<Role> = None;
    let mut steps = Vec::new();
    for event in events {
        let before = core.phase();
        let step = match event {
            Event::Wait(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                continue;
            }
            Event::Ping => carry_out(core.on_ping(now), &mut core, outcomes),
            Event::Text(bytes) => {
                let decision = core.on_text(bytes, now, false);
                check_round_trip(&decision);
                carry_out(decision, &mut core, outcomes)
            }
            Event::Binary(bytes) => {
                let decision = core.on_binary(bytes, now);
                if let Decision::Forward(chat) = decision {
                    check_rewrite(bytes, chat);
                }
                carry_out(decision, &mut core, outcomes)
            }
        };
        let phase = core.phase();
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
            Phase::AwaitHello => matches!(
                code,
                E::UnsupportedVersion | E::UnknownProgram | E::ResumeFailed
            ),
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

/// What the driver does with a decision, with the relay's own checks answered by `outcomes`.
fn carry_out(decision: Decision, core: &mut ConnCore, outcomes: Outcomes) -> Step {
    match decision {
        Decision::Nothing | Decision::ToHub(_) => Step::Handled,
        Decision::Refuse(code) => Step::Refused(code),
        Decision::Hello { role, features, .. } => {
            if !outcomes.program_known {
                return Step::Refused(ErrorCode::UnknownProgram);
            }
            let agreed = features.as_deref().map(confidant_proto::features::agree);
            core.hello_accepted(role, agreed.as_deref());
            Step::Handled
        }
        Decision::Present { .. } => {
            if !outcomes.credential_ok {
                return Step::Refused(ErrorCode::CredentialRejected);
            }
            core.presented();
            Step::Handled
        }
        Decision::Prove { .. } => {
            if !outcomes.proof_ok {
                return Step::Refused(ErrorCode::PossessionFailed);
            }
            core.proved();
            Step::Handled
        }
        // No routes in this harness: every chat is unknown (not fatal).
        Decision::Forward(_) => Step::Refused(ErrorCode::UnknownChat),
        // No resumable connections in this harness: every secret is unknown (fatal).
        Decision::Resume { .. } => Step::Refused(ErrorCode::ResumeFailed),
        // The writer checks the count against what it wrote; nothing is written here.
        Decision::Ack(_) => Step::Handled,
    }
}

/// Whatever the core accepted as a frame prints and parses back to itself.
fn check_round_trip(decision: &Decision) {
    if let Decision::ToHub(frame) = decision {
        let again = ClientFrame::from_json(frame.to_json().as_bytes()).expect("own JSON parses");
        assert_eq!(&again, frame, "JSON round trip changed the frame");
    }
}

/// The forwarding rewrite keeps the payload and sets the partner's number.
fn check_rewrite(bytes: &[u8], chat: ChatNumber) {
    let payload = DataFrame::decode(bytes)
        .expect("a forwarded frame decodes")
        .noise_message
        .to_vec();
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
