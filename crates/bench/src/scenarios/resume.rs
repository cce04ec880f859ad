//! `resume` (feature `resume`, `proto/spec.md`, "Resume"): what a lost socket costs.
//!
//! N queued seekers agree on `resume`; their sockets are then dropped without a close (a
//! network switch), and each takes its connection back with a new socket: `resume` →
//! `resumed`. Measured: the time from opening the new socket to `resumed`, against what a
//! client without resume must do to get back in line in the same run (a new socket,
//! `hello`, `seek`, `queued` — at the back of the queue); and the relay's resident memory
//! per connection while the N are connected and while they are away (held for the window).
//! Relay only: the bare forwarder has nothing to resume.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use confidant_proto::{Base64Bytes, ClientFrame, RelayFrame, Role, SeekPreferences};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::fixtures::Program;
use crate::protocol::{self, Incoming, Target};
use crate::report::{self, Table};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `resume`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Seekers per run.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) seekers: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
}

/// One run's figures.
struct Run {
    resume_p50_ms: f64,
    resume_p99_ms: f64,
    fresh_p50_ms: f64,
    fresh_p99_ms: f64,
    connected_kib: f64,
    away_kib: f64,
    failed: u64,
}

/// Runs the scenario and prints its table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let mut runs = Vec::new();
    for _ in 0..opts.common.repeat.max(1) {
        runs.push(one_run(opts).await?);
    }
    let median = |f: fn(&Run) -> f64| report::median(&runs.iter().map(f).collect::<Vec<_>>());
    let mut table = Table::new(
        &format!(
            "resume ({} queued seekers lose their sockets and come back; medians of {} runs)",
            opts.seekers,
            runs.len()
        ),
        &["measure", "resume", "reconnect without resume", "ratio"],
    );
    let (resume_p50, fresh_p50) = (median(|r| r.resume_p50_ms), median(|r| r.fresh_p50_ms));
    let (resume_p99, fresh_p99) = (median(|r| r.resume_p99_ms), median(|r| r.fresh_p99_ms));
    table.row(vec![
        "back in line, p50 ms".into(),
        format!("{resume_p50:.2}"),
        format!("{fresh_p50:.2}"),
        report::ratio(resume_p50, fresh_p50),
    ]);
    table.row(vec![
        "back in line, p99 ms".into(),
        format!("{resume_p99:.2}"),
        format!("{fresh_p99:.2}"),
        report::ratio(resume_p99, fresh_p99),
    ]);
    let (connected, away) = (median(|r| r.connected_kib), median(|r| r.away_kib));
    table.row(vec![
        "relay RSS per seeker, KiB (away vs connected)".into(),
        format!("{away:.1}"),
        format!("{connected:.1}"),
        report::ratio(away, connected),
    ]);
    let failed: u64 = runs.iter().map(|r| r.failed).sum();
    table.row(vec![
        "failed".into(),
        failed.to_string(),
        String::new(),
        String::new(),
    ]);
    table.print();
    table.write_csv(&opts.common.out, "resume")?;
    if failed > 0 {
        return Err(format!("resume: {failed} seekers failed").into());
    }
    Ok(())
}

