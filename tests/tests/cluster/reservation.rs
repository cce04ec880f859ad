//! A capacity reservation the seeker's node gave up on (its `request_timeout` passed before
//! the peer's node answered) must not leave the peer with a chat whose seeker is gone: the
//! seeker's node withdraws the reference at the timeout and the peer's node drops a grant
//! for a withdrawn reference before it creates the chat; a `matched` that still arrives for
//! a reference the seeker's node no longer knows is answered with `end`, so the peer's
//! capacity is never held by a chat nobody is in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_client::{Peer, PeerEvent, SeekPreferences, Seeker, SeekerEvent};
use confidant_proto::{ChatEndReason, ChatNumber, ClientFrame, RelayFrame};
use confidant_relay::ClusterConfig;
use confidant_tests::cluster_support::{
    NatsServer, nothing_held, peer_on, seeker_on, start_node_with, wait_for,
};
use confidant_tests::ops_support::{peer_at, seeker_at};
use confidant_tests::sdk_support::{peer_events_within, peer_until, seeker_events_within};
use confidant_tests::{ProgramFixture, RawClient, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// Node A, whose reservations time out after 300 ms, and node B tuned by `tune_b`; an
/// auto-accepting peer of capacity 1 on B, seen by A; a seeker on A who has just sought.
async fn seeking_across(
    nats: &NatsServer,
    tune_b: impl FnOnce(&mut ClusterConfig),
) -> (TestRelay, TestRelay, Peer, Seeker) {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let limits = test_limits();
    let a = start_node_with(vec![fixture.program_config()], limits, &nats.url(), |c| {
        c.request_timeout = Duration::from_millis(300);
    })
    .await;
    let b = start_node_with(vec![fixture.program_config()], limits, &nats.url(), tune_b).await;
    let credential = fixture.supporter();
    let peer = peer_on(&b, PROGRAM, &credential, 1, true).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let seeker = seeker_on(&a, PROGRAM, &fixture).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    (a, b, peer, seeker)
}

/// Nodes A and B tuned by `tune_a` / `tune_b`; a raw auto-accepting peer of capacity 1 on
/// B, seen by A; a raw seeker on A who seeks. Returns once B has started the chat (the
/// peer's `chat_started`), with the peer's chat number.
async fn chat_started_across(
    nats: &NatsServer,
    tune_a: impl FnOnce(&mut ClusterConfig),
    tune_b: impl FnOnce(&mut ClusterConfig),
) -> (TestRelay, TestRelay, RawClient, RawClient, ChatNumber) {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let limits = test_limits();
    let a = start_node_with(vec![fixture.program_config()], limits, &nats.url(), tune_a).await;
    let b = start_node_with(vec![fixture.program_config()], limits, &nats.url(), tune_b).await;
    let credential = fixture.supporter();
    let mut peer = peer_at(&b.ws_url(), PROGRAM, &credential).await;
    peer.available(1, true).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker = seeker_at(&a.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let chat = match peer.frame().await {
        RelayFrame::ChatStarted { chat, .. } => chat,
        other => panic!("expected chat_started, got {other:?}"),
    };
    (a, b, peer, seeker, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_reservation_never_hands_the_peer_a_phantom_chat() {
    let Some(nats) = NatsServer::start("timed_out_reservation").await else {
        return;
    };
    // Node B (a stalled hub, simulated) takes 600 ms to grant a reservation, so A has given
    // up — and treats it as refused — before B grants.
    let (_a, b, mut peer, mut seeker) = seeking_across(&nats, |c| {
        c.faults.reserve_delay = Some(Duration::from_millis(600));
    })
    .await;
    // About a dozen reservations (one per presence, 200 ms) in this window.
    let (peer_events, seeker_events) = tokio::join!(
        peer_events_within(&mut peer, Duration::from_secs(3)),
        seeker_events_within(&mut seeker, Duration::from_secs(3))
    );
    let started = peer_events
        .iter()
        .filter(|e| matches!(e, PeerEvent::ChatStarted { .. }))
        .count();
    let ended: Vec<_> = peer_events
        .iter()
        .filter(|e| matches!(e, PeerEvent::Ended { .. }))
        .collect();
    let matched = seeker_events
        .iter()
        .any(|e| matches!(e, SeekerEvent::Matched { .. }));
    // The only chat the peer may see is one its seeker really joined (B answered within
    // the 1 ms after all); never one that ends at once because A had given up.
    assert!(
        ended.is_empty(),
        "the peer was handed a chat whose seeker was gone: {peer_events:?}"
    );
    assert!(
        started == 0 || matched,
        "the peer has a chat its seeker never joined: {peer_events:?} / {seeker_events:?}"
    );
    // B's capacity is not held by a chat nobody is in.
    let stats = b.stats().await;
    assert!(
        stats.capacity_in_use == 0 || matched,
        "the peer's capacity is held by a phantom chat: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_crosses_the_withdrawal_ends_at_once_and_frees_the_peer() {
    let Some(nats) = NatsServer::start("grant_crosses_withdrawal").await else {
        return;
    };
    // B grants at once (auto-accept: the chat exists on B) but its answer and its `matched`
    // leave only after A gave up: the crossing the withdrawal cannot prevent.
    let (_a, b, mut peer, mut seeker) = seeking_across(&nats, |c| {
        c.faults.matched_delay = Some(Duration::from_millis(600));
    })
    .await;
    // The peer sees the chat B granted, and then its end — it is not left holding it.
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatStarted { chat, .. } => Some(*chat),
        _ => None,
    })
    .await;
    let ended = tokio::time::timeout(
        Duration::from_secs(3),
        peer_until(&mut peer, |e| match e {
            PeerEvent::Ended { chat: ended, .. } if *ended == chat => Some(()),
            _ => None,
        }),
    )
    .await;
    assert!(
        ended.is_ok(),
        "the peer kept a chat its seeker's node had given up on"
    );
    // B's capacity is free again (the next attempt may already hold it as an offer or a
    // chat that is again ended: never one that lasts).
    let events = seeker_events_within(&mut seeker, Duration::from_millis(300)).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SeekerEvent::Matched { .. })),
        "the seeker was matched with a chat its node had given up on: {events:?}"
    );
    wait_for(&b, Duration::from_secs(3), |s| s.capacity_in_use == 0).await;
}

