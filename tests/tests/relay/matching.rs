//! Matching over real sockets: queue, offers, decline, timeout, capacity, wait limit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_proto::{
    ChatEndReason, ClientFrame, ErrorCode, FEATURE_PASS, FEATURE_QUEUE_NONE, NoPeerReason,
    OfferWithdrawnReason, QueueNone, RelayFrame, Role, SeekPreferences,
};
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test]
async fn seek_queue_offer_accept_matched() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    let queued = seeker
        .seek(SeekPreferences {
            topic: Some("burnout".into()),
            language: Some("fr".into()),
            peer_role: None,
        })
        .await;
    assert_eq!(
        queued,
        RelayFrame::Queued {
            position: 1,
            peers_online: 0,
            estimate_secs: None,
            none: None,
        }
    );
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    match peer.frame().await {
        RelayFrame::Offer {
            topic, language, ..
        } => {
            assert_eq!(topic.as_deref(), Some("burnout"));
            assert_eq!(language.as_deref(), Some("fr"));
        }
        other => panic!("{other:?}"),
    }
    // The seeker hears a peer came online.
    assert_eq!(
        seeker.frame().await,
        RelayFrame::Queued {
            position: 1,
            peers_online: 1,
            estimate_secs: None,
            none: None,
        }
    );
    peer.send(&ClientFrame::Accept { offer: 1 }).await;
    assert!(matches!(
        peer.frame().await,
        RelayFrame::ChatStarted { offer: 1, .. }
    ));
    match seeker.frame().await {
        RelayFrame::Matched { credential: c, .. } => {
            assert_eq!(
                c.supporter_certificate.as_bytes(),
                credential.supporter_certificate
            );
            assert_eq!(c.revocation_list.as_bytes(), fixture.revocation_list);
        }
        other => panic!("{other:?}"),
    }
    let stats = relay.stats().await;
    assert_eq!(
        (
            stats.active_chats,
            stats.capacity_in_use,
            stats.queued_seekers
        ),
        (1, 1, 0)
    );
    // A second seek while chatting is refused, non-fatally.
    seeker
        .send(&ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        })
        .await;
    seeker.expect_error(ErrorCode::AlreadySeeking).await;
}

#[tokio::test]
async fn cancel_leaves_the_queue() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    seeker.send(&ClientFrame::Cancel {}).await;
    assert_eq!(seeker.frame().await, RelayFrame::Cancelled {});
    relay.wait_idle(1).await;
}

#[tokio::test]
async fn decline_and_timeout_go_to_the_next_peer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.offer_timeout = Duration::from_millis(300);
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let (c1, c2, c3) = (
        fixture.supporter(),
        fixture.supporter(),
        fixture.supporter(),
    );
    let mut p1 = RawClient::peer(&relay, PROGRAM, &c1).await;
    p1.available(1, false).await;
    let mut p2 = RawClient::peer(&relay, PROGRAM, &c2).await;
    p2.available(1, false).await;
    let mut p3 = RawClient::peer(&relay, PROGRAM, &c3).await;
    p3.available(1, false).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    // Offered to exactly one peer at a time, in fair order: p1 first (idle longest).
    let offer = p1.offer().await;
    p2.expect_silence(Duration::from_millis(50)).await;
    p1.send(&ClientFrame::Decline { offer }).await;
    let offer = p2.offer().await;
    // p2 lets it time out: withdrawn, and p3 gets it.
    assert_eq!(
        p2.frame().await,
        RelayFrame::OfferWithdrawn {
            offer,
            reason: OfferWithdrawnReason::Timeout
        }
    );
    let offer = p3.offer().await;
    // Accepting a withdrawn offer is a non-fatal unknown_offer.
    p2.send(&ClientFrame::Accept { offer: 1 }).await;
    p2.expect_error(ErrorCode::UnknownOffer).await;
    let chat = p3.accept(offer).await;
    let seeker_chat = seeker.matched().await;
    // Nobody re-offers the seeker to p1 or p2.
    p1.expect_silence(Duration::from_millis(100)).await;
    seeker.send(&ClientFrame::End { chat: seeker_chat }).await;
    seeker.chat_ended().await;
    p3.chat_ended().await;
    let _ = chat;
    // Seeking again: p1 declined and the seeker ended p3's chat before msg1 (a refusal), so
    // neither is offered it; p2 only missed its offer, so p2 is (proto/spec.md, "Offers").
    seeker.seek(SeekPreferences::default()).await;
    let again = p2.offer().await;
    assert_ne!(again, offer, "a new offer");
    p1.expect_silence(Duration::from_millis(100)).await;
    p3.expect_silence(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn one_peer_runs_several_chats() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(3, false).await;
    let (mut s1, s1_chat, p_chat1) = match_pair(&relay, PROGRAM, &mut peer).await;
    let (mut s2, s2_chat, p_chat2) = match_pair(&relay, PROGRAM, &mut peer).await;
    assert_ne!(p_chat1, p_chat2, "chat numbers on one connection differ");
    assert_eq!(
        (s1_chat.0, s2_chat.0),
        (1, 1),
        "seeker numbers are per connection"
    );
    s1.send_data(s1_chat, b"one").await;
    s2.send_data(s2_chat, b"two").await;
    let mut got = vec![peer.data().await, peer.data().await];
    got.sort();
    assert_eq!(
        got,
        vec![(p_chat1, b"one".to_vec()), (p_chat2, b"two".to_vec())]
    );
    peer.send_data(p_chat2, b"to two").await;
    assert_eq!(s2.data().await, (s2_chat, b"to two".to_vec()));
    s1.expect_silence(Duration::from_millis(50)).await;
    let stats = relay.stats().await;
    assert_eq!((stats.active_chats, stats.capacity_in_use), (2, 2));
}