async fn one_run(opts: &Opts) -> Result<Run> {
    let mut program = Program::new("bench-program")?;
    let server = ServerProcess::start(Kind::Relay, &[&program])?;
    let target = Arc::new(Target::new(
        server.addr,
        Kind::Relay,
        &mut program,
        opts.common.sources,
    )?);
    let zero = server.rss()?;
    let gate = Arc::new(Semaphore::new(opts.concurrency.max(1)));

    // N resumable seekers, queued.
    let mut tasks = JoinSet::new();
    for _ in 0..opts.seekers {
        let (target, gate) = (target.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            queued_resumable(&target).await
        });
    }
    let mut held = Vec::with_capacity(opts.seekers);
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(seeker)) => held.push(seeker),
            _ => failed += 1,
        }
    }
    let count = held.len().max(1) as f64;
    let connected = server.rss()?;
    // Every socket dropped without a close: the connections are away.
    let secrets: Vec<Base64Bytes> = held
        .into_iter()
        .map(|(ws, secret)| {
            drop(ws);
            secret
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let away = server.rss()?;

    let mut resumed = Histogram::<u64>::new(3)?;
    let mut resumes = JoinSet::new();
    for secret in secrets {
        let (target, gate) = (target.clone(), gate.clone());
        resumes.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            resume(&target, secret).await
        });
    }
    // Held until the run ends, so the fresh reconnects below queue behind them.
    let mut keep = Vec::with_capacity(opts.seekers * 2);
    let mut resume_times = Vec::new();
    while let Some(joined) = resumes.join_next().await {
        match joined {
            Ok(Ok((ws, took))) => {
                keep.push(ws);
                resume_times.push(took);
            }
            _ => failed += 1,
        }
    }
    for took in &resume_times {
        resumed.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
    }

    // The same count of reconnects without resume: new socket, hello, seek, queued.
    let mut fresh = Histogram::<u64>::new(3)?;
    let mut fresh_tasks = JoinSet::new();
    for _ in 0..opts.seekers {
        let (target, gate) = (target.clone(), gate.clone());
        fresh_tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let started = Instant::now();
            let ws = protocol::seeker_queued(&target).await?;
            Ok::<_, crate::Error>((ws, started.elapsed()))
        });
    }
    while let Some(joined) = fresh_tasks.join_next().await {
        match joined {
            Ok(Ok((ws, took))) => {
                keep.push(ws);
                fresh.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
            }
            _ => failed += 1,
        }
    }
    drop(keep);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per = |rss: u64| (rss.saturating_sub(zero)) as f64 / count / 1024.0;
    eprintln!(
        "  resume: {} resumed (p50 {:.2} ms), {} fresh reconnects (p50 {:.2} ms), {failed} failed",
        resumed.len(),
        ms(&resumed, 0.5),
        fresh.len(),
        ms(&fresh, 0.5)
    );
    Ok(Run {
        resume_p50_ms: ms(&resumed, 0.5),
        resume_p99_ms: ms(&resumed, 0.99),
        fresh_p50_ms: ms(&fresh, 0.5),
        fresh_p99_ms: ms(&fresh, 0.99),
        connected_kib: per(connected),
        away_kib: per(away),
        failed,
    })
}

/// A seeker that agreed on `resume`, queued: its socket and its secret.
async fn queued_resumable(target: &Target) -> Result<(crate::net::Ws, Base64Bytes)> {
    let mut ws = target.connect(0).await?;
    protocol::send(
        &mut ws,
        &ClientFrame::Hello {
            v: 1,
            role: Role::Seeker,
            program: target.program.clone(),
            features: Some(vec!["resume".to_owned()]),
            chat_features: None,
        },
    )
    .await?;
    let secret = match protocol::recv(&mut ws).await? {
        Incoming::Control(RelayFrame::Welcome {
            resume: Some(offer),
            ..
        }) => offer.secret,
        _ => return Err("welcome without resume".into()),
    };
    protocol::send(
        &mut ws,
        &ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        },
    )
    .await?;
    match protocol::recv(&mut ws).await? {
        Incoming::Control(RelayFrame::Queued { .. }) => Ok((ws, secret)),
        _ => Err("expected queued".into()),
    }
}

/// A new socket takes the connection back: the time from connecting to `resumed`.
async fn resume(target: &Target, secret: Base64Bytes) -> Result<(crate::net::Ws, Duration)> {
    let started = Instant::now();
    let mut ws = target.connect(0).await?;
    // One counted message (`queued`) was received.
    protocol::send(
        &mut ws,
        &ClientFrame::Resume {
            secret,
            received: 1,
        },
    )
    .await?;
    match protocol::recv(&mut ws).await? {
        Incoming::Control(RelayFrame::Resumed { .. }) => Ok((ws, started.elapsed())),
        _ => Err("expected resumed".into()),
    }
}
