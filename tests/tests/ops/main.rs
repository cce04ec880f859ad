//! The operator's surface against the real binary: configuration, lifecycle, admin listener and metrics, operator errors.
//!
//! One test binary per area (linking one binary per file was a large share of CI time);
//! each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod admin;
mod config;
mod lifecycle;
mod operator_errors;
