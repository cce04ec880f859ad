//! The writer task: the only code that writes to a client's socket.
//!
//! It drains the connection's [`crate::outbox::Outbox`] with `feed` per item and a single
//! `flush` per burst, so a chatty chat costs one syscall per burst, not per frame. Every
//! write races the connection's kill token, so a client that stopped reading cannot keep
//! the task (or shutdown) waiting.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;
use futures_util::stream::SplitSink;
use tokio_util::sync::CancellationToken;

use confidant_proto::RelayFrame;

use crate::outbox::{Outbound, OutboxReceiver};

/// Items written before one flush.
const BURST: usize = 32;

/// What the writer does after an item.
enum Next {
    Continue,
    Stop,
}

/// Runs until the queue closes, a close is written, the socket fails, or `kill` fires.
pub(crate) async fn run_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: OutboxReceiver,
    kill: CancellationToken,
) {
    let work = async {
        while let Some(item) = rx.recv().await {
            if let Next::Stop = write_item(&mut sink, item).await {
                return;
            }
            for _ in 0..BURST {
                let Ok(item) = rx.try_recv() else { break };
                if let Next::Stop = write_item(&mut sink, item).await {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    };
    tokio::select! {
        () = kill.cancelled() => {}
        () = work => {}
    }
    // Whatever was still queued is dropped here; chat links count only what was written.
    rx.close();
}

async fn write_item(sink: &mut SplitSink<WebSocket, Message>, item: Outbound) -> Next {
    let result = match item {
        Outbound::Control(json) => sink.feed(Message::Text(json.into())).await,
        Outbound::Data { frame, link, to } => {
            let result = sink.feed(Message::Binary(frame)).await;
            link.delivered(to);
            result
        }
        Outbound::Close(code) => {
            let error = RelayFrame::error(code).to_json();
            let _ = sink.feed(Message::Text(error.into())).await;
            let close = code.close_code().map(|code| CloseFrame {
                code,
                reason: code_reason(code),
            });
            let _ = sink.send(Message::Close(close)).await;
            let _ = sink.close().await;
            return Next::Stop;
        }
        Outbound::Finish => {
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
            return Next::Stop;
        }
    };
    if result.is_err() {
        Next::Stop
    } else {
        Next::Continue
    }
}

/// Close reasons stay empty: the `error` frame before the close already explains.
fn code_reason(_code: u16) -> axum::extract::ws::Utf8Bytes {
    axum::extract::ws::Utf8Bytes::from_static("")
}
