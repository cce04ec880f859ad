//! The SDK against the real relay: seek → match → chat both ways → end, from each side,
//! and several chats on one peer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_client::{
    AvailabilitySettings, ChatNumber, EndReason, Peer, PeerEvent, PeerOptions, ResourceCard,
    SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, SupporterCredential, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn connect_peer(
    relay: &TestRelay,
    credential: &SupporterCredential,
    capacity: u16,
    auto: bool,
) -> Peer {
    let peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .expect("peer connects and proves its key");
    peer.set_availability(AvailabilitySettings {
        capacity,
        auto_accept: auto,
        ..AvailabilitySettings::default()
    })
    .await
    .unwrap();
    peer
}

async fn seeker(relay: &TestRelay, fixture: &ProgramFixture) -> Seeker {
    Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .expect("seeker connects")
}

async fn wait_available(peer: &mut Peer) {
    peer_until(peer, |e| {
        matches!(e, PeerEvent::AvailabilitySet { .. }).then_some(())
    })
    .await;
}

/// Matches `seeker` with `peer` (which must not auto-accept) and returns the peer's chat.
async fn match_by_offer(seeker: &mut Seeker, peer: &mut Peer) -> ChatNumber {
    seeker
        .seek(SeekPreferences {
            topic: Some("burnout".into()),
            ..SeekPreferences::default()
        })
        .await
        .unwrap();
    let (offer, _) = peer_until(peer, |e| match e {
        PeerEvent::Offer { offer, topic, .. } => {
            assert_eq!(topic.as_deref(), Some("burnout"));
            Some(*offer)
        }
        _ => None,
    })
    .await;
    peer.accept(offer).await.unwrap();
    let (chat, _) = peer_until(peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    let (verified, skipped) = seeker_until(seeker, |e| match e {
        SeekerEvent::Matched { peer } => Some(peer.clone()),
        _ => None,
    })
    .await;
    assert!(
        skipped
            .iter()
            .all(|e| matches!(e, SeekerEvent::Queued { .. })),
        "{skipped:?}"
    );
    assert_eq!(verified.display_name, "Dr. Test Peer");
    assert_eq!(verified.role, "resident");
    assert_eq!(verified.department, "Emergency Medicine");
    chat
}

#[tokio::test]
async fn seek_match_chat_both_ways_then_seeker_ends() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = connect_peer(&relay, &credential, 2, false).await;
    wait_available(&mut peer).await;
    let mut seeker = seeker(&relay, &fixture).await;
    let chat = match_by_offer(&mut seeker, &mut peer).await;

    // Seeker → peer: text and typing.
    seeker.typing(true).await.unwrap();
    assert_eq!(seeker.send_text("I had a hard night").await.unwrap(), 1);
    let (typing, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Typing { chat: c, typing } if *c == chat => Some(*typing),
        _ => None,
    })
    .await;
    assert!(typing);
    let (text, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Message { chat: c, text } if *c == chat => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "I had a hard night");

    // Peer → seeker: read receipt, text, resource card.
    peer.mark_read(chat, 1).await.unwrap();
    peer.send_text(chat, "I'm here. Tell me more?")
        .await
        .unwrap();
    let card = ResourceCard {
        title: "Faculty Wellness Program — counselling".into(),
        url: None,
        phone: Some("613-562-5211".into()),
    };
    peer.send_resource(chat, card.clone()).await.unwrap();
    let (read, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::ReadUpTo(n) => Some(*n),
        _ => None,
    })
    .await;
    assert_eq!(read, 1);
    let (text, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Message(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "I'm here. Tell me more?");
    let (got, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Resource(c) => Some(c.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, card);
    seeker.mark_read(1).await.unwrap();
    let (read, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ReadUpTo { count, .. } => Some(*count),
        _ => None,
    })
    .await;
    assert_eq!(read, 1);

    // The seeker ends: a clean end for the peer (End record), then all state is gone.
    seeker.end().await.unwrap();
    let (reason, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::Local);
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { chat: c, reason } if *c == chat => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::PartnerEnded);
    relay.wait_idle(2).await;
    assert_eq!(
        seeker.send_text("after the end").await,
        Err(confidant_client::ClientError::NoChat)
    );
}

#[tokio::test]
async fn peer_ends_the_chat_cleanly() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = connect_peer(&relay, &credential, 1, false).await;
    wait_available(&mut peer).await;
    let mut seeker = seeker(&relay, &fixture).await;
    let chat = match_by_offer(&mut seeker, &mut peer).await;
    peer.send_text(chat, "Take care.").await.unwrap();
    peer.end(chat).await.unwrap();
    let (reason, skipped) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::PartnerEnded);
    assert!(skipped.contains(&SeekerEvent::Message("Take care.".into())));
    relay.wait_idle(2).await;

    // The seeker may seek again on the same connection, and a chat that ran excludes
    // nobody (proto/spec.md, "Offers"): the same peer, the only one online, takes it again.
    // (Before, the relay never offered the seeker that peer again, and a seeker alone with
    // it waited out the whole wait limit.)
    let chat = match_by_offer(&mut seeker, &mut peer).await;
    seeker.send_text("back again").await.unwrap();
    let (text, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Message { chat: c, text } if *c == chat => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "back again");
}

#[tokio::test]
async fn several_chats_on_one_peer_stay_apart() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = connect_peer(&relay, &credential, 3, true).await;
    wait_available(&mut peer).await;

    let mut seekers = Vec::new();
    for i in 0..3 {
        let mut s = seeker(&relay, &fixture).await;
        s.seek(SeekPreferences::default()).await.unwrap();
        seeker_until(&mut s, |e| {
            matches!(e, SeekerEvent::Matched { .. }).then_some(())
        })
        .await;
        s.send_text(format!("seeker {i} here")).await.unwrap();
        seekers.push(s);
    }
    // The peer learns which chat each seeker is on from their messages, and answers each.
    let mut chat_of = std::collections::HashMap::new();
    while chat_of.len() < 3 {
        let (msg, _) = peer_until(&mut peer, |e| match e {
            PeerEvent::Message { chat, text } => Some((*chat, text.clone())),
            _ => None,
        })
        .await;
        chat_of.insert(msg.1, msg.0);
    }
    let chats: std::collections::HashSet<_> = chat_of.values().collect();
    assert_eq!(chats.len(), 3, "three distinct chat numbers");
    for i in 0..3 {
        let chat = chat_of[&format!("seeker {i} here")];
        peer.send_text(chat, format!("reply for {i}"))
            .await
            .unwrap();
    }
    for (i, s) in seekers.iter_mut().enumerate() {
        let (text, _) = seeker_until(s, |e| match e {
            SeekerEvent::Message(t) => Some(t.clone()),
            _ => None,
        })
        .await;
        assert_eq!(
            text,
            format!("reply for {i}"),
            "each seeker gets only its own reply"
        );
    }
    // A fourth seeker waits: the peer is at capacity.
    let mut fourth = seeker(&relay, &fixture).await;
    fourth.seek(SeekPreferences::default()).await.unwrap();
    let (queued, _) = seeker_until(&mut fourth, |e| match e {
        SeekerEvent::Queued { position, .. } => Some(*position),
        _ => None,
    })
    .await;
    assert_eq!(queued, 1);
    // One chat ends; the fourth seeker gets the freed place.
    seekers[0].end().await.unwrap();
    seeker_until(&mut fourth, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
}
