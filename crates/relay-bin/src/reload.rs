//! Hot reload: on SIGHUP, or when a watched file changes (checked every
//! `reload_interval`), the config file is read again and applied without a restart:
//! revocation lists (revoked peers go offline at once, their chats end as `revoked`),
//! program descriptions and resources, wait limits, every limit, and the TLS certificate.
//! Addresses, TLS file paths and the set of programs (and their root keys) need a restart;
//! a reload says so in a warning and keeps the rest. A reload that fails leaves the
//! running configuration as it was.

use confidant_crypto::wall_clock::unix_now as now_unix;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use confidant_relay::RelayHandle;
use tokio::signal::unix::{SignalKind, signal};

use crate::args::Args;
use crate::settings::{self, Settings};

/// Size and modification time of each watched file (`None`: missing).
type Fingerprint = Vec<Option<(u64, SystemTime)>>;

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)))
        })
        .collect()
}

/// Runs until the process ends: waits for SIGHUP or a change and reloads.
pub(crate) async fn run(args: &Args, relay: &RelayHandle, mut running: Settings) {
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(stream) => Some(stream),
        Err(_) => {
            tracing::warn!(kind = "reload_unavailable", "cannot listen for SIGHUP");
            None
        }
    };
    let mut seen = fingerprint(&running.watched);
    let interval = running.reload_interval;
    loop {
        let poll = async {
            if interval.is_zero() {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(interval).await;
            }
        };
        let hup = async {
            match hangup.as_mut() {
                Some(stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let by_signal = tokio::select! {
            () = hup => true,
            () = poll => false,
        };
        let now = fingerprint(&running.watched);
        if !by_signal && now == seen {
            continue;
        }
        // A file being written may be caught half-way; give the writer a moment.
        if !by_signal {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let trigger = if by_signal { "sighup" } else { "file_changed" };
        match reload(args, relay, &running).await {
            Ok(next) => {
                metrics::counter!(confidant_relay::metrics::RELOADS, "result" => "ok").increment(1);
                tracing::info!(kind = "reloaded", trigger, "configuration reloaded");
                running = next;
            }
            Err(error) => {
                metrics::counter!(confidant_relay::metrics::RELOADS, "result" => "error")
                    .increment(1);
                tracing::error!(kind = "reload_failed", trigger, %error, "reload failed; keeping the running configuration");
            }
        }
        seen = fingerprint(&running.watched);
    }
}

/// Reads everything again and applies what can change at run time.
async fn reload(
    args: &Args,
    relay: &RelayHandle,
    running: &Settings,
) -> Result<Settings, settings::SettingError> {
    let file = settings::read_file(args.config.as_deref())?;
    let next = settings::resolve(args, file, now_unix())?;
    // The certificate first: if it cannot be used, the reload fails before anything else is
    // applied (and is counted as failed), and the previous certificate stays.
    match relay.reload_tls() {
        Ok(true) => tracing::info!(kind = "tls_reloaded", "TLS certificate reloaded"),
        Ok(false) => {}
        Err(error) => {
            tracing::error!(kind = "tls_reload_failed", %error, "TLS certificate not reloaded; the previous one stays");
            return Err(settings::tls_error(error));
        }
    }
    if next.listen != running.listen || next.admin_listen != running.admin_listen {
        tracing::warn!(
            kind = "reload_needs_restart",
            "listen addresses changed: restart to apply"
        );
    }
    if next.tls.is_some() != running.tls.is_some() || next.tls != running.tls {
        tracing::warn!(
            kind = "reload_needs_restart",
            "TLS file paths changed: restart to apply"
        );
    }
    if next.limits != running.limits && relay.update_limits(next.limits).await.is_ok() {
        tracing::info!(kind = "limits_updated", "limits updated");
    }
    for program in &next.programs {
        let id = program.id.clone();
        match relay.update_program(program.clone()).await {
            Ok(true) => tracing::info!(kind = "program_updated", program = %id, "program updated"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(kind = "program_not_updated", program = %id, %error, "program not updated")
            }
        }
    }
    for program in &running.programs {
        if !next.programs.iter().any(|p| p.id == program.id) {
            tracing::warn!(kind = "reload_needs_restart", program = %program.id, "program removed from the file: restart to stop hosting it");
        }
    }
    Ok(next)
}
