//! Feature `resume` through the Rust SDK (`proto/spec.md`, "Resume"): a loopback fault
//! proxy breaks the network under a running chat — a cut (Wi-Fi → LTE), a network that is
//! gone for longer than the window, a half-open socket fixed by `network_changed()`, a relay
//! restart — and each side is told the truth; what was sent during the gap arrives exactly
//! once and in order. The test relay's window is 3 s.

use std::time::Duration;

use confidant_client::{
    ChatEndReason, ChatNumber, ClientError, EndReason, ErrorCode, Peer, PeerEvent, Seeker,
    SeekerEvent,
};
use confidant_tests::fault_proxy::FaultProxy;
use confidant_tests::sdk_support::{open_chat, peer_until, seeker_until};
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// A chat whose seeker and peer connect at these URLs (the relay's, or a fault proxy's).
async fn chat(
    fixture: &mut ProgramFixture,
    seeker_url: &str,
    peer_url: &str,
) -> (Seeker, Peer, ChatNumber) {
    let (seeker, peer, chat) = open_chat(fixture, seeker_url, peer_url).await;
    assert!(seeker.features().iter().any(|f| f == "resume"));
    (seeker, peer, chat)
}

/// The seeker's messages in order, until `count` arrived.
async fn seeker_messages(seeker: &mut Seeker, count: usize) -> (Vec<String>, Vec<SeekerEvent>) {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    while texts.len() < count {
        let (event, skipped) = seeker_until(seeker, |e| Some(e.clone())).await;
        others.extend(skipped);
        match event {
            SeekerEvent::Message(text) => texts.push(text),
            other => others.push(other),
        }
    }
    (texts, others)
}

async fn peer_messages(peer: &mut Peer, count: usize) -> (Vec<String>, Vec<PeerEvent>) {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    while texts.len() < count {
        let (event, skipped) = peer_until(peer, |e| Some(e.clone())).await;
        others.extend(skipped);
        match event {
            PeerEvent::Message { text, .. } => texts.push(text),
            other => others.push(other),
        }
    }
    (texts, others)
}

#[tokio::test]
async fn a_seeker_whose_network_switches_keeps_its_chat_and_nothing_is_lost_or_doubled() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, mut peer, chat) = chat(&mut fixture, &proxy.ws_url(), &relay.ws_url()).await;
    seeker.send_text("before").await.unwrap();
    assert_eq!(peer_messages(&mut peer, 1).await.0, ["before"]);

    // No network for a moment: the seeker's socket is cut and new ones fail.
    proxy.refuse(true);
    proxy.cut();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::ConnectionLost { .. }).then_some(())
    })
    .await;
    peer_until(&mut peer, |e| {
        matches!(e, PeerEvent::PartnerAway { chat: c } if *c == chat).then_some(())
    })
    .await;
    // Both sides keep talking during the gap.
    for text in ["one", "two", "three"] {
        peer.send_text(chat, text).await.unwrap();
    }
    seeker.send_text("typed offline 1").await.unwrap();
    seeker.send_text("typed offline 2").await.unwrap();
    let cut_at = tokio::time::Instant::now();
    proxy.refuse(false);

    let (texts, others) = seeker_messages(&mut seeker, 3).await;
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(
        others.iter().any(|e| matches!(e, SeekerEvent::Reconnected)),
        "{others:?}"
    );
    println!("resumed {:?} after the network came back", cut_at.elapsed());
    let (texts, others) = peer_messages(&mut peer, 2).await;
    assert_eq!(texts, ["typed offline 1", "typed offline 2"]);
    assert!(
        others
            .iter()
            .any(|e| matches!(e, PeerEvent::PartnerBack { chat: c } if *c == chat)),
        "{others:?}"
    );
    // The chat goes on, one message each way, nothing repeated.
    peer.send_text(chat, "after").await.unwrap();
    assert_eq!(seeker_messages(&mut seeker, 1).await.0, ["after"]);
    seeker.send_text("me too").await.unwrap();
    assert_eq!(peer_messages(&mut peer, 1).await.0, ["me too"]);
    assert_eq!(relay.stats().await.active_chats, 1);
    assert!(proxy.accepted() >= 2, "a second socket was opened");
}

