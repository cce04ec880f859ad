//! The relay's metrics: aggregate figures only.
//!
//! Every metric is a count, a gauge or a duration histogram over the whole relay. Labels
//! come from closed sets the relay defines (error codes, end reasons, no-peer reasons) —
//! never an address, chat number, key, program member or anything a client chose. The
//! recorder is installed by the binary; without one (library tests) these calls are no-ops.
//!
//! The names here are the contract with `deploy/grafana-dashboard.json`; a test scrapes the
//! real binary and checks every name the dashboard queries.

use std::time::Duration;

use confidant_proto::{ChatEndReason, ErrorCode, NoPeerReason};

use crate::stats::RelayStats;

/// Gauge: WebSocket connections open.
pub const CONNECTIONS: &str = "confidant_connections";
/// Gauge: chats running.
pub const CHATS_ACTIVE: &str = "confidant_chats_active";
/// Gauge: seekers waiting, all programs.
pub const QUEUE_LENGTH: &str = "confidant_queue_length";
/// Gauge: peers available for a new chat.
pub const PEERS_AVAILABLE: &str = "confidant_peers_available";
/// Gauge: offers waiting for a peer's answer.
pub const OFFERS_OPEN: &str = "confidant_offers_open";
/// Gauge: 1 when `/readyz` answers 200.
pub const READY: &str = "confidant_ready";
/// Counter: WebSocket connections accepted.
pub const CONNECTIONS_ACCEPTED: &str = "confidant_connections_accepted_total";
/// Counter: offers made to peers.
pub const OFFERS: &str = "confidant_offers_total";
/// Counter: chats started (seeker matched with a peer).
pub const MATCHES: &str = "confidant_matches_total";
/// Counter: seekers told `no_peer`, by reason.
pub const NO_PEER: &str = "confidant_no_peer_total";
/// Counter: chats ended, by the reason the seeker was given.
pub const CHATS_ENDED: &str = "confidant_chats_ended_total";
/// Histogram: seconds from `seek` to `matched`.
pub const WAIT_SECONDS: &str = "confidant_wait_seconds";
/// Histogram: seconds a chat lasted.
pub const CHAT_SECONDS: &str = "confidant_chat_duration_seconds";
/// Counter: data frames forwarded.
pub const FRAMES_RELAYED: &str = "confidant_frames_relayed_total";
/// Counter: data frame bytes forwarded (ciphertext, headers included).
pub const BYTES_RELAYED: &str = "confidant_bytes_relayed_total";
/// Counter: control frames received from clients.
pub const CONTROL_FRAMES: &str = "confidant_control_frames_total";
/// Counter: `error` frames and refusals, by error code.
pub const REJECTIONS: &str = "confidant_rejections_total";
/// Counter: frames refused by the per-connection rate limiter.
pub const RATE_LIMITED: &str = "confidant_rate_limited_total";
/// Counter: connections refused by the per-source limit.
pub const SOURCE_LIMITED: &str = "confidant_source_limited_total";
/// Counter: admission challenges issued (`GET /v1/admission`).
pub const ADMISSION_CHALLENGES: &str = "confidant_admission_challenges_total";
/// Counter: new connections admitted with a good proof of work while the gate was closed.
pub const ADMISSION_ACCEPTED: &str = "confidant_admission_accepted_total";
/// Counter: new connections refused by the closed gate, by reason (`version_1`, `missing`,
/// `invalid`, `expired`, `reused`, `full`).
pub const ADMISSION_REFUSED: &str = "confidant_admission_refused_total";
/// Counter: WebSocket upgrades refused because their `Origin` is not allowed.
pub const ORIGIN_REFUSED: &str = "confidant_origin_refused_total";
/// Counter: peers taken offline by a revocation list.
pub const PEERS_REVOKED: &str = "confidant_peers_revoked_total";
/// Counter: configuration reloads, by result (`ok`, `error`).
pub const RELOADS: &str = "confidant_reloads_total";
/// Counter: feature `resume` — lost sockets whose connection was taken over by a new one
/// (`resumed`), `resume` frames refused (`failed`), grace windows that closed (`expired`).
pub const RESUMES: &str = "confidant_resumes_total";
/// Counter: feature `urgency` — seeks that said "I need to talk soon" (aggregate only).
pub const URGENT_SEEKS: &str = "confidant_urgent_seeks_total";
/// Gauge: newest revocation list sequence, by program id (an operator-configured name).
pub const REVOCATION_SEQUENCE: &str = "confidant_revocation_list_sequence";

