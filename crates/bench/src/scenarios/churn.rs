//! `churn`: many complete sessions (connect, seek, match, handshake, first exchange, end,
//! close) against one relay process, sampling its RSS; the RSS after the run must come back
//! to within 10 % of its level after a warm-up (allocator arenas and runtime structures
//! reach their working size during the warm-up; growth after it would be a leak).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use crate::fixtures::Program;
use crate::protocol::Target;
use crate::report::{self, Table};
use crate::scenarios::setup::{Peers, run_sessions};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `churn`.
#[derive(Debug, Clone, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Sessions measured after the warm-up.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) sessions: u64,
    /// Warm-up sessions before the start level is read.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) warmup: u64,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 128)]
    pub(crate) concurrency: usize,
}

/// Allowed growth of RSS from the start level to the end level.
const TOLERANCE: f64 = 0.10;

/// Runs the table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let mut program = Program::new("bench-program")?;
    let server = Arc::new(ServerProcess::start(Kind::Relay, &[&program])?);
    let target = Arc::new(Target::new(
        server.addr,
        Kind::Relay,
        &mut program,
        opts.common.sources,
    )?);
    let settle = Duration::from_secs(2);
    let rss_cold = server.rss()?;
    let peers = Peers::start(&target, &mut program, opts.concurrency).await?;
    let warm_done = Arc::new(AtomicU64::new(0));
    let warm = run_sessions(&target, opts.warmup, opts.concurrency, &warm_done).await?;
    tokio::time::sleep(settle).await;
    let rss_start = server.rss()?;

    // Sample RSS against sessions completed while the churn runs.
    let done = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64, f64)>::new()));
    let sampler = {
        let (server, done, samples) = (server.clone(), done.clone(), samples.clone());
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                if let Ok(rss) = server.rss() {
                    let point = (
                        done.load(Ordering::Relaxed),
                        rss,
                        started.elapsed().as_secs_f64(),
                    );
                    if let Ok(mut s) = samples.lock() {
                        s.push(point);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let churn = run_sessions(&target, opts.sessions, opts.concurrency, &done).await?;
    sampler.abort();
    tokio::time::sleep(settle).await;
    let rss_end = server.rss()?;
    let peer_failures = peers.stop().await;
    let peak = samples
        .lock()
        .map(|s| s.iter().map(|p| p.1).max().unwrap_or(0))
        .unwrap_or(0)
        .max(rss_end);
    let growth = (rss_end as f64 - rss_start as f64) / rss_start as f64;
    let mut table = Table::new(
        &format!(
            "churn (relay process; {} sessions after {} warm-up sessions, {} in flight)",
            opts.sessions, opts.warmup, opts.concurrency
        ),
        &["measure", "value"],
    );
    let rate = churn.completed as f64 / churn.elapsed.as_secs_f64();
    for (name, value) in [
        (
            "RSS cold (no connection yet), MiB",
            report::mib(rss_cold as f64),
        ),
        (
            "RSS after warm-up (start level), MiB",
            report::mib(rss_start as f64),
        ),
        ("RSS peak during churn, MiB", report::mib(peak as f64)),
        ("RSS after churn, settled, MiB", report::mib(rss_end as f64)),
        ("end vs start", format!("{:+.1} %", growth * 100.0)),
        ("sessions completed", report::int(churn.completed as f64)),
        ("sessions/s", report::int(rate)),
        (
            "failed sessions",
            (churn.failed + warm.failed + peer_failures).to_string(),
        ),
    ] {
        table.row(vec![name.into(), value]);
    }
    table.print();
    table.write_csv(&opts.common.out, "churn")?;
    let rows: Vec<Vec<String>> = samples
        .lock()
        .map(|s| {
            s.iter()
                .map(|(done, rss, t)| vec![format!("{t:.2}"), done.to_string(), rss.to_string()])
                .collect()
        })
        .unwrap_or_default();
    report::write_csv(
        &opts.common.out,
        "churn_rss",
        &["seconds".into(), "sessions".into(), "rss_bytes".into()],
        &rows,
    )?;
    let failed = churn.failed + warm.failed + peer_failures;
    if failed > 0 {
        return Err(format!("churn: {failed} sessions failed").into());
    }
    if growth > TOLERANCE {
        eprintln!(
            "churn: RSS grew {:.1} % (> {:.0} %) over the run",
            growth * 100.0,
            TOLERANCE * 100.0
        );
    }
    Ok(())
}
