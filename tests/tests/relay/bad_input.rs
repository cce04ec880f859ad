//! Bad input: each gets its catalogue code and close code, and a chat running alongside on
//! the same relay keeps forwarding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_proto::limits::{MAX_CONTROL_FRAME, MAX_DATA_FRAME};
use confidant_proto::{ChatNumber, ClientFrame, ErrorCode, Role, SeekPreferences};
use confidant_tests::client::match_pair;
use confidant_tests::{ProgramFixture, RawClient, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// A relay with a running chat beside the misbehaving client.
struct Bystanders {
    relay: TestRelay,
    seeker: RawClient,
    peer: RawClient,
    seeker_chat: ChatNumber,
    peer_chat: ChatNumber,
}

impl Bystanders {
    async fn new(limits: confidant_relay::Limits) -> Self {
        let mut fixture = ProgramFixture::new(PROGRAM);
        let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
        let credential = fixture.supporter();
        let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
        peer.available(1, false).await;
        let (seeker, seeker_chat, peer_chat) = match_pair(&relay, PROGRAM, &mut peer).await;
        Self {
            relay,
            seeker,
            peer,
            seeker_chat,
            peer_chat,
        }
    }

    /// The chat still forwards both ways.
    async fn still_forwarding(&mut self) {
        self.seeker.send_data(self.seeker_chat, b"ping").await;
        assert_eq!(self.peer.data().await, (self.peer_chat, b"ping".to_vec()));
        self.peer.send_data(self.peer_chat, b"pong").await;
        assert_eq!(
            self.seeker.data().await,
            (self.seeker_chat, b"pong".to_vec())
        );
    }

    async fn seeker_client(&self) -> RawClient {
        RawClient::seeker(&self.relay, PROGRAM).await
    }
}

#[tokio::test]
async fn malformed_json_unknown_type_unknown_field() {
    let mut b = Bystanders::new(test_limits()).await;
    for text in [
        "{not json",
        r#"{"type":"teleport"}"#,
        r#"{"type":"cancel","extra":1}"#,
        r#"{"type":"hello","v":1,"role":"seeker"}"#,
    ] {
        let mut bad = b.seeker_client().await;
        bad.send_text(text).await;
        bad.expect_fatal(ErrorCode::MalformedFrame).await;
        b.still_forwarding().await;
    }
}

#[tokio::test]
async fn out_of_state_and_wrong_role() {
    let mut b = Bystanders::new(test_limits()).await;
    // Seek before hello.
    let mut bad = RawClient::connect(&b.relay).await;
    bad.send(&ClientFrame::Seek {
        preferences: SeekPreferences::default(),
        urgent: false,
    })
    .await;
    bad.expect_fatal(ErrorCode::UnexpectedFrame).await;
    // A second hello.
    let mut bad = b.seeker_client().await;
    bad.hello(Role::Seeker, PROGRAM).await;
    bad.expect_fatal(ErrorCode::UnexpectedFrame).await;
    // A seeker sending a peer frame.
    let mut bad = b.seeker_client().await;
    bad.send(&ClientFrame::Accept { offer: 1 }).await;
    bad.expect_fatal(ErrorCode::WrongRole).await;
    // A peer sending a seeker frame (before presenting, even).
    let mut bad = RawClient::connect(&b.relay).await;
    bad.hello(Role::Peer, PROGRAM).await;
    bad.frame().await;
    bad.send(&ClientFrame::Seek {
        preferences: SeekPreferences::default(),
        urgent: false,
    })
    .await;
    bad.expect_fatal(ErrorCode::WrongRole).await;
    // A peer accepting before it is verified: no such offer, and the connection goes on
    // (proto/spec.md, peer "Frames allowed"; it was closed with unexpected_frame before).
    let mut bad = RawClient::connect(&b.relay).await;
    bad.hello(Role::Peer, PROGRAM).await;
    bad.frame().await;
    bad.send(&ClientFrame::Accept { offer: 1 }).await;
    bad.expect_error(ErrorCode::UnknownOffer).await;
    bad.send(&ClientFrame::End {
        chat: confidant_proto::ChatNumber(1),
    })
    .await;
    bad.expect_error(ErrorCode::UnknownChat).await;
    b.still_forwarding().await;
}

#[tokio::test]
async fn oversized_frames_are_refused() {
    let mut b = Bystanders::new(test_limits()).await;
    // Text above the control limit (but below the data limit): our own check.
    let mut bad = b.seeker_client().await;
    bad.send_text(format!(
        r#"{{"type":"cancel","x":"{}"}}"#,
        "a".repeat(MAX_CONTROL_FRAME)
    ))
    .await;
    bad.expect_fatal(ErrorCode::FrameTooLarge).await;
    b.still_forwarding().await;
    // Binary above the data limit: the WebSocket layer's limit.
    let mut bad = b.seeker_client().await;
    bad.send_binary(vec![0_u8; MAX_DATA_FRAME + 1]).await;
    bad.expect_fatal(ErrorCode::FrameTooLarge).await;
    b.still_forwarding().await;
    // Text above the data limit but within the control limit is read as a control frame
    // (a `present` at its size budget must fit): this one is not JSON.
    let mut bad = b.seeker_client().await;
    bad.send_text("a".repeat(MAX_DATA_FRAME + 1)).await;
    bad.expect_fatal(ErrorCode::MalformedFrame).await;
    b.still_forwarding().await;
    // Text above the control limit: the WebSocket layer's limit.
    let mut bad = b.seeker_client().await;
    bad.send_text("a".repeat(MAX_CONTROL_FRAME + 1)).await;
    bad.expect_fatal(ErrorCode::FrameTooLarge).await;
    b.still_forwarding().await;
}

#[tokio::test]
async fn data_for_unknown_chats_and_before_match() {
    let mut b = Bystanders::new(test_limits()).await;
    // Binary before hello: out of state, fatal.
    let mut bad = RawClient::connect(&b.relay).await;
    bad.send_data(ChatNumber(1), b"x").await;
    bad.expect_fatal(ErrorCode::UnexpectedFrame).await;
    // Binary after hello but before any match: unknown chat, not fatal.
    let mut bad = b.seeker_client().await;
    bad.send_data(ChatNumber(1), b"x").await;
    bad.expect_error(ErrorCode::UnknownChat).await;
    // A bystander guessing the peer's chat number reaches nothing.
    bad.send_data(b.peer_chat, b"x").await;
    bad.expect_error(ErrorCode::UnknownChat).await;
    // The seeker in the chat naming a chat it does not have.
    b.seeker.send_data(ChatNumber(99), b"x").await;
    b.seeker.expect_error(ErrorCode::UnknownChat).await;
    // A truncated data frame.
    bad.send_binary(vec![0, 0, 0]).await;
    bad.expect_fatal(ErrorCode::MalformedFrame).await;
    // Unknown chat in `end` is not fatal either.
    b.peer
        .send(&ClientFrame::End {
            chat: ChatNumber(42),
        })
        .await;
    b.peer.expect_error(ErrorCode::UnknownChat).await;
    b.still_forwarding().await;
}

#[tokio::test]
async fn invalid_fields_are_not_fatal() {
    let mut b = Bystanders::new(test_limits()).await;
    let mut bad = b.seeker_client().await;
    bad.send_text(r#"{"type":"seek","preferences":{"topic":"NOT A TAG"}}"#)
        .await;
    bad.expect_error(ErrorCode::InvalidField).await;
    bad.seek(SeekPreferences::default()).await;
    b.still_forwarding().await;
}

#[tokio::test]
async fn flooding_is_rate_limited() {
    let mut limits = test_limits();
    limits.frames_per_second = 5;
    limits.frame_burst = 10;
    let mut b = Bystanders::new(limits).await;
    let mut bad = b.seeker_client().await;
    for _ in 0..20 {
        bad.send(&ClientFrame::Cancel {}).await;
    }
    // Up to ten `cancelled` answers, then the limit.
    loop {
        match bad.frame().await {
            confidant_proto::RelayFrame::Cancelled {} => {}
            confidant_proto::RelayFrame::Error { code, .. } => {
                assert_eq!(code, ErrorCode::RateLimited);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        bad.recv().await,
        confidant_tests::Received::Closed(ErrorCode::RateLimited.close_code())
    );
    b.still_forwarding().await;
}
