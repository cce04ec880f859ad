//! Disconnects from each side and relay shutdown, as the SDK reports them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_client::{
    ChatEndReason, ChatNumber, ClientError, EndReason, Peer, PeerEvent, Seeker, SeekerEvent,
};
use confidant_tests::sdk_support::{open_chat, peer_until, seeker_until};
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn chat(relay: &TestRelay, fixture: &mut ProgramFixture) -> (Seeker, Peer, ChatNumber) {
    open_chat(fixture, &relay.ws_url(), &relay.ws_url()).await
}

#[tokio::test]
async fn seeker_disconnect_is_reported_to_the_peer_as_ended_without_end_record() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (seeker, mut peer, chat) = chat(&relay, &mut fixture).await;
    drop(seeker);
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { chat: c, reason } if *c == chat => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::WithoutEndRecord(ChatEndReason::PartnerLeft)
    );
    relay.wait_idle(1).await;
}

#[tokio::test]
async fn peer_disconnect_is_reported_to_the_seeker_as_ended_without_end_record() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (mut seeker, mut peer, _chat) = chat(&relay, &mut fixture).await;
    peer.close();
    let (reason, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::WithoutEndRecord(ChatEndReason::PartnerLeft)
    );
    // The peer's own SDK reports its chats as ended and the connection as closed.
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::Failed(ClientError::Shutdown));
    relay.wait_idle(1).await;
}

#[tokio::test]
async fn relay_shutdown_tells_both_sides_then_closes() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (mut seeker, mut peer, chat) = chat(&relay, &mut fixture).await;
    relay.shutdown(Duration::from_millis(200)).await;
    let (_, seeker_events) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Disconnected(error) => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        seeker_events
            .iter()
            .any(|e| matches!(e, SeekerEvent::ShuttingDown { .. })),
        "{seeker_events:?}"
    );
    assert!(
        seeker_events.iter().any(|e| matches!(
            e,
            SeekerEvent::Ended(EndReason::WithoutEndRecord(ChatEndReason::Shutdown))
                | SeekerEvent::Ended(EndReason::Failed(ClientError::ConnectionClosed { .. }))
        )),
        "{seeker_events:?}"
    );
    let (_, peer_events) = peer_until(&mut peer, |e| match e {
        PeerEvent::Disconnected(error) => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        peer_events
            .iter()
            .any(|e| matches!(e, PeerEvent::ShuttingDown { .. })),
        "{peer_events:?}"
    );
    assert!(
        peer_events
            .iter()
            .any(|e| matches!(e, PeerEvent::Ended { chat: c, .. } if *c == chat)),
        "{peer_events:?}"
    );
    assert!(seeker.next_event().await.is_none());
    assert_eq!(
        seeker.send_text("anyone?").await,
        Err(ClientError::Shutdown)
    );
}
