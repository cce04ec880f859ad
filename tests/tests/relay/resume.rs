//! Feature `resume` over raw frames (`proto/spec.md`, "Resume"): a lost socket keeps its
//! connection for the grace window; a new socket that presents the one-time secret takes it
//! over, and what was sent meanwhile arrives exactly once and in order; the partner is told
//! `partner_away` / `partner_back`; a window that closes ends everything as a disconnect
//! does; a secret works once; v1 connections and a relay with the window at zero are
//! unchanged. The test relay's window is 3 s and its keepalive 1 s + 1 s.

use std::time::Duration;

use confidant_proto::{
    Base64Bytes, ChatEndReason, ChatNumber, ClientFrame, ErrorCode, OfferWithdrawnReason,
    RelayFrame, Role, SeekPreferences,
};
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn relay() -> (TestRelay, ProgramFixture) {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    (relay, fixture)
}

/// A client that agreed on `resume`: it counts what it receives and sends (as the spec
/// counts), remembers its secret, and skips the relay's `ack` frames.
struct Resumable {
    client: RawClient,
    secret: Base64Bytes,
    /// Counted messages received from the relay.
    received: u64,
    /// Counted messages sent to the relay.
    sent: u64,
    /// The relay's latest `ack`.
    relay_acked: u64,
    /// Acknowledge each counted message at once (more often than the spec asks: allowed,
    /// and it keeps these tests from waiting on the timer).
    auto_ack: bool,
}

impl Resumable {
    async fn hello(relay: &TestRelay, role: Role) -> Self {
        let mut client = RawClient::connect(relay).await;
        client
            .send(&ClientFrame::Hello {
                v: 1,
                role,
                program: PROGRAM.to_owned(),
                features: Some(vec!["resume".to_owned()]),
                chat_features: None,
            })
            .await;
        let RelayFrame::Welcome {
            features, resume, ..
        } = client.frame().await
        else {
            panic!("expected welcome");
        };
        assert_eq!(features, Some(vec!["resume".to_owned()]));
        let offer = resume.expect("welcome.resume");
        assert_eq!(offer.secret.as_bytes().len(), 32);
        assert_eq!(offer.grace_ms, 3_000);
        Self {
            client,
            secret: offer.secret,
            received: 0,
            sent: 0,
            relay_acked: 0,
            auto_ack: true,
        }
    }

    async fn seeker(relay: &TestRelay) -> Self {
        Self::hello(relay, Role::Seeker).await
    }

    async fn peer(relay: &TestRelay, fixture: &mut ProgramFixture) -> Self {
        let credential = fixture.supporter();
        let mut peer = Self::hello(relay, Role::Peer).await;
        peer.send(&credential.present_frame()).await;
        let RelayFrame::Challenge { challenge } = peer.frame().await else {
            panic!("expected a challenge");
        };
        let answer = credential.answer(challenge.as_bytes());
        peer.send(&ClientFrame::Prove {
            answer: answer.into(),
        })
        .await;
        assert!(matches!(peer.frame().await, RelayFrame::Verified { .. }));
        peer.send(&ClientFrame::SetAvailability {
            status: confidant_proto::Availability::Available,
            capacity: 4,
            topics: vec![],
            languages: vec![],
            auto_accept: false,
        })
        .await;
        assert!(matches!(
            peer.frame().await,
            RelayFrame::AvailabilitySet { .. }
        ));
        peer
    }

    async fn send(&mut self, frame: &ClientFrame) {
        self.client.send(frame).await;
        self.sent += 1;
    }

    async fn send_data(&mut self, chat: ChatNumber, payload: &[u8]) {
        self.client.send_data(chat, payload).await;
        self.sent += 1;
    }