// Scale-out (`cluster.nats_url`; see `docs/scale-out.md`). Registered on every relay so the
// dashboard's cluster panels always have a series: on a single node they stay at 0.
/// Gauge: 1 while this node is connected to the broker (always 0 on a single node).
pub const CLUSTER_BROKER_CONNECTED: &str = "confidant_cluster_broker_connected";
/// Counter: broker disconnections seen.
pub const CLUSTER_BROKER_DISCONNECTS: &str = "confidant_cluster_broker_disconnects_total";
/// Gauge: other nodes heard from within the presence TTL.
pub const CLUSTER_NODES: &str = "confidant_cluster_nodes";
/// Gauge: peers on other nodes this node may offer its seekers to.
pub const CLUSTER_REMOTE_PEERS: &str = "confidant_cluster_remote_peers";
/// Gauge: chats this node carries whose partner is on another node.
pub const CLUSTER_CROSS_NODE_CHATS: &str = "confidant_cluster_cross_node_chats";
/// Counter: capacity reservations asked of other nodes, by result (`granted`, `refused`,
/// `error`).
pub const CLUSTER_RESERVATIONS: &str = "confidant_cluster_reservations_total";
/// Counter: cross-node data frames, by direction (`out`, `in`).
pub const CLUSTER_FRAMES: &str = "confidant_cluster_frames_total";
/// Counter: nodes declared gone (presence TTL passed).
pub const CLUSTER_NODES_LOST: &str = "confidant_cluster_nodes_lost_total";
/// Counter: nodes heard from again after they were declared gone — each one a false alarm
/// (the node was alive; its presence came later than the TTL) that ended its cross-node
/// chats for nothing. More than a rare one means `cluster.node_ttl_ms` is too tight.
pub const CLUSTER_NODES_RETURNED: &str = "confidant_cluster_nodes_returned_total";
/// Counter: nodes that announced their departure as they shut down (a rolling restart):
/// forgotten at once, and not counted as lost.
pub const CLUSTER_NODES_LEFT: &str = "confidant_cluster_nodes_left_total";
/// Counter: cross-node chats ended as `slow_reader` because this node could not take the
/// remote side's frames fast enough (its per-chat ingress queue was full).
pub const CLUSTER_INGRESS_OVERFLOWS: &str = "confidant_cluster_ingress_overflows_total";

/// Histogram buckets (seconds) for waits: a few seconds up to the longest wait limit.
pub const WAIT_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];
/// Histogram buckets (seconds) for chat lengths: a minute up to a few hours.
pub const CHAT_BUCKETS: &[f64] = &[
    10.0, 60.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// Every metric name, for documentation and tests.
pub const ALL: &[&str] = &[
    CONNECTIONS,
    CHATS_ACTIVE,
    QUEUE_LENGTH,
    PEERS_AVAILABLE,
    OFFERS_OPEN,
    READY,
    CONNECTIONS_ACCEPTED,
    OFFERS,
    MATCHES,
    NO_PEER,
    CHATS_ENDED,
    WAIT_SECONDS,
    CHAT_SECONDS,
    FRAMES_RELAYED,
    BYTES_RELAYED,
    CONTROL_FRAMES,
    REJECTIONS,
    RATE_LIMITED,
    SOURCE_LIMITED,
    ORIGIN_REFUSED,
    PEERS_REVOKED,
    RELOADS,
    RESUMES,
    URGENT_SEEKS,
    REVOCATION_SEQUENCE,
    CLUSTER_BROKER_CONNECTED,
    CLUSTER_BROKER_DISCONNECTS,
    CLUSTER_NODES,
    CLUSTER_REMOTE_PEERS,
    CLUSTER_CROSS_NODE_CHATS,
    CLUSTER_RESERVATIONS,
    CLUSTER_FRAMES,
    CLUSTER_NODES_LOST,
    CLUSTER_NODES_RETURNED,
    CLUSTER_NODES_LEFT,
    CLUSTER_INGRESS_OVERFLOWS,
];

/// Installs the Prometheus recorder the relay is deployed with — histogram buckets for the
/// waits and chat lengths, every metric described and at zero — and keeps it in shape:
/// every 5 s, on the current Tokio runtime, it folds the samples histograms collected
/// (without that they pile up in memory between scrapes). The `confidant-relay` binary and
/// the bench's relay both call this, so what is measured is what is deployed.
///
/// # Errors
/// When a recorder is already installed, or the buckets are refused.
pub fn install_prometheus()
-> Result<metrics_exporter_prometheus::PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(WAIT_SECONDS.to_owned()), WAIT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(CHAT_SECONDS.to_owned()), CHAT_BUCKETS)?
        .install_recorder()?;
    register();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Describes every metric and makes the unlabelled ones appear at zero from the start, so
