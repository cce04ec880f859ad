//! Starting, serving and stopping a relay: the listener, the HTTP routes, the WebSocket
//! upgrade with explicit limits, and [`RelayHandle`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::get;
use confidant_proto::limits::{MAX_DATA_FRAME, WEBSOCKET_PATH};
use confidant_proto::{ErrorCode, ProgramInfo};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::RelayConfig;
use crate::connection::{self, ConnectionGuard};
use crate::credentials::install_list;
use crate::hub::{Hub, HubEvent};
use crate::revocation_store::RevocationStore;
use crate::shared::Shared;
use crate::stats::RelayStats;

/// Read buffer per connection: small, since control frames are small and data frames are
/// read into their own buffer once their header says how long they are.
const READ_BUFFER: usize = 8 * 1024;
/// Write buffer threshold per connection before bytes go to the socket.
const WRITE_BUFFER: usize = 8 * 1024;
/// Hub inbox: connection tasks wait (backpressure) when it is full.
const HUB_INBOX: usize = 4096;

/// Why the relay could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// No program configured.
    #[error("no program configured")]
    NoPrograms,
    /// Two programs share an id.
    #[error("duplicate program id")]
    DuplicateProgram,
    /// A configured revocation list does not verify for its program.
    #[error("revocation list of a configured program did not verify: {0}")]
    RevocationList(&'static str),
    /// The listen address could not be bound.
    #[error("could not listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// Why a runtime revocation update was refused.
#[derive(Debug, Error)]
pub enum UpdateRevocationError {
    /// The program is not hosted.
    #[error("unknown program")]
    UnknownProgram,
    /// The list did not verify (bad signature, wrong program, older sequence, stale).
    #[error("revocation list rejected: {0}")]
    Rejected(&'static str),
    /// The relay is stopping.
    #[error("relay is shutting down")]
    ShuttingDown,
}

/// A running relay. Dropping it stops the relay abruptly; prefer [`RelayHandle::shutdown`].
pub struct RelayHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    hub_stop: CancellationToken,
    hub_task: Option<JoinHandle<()>>,
    server_task: Option<JoinHandle<()>>,
    chat_count: watch::Receiver<usize>,
}

/// Binds `config.listen` and starts serving. Returns once the socket is bound.
pub async fn start(config: RelayConfig) -> Result<RelayHandle, StartError> {
    if config.programs.is_empty() {
        return Err(StartError::NoPrograms);
    }
    let store = RevocationStore::default();
    let now_unix = config.clock.now_unix();
    let mut programs = HashMap::new();
    for program in config.programs {
        if !program.revocation_list.is_empty() {
            install_list(&program, &store, now_unix, &program.revocation_list)
                .map_err(|e| StartError::RevocationList(e.code()))?;
        }
        if programs.insert(program.id.clone(), program).is_some() {
            return Err(StartError::DuplicateProgram);
        }
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (hub_tx, hub_rx) = mpsc::channel(HUB_INBOX);
    let shared = Arc::new(Shared {
        programs,
        limits: config.limits,
        clock: config.clock,
        store,
        hub: hub_tx,
        epoch: Instant::now(),
        draining: CancellationToken::new(),
        hard_stop: CancellationToken::new(),
        tracker: TaskTracker::new(),
        live_connections: AtomicUsize::new(0),
        next_conn: AtomicU64::new(1),
    });
    let (count_tx, chat_count) = watch::channel(0);
    let hub_stop = CancellationToken::new();
    let hub = Hub::new(shared.clone(), count_tx);
    let hub_task = tokio::spawn(hub.run(hub_rx, hub_stop.clone()));

    let app = Router::new()
        .route(WEBSOCKET_PATH, get(upgrade))
        .route("/v1/programs", get(list_programs))
        .with_state(shared.clone());
    let draining = shared.draining.clone();
    let server_task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { draining.cancelled().await })
            .await;
        if served.is_err() {
            tracing::warn!(kind = "listener_failed", "listener stopped with an error");
        }
    });
    tracing::info!(
        kind = "relay_started",
        programs = shared.programs.len(),
        "relay started"
    );
    Ok(RelayHandle {
        local_addr,
        shared,
        hub_stop,
        hub_task: Some(hub_task),
        server_task: Some(server_task),
        chat_count,
    })
}