    /// The next counted message (the relay's `ack` frames are noted and skipped).
    async fn recv(&mut self) -> Received {
        loop {
            let got = self.client.recv().await;
            match got {
                Received::Frame(RelayFrame::Ack { received }) => {
                    assert!(received <= self.sent, "ack above what was sent");
                    self.relay_acked = received;
                }
                Received::Closed(_) => return got,
                other => {
                    self.received += 1;
                    if self.auto_ack {
                        self.client
                            .send(&ClientFrame::Ack {
                                received: self.received,
                            })
                            .await;
                    }
                    return other;
                }
            }
        }
    }

    async fn frame(&mut self) -> RelayFrame {
        match self.recv().await {
            Received::Frame(frame) => frame,
            other => panic!("expected a control frame, got {other:?}"),
        }
    }

    async fn frame_skipping_queued(&mut self) -> RelayFrame {
        loop {
            let frame = self.frame().await;
            if !matches!(frame, RelayFrame::Queued { .. }) {
                return frame;
            }
        }
    }

    async fn data(&mut self) -> Vec<u8> {
        match self.recv().await {
            Received::Data(bytes) => bytes,
            other => panic!("expected data, got {other:?}"),
        }
    }

    /// Drops the socket without a close frame: what a network switch looks like.
    fn lose_socket(self) -> Lost {
        drop(self.client);
        Lost {
            secret: self.secret,
            received: self.received,
            sent: self.sent,
        }
    }
}

/// A client whose socket is gone: what it keeps in memory to resume.
struct Lost {
    secret: Base64Bytes,
    received: u64,
    sent: u64,
}

impl Lost {
    /// A new socket, `resume`, and `resumed`.
    async fn resume(self, relay: &TestRelay) -> Resumable {
        let mut client = RawClient::connect(relay).await;
        client
            .send(&ClientFrame::Resume {
                secret: self.secret.clone(),
                received: self.received,
            })
            .await;
        let RelayFrame::Resumed { secret, received } = client.frame().await else {
            panic!("expected resumed");
        };
        assert_ne!(secret, self.secret, "a fresh secret");
        assert_eq!(
            received, self.sent,
            "the relay got everything the client sent"
        );
        Resumable {
            client,
            secret,
            received: self.received,
            sent: self.sent,
            relay_acked: received,
            auto_ack: true,
        }
    }

    /// A new socket whose `resume` is refused.
    async fn resume_refused(&self, relay: &TestRelay) {
        let mut client = RawClient::connect(relay).await;
        client
            .send(&ClientFrame::Resume {
                secret: self.secret.clone(),
                received: self.received,
            })
            .await;
        client.expect_fatal(ErrorCode::ResumeFailed).await;
    }
}

/// A resumable seeker matched with a resumable peer: `(seeker, seeker_chat, peer, peer_chat)`.
async fn chatting(
    relay: &TestRelay,
    fixture: &mut ProgramFixture,
) -> (Resumable, ChatNumber, Resumable, ChatNumber) {
    let mut peer = Resumable::peer(relay, fixture).await;
    let mut seeker = Resumable::seeker(relay).await;
    seeker
        .send(&ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        })
        .await;
    let RelayFrame::Offer { offer, .. } = peer.frame().await else {
        panic!("expected an offer");
    };
    peer.send(&ClientFrame::Accept { offer }).await;
    let RelayFrame::ChatStarted {
        chat: peer_chat, ..
    } = peer.frame().await
    else {
        panic!("expected chat_started");
    };
    let RelayFrame::Matched {
        chat: seeker_chat, ..
    } = seeker.frame_skipping_queued().await
    else {
        panic!("expected matched");
    };
    // The seeker's msg1 opens the chat for the peer's data.
    seeker.send_data(seeker_chat, b"msg1").await;
    assert_eq!(&peer.data().await[4..], b"msg1");
    (seeker, seeker_chat, peer, peer_chat)
}