#[tokio::test]
async fn auto_accept_matches_without_asking() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, true).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    assert!(matches!(peer.frame().await, RelayFrame::ChatStarted { .. }));
    seeker.matched().await;
}

#[tokio::test]
async fn wait_limit_gives_no_peer_with_resources() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut config = fixture.program_config();
    config.wait_limit = Duration::from_millis(300);
    let relay = TestRelay::start(vec![config], test_limits()).await;
    // A peer that fits nobody: role staff, seeker wants nursing.
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker
        .seek(SeekPreferences {
            peer_role: Some("nursing".into()),
            ..SeekPreferences::default()
        })
        .await;
    match seeker.frame_skipping_queued().await {
        RelayFrame::NoPeer { reason, resources } => {
            assert_eq!(reason, NoPeerReason::WaitLimit);
            assert_eq!(resources[0].phone.as_deref(), Some("613-562-5211"));
        }
        other => panic!("{other:?}"),
    }
    relay.wait_idle(2).await;
}

#[tokio::test]
async fn queue_full_gives_no_peer() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.max_queue = 1;
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let mut first = RawClient::seeker(&relay, PROGRAM).await;
    first.seek(SeekPreferences::default()).await;
    let mut second = RawClient::seeker(&relay, PROGRAM).await;
    second
        .send(&ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        })
        .await;
    assert!(matches!(
        second.frame().await,
        RelayFrame::NoPeer {
            reason: NoPeerReason::QueueFull,
            ..
        }
    ));
}

#[tokio::test]
async fn unknown_topic_is_an_invalid_field() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker
        .send(&ClientFrame::Seek {
            preferences: SeekPreferences {
                topic: Some("gardening".into()),
                ..SeekPreferences::default()
            },
            urgent: false,
        })
        .await;
    seeker.expect_error(ErrorCode::InvalidField).await;
    seeker.seek(SeekPreferences::default()).await;
}

