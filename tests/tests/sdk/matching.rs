//! Matching through the SDK: offers declined or timed out, no peer, cancel, block, and a
//! seeker skipping a peer of its own department without telling the relay why.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_client::{
    EndReason, NoPeerReason, OfferWithdrawnReason, Peer, PeerEvent, PeerOptions, QueueNone,
    SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
};
use confidant_tests::fixtures::SupporterSpec;
use confidant_tests::sdk_support::{
    go_available, peer_events_within, peer_until, seeker_events_within, seeker_until,
};
use confidant_tests::{ProgramFixture, SupporterCredential, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn connect_peer(
    relay: &TestRelay,
    credential: &SupporterCredential,
    auto_accept: bool,
) -> Peer {
    let mut peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut peer, 2, auto_accept).await;
    peer
}

async fn connect_seeker(
    relay: &TestRelay,
    fixture: &ProgramFixture,
    avoid: Option<&str>,
) -> Seeker {
    Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions {
            avoid_department: avoid.map(str::to_owned),
            ..SeekerOptions::default()
        },
    )
    .await
    .unwrap()
}

async fn offer_of(peer: &mut Peer) -> u32 {
    peer_until(peer, |e| match e {
        PeerEvent::Offer { offer, .. } => Some(*offer),
        _ => None,
    })
    .await
    .0
}

async fn matched(seeker: &mut Seeker) -> confidant_client::VerifiedPeer {
    seeker_until(seeker, |e| match e {
        SeekerEvent::Matched { peer } => Some(peer.clone()),
        _ => None,
    })
    .await
    .0
}

#[tokio::test]
async fn a_declined_offer_goes_to_the_next_peer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (a, b) = (fixture.supporter(), fixture.supporter());
    let mut first = connect_peer(&relay, &a, false).await;
    let mut seeker = connect_seeker(&relay, &fixture, None).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let offer = offer_of(&mut first).await;
    let mut second = connect_peer(&relay, &b, false).await;
    first.decline(offer).await.unwrap();
    let offer = offer_of(&mut second).await;
    second.accept(offer).await.unwrap();
    matched(&mut seeker).await;
    // The decliner is not asked again.
    let events = peer_events_within(&mut first, Duration::from_millis(200)).await;
    assert!(
        !events.iter().any(|e| matches!(e, PeerEvent::Offer { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_unanswered_offer_times_out_and_goes_to_the_next_peer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.offer_timeout = Duration::from_millis(300);
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let (a, b) = (fixture.supporter(), fixture.supporter());
    let mut slow = connect_peer(&relay, &a, false).await;
    let mut seeker = connect_seeker(&relay, &fixture, None).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let offer = offer_of(&mut slow).await;
    let mut quick = connect_peer(&relay, &b, true).await;
    let (withdrawn, _) = peer_until(&mut slow, |e| match e {
        PeerEvent::OfferWithdrawn { offer: o, reason } => Some((*o, *reason)),
        _ => None,
    })
    .await;
    assert_eq!(withdrawn, (offer, OfferWithdrawnReason::Timeout));
    matched(&mut seeker).await;
    peer_until(&mut quick, |e| {
        matches!(e, PeerEvent::ChatReady { .. }).then_some(())
    })
    .await;
    // Accepting the expired offer is refused by the relay, not silently honoured.
    slow.accept(offer).await.unwrap();
    let (code, _) = peer_until(&mut slow, |e| match e {
        PeerEvent::RelayError { code, .. } => Some(*code),
        _ => None,
    })
    .await;
    assert_eq!(code, confidant_client::ErrorCode::UnknownOffer);
}

#[tokio::test]
async fn no_peer_within_the_wait_limit_offers_resources() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut program = fixture.program_config();
    program.wait_limit = Duration::from_millis(300);
    let relay = TestRelay::start(vec![program], test_limits()).await;
    let mut seeker = connect_seeker(&relay, &fixture, None).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let ((reason, resources), skipped) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::NoPeer { reason, resources } => Some((*reason, resources.clone())),
        _ => None,
    })
    .await;
    assert!(
        matches!(skipped.first(), Some(SeekerEvent::Queued { .. })),
        "{skipped:?}"
    );
    assert_eq!(reason, NoPeerReason::WaitLimit);
    assert_eq!(resources[0].phone.as_deref(), Some("613-562-5211"));
    // The seeker may try again.
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Queued { .. }).then_some(())
    })
    .await;
}

#[tokio::test]
async fn cancel_leaves_the_queue() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = connect_seeker(&relay, &fixture, None).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Queued { .. }).then_some(())
    })
    .await;
    seeker.cancel().await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Cancelled).then_some(())
    })
    .await;
    relay.wait_idle(1).await;
}