#[tokio::test]
async fn a_seeker_resumes_its_chat_and_what_was_sent_meanwhile_arrives_once_in_order() {
    let (relay, mut fixture) = relay().await;
    let (mut seeker, seeker_chat, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    peer.send_data(peer_chat, b"msg2").await;
    assert_eq!(&seeker.data().await[4..], b"msg2");

    let lost = seeker.lose_socket();
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerAway { chat: peer_chat }
    );
    for n in 0..5u8 {
        peer.send_data(peer_chat, &[b'a' + n; 3]).await;
    }
    let mut seeker = lost.resume(&relay).await;
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerBack { chat: peer_chat }
    );
    for n in 0..5u8 {
        assert_eq!(&seeker.data().await[4..], &[b'a' + n; 3]);
    }
    // Nothing twice: the next thing the seeker gets is what the peer sends now.
    peer.send_data(peer_chat, b"after").await;
    assert_eq!(&seeker.data().await[4..], b"after");
    seeker.send_data(seeker_chat, b"back").await;
    assert_eq!(&peer.data().await[4..], b"back");
    // Both sides see one chat, still open, with its numbers.
    let stats = relay.stats().await;
    assert_eq!((stats.active_chats, stats.connections), (1, 2), "{stats:?}");
}

/// Messages the relay wrote into the old socket but the client never acknowledged are
/// written again: the client says what it got, not the relay.
#[tokio::test]
async fn unacknowledged_messages_are_sent_again_after_what_the_client_says_it_got() {
    let (relay, mut fixture) = relay().await;
    let (mut seeker, _, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    for n in 0..3u8 {
        peer.send_data(peer_chat, &[n; 2]).await;
    }
    // The seeker reads all three, but the last one is "lost" on the way: it resumes saying
    // it received one fewer, and gets exactly that one again.
    seeker.auto_ack = false;
    for n in 0..3u8 {
        assert_eq!(&seeker.data().await[4..], &[n; 2]);
    }
    let mut lost = seeker.lose_socket();
    lost.received -= 1;
    let mut seeker = lost.resume(&relay).await;
    assert_eq!(&seeker.data().await[4..], &[2u8; 2]);
    assert!(
        seeker
            .client
            .recv_within(Duration::from_millis(300))
            .await
            .is_none_or(|got| matches!(got, Received::Frame(RelayFrame::Ack { .. })))
    );
}

#[tokio::test]
async fn the_relay_acknowledges_what_it_received() {
    let (relay, mut fixture) = relay().await;
    let (mut seeker, seeker_chat, mut peer, _) = chatting(&relay, &mut fixture).await;
    for _ in 0..20 {
        seeker.send_data(seeker_chat, b"x").await;
    }
    for _ in 0..20 {
        peer.data().await;
    }
    // 16 messages make an ack at once; the rest within 250 ms.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while seeker.relay_acked < seeker.sent {
        assert!(tokio::time::Instant::now() < deadline, "no ack in time");
        if let Some(Received::Frame(RelayFrame::Ack { received })) =
            seeker.client.recv_within(Duration::from_millis(500)).await
        {
            seeker.relay_acked = received;
        }
    }
    assert_eq!(seeker.relay_acked, seeker.sent);
}

#[tokio::test]
async fn a_closed_window_ends_the_chat_as_a_disconnect_and_the_secret_is_gone() {
    let (relay, mut fixture) = relay().await;
    let (seeker, _, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    let lost = seeker.lose_socket();
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerAway { chat: peer_chat }
    );
    let started = tokio::time::Instant::now();
    assert_eq!(
        peer.frame().await,
        RelayFrame::ChatEnded {
            chat: peer_chat,
            reason: ChatEndReason::PartnerLeft
        }
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2_500) && waited < Duration::from_secs(5),
        "the window is 3 s: {waited:?}"
    );
    lost.resume_refused(&relay).await;
    relay
        .wait_stats(|s| s.active_chats == 0 && s.connections == 1)
        .await;
}

