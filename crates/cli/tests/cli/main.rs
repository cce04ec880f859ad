//! The `confidant` binary, run as a person runs it: the administrator's flow, seeker and peer
//! chatting through a real relay (plain and over TLS), and version-1 compatibility against
//! the frozen binaries (`compat_v1`, ignored unless `scripts/check-compat` provides them).
//!
//! One test binary for the crate: each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod admin;
mod chat;
mod compat_v1;
