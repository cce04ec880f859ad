//! The one reading of the wall clock in the workspace.
//!
//! Certificates and revocation lists carry Unix times, so issuing and verifying them needs
//! the wall clock; everything else (timeouts, waits) runs on a monotonic `Instant`. Every
//! crate reads the wall clock through [`unix_now`] (the relay behind its injectable
//! `WallClock`, the SDK behind its `Clock` trait): `SystemTime::now` is a disallowed method
//! everywhere else (`clippy.toml`), so a second clock cannot creep in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now. A clock before 1970 is a broken clock and reads as 0,
/// which makes every certificate "not yet valid": it fails closed.
#[must_use]
#[allow(clippy::disallowed_methods)] // the one allowed reading
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Nanoseconds since the Unix epoch, now (seeds for seeded tests). 0 before 1970.
#[must_use]
#[allow(clippy::disallowed_methods)] // the one allowed reading
pub fn unix_now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