/// dashboards and alerts see a series before the first event. Call after installing a
/// recorder.
pub fn register() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "WebSocket connections open");
    describe_gauge!(CHATS_ACTIVE, "Chats running");
    describe_gauge!(QUEUE_LENGTH, "Seekers waiting for a peer, all programs");
    describe_gauge!(PEERS_AVAILABLE, "Peers available for a new chat");
    describe_gauge!(OFFERS_OPEN, "Offers waiting for a peer's answer");
    describe_gauge!(READY, "1 when the relay accepts connections (readyz 200)");
    describe_counter!(CONNECTIONS_ACCEPTED, "WebSocket connections accepted");
    describe_counter!(OFFERS, "Offers made to peers");
    describe_counter!(MATCHES, "Chats started");
    describe_counter!(NO_PEER, "Seekers told no_peer, by reason");
    describe_counter!(CHATS_ENDED, "Chats ended, by reason");
    describe_histogram!(
        WAIT_SECONDS,
        metrics::Unit::Seconds,
        "Wait from seek to match"
    );
    describe_histogram!(CHAT_SECONDS, metrics::Unit::Seconds, "Chat duration");
    describe_counter!(FRAMES_RELAYED, "Data frames forwarded");
    describe_counter!(
        BYTES_RELAYED,
        metrics::Unit::Bytes,
        "Data frame bytes forwarded"
    );
    describe_counter!(CONTROL_FRAMES, "Control frames received");
    describe_counter!(REJECTIONS, "Error frames and refusals, by error code");
    describe_counter!(
        RATE_LIMITED,
        "Frames refused by the per-connection rate limit"
    );
    describe_counter!(
        SOURCE_LIMITED,
        "Connections refused by the per-source limit"
    );
    describe_counter!(
        ORIGIN_REFUSED,
        "WebSocket upgrades refused for an Origin that is not allowed"
    );
    describe_counter!(PEERS_REVOKED, "Peers taken offline by a revocation list");
    describe_counter!(RELOADS, "Configuration reloads, by result");
    describe_counter!(URGENT_SEEKS, "Seeks marked urgent (feature urgency)");
    describe_counter!(
        RESUMES,
        "Resume outcomes (resumed, failed, expired), feature resume"
    );
    describe_gauge!(
        REVOCATION_SEQUENCE,
        "Newest revocation list sequence, by program"
    );
    register_cluster();
    for name in [
        CONNECTIONS_ACCEPTED,
        OFFERS,
        MATCHES,
        FRAMES_RELAYED,
        BYTES_RELAYED,
        CONTROL_FRAMES,
        RATE_LIMITED,
        SOURCE_LIMITED,
        PEERS_REVOKED,
        URGENT_SEEKS,
    ] {
        metrics::counter!(name).increment(0);
    }
    for (name, label, value) in [
        (NO_PEER, "reason", "wait_limit"),
        (CHATS_ENDED, "reason", "ended"),
        (REJECTIONS, "code", "rate_limited"),
        (RELOADS, "result", "ok"),
        (RESUMES, "result", "resumed"),
    ] {
        metrics::counter!(name, label => value).increment(0);
    }
    set_gauges(&RelayStats::default());
    metrics::gauge!(READY).set(0.0);
    let _ = metrics::histogram!(WAIT_SECONDS);
    let _ = metrics::histogram!(CHAT_SECONDS);
}

/// The scale-out metrics: described, and at zero until the cluster task changes them.
fn register_cluster() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        CLUSTER_BROKER_CONNECTED,
        "1 while connected to the cluster broker (0 on a single node)"
    );
    describe_counter!(CLUSTER_BROKER_DISCONNECTS, "Broker disconnections seen");
    describe_gauge!(CLUSTER_NODES, "Other relay nodes heard from within the TTL");
    describe_gauge!(CLUSTER_REMOTE_PEERS, "Peers on other nodes known here");
    describe_gauge!(
        CLUSTER_CROSS_NODE_CHATS,
        "Chats carried here whose partner is on another node"
    );
    describe_counter!(
        CLUSTER_RESERVATIONS,
        "Capacity reservations asked of other nodes, by result"
    );
    describe_counter!(CLUSTER_FRAMES, "Cross-node data frames, by direction");
    describe_counter!(
        CLUSTER_NODES_LOST,
        "Nodes declared gone (presence TTL passed)"
    );
    describe_counter!(
        CLUSTER_NODES_RETURNED,
        "Nodes heard from again after being declared gone (false alarms: TTL too tight?)"
    );
    describe_counter!(
        CLUSTER_NODES_LEFT,
        "Nodes that announced their departure as they shut down (not counted as lost)"
    );
    describe_counter!(
        CLUSTER_INGRESS_OVERFLOWS,
        "Cross-node chats ended as slow_reader on a full ingress queue"
    );
    for name in [
        CLUSTER_BROKER_CONNECTED,
        CLUSTER_NODES,
        CLUSTER_REMOTE_PEERS,
        CLUSTER_CROSS_NODE_CHATS,
    ] {
        metrics::gauge!(name).set(0.0);
    }
    for name in [
        CLUSTER_BROKER_DISCONNECTS,
        CLUSTER_NODES_LOST,
        CLUSTER_NODES_RETURNED,
        CLUSTER_NODES_LEFT,
        CLUSTER_INGRESS_OVERFLOWS,
    ] {
        metrics::counter!(name).increment(0);
    }
    for result in ["granted", "refused"] {
        metrics::counter!(CLUSTER_RESERVATIONS, "result" => result).increment(0);
    }
    for direction in ["in", "out"] {
        metrics::counter!(CLUSTER_FRAMES, "direction" => direction).increment(0);
    }
}

