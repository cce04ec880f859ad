//! A revocation list installed on one node reaches the others in its presence: each checks
//! it itself (never trusting the sending node) and takes the revoked peer offline — on the
//! peer's own node, where its chat ends as `revoked` and its connection is refused, and as
//! a remote peer everywhere else. The lists every node repeats each heartbeat are not
//! checked again (only one that could replace the stored list is).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, SeekPreferences};
use confidant_tests::cluster_support::{NatsServer, TEST_HEARTBEAT, start_node, wait_for};
use confidant_tests::ops_support::{peer_at, seeker_at};
use confidant_tests::{ProgramFixture, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_installed_on_one_node_revokes_the_peer_on_another() {
    let Some(nats) = NatsServer::start("list_installed_on_one_node").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let b = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    // Two peers on B; one will be revoked, the other stays.
    let revoked = fixture.supporter();
    let kept = fixture.supporter();
    let mut revoked_peer = peer_at(&b.ws_url(), PROGRAM, &revoked).await;
    revoked_peer.available(1, true).await;
    let mut kept_peer = peer_at(&b.ws_url(), PROGRAM, &kept).await;
    kept_peer.available(1, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 2).await;
    // The peer to be revoked is in a chat with a seeker on B (auto-accept: the first
    // seeker goes to it, the other peer answers nothing).
    let mut seeker = seeker_at(&b.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let s_chat = seeker.matched().await;

    // The operator installs the new list on A only.
    let list = fixture.revoke(&[revoked.serial]);
    a.handle()
        .update_revocation_list(PROGRAM, &list)
        .await
        .unwrap();
    let installed = Instant::now();
    // B hears it in A's next presence and ends the revoked peer's chat.
    let (ended, reason) = tokio::time::timeout(Duration::from_secs(3), seeker.chat_ended())
        .await
        .expect("B never applied the list A installed");
    let took = installed.elapsed();
    eprintln!("list installed on A → chat on B ended as {reason:?} after {took:?}");
    assert_eq!((ended, reason), (s_chat, ChatEndReason::Revoked));
    assert!(
        took <= TEST_HEARTBEAT * 3,
        "took {took:?}, more than three heartbeats"
    );
    // Both nodes now count only the peer that was kept.
    for (node, name) in [(&a, "A"), (&b, "B")] {
        let stats = wait_for(node, Duration::from_secs(3), |s| s.available_peers == 1).await;
        assert_eq!(stats.active_chats, 0, "{name}: {stats:?}");
    }
}
