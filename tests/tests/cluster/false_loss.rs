//! A node let go while it is still alive (its presence came late: a busy machine, a slow
//! broker path, a TTL set too tight). The node that lets the other go ends its half of
//! every chat with it; the other half, on the node still running, must end too, at once —
//! otherwise its client sits in a chat nobody will ever write to, and a peer's capacity
//! stays taken for good. Both directions: the peer's node let go by the seeker's node, and
//! the seeker's node let go by the peer's node. Afterwards the nodes find each other again
//! and the freed capacity is offered anew.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, ChatNumber, RelayFrame, SeekPreferences};
use confidant_tests::cluster_support::{
    NatsServer, TEST_HEARTBEAT, TEST_TTL, nothing_held, start_node_with, wait_for,
};
use confidant_tests::ops_support::{peer_at, seeker_at};
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// TTL, one heartbeat for the check, and slack for a loaded machine.
fn bound() -> Duration {
    TEST_TTL + TEST_HEARTBEAT + Duration::from_millis(700)
}

/// Which node goes quiet.
#[derive(Clone, Copy, Debug)]
enum Quiet {
    PeersNode,
    SeekersNode,
}

/// A seeker on `a` matched with the capacity-1 `peer` on another node; one data frame
/// each way. Returns (seeker, seeker's chat, peer's chat).
async fn chat_across(a: &TestRelay, peer: &mut RawClient) -> (RawClient, ChatNumber, ChatNumber) {
    wait_for(a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker = seeker_at(&a.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let p_chat = peer.accept(offer).await;
    let s_chat = seeker.matched().await;
    seeker.send_data(s_chat, b"seeker's words").await;
    assert_eq!(peer.data().await, (p_chat, b"seeker's words".to_vec()));
    peer.send_data(p_chat, b"peer's words").await;
    assert_eq!(seeker.data().await, (s_chat, b"peer's words".to_vec()));
    (seeker, s_chat, p_chat)
}

/// Waits (bounded) for `chat_ended` of `chat` on `client`, skipping `queued` updates.
async fn told_within(client: &mut RawClient, chat: ChatNumber, within: Duration, who: &str) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.recv_within(left).await {
            Some(Received::Frame(RelayFrame::ChatEnded {
                chat: ended,
                reason,
            })) => {
                assert_eq!(ended, chat, "{who}");
                assert_eq!(reason, ChatEndReason::PartnerLeft, "{who}");
                return;
            }
            Some(Received::Frame(RelayFrame::Queued { .. })) => {}
            Some(other) => panic!("{who}: expected chat_ended, got {other:?}"),
            None => panic!("{who} was never told the chat ended (waited {within:?})"),
        }
    }
}

async fn let_go_while_alive(quiet: Quiet) {
    let Some(nats) = NatsServer::start(&format!("let_go_while_alive_{quiet:?}")).await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let (mute_a, mute_b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (ma, mb) = (mute_a.clone(), mute_b.clone());
    // A holds the seekers, B the peer.
    let a = start_node_with(
        vec![fixture.program_config()],
        test_limits(),
        &nats.url(),
        |c| {
            c.faults.mute_presence = Some(ma);
        },
    )
    .await;
    let b = start_node_with(
        vec![fixture.program_config()],
        test_limits(),
        &nats.url(),
        |c| {
            c.faults.mute_presence = Some(mb);
        },
    )
    .await;
    let credential = fixture.supporter();
    let mut peer = peer_at(&b.ws_url(), PROGRAM, &credential).await;
    peer.available(1, false).await;
    let (mut seeker, s_chat, p_chat) = chat_across(&a, &mut peer).await;

    // One node goes quiet; the other lets it go at the TTL and ends its half of the chat.
    let mute = match quiet {
        Quiet::PeersNode => &mute_b,
        Quiet::SeekersNode => &mute_a,
    };
    mute.store(true, Ordering::Relaxed);
    let muted = Instant::now();
    let (first, second) = match quiet {
        Quiet::PeersNode => ((&mut seeker, s_chat, "seeker"), (&mut peer, p_chat, "peer")),
        Quiet::SeekersNode => ((&mut peer, p_chat, "peer"), (&mut seeker, s_chat, "seeker")),
    };
    told_within(first.0, first.1, bound(), first.2).await;
    let let_go = muted.elapsed();
    // The half on the node that is still running ends too, and without waiting for the
    // quiet node to miss anything itself (it never does: it hears every heartbeat).
    told_within(second.0, second.1, Duration::from_millis(500), second.2).await;
    eprintln!(
        "{quiet:?} quiet: the {} was told after {let_go:?}, the {} {:?} later",
        first.2,
        second.2,
        muted.elapsed().saturating_sub(let_go)
    );
    // Neither node keeps anything of the chat: the peer's capacity is free.
    nothing_held(&[(&a, "A"), (&b, "B")]).await;

    // The quiet node speaks again: the nodes find each other and the peer, free again, is
    // offered the next seeker on A.
    mute.store(false, Ordering::Relaxed);
    seeker.close().await;
    let (mut again, s_chat, p_chat) = chat_across(&a, &mut peer).await;
    again.send_data(s_chat, b"and again").await;
    assert_eq!(peer.data().await, (p_chat, b"and again".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_node_let_go_while_alive_ends_its_chats_on_both_nodes() {
    let_go_while_alive(Quiet::PeersNode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seekers_node_let_go_while_alive_ends_its_chats_on_both_nodes() {
    let_go_while_alive(Quiet::SeekersNode).await;
}

/// The same false alarm while a seeker on A has an open offer with a peer on B (the peer
/// has not answered yet): A withdraws its reservation as it lets B go, so B takes the offer
/// back from its peer at once — not when the offer would time out (30 s on B here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_offer_is_withdrawn_when_its_seekers_node_lets_the_peers_node_go() {
    let Some(nats) = NatsServer::start("open_offer_let_go").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mute_b = Arc::new(AtomicBool::new(false));
    let mb = mute_b.clone();
    let a = start_node_with(
        vec![fixture.program_config()],
        test_limits(),
        &nats.url(),
        |_| {},
    )
    .await;
    let mut b_limits = test_limits();
    b_limits.offer_timeout = Duration::from_secs(30);
    let b = start_node_with(vec![fixture.program_config()], b_limits, &nats.url(), |c| {
        c.faults.mute_presence = Some(mb);
    })
    .await;
    let credential = fixture.supporter();
    let mut peer = peer_at(&b.ws_url(), PROGRAM, &credential).await;
    peer.available(1, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker = seeker_at(&a.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;

    mute_b.store(true, Ordering::Relaxed);
    let muted = Instant::now();
    match peer.recv_within(bound()).await {
        Some(Received::Frame(RelayFrame::OfferWithdrawn { offer: gone, .. })) => {
            assert_eq!(gone, offer);
        }
        other => panic!("the peer kept an offer whose seeker's node let its node go: {other:?}"),
    }
    eprintln!(
        "offer withdrawn on B {:?} after B fell silent",
        muted.elapsed()
    );
    wait_for(&b, Duration::from_secs(2), |s| {
        s.open_offers == 0 && s.capacity_in_use == 0
    })
    .await;
    // The seeker keeps its place on A and is offered again once B is heard again.
    mute_b.store(false, Ordering::Relaxed);
    let again = peer.offer().await;
    let p_chat = peer.accept(again).await;
    let s_chat = seeker.matched().await;
    seeker.send_data(s_chat, b"after the false alarm").await;
    assert_eq!(
        peer.data().await,
        (p_chat, b"after the false alarm".to_vec())
    );
}