/// The peer's node tells the seeker's node `matched`, and the peer ends the chat at once:
/// the `end` arrives on the chat's subject while the seeker's node is still starting the
/// chat (the token is not bound yet). It is held for the chat, not dropped: the seeker is
/// told the chat ended within moments, not at the handshake timeout (10 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_that_overtakes_the_chat_start_is_not_lost() {
    let Some(nats) = NatsServer::start("end_overtakes_chat_start").await else {
        return;
    };
    // B holds its answer and its `matched` 300 ms after the grant (A waits up to 1 s for the
    // answer here), so the peer has ended its chat by the time `matched` goes, and B's
    // `end` follows right behind it.
    let (a, b, mut peer, mut seeker, chat) = chat_started_across(
        &nats,
        |_| {},
        |c| c.faults.matched_delay = Some(Duration::from_millis(300)),
    )
    .await;
    peer.send(&ClientFrame::End { chat }).await;
    let ended_at = std::time::Instant::now();
    assert_eq!(peer.chat_ended().await, (chat, ChatEndReason::Ended));
    let s_chat = seeker.matched().await;
    let told = tokio::time::timeout(Duration::from_secs(2), seeker.chat_ended()).await;
    let Ok((ended, reason)) = told else {
        panic!("the seeker was not told its chat ended (the peer's end was lost)");
    };
    eprintln!(
        "seeker told {:?} after the peer's end: {reason:?}",
        ended_at.elapsed()
    );
    assert_eq!(ended, s_chat);
    assert_eq!(reason, ChatEndReason::PartnerEnded);
    nothing_held(&[(&a, "A"), (&b, "B")]).await;
}

/// The seeker leaves in the moment between the peer's node saying `matched` (the chat
/// exists there) and the seeker's node starting the chat: the seeker's node ends the chat
/// on the peer's node at once, so the peer is not left in it until the handshake timeout
/// (10 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeker_who_leaves_as_the_match_arrives_does_not_strand_the_peer() {
    let Some(nats) = NatsServer::start("seeker_leaves_as_match_arrives").await else {
        return;
    };
    // A waits 500 ms between B's `matched` and accepting: the seeker cancels in between.
    let (a, b, mut peer, mut seeker, chat) = chat_started_across(
        &nats,
        |c| c.faults.accept_delay = Some(Duration::from_millis(500)),
        |_| {},
    )
    .await;
    // B has the chat, and its `matched` reaches A within moments; A then holds its accept
    // for 500 ms. The seeker leaves the queue in the middle of that.
    tokio::time::sleep(Duration::from_millis(200)).await;
    seeker.send(&ClientFrame::Cancel {}).await;
    let cancelled = std::time::Instant::now();
    let told = tokio::time::timeout(Duration::from_secs(3), peer.chat_ended()).await;
    let Ok((ended, reason)) = told else {
        panic!("the peer was left in a chat whose seeker had gone");
    };
    eprintln!(
        "seeker left as the match arrived → peer told {:?} later: {reason:?}",
        cancelled.elapsed()
    );
    assert_eq!(ended, chat);
    nothing_held(&[(&a, "A"), (&b, "B")]).await;
    for node in [&a, &b] {
        wait_for(node, Duration::from_secs(2), |s| s.queued_seekers == 0).await;
    }
}
