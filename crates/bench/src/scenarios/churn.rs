//! `churn`: many complete sessions (connect, seek, match, handshake, first exchange, end,
//! close) against one relay process, sampling its RSS; the RSS after the run must come back
//! to within 10 % of its **warmed** level.
//!
//! The warmed level: allocator arenas and runtime structures grow to the working size of
//! the load (here: `concurrency` sessions in flight) and then stay. The warm-up runs the same
//! sessions at the same concurrency in chunks of `--warmup` sessions until one chunk grows
//! RSS by less than `--plateau` percent twice in a row (or `--warmup-max` sessions have
//! run), and reports how many sessions that took. So that a real leak cannot hide in the
//! warm-up, the table also gives the cold level, the level after the first chunk, the end
//! level against each, and the slope of RSS over the second half of the churn (a leak keeps
//! a slope; a working set that has settled has none).

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
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Sessions measured after the warm-up.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) sessions: u64,
    /// Warm-up chunk: sessions between two RSS readings of the warm-up.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) warmup: u64,
    /// Most warm-up sessions before the start level is read, plateau or not.
    #[arg(long, default_value_t = 50_000)]
    pub(crate) warmup_max: u64,
    /// A warm-up chunk that grows RSS by less than this (percent), twice in a row, ends the
    /// warm-up: the working set has reached its plateau.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) plateau: f64,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 128)]
    pub(crate) concurrency: usize,
}

/// Allowed growth of RSS from the start level to the end level.
const TOLERANCE: f64 = 0.10;

/// RSS readings while sessions run: (seconds, sessions done, RSS bytes).
type Samples = Arc<std::sync::Mutex<Vec<(f64, u64, u64)>>>;

