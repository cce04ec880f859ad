//! The relay's promises, proven: no plaintext, no impersonation, no records on disk.
//!
//! One test binary per area (linking one binary per file was a large share of CI time);
//! each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod no_impersonation;
mod no_plaintext;
mod no_records_strace;
