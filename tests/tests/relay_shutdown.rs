//! Graceful shutdown: every client told the deadline, chats ended, connections closed 1001.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_proto::{ChatEndReason, ErrorCode, RelayFrame};
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, TestRelay, WAIT, test_limits};

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
