//! Scale-out through a real `nats-server`: a seeker on node A chats with a peer on node B,
//! end to end through the SDK (Noise runs through both relays and the broker).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_client::{EndReason, PeerEvent, SeekPreferences, SeekerEvent};
use confidant_tests::cluster_support::{NatsServer, peer_on, seeker_on, start_node, wait_for};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeker_on_a_chats_with_peer_on_b() {
    let Some(nats) = NatsServer::start("seeker_on_a_chats_with_peer_on_b").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let b = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let credential = fixture.supporter();
    let mut peer = peer_on(&b, PROGRAM, &credential, 1, false).await;
    // A learns of B's peer from B's presence.
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;

    let mut seeker = seeker_on(&a, PROGRAM, &fixture).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let (offer, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Offer { offer, .. } => Some(*offer),
        _ => None,
    })
    .await;
    peer.accept(offer).await.unwrap();
    let (verified, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Matched { peer } => Some(peer.clone()),
        _ => None,
    })
    .await;
    assert_eq!(verified.display_name, "Dr. Test Peer");
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;

    // Both ways, and a round-trip figure for the report.
    let mut round_trips = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        seeker.send_text(format!("ping {i}")).await.unwrap();
        let (text, _) = peer_until(&mut peer, |e| match e {
            PeerEvent::Message { chat: c, text } if *c == chat => Some(text.clone()),
            _ => None,
        })
        .await;
        assert_eq!(text, format!("ping {i}"));
        peer.send_text(chat, format!("pong {i}")).await.unwrap();
        let (text, _) = seeker_until(&mut seeker, |e| match e {
            SeekerEvent::Message(text) => Some(text.clone()),
            _ => None,
        })
        .await;
        assert_eq!(text, format!("pong {i}"));
        round_trips.push(started.elapsed());
    }
    round_trips.sort();
    eprintln!(
        "cross-node round trip (seeker→A→broker→B→peer→B→broker→A→seeker): median {:?}, max {:?}",
        round_trips[round_trips.len() / 2],
        round_trips[round_trips.len() - 1]
    );

    // B's capacity is in use: A offers nothing more (B's presence says free = 0).
    let b_stats = b.stats().await;
    assert_eq!(b_stats.capacity_in_use, 1);

    seeker.end().await.unwrap();
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(reason, EndReason::PartnerEnded), "{reason:?}");
    // Every trace of the chat is gone on both nodes; B's capacity is free again.
    wait_for(&a, Duration::from_secs(5), |s| {
        s.active_chats == 0 && s.capacity_in_use == 0
    })
    .await;
    wait_for(&b, Duration::from_secs(5), |s| {
        s.active_chats == 0 && s.capacity_in_use == 0
    })
    .await;
}
