//! Wall-clock time enters the relay here and nowhere else (read through
//! `confidant_crypto::wall_clock`, the workspace's one reading).
//!
//! Certificates and revocation lists carry Unix times, so verifying them needs the wall
//! clock; everything else (timeouts, waits) runs on tokio's monotonic `Instant`, which
//! tests can pause. Keeping the wall clock behind one injectable function lets tests check
//! expiry without waiting for it.

use std::sync::Arc;

/// A source of Unix seconds. Cheap to clone.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl WallClock {
    /// The system clock (a clock before 1970 reads as 0).
    pub fn system() -> Self {
        Self(Arc::new(confidant_crypto::wall_clock::unix_now))
    }

    /// A clock driven by the caller, e.g. a test that moves time past an expiry.
    pub fn from_fn(now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Current Unix time in seconds.
    pub fn now_unix(&self) -> u64 {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WallClock")
    }
}