#[tokio::test]
async fn a_peer_whose_network_switches_keeps_its_chat() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, mut peer, chat) = chat(&mut fixture, &relay.ws_url(), &proxy.ws_url()).await;
    proxy.cut();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::PeerAway).then_some(())
    })
    .await;
    seeker.send_text("are you there?").await.unwrap();
    let (texts, others) = peer_messages(&mut peer, 1).await;
    assert_eq!(texts, ["are you there?"]);
    assert!(
        others
            .iter()
            .any(|e| matches!(e, PeerEvent::ConnectionLost { .. })),
        "{others:?}"
    );
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::PeerBack).then_some(())
    })
    .await;
    peer.send_text(chat, "yes, here").await.unwrap();
    assert_eq!(seeker_messages(&mut seeker, 1).await.0, ["yes, here"]);
}

/// Longer than the window: the chat ends on both sides, said plainly, and the seeker's
/// connection ends (the app shows resources and may start again).
#[tokio::test]
async fn a_network_gone_longer_than_the_window_ends_the_chat() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, mut peer, chat) = chat(&mut fixture, &proxy.ws_url(), &relay.ws_url()).await;
    proxy.refuse(true);
    proxy.cut();
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { chat: c, reason } if *c == chat => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::WithoutEndRecord(ChatEndReason::PartnerLeft)
    );
    let (error, events) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Disconnected(error) => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error, ClientError::ConnectionClosed { close_code: None });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SeekerEvent::ConnectionLost { grace } if *grace == Duration::from_secs(3))),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SeekerEvent::Ended(EndReason::Failed(_)))),
        "{events:?}"
    );
}

/// A half-open socket (it looks alive, carries nothing): the app's `network_changed()`
/// replaces it at once instead of at the keepalive deadline.
#[tokio::test]
async fn network_changed_replaces_a_half_open_socket_at_once() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, mut peer, chat) = chat(&mut fixture, &proxy.ws_url(), &relay.ws_url()).await;
    proxy.stall();
    peer.send_text(chat, "lost in the stall?").await.unwrap();
    let asked = tokio::time::Instant::now();
    seeker.network_changed();
    let (texts, others) = seeker_messages(&mut seeker, 1).await;
    assert_eq!(texts, ["lost in the stall?"]);
    assert!(
        others.iter().any(|e| matches!(e, SeekerEvent::Reconnected)),
        "{others:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "resumed in {:?}",
        asked.elapsed()
    );
    seeker.send_text("new socket").await.unwrap();
    assert_eq!(peer_messages(&mut peer, 1).await.0, ["new socket"]);
}

/// A relay restart loses every connection's state (nothing is on disk): the resume is
/// refused and the SDK says so — no silent wait. (Seen from the client, a crashed and
/// restarted relay: the socket dies, and the same address answers with no memory of it.)
#[tokio::test]
async fn after_a_relay_restart_the_resume_is_refused_and_said() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, _peer, _chat) = chat(&mut fixture, &proxy.ws_url(), &relay.ws_url()).await;
    let restarted = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    proxy.retarget(restarted.addr);
    proxy.cut();
    let (error, events) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Disconnected(error) => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(
            error,
            ClientError::Relay {
                code: ErrorCode::ResumeFailed,
                ..
            }
        ),
        "{error:?} after {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SeekerEvent::Ended(EndReason::Failed(_)))),
        "{events:?}"
    );
}

/// Admission under load (`docs/admission.md`): the relay's gate closes during the chat; the
/// seeker's socket is cut; its resume attempt is refused with `proof_required` before the
/// relay reads `resume` (the secret is not spent), the SDK pays a proof and resumes.
#[tokio::test]
async fn a_resume_while_the_relay_asks_for_proofs_pays_and_keeps_the_chat() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = FaultProxy::start(relay.addr).await;
    let (mut seeker, mut peer, chat) = chat(&mut fixture, &proxy.ws_url(), &relay.ws_url()).await;
    assert_eq!(proxy.accepted(), 1, "no proof asked while the gate is open");
    relay
        .handle()
        .update_limits(confidant_relay::Limits {
            admission: confidant_relay::AdmissionMode::Always,
            admission_difficulty: 10,
            ..test_limits()
        })
        .await
        .unwrap();

    proxy.cut();
    peer.send_text(chat, "still here").await.unwrap();
    let (texts, others) = seeker_messages(&mut seeker, 1).await;
    assert_eq!(texts, ["still here"]);
    assert!(
        others.iter().any(|e| matches!(e, SeekerEvent::Reconnected)),
        "{others:?}"
    );
    // The refused socket, `GET /v1/admission`, and the socket that resumed.
    assert!(proxy.accepted() >= 4, "{} connections", proxy.accepted());
    seeker.send_text("and me").await.unwrap();
    assert_eq!(peer_messages(&mut peer, 1).await.0, ["and me"]);
}