#[tokio::test]
async fn a_secret_works_once_and_a_guess_never() {
    let (relay, mut fixture) = relay().await;
    let (seeker, _, _peer, _) = chatting(&relay, &mut fixture).await;
    let guess = Lost {
        secret: vec![7u8; 32].into(),
        received: 0,
        sent: 0,
    };
    guess.resume_refused(&relay).await;
    let lost = seeker.lose_socket();
    let again = Lost {
        secret: lost.secret.clone(),
        received: lost.received,
        sent: lost.sent,
    };
    let seeker = lost.resume(&relay).await;
    again.resume_refused(&relay).await;
    // The resumed connection carries on, with its fresh secret usable once more.
    seeker.lose_socket().resume(&relay).await;
}

/// A resume that claims more than the relay sent, or less than it acknowledged, is refused
/// and the connection ends (its state cannot be trusted).
#[tokio::test]
async fn a_count_that_does_not_fit_is_refused() {
    let (relay, mut fixture) = relay().await;
    let (seeker, _, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    let mut lost = seeker.lose_socket();
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerAway { chat: peer_chat }
    );
    lost.received += 10;
    lost.resume_refused(&relay).await;
    assert_eq!(
        peer.frame().await,
        RelayFrame::ChatEnded {
            chat: peer_chat,
            reason: ChatEndReason::PartnerLeft
        }
    );
}

