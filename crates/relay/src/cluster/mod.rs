//! Scale-out: several relay nodes joined by a NATS core broker (memory only: pub/sub and
//! request/reply, never JetStream), so a seeker on one node can be matched with a peer on
//! any node. The design, guarantees and failure behaviour are in `docs/scale-out.md`.
//!
//! - `node` — the task per node: broker connection, presence (heartbeat) in and out, the
//!   inbox (capacity reservations), node-death and broker-loss detection.
//! - `virtual_conn` — a party on another node, seen by the hub as an ordinary connection
//!   (outbox + commands); this module turns what the hub queues for it into broker
//!   messages and broker messages into hub events. The matching core is unchanged apart
//!   from `Matcher::remote_offer` / `offer_refused` (the peer's node grants capacity).
//! - `wire` — subjects and messages: random tokens only.
//!
//! Without `cluster.nats_url` none of this runs and the relay is a single node.

mod node;
mod virtual_conn;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::shared::Shared;

// The metric names live in `crate::metrics` (the contract with the dashboard); these are
// the short names this module uses.
pub use crate::metrics::{
    CLUSTER_BROKER_CONNECTED as BROKER_CONNECTED, CLUSTER_BROKER_DISCONNECTS as BROKER_DISCONNECTS,
    CLUSTER_CROSS_NODE_CHATS as CROSS_NODE_CHATS, CLUSTER_FRAMES as CROSS_NODE_FRAMES,
    CLUSTER_INGRESS_OVERFLOWS as INGRESS_OVERFLOWS, CLUSTER_NODES as NODES,
    CLUSTER_NODES_LEFT as NODES_LEFT, CLUSTER_NODES_LOST as NODES_LOST,
    CLUSTER_NODES_RETURNED as NODES_RETURNED, CLUSTER_REMOTE_PEERS as REMOTE_PEERS,
    CLUSTER_RESERVATIONS as RESERVATIONS,
};

/// Every cluster metric name (all of them are also in `crate::metrics::ALL`).
pub const ALL_METRICS: &[&str] = &[
    BROKER_CONNECTED,
    BROKER_DISCONNECTS,
    NODES,
    REMOTE_PEERS,
    CROSS_NODE_CHATS,
    RESERVATIONS,
    CROSS_NODE_FRAMES,
    NODES_LOST,
    NODES_RETURNED,
    NODES_LEFT,
    INGRESS_OVERFLOWS,
];

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
    /// Tests only: the peer's node waits this long before it asks its hub to grant a
    /// reservation (simulates a busy hub or a slow broker path).
    #[doc(hidden)]
    pub test_reserve_delay: Option<Duration>,
    /// Tests only: while set, this node sends no presence (simulates a node whose task is
    /// stalled, so the others let it go at the TTL).
    #[doc(hidden)]
    pub test_mute_presence: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Tests only: the peer's node waits this long, after its hub granted a reservation,
    /// before it answers it and before it tells the seeker's node of the match (simulates
    /// a grant that crosses the seeker's node giving up).
    #[doc(hidden)]
    pub test_matched_delay: Option<Duration>,
    /// Tests only: the seeker's node waits this long, after the peer's node said `matched`,
    /// before its hub accepts on the remote peer's behalf (a window in which the seeker
    /// can leave).
    #[doc(hidden)]
    pub test_accept_delay: Option<Duration>,
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
            test_reserve_delay: None,
            test_mute_presence: None,
            test_matched_delay: None,
            test_accept_delay: None,
        }
    }
}

/// Starts the node task; it runs until `stop` fires, then tells the other nodes it is
/// leaving (await the handle, bounded, so that word goes out before the process exits).
/// Never fails: a broker that cannot be reached is retried for ever while the node serves
/// its own seekers and peers.
pub(crate) fn spawn(
    config: ClusterConfig,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(node::run(config, shared, stop))
}

/// A fresh random token: 128 bits, hex. Subjects are made of these only.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to something unique in this process (not secret).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(head) = bytes.get_mut(..8) {
            head.copy_from_slice(&n.to_le_bytes());
        }
    }
    confidant_crypto::hex::encode(&bytes)
}
