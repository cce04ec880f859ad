//! Faults: clients killed (TCP dropped, no close frame) mid-upgrade, mid-login,
//! mid-handshake and mid-chat; a peer vanishing with ten chats open. Every partner is told,
//! every wait is bounded, and the relay's state tables (`RelayHandle::stats()`, in-process
//! relay) return to zero.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, ClientFrame, RelayFrame, Role, SeekPreferences};
use confidant_tests::abuse_support::Row;
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, test_limits};
use tokio::io::AsyncWriteExt as _;

const PROGRAM: &str = "resident-peer-support";

async fn relay() -> (TestRelay, ProgramFixture) {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    (relay, fixture)
}

/// Regression (found by `abuse_relay.rs`): a peer that left while seekers were queued was
/// handed those seekers as it left — ending its chats freed its capacity before the
/// matcher knew it was gone — so they were `matched` with a connection that no longer
/// existed and their chats stayed in the table until the handshake timeout.
#[tokio::test]
async fn a_leaving_peer_is_never_matched_with_the_queue() {
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, true).await;
    let mut chatting = RawClient::seeker(&relay, PROGRAM).await;
    chatting.seek(SeekPreferences::default()).await;
    assert!(matches!(peer.frame().await, RelayFrame::ChatStarted { .. }));
    chatting.matched().await;
    let mut waiting = RawClient::seeker(&relay, PROGRAM).await;
    waiting.seek(SeekPreferences::default()).await;
    relay.wait_stats(|s| s.queued_seekers == 1).await;
    drop(peer);
    assert_eq!(chatting.chat_ended().await.1, ChatEndReason::PartnerLeft);
    // The waiting seeker stays queued: no `matched` with the peer that is gone.
    if let Some(got) = waiting.recv_within(Duration::from_millis(300)).await {
        assert!(
            matches!(got, Received::Frame(RelayFrame::Queued { .. })),
            "waiting seeker got {got:?}"
        );
    }
    let stats = relay.wait_stats(|s| s.active_chats == 0).await;
    assert_eq!(stats.queued_seekers, 1, "{stats:?}");
    assert_eq!(stats.capacity_in_use, 0, "{stats:?}");
}

/// The same for a peer taken offline by a revocation list: its chats end `revoked` and the
/// queued seeker is not handed to it on its way out.
#[tokio::test]
async fn a_revoked_peer_is_never_matched_with_the_queue() {
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, true).await;
    let mut chatting = RawClient::seeker(&relay, PROGRAM).await;
    chatting.seek(SeekPreferences::default()).await;
    assert!(matches!(peer.frame().await, RelayFrame::ChatStarted { .. }));
    chatting.matched().await;
    let mut waiting = RawClient::seeker(&relay, PROGRAM).await;
    waiting.seek(SeekPreferences::default()).await;
    relay.wait_stats(|s| s.queued_seekers == 1).await;
    let list = fixture.revoke(&[credential.serial]);
    relay
        .handle()
        .update_revocation_list(PROGRAM, &list)
        .await
        .unwrap();
    assert_eq!(chatting.chat_ended().await.1, ChatEndReason::Revoked);
    if let Some(got) = waiting.recv_within(Duration::from_millis(300)).await {
        assert!(
            matches!(got, Received::Frame(RelayFrame::Queued { .. })),
            "waiting seeker got {got:?}"
        );
    }
    let stats = relay.wait_stats(|s| s.active_chats == 0).await;
    assert_eq!(stats.queued_seekers, 1, "{stats:?}");
}

/// Clients killed during the HTTP upgrade: half a request, or a whole request and gone
/// before the answer. Nothing is left behind.
#[tokio::test]
async fn clients_killed_mid_upgrade_leave_nothing() {
    const EACH: usize = 20;
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    let started = Instant::now();
    for i in 0..2 * EACH {
        let mut tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
        let request = confidant_tests::abuse_support::upgrade_request(relay.addr, "");
        let bytes = if i % 2 == 0 {
            &request.as_bytes()[..request.len() / 2]
        } else {
            request.as_bytes()
        };
        tcp.write_all(bytes).await.unwrap();
        drop(tcp);
    }
    // The chat alongside goes on, and the tables hold only it.
    seeker.send_data(s_chat, b"still here").await;
    assert_eq!(peer.data().await, (p_chat, b"still here".to_vec()));
    relay
        .wait_stats(|s| s.connections == 2 && s.registered_connections == 2 && s.active_chats == 1)
        .await;
    Row {
        attack: "Clients killed mid-upgrade: 20 half requests and 20 whole requests dropped before the answer",
        outcome: "nothing registered or left; the chat alongside goes on".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: format!("tables back to the chat's 2 connections within {:.2} s", started.elapsed().as_secs_f64()),
    }
    .print();
}

