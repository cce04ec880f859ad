//! The connection's protocol logic without I/O: every message, and the time it arrived, in;
//! what to do with it out. The async task (`mod.rs`) carries the decisions out — a hub
//! event, a credential check, a forward — and reports the outcomes back (`hello_accepted`,
//! `presented`, `proved`); the `relay_session` fuzz target (`fuzzing.rs`) drives this same
//! core with the outcomes as input, so what is fuzzed is the code that runs.
//!
//! Order of checks (`proto/spec.md`, "Order of checks"): the rate limit, the size, the
//! decoding, the state (`state.rs`), the drain; then the frame's own rules, some of which
//! need the relay (a hosted program, a credential, a route) and are the driver's.

use std::time::Instant;

use confidant_proto::limits::MAX_CONTROL_FRAME;
use confidant_proto::{
    Base64Bytes, ChatNumber, ClientFrame, DataFrame, DecodeError, ErrorCode, FEATURE_PASS,
    FEATURE_RESUME, FEATURE_URGENCY, PROTOCOL_VERSION, Role,
};

use super::rate_limit::TokenBucket;
use super::state::{Admit, Phase};

/// What the driver does with one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing (a ping or pong within the rate; a skipped frame of an unknown type).
    Nothing,
    /// Answer `error` with this code; a fatal code closes the connection.
    Refuse(ErrorCode),
    /// `hello` with version 1: check the program, send `welcome`, then report
    /// [`ConnCore::hello_accepted`].
    Hello {
        role: Role,
        program: String,
        features: Option<Vec<String>>,
        chat_features: Option<Vec<String>>,
    },
    /// `present`: verify the chain, send `challenge`, then report [`ConnCore::presented`].
    Present {
        issuer_certificate: Base64Bytes,
        supporter_certificate: Base64Bytes,
        revocation_list: Base64Bytes,
    },
    /// `prove`: verify the answer, send `verified`, then report [`ConnCore::proved`].
    Prove { answer: Base64Bytes },
    /// A matching or chat frame for the hub.
    ToHub(ClientFrame),
    /// A data frame on this chat: forward it if the connection has the chat, else
    /// `unknown_chat`.
    Forward(ChatNumber),
    /// Feature `resume`, first frame of a socket: hand this socket to the connection the
    /// secret names, or answer `resume_failed`.
    Resume { secret: Base64Bytes, received: u64 },
    /// Feature `resume`: the client received this many counted messages.
    Ack(u64),
}

/// One connection's protocol state.
#[derive(Debug)]
pub(crate) struct ConnCore {
    phase: Phase,
    /// `hello` carried `features`: the client follows the growth rules, so a frame of a type
    /// this relay does not know is skipped unless it is marked critical.
    growth_rules: bool,
    /// The connection agreed on feature `pass`; without it a `pass` frame is read as a
    /// relay without the feature reads it: a type it does not know.
    pass: bool,
    /// The connection agreed on feature `resume`: `ack` is a frame (else an unknown type),
    /// and the connection survives a lost socket.
    resume: bool,
    /// The connection agreed on feature `urgency`: `seek.urgent` is a member (else unknown).
    urgency: bool,
    bucket: TokenBucket,
}

impl ConnCore {
    /// A new connection: waiting for `hello`, with a full token bucket.
    pub(crate) fn new(frames_per_second: u32, burst: u32, now: Instant) -> Self {
        Self {
            phase: Phase::AwaitHello,
            growth_rules: false,
            pass: false,
            resume: false,
            urgency: false,
            bucket: TokenBucket::new(frames_per_second, burst, now),
        }
    }

    /// Where the connection is.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the connection agreed on feature `urgency`.
    pub(crate) fn urgency_agreed(&self) -> bool {
        self.urgency
    }

    /// Whether the connection agreed on feature `resume`.
    pub(crate) fn resume_agreed(&self) -> bool {
        self.resume
    }

    /// A ping or pong: it costs a token like any frame (a ping flood is a flood).
    pub(crate) fn on_ping(&mut self, now: Instant) -> Decision {
        if self.bucket.take(now) {
            Decision::Nothing
        } else {
            Decision::Refuse(ErrorCode::RateLimited)
        }
    }

