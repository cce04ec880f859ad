//! The writing half of a connection's task: the only code that writes to a client's socket.
//!
//! It drains the connection's [`crate::data_path::Outbox`] with `feed` per item and a single
//! `flush` per burst, so a chatty chat costs one syscall per burst, not per frame. It is
//! driven by polling from the connection's one task ([`super::serve`]), between and during
//! everything else that task does, so a write to a client that does not read never blocks
//! reading, the hub's commands, the kill token or a deadline.
//!
//! Feature `resume` (`replay.rs`): the writer outlives its socket. It counts what it writes,
//! keeps it until the client acknowledges it, and on a new socket writes `resumed` and then
//! what the client had not received.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;

use confidant_proto::RelayFrame;

use super::replay::{Replay, ReplayError};
use crate::data_path::{Outbound, OutboxReceiver};

/// Items written before one flush.
const BURST: usize = 32;

/// Where the writer is.
enum State {
    /// Draining the outbox: `fed` items since the last flush; `flush` once a burst is fed.
    Open { fed: usize, flush: bool },
    /// The last messages (an `error`, the close frame; written last to first), then a flush
    /// and the close of the socket. Errors on the way are ignored: the socket closes anyway.
    Closing { last: Vec<Message>, flushed: bool },
    /// Feature `resume`: the socket failed; the queue and what was kept wait for a new one.
    Broken,
    /// Nothing more is written.
    Done,
}

/// The connection's writer state.
pub(super) struct Writer {
    rx: OutboxReceiver,
    state: State,
    /// Messages written before the outbox: `ack`, pings, and after a resume `resumed` and the
    /// re-sent messages. Not counted (re-sent ones were counted the first time).
    front: VecDeque<Message>,
    /// Feature `resume`: what was written and not yet acknowledged. Boxed: most connections
    /// never have one.
    replay: Option<Box<Replay>>,
}

impl Writer {
    pub(super) fn new(rx: OutboxReceiver) -> Self {
        Self {
            rx,
            state: State::Open {
                fed: 0,
                flush: false,
            },
            front: VecDeque::new(),
            replay: None,
        }
    }

