//! Scale-out: several relay nodes joined by a NATS core broker (memory only: pub/sub and
//! request/reply, never JetStream), so a seeker on one node can be matched with a peer on
//! any node. The design, guarantees and failure behaviour are in `docs/scale-out.md`.
//!
//! - `core` — the decisions, without I/O: presence, reservations and withdrawals, chat
//!   tokens, failure detection (a state machine: messages and time in, actions out).
//! - `node` — the task per node, a thin shell around the core: the broker connection, the
//!   timers and routing chat subjects to their ingress queues (`node/mod.rs`), and carrying
//!   out the core's actions — publish, ask or tell the hub, open or close a virtual
//!   connection, check certificates off the loop (`node/actions.rs`).
//! - `virtual_conn` — a party on another node, seen by the hub as an ordinary connection
//!   (outbox + commands); it reports the hub's control frames to the core and carries the
//!   chat data both ways. The matching core is unchanged apart from
//!   `Matcher::remote_offer` / `offer_refused` (the peer's node grants capacity).
//! - `faults` — the test-only fault injection as the node task applies it (`ClusterConfig`
//!   and its hidden `FaultInjection` are in `crate::config`).
//! - `wire` — subjects and messages: random tokens only.
//! - `simulation` (tests) — many nodes' cores over a simulated broker, seeded.
//!
//! Without `cluster.nats_url` none of this runs and the relay is a single node.

mod core;
mod faults;
mod node;
#[cfg(test)]
mod simulation;
mod virtual_conn;
mod wire;

use std::sync::Arc;

pub use crate::config::ClusterConfig;
#[cfg(feature = "fault-injection")]
pub use crate::config::FaultInjection;

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
