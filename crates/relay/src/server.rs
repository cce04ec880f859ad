//! Starting, serving and stopping a relay: the listener, the HTTP routes, the WebSocket
//! upgrade with explicit limits, and [`RelayHandle`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confidant_proto::limits::{MAX_CONTROL_FRAME, MAX_DATA_FRAME, WEBSOCKET_PATH};

/// The largest WebSocket message the relay reads or writes: a control frame may be larger
/// than a data frame.
const LARGEST_MESSAGE: usize = if MAX_CONTROL_FRAME > MAX_DATA_FRAME {
    MAX_CONTROL_FRAME
} else {
    MAX_DATA_FRAME
};
use confidant_proto::{ErrorCode, ProgramInfo};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admission::Verdict;
use crate::config::{Limits, ProgramConfig, RelayConfig};
use crate::connection::{self, ConnectionGuard};
use crate::credentials::install_list;
use crate::http_policy::HttpPolicy;
use crate::hub::Hub;
use crate::messages::HubEvent;
use crate::revocation_store::RevocationStore;
use crate::shared::Shared;
use crate::sources::SourceKey;
use crate::stats::RelayStats;
use crate::tls::{CertStore, TlsError};

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
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("could not listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// Why a reloaded program description was refused.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The program is not hosted (adding programs needs a restart).
    #[error("unknown program (adding a program needs a restart)")]
    UnknownProgram,
    /// The root key differs (changing it needs a restart).
    #[error("root key changed (needs a restart)")]
    RootKeyChanged,
    /// The new revocation list was refused.
    #[error(transparent)]
    Revocation(#[from] UpdateRevocationError),
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

/// The relay is stopping: a change could not be applied.
#[derive(Debug, Error)]
#[error("relay is shutting down")]
pub struct RelayStopping;

/// A running relay. Dropping it stops the relay abruptly; prefer [`RelayHandle::shutdown`].
pub struct RelayHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    certs: Option<Arc<CertStore>>,
    hub_stop: CancellationToken,
    hub_task: Option<JoinHandle<()>>,
    /// The cluster node task, when scale-out is on.
    cluster_task: Option<JoinHandle<()>>,
    server_task: Option<JoinHandle<()>>,
    chat_count: watch::Receiver<usize>,
}

/// A cheap, cloneable view of a running relay for the admin listener: aggregate figures
/// and whether it is draining. Holds no identifiers.
#[derive(Clone)]
pub struct RelayObserver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RelayObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayObserver").finish_non_exhaustive()
    }
}

impl RelayObserver {
    /// Aggregate counters from the hub (a consistent snapshot).
    pub async fn stats(&self) -> RelayStats {
        stats_of(&self.shared).await
    }

    /// Whether shutdown has begun.
    pub fn draining(&self) -> bool {
        self.shared.draining.is_cancelled()
    }
}

async fn stats_of(shared: &Shared) -> RelayStats {
    let (tx, rx) = oneshot::channel();
    if shared.hub.send(HubEvent::Stats(tx)).await.is_err() {
        return RelayStats::default();
    }
    rx.await.unwrap_or_default()
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
    let (tls, certs) = match &config.tls {
        Some(files) => {
            let (acceptor, certs) = crate::tls::acceptor(files)?;
            (Some(acceptor), Some(certs))
        }
        None => (None, None),
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (hub_tx, hub_rx) = mpsc::channel(HUB_INBOX);
    let shared = Arc::new(Shared::new(
        programs,
        config.limits,
        config.clock,
        store,
        hub_tx,
    ));
    for program in shared.programs() {
        record_sequence(&shared, &program.id);
    }
    let (count_tx, chat_count) = watch::channel(0);
    let hub_stop = CancellationToken::new();
    let hub = Hub::new(shared.clone(), count_tx);
    let hub_task = tokio::spawn(hub.run(hub_rx, hub_stop.clone()));
    let cluster_task = config
        .cluster
        .map(|cluster| crate::cluster::spawn(cluster, shared.clone(), hub_stop.clone()));

    let policy = Arc::new(HttpPolicy::new(&config.allowed_origins, certs.is_some()));
    let headers_policy = policy.clone();
    let app = Router::new()
        .route(WEBSOCKET_PATH, get(upgrade))
        .route("/v1/programs", get(list_programs))
        .route(
            confidant_proto::admission::ADMISSION_PATH,
            get(admission_challenge),
        )
        .merge(crate::web_assets::router())
        .with_state(shared.clone())
        .layer(axum::Extension(policy))
        // Every response, the 400/404/405 answers included, carries the security headers.
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let policy = headers_policy.clone();
                async move {
                    policy.secure(response.headers_mut());
                    response
                }
            },
        ));
    let server_task = tokio::spawn(crate::listener::accept_loop(
        listener,
        app,
        tls,
        shared.clone(),
    ));
    tracing::info!(
        kind = "relay_started",
        programs = shared.programs().len(),
        tls = certs.is_some(),
        "relay started"
    );
    for program in shared.programs() {
        // Which root key each program trusts, so a wrong one shows in the first log lines
        // (compare with the fingerprint `confidant admin init` printed).
        tracing::info!(
            kind = "program_root_key",
            program = %program.id,
            root_key_fingerprint = %crate::credentials::root_key_fingerprint(&program.root_public_key),
            revocation_list = !program.revocation_list.is_empty(),
            "program hosted"
        );
    }
    Ok(RelayHandle {
        local_addr,
        shared,
        certs,
        hub_stop,
        hub_task: Some(hub_task),
        cluster_task,
        server_task: Some(server_task),
        chat_count,
    })
}

