//! A conformance suite for Confidant relays, runnable against any relay by its URL.
//!
//! `proto/spec.md` says, for every state of a connection, what each input gets; [`cases`] is
//! that table as data, and [`scenarios`] the chat rules that need a seeker and a peer at
//! once (offers, exclusions, chat features, a peer's data before msg1). Each check opens its
//! own connections, sends raw frames (no SDK in between) and compares what comes back with
//! what the spec demands, written out here from the spec rather than taken from the reference
//! relay's code, so a mismatch on either side fails.
//!
//! Peer cases and scenarios need a supporter credential of the target's program, and the
//! scenarios need that no other peer of the program is online (they offer the seeker to the
//! suite's own peer). `confidant-relay --dev --dev-no-demo-peer --dev-peer-credential-dir DIR`
//! gives both; `proto/README.md` has the command.
#![forbid(unsafe_code)]

pub mod cases;
mod peer_session;
mod runner;
pub mod scenarios;
pub mod wire;

pub use peer_session::PeerKeys;
pub use runner::{Outcome, Report, run};

/// The relay under test.
pub struct Target {
    /// The WebSocket URL, e.g. `ws://127.0.0.1:8080/v1/ws`.
    pub url: String,
    /// A program the relay hosts.
    pub program: String,
    /// A supporter credential of that program, for the peer cases and the scenarios.
    pub peer: Option<PeerKeys>,
    /// Run only the checks whose name contains this.
    pub only: Option<String>,
}
