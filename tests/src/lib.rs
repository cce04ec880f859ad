//! Test harness for Confidant: program and credential fixtures, a real relay on
//! `127.0.0.1:0` with short timeouts, and a raw WebSocket client that speaks frames.
//!
//! Protocol-level tests (`tests/relay_*.rs`) drive the relay with [`RawClient`]; SDK-level
//! end-to-end tests can reuse [`ProgramFixture`] and [`TestRelay`] with the client crate.
//! Every wait is bounded ([`WAIT`]), so a broken relay fails a test instead of hanging it.
#![forbid(unsafe_code)]
// Test helpers panic with a message on failure: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod abuse_support;
pub mod client;
pub mod cluster_support;
pub mod fault_proxy;
pub mod fixtures;
pub mod interactive;
pub mod ops_support;
pub mod relay;
pub mod sdk_support;
pub mod tls;

pub use client::{RawClient, Received};
pub use fixtures::{ProgramFixture, SupporterCredential, SupporterSpec, default_supporter_spec};
pub use relay::{TestRelay, test_limits};

use std::time::Duration;

/// The longest any single expectation waits.
pub const WAIT: Duration = Duration::from_secs(5);