    /// A text message. `draining`: the relay is shutting down (no new `hello` or `seek`).
    pub(crate) fn on_text(&mut self, bytes: &[u8], now: Instant, draining: bool) -> Decision {
        if !self.bucket.take(now) {
            return Decision::Refuse(ErrorCode::RateLimited);
        }
        if bytes.len() > MAX_CONTROL_FRAME {
            return Decision::Refuse(ErrorCode::FrameTooLarge);
        }
        let frame = match ClientFrame::from_json(bytes) {
            // Not agreed on this connection: what a relay without the feature answers.
            Ok(ClientFrame::Pass { .. }) if !self.pass => return self.not_agreed(),
            Ok(ClientFrame::Ack { .. }) if !self.resume => return self.not_agreed(),
            // An unknown member to a relay without the feature: always refused.
            Ok(ClientFrame::Seek { urgent: true, .. }) if !self.urgency => {
                return Decision::Refuse(ErrorCode::MalformedFrame);
            }
            Ok(ClientFrame::Ack { received }) => return Decision::Ack(received),
            // The first frame of a socket that takes a lost one's connection over; anywhere
            // else a client bug.
            Ok(ClientFrame::Resume { secret, received }) => {
                return if self.phase == Phase::AwaitHello {
                    Decision::Resume { secret, received }
                } else {
                    Decision::Refuse(ErrorCode::UnexpectedFrame)
                };
            }
            Ok(frame) => frame,
            Err(DecodeError::UnknownType { critical: false }) if self.growth_rules => {
                return Decision::Nothing;
            }
            Err(error) => return Decision::Refuse(error.code()),
        };
        let admitted = match self.phase.admit(&frame) {
            Ok(admitted) => admitted,
            Err(code) => return Decision::Refuse(code),
        };
        match (admitted, frame) {
            (
                Admit::Hello,
                ClientFrame::Hello {
                    v,
                    role,
                    program,
                    features,
                    chat_features,
                },
            ) => {
                if v != u64::from(PROTOCOL_VERSION) {
                    Decision::Refuse(ErrorCode::UnsupportedVersion)
                } else if draining {
                    Decision::Refuse(ErrorCode::ShuttingDown)
                } else {
                    Decision::Hello {
                        role,
                        program,
                        features,
                        chat_features,
                    }
                }
            }
            (
                Admit::Present,
                ClientFrame::Present {
                    issuer_certificate,
                    supporter_certificate,
                    revocation_list,
                },
            ) => Decision::Present {
                issuer_certificate,
                supporter_certificate,
                revocation_list,
            },
            (Admit::Prove, ClientFrame::Prove { answer }) => Decision::Prove { answer },
            // The drain takes no new work: a `seek` would queue a seeker nobody is offered.
            (Admit::ToHub, ClientFrame::Seek { .. }) if draining => {
                Decision::Refuse(ErrorCode::ShuttingDown)
            }
            (Admit::ToHub, frame) => Decision::ToHub(frame),
            // `admit` only returns a kind for its own frame type.
            _ => Decision::Refuse(ErrorCode::InternalError),
        }
    }

    /// A binary message: decoded before the state is judged, as control frames are.
    pub(crate) fn on_binary(&mut self, bytes: &[u8], now: Instant) -> Decision {
        if !self.bucket.take(now) {
            return Decision::Refuse(ErrorCode::RateLimited);
        }
        let chat = match DataFrame::decode(bytes) {
            Ok(frame) => frame.chat,
            Err(error) => return Decision::Refuse(error.code()),
        };
        match self.phase.admit_data() {
            Ok(()) => Decision::Forward(chat),
            Err(code) => Decision::Refuse(code),
        }
    }

    /// A frame of a feature the connection did not agree on: what a relay without the
    /// feature answers to a type it does not know.
    fn not_agreed(&self) -> Decision {
        if self.growth_rules {
            Decision::Nothing
        } else {
            Decision::Refuse(ErrorCode::MalformedFrame)
        }
    }

    /// The driver sent `welcome` for `role`; `agreed`: the features in force (`None` when
    /// `hello` carried none: plain version 1).
    pub(crate) fn hello_accepted(&mut self, role: Role, agreed: Option<&[String]>) {
        self.growth_rules = agreed.is_some();
        self.pass = agreed.is_some_and(|names| names.iter().any(|n| n == FEATURE_PASS));
        self.resume = agreed.is_some_and(|names| names.iter().any(|n| n == FEATURE_RESUME));
        self.urgency = agreed.is_some_and(|names| names.iter().any(|n| n == FEATURE_URGENCY));
        self.phase = match role {
            Role::Seeker => Phase::Seeker,
            Role::Peer => Phase::PeerAwaitPresent,
        };
    }