/// Clients killed (TCP dropped, no close frame) at every step of a peer's login and a
/// seeker's wait: nothing stays registered, an offer to a vanished seeker is withdrawn.
#[tokio::test]
async fn clients_killed_mid_login_and_mid_wait_leave_nothing() {
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    // Peer after hello, after present (challenged), after verified, after available.
    for step in 0..4 {
        let mut peer = RawClient::connect(&relay).await;
        peer.hello(Role::Peer, PROGRAM).await;
        peer.frame().await;
        if step >= 1 {
            peer.send(&credential.present_frame()).await;
            let RelayFrame::Challenge { challenge } = peer.frame().await else {
                panic!("expected a challenge")
            };
            if step >= 2 {
                peer.send(&ClientFrame::Prove {
                    answer: credential.answer(challenge.as_bytes()).into(),
                })
                .await;
                peer.frame().await;
            }
            if step >= 3 {
                peer.available(2, false).await;
            }
        }
        drop(peer);
        relay.wait_idle(0).await;
    }
    // A seeker killed while its offer is out: the peer is told `seeker_left`.
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    drop(seeker);
    match peer.frame().await {
        RelayFrame::OfferWithdrawn { offer: o, reason } => {
            assert_eq!(o, offer);
            assert_eq!(reason, confidant_proto::OfferWithdrawnReason::SeekerLeft);
        }
        other => panic!("expected offer_withdrawn, got {other:?}"),
    }
    relay.wait_idle(1).await;
    Row {
        attack: "Clients killed mid-login (peer after hello / present / prove / availability) and mid-wait (seeker with an offer out)",
        outcome: "registrations dropped at once; the peer gets `offer_withdrawn{seeker_left}`".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: "tables empty after each".into(),
    }
    .print();
}

/// Killed mid-handshake (after msg1) and mid-chat (with frames in flight), from either
/// side: the partner gets what was already sent, then `chat_ended{partner_left}`.
#[tokio::test]
async fn clients_killed_mid_handshake_and_mid_chat_end_the_chat() {
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(2, false).await;
    // Seeker sends msg1 and dies before msg2.
    let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    seeker.send_data(s_chat, b"noise msg1").await;
    assert_eq!(peer.data().await, (p_chat, b"noise msg1".to_vec()));
    drop(seeker);
    assert_eq!(
        peer.chat_ended().await,
        (p_chat, ChatEndReason::PartnerLeft)
    );
    // Seeker dies mid-chat with five frames in flight: all five arrive, then the end.
    let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    for i in 0..5_u8 {
        seeker.send_data(s_chat, &[i; 300]).await;
    }
    drop(seeker);
    for i in 0..5_u8 {
        assert_eq!(peer.data().await, (p_chat, vec![i; 300]));
    }
    assert_eq!(
        peer.chat_ended().await,
        (p_chat, ChatEndReason::PartnerLeft)
    );
    relay.wait_idle(1).await;
    // The peer dies after the seeker's msg1 (before msg2): the seeker is told.
    let (mut seeker, s_chat, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    seeker.send_data(s_chat, b"noise msg1").await;
    drop(peer);
    assert_eq!(
        seeker.chat_ended().await,
        (s_chat, ChatEndReason::PartnerLeft)
    );
    relay.wait_idle(1).await;
    Row {
        attack: "Clients killed mid-handshake (after msg1) and mid-chat (5 frames in flight), either side",
        outcome: "frames already sent are delivered, then `chat_ended{partner_left}` to the survivor".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: "tables empty after each".into(),
    }
    .print();
}

/// A peer with ten chats open vanishes: all ten seekers are told `partner_left`, quickly,
/// and the tables return to zero.
#[tokio::test]
async fn a_peer_vanishing_with_ten_chats_tells_all_ten() {
    const CHATS: usize = 10;
    let (relay, mut fixture) = relay().await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(CHATS as u16, false).await;
    let mut seekers = Vec::new();
    for _ in 0..CHATS {
        let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
        seeker.send_data(s_chat, b"msg1").await;
        assert_eq!(peer.data().await.0, p_chat);
        seekers.push((seeker, s_chat));
    }
    relay
        .wait_stats(|s| s.active_chats == CHATS && s.capacity_in_use == CHATS)
        .await;
    let started = Instant::now();
    drop(peer);
    for (seeker, chat) in &mut seekers {
        assert_eq!(
            seeker.chat_ended().await,
            (*chat, ChatEndReason::PartnerLeft)
        );
    }
    let told = started.elapsed();
    relay.wait_idle(CHATS).await;
    let stats = relay.stats().await;
    assert_eq!(stats.available_peers, 0);
    Row {
        attack: "A peer with 10 chats open vanishes (TCP dropped)",
        outcome: "all 10 seekers get `chat_ended{partner_left}`; chat table, capacity and peer list back to zero".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: format!("all 10 told within {:.1} ms", told.as_secs_f64() * 1e3),
    }
    .print();
}
