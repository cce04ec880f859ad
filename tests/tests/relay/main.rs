//! The relay over raw WebSocket frames: lifecycle, matching, forwarding, bad input, shutdown, faults, isolation, and the portable conformance suite.
//!
//! One test binary per area (linking one binary per file was a large share of CI time);
//! each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod admission;
mod bad_input;
mod conformance_suite;
mod fault_disconnect;
mod fault_stop;
mod forwarding;
mod isolation_property;
mod lifecycle;
mod matching;
mod resume;
mod shutdown;
mod urgency;