#[tokio::test]
async fn block_ends_the_chat_and_the_peer_is_not_offered_that_seeker_again() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = connect_peer(&relay, &credential, true).await;
    let mut seeker = connect_seeker(&relay, &fixture, None).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    matched(&mut seeker).await;
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    peer.block(chat).await.unwrap();
    let (reason, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::PartnerBlocked);
    relay.wait_idle(2).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let events = peer_events_within(&mut peer, Duration::from_millis(300)).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PeerEvent::Offer { .. } | PeerEvent::ChatStarted { .. })),
        "{events:?}"
    );
    let events = seeker_events_within(&mut seeker, Duration::from_millis(100)).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SeekerEvent::Matched { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn avoid_department_skips_locally_and_matches_another_peer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let same = fixture.supporter_with(SupporterSpec {
        display_name: "Dr. Same Department".into(),
        department: "Emergency Medicine".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let other = fixture.supporter_with(SupporterSpec {
        display_name: "Dr. Other Department".into(),
        department: "Surgery".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let mut same_peer = connect_peer(&relay, &same, true).await;
    let mut seeker = connect_seeker(&relay, &fixture, Some("emergency medicine")).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::SkippedSameDepartment).then_some(())
    })
    .await;
    // The same-department peer saw a chat start and end with no handshake and no content.
    let (reason, seen) = peer_until(&mut same_peer, |e| match e {
        PeerEvent::Ended { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, EndReason::WithoutEndRecord(_)),
        "{reason:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, PeerEvent::ChatReady { .. } | PeerEvent::Message { .. })),
        "{seen:?}"
    );
    // The SDK seeks again by itself; a peer from another department takes it.
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Queued { .. }).then_some(())
    })
    .await;
    let mut other_peer = connect_peer(&relay, &other, true).await;
    let verified = matched(&mut seeker).await;
    assert_eq!(verified.display_name, "Dr. Other Department");
    assert_eq!(verified.department, "Surgery");
    peer_until(&mut other_peer, |e| {
        matches!(e, PeerEvent::ChatReady { .. }).then_some(())
    })
    .await;
    let events = peer_events_within(&mut same_peer, Duration::from_millis(100)).await;
    assert!(
        !events.iter().any(|e| matches!(e, PeerEvent::Offer { .. })),
        "{events:?}"
    );
}

/// Feature `pass` through the SDK (issue 15, 5): the seeker's place is kept. The only peer
/// online is from the seeker's department; a second seeker comes after. The SDK passes the
/// peer, and the seeker is at position 1 again (the SDK without `pass` ended the chat and
/// sought again, behind the second seeker), told nobody online can take it; the next peer to
/// come online takes it, and the passed peer is offered the second seeker, not this one.
#[tokio::test]
async fn avoid_department_keeps_the_seekers_place() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let same = fixture.supporter_with(SupporterSpec {
        display_name: "Dr. Same Department".into(),
        department: "Emergency Medicine".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let other = fixture.supporter_with(SupporterSpec {
        display_name: "Dr. Other Department".into(),
        department: "Surgery".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let mut same_peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        same.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut same_peer, 1, false).await;
    let mut seeker = connect_seeker(&relay, &fixture, Some("emergency medicine")).await;
    assert!(seeker.features().iter().any(|f| f == "pass"));
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let first_offer = offer_of(&mut same_peer).await;
    // A second seeker comes while the first is being offered.
    let mut second = connect_seeker(&relay, &fixture, None).await;
    second.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut second, |e| match e {
        SeekerEvent::Queued { position: 2, .. } => Some(()),
        _ => None,
    })
    .await;
    same_peer.accept(first_offer).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::SkippedSameDepartment).then_some(())
    })
    .await;
    let (none, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Queued { position, none, .. } => Some((*position, *none)),
        _ => None,
    })
    .await;
    assert_eq!(none, (1, Some(QueueNone::NoneAvailable)));
    // The passed peer is offered the second seeker, never this one again.
    let second_offer = offer_of(&mut same_peer).await;
    same_peer.decline(second_offer).await.unwrap();
    let events = peer_events_within(&mut same_peer, Duration::from_millis(200)).await;
    assert!(
        !events.iter().any(|e| matches!(e, PeerEvent::Offer { .. })),
        "{events:?}"
    );
    let mut other_peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        other.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut other_peer, 1, true).await;
    let verified = matched(&mut seeker).await;
    assert_eq!(verified.department, "Surgery");
}
