//! The admin listener's routes: `/healthz`, `/readyz` and Prometheus `/metrics`.
//!
//! Served on a separate address (loopback by default) so probes and scrapes never share a
//! port with the public. Everything here is aggregate (see `metrics.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::server::RelayObserver;

/// What the admin routes read. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    inner: Arc<AdminInner>,
}

struct AdminInner {
    ready: AtomicBool,
    relay: RwLock<Option<RelayObserver>>,
    prometheus: Option<PrometheusHandle>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("ready", &self.inner.ready.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// Not ready, no relay yet. `prometheus` renders `/metrics` (`None`: 404).
    pub fn new(prometheus: Option<PrometheusHandle>) -> Self {
        Self {
            inner: Arc::new(AdminInner {
                ready: AtomicBool::new(false),
                relay: RwLock::new(None),
                prometheus,
            }),
        }
    }

    /// The relay whose figures `/metrics` reports.
    pub fn set_relay(&self, relay: RelayObserver) {
        *self
            .inner
            .relay
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(relay);
    }

    /// Whether `/readyz` says 200: true once serving, false again when draining.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
        metrics::gauge!(crate::metrics::READY).set(if ready { 1.0 } else { 0.0 });
    }

    fn observer(&self) -> Option<RelayObserver> {
        self.inner
            .relay
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire) && self.observer().is_some_and(|r| !r.draining())
    }
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(state)
}

/// Serves the admin endpoints on `listener` until the process ends (the admin listener is
/// separate from the public one and is never drained: probes and scrapes go on during
/// shutdown).
///
/// # Errors
/// When the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, state: AdminState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics_page(State(state): State<AdminState>) -> Response {
    let Some(prometheus) = state.inner.prometheus.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(relay) = state.observer() {
        crate::metrics::set_gauges(&relay.stats().await);
    }
    let ready = state.is_ready();
    metrics::gauge!(crate::metrics::READY).set(if ready { 1.0 } else { 0.0 });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus.render(),
    )
        .into_response()
}
