//! A connection's outgoing queue: the only way anything reaches a client's socket.
//!
//! One writer task per connection drains it (`feed` per frame, one `flush` per burst). The
//! queue is bounded; a client that stops reading fills it, and then it is cut off rather
//! than allowed to grow the relay's memory. Data frames are bounded further per chat by
//! [`crate::chat_link::ChatLink`], so one stuck chat ends as `slow_reader` long before the
//! connection's queue is full.

use std::sync::Arc;

use bytes::Bytes;
use confidant_proto::{ErrorCode, RelayFrame};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chat_link::{ChatLink, Side};

/// Control frames a connection may have queued on top of its chats' data frames.
pub(crate) const CONTROL_SLACK: usize = 64;

/// One item for the writer.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A JSON control frame.
    Control(String),
    /// A data frame with its header already rewritten for this connection.
    Data {
        /// The bytes to send.
        frame: Bytes,
        /// The chat, to count the frame as delivered.
        link: Arc<ChatLink>,
        /// Which side this connection is in that chat.
        to: Side,
    },
    /// Send `error{code}` then close with the code's close code; the writer stops.
    Close(ErrorCode),
    /// The connection is over: flush and close normally.
    Finish,
}

/// The sending half of a connection's queue, cloned into the hub and into partners' routes.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
}

impl Outbox {
    /// A queue of `capacity` items; `kill` cuts the connection off at once.
    pub(crate) fn new(
        capacity: usize,
        kill: CancellationToken,
    ) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx, kill }, rx)
    }

    /// Queues a control frame. A full queue means the client is not reading: it is cut off.
    pub(crate) fn control(&self, frame: &RelayFrame) {
        self.push(Outbound::Control(frame.to_json()));
    }

    /// Queues `error{code}`; if the code is fatal, the close follows and the writer stops.
    pub(crate) fn error(&self, code: ErrorCode) {
        if code.is_fatal() {
            self.push(Outbound::Close(code));
        } else {
            self.control(&RelayFrame::error(code));
        }
    }

    /// Queues the normal end of the connection.
    pub(crate) fn finish(&self) {
        self.push(Outbound::Finish);
    }

    /// Queues a data frame; false if the queue is full (the caller ends the chat instead).
    pub(crate) fn push_data(&self, item: Outbound) -> bool {
        self.tx.try_send(item).is_ok()
    }

    fn push(&self, item: Outbound) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(kind = "slow_consumer", "outbox full; closing connection");
                self.kill.cancel();
            }
            // The writer is gone: the connection is already ending.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}
