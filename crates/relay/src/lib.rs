//! The Confidant relay: matches anonymous seekers with program-certified peer supporters and
//! forwards the ciphertext of their chats, which it cannot read.
//!
//! Module map:
//! - [`config`] — programs, limits (defaults from `confidant_proto::limits`), the clock.
//! - `hub` — the actor owning the matcher, the connection registry and the chat table.
//! - `connection` — one task per WebSocket: state machine, rate limit, forwarding, writer.
//! - `data_path` — the bounded, lock-light data path between two connections (chat link
//!   and outboxes).
//! - `credentials` / `revocation_store` — chain, revocation and possession checks.
//! - `server` — routes, WebSocket limits, [`RelayHandle`] (reloads) and shutdown.
//! - `listener` / `tls` / `sources` — accept loop, built-in TLS with certificate reload,
//!   connections per source under a rotating keyed hash (addresses are never kept).
//! - [`cluster`] — scale-out: several nodes joined by a NATS core broker (off by default).
//! - [`admin`] / [`metrics`] — `/healthz`, `/readyz`, Prometheus `/metrics`: aggregates only.
//!
//! Invariants: the relay never holds a chat's Noise state (enforced by `clippy.toml`), never
//! writes to disk, and never logs content, addresses, chat numbers or keys.
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod admin;
mod admission;
mod chat_features;
pub mod clock;
pub mod cluster;
pub mod config;
mod connection;
mod credentials;
mod data_path;
#[doc(hidden)]
pub mod fuzzing;
mod http_policy;
mod hub;
mod listener;
mod messages;
pub mod metrics;
mod resume_registry;
mod revocation_store;
mod server;
mod shared;
mod sources;
mod stats;
mod tls;
pub mod web_assets;

pub use clock::WallClock;
pub use cluster::ClusterConfig;
pub use config::{
    ADMISSION_HOLD, AdmissionMode, Limits, ProgramConfig, ProgramDetails, READ_BUFFER_RANGE,
    RelayConfig, TlsFiles,
};
pub use credentials::root_key_fingerprint;
pub use server::{
    RelayHandle, RelayObserver, RelayStopping, ReloadError, StartError, UpdateRevocationError,
    start,
};
pub use stats::RelayStats;
pub use tls::{TlsError, check as check_tls};