/// Samples `server`'s RSS every 250 ms against `done` until aborted.
fn sample(
    server: &Arc<ServerProcess>,
    done: &Arc<AtomicU64>,
    samples: &Samples,
) -> tokio::task::JoinHandle<()> {
    let (server, done, samples) = (server.clone(), done.clone(), samples.clone());
    let started = Instant::now();
    tokio::spawn(async move {
        loop {
            if let Ok(rss) = server.rss() {
                let point = (
                    started.elapsed().as_secs_f64(),
                    done.load(Ordering::Relaxed),
                    rss,
                );
                if let Ok(mut s) = samples.lock() {
                    s.push(point);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

/// Least-squares slope of RSS (bytes) per session over the samples from `from` sessions on.
fn slope(samples: &[(f64, u64, u64)], from: u64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|p| p.1 >= from)
        .map(|p| (p.1 as f64, p.2 as f64))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn samples_csv(samples: &Samples) -> Vec<Vec<String>> {
    samples
        .lock()
        .map(|s| {
            s.iter()
                .map(|(t, done, rss)| vec![format!("{t:.2}"), done.to_string(), rss.to_string()])
                .collect()
        })
        .unwrap_or_default()
}

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

    // Warm-up in chunks until the plateau.
    let chunk = opts.warmup.max(1);
    let warm_done = Arc::new(AtomicU64::new(0));
    let warm_samples: Samples = Arc::default();
    let warm_sampler = sample(&server, &warm_done, &warm_samples);
    let mut warm_failed = 0;
    let mut warmed_up = 0_u64;
    let mut previous = server.rss()?;
    let mut first_chunk = None;
    let mut flat_chunks = 0;
    let mut plateau_at = None;
    while warmed_up < opts.warmup_max.max(chunk) {
        let warm = run_sessions(&target, chunk, opts.concurrency, &warm_done).await?;
        warm_failed += warm.failed;
        warmed_up += chunk;
        let rss = server.rss()?;
        first_chunk.get_or_insert(rss);
        let growth = (rss as f64 - previous as f64) / previous as f64 * 100.0;
        eprintln!(
            "  churn warm-up: {warmed_up} sessions, RSS {} MiB ({growth:+.2} % over the chunk)",
            report::mib(rss as f64)
        );
        previous = rss;
        flat_chunks = if growth < opts.plateau {
            flat_chunks + 1
        } else {
            0
        };
        if flat_chunks >= 2 {
            plateau_at = Some(warmed_up);
            break;
        }
    }
    warm_sampler.abort();
    tokio::time::sleep(settle).await;
    let rss_start = server.rss()?;
    let rss_first_chunk = first_chunk.unwrap_or(rss_start);

    // The churn, sampling RSS against sessions completed.
    let done = Arc::new(AtomicU64::new(0));
    let samples: Samples = Arc::default();
    let sampler = sample(&server, &done, &samples);
    let churn = run_sessions(&target, opts.sessions, opts.concurrency, &done).await?;
    sampler.abort();
    tokio::time::sleep(settle).await;
    let rss_end = server.rss()?;
    let peer_failures = peers.stop().await;
    let (peak, late_slope) = samples
        .lock()
        .map(|s| {
            (
                s.iter().map(|p| p.2).max().unwrap_or(0),
                slope(&s, opts.sessions / 2),
            )
        })
        .unwrap_or((0, None));
    let peak = peak.max(rss_end);
    let growth = (rss_end as f64 - rss_start as f64) / rss_start as f64;
    let growth_first = (rss_end as f64 - rss_first_chunk as f64) / rss_first_chunk as f64;
    let mut table = Table::new(
        &format!(
            "churn (relay process; {} sessions after a warm-up to the RSS plateau, {} in flight)",
            opts.sessions, opts.concurrency
        ),
        &["measure", "value"],
    );
    let rate = churn.completed as f64 / churn.elapsed.as_secs_f64();
    let half = opts.sessions / 2;
    let slope_cells = match late_slope {
        Some(bytes_per_session) => (
            format!("{:+.1}", bytes_per_session * 10_000.0 / 1024.0),
            format!(
                "{:+.2} %",
                bytes_per_session * half as f64 / rss_start as f64 * 100.0
            ),
        ),
        None => ("-".into(), "-".into()),
    };
    let plateau_cell = match plateau_at {
        Some(at) => report::int(at as f64),
        None => format!("not reached in {}", report::int(warmed_up as f64)),
    };
    let failed = churn.failed + warm_failed + peer_failures;
    for (name, value) in [
        (
            "RSS cold (no connection yet), MiB".to_owned(),
            report::mib(rss_cold as f64),
        ),
        (
            format!("RSS after the first {chunk} warm-up sessions, MiB"),
            report::mib(rss_first_chunk as f64),
        ),
        (
            format!(
                "warm-up sessions to the plateau (< {} % growth per {chunk}, twice)",
                opts.plateau
            ),
            plateau_cell,
        ),
        (
            "RSS warmed, settled (start level), MiB".to_owned(),
            report::mib(rss_start as f64),
        ),
        (
            "RSS peak during churn, MiB".to_owned(),
            report::mib(peak as f64),
        ),
        (
            "RSS after churn, settled, MiB".to_owned(),
            report::mib(rss_end as f64),
        ),
        (
            "end vs warmed start (target ≤ +10 %)".to_owned(),
            format!("{:+.1} %", growth * 100.0),
        ),
        (
            format!("end vs after the first {chunk} sessions"),
            format!("{:+.1} %", growth_first * 100.0),
        ),
        (
            format!(
                "slope over the last {} sessions, KiB per 10,000",
                report::int(half as f64)
            ),
            slope_cells.0,
        ),
        (
            "slope × last half, of the start level".to_owned(),
            slope_cells.1,
        ),
        (
            "sessions completed".to_owned(),
            report::int(churn.completed as f64),
        ),
        ("sessions/s".to_owned(), report::int(rate)),
        ("failed sessions".to_owned(), failed.to_string()),
    ] {
        table.row(vec![name, value]);
    }
    table.print();
    table.write_csv(&opts.common.out, "churn")?;
    let columns = ["seconds".into(), "sessions".into(), "rss_bytes".into()];
    report::write_csv(
        &opts.common.out,
        "churn_rss",
        &columns,
        &samples_csv(&samples),
    )?;
    report::write_csv(
        &opts.common.out,
        "churn_warmup_rss",
        &columns,
        &samples_csv(&warm_samples),
    )?;
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
