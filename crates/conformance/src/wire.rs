//! A raw WebSocket client that says exactly what a case tells it to and reports exactly what
//! the relay answered: text frames as JSON values, and the close code. No SDK in between.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long the suite waits for an answer the spec demands.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What arrived from the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A control frame.
    Frame(Value),
    /// A data frame.
    Data(Vec<u8>),
    /// A close frame with its code (or none), or the end of the stream.
    Closed(Option<u16>),
    /// Nothing within the time allowed.
    Silence,
}

impl Received {
    /// The frame's `type`, if it is a control frame.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Frame(frame) => frame.get("type").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The error code, if it is an `error` frame.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Frame(frame) if self.kind() == Some("error") => {
                frame.get("code").and_then(Value::as_str)
            }
            _ => None,
        }
    }

    /// A short description for a report.
    pub fn describe(&self) -> String {
        match self {
            Self::Frame(frame) => frame.to_string().chars().take(200).collect(),
            Self::Data(bytes) => format!("a data frame of {} bytes", bytes.len()),
            Self::Closed(Some(code)) => format!("close {code}"),
            Self::Closed(None) => "close without a code".to_owned(),
            Self::Silence => "nothing".to_owned(),
        }
    }
}

/// One connection to the relay under test.
pub struct Wire {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Wire {
    /// Opens a WebSocket to `url`.
    ///
    /// # Errors
    /// The connection or upgrade failed.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(64 * 1024);
        config.max_frame_size = Some(64 * 1024);
        let (socket, _) = tokio::time::timeout(
            ANSWER_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .map_err(|_| format!("connecting to {url} timed out"))?
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        Ok(Self { socket })
    }

    /// Sends one text message exactly as given.
    pub async fn text(&mut self, text: impl Into<String>) -> Result<(), String> {
        self.socket
            .send(Message::text(text.into()))
            .await
            .map_err(|e| format!("send failed: {e}"))
    }

    /// Sends one control frame.
    pub async fn frame(&mut self, frame: &Value) -> Result<(), String> {
        self.text(frame.to_string()).await
    }

    /// Sends one binary message exactly as given.
    pub async fn binary(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.socket
            .send(Message::binary(bytes))
            .await
            .map_err(|e| format!("send failed: {e}"))
    }

    /// The next thing the relay sends, within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Received {
        loop {
            let next = tokio::time::timeout(wait, self.socket.next()).await;
            let message = match next {
                Err(_) => return Received::Silence,
                Ok(None | Some(Err(_))) => return Received::Closed(None),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    return match serde_json::from_str(text.as_str()) {
                        Ok(value) => Received::Frame(value),
                        Err(_) => Received::Frame(json!({"type": "(not JSON)"})),
                    };
                }
                Message::Binary(bytes) => return Received::Data(bytes.to_vec()),
                Message::Close(frame) => return Received::Closed(frame.map(|f| u16::from(f.code))),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// The next thing the relay sends, within [`ANSWER_TIMEOUT`].
    pub async fn next(&mut self) -> Received {
        self.next_within(ANSWER_TIMEOUT).await
    }

    /// The next control frame, skipping `queued` updates (which the relay sends whenever
    /// its figures change) and `availability_set` refreshes unless asked for.
    pub async fn next_skipping_updates(&mut self) -> Received {
        loop {
            let received = self.next().await;
            if !matches!(received.kind(), Some("queued" | "availability_set")) {
                return received;
            }
        }
    }

    /// Waits for a control frame of `kind`, skipping updates of other kinds; anything else
    /// is an error.
    pub async fn expect(&mut self, kind: &str) -> Result<Value, String> {
        loop {
            let received = self.next().await;
            match &received {
                Received::Frame(frame) if received.kind() == Some(kind) => return Ok(frame.clone()),
                _ if matches!(received.kind(), Some("queued" | "availability_set")) => {}
                other => return Err(format!("expected {kind}, got {}", other.describe())),
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
