//! What every task of one relay shares: configuration, the revocation store, the hub's
//! inbox, the shutdown signals and the task tracker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::WallClock;
use crate::config::{Limits, ProgramConfig};
use crate::hub::HubEvent;
use crate::revocation_store::RevocationStore;

/// Shared, immutable-after-start context (plus a few atomics).
pub(crate) struct Shared {
    pub(crate) programs: HashMap<String, ProgramConfig>,
    pub(crate) limits: Limits,
    pub(crate) clock: WallClock,
    pub(crate) store: RevocationStore,
    pub(crate) hub: mpsc::Sender<HubEvent>,
    /// Zero point for the millisecond timestamps chat links keep.
    pub(crate) epoch: Instant,
    /// Fires when shutdown begins: no new connections.
    pub(crate) draining: CancellationToken,
    /// Fires when the relay stops for good: every writer is cut off.
    pub(crate) hard_stop: CancellationToken,
    /// Every connection and writer task, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Connections open now.
    pub(crate) live_connections: AtomicUsize,
    /// Next connection handle.
    pub(crate) next_conn: AtomicU64,
}

impl Shared {
    /// Milliseconds since the relay started, on tokio's (pausable) clock.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(
            Instant::now()
                .saturating_duration_since(self.epoch)
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }
}
