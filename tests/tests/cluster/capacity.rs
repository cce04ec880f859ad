//! Scale-out capacity through a real `nats-server`, three nodes: two seekers on two nodes
//! race for one peer with capacity 1 on a third. The peer's node grants its capacity once;
//! the other seeker keeps its place and gets the peer when the first chat ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_client::{PeerEvent, SeekPreferences, SeekerEvent};
use confidant_tests::cluster_support::{NatsServer, peer_on, seeker_on, start_node, wait_for};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_capacity_never_oversubscribed_across_three_nodes() {
    let Some(nats) = NatsServer::start("one_peer_capacity_never_oversubscribed").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.offer_timeout = Duration::from_secs(10);
    let a = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let b = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let c = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let credential = fixture.supporter();
    let mut peer = peer_on(&c, PROGRAM, &credential, 1, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    wait_for(&b, Duration::from_secs(5), |s| s.available_peers == 1).await;

    let mut on_a = seeker_on(&a, PROGRAM, &fixture).await;
    let mut on_b = seeker_on(&b, PROGRAM, &fixture).await;
    let (ra, rb) = tokio::join!(
        on_a.seek(SeekPreferences::default()),
        on_b.seek(SeekPreferences::default())
    );
    ra.unwrap();
    rb.unwrap();

    // Exactly one offer reaches the peer; its node never holds more than its capacity.
    let (offer, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Offer { offer, .. } => Some(*offer),
        _ => None,
    })
    .await;
    for _ in 0..10 {
        let stats = c.stats().await;
        assert!(stats.open_offers + stats.capacity_in_use <= 1, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let more =
        confidant_tests::sdk_support::peer_events_within(&mut peer, Duration::from_millis(600))
            .await;
    assert!(
        !more.iter().any(|e| matches!(e, PeerEvent::Offer { .. })),
        "a second offer while capacity was reserved: {more:?}"
    );
    peer.accept(offer).await.unwrap();
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    let stats = c.stats().await;
    assert_eq!(stats.capacity_in_use, 1);
    assert_eq!(stats.open_offers, 0);

    // The chat ends; the other seeker (still queued on its own node) gets the peer.
    peer.end(chat).await.unwrap();
    let (second, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Offer { offer, .. } => Some(*offer),
        _ => None,
    })
    .await;
    peer.accept(second).await.unwrap();
    let matched_a = tokio::time::timeout(Duration::from_secs(5), async {
        seeker_until(&mut on_a, |e| {
            matches!(e, SeekerEvent::Matched { .. }).then_some(())
        })
        .await
    });
    let matched_b = tokio::time::timeout(Duration::from_secs(5), async {
        seeker_until(&mut on_b, |e| {
            matches!(e, SeekerEvent::Matched { .. }).then_some(())
        })
        .await
    });
    let (ma, mb) = tokio::join!(matched_a, matched_b);
    assert!(
        ma.is_ok() && mb.is_ok(),
        "both seekers were matched, one after the other"
    );
    wait_for(&c, Duration::from_secs(3), |s| {
        s.capacity_in_use == 1 && s.open_offers == 0
    })
    .await;
}
