//! The one piece of chat state both connections of a chat touch: whether it still runs,
//! how many frames are queued towards each side, and when data last moved.
//!
//! Data frames do not pass through the hub: the sending connection's task pushes them
//! straight into the partner's outbox, under this link's small mutex. The hub ends a chat
//! under the same mutex while it queues the `chat_ended` frames, so no data frame can ever
//! be queued after a side was told its chat ended — "delivered in order, or the sender
//! learns the chat ended" holds without a lock across connections.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::Notify;

use super::outbox::{Outbound, Outbox};

/// Which end of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The seeker's connection.
    Seeker,
    /// The peer's connection.
    Peer,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Self::Seeker => 0,
            Self::Peer => 1,
        }
    }

    /// The other end.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Seeker => Self::Peer,
            Self::Peer => Self::Seeker,
        }
    }
}

/// Why a frame was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ForwardError {
    /// The chat already ended; the sender has been (or is being) told.
    Ended,
    /// The receiving side has its full buffer queued (maybe only for a moment).
    Full,
    /// The receiving connection's whole queue is full: it is not reading.
    SlowReader,
    /// The peer sent before the seeker's Noise msg1 passed (`proto/spec.md`, "Chats": the
    /// peer MUST NOT); nothing a seeker could decrypt, so it is not forwarded.
    BeforeMsg1,
}

/// Shared per-chat forwarding state.
#[derive(Debug)]
pub(crate) struct ChatLink {
    ended: Mutex<bool>,
    queued: [AtomicUsize; 2],
    sent: [AtomicBool; 2],
    last_activity_ms: AtomicU64,
    buffer_frames: usize,
    /// Woken when a writer delivers a frame of this chat while a sender waits for room.
    room: Notify,
    /// Senders waiting for room: `delivered` only wakes `room` when this is non-zero, so
    /// the common case (room available) costs no lock per frame.
    waiting: AtomicUsize,
}

impl ChatLink {
    /// A running chat; `now_ms` is milliseconds since the relay's epoch.
    pub(crate) fn new(buffer_frames: usize, now_ms: u64) -> Self {
        Self {
            ended: Mutex::new(false),
            queued: [AtomicUsize::new(0), AtomicUsize::new(0)],
            sent: [AtomicBool::new(false), AtomicBool::new(false)],
            last_activity_ms: AtomicU64::new(now_ms),
            buffer_frames,
            room: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Queues `frame` (header already rewritten) towards `to`, or says why not. A frame
    /// refused as `Full` comes back, so the caller can wait for room without a copy.
    pub(crate) fn try_forward(
        self: &std::sync::Arc<Self>,
        from: Side,
        to: &Outbox,
        frame: Bytes,
        now_ms: u64,
    ) -> Result<(), (ForwardError, Option<Bytes>)> {
        let ended = self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *ended {
            return Err((ForwardError::Ended, None));
        }
        if from == Side::Peer && !self.sent_by(Side::Seeker) {
            return Err((ForwardError::BeforeMsg1, None));
        }
        let queued = self.counter(from.other());
        // SeqCst: see `delivered` (a waiting sender must not miss the room it makes).
        if queued.load(Ordering::SeqCst) >= self.buffer_frames {
            return Err((ForwardError::Full, Some(frame)));
        }
        queued.fetch_add(1, Ordering::AcqRel);
        // Marked before the frame can reach the partner: once the seeker's msg1 is queued,
        // the peer's msg2 (which can only follow its delivery) must find the flag set.
        if let Some(flag) = self.sent.get(from.index()) {
            flag.store(true, Ordering::Release);
        }
        let item = Outbound::Data {
            frame,
            link: self.clone(),
            to: from.other(),
        };
        if !to.push_data(item) {
            queued.fetch_sub(1, Ordering::AcqRel);
            return Err((ForwardError::SlowReader, None));
        }
        drop(ended);
        self.last_activity_ms.store(now_ms, Ordering::Release);
        Ok(())
    }

    /// The writer of side `to` wrote one frame to the socket.
    pub(crate) fn delivered(&self, to: Side) {
        let counter = self.counter(to);
        // Never below zero, even if a writer reports twice.
        let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        // Pairs with the SeqCst increment in `forward_within`: a sender that registered
        // before this decrement is seen here; one that registers after sees the room.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }

    /// Forwards like [`Self::try_forward`], but when the partner's chat buffer is full waits up
    /// to `grace` for its writer to make room. Still full after that: `SlowReader`.
    pub(crate) async fn forward_within(
        self: &std::sync::Arc<Self>,
        from: Side,
        to: &Outbox,
        frame: Bytes,
        now_ms: u64,
        grace: std::time::Duration,
    ) -> Result<(), ForwardError> {
        // Fast path: room now, no waiting and no timer.
        let mut frame = match self.try_forward(from, to, frame, now_ms) {
            Err((ForwardError::Full, Some(frame))) => frame,
            other => return other.map_err(|(error, _)| error),
        };
        let deadline = tokio::time::Instant::now() + grace;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Register before checking, so a delivery in between is not missed.
            notified.as_mut().enable();
            match self.try_forward(from, to, frame, now_ms) {
                Err((ForwardError::Full, Some(back))) => {
                    frame = back;
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        break Err(ForwardError::SlowReader);
                    }
                }
                other => break other.map_err(|(error, _)| error),
            }
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Ends the chat, running `tell` (which queues `chat_ended` to both sides) under the lock.
    /// Returns false, without running `tell`, if it had already ended.
    pub(crate) fn end(&self, tell: impl FnOnce()) -> bool {
        let mut ended = self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *ended {
            return false;
        }
        *ended = true;
        tell();
        drop(ended);
        // A sender waiting for room learns at once that there is no chat to wait for.
        self.room.notify_waiters();
        true
    }

    /// Whether both sides have sent at least one data frame (the Noise handshake moved).
    pub(crate) fn both_sent(&self) -> bool {
        self.sent.iter().all(|flag| flag.load(Ordering::Acquire))
    }

    /// Whether `side` has sent at least one data frame (for the seeker: its Noise msg1).
    pub(crate) fn sent_by(&self, side: Side) -> bool {
        self.sent
            .get(side.index())
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// Milliseconds since the relay's epoch of the last forwarded frame (or of the match).
    pub(crate) fn last_activity_ms(&self) -> u64 {
        self.last_activity_ms.load(Ordering::Acquire)
    }

    fn counter(&self, side: Side) -> &AtomicUsize {
        match side {
            Side::Seeker => &self.queued[0],
            Side::Peer => &self.queued[1],
        }
    }
}