/// A half-open socket (the relay has not noticed it is dead) is taken over at once.
#[tokio::test]
async fn a_socket_that_still_looks_alive_is_taken_over() {
    let (relay, mut fixture) = relay().await;
    let (mut seeker, seeker_chat, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    let mut new = RawClient::connect(&relay).await;
    new.send(&ClientFrame::Resume {
        secret: seeker.secret.clone(),
        received: seeker.received,
    })
    .await;
    assert!(matches!(new.frame().await, RelayFrame::Resumed { .. }));
    // The old socket is dropped by the relay; the partner never saw the connection away.
    assert!(matches!(seeker.client.recv().await, Received::Closed(_)));
    new.send_data(seeker_chat, b"from the new socket").await;
    let got = peer.data().await;
    assert_eq!(&got[4..], b"from the new socket");
    let _ = peer_chat;
}

#[tokio::test]
async fn an_away_peer_keeps_its_chats_and_its_offers_lapse() {
    let (relay, mut fixture) = relay().await;
    let (mut seeker, seeker_chat, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    // A second seeker is offered to the peer; the peer's socket goes before it answers.
    let mut waiting = RawClient::seeker(&relay, PROGRAM).await;
    waiting.seek(SeekPreferences::default()).await;
    let RelayFrame::Offer { offer, .. } = peer.frame().await else {
        panic!("expected an offer");
    };
    let lost = peer.lose_socket();
    assert_eq!(
        seeker.frame().await,
        RelayFrame::PartnerAway { chat: seeker_chat }
    );
    seeker.send_data(seeker_chat, b"still there?").await;
    relay.wait_stats(|s| s.open_offers == 0).await;
    let mut peer = lost.resume(&relay).await;
    assert_eq!(
        peer.frame().await,
        RelayFrame::OfferWithdrawn {
            offer,
            reason: OfferWithdrawnReason::Timeout
        }
    );
    // Back, the peer gets what the seeker sent and is offered the waiting seeker again (in
    // either order: the seeker's frame and the resume race).
    let (mut data, mut offered) = (false, false);
    while !(data && offered) {
        match peer.recv().await {
            Received::Data(bytes) => {
                assert_eq!(&bytes[4..], b"still there?");
                assert_eq!(bytes[..4], peer_chat.0.to_be_bytes());
                data = true;
            }
            Received::Frame(RelayFrame::Offer { .. }) => offered = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seeker.frame().await,
        RelayFrame::PartnerBack { chat: seeker_chat }
    );
}

#[tokio::test]
async fn a_queued_seeker_keeps_its_place_and_is_not_offered_while_away() {
    let (relay, mut fixture) = relay().await;
    let mut first = Resumable::seeker(&relay).await;
    first
        .send(&ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        })
        .await;
    assert!(matches!(first.frame().await, RelayFrame::Queued { .. }));
    let lost = first.lose_socket();
    let mut second = RawClient::seeker(&relay, PROGRAM).await;
    second.seek(SeekPreferences::default()).await;
    // A peer comes: only the second seeker (present) is offered.
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    let offer = peer.offer().await;
    peer.send(&ClientFrame::Decline { offer }).await;
    // Still away: nothing for the peer while the first seeker is away.
    assert!(peer.recv_within(Duration::from_millis(400)).await.is_none());
    let mut first = lost.resume(&relay).await;
    let offer = peer.offer().await;
    let chat = peer.accept(offer).await;
    assert!(matches!(
        first.frame_skipping_queued().await,
        RelayFrame::Matched { .. }
    ));
    let _ = chat;
}

/// A client that stops answering (a black-holed network) is found by the keepalive: the
/// partner is told `partner_away` within idle + deadline.
#[tokio::test]
async fn the_keepalive_finds_a_silent_socket() {
    let (relay, mut fixture) = relay().await;
    let (seeker, _, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    // The seeker's socket stays open but nobody reads it: pings go unanswered.
    let started = tokio::time::Instant::now();
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerAway { chat: peer_chat }
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(seeker);
}

/// While the seeker is away its chat buffer fills: the bound of a connected slow reader
/// holds (8 frames in the test relay), and the chat ends as `slow_reader`.
#[tokio::test]
async fn what_waits_for_an_away_side_is_bounded_by_the_chat_buffer() {
    let (relay, mut fixture) = relay().await;
    let (seeker, _, mut peer, peer_chat) = chatting(&relay, &mut fixture).await;
    let _lost = seeker.lose_socket();
    assert_eq!(
        peer.frame().await,
        RelayFrame::PartnerAway { chat: peer_chat }
    );
    for _ in 0..9 {
        peer.send_data(peer_chat, b"talkative").await;
    }
    assert_eq!(
        peer.frame().await,
        RelayFrame::ChatEnded {
            chat: peer_chat,
            reason: ChatEndReason::SlowReader
        }
    );
}

/// A version-1 client is untouched: no `resume` in `welcome`, `ack` is an unknown type.
#[tokio::test]
async fn version_1_connections_are_unchanged() {
    let (relay, _fixture) = relay().await;
    let mut client = RawClient::seeker(&relay, PROGRAM).await;
    client.send_text(r#"{"type":"ack","received":0}"#).await;
    client.expect_fatal(ErrorCode::MalformedFrame).await;
    // `resume` after `hello` is out of order.
    let mut client = RawClient::seeker(&relay, PROGRAM).await;
    client
        .send(&ClientFrame::Resume {
            secret: vec![1u8; 32].into(),
            received: 0,
        })
        .await;
    client.expect_fatal(ErrorCode::UnexpectedFrame).await;
}

/// With the window at zero the relay does not implement the feature at all.
#[tokio::test]
async fn a_zero_window_turns_resume_off() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.resume_grace = Duration::ZERO;
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let mut client = RawClient::connect(&relay).await;
    client
        .send(&ClientFrame::Hello {
            v: 1,
            role: Role::Seeker,
            program: PROGRAM.to_owned(),
            features: Some(vec!["resume".to_owned(), "pass".to_owned()]),
            chat_features: None,
        })
        .await;
    let RelayFrame::Welcome {
        features, resume, ..
    } = client.frame().await
    else {
        panic!("expected welcome");
    };
    assert_eq!(features, Some(vec!["pass".to_owned()]));
    assert_eq!(resume, None);
    // Under the growth rules an `ack` is then an unknown type: skipped.
    client.send_text(r#"{"type":"ack","received":0}"#).await;
    client.ping_pong().await;
}
