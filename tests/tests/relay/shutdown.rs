//! Graceful shutdown: every client told the deadline, chats ended, connections closed 1001.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_proto::{ChatEndReason, ClientFrame, ErrorCode, RelayFrame, Role};
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, WAIT, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test]
async fn shutdown_tells_everyone_then_closes() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(2, false).await;
    let (mut seeker, _, _) = match_pair(&relay, PROGRAM, &mut peer).await;
    let mut idle = RawClient::connect(&relay).await;
    let addr = relay.addr;
    let handle = relay.handle.take().unwrap();
    let stopping = tokio::spawn(handle.shutdown(Duration::from_millis(300)));
    for client in [&mut seeker, &mut peer, &mut idle] {
        assert_eq!(
            client.frame().await,
            RelayFrame::Shutdown { deadline_ms: 300 }
        );
    }
    assert_eq!(seeker.chat_ended().await.1, ChatEndReason::Shutdown);
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::Shutdown);
    for client in [&mut seeker, &mut peer, &mut idle] {
        client.expect_fatal(ErrorCode::ShuttingDown).await;
    }
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_returns_early_when_chats_are_over() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    let mut relay = relay;
    let handle = relay.handle.take().unwrap();
    let started = tokio::time::Instant::now();
    let stopping = tokio::spawn(handle.shutdown(Duration::from_secs(60)));
    assert!(matches!(seeker.frame().await, RelayFrame::Shutdown { .. }));
    seeker.expect_fatal(ErrorCode::ShuttingDown).await;
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// During the drain no new work starts (`proto/spec.md`, `shutdown`): a `hello` on an open
/// connection and a `seek` are answered `shutting_down` with close 1001, and a seeker who
/// was already queued is offered to nobody. Before this, the hello got `welcome` and the
/// seek `queued` then `matched`: a chat started that the deadline would cut.
#[tokio::test]
async fn the_drain_takes_no_new_hello_seek_or_offer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    // A running chat keeps the drain going until its deadline (without one it ends at once).
    let mut busy = RawClient::peer(&relay, PROGRAM, &fixture.supporter()).await;
    busy.available(1, false).await;
    let (mut chatting, _, _) = match_pair(&relay, PROGRAM, &mut busy).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    let mut fresh = RawClient::connect(&relay).await;
    let mut idle = RawClient::seeker(&relay, PROGRAM).await;
    let mut queued = RawClient::seeker(&relay, PROGRAM).await;
    assert!(matches!(
        queued.seek(Default::default()).await,
        RelayFrame::Queued { .. } | RelayFrame::NoPeer { .. }
    ));
    let handle = relay.handle.take().unwrap();
    let stopping = tokio::spawn(handle.shutdown(Duration::from_secs(3)));
    for client in [&mut idle, &mut queued, &mut peer, &mut busy, &mut chatting] {
        assert!(matches!(
            client.frame_skipping_queued().await,
            RelayFrame::Shutdown { .. }
        ));
    }
    fresh.hello(Role::Seeker, PROGRAM).await;
    assert!(matches!(fresh.frame().await, RelayFrame::Shutdown { .. }));
    fresh.expect_fatal(ErrorCode::ShuttingDown).await;
    idle.send(&ClientFrame::Seek {
        preferences: Default::default(),
        urgent: false,
    })
    .await;
    idle.expect_fatal(ErrorCode::ShuttingDown).await;
    // A peer logged in before the drain goes available: the queued seeker is not offered to
    // it, even with auto-accept.
    peer.available(1, true).await;
    peer.expect_silence(Duration::from_millis(800)).await;
    // The queued seeker hears new figures at most, never `matched`.
    while let Some(received) = queued.recv_within(Duration::from_millis(200)).await {
        assert!(
            matches!(received, Received::Frame(RelayFrame::Queued { .. })),
            "{received:?}"
        );
    }
    drop(stopping);
}
