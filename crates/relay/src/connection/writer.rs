//! The writing half of a connection's task: the only code that writes to a client's socket.
//!
//! It drains the connection's [`crate::data_path::Outbox`] with `feed` per item and a single
//! `flush` per burst, so a chatty chat costs one syscall per burst, not per frame. It is
//! driven by polling from the connection's one task ([`super::serve`]), between and during
//! everything else that task does, so a write to a client that does not read never blocks
//! reading, the hub's commands, the kill token or a deadline.

use std::task::{Context, Poll};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;

use confidant_proto::RelayFrame;

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
    /// Nothing more is written.
    Done,
}

/// The connection's writer state.
pub(super) struct Writer {
    rx: OutboxReceiver,
    state: State,
}

impl Writer {
    pub(super) fn new(rx: OutboxReceiver) -> Self {
        Self {
            rx,
            state: State::Open {
                fed: 0,
                flush: false,
            },
        }
    }

    /// Writes as much as the socket takes now. `Ready` once the writer is done: a close was
    /// written, the queue ended, or the socket failed.
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>, socket: &mut WebSocket) -> Poll<()> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(()),
                State::Open { fed, flush } => {
                    if *flush {
                        match socket.poll_flush_unpin(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(_)) => {
                                self.stop();
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
                            self.stop();
                            continue;
                        }
                        Poll::Ready(Ok(())) => {}
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
            Outbound::Control(json) => socket.start_send_unpin(Message::Text(json.into())),
            Outbound::Data { frame, link, to } => {
                let result = socket.start_send_unpin(Message::Binary(frame));
                link.delivered(to);
                result
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
            self.stop();
        }
    }

    /// Stops writing; whatever is still queued is dropped (chat links count only what was
    /// written).
    pub(super) fn stop(&mut self) {
        self.state = State::Done;
        self.rx.close();
    }
}

/// Close reasons stay empty: the `error` frame before the close already explains.
fn code_reason(_code: u16) -> axum::extract::ws::Utf8Bytes {
    axum::extract::ws::Utf8Bytes::from_static("")
}
