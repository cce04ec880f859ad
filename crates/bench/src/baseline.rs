//! The floor: a bare tokio-tungstenite forwarder. Two connections that ask for the same
//! `/pair/<key>` are paired, and each binary message from one is written to the other
//! unchanged (`StreamExt::forward`: one flush whenever the reader runs dry). No matching,
//! no credentials, no header rewrite, no limits, no metrics, no per-chat bookkeeping.
//!
//! It uses socket settings like the relay's (TCP_NODELAY, 8 KiB read buffer and
//! write-buffer threshold, 16 KiB message cap; no write-buffer cap) so the comparison
//! isolates what the relay does per frame and per connection, not tungstenite's defaults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt as _, TryStreamExt as _, future};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type ServerWs = WebSocketStream<TcpStream>;
type Waiting = Arc<Mutex<HashMap<u64, ServerWs>>>;

fn config() -> WebSocketConfig {
    let max = confidant_proto::limits::MAX_DATA_FRAME;
    WebSocketConfig::default()
        // The relay's read buffer (its default, or CONFIDANT_READ_BUFFER_BYTES for both).
        .read_buffer_size(crate::server::read_buffer_bytes())
        .write_buffer_size(8 * 1024)
        // No cap: a cap turns a momentarily slow reader into a reset connection.
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Accepts forever.
#[allow(clippy::result_large_err)] // the signature of tungstenite's handshake callback
pub(crate) async fn serve(listener: TcpListener) {
    let waiting: Waiting = Arc::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let waiting = waiting.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut key = None;
            let callback = |request: &Request, response: Response| {
                key = request
                    .uri()
                    .path()
                    .strip_prefix("/pair/")
                    .and_then(|k| k.parse::<u64>().ok());
                Ok(response)
            };
            let Ok(ws) =
                tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config()))
                    .await
            else {
                return;
            };
            let Some(key) = key else { return };
            let partner = {
                let mut map = waiting
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match map.remove(&key) {
                    Some(partner) => partner,
                    None => {
                        map.insert(key, ws);
                        return;
                    }
                }
            };
            pipe(ws, partner).await;
        });
    }
}

/// Forwards binary messages both ways until either side ends.
async fn pipe(a: ServerWs, b: ServerWs) {
    let (a_tx, a_rx) = a.split();
    let (b_tx, b_rx) = b.split();
    let binary = |m: &tokio_tungstenite::tungstenite::Message| future::ready(m.is_binary());
    let a_to_b = a_rx.try_filter(binary).forward(b_tx);
    let b_to_a = tokio::spawn(b_rx.try_filter(binary).forward(a_tx));
    let _ = a_to_b.await;
    b_to_a.abort();
}
