//! The accept loop: TCP, optional TLS, HTTP/1.1 with upgrades, and the per-source key.
//!
//! Our own loop (rather than `axum::serve`) because two things must happen per connection
//! before any request: the source address is reduced to a keyed hash ([`SourceKey`]) and
//! then dropped, and TLS is terminated with whatever certificate is current. Plain HTTP
//! connections (`/v1/programs`) end at shutdown; upgraded WebSockets are the connection
//! tasks' business (`connection.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::shared::Shared;
use crate::sources::SourceKey;

/// Time a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a plain HTTP connection may finish its request once shutdown begins.
const HTTP_DRAIN: Duration = Duration::from_secs(1);
/// Pause after an accept error (e.g. out of file descriptors) so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts until shutdown begins.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let accepted = tokio::select! {
            () = shared.draining.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // The address is hashed here and goes out of scope with this iteration.
        let source = shared.sources.key(peer.ip());
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => serve_http(stream, app, source, shared).await,
                        _ => {
                            tracing::debug!(kind = "tls_handshake_failed", "TLS handshake failed");
                        }
                    }
                }
                None => serve_http(stream, app, source, shared).await,
            }
        });
    }
}

async fn serve_http<I>(io: I, app: Router, source: SourceKey, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(source);
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, request).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = shared.draining.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(HTTP_DRAIN, connection).await;
        }
    }
}
