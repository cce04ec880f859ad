//! A connection's outgoing queue: the only way anything reaches a client's socket.
//!
//! The connection's task drains it (`feed` per frame, one `flush` per burst). The queue is
//! bounded; a client that stops reading fills it, and then it is cut off rather than
//! allowed to grow the relay's memory. Data frames are bounded further per chat by
//! [`crate::data_path::ChatLink`], so one stuck chat ends as `slow_reader` long before the
//! connection's queue is full.
//!
//! The queue is a `VecDeque` under a small mutex rather than a `tokio::sync::mpsc` channel:
//! an mpsc channel allocates a block of 32 slots (about 1.5 KiB for [`Outbound`]) plus its
//! cache-padded state up front for every connection, idle or not, while this queue holds
//! only what is queued and gives large capacity back once it drains
//! (`docs/performance.md`).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use confidant_proto::{ErrorCode, RelayFrame};
use futures_util::task::AtomicWaker;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio_util::sync::CancellationToken;

use super::chat_link::{ChatLink, Side};

/// Control frames a connection may have queued on top of its chats' data frames.
pub(crate) const CONTROL_SLACK: usize = 64;

/// Slots a drained queue may keep; a larger buffer left by a burst is given back.
const KEEP_SLOTS: usize = 16;

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
    /// Close with an RFC 6455 code and no `error` frame: the client broke the WebSocket
    /// protocol itself (1002) or sent text that is not UTF-8 (1007); the writer stops.
    ProtocolClose(u16),
    /// The connection is over: flush and close normally.
    Finish,
    /// Feature `resume`: from the next item on, count what is written and keep it until the
    /// client acknowledges it, keeping at most this many (`welcome` went just before).
    CountFromHere(usize),
}

/// The queue both halves share.
#[derive(Debug)]
struct Queue {
    state: Mutex<State>,
    /// The receiver's task, woken when an item arrives or the last sender leaves.
    waker: AtomicWaker,
    capacity: usize,
}

#[derive(Debug)]
struct State {
    items: VecDeque<Outbound>,
    /// The receiver closed (or is gone): nothing more is accepted.
    closed: bool,
    /// Live [`Outbox`] handles; at zero the receiver sees the end of the queue.
    senders: usize,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending half of a connection's queue, cloned into the hub and into partners' routes.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Arc<Queue>,
    kill: CancellationToken,
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.queue.lock().senders += 1;
        Self {
            queue: self.queue.clone(),
            kill: self.kill.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let last = {
            let mut state = self.queue.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.queue.waker.wake();
        }
    }
}

impl Outbox {
    /// A queue of `capacity` items; `kill` cuts the connection off at once.
    pub(crate) fn new(capacity: usize, kill: CancellationToken) -> (Self, OutboxReceiver) {
        let queue = Arc::new(Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                senders: 1,
            }),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
        });
        (
            Self {
                queue: queue.clone(),
                kill,
            },
            OutboxReceiver { queue },
        )
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
    /// Queues a close with an RFC 6455 code (1002, 1007) and no `error` frame.
    pub(crate) fn protocol_close(&self, code: u16) {
        self.push(Outbound::ProtocolClose(code));
    }

    pub(crate) fn finish(&self) {
        self.push(Outbound::Finish);
    }

    /// Feature `resume`: what follows is counted and kept until acknowledged (at most `keep`).
    pub(crate) fn count_from_here(&self, keep: usize) {
        self.push(Outbound::CountFromHere(keep));
    }

    /// Queues a data frame; false if the queue is full (the caller ends the chat instead).
    pub(crate) fn push_data(&self, item: Outbound) -> bool {
        self.try_send(item).is_ok()
    }

    fn push(&self, item: Outbound) {
        match self.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!(kind = "slow_consumer", "outbox full; closing connection");
                self.kill.cancel();
            }
            // The writer is gone: the connection is already ending.
            Err(TrySendError::Closed(_)) => {}
        }
    }

    fn try_send(&self, item: Outbound) -> Result<(), TrySendError<Outbound>> {
        {
            let mut state = self.queue.lock();
            if state.closed {
                return Err(TrySendError::Closed(item));
            }
            if state.items.len() >= self.queue.capacity {
                return Err(TrySendError::Full(item));
            }
            state.items.push_back(item);
        }
        self.queue.waker.wake();
        Ok(())
    }
}

/// The receiving half: the connection's writer (or a cluster virtual connection).
#[derive(Debug)]
pub(crate) struct OutboxReceiver {
    queue: Arc<Queue>,
}

impl OutboxReceiver {
    /// The next item; `None` once the queue is closed or every sender is gone and it is
    /// empty.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item, registering the task to be woken when one arrives.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        match self.try_recv() {
            Ok(item) => return Poll::Ready(Some(item)),
            Err(TryRecvError::Disconnected) => return Poll::Ready(None),
            Err(TryRecvError::Empty) => {}
        }
        // Register, then look again: an item pushed in between is not missed.
        self.queue.waker.register(cx.waker());
        match self.try_recv() {
            Ok(item) => Poll::Ready(Some(item)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Result<Outbound, TryRecvError> {
        let mut state = self.queue.lock();
        match state.items.pop_front() {
            Some(item) => {
                if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
                    state.items = VecDeque::new();
                }
                Ok(item)
            }
            None if state.closed || state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further items and drops what is still queued (chat links count only what
    /// was written).
    pub(crate) fn close(&mut self) {
        let dropped = {
            let mut state = self.queue.lock();
            state.closed = true;
            std::mem::take(&mut state.items)
        };
        drop(dropped);
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_ordered_and_closed() {
        let (outbox, mut rx) = Outbox::new(2, CancellationToken::new());
        outbox.finish();
        outbox.control(&RelayFrame::error(ErrorCode::UnknownChat));
        assert!(matches!(rx.try_recv(), Ok(Outbound::Finish)));
        outbox.finish();
        // Full: one more item cuts the connection off.
        outbox.finish();
        assert!(outbox.kill.is_cancelled());
        assert!(matches!(rx.try_recv(), Ok(Outbound::Control(_))));
        assert!(matches!(rx.try_recv(), Ok(Outbound::Finish)));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        rx.close();
        assert!(matches!(
            outbox.try_send(Outbound::Finish),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn ends_when_every_sender_is_gone() {
        let (outbox, mut rx) = Outbox::new(4, CancellationToken::new());
        let second = outbox.clone();
        drop(outbox);
        second.finish();
        let receiving = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        drop(second);
        let (first, second) = receiving.await.unwrap_or((None, Some(Outbound::Finish)));
        assert!(matches!(first, Some(Outbound::Finish)));
        assert!(second.is_none());
    }
}
