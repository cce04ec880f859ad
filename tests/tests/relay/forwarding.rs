//! Forwarding and teardown: data both ways with header rewrite, end/block/disconnect from
//! each side, timeouts, slow reader, revocation, and the state tables emptied afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_proto::limits::MAX_NOISE_MESSAGE;
use confidant_proto::{ChatEndReason, ChatNumber, ClientFrame, ErrorCode, SeekPreferences};
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn setup(limits: confidant_relay::Limits) -> (TestRelay, ProgramFixture, RawClient) {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(4, false).await;
    (relay, fixture, peer)
}

#[tokio::test]
async fn data_flows_both_ways_with_rewritten_headers_in_order() {
    let (relay, _fixture, mut peer) = setup(test_limits()).await;
    // Give the peer a first chat so its chat numbers differ from the seeker's.
    let (_other, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    let (mut seeker, seeker_chat, peer_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    assert_eq!(seeker_chat, ChatNumber(1));
    assert_eq!(peer_chat, ChatNumber(2));
    for i in 0..20_u8 {
        seeker.send_data(seeker_chat, &[i; 100]).await;
    }
    for i in 0..20_u8 {
        assert_eq!(peer.data().await, (peer_chat, vec![i; 100]));
    }
    let big = vec![7_u8; MAX_NOISE_MESSAGE];
    peer.send_data(peer_chat, &big).await;
    assert_eq!(seeker.data().await, (seeker_chat, big));
}

async fn ended_both(
    seeker: &mut RawClient,
    peer: &mut RawClient,
    seeker_reason: ChatEndReason,
    peer_reason: ChatEndReason,
) {
    assert_eq!(seeker.chat_ended().await.1, seeker_reason);
    assert_eq!(peer.chat_ended().await.1, peer_reason);
}

#[tokio::test]
async fn end_from_either_side() {
    let (relay, _fixture, mut peer) = setup(test_limits()).await;
    let (mut seeker, s_chat, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    seeker.send(&ClientFrame::End { chat: s_chat }).await;
    ended_both(
        &mut seeker,
        &mut peer,
        ChatEndReason::Ended,
        ChatEndReason::PartnerEnded,
    )
    .await;
    // Data on the ended chat is now unknown on both sides.
    seeker.send_data(s_chat, b"late").await;
    seeker.expect_error(ErrorCode::UnknownChat).await;
    relay.wait_idle(2).await;

    let (mut seeker, _, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    peer.send(&ClientFrame::End { chat: p_chat }).await;
    ended_both(
        &mut seeker,
        &mut peer,
        ChatEndReason::PartnerEnded,
        ChatEndReason::Ended,
    )
    .await;
    relay.wait_idle(3).await;
}

#[tokio::test]
async fn block_ends_and_prevents_rematch() {
    let (relay, _fixture, mut peer) = setup(test_limits()).await;
    let (mut seeker, _, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    peer.send(&ClientFrame::Block { chat: p_chat }).await;
    ended_both(
        &mut seeker,
        &mut peer,
        ChatEndReason::Blocked,
        ChatEndReason::Blocked,
    )
    .await;
    seeker.seek(SeekPreferences::default()).await;
    peer.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn disconnect_from_either_side_tells_the_other() {
    let (relay, _fixture, mut peer) = setup(test_limits()).await;
    let (seeker, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    seeker.close().await;
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::PartnerLeft);
    relay.wait_idle(1).await;

    let (mut seeker, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    peer.close().await;
    assert_eq!(seeker.chat_ended().await.1, ChatEndReason::PartnerLeft);
    relay.wait_idle(1).await;
    assert_eq!(relay.stats().await.available_peers, 0);
}

#[tokio::test]
async fn handshake_and_idle_timeouts_end_chats() {
    let mut limits = test_limits();
    limits.chat_handshake_timeout = Duration::from_millis(300);
    limits.idle_timeout = Duration::from_millis(400);
    let (relay, _fixture, mut peer) = setup(limits).await;
    let (mut seeker, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    ended_both(
        &mut seeker,
        &mut peer,
        ChatEndReason::HandshakeTimeout,
        ChatEndReason::HandshakeTimeout,
    )
    .await;
    relay.wait_idle(2).await;
    let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    seeker.send_data(s_chat, b"msg1").await;
    peer.data().await;
    peer.send_data(p_chat, b"msg2").await;
    seeker.data().await;
    ended_both(
        &mut seeker,
        &mut peer,
        ChatEndReason::IdleTimeout,
        ChatEndReason::IdleTimeout,
    )
    .await;
    // The first seeker is still connected (shadowed, not dropped): three connections.
    relay.wait_idle(3).await;
}

#[tokio::test]
async fn a_slow_reader_ends_its_chat_and_memory_stays_bounded() {
    let mut limits = test_limits();
    limits.frames_per_second = 1_000_000;
    limits.frame_burst = 1_000_000;
    limits.slow_reader_grace = Duration::from_millis(200);
    let (relay, _fixture, mut peer) = setup(limits).await;
    let (mut seeker, s_chat, p_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
    // The seeker's msg1 first: a peer may not send on a chat before it (proto/spec.md).
    seeker.send_data(s_chat, &[0x42; 48]).await;
    assert_eq!(peer.data().await.0, p_chat);
    // The seeker stops reading; the peer writes far more than socket buffers hold.
    let frame = vec![1_u8; MAX_NOISE_MESSAGE];
    let writer = tokio::spawn(async move {
        for _ in 0..1_500 {
            peer.send_data(p_chat, &frame).await;
        }
        peer
    });
    let mut peer = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::SlowReader);
    // The seeker, reading at last, finds data frames for its chat, then the end.
    loop {
        match seeker.recv().await {
            Received::Data(bytes) => assert_eq!(bytes[..4], s_chat.0.to_be_bytes()),
            Received::Frame(confidant_proto::RelayFrame::ChatEnded { reason, .. }) => {
                assert_eq!(reason, ChatEndReason::SlowReader);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    relay.wait_idle(2).await;
}

#[tokio::test]
async fn revocation_at_runtime_takes_the_peer_offline() {
    let (relay, mut fixture, mut peer) = setup(test_limits()).await;
    let (mut seeker, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    // Revoke serial 1 (the peer's).
    let list = fixture.revoke(&[1]);
    let sequence = relay
        .handle()
        .update_revocation_list(PROGRAM, &list)
        .await
        .unwrap();
    assert_eq!(sequence, 2);
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::Revoked);
    peer.expect_fatal(ErrorCode::CredentialRevoked).await;
    assert_eq!(seeker.chat_ended().await.1, ChatEndReason::Revoked);
    relay.wait_idle(1).await;
    // An older list is refused.
    let old = ProgramFixture::new(PROGRAM);
    assert!(
        relay
            .handle()
            .update_revocation_list(PROGRAM, &old.revocation_list)
            .await
            .is_err()
    );
}
