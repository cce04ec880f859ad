//! The Rust SDK against the real relay: connect, match, chat, disconnect, TLS, the demo peer.
//!
//! One test binary per area (linking one binary per file was a large share of CI time);
//! each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod chat;
mod connect;
mod demo_peer;
mod disconnect;
mod hybrid;
mod matching;
mod resume;
mod tls;
mod urgency;
