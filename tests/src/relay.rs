//! A real relay on `127.0.0.1:0`, with timeouts short enough for tests.

use std::net::SocketAddr;
use std::time::Duration;

use confidant_relay::{Limits, ProgramConfig, RelayConfig, RelayHandle, RelayStats};

use crate::WAIT;

/// Limits for tests: every timeout short, buffers small.
pub fn test_limits() -> Limits {
    Limits {
        max_connections: 64,
        max_connections_per_source: 64,
        max_queue: 16,
        frames_per_second: 1_000,
        frame_burst: 1_000,
        hello_timeout: Duration::from_secs(2),
        offer_timeout: Duration::from_secs(2),
        chat_handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
        chat_buffer_frames: 8,
        slow_reader_grace: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(1),
        read_buffer_bytes: Limits::default().read_buffer_bytes,
        resume_grace: Duration::from_secs(3),
        keepalive_idle: Duration::from_secs(1),
        keepalive_deadline: Duration::from_secs(1),
        // The gate as deployed (auto, default thresholds): tests that open connections in
        // bursts stay below them.
        admission: confidant_relay::AdmissionMode::Auto,
        admission_open_connections: Limits::default().admission_open_connections,
        admission_new_per_second: Limits::default().admission_new_per_second,
        admission_difficulty: Limits::default().admission_difficulty,
        admission_validity: Limits::default().admission_validity,
    }
}

/// A running relay and its address.
pub struct TestRelay {
    /// The relay; `None` once shut down.
    pub handle: Option<RelayHandle>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl TestRelay {
    /// Starts the real relay on loopback with these programs and limits.
    pub async fn start(programs: Vec<ProgramConfig>, limits: Limits) -> Self {
        let mut config = RelayConfig::new("127.0.0.1:0".parse().expect("addr"), programs);
        config.limits = limits;
        Self::start_with(config).await
    }

    /// Starts the real relay with a full config (its `listen` is replaced by loopback:0).
    pub async fn start_with(mut config: RelayConfig) -> Self {
        config.listen = "127.0.0.1:0".parse().expect("addr");
        let handle = confidant_relay::start(config).await.expect("relay starts");
        let addr = handle.local_addr();
        Self {
            handle: Some(handle),
            addr,
        }
    }

    /// The relay handle.
    pub fn handle(&self) -> &RelayHandle {
        self.handle.as_ref().expect("relay still running")
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.addr,
            confidant_proto::limits::WEBSOCKET_PATH
        )
    }

    /// Current aggregate counters.
    pub async fn stats(&self) -> RelayStats {
        self.handle().stats().await
    }

    /// Waits (bounded) until `check` holds for the relay's stats; panics with the last stats.
    pub async fn wait_stats(&self, check: impl Fn(&RelayStats) -> bool) -> RelayStats {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let stats = self.stats().await;
            if check(&stats) {
                return stats;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stats never reached the expected state: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every table is empty except `connections` open connections.
    pub async fn wait_idle(&self, connections: usize) -> RelayStats {
        self.wait_stats(|s| {
            s.active_chats == 0
                && s.capacity_in_use == 0
                && s.queued_seekers == 0
                && s.open_offers == 0
                && s.connections == connections
                && s.registered_connections == connections
        })
        .await
    }

    /// Graceful shutdown with `deadline`.
    pub async fn shutdown(&mut self, deadline: Duration) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown(deadline).await;
        }
    }
}
