//! Feature `urgency` over raw frames (`proto/spec.md`, "Offers"): a seeker that says it
//! needs to talk soon is offered before those who sought less than five minutes before it,
//! and the peer's offer says so — only to a peer that agreed on the feature; without the
//! feature `urgent` is an unknown member.

use confidant_proto::{ClientFrame, ErrorCode, RelayFrame, Role, SeekPreferences};
use confidant_tests::{ProgramFixture, RawClient, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn hello_with(relay: &TestRelay, role: Role, features: &[&str]) -> RawClient {
    let mut client = RawClient::connect(relay).await;
    client
        .send(&ClientFrame::Hello {
            v: 1,
            role,
            program: PROGRAM.to_owned(),
            features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
            chat_features: None,
        })
        .await;
    assert!(matches!(client.frame().await, RelayFrame::Welcome { .. }));
    client
}

fn urgent_seek() -> ClientFrame {
    ClientFrame::Seek {
        preferences: SeekPreferences::default(),
        urgent: true,
    }
}

#[tokio::test]
async fn an_urgent_seeker_is_offered_first_and_the_offer_says_so() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    // Two seekers wait; the second says it needs to talk soon.
    let mut first = RawClient::seeker(&relay, PROGRAM).await;
    first.seek(SeekPreferences::default()).await;
    let mut urgent = hello_with(&relay, Role::Seeker, &["urgency"]).await;
    urgent.send(&urgent_seek()).await;
    assert!(matches!(
        urgent.frame().await,
        RelayFrame::Queued { position: 1, .. }
    ));
    // A peer that agreed on `urgency` comes online: the urgent seeker is offered first.
    let credential = fixture.supporter();
    let mut peer = RawClient::peer_with_features(&relay, PROGRAM, &credential, &["urgency"]).await;
    peer.available(1, false).await;
    match peer.frame().await {
        RelayFrame::Offer {
            offer,
            urgent: true,
            ..
        } => {
            let chat = peer.accept(offer).await;
            let _ = chat;
        }
        other => panic!("expected an urgent offer, got {other:?}"),
    }
    assert!(matches!(
        urgent.matched().await,
        confidant_proto::ChatNumber(_)
    ));
}

#[tokio::test]
async fn a_peer_without_the_feature_is_not_told_and_a_seeker_without_it_is_refused() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    // `urgent` without the feature: an unknown member.
    let mut plain = RawClient::seeker(&relay, PROGRAM).await;
    plain.send(&urgent_seek()).await;
    plain.expect_fatal(ErrorCode::MalformedFrame).await;
    // An urgent seeker offered to a version-1 peer: the offer carries nothing new.
    let mut urgent = hello_with(&relay, Role::Seeker, &["urgency"]).await;
    urgent.send(&urgent_seek()).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    assert!(matches!(
        peer.frame().await,
        RelayFrame::Offer { urgent: false, .. }
    ));
}
