//! Scale-out harness: a real `nats-server` on a free loopback port (memory only: no
//! JetStream, no store), and relay nodes joined through it.
//!
//! Tests call [`NatsServer::start`] first; when the binary is missing it prints a loud
//! `SKIPPED` line and returns `None` (install with `apt-get install -y nats-server`, which
//! `scripts/install-test-deps` does).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confidant_client::{AvailabilitySettings, Peer, PeerOptions, Seeker, SeekerOptions};
use confidant_relay::{ClusterConfig, Limits, ProgramConfig, RelayConfig, RelayStats};

use crate::{ProgramFixture, SupporterCredential, TestRelay, WAIT};

/// Heartbeat the tests run with; the node TTL is [`TEST_TTL`].
pub const TEST_HEARTBEAT: Duration = Duration::from_millis(200);
/// A node not heard from for this long is gone.
pub const TEST_TTL: Duration = Duration::from_millis(800);

/// Where the Debian package puts the broker.
pub fn nats_server_binary() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/nats-server", "/usr/bin/nats-server"];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("nats-server"))
                    .find(|p| p.exists())
            })
        })
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `nats-server` child process on loopback; killed on drop.
pub struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    /// Its port.
    pub port: u16,
}

impl NatsServer {
    /// Starts a broker on a free port, or prints `SKIPPED` and returns `None`.
    pub async fn start(test: &str) -> Option<Self> {
        let Some(binary) = nats_server_binary() else {
            eprintln!(
                "SKIPPED {test}: nats-server not installed (apt-get install -y nats-server; scripts/install-test-deps)"
            );
            return None;
        };
        let mut server = Self {
            binary,
            child: None,
            port: free_port(),
        };
        server.run().await;
        Some(server)
    }

    async fn run(&mut self) {
        // Core NATS only: no `-js` (JetStream), no store directory, monitoring off.
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-m", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server never listened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.run().await;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cluster settings tests use: fast heartbeat and TTL.
pub fn test_cluster(url: &str) -> ClusterConfig {
    let mut cluster = ClusterConfig::new(url);
    cluster.heartbeat = TEST_HEARTBEAT;
    cluster.node_ttl = TEST_TTL;
    cluster.request_timeout = Duration::from_secs(1);
    cluster
}

/// An in-process relay node joined to `url`.
pub async fn start_node(programs: Vec<ProgramConfig>, limits: Limits, url: &str) -> TestRelay {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().expect("addr"), programs);
    config.limits = limits;
    config.cluster = Some(test_cluster(url));
    TestRelay::start_with(config).await
}

/// Waits until `relay`'s stats pass `check` (bounded by `within`).
pub async fn wait_for(
    relay: &TestRelay,
    within: Duration,
    check: impl Fn(&RelayStats) -> bool,
) -> RelayStats {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let stats = relay.stats().await;
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

/// A connected, verified peer with the given capacity (availability set and confirmed).
pub async fn peer_on(
    relay: &TestRelay,
    program: &str,
    credential: &SupporterCredential,
    capacity: u16,
    auto_accept: bool,
) -> Peer {
    let mut peer = Peer::connect(
        &relay.ws_url(),
        program,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .expect("peer connects");
    peer.set_availability(AvailabilitySettings {
        capacity,
        auto_accept,
        ..AvailabilitySettings::default()
    })
    .await
    .expect("availability");
    crate::sdk_support::peer_until(&mut peer, |e| {
        matches!(e, confidant_client::PeerEvent::AvailabilitySet { .. }).then_some(())
    })
    .await;
    peer
}

/// A connected seeker.
pub async fn seeker_on(relay: &TestRelay, program: &str, fixture: &ProgramFixture) -> Seeker {
    Seeker::connect(
        &relay.ws_url(),
        program,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .expect("seeker connects")
}

/// A `confidant-relay` process joined to `url` (test heartbeat and TTL, 2 s drain
/// deadline), with its config in `dir` (one directory per node).
pub fn binary_node(
    url: &str,
    fixture: &ProgramFixture,
    dir: &std::path::Path,
) -> crate::ops_support::RelayProcess {
    let extra = format!(
        "shutdown_deadline_secs = 2\n[cluster]\nnats_url = \"{url}\"\nheartbeat_ms = {}\nnode_ttl_ms = {}\n",
        TEST_HEARTBEAT.as_millis(),
        TEST_TTL.as_millis()
    );
    let config = crate::ops_support::write_config(dir, fixture, &extra, "Help line");
    crate::ops_support::RelayProcess::start(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "--lock-memory",
            "false",
        ],
        &[],
    )
}

/// A raw peer (capacity 1, answers offers itself) on `peer_url` and a raw seeker on
/// `seeker_url` are matched and exchange messages that name `label`, each checking it got
/// exactly the other's words (a wrong partner would not know them); then the seeker ends
/// the chat. Returns how long the match took from `seek`.
pub async fn chat_once(
    peer_url: &str,
    seeker_url: &str,
    program: &str,
    credential: &SupporterCredential,
    label: &str,
) -> Duration {
    use confidant_proto::{ChatEndReason, ClientFrame, SeekPreferences};
    let mut peer = crate::ops_support::peer_at(peer_url, program, credential).await;
    peer.available(1, false).await;
    let mut seeker = crate::ops_support::seeker_at(seeker_url, program).await;
    let started = std::time::Instant::now();
    seeker.seek(SeekPreferences::default()).await;
    // Generous: the seeker's node hears of the peer with the next presence.
    let offer = tokio::time::timeout(Duration::from_secs(10), peer.offer())
        .await
        .unwrap_or_else(|_| panic!("{label}: no offer"));
    let p_chat = peer.accept(offer).await;
    let s_chat = seeker.matched().await;
    let took = started.elapsed();
    for i in 0..3 {
        let words = format!("{label}: seeker says {i}");
        seeker.send_data(s_chat, words.as_bytes()).await;
        assert_eq!(peer.data().await, (p_chat, words.into_bytes()), "{label}");
        let words = format!("{label}: peer says {i}");
        peer.send_data(p_chat, words.as_bytes()).await;
        assert_eq!(seeker.data().await, (s_chat, words.into_bytes()), "{label}");
    }
    seeker.send(&ClientFrame::End { chat: s_chat }).await;
    assert_eq!(seeker.chat_ended().await, (s_chat, ChatEndReason::Ended));
    assert_eq!(
        peer.chat_ended().await,
        (p_chat, ChatEndReason::PartnerEnded)
    );
    seeker.close().await;
    peer.close().await;
    took
}

/// An in-process relay node joined to `url` with cluster settings changed by `tune` (e.g. a
/// reservation timeout too short for the peer's node to answer in).
pub async fn start_node_with(
    programs: Vec<ProgramConfig>,
    limits: Limits,
    url: &str,
    tune: impl FnOnce(&mut ClusterConfig),
) -> TestRelay {
    let mut config = RelayConfig::new("127.0.0.1:0".parse().expect("addr"), programs);
    config.limits = limits;
    let mut cluster = test_cluster(url);
    tune(&mut cluster);
    config.cluster = Some(cluster);
    TestRelay::start_with(config).await
}

/// Waits (bounded by 2 s) until none of `nodes` holds a chat or a unit of capacity, and
/// checks none has an open offer left: what every cross-node failure must leave behind.
pub async fn nothing_held(nodes: &[(&TestRelay, &str)]) {
    for (node, name) in nodes {
        let stats = wait_for(node, Duration::from_secs(2), |s| {
            s.active_chats == 0 && s.capacity_in_use == 0
        })
        .await;
        assert_eq!(stats.open_offers, 0, "{name}: {stats:?}");
    }
}
