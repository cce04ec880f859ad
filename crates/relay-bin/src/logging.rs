//! Logging with `tracing`: text or JSON lines on stderr.
//!
//! The relay's own events carry kinds and counts only (never content, addresses, chat
//! numbers, identifiers or keys). A level from `--log-level` applies to the relay; every
//! other crate (HTTP, WebSocket, TLS libraries, the in-process demo peer) stays at `warn`,
//! because their trace output can include frame bytes. `RUST_LOG`, when set and no level is
//! given, is used as written: an operator who asks for a library's trace gets it.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// The filter for `level` (our crates at `level`, everything else at most `warn`).
fn filter_for(level: &str) -> EnvFilter {
    let others = match level {
        "off" | "error" => level,
        _ => "warn",
    };
    EnvFilter::new(format!("{others},confidant_relay={level}"))
}

/// Installs the subscriber. Call once, before anything logs.
pub(crate) fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(level) => filter_for(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| filter_for("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}