    /// The driver verified the chain and sent `challenge`.
    pub(crate) fn presented(&mut self) {
        if self.phase == Phase::PeerAwaitPresent {
            self.phase = Phase::PeerAwaitProof;
        }
    }

    /// The driver verified the possession proof and sent `verified`.
    pub(crate) fn proved(&mut self) {
        if self.phase == Phase::PeerAwaitProof {
            self.phase = Phase::PeerVerified;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> ConnCore {
        ConnCore::new(50, 100, Instant::now())
    }

    #[test]
    fn the_drain_refuses_hello_and_seek() {
        let now = Instant::now();
        let mut fresh = core();
        assert_eq!(
            fresh.on_text(
                br#"{"type":"hello","v":1,"role":"seeker","program":"p"}"#,
                now,
                true
            ),
            Decision::Refuse(ErrorCode::ShuttingDown)
        );
        let mut seeker = core();
        seeker.hello_accepted(Role::Seeker, None);
        assert_eq!(
            seeker.on_text(br#"{"type":"seek"}"#, now, true),
            Decision::Refuse(ErrorCode::ShuttingDown)
        );
        assert!(matches!(
            seeker.on_text(br#"{"type":"cancel"}"#, now, true),
            Decision::ToHub(_)
        ));
    }

    #[test]
    fn unknown_types_are_skipped_only_under_the_growth_rules() {
        let now = Instant::now();
        let unknown = br#"{"type":"x-nudge"}"#;
        let mut plain = core();
        plain.hello_accepted(Role::Seeker, None);
        assert_eq!(
            plain.on_text(unknown, now, false),
            Decision::Refuse(ErrorCode::MalformedFrame)
        );
        let mut growing = core();
        growing.hello_accepted(Role::Seeker, Some(&[]));
        assert_eq!(growing.on_text(unknown, now, false), Decision::Nothing);
        assert_eq!(
            growing.on_text(br#"{"type":"x-nudge","critical":true}"#, now, false),
            Decision::Refuse(ErrorCode::MalformedFrame)
        );
    }

    /// `pass` exists only on a connection that agreed on it: elsewhere it is answered as a
    /// relay without the feature answers an unknown type (version 1: `malformed_frame`;
    /// growth rules: skipped).
    #[test]
    fn pass_only_where_agreed() {
        let now = Instant::now();
        let pass = br#"{"type":"pass","chat":1}"#;
        let mut plain = core();
        plain.hello_accepted(Role::Seeker, None);
        assert_eq!(
            plain.on_text(pass, now, false),
            Decision::Refuse(ErrorCode::MalformedFrame)
        );
        let mut growing = core();
        growing.hello_accepted(Role::Seeker, Some(&["chat-features".to_owned()]));
        assert_eq!(growing.on_text(pass, now, false), Decision::Nothing);
        let mut agreed = core();
        agreed.hello_accepted(Role::Seeker, Some(&["pass".to_owned()]));
        assert_eq!(
            agreed.on_text(pass, now, false),
            Decision::ToHub(ClientFrame::Pass {
                chat: ChatNumber(1)
            })
        );
        assert_eq!(
            agreed.on_text(br#"{"type":"pass","chat":0}"#, now, false),
            Decision::Refuse(ErrorCode::InvalidField)
        );
        let mut peer = core();
        peer.hello_accepted(Role::Peer, Some(&["pass".to_owned()]));
        assert_eq!(
            peer.on_text(pass, now, false),
            Decision::Refuse(ErrorCode::WrongRole)
        );
    }

    #[test]
    fn any_other_version_is_unsupported_and_data_is_decoded_first() {
        let now = Instant::now();
        let mut fresh = core();
        assert_eq!(
            fresh.on_text(
                br#"{"type":"hello","v":300,"role":"peer","program":"p"}"#,
                now,
                false
            ),
            Decision::Refuse(ErrorCode::UnsupportedVersion)
        );
        assert_eq!(
            fresh.on_binary(&[0, 0, 1], now),
            Decision::Refuse(ErrorCode::MalformedFrame)
        );
        assert_eq!(
            fresh.on_binary(&[0, 0, 0, 1, 7], now),
            Decision::Refuse(ErrorCode::UnexpectedFrame)
        );
    }
}
