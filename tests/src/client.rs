//! A tiny raw WebSocket client for protocol-level tests: it sends exactly the frames a test
//! writes (valid or not) and reports exactly what the relay sent back, close codes included.

use std::time::Duration;

use confidant_proto::{
    Availability, ChatNumber, ClientFrame, DataFrame, ErrorCode, RelayFrame, Role, SeekPreferences,
};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;
use crate::fixtures::SupporterCredential;
use crate::relay::TestRelay;

/// What arrived from the relay.
#[derive(Debug, PartialEq, Eq)]
// Unboxed so tests can match `Received::Frame(RelayFrame::…)` directly; a test holds a few.
#[allow(clippy::large_enum_variant)]
pub enum Received {
    /// A control frame.
    Frame(RelayFrame),
    /// A binary data frame (header included).
    Data(Vec<u8>),
    /// The relay closed (with its close code, if it sent one), or the stream ended.
    Closed(Option<u16>),
}

/// A raw protocol client.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawClient {
    /// Opens a WebSocket to the relay.
    pub async fn connect(relay: &TestRelay) -> Self {
        Self::connect_url(&relay.ws_url()).await
    }

    /// Opens a WebSocket to `url`.
    pub async fn connect_url(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("websocket connects");
        Self { ws }
    }

    /// Sends a control frame.
    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(frame.to_json()).await;
    }

    /// Sends any text (for malformed-input tests).
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send text");
    }

    /// Sends any binary message.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send binary");
    }

    /// Sends a data frame on `chat`.
    pub async fn send_data(&mut self, chat: ChatNumber, payload: &[u8]) {
        self.send_binary(DataFrame::encode(chat, payload).expect("encode"))
            .await;
    }

    /// A WebSocket ping, and its pong back (bounded by [`WAIT`]): the relay's task for this
    /// connection is running, so the hub has been told of it.
    pub async fn ping_pong(&mut self) {
        self.ws
            .send(Message::Ping(b"ping".to_vec().into()))
            .await
            .expect("send ping");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Pong(_)))) => return,
                Ok(Some(Ok(_))) => {}
                other => panic!("no pong: {other:?}"),
            }
        }
    }

    /// The next thing from the relay (pings skipped). Panics after [`WAIT`].
    pub async fn recv(&mut self) -> Received {
        self.recv_within(WAIT)
            .await
            .expect("the relay sent nothing in time")
    }

    /// The next thing from the relay within `wait`, or `None`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(Message::Text(text))) => Received::Frame(
                    RelayFrame::from_json(text.as_bytes()).expect("relay sends valid frames"),
                ),
                Some(Ok(Message::Binary(bytes))) => Received::Data(bytes.to_vec()),
                Some(Ok(Message::Close(close))) => {
                    Received::Closed(close.map(|c| u16::from(c.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Received::Closed(None),
            });
        }
    }

    /// The next control frame; panics on anything else.
    pub async fn frame(&mut self) -> RelayFrame {
        match self.recv().await {
            Received::Frame(frame) => frame,
            other => panic!("expected a control frame, got {other:?}"),
        }
    }

    /// The next control frame that is not a `queued` update.
    pub async fn frame_skipping_queued(&mut self) -> RelayFrame {
        loop {
            let frame = self.frame().await;
            if !matches!(frame, RelayFrame::Queued { .. }) {
                return frame;
            }
        }
    }

    /// The next data frame, split into chat number and payload.
    pub async fn data(&mut self) -> (ChatNumber, Vec<u8>) {
        match self.recv().await {
            Received::Data(bytes) => {
                let frame = DataFrame::decode(&bytes).expect("relay sends valid data frames");
                (frame.chat, frame.noise_message.to_vec())
            }
            other => panic!("expected a data frame, got {other:?}"),
        }
    }

    /// Asserts a non-fatal `error{code}` arrives next.
    pub async fn expect_error(&mut self, code: ErrorCode) {
        let frame = self.frame_skipping_queued().await;
        assert!(
            matches!(&frame, RelayFrame::Error { code: c, .. } if *c == code),
            "expected error {code}, got {frame:?}"
        );
    }

    /// Asserts `error{code}` then the catalogue's close code.
    pub async fn expect_fatal(&mut self, code: ErrorCode) {
        self.expect_error(code).await;
        assert_eq!(
            self.recv().await,
            Received::Closed(code.close_code()),
            "close code after {code}"
        );
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(received) = self.recv_within(wait).await {
            panic!("expected silence, got {received:?}");
        }
    }

    /// Closes the connection from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// `hello` as `role` for `program`.
    pub async fn hello(&mut self, role: Role, program: &str) {
        self.send(&ClientFrame::hello_v1(role, program)).await;
    }

    /// Connects as a seeker and waits for `welcome`.
    pub async fn seeker(relay: &TestRelay, program: &str) -> Self {
        let mut client = Self::connect(relay).await;
        client.hello(Role::Seeker, program).await;
        let welcome = client.frame().await;
        assert!(
            matches!(
                welcome,
                RelayFrame::Welcome {
                    role: Role::Seeker,
                    ..
                }
            ),
            "{welcome:?}"
        );
        client
    }

    /// Sends `seek` and returns the first `queued`.
    pub async fn seek(&mut self, preferences: SeekPreferences) -> RelayFrame {
        self.send(&ClientFrame::Seek {
            preferences,
            urgent: false,
        })
        .await;
        let queued = self.frame().await;
        assert!(matches!(queued, RelayFrame::Queued { .. }), "{queued:?}");
        queued
    }

    /// Connects as a peer, presents `credential`, answers the challenge, waits for `verified`.
    pub async fn peer(relay: &TestRelay, program: &str, credential: &SupporterCredential) -> Self {
        Self::peer_hello(
            relay,
            &ClientFrame::hello_v1(Role::Peer, program),
            credential,
        )
        .await
    }

    /// As [`Self::peer`], offering these connection features in `hello`.
    pub async fn peer_with_features(
        relay: &TestRelay,
        program: &str,
        credential: &SupporterCredential,
        features: &[&str],
    ) -> Self {
        let hello = ClientFrame::Hello {
            v: 1,
            role: Role::Peer,
            program: program.to_owned(),
            features: Some(features.iter().map(|f| (*f).to_owned()).collect()),
            chat_features: None,
        };
        Self::peer_hello(relay, &hello, credential).await
    }

    async fn peer_hello(
        relay: &TestRelay,
        hello: &ClientFrame,
        credential: &SupporterCredential,
    ) -> Self {
        let mut client = Self::connect(relay).await;
        client.send(hello).await;
        let welcome = client.frame().await;
        assert!(
            matches!(
                welcome,
                RelayFrame::Welcome {
                    role: Role::Peer,
                    ..
                }
            ),
            "{welcome:?}"
        );
        client.send(&credential.present_frame()).await;
        let RelayFrame::Challenge { challenge } = client.frame().await else {
            panic!("expected a challenge");
        };
        let answer = credential.answer(challenge.as_bytes());
        client
            .send(&ClientFrame::Prove {
                answer: answer.into(),
            })
            .await;
        let verified = client.frame().await;
        assert!(
            matches!(verified, RelayFrame::Verified { .. }),
            "{verified:?}"
        );
        client
    }

    /// Goes available with `capacity`; returns once `availability_set` arrives.
    pub async fn available(&mut self, capacity: u16, auto_accept: bool) {
        self.send(&ClientFrame::SetAvailability {
            status: Availability::Available,
            capacity,
            topics: vec![],
            languages: vec![],
            auto_accept,
        })
        .await;
        let set = self.frame().await;
        assert!(
            matches!(
                set,
                RelayFrame::AvailabilitySet {
                    status: Availability::Available,
                    ..
                }
            ),
            "{set:?}"
        );
    }

    /// Waits for an `offer` and returns its number.
    pub async fn offer(&mut self) -> u32 {
        match self.frame().await {
            RelayFrame::Offer { offer, .. } => offer,
            other => panic!("expected an offer, got {other:?}"),
        }
    }

    /// Accepts `offer` and returns the peer's chat number.
    pub async fn accept(&mut self, offer: u32) -> ChatNumber {
        self.send(&ClientFrame::Accept { offer }).await;
        match self.frame().await {
            RelayFrame::ChatStarted { chat, offer: o, .. } => {
                assert_eq!(o, offer);
                chat
            }
            other => panic!("expected chat_started, got {other:?}"),
        }
    }

    /// Waits (skipping `queued`) for `matched` and returns the seeker's chat number.
    pub async fn matched(&mut self) -> ChatNumber {
        match self.frame_skipping_queued().await {
            RelayFrame::Matched { chat, .. } => chat,
            other => panic!("expected matched, got {other:?}"),
        }
    }

    /// Waits for `chat_ended` and returns its chat and reason.
    pub async fn chat_ended(&mut self) -> (ChatNumber, confidant_proto::ChatEndReason) {
        match self.frame_skipping_queued().await {
            RelayFrame::ChatEnded { chat, reason } => (chat, reason),
            other => panic!("expected chat_ended, got {other:?}"),
        }
    }
}

/// A seeker matched with a peer: `(seeker, seeker_chat, peer_chat)`. The peer must be
/// available with free capacity and nobody else waiting.
pub async fn match_pair(
    relay: &TestRelay,
    program: &str,
    peer: &mut RawClient,
) -> (RawClient, ChatNumber, ChatNumber) {
    let mut seeker = RawClient::seeker(relay, program).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let peer_chat = peer.accept(offer).await;
    let seeker_chat = seeker.matched().await;
    (seeker, seeker_chat, peer_chat)
}
