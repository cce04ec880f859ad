//! The one place wall-clock time enters the SDK: certificate validity and revocation-list
//! freshness are judged against *the client's* clock, never the relay's. Tests and apps
//! with a trusted time source pass their own [`Clock`].

use std::sync::Arc;

/// A source of Unix time in seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch, now.
    fn now_unix(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        confidant_crypto::wall_clock::unix_now()
    }
}

/// A clock stuck at one instant, for tests and reproducible verification.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

/// The default clock as a shareable handle.
#[must_use]
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
