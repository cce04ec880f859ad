//! Command-line flags. Each has a `CONFIDANT_…` environment variable; both override the
//! config file. No flag has a clap default: an absent flag must let the file decide, so
//! defaults live in `settings.rs` (and `docs/configuration.md`).

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};
use serde::Deserialize;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When new connections must show a proof of work (`docs/admission.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Admission {
    /// Under load only (the thresholds below).
    Auto,
    /// Always.
    Always,
    /// Never.
    Off,
}

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "confidant-relay",
    version,
    about = "Confidant relay: matches seekers with peer supporters and forwards ciphertext it cannot read",
    after_help = "Settings: config file < CONFIDANT_* environment < flags. See docs/configuration.md."
)]
pub(crate) struct Args {
    /// The TOML configuration file.
    #[arg(long, env = "CONFIDANT_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Development mode: the seed's two programs with ephemeral in-memory keys and a demo
    /// peer; needs no configuration.
    #[arg(long)]
    pub(crate) dev: bool,
    /// Public address (WebSocket and /v1/programs) [default: 127.0.0.1:8080].
    #[arg(long, env = "CONFIDANT_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Admin address (/healthz, /readyz, /metrics) [default: 127.0.0.1:9090].
    #[arg(long, env = "CONFIDANT_ADMIN_LISTEN", value_name = "ADDR")]
    pub(crate) admin_listen: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "CONFIDANT_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Log level: trace, debug, info, warn, error, off [default: RUST_LOG, else info].
    #[arg(long, env = "CONFIDANT_LOG_LEVEL", value_name = "LEVEL")]
    pub(crate) log_level: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key the relay serves wss:// itself.
    #[arg(long, env = "CONFIDANT_TLS_CERT", value_name = "PATH")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CONFIDANT_TLS_KEY", value_name = "PATH")]
    pub(crate) tls_key: Option<PathBuf>,
    /// A browser origin allowed to open WebSockets besides the relay's own pages, e.g.
    /// https://app.example.org (repeat, or comma-separate in the environment variable).
    /// Clients that send no Origin (the CLI, apps) are always allowed.
    #[arg(
        long = "allowed-origin",
        env = "CONFIDANT_ALLOWED_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub(crate) allowed_origins: Vec<String>,
    /// Scale-out: NATS broker to join other nodes through (e.g. nats://nats:4222).
    #[arg(long, env = "CONFIDANT_CLUSTER_NATS_URL", value_name = "URL")]
    pub(crate) cluster_nats_url: Option<String>,
    /// Seconds clients get to finish their chats at shutdown [default: 10].
    #[arg(long, env = "CONFIDANT_SHUTDOWN_DEADLINE", value_name = "SECS")]
    pub(crate) shutdown_deadline: Option<u64>,
    /// Seconds between checks of the config, revocation list and TLS files for changes;
    /// 0: only on SIGHUP [default: 30].
    #[arg(long, env = "CONFIDANT_RELOAD_INTERVAL", value_name = "SECS")]
    pub(crate) reload_interval: Option<u64>,
    /// Lock memory (mlockall) so nothing is swapped to disk; a failure only warns
    /// [default: true].
    #[arg(long, env = "CONFIDANT_LOCK_MEMORY", action = ArgAction::Set, value_name = "BOOL")]
    pub(crate) lock_memory: Option<bool>,

    /// Connections at once [default: 10000].
    #[arg(long, env = "CONFIDANT_MAX_CONNECTIONS", value_name = "N")]
    pub(crate) max_connections: Option<usize>,
    /// WebSocket connections at once per source address; 0: no limit [default: 32].
    #[arg(long, env = "CONFIDANT_MAX_CONNECTIONS_PER_SOURCE", value_name = "N")]
    pub(crate) max_connections_per_source: Option<usize>,
    /// Seekers waiting per program [default: 1000].
    #[arg(long, env = "CONFIDANT_MAX_QUEUE", value_name = "N")]
    pub(crate) max_queue: Option<usize>,
    /// Sustained frames per second per connection [default: 50].
    #[arg(long, env = "CONFIDANT_FRAMES_PER_SECOND", value_name = "N")]
    pub(crate) frames_per_second: Option<u32>,
    /// Frames a connection may send in a burst [default: 100].
    #[arg(long, env = "CONFIDANT_FRAME_BURST", value_name = "N")]
    pub(crate) frame_burst: Option<u32>,
    /// Seconds to send hello (and finish a peer's proof) [default: 10].
    #[arg(long, env = "CONFIDANT_HELLO_TIMEOUT", value_name = "SECS")]
    pub(crate) hello_timeout: Option<u64>,
    /// Seconds a peer has to answer an offer [default: 30].
    #[arg(long, env = "CONFIDANT_OFFER_TIMEOUT", value_name = "SECS")]
    pub(crate) offer_timeout: Option<u64>,
    /// Seconds after a match for both sides' first data frame [default: 30].
    #[arg(long, env = "CONFIDANT_CHAT_HANDSHAKE_TIMEOUT", value_name = "SECS")]
    pub(crate) chat_handshake_timeout: Option<u64>,
    /// Seconds without data before a chat ends [default: 1800].
    #[arg(long, env = "CONFIDANT_IDLE_TIMEOUT", value_name = "SECS")]
    pub(crate) idle_timeout: Option<u64>,
    /// Data frames queued towards one side of a chat [default: 64].
    #[arg(long, env = "CONFIDANT_CHAT_BUFFER_FRAMES", value_name = "N")]
    pub(crate) chat_buffer_frames: Option<usize>,
    /// Milliseconds a sender waits for room before a chat ends as slow_reader [default: 2000].
    #[arg(long, env = "CONFIDANT_SLOW_READER_GRACE_MS", value_name = "MS")]
    pub(crate) slow_reader_grace_ms: Option<u64>,
    /// WebSocket read buffer per connection in bytes, 1024..=65536 [default: 2048]: smaller
    /// saves idle memory, larger saves CPU on big frames.
    #[arg(long, env = "CONFIDANT_READ_BUFFER_BYTES", value_name = "BYTES")]
    pub(crate) read_buffer_bytes: Option<usize>,
    /// Seconds a connection whose socket was lost is kept for the client to resume it; 0
    /// turns resume off [default: 60].
    #[arg(long, env = "CONFIDANT_RESUME_GRACE", value_name = "SECS")]
    pub(crate) resume_grace: Option<u64>,
    /// When new connections must show a proof of work: auto (under load), always, off
    /// [default: auto].
    #[arg(long, env = "CONFIDANT_ADMISSION", value_name = "MODE")]
    pub(crate) admission: Option<Admission>,
    /// auto: ask for proofs while this many connections are open [default: 2000].
    #[arg(long, env = "CONFIDANT_ADMISSION_OPEN_CONNECTIONS", value_name = "N")]
    pub(crate) admission_open_connections: Option<usize>,
    /// auto: ask for proofs while this many new connections arrive in a second
    /// [default: 100].
    #[arg(long, env = "CONFIDANT_ADMISSION_NEW_PER_SECOND", value_name = "N")]
    pub(crate) admission_new_per_second: Option<u32>,
    /// Leading zero bits of SHA-256 a proof must have, 1..=32 [default: 12].
    #[arg(long, env = "CONFIDANT_ADMISSION_DIFFICULTY", value_name = "BITS")]
    pub(crate) admission_difficulty: Option<u8>,
    /// Seconds to wait for tasks after the shutdown deadline [default: 2].
    #[arg(long, env = "CONFIDANT_SHUTDOWN_GRACE", value_name = "SECS")]
    pub(crate) shutdown_grace: Option<u64>,

    /// --dev: seconds a seeker waits before no_peer [default: 600].
    #[arg(long, requires = "dev", value_name = "SECS")]
    pub(crate) dev_wait_limit: Option<u64>,
    /// --dev: derive the dev programs' keys from this text instead of making random ones,
    /// so several dev nodes (e.g. joined with --cluster-nats-url) share program keys and
    /// can match each other's seekers and peers. Anyone who knows the text can sign
    /// credentials for these programs: dev only.
    #[arg(
        long,
        requires = "dev",
        env = "CONFIDANT_DEV_SEED",
        value_name = "TEXT"
    )]
    pub(crate) dev_seed: Option<String>,
    /// --dev: do not start the in-process demo peer.
    #[arg(long, requires = "dev")]
    pub(crate) dev_no_demo_peer: bool,
    /// --dev: write a test supporter's key, credential, revocation list and the program's
    /// root public key into this (existing) directory, for browser and CLI tests. The only
    /// thing the relay ever writes to disk, and only when asked.
    #[arg(long, requires = "dev", value_name = "DIR")]
    pub(crate) dev_peer_credential_dir: Option<PathBuf>,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use clap::CommandFactory as _;

    use super::Args;
    use crate::settings;

    /// `--help` shows each default as the number the relay uses (it once said "protocol's"),
    /// and stays in step with the code: every number here comes from the defaults themselves.
    #[test]
    fn help_shows_the_real_defaults() {
        let help = Args::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let limits = confidant_relay::Limits::default();
        let secs = |d: std::time::Duration| d.as_secs().to_string();
        let expected = [
            ("--listen", settings::DEFAULT_LISTEN.to_owned()),
            ("--admin-listen", settings::DEFAULT_ADMIN_LISTEN.to_owned()),
            (
                "--shutdown-deadline",
                secs(settings::DEFAULT_SHUTDOWN_DEADLINE),
            ),
            ("--reload-interval", secs(settings::DEFAULT_RELOAD_INTERVAL)),
            ("--max-connections", limits.max_connections.to_string()),
            (
                "--max-connections-per-source",
                limits.max_connections_per_source.to_string(),
            ),
            ("--max-queue", limits.max_queue.to_string()),
            ("--frames-per-second", limits.frames_per_second.to_string()),
            ("--frame-burst", limits.frame_burst.to_string()),
            ("--hello-timeout", secs(limits.hello_timeout)),
            ("--offer-timeout", secs(limits.offer_timeout)),
            (
                "--chat-handshake-timeout",
                secs(limits.chat_handshake_timeout),
            ),
            ("--idle-timeout", secs(limits.idle_timeout)),
            (
                "--chat-buffer-frames",
                limits.chat_buffer_frames.to_string(),
            ),
            (
                "--slow-reader-grace-ms",
                limits.slow_reader_grace.as_millis().to_string(),
            ),
            ("--read-buffer-bytes", limits.read_buffer_bytes.to_string()),
            ("--shutdown-grace", secs(limits.shutdown_grace)),
            ("--resume-grace", secs(limits.resume_grace)),
            ("--admission", "auto".to_owned()),
            (
                "--admission-open-connections",
                limits.admission_open_connections.to_string(),
            ),
            (
                "--admission-new-per-second",
                limits.admission_new_per_second.to_string(),
            ),
            (
                "--admission-difficulty",
                limits.admission_difficulty.to_string(),
            ),
            (
                "--dev-wait-limit",
                secs(confidant_proto::limits::DEFAULT_WAIT_LIMIT),
            ),
        ];
        assert!(!help.contains("protocol's"), "{help}");
        for (flag, value) in expected {
            let at = help
                .find(&format!("{flag} <"))
                .unwrap_or_else(|| panic!("{flag} not in the help: {help}"));
            let after = &help[at..];
            let end = after.find("[default: ").map(|i| &after[i..]);
            assert!(
                end.is_some_and(|e| e.starts_with(&format!("[default: {value}]"))),
                "{flag}: expected [default: {value}] in {after:.300}"
            );
        }
    }
}
