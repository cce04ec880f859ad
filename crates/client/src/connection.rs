//! One WebSocket to the relay: JSON control frames and binary data frames in, the same out.
//!
//! This is the only module that touches the socket. It knows nothing about seekers, peers
//! or encryption; the state machines above it decide what to send.

use std::time::Duration;

use confidant_proto::{ChatNumber, ClientFrame, DataFrame, RelayFrame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::ClientError;
use crate::transport::{self, Endpoint, Stream, TlsTrust};

/// Something the relay sent, already parsed.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A control frame (boxed: `welcome` with the program's details is large, data frames
    /// are the common case).
    Control(Box<RelayFrame>),
    /// A data frame: the chat number and the opaque Noise message.
    Data { chat: ChatNumber, payload: Vec<u8> },
}

/// An open WebSocket to the relay.
pub(crate) struct Connection {
    socket: WebSocketStream<Stream>,
    /// Read relay frames by the growth rules (after a `welcome` with features): skip
    /// unknown members and frame types that are not critical.
    lenient: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens the WebSocket: `ws://`, or `wss://` with TLS trusting `trust`. `timeout` covers
    /// TCP, TLS and the WebSocket upgrade together.
    pub(crate) async fn open(
        url: &str,
        trust: &TlsTrust,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let endpoint = Endpoint::parse(url)?;
        let mut config = WebSocketConfig::default();
        // The relay never sends anything larger than a data frame or a control frame; a
        // bigger message is an attack on our memory, not a chat.
        config.max_message_size = Some(
            confidant_proto::limits::MAX_DATA_FRAME.max(confidant_proto::limits::MAX_CONTROL_FRAME),
        );
        config.max_frame_size = config.max_message_size;
        let open = async {
            let stream = transport::connect(&endpoint, trust).await?;
            tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                .await
                .map_err(|e| ClientError::Connect(describe_ws_error(&e)))
        };
        let (socket, _response) = tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| ClientError::Timeout)??;
        Ok(Self {
            socket,
            lenient: false,
        })
    }

    /// From now on, read relay frames by the growth rules (the relay granted features).
    pub(crate) fn set_lenient(&mut self) {
        self.lenient = true;
    }

    /// Sends one message as it is (the link's counted and re-sent messages, `ack`, pings).
    pub(crate) async fn send_message(&mut self, message: Message) -> Result<(), ClientError> {
        self.socket
            .send(message)
            .await
            .map_err(|_| ClientError::ConnectionClosed { close_code: None })
    }

    /// Sends one control frame.
    pub(crate) async fn send_control(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.socket
            .send(Message::text(frame.to_json()))
            .await
            .map_err(|_| ClientError::ConnectionClosed { close_code: None })
    }

    /// Waits for the next frame. Pings are answered by tungstenite; a close or a transport
    /// error ends with `ConnectionClosed`. Cancel-safe (it only polls the stream).
    pub(crate) async fn recv(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let Some(message) = self.socket.next().await else {
                return Err(ClientError::ConnectionClosed { close_code: None });
            };
            let message =
                message.map_err(|_| ClientError::ConnectionClosed { close_code: None })?;
            match message {
                Message::Text(text) => {
                    let frame = if self.lenient {
                        RelayFrame::from_json_lenient(text.as_bytes())
                    } else {
                        RelayFrame::from_json(text.as_bytes()).map(Some)
                    };
                    match frame.map_err(|e| ClientError::protocol(&e))? {
                        Some(frame) => return Ok(Incoming::Control(Box::new(frame))),
                        None => tracing::debug!("skipping a relay frame of an unknown type"),
                    }
                }
                Message::Binary(bytes) => {
                    let frame = DataFrame::decode(&bytes).map_err(|e| ClientError::protocol(&e))?;
                    return Ok(Incoming::Data {
                        chat: frame.chat,
                        payload: frame.noise_message.to_vec(),
                    });
                }
                Message::Close(frame) => {
                    return Err(ClientError::ConnectionClosed {
                        close_code: frame.map(|f| u16::from(f.code)),
                    });
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Closes politely; errors are irrelevant at this point.
    pub(crate) async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// A connection error without the URL or address in it.
fn describe_ws_error(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Io(e) => format!("network error ({:?})", e.kind()),
        Error::Http(response) => format!("the relay answered HTTP {}", response.status()),
        Error::Url(_) => "invalid URL".to_owned(),
        Error::HttpFormat(_) | Error::Protocol(_) => "WebSocket handshake failed".to_owned(),
        _ => "WebSocket error".to_owned(),
    }
}
