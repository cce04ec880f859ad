//! `setup`: complete sessions per second. One session: connect → hello → seek → matched →
//! verify the credential chain (as the SDK does) → Noise NK msg1/msg2 → first padded text
//! record → the peer's sealed answer → `end` → close. Relay peers are long-lived, logged in
//! with credentials and possession proofs, capacity 16, auto-accept.
//!
//! The baseline has no matching: each session opens two fresh connections that the forwarder
//! pairs, then runs the same verification, handshake and first exchange.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::fixtures::Program;
use crate::protocol::{self, Target};
use crate::report::{self, Table};
use crate::scenarios::alternation;
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `setup`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Sessions per run.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) sessions: u64,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 128)]
    pub(crate) concurrency: usize,
}

/// Peer capacity used for matching scenarios (the protocol maximum).
pub(crate) const PEER_CAPACITY: u16 = 16;

/// Long-lived relay peers answering every chat.
pub(crate) struct Peers {
    stop: CancellationToken,
    pub(crate) failures: Arc<AtomicU64>,
    tasks: JoinSet<()>,
}

impl Peers {
    /// Logs in enough peers for `concurrency` chats at once (plus one spare).
    pub(crate) async fn start(
        target: &Target,
        program: &mut Program,
        concurrency: usize,
    ) -> Result<Self> {
        let count = concurrency.div_ceil(usize::from(PEER_CAPACITY)) + 1;
        let mut peers = Self {
            stop: CancellationToken::new(),
            failures: Arc::default(),
            tasks: JoinSet::new(),
        };
        for _ in 0..count {
            let credential = Arc::new(program.supporter()?);
            let mut ws = target.connect(0).await?;
            protocol::peer_login(&mut ws, &target.program, &credential, PEER_CAPACITY).await?;
            peers.tasks.spawn(protocol::peer_responder(
                ws,
                credential,
                peers.stop.clone(),
                peers.failures.clone(),
            ));
        }
        Ok(peers)
    }

    pub(crate) async fn stop(mut self) -> u64 {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.failures.load(Ordering::Relaxed)
    }
}

/// The outcome of a batch of sessions.
pub(crate) struct Sessions {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
    pub(crate) histogram: Histogram<u64>,
}

/// Runs `count` sessions, `concurrency` at a time; `done` counts completions as they happen.
pub(crate) async fn run_sessions(
    target: &Arc<Target>,
    count: u64,
    concurrency: usize,
    done: &Arc<AtomicU64>,
) -> Result<Sessions> {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers: JoinSet<Result<Histogram<u64>>> = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (target, next, failed, done) =
            (target.clone(), next.clone(), failed.clone(), done.clone());
        workers.spawn(async move {
            let mut histogram = Histogram::new_with_bounds(1, 120_000_000, 3)?;
            while next.fetch_add(1, Ordering::Relaxed) < count {
                match protocol::seeker_session(&target).await {
                    Ok(took) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                        histogram.saturating_record(micros.max(1));
                    }
                    Err(error) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("  session failed: {error}");
                        }
                    }
                }
            }
            Ok(histogram)
        });
    }
    let mut histogram = Histogram::new_with_bounds(1, 120_000_000, 3)?;
    while let Some(joined) = workers.join_next().await {
        histogram.add(joined??)?;
    }
    let elapsed = started.elapsed();
    Ok(Sessions {
        completed: histogram.len(),
        failed: failed.load(Ordering::Relaxed),
        elapsed,
        histogram,
    })
}

struct Run {
    kind: Kind,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

/// Runs the table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let mut runs = Vec::new();
    for kind in alternation(&opts.common) {
        let mut program = Program::new("bench-program")?;
        let server = ServerProcess::start(kind, &[&program])?;
        let target = Arc::new(Target::new(
            server.addr,
            kind,
            &mut program,
            opts.common.sources,
        )?);
        let peers = match kind {
            Kind::Relay => Some(Peers::start(&target, &mut program, opts.concurrency).await?),
            Kind::Baseline => None,
        };
        let done = Arc::new(AtomicU64::new(0));
        let sessions = run_sessions(&target, opts.sessions, opts.concurrency, &done).await?;
        let peer_failures = match peers {
            Some(peers) => peers.stop().await,
            None => 0,
        };
        let run = Run {
            kind,
            per_second: sessions.completed as f64 / sessions.elapsed.as_secs_f64(),
            p50_ms: sessions.histogram.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: sessions.histogram.value_at_quantile(0.99) as f64 / 1000.0,
            failed: sessions.failed + peer_failures,
        };
        eprintln!(
            "  setup {}: {:.0} sessions/s ({} failed)",
            kind.name(),
            run.per_second,
            run.failed
        );
        runs.push(run);
    }
    let mut table = Table::new(
        &format!(
            "setup (complete sessions/s, {} sessions per run, {} in flight; medians)",
            opts.sessions, opts.concurrency
        ),
        &[
            "server",
            "sessions/s",
            "session p50 ms",
            "session p99 ms",
            "failed",
        ],
    );
    let mut rates = Vec::new();
    for kind in [Kind::Relay, Kind::Baseline] {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.kind == kind).collect();
        let rate = report::median(&mine.iter().map(|r| r.per_second).collect::<Vec<_>>());
        rates.push(rate);
        table.row(vec![
            kind.name().into(),
            report::int(rate),
            format!(
                "{:.1}",
                report::median(&mine.iter().map(|r| r.p50_ms).collect::<Vec<_>>())
            ),
            format!(
                "{:.1}",
                report::median(&mine.iter().map(|r| r.p99_ms).collect::<Vec<_>>())
            ),
            mine.iter().map(|r| r.failed).sum::<u64>().to_string(),
        ]);
    }
    let (relay, base) = (
        rates.first().copied().unwrap_or(0.0),
        rates.get(1).copied().unwrap_or(0.0),
    );
    table.row(vec![
        "relay / baseline".into(),
        report::ratio(relay, base),
        String::new(),
        String::new(),
        String::new(),
    ]);
    table.print();
    table.write_csv(&opts.common.out, "setup")?;
    let failed: u64 = runs.iter().map(|r| r.failed).sum();
    if failed > 0 {
        return Err(format!("setup: {failed} sessions failed").into());
    }
    Ok(())
}
