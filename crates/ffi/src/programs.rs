//! The relay's public program list (`GET /v1/programs`).

use std::time::Duration;

use crate::error::ConfidantError;
use crate::types::{Program, RelayTrust};

/// The programs a relay hosts, read from its WebSocket URL (`ws://…/v1/ws` →
/// `http://…/v1/programs`; `wss://` → `https://`, trusting `trust`).
///
/// Each program's `root_key_claimed_by_relay` is the relay's claim: an app pins the key it
/// ships with and never takes this one on trust.
#[uniffi::export(async_runtime = "tokio")]
pub async fn list_programs(
    relay_url: String,
    trust: RelayTrust,
    timeout_ms: u64,
) -> Result<Vec<Program>, ConfidantError> {
    let programs = confidant_client::fetch_programs(
        &relay_url,
        &trust.to_sdk()?,
        Duration::from_millis(timeout_ms),
    )
    .await?;
    Ok(programs.into_iter().map(Program::from).collect())
}