/// A seeker that says `hello` with `features` and checks `welcome` grants them.
async fn seeker_with(relay: &TestRelay, features: &[&str]) -> RawClient {
    let mut client = RawClient::connect(relay).await;
    client
        .send(&ClientFrame::Hello {
            v: 1,
            role: Role::Seeker,
            program: PROGRAM.to_owned(),
            features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
            chat_features: None,
        })
        .await;
    match client.frame().await {
        RelayFrame::Welcome {
            features: Some(granted),
            ..
        } => {
            for feature in features {
                assert!(
                    granted.iter().any(|g| g == feature),
                    "{feature} not granted"
                );
            }
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    client
}

/// Feature `pass` over raw frames (issue 15, 5): the only peer online is from the seeker's
/// department. The seeker passes it before msg1 and keeps position 1, ahead of a seeker who
/// came later, with no reason on the wire; the relay never offers it that peer again, says
/// `none_available` (feature `queue-none`, and only to the seeker that asked), and the next
/// peer to come online is offered this seeker first.
#[tokio::test]
async fn pass_keeps_the_seekers_place_and_excludes_the_peer() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (c1, c2) = (fixture.supporter(), fixture.supporter());
    let mut p1 = RawClient::peer(&relay, PROGRAM, &c1).await;
    p1.available(1, false).await;
    let mut a = seeker_with(&relay, &[FEATURE_PASS, FEATURE_QUEUE_NONE]).await;
    a.seek(SeekPreferences::default()).await;
    let offer = p1.offer().await;
    let p1_chat = p1.accept(offer).await;
    let a_chat = a.matched().await;
    // A plain version-1 seeker comes after a.
    let mut b = RawClient::seeker(&relay, PROGRAM).await;
    assert!(matches!(
        b.seek(SeekPreferences::default()).await,
        RelayFrame::Queued { position: 1, .. }
    ));
    // a's client finds p1 is from its department: it passes, saying nothing else.
    a.send(&ClientFrame::Pass { chat: a_chat }).await;
    assert_eq!(
        a.frame().await,
        RelayFrame::ChatEnded {
            chat: a_chat,
            reason: ChatEndReason::Ended
        }
    );
    assert_eq!(
        a.frame().await,
        RelayFrame::Queued {
            position: 1,
            peers_online: 1,
            estimate_secs: None,
            none: Some(QueueNone::NoneAvailable),
        }
    );
    // The peer sees an ordinary end, then is offered b, never a again.
    assert_eq!(
        p1.frame().await,
        RelayFrame::ChatEnded {
            chat: p1_chat,
            reason: ChatEndReason::PartnerEnded
        }
    );
    let offer_b = p1.offer().await;
    // b moved back to position 2 behind a; a version-1 seeker never gets `none`.
    let queued_b = b.frame().await;
    assert!(
        matches!(
            queued_b,
            RelayFrame::Queued {
                position: 2,
                none: None,
                ..
            }
        ),
        "{queued_b:?}"
    );
    p1.send(&ClientFrame::Decline { offer: offer_b }).await;
    // p1 declined b: nobody can take b now, but b (version 1) is not told so.
    let queued_b = b.frame().await;
    assert!(
        matches!(queued_b, RelayFrame::Queued { none: None, .. }),
        "{queued_b:?}"
    );
    p1.expect_silence(Duration::from_millis(100)).await;
    // A second peer comes online: a, still first, is offered before b.
    let mut p2 = RawClient::peer(&relay, PROGRAM, &c2).await;
    p2.available(1, false).await;
    let offer = p2.offer().await;
    p2.accept(offer).await;
    let a_chat = a.matched().await;
    a.send_data(a_chat, b"msg1").await;
    // A chat that began cannot be passed: only a broken client tries.
    a.send(&ClientFrame::Pass { chat: a_chat }).await;
    a.expect_fatal(ErrorCode::UnexpectedFrame).await;
}

/// Without the feature, `pass` is what it is to a relay that never had it: an unknown type,
/// `malformed_frame` on a version-1 connection.
#[tokio::test]
async fn pass_is_an_unknown_type_without_the_feature() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut plain = RawClient::seeker(&relay, PROGRAM).await;
    plain
        .send(&ClientFrame::Pass {
            chat: confidant_proto::ChatNumber(1),
        })
        .await;
    plain.expect_fatal(ErrorCode::MalformedFrame).await;
    // Under the growth rules without `pass`: skipped, and the connection goes on.
    let mut growing = seeker_with(&relay, &[]).await;
    growing
        .send(&ClientFrame::Pass {
            chat: confidant_proto::ChatNumber(1),
        })
        .await;
    growing.expect_silence(Duration::from_millis(100)).await;
    growing.seek(SeekPreferences::default()).await;
}

/// Feature `queue-none`: the seeker is told at once that nobody online can take it, and why;
/// it stays queued, and is matched when a fitting peer comes.
#[tokio::test]
async fn queued_says_why_nobody_can_take_the_seeker() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut seeker = seeker_with(&relay, &[FEATURE_QUEUE_NONE]).await;
    assert_eq!(
        seeker.seek(SeekPreferences::default()).await,
        RelayFrame::Queued {
            position: 1,
            peers_online: 0,
            estimate_secs: None,
            none: Some(QueueNone::NoneOnline),
        }
    );
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    assert_eq!(
        seeker.frame().await,
        RelayFrame::Queued {
            position: 1,
            peers_online: 1,
            estimate_secs: None,
            none: None,
        }
    );
    let offer = peer.offer().await;
    peer.send(&ClientFrame::Decline { offer }).await;
    assert_eq!(
        seeker.frame().await,
        RelayFrame::Queued {
            position: 1,
            peers_online: 1,
            estimate_secs: None,
            none: Some(QueueNone::NoneAvailable),
        }
    );
}