    /// Writes as much as the socket takes now. `Ready` once the writer is done: a close was
    /// written, the queue ended, or the socket failed.
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>, socket: &mut WebSocket) -> Poll<()> {
        loop {
            match &mut self.state {
                State::Done | State::Broken => return Poll::Ready(()),
                State::Open { fed, flush } => {
                    if *flush {
                        match socket.poll_flush_unpin(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(_)) => {
                                self.socket_failed();
                                continue;
                            }
                            Poll::Ready(Ok(())) => {
                                *fed = 0;
                                *flush = false;
                            }
                        }
                    }
                    // An item is taken only once the socket can take it.
                    match socket.poll_ready_unpin(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(_)) => {
                            self.socket_failed();
                            continue;
                        }
                        Poll::Ready(Ok(())) => {}
                    }
                    if let Some(message) = self.front.pop_front() {
                        *fed += 1;
                        if *fed > BURST {
                            *flush = true;
                        }
                        if socket.start_send_unpin(message).is_err() {
                            self.socket_failed();
                        }
                        continue;
                    }
                    // Feature `resume`: nothing more is taken while the kept messages are at
                    // their bound; the client's `ack` makes room (and wakes this task, which
                    // reads it). Meanwhile the outbox fills, and a client that never
                    // acknowledges is cut off as a slow consumer.
                    if self.replay.as_ref().is_some_and(|replay| replay.is_full()) {
                        if *fed > 0 {
                            *flush = true;
                            continue;
                        }
                        return Poll::Pending;
                    }
                    let item = if *fed == 0 {
                        match self.rx.poll_recv(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Some(item)) => item,
                            // Every sender is gone without a `Finish`: just close.
                            Poll::Ready(None) => {
                                self.state = State::Closing {
                                    last: Vec::new(),
                                    flushed: true,
                                };
                                continue;
                            }
                        }
                    } else if *fed <= BURST {
                        match self.rx.try_recv() {
                            Ok(item) => item,
                            Err(_) => {
                                *flush = true;
                                continue;
                            }
                        }
                    } else {
                        *flush = true;
                        continue;
                    };
                    *fed += 1;
                    self.write_item(socket, item);
                }
                State::Closing { last, flushed } => {
                    while let Some(message) = last.pop() {
                        match socket.poll_ready_unpin(cx) {
                            Poll::Pending => {
                                last.push(message);
                                return Poll::Pending;
                            }
                            Poll::Ready(Ok(())) => {
                                let _ = socket.start_send_unpin(message);
                            }
                            Poll::Ready(Err(_)) => {}
                        }
                    }
                    if !*flushed {
                        if socket.poll_flush_unpin(cx).is_pending() {
                            return Poll::Pending;
                        }
                        *flushed = true;
                    }
                    if socket.poll_close_unpin(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.stop();
                }
            }
        }
    }

    /// Hands one item to the socket (which is ready for it).
    fn write_item(&mut self, socket: &mut WebSocket, item: Outbound) {
        let result = match item {
            Outbound::Control(json) => {
                let message = Message::Text(json.into());
                if let Some(replay) = &mut self.replay {
                    replay.keep(message.clone(), None);
                }
                socket.start_send_unpin(message)
            }
            Outbound::Data { frame, link, to } => {
                let message = Message::Binary(frame);
                match &mut self.replay {
                    // The frame's slot in the chat's budget is given back when the client
                    // acknowledges it (`proto/spec.md`, "Resume").
                    Some(replay) => {
                        replay.keep(message.clone(), Some((link, to)));
                        socket.start_send_unpin(message)
                    }
                    None => {
                        let result = socket.start_send_unpin(message);
                        link.delivered(to);
                        result
                    }
                }
            }
            Outbound::CountFromHere(keep) => {
                self.replay = Some(Box::new(Replay::new(keep)));
                return;
            }
            Outbound::Close(code) => {
                let error = Message::Text(RelayFrame::error(code).to_json().into());
                let close = Message::Close(code.close_code().map(|code| CloseFrame {
                    code,
                    reason: code_reason(code),
                }));
                self.state = State::Closing {
                    last: vec![close, error],
                    flushed: false,
                };
                return;
            }
            Outbound::ProtocolClose(code) => {
                let close = Message::Close(Some(CloseFrame {
                    code,
                    reason: axum::extract::ws::Utf8Bytes::from_static(""),
                }));
                self.state = State::Closing {
                    last: vec![close],
                    flushed: false,
                };
                return;
            }
            Outbound::Finish => {
                self.state = State::Closing {
                    last: vec![Message::Close(None)],
                    flushed: false,
                };
                return;
            }
        };
        if result.is_err() {
            self.socket_failed();
        }
    }

    /// Queues a message ahead of the outbox, uncounted (`ack`, ping).
    pub(super) fn push_front(&mut self, message: Message) {
        self.front.push_back(message);
    }

    /// Feature `resume`: the client acknowledged `received` counted messages.
    pub(super) fn acknowledged(&mut self, received: u64) -> Result<(), ReplayError> {
        match &mut self.replay {
            Some(replay) => replay.acknowledged(received),
            None => Ok(()),
        }
    }

    /// Whether the socket failed while the connection may still be resumed.
    pub(super) fn is_broken(&self) -> bool {
        matches!(self.state, State::Broken)
    }

    /// Whether the connection is closing or closed (an `error` with a close, a `Finish`):
    /// nothing to resume then.
    pub(super) fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing { .. } | State::Done)
    }

    /// Feature `resume`: a new socket took the connection over; the client received
    /// `received` counted messages. Writes `resumed` first, then every kept message after
    /// `received`, then the outbox as before.
    pub(super) fn resume(&mut self, received: u64, resumed: Message) -> Result<(), ReplayError> {
        let Some(replay) = &mut self.replay else {
            return Err(ReplayError);
        };
        replay.acknowledged_on_resume(received)?;
        self.front.clear();
        self.front.push_back(resumed);
        self.front.extend(replay.unacknowledged());
        self.state = State::Open {
            fed: 0,
            flush: false,
        };
        Ok(())
    }

    /// The socket failed: with feature `resume` everything waits for a new socket; without
    /// it the writer stops.
    fn socket_failed(&mut self) {
        if self.replay.is_some() {
            self.state = State::Broken;
        } else {
            self.stop();
        }
    }

    /// Stops writing; whatever is still queued is dropped (chat links count only what was
    /// written).
    pub(super) fn stop(&mut self) {
        self.state = State::Done;
        self.front.clear();
        self.rx.close();
    }
}

/// Close reasons stay empty: the `error` frame before the close already explains.
fn code_reason(_code: u16) -> axum::extract::ws::Utf8Bytes {
    axum::extract::ws::Utf8Bytes::from_static("")
}
