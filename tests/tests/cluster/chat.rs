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

/// A seeker on B stops reading while a peer on A floods: B's node cannot take the frames
/// off the broker (NATS core has no back-pressure), so the chat ends as `slow_reader` on
/// both sides — long before B's (deliberately long) slow-reader grace — and the seeker,
/// reading at last, finds only its own chat's frames, then the end: never a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_flood_into_a_stalled_reader_ends_as_slow_reader() {
    use confidant_proto::limits::MAX_NOISE_MESSAGE;
    use confidant_proto::{ChatEndReason, RelayFrame};
    use confidant_tests::Received;
    use confidant_tests::ops_support::{peer_at, seeker_at};

    let Some(nats) = NatsServer::start("cross_node_flood_into_a_stalled_reader").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.frames_per_second = 1_000_000;
    limits.frame_burst = 1_000_000;
    let a = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    // B's grace is far longer than the test takes: only the overflow can end the chat.
    let grace = Duration::from_secs(60);
    limits.slow_reader_grace = grace;
    let b = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let credential = fixture.supporter();
    let mut peer = peer_at(&a.ws_url(), PROGRAM, &credential).await;
    peer.available(1, false).await;
    wait_for(&b, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker = seeker_at(&b.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let p_chat = peer.accept(offer).await;
    let s_chat = seeker.matched().await;
    // The seeker's msg1 first: a peer may not send on a chat before it (proto/spec.md).
    seeker.send_data(s_chat, &[0x42; 48]).await;
    assert_eq!(peer.data().await.0, p_chat);

    let started = Instant::now();
    let frame = vec![1_u8; MAX_NOISE_MESSAGE];
    let writer = tokio::spawn(async move {
        for _ in 0..2_000 {
            peer.send_data(p_chat, &frame).await;
        }
        peer
    });
    let mut peer = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the flood is never blocked for long")
        .unwrap();
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::SlowReader);
    let told = started.elapsed();
    eprintln!("cross-node flood into a stalled reader: peer told slow_reader after {told:?}");
    assert!(told < grace / 2, "{told:?}");
    let mut frames = 0_usize;
    loop {
        match seeker.recv().await {
            Received::Data(bytes) => {
                assert_eq!(bytes[..4], s_chat.0.to_be_bytes());
                frames += 1;
            }
            Received::Frame(RelayFrame::ChatEnded { reason, .. }) => {
                assert_eq!(reason, ChatEndReason::SlowReader);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    eprintln!("the seeker read {frames} frames, then chat_ended{{slow_reader}}");
    wait_for(&a, Duration::from_secs(5), |s| s.active_chats == 0).await;
    wait_for(&b, Duration::from_secs(5), |s| s.active_chats == 0).await;
}