fn record_sequence(shared: &Shared, program: &str) {
    if let Some(list) = shared.store.current(program) {
        metrics::gauge!(crate::metrics::REVOCATION_SEQUENCE, "program" => program.to_owned())
            .set(list.sequence as f64);
    }
}

/// The query of `GET /v1/programs`: `?features=a,b` negotiates as `hello.features` does.
#[derive(Debug, Default, serde::Deserialize)]
struct ProgramsQuery {
    #[serde(default)]
    features: String,
}

/// `GET /v1/programs`: the public descriptions, sorted by id; with
/// `?features=program-details`, with the program details (`proto/spec.md`). Unknown
/// feature names and unknown query parameters are ignored, so older clients are unaffected.
async fn list_programs(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ProgramsQuery>,
) -> Json<Vec<ProgramInfo>> {
    let details = query
        .features
        .split(',')
        .any(|name| name.trim() == confidant_proto::FEATURE_PROGRAM_DETAILS);
    Json(shared.program_infos(details))
}

/// `GET /v1/admission`: a fresh proof-of-work challenge (`proto/spec.md`, "Admission").
/// Stateless for the relay: the challenge carries its own authentication tag.
async fn admission_challenge(State(shared): State<Arc<Shared>>) -> Response {
    let live = shared.live_connections.load(Ordering::Acquire);
    match shared
        .admission
        .issue(&shared.limits(), live, std::time::Instant::now())
    {
        Some(challenge) => {
            metrics::counter!(crate::metrics::ADMISSION_CHALLENGES).increment(1);
            (
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                Json(challenge),
            )
                .into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "no randomness\n").into_response(),
    }
}

/// The query of the WebSocket upgrade: feature `admission` and its proof.
#[derive(Debug, Default, serde::Deserialize)]
struct UpgradeQuery {
    #[serde(default)]
    features: String,
    #[serde(default)]
    proof: Option<String>,
}

