//! The Confidant client SDK: a help-seeker and a peer supporter, over the relay.
//!
//! Everything that makes the relay untrusted happens here, in the client:
//! - the seeker verifies the matched peer's certificate chain against a root key the app
//!   pins, with the client's own clock and the highest revocation sequence it has seen;
//! - it then runs Noise NK towards the certified key and reports `Matched` only after the
//!   peer has proven that key, so an impostor is never shown;
//! - every message travels as a padded record inside that channel; the relay only routes.
//!
//! Shape: one background task owns each WebSocket and runs an I/O-free state machine
//! ([`seeker_core`](crate) / `peer_core`); the app holds a [`Seeker`] or [`Peer`] with
//! `next_event().await` and action methods. No terminal, no files (except the optional
//! [`PeerCredential::from_files`]), nothing stored on the device: suitable for wrapping in
//! a mobile app.
//!
//! Transport: `ws://` or `wss://` (rustls; the public web roots by default, or only a
//! program's own CA with [`TlsTrust::from_pem`]). TLS hides metadata from the network and
//! authenticates the relay; it is not what keeps chats private — the end-to-end layer is.
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod admission;
mod clock;
mod connection;
#[cfg(test)]
mod core_tests;
pub mod credential_files;
pub mod demo_peer;
mod driver;
mod end_reason;
mod error;
mod link;
mod outbox;
mod peer;
mod peer_core;
mod peer_credential;
mod peer_event;
mod program_directory;
mod revocation_memory;
mod seeker;
mod seeker_core;
mod seeker_event;
#[cfg(test)]
mod test_fixtures;
mod transport;
mod verified_peer;
mod welcome;

pub use admission::solve as solve_admission_challenge;
pub use clock::{Clock, FixedClock, SystemClock, system_clock};
pub use confidant_crypto::{CredentialError, NoiseError, ResourceCard};
pub use confidant_proto::{
    Availability, ChatEndReason, ChatNumber, ErrorCode, FEATURE_URGENCY, NoPeerReason,
    OfferWithdrawnReason, ProgramInfo, QueueNone, Resource, SeekPreferences,
};
pub use demo_peer::{DEMO_CAPACITY, DEMO_DISPLAY_NAME, demo_credential, run_demo_peer};
pub use end_reason::EndReason;
pub use error::ClientError;
pub use peer::{AvailabilitySettings, Peer, PeerHandle, PeerOptions};
pub use peer_credential::PeerCredential;
pub use peer_event::PeerEvent;
pub use program_directory::{fetch_programs, parse_root_key};
pub use revocation_memory::RevocationMemory;
pub use seeker::{Seeker, SeekerHandle, SeekerOptions};
pub use seeker_event::SeekerEvent;
pub use transport::TlsTrust;
pub use verified_peer::VerifiedPeer;
