//! What every task of one relay shares: configuration, the revocation store, the hub's
//! inbox, the shutdown signals and the task tracker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, PoisonError, RwLock};

use confidant_proto::ProgramInfo;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::WallClock;
use crate::config::{Limits, ProgramConfig};
use crate::messages::HubEvent;
use crate::revocation_store::RevocationStore;
use crate::sources::SourceCounter;

/// Shared context. Programs and limits sit behind locks because an operator can reload
/// them; every reader takes a copy (an `Arc` or a `Copy` struct) and never holds a lock
/// across an await.
pub(crate) struct Shared {
    programs: RwLock<HashMap<String, Arc<ProgramConfig>>>,
    limits: RwLock<Limits>,
    pub(crate) clock: WallClock,
    pub(crate) store: RevocationStore,
    pub(crate) hub: mpsc::Sender<HubEvent>,
    /// Zero point for the millisecond timestamps chat links keep.
    pub(crate) epoch: Instant,
    /// Fires when shutdown begins: no new connections.
    pub(crate) draining: CancellationToken,
    /// Fires when the relay stops for good: every connection is cut off.
    pub(crate) hard_stop: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Connections open now.
    pub(crate) live_connections: AtomicUsize,
    /// Next connection handle.
    pub(crate) next_conn: AtomicU64,
    /// WebSocket connections per source, under a keyed hash.
    pub(crate) sources: SourceCounter,
    /// Per-frame counters, looked up once.
    pub(crate) hot: crate::metrics::HotCounters,
    /// Feature `resume`: the secret hash of every resumable connection.
    pub(crate) resumes: crate::resume_registry::ResumeRegistry,
    /// The proof-of-work gate for new connections under load.
    pub(crate) admission: crate::admission::Admission,
}

impl Shared {
    /// A context; `hub` is the hub's inbox.
    pub(crate) fn new(
        programs: HashMap<String, ProgramConfig>,
        limits: Limits,
        clock: WallClock,
        store: RevocationStore,
        hub: mpsc::Sender<HubEvent>,
    ) -> Self {
        Self {
            programs: RwLock::new(
                programs
                    .into_iter()
                    .map(|(id, program)| (id, Arc::new(program)))
                    .collect(),
            ),
            limits: RwLock::new(limits),
            clock,
            store,
            hub,
            epoch: Instant::now(),
            draining: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            live_connections: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            sources: SourceCounter::new(),
            hot: crate::metrics::HotCounters::new(),
            resumes: crate::resume_registry::ResumeRegistry::default(),
            admission: crate::admission::Admission::new(),
        }
    }

    /// Milliseconds since the relay started, on tokio's (pausable) clock.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(
            Instant::now()
                .saturating_duration_since(self.epoch)
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }

    /// The current limits (a copy).
    pub(crate) fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the limits; new values apply to what happens next (new connections, new
    /// seekers, the next timer), never retroactively.
    pub(crate) fn set_limits(&self, limits: Limits) {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// A hosted program.
    pub(crate) fn program(&self, id: &str) -> Option<Arc<ProgramConfig>> {
        self.programs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Every hosted program.
    pub(crate) fn programs(&self) -> Vec<Arc<ProgramConfig>> {
        self.programs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The public descriptions, sorted by id.
    pub(crate) fn program_infos(&self, details: bool) -> Vec<ProgramInfo> {
        let mut infos: Vec<ProgramInfo> = self
            .programs()
            .iter()
            .map(|p| {
                if details {
                    p.info_with_details()
                } else {
                    p.info()
                }
            })
            .collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    /// Replaces a hosted program's description (same id and root key).
    pub(crate) fn replace_program(&self, program: ProgramConfig) {
        self.programs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(program.id.clone(), Arc::new(program));
    }
}
