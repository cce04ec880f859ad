//! The faults the integration tests inject into a node (`ClusterConfig::faults`, feature
//! `fault-injection`), as the node task applies them: all `None` without the feature.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::ClusterConfig;

/// The faults the node task applies (all `None` without the feature).
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub(crate) reserve_delay: Option<Duration>,
    pub(crate) mute_presence: Option<Arc<AtomicBool>>,
    pub(crate) matched_delay: Option<Duration>,
    pub(crate) accept_delay: Option<Duration>,
}

impl Faults {
    /// What `config` asks for (nothing without the feature).
    pub(crate) fn of(config: &ClusterConfig) -> Self {
        #[cfg(feature = "fault-injection")]
        {
            Self {
                reserve_delay: config.faults.reserve_delay,
                mute_presence: config.faults.mute_presence.clone(),
                matched_delay: config.faults.matched_delay,
                accept_delay: config.faults.accept_delay,
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = config;
            Self::default()
        }
    }

    pub(crate) fn muted(&self) -> bool {
        self.mute_presence
            .as_ref()
            .is_some_and(|mute| mute.load(std::sync::atomic::Ordering::Relaxed))
    }
}
