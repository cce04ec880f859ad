//! A node's presence lists only its own peers. Another node's peers are virtual peers here;
//! echoed back, their own node would count each twice (its `available_peers` above its
//! real peers) and could offer its seekers to a phantom. The risky moment is when a node
//! lets another go (TTL) and ends all its virtual peers at once, just before it sends its
//! own presence.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use confidant_tests::cluster_support::{
    NatsServer, peer_on, start_node, start_node_with, wait_for,
};
use confidant_tests::{ProgramFixture, test_limits};

const PROGRAM: &str = "resident-peer-support";
const PEERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_never_counts_its_own_peers_echoed_back() {
    let Some(nats) = NatsServer::start("own_peers_echoed_back").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let limits = test_limits();
    let a = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let mute = Arc::new(AtomicBool::new(false));
    let b = start_node_with(vec![fixture.program_config()], limits, &nats.url(), |c| {
        c.faults.mute_presence = Some(mute.clone());
    })
    .await;
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        let credential = fixture.supporter();
        peers.push(peer_on(&b, PROGRAM, &credential, 1, true).await);
    }
    for round in 0..5 {
        wait_for(&a, Duration::from_secs(5), |s| s.available_peers == PEERS).await;
        // B goes quiet: A lets it go at the TTL, ending its six virtual peers at once.
        mute.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut a_dropped = false;
        while tokio::time::Instant::now() < deadline {
            let on_b = b.stats().await.available_peers;
            assert!(
                on_b <= PEERS,
                "round {round}: B counts {on_b} available peers with {PEERS} connected"
            );
            if !a_dropped && a.stats().await.available_peers == 0 {
                a_dropped = true;
                // A few more of A's heartbeats, each of which could echo.
                let more = tokio::time::Instant::now() + Duration::from_millis(600);
                while tokio::time::Instant::now() < more {
                    let on_b = b.stats().await.available_peers;
                    assert!(
                        on_b <= PEERS,
                        "round {round}: B counts {on_b} available peers with {PEERS} connected"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(a_dropped, "round {round}: A never let the quiet node go");
        mute.store(false, Ordering::Relaxed);
    }
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == PEERS).await;
    let stats = b.stats().await;
    assert_eq!(stats.available_peers, PEERS, "{stats:?}");
}