/// The WebSocket upgrade, with every buffer and size limit set explicitly (tungstenite's
/// defaults are 64 MiB messages and 128 KiB buffers). Compression is never negotiated:
/// this build of tungstenite has no permessage-deflate at all.
///
/// A source over its limit is refused before the upgrade with HTTP 429: it costs the relay
/// no WebSocket at all.
async fn upgrade(
    ws: WebSocketUpgrade,
    State(shared): State<Arc<Shared>>,
    axum::Extension(policy): axum::Extension<Arc<HttpPolicy>>,
    request: axum::http::HeaderMap,
    source: Option<axum::Extension<SourceKey>>,
    query: Result<Query<UpgradeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if !policy.origin_allowed(&request) {
        metrics::counter!(crate::metrics::ORIGIN_REFUSED).increment(1);
        return (StatusCode::FORBIDDEN, "origin_not_allowed\n").into_response();
    }
    let limits = shared.limits();
    let slot = match source {
        Some(axum::Extension(key)) => {
            match shared
                .sources
                .try_acquire(key, limits.max_connections_per_source)
            {
                Some(slot) => Some(slot),
                None => {
                    metrics::counter!(crate::metrics::SOURCE_LIMITED).increment(1);
                    crate::metrics::rejection(ErrorCode::TooManyConnections);
                    return (StatusCode::TOO_MANY_REQUESTS, "too_many_connections\n")
                        .into_response();
                }
            }
        }
        None => None,
    };
    let Query(query) = query.unwrap_or_else(|_| Query(UpgradeQuery::default()));
    let admission = query
        .features
        .split(',')
        .any(|name| name.trim() == confidant_proto::FEATURE_ADMISSION);
    let verdict = shared.admission.check(
        &limits,
        shared.live_connections.load(Ordering::Acquire),
        admission,
        query.proof.as_deref(),
        std::time::Instant::now(),
    );
    let previous = shared.live_connections.fetch_add(1, Ordering::AcqRel);
    let guard = ConnectionGuard(shared.clone(), slot);
    let refuse = if shared.draining.is_cancelled() {
        Some(ErrorCode::ShuttingDown)
    } else if let Verdict::Refused(code, reason) = verdict {
        metrics::counter!(crate::metrics::ADMISSION_REFUSED, "reason" => reason).increment(1);
        Some(code)
    } else if previous >= limits.max_connections {
        Some(ErrorCode::TooManyConnections)
    } else {
        None
    };
    if refuse.is_none() && verdict == Verdict::Admitted {
        metrics::counter!(crate::metrics::ADMISSION_ACCEPTED).increment(1);
    }
    match refuse {
        Some(code) => crate::metrics::rejection(code),
        None => metrics::counter!(crate::metrics::CONNECTIONS_ACCEPTED).increment(1),
    }
    // The larger of the two kinds: a control frame may be up to MAX_CONTROL_FRAME (a `present`
    // with every part at its maximum); a binary frame above MAX_DATA_FRAME is refused by the
    // data-frame decoder with the same code, `frame_too_large`.
    ws.max_message_size(LARGEST_MESSAGE)
        .max_frame_size(LARGEST_MESSAGE)
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + LARGEST_MESSAGE + 1024)
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
        stats_of(&self.shared).await
    }

    /// A view for the admin listener.
    pub fn observer(&self) -> RelayObserver {
        RelayObserver {
            shared: self.shared.clone(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.shared.limits()
    }

    /// Replaces the limits. They apply from now on: new connections get the new rate and
    /// hello limits, the matcher the new queue and offer limits, every chat the new idle
    /// timeout at its next check. Nothing running is cut short by a lower connection cap.
    ///
    /// # Errors
    /// [`RelayStopping`] once the relay is shutting down.
    pub async fn update_limits(&self, limits: Limits) -> Result<(), RelayStopping> {
        self.shared.set_limits(limits);
        self.shared
            .hub
            .send(HubEvent::LimitsUpdated)
            .await
            .map_err(|_| RelayStopping)
    }

    /// Replaces a hosted program's description — name, topics, languages, peer roles,
    /// resources, wait limit — and, if `program.revocation_list` is not empty and newer,
    /// its revocation list (revoked peers are taken offline at once). The id and root key
    /// must stay the same. Returns whether anything changed.
    pub async fn update_program(&self, program: ProgramConfig) -> Result<bool, ReloadError> {
        let current = self
            .shared
            .program(&program.id)
            .ok_or(ReloadError::UnknownProgram)?;
        if current.root_public_key != program.root_public_key {
            return Err(ReloadError::RootKeyChanged);
        }
        let mut changed = false;
        if !program.revocation_list.is_empty() {
            let before = self.shared.store.current(&program.id).map(|l| l.sequence);
            let sequence = self
                .update_revocation_list(&program.id, &program.revocation_list)
                .await?;
            changed |= before != Some(sequence);
        }
        let details_changed = current.name != program.name
            || current.topics != program.topics
            || current.languages != program.languages
            || current.peer_roles != program.peer_roles
            || current.resources != program.resources
            || current.wait_limit != program.wait_limit;
        if details_changed {
            let id = program.id.clone();
            let wait_limit = program.wait_limit;
            self.shared.replace_program(program);
            self.shared
                .hub
                .send(HubEvent::ProgramUpdated {
                    program: id,
                    wait_limit,
                })
                .await
                .map_err(|_| UpdateRevocationError::ShuttingDown)?;
        }
        Ok(changed || details_changed)
    }

    /// Re-reads the TLS certificate and key files. New handshakes use them; open
    /// connections are untouched. On error the old certificate stays. `Ok(false)`: no TLS,
    /// or the files hold the certificate and key already in use (nothing changed).
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.certs {
            Some(certs) => certs.reload(),
            None => Ok(false),
        }
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
            .program(program)
            .ok_or(UpdateRevocationError::UnknownProgram)?;
        let (sequence, changed) = install_list(
            &config,
            &self.shared.store,
            self.shared.clock.now_unix(),
            list,
        )
        .map_err(|e| UpdateRevocationError::Rejected(e.code()))?;
        if changed {
            record_sequence(&self.shared, program);
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
        let grace = self.shared.limits().shutdown_grace;
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
        // The cluster node's last word (it is leaving) goes out before the process exits.
        if let Some(task) = self.cluster_task.take() {
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
