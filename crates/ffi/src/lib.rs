//! Confidant for mobile apps: the Rust SDK (`confidant-client`) behind a UniFFI boundary,
//! for Kotlin (Android, and the JVM in our tests) and Swift (iOS).
//!
//! This crate is a thin layer: every protocol rule, every verification and all the
//! cryptography stay in `confidant-client`; here the SDK's types are mirrored as UniFFI
//! records and enums, its errors as one typed error carrying the stable codes, and its
//! handles as objects with async methods (run on UniFFI's tokio runtime, so the app's
//! threads never block on the network).
//!
//! What crosses the boundary: the relay URL, the program id and its pinned root key (all
//! public), the app's chosen certificate authorities, chat text and events. Nothing secret
//! goes out to the app; the one secret that comes *in* is a peer supporter's own key
//! (`PeerCredential`, an object: the key goes in through its constructor and is never
//! readable or printable from the app), which stays inside the SDK once loaded.
//!
//! Events reach the app through `next_event()`, an async method to call in a loop (a
//! Kotlin `Flow` or a Swift `AsyncStream` wraps it in a few lines: `docs/mobile.md`).
//! Cancelling a pending `next_event()` (a cancelled coroutine or task) drops the Rust
//! future and loses no event.
#![forbid(unsafe_code)]

mod error;
mod peer;
mod programs;
mod seeker;
mod types;

pub use error::ConfidantError;
pub use peer::{PeerCredential, PeerEvent, PeerSession, connect_peer};
pub use programs::list_programs;
pub use seeker::{SeekerConfig, SeekerEvent, SeekerSession, connect_seeker};
pub use types::{
    Availability, ChatEndReason, CredentialFailure, EndReason, NoPeerReason, PeerCard, Program,
    RelayErrorCode, RelayTrust, Resource, ResourceCard, SeekPreferences,
};

uniffi::setup_scaffolding!("confidant");
