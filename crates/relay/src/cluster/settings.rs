//! The cluster's settings (`[cluster]` in the configuration file). A leaf: the relay's
//! configuration names this type; nothing here names the rest of the relay.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How a node joins the others. `nats_url` is the one setting that turns scale-out on.
#[derive(Clone)]
pub struct ClusterConfig {
    /// e.g. `nats://nats:4222` or `tls://nats:4222`.
    pub nats_url: String,
    /// User and password for the broker.
    pub user_password: Option<(String, String)>,
    /// Token for the broker.
    pub token: Option<String>,
    /// CA to trust for the broker's certificate (implies TLS).
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS with the broker.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Refuse a broker connection without TLS.
    pub require_tls: bool,
    /// Subject prefix, so several clusters may share one broker.
    pub subject_prefix: String,
    /// How often presence (the heartbeat) is sent.
    pub heartbeat: Duration,
    /// A node not heard from for this long is gone: its peers leave, its chats end.
    pub node_ttl: Duration,
    /// How long a capacity reservation may take before it counts as refused.
    pub request_timeout: Duration,
    /// Faults the integration tests inject (feature `fault-injection`, enabled only by the
    /// test package): not part of the API.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub faults: FaultInjection,
}

impl std::fmt::Debug for ClusterConfig {
    // Never print the broker's password or token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("nats_url", &self.nats_url)
            .field("user", &self.user_password.as_ref().map(|(user, _)| user))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca)
            .field("tls_client", &self.tls_client)
            .field("require_tls", &self.require_tls)
            .field("subject_prefix", &self.subject_prefix)
            .field("heartbeat", &self.heartbeat)
            .field("node_ttl", &self.node_ttl)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// Defaults: 1 s heartbeat, 3 s TTL, 2 s reservation timeout, prefix `confidant`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            user_password: None,
            token: None,
            tls_ca: None,
            tls_client: None,
            require_tls: false,
            subject_prefix: "confidant".to_owned(),
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(3),
            request_timeout: Duration::from_secs(2),
            #[cfg(feature = "fault-injection")]
            faults: FaultInjection::default(),
        }
    }

    /// The faults to inject: none unless the feature is on and a test set them.
    pub(crate) fn faults(&self) -> Faults {
        #[cfg(feature = "fault-injection")]
        {
            Faults {
                reserve_delay: self.faults.reserve_delay,
                mute_presence: self.faults.mute_presence.clone(),
                matched_delay: self.faults.matched_delay,
                accept_delay: self.faults.accept_delay,
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        Faults::default()
    }
}

/// Faults the integration tests inject into a node (`tests/tests/cluster_*.rs`), for races
/// too narrow to hit otherwise. Behind the `fault-injection` feature, which only the test
/// package enables; the seeded simulation (`cluster/simulation/`) needs none of them.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct FaultInjection {
    /// The peer's node waits this long before it asks its hub to grant a reservation (a
    /// busy hub or a slow broker path).
    pub reserve_delay: Option<Duration>,
    /// While set, this node sends no presence (a node whose task is stalled, so the others
    /// let it go at the TTL).
    pub mute_presence: Option<Arc<AtomicBool>>,
    /// The peer's node waits this long, after its hub granted a reservation, before it
    /// answers it and before it tells the seeker's node of the match (a grant that crosses
    /// the seeker's node giving up).
    pub matched_delay: Option<Duration>,
    /// The seeker's node waits this long, after the peer's node said `matched`, before its
    /// hub accepts on the remote peer's behalf (a window in which the seeker can leave).
    pub accept_delay: Option<Duration>,
}

/// The faults the node task applies (all `None` without the feature).
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub(crate) reserve_delay: Option<Duration>,
    pub(crate) mute_presence: Option<Arc<AtomicBool>>,
    pub(crate) matched_delay: Option<Duration>,
    pub(crate) accept_delay: Option<Duration>,
}

impl Faults {
    pub(crate) fn muted(&self) -> bool {
        self.mute_presence
            .as_ref()
            .is_some_and(|mute| mute.load(std::sync::atomic::Ordering::Relaxed))
    }
}