/// `GET /v1/programs`: the public descriptions, sorted by id.
async fn list_programs(State(shared): State<Arc<Shared>>) -> Json<Vec<ProgramInfo>> {
    let mut programs: Vec<ProgramInfo> = shared.programs.values().map(|p| p.info()).collect();
    programs.sort_by(|a, b| a.id.cmp(&b.id));
    Json(programs)
}

/// The WebSocket upgrade, with every buffer and size limit set explicitly (tungstenite's
/// defaults are 64 MiB messages and 128 KiB buffers). Compression is never negotiated:
/// this build of tungstenite has no permessage-deflate at all.
async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    let previous = shared.live_connections.fetch_add(1, Ordering::AcqRel);
    let guard = ConnectionGuard(shared.clone());
    let refuse = if shared.draining.is_cancelled() {
        Some(ErrorCode::ShuttingDown)
    } else if previous >= shared.limits.max_connections {
        Some(ErrorCode::TooManyConnections)
    } else {
        None
    };
    ws.max_message_size(MAX_DATA_FRAME)
        .max_frame_size(MAX_DATA_FRAME)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + MAX_DATA_FRAME + 1024)
        .on_upgrade(move |socket| {
            let tracker = shared.tracker.clone();
            tracker.track_future(async move {
                match refuse {
                    Some(code) => connection::refuse(socket, code, guard).await,
                    None => connection::serve(socket, shared, guard).await,
                }
            })
        })
}

impl RelayHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Aggregate counters from the hub (a consistent snapshot).
    pub async fn stats(&self) -> RelayStats {
        let (tx, rx) = oneshot::channel();
        if self.shared.hub.send(HubEvent::Stats(tx)).await.is_err() {
            return RelayStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Replaces `program`'s revocation list if `list` verifies and is newer; peers it revokes
    /// are disconnected with `credential_revoked` and their chats end as `revoked`.
    /// Returns the list's sequence.
    pub async fn update_revocation_list(
        &self,
        program: &str,
        list: &[u8],
    ) -> Result<u64, UpdateRevocationError> {
        let config = self
            .shared
            .programs
            .get(program)
            .ok_or(UpdateRevocationError::UnknownProgram)?;
        let (sequence, changed) = install_list(
            config,
            &self.shared.store,
            self.shared.clock.now_unix(),
            list,
        )
        .map_err(|e| UpdateRevocationError::Rejected(e.code()))?;
        if changed {
            let event = HubEvent::RevocationUpdated {
                program: program.to_owned(),
            };
            self.shared
                .hub
                .send(event)
                .await
                .map_err(|_| UpdateRevocationError::ShuttingDown)?;
        }
        Ok(sequence)
    }

    /// Graceful shutdown: stop accepting, send every client `shutdown{deadline_ms}`, let
    /// chats end until `deadline`, then end what remains (`chat_ended{shutdown}`), close
    /// every connection with 1001 and wait (bounded) for every task.
    pub async fn shutdown(mut self, deadline: Duration) {
        tracing::info!(kind = "shutdown_started", "relay shutting down");
        self.shared.draining.cancel();
        let _ = self
            .shared
            .hub
            .send(HubEvent::ShutdownNotice { deadline })
            .await;
        let mut chats = self.chat_count.clone();
        let _ = tokio::time::timeout(deadline, chats.wait_for(|count| *count == 0)).await;
        let _ = self.shared.hub.send(HubEvent::CloseAll).await;
        self.shared.tracker.close();
        let grace = self.shared.limits.shutdown_grace;
        if tokio::time::timeout(grace, self.shared.tracker.wait())
            .await
            .is_err()
        {
            self.shared.hard_stop.cancel();
            let _ = tokio::time::timeout(grace, self.shared.tracker.wait()).await;
        }
        self.shared.hard_stop.cancel();
        self.hub_stop.cancel();
        if let Some(task) = self.hub_task.take() {
            let _ = tokio::time::timeout(grace, task).await;
        }
        if let Some(task) = self.server_task.take() {
            let _ = tokio::time::timeout(grace, task).await;
        }
        tracing::info!(kind = "shutdown_finished", "relay stopped");
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.shared.draining.cancel();
        self.shared.hard_stop.cancel();
        self.hub_stop.cancel();
    }
}