/// Sets the gauges from a stats snapshot (done at scrape time, so gauges are exact).
pub(crate) fn set_gauges(stats: &RelayStats) {
    let set = |name: &'static str, value: usize| {
        metrics::gauge!(name).set(value as f64);
    };
    set(CONNECTIONS, stats.connections);
    set(CHATS_ACTIVE, stats.active_chats);
    set(QUEUE_LENGTH, stats.queued_seekers);
    set(PEERS_AVAILABLE, stats.available_peers);
    set(OFFERS_OPEN, stats.open_offers);
}

/// Counts a resume outcome: `resumed`, `failed` or `expired`.
pub(crate) fn resume(result: &'static str) {
    metrics::counter!(RESUMES, "result" => result).increment(1);
}

/// Counts an `error` frame or refusal.
pub(crate) fn rejection(code: ErrorCode) {
    metrics::counter!(REJECTIONS, "code" => code.as_str()).increment(1);
    if code == ErrorCode::RateLimited {
        metrics::counter!(RATE_LIMITED).increment(1);
    }
}

/// The counters on the per-frame path, looked up once — when the relay starts, after the
/// binary has installed its recorder — instead of on every frame. With the Prometheus
/// recorder, the two lookups by name per data frame took ~115 ns, the two held handles
/// ~10 ns (measured on this machine, one thread; a labelled lookup ~62 ns), against
/// ~3.4 µs of relay CPU per 256 B frame. Without a recorder (tests, the library alone) the
/// handles do nothing.
#[derive(Clone)]
pub(crate) struct HotCounters {
    frames_relayed: metrics::Counter,
    bytes_relayed: metrics::Counter,
    pub(crate) control_frames: metrics::Counter,
    pub(crate) cluster_frames_in: metrics::Counter,
    pub(crate) cluster_frames_out: metrics::Counter,
}

impl HotCounters {
    pub(crate) fn new() -> Self {
        Self {
            frames_relayed: metrics::counter!(FRAMES_RELAYED),
            bytes_relayed: metrics::counter!(BYTES_RELAYED),
            control_frames: metrics::counter!(CONTROL_FRAMES),
            cluster_frames_in: metrics::counter!(CLUSTER_FRAMES, "direction" => "in"),
            cluster_frames_out: metrics::counter!(CLUSTER_FRAMES, "direction" => "out"),
        }
    }

    /// Counts a forwarded data frame of `bytes` bytes.
    pub(crate) fn relayed(&self, bytes: usize) {
        self.frames_relayed.increment(1);
        self.bytes_relayed
            .increment(u64::try_from(bytes).unwrap_or(u64::MAX));
    }
}

/// Counts a chat's end and records its length.
pub(crate) fn chat_ended(reason: ChatEndReason, lasted: Duration) {
    let reason = match reason {
        ChatEndReason::Ended => "ended",
        ChatEndReason::PartnerEnded => "partner_ended",
        ChatEndReason::Blocked => "blocked",
        ChatEndReason::PartnerLeft => "partner_left",
        ChatEndReason::HandshakeTimeout => "handshake_timeout",
        ChatEndReason::IdleTimeout => "idle_timeout",
        ChatEndReason::SlowReader => "slow_reader",
        ChatEndReason::Shutdown => "shutdown",
        ChatEndReason::Revoked => "revoked",
    };
    metrics::counter!(CHATS_ENDED, "reason" => reason).increment(1);
    metrics::histogram!(CHAT_SECONDS).record(lasted.as_secs_f64());
}

/// Records a seeker's wait until matched.
pub(crate) fn matched(waited: Option<Duration>) {
    metrics::counter!(MATCHES).increment(1);
    if let Some(waited) = waited {
        metrics::histogram!(WAIT_SECONDS).record(waited.as_secs_f64());
    }
}

/// Counts a `no_peer`.
pub(crate) fn no_peer(reason: NoPeerReason) {
    let reason = match reason {
        NoPeerReason::NoneOnline => "none_online",
        NoPeerReason::WaitLimit => "wait_limit",
        NoPeerReason::QueueFull => "queue_full",
    };
    metrics::counter!(NO_PEER, "reason" => reason).increment(1);
}
