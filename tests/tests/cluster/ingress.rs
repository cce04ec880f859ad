//! Scale-out through a real `nats-server`: cross-node ingress is per chat. One remote peer
//! (capacity 2, on node B) chats with two seekers on node A. One seeker stops reading while
//! the peer floods it: that chat ends as `slow_reader`; the peer's *other* chat on node A
//! keeps carrying data both ways, every frame in order and intact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_proto::limits::MAX_NOISE_MESSAGE;
use confidant_proto::{
    ChatEndReason, ChatNumber, DataFrame, ErrorCode, RelayFrame, SeekPreferences,
};
use confidant_tests::cluster_support::{NatsServer, start_node, wait_for};
use confidant_tests::ops_support::{peer_at, seeker_at};
use confidant_tests::{ProgramFixture, test_limits};
use confidant_tests::{RawClient, Received};

const PROGRAM: &str = "resident-peer-support";
/// Frames the peer floods into the stalled chat.
const FLOOD: usize = 2_000;
/// One frame into the other chat after every this many flood frames.
const EVERY: usize = 4;
/// The reading seeker keeps up: the peer is never more than this many frames ahead of it
/// in the reading chat (a reader that keeps up, on a busy 2-core CI machine).
const WINDOW: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_ends_only_its_own_cross_node_chat() {
    let Some(nats) = NatsServer::start("a_stalled_reader_ends_only_its_own_cross_node_chat").await
    else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.frames_per_second = 1_000_000;
    limits.frame_burst = 1_000_000;
    let b = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    // A's grace is far longer than the test takes: only the ingress overflow can end the
    // stalled chat, and nothing may end the other one.
    let grace = Duration::from_secs(60);
    limits.slow_reader_grace = grace;
    let a = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let credential = fixture.supporter();
    let mut peer = peer_at(&b.ws_url(), PROGRAM, &credential).await;
    peer.available(2, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;

    // Two seekers on A, both with the one peer on B.
    let mut stalled = seeker_at(&a.ws_url(), PROGRAM).await;
    stalled.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let p_stalled = peer.accept(offer).await;
    let s_stalled = stalled.matched().await;
    let mut reader = seeker_at(&a.ws_url(), PROGRAM).await;
    reader.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let p_reader = peer.accept(offer).await;
    let s_reader = reader.matched().await;
    wait_for(&a, Duration::from_secs(5), |s| s.active_chats == 2).await;
    // Each seeker's msg1 first: a peer may not send on a chat before it (proto/spec.md).
    for (seeker, s_chat, p_chat) in [
        (&mut stalled, s_stalled, p_stalled),
        (&mut reader, s_reader, p_reader),
    ] {
        seeker.send_data(s_chat, &[0x42; 48]).await;
        assert_eq!(peer.data().await.0, p_chat);
    }

    // The reading seeker reads everything of its chat, in order, while the peer floods
    // the stalled one and interleaves frames into the reading one.
    let expected = FLOOD / EVERY;
    let (read_tx, mut read_rx) = tokio::sync::watch::channel(0_usize);
    let reading = tokio::spawn(async move {
        let mut got = 0_usize;
        while got < expected {
            match reader.recv().await {
                Received::Data(bytes) => {
                    let frame = DataFrame::decode(&bytes).unwrap();
                    assert_eq!(frame.chat, s_reader);
                    assert_eq!(
                        frame.noise_message,
                        format!("to the reader {got}").as_bytes(),
                        "frame {got} of the reading chat"
                    );
                    got += 1;
                    let _ = read_tx.send(got);
                }
                other => panic!("the reading chat after {got} frames: {other:?}"),
            }
        }
        reader
    });
    let started = Instant::now();
    let big = vec![1_u8; MAX_NOISE_MESSAGE];
    let writer = tokio::spawn(async move {
        let mut sent = 0_usize;
        for i in 0..FLOOD {
            peer.send_data(p_stalled, &big).await;
            if i % EVERY == EVERY - 1 {
                read_rx
                    .wait_for(|got| got + WINDOW >= sent)
                    .await
                    .expect("the reader is there");
                peer.send_data(p_reader, format!("to the reader {sent}").as_bytes())
                    .await;
                sent += 1;
            }
        }
        peer
    });
    let mut peer = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the flood is never blocked for long")
        .unwrap();
    let mut reader = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the reading chat got all its frames")
        .unwrap();
    // The stalled chat ended as a slow reader, long before its grace; the other did not.
    assert_eq!(
        peer.chat_ended().await,
        (p_stalled, ChatEndReason::SlowReader)
    );
    let told = started.elapsed();
    eprintln!(
        "stalled cross-node chat ended slow_reader after {told:?}; the other chat got all {expected} frames in order"
    );
    assert!(told < grace / 2, "{told:?}");

    // The other chat still carries data both ways.
    for i in 0..5 {
        let text = format!("seeker says {i}");
        reader.send_data(s_reader, text.as_bytes()).await;
        assert_eq!(
            data_skipping_errors(&mut peer).await,
            (p_reader, text.into_bytes())
        );
        let text = format!("peer says {i}");
        peer.send_data(p_reader, text.as_bytes()).await;
        assert_eq!(reader.data().await, (s_reader, text.into_bytes()));
    }
    let stats = a.stats().await;
    assert_eq!(stats.active_chats, 1, "{stats:?}");

    // The stalled seeker, reading at last, finds only its own chat's frames, then the end.
    let mut frames = 0_usize;
    loop {
        match stalled.recv().await {
            Received::Data(bytes) => {
                assert_eq!(bytes[..4], s_stalled.0.to_be_bytes());
                frames += 1;
            }
            Received::Frame(RelayFrame::ChatEnded { reason, .. }) => {
                assert_eq!(reason, ChatEndReason::SlowReader);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    eprintln!("the stalled seeker read {frames} frames, then chat_ended{{slow_reader}}");
    drop(stalled);
    wait_for(&b, Duration::from_secs(5), |s| s.active_chats == 1).await;
}

/// The peer's next data frame, past the `unknown_chat` errors its flood into the chat that
/// had already ended earned it.
async fn data_skipping_errors(peer: &mut RawClient) -> (ChatNumber, Vec<u8>) {
    loop {
        match peer.recv().await {
            Received::Data(bytes) => {
                let frame = DataFrame::decode(&bytes).unwrap();
                return (frame.chat, frame.noise_message.to_vec());
            }
            Received::Frame(RelayFrame::Error {
                code: ErrorCode::UnknownChat,
                ..
            }) => {}
            other => panic!("expected a data frame, got {other:?}"),
        }
    }
}
