//! `confidant-bench`: a load generator for the Confidant relay and a bare WebSocket
//! forwarder to compare it with.
//!
//! Every scenario starts its server — the real relay library (`confidant_relay::start`,
//! raised limits) or the baseline forwarder — as a child process of this binary
//! (`serve-relay` / `serve-baseline`), drives it over loopback with real protocol traffic
//! from several `127.0.0.x` source addresses, and prints one table: relay, baseline and
//! relay / baseline, measured in the same run. Every wait is bounded; nothing leaves
//! loopback. `docs/performance.md` explains the method.
#![forbid(unsafe_code)]

mod baseline;
mod fixtures;
mod net;
mod plot;
mod protocol;
mod report;
mod scenarios;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Errors are reported, never unwrapped: a failed session is a result, not a panic.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result with [`BoxError`].
pub(crate) type Result<T> = std::result::Result<T, BoxError>;

#[derive(Debug, Parser)]
#[command(
    name = "confidant-bench",
    version,
    about = "Load generator for the Confidant relay (relay vs a bare forwarder, same run)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every scenario shares.
#[derive(Debug, Clone, Args)]
pub(crate) struct Common {
    /// Where CSV results go (one file per scenario; plots read them).
    #[arg(long, default_value = "target/bench")]
    pub(crate) out: PathBuf,
    /// How many loopback source addresses (127.0.0.1 ..= 127.0.0.N) clients bind.
    #[arg(long, default_value_t = 8)]
    pub(crate) sources: u8,
    /// Relay and baseline runs alternate this many times; the table shows medians.
    #[arg(long, default_value_t = 3)]
    pub(crate) repeat: usize,
    /// Measure only `relay` or only `baseline` (for profiling one of them).
    #[arg(long)]
    pub(crate) only: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Forwarded frames/s at 100 and 1,000 chats, 256 B and 16 KiB records, both directions.
    Throughput(scenarios::throughput::Opts),
    /// One-way latency through the server at 50 % of the relay's measured maximum.
    Latency(scenarios::latency::Opts),
    /// Complete sessions per second: connect, seek, match, verify, handshake, first message.
    Setup(scenarios::setup::Opts),
    /// Server RSS per idle connection (queued seekers and idle chats held open).
    Idle(scenarios::idle::Opts),
    /// Connect / chat / disconnect cycles; the relay's RSS must come back to its start.
    Churn(scenarios::churn::Opts),
    /// Every scenario at tiny sizes in a few seconds; fails if any session fails.
    Smoke(SmokeOpts),
    /// Every scenario at full size, then the plots: the run behind docs/performance.md.
    All(AllOpts),
    /// Renders SVG plots from the CSV files a run wrote.
    Plot(PlotOpts),
    /// (internal) Runs the relay library with the bench's programs and raised limits.
    #[command(hide = true)]
    ServeRelay(server::RelayArgs),
    /// (internal) Runs the bare forwarder.
    #[command(hide = true)]
    ServeBaseline,
}

#[derive(Debug, Args)]
struct SmokeOpts {
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct AllOpts {
    #[command(flatten)]
    common: Common,
    /// Where the SVG plots go.
    #[arg(long, default_value = "docs/performance")]
    plots: PathBuf,
    /// Churned sessions.
    #[arg(long, default_value_t = 100_000)]
    churn_sessions: u64,
    /// Largest idle connection count (the process file limit here is 20,000).
    #[arg(long, default_value_t = 19_500)]
    idle_max: usize,
}

#[derive(Debug, Args)]
struct PlotOpts {
    /// Where the CSV files are.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Where the SVG plots go.
    #[arg(long, default_value = "docs/performance")]
    plots: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    net::raise_file_limit();
    let result = match cli.command {
        Command::ServeRelay(args) => server::serve_relay(&args),
        Command::ServeBaseline => server::serve_baseline(),
        Command::Plot(opts) => plot::render(&opts.out, &opts.plots),
        other => run_client(other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("confidant-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_client(command: Command) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Throughput(opts) => scenarios::throughput::run(&opts).await.map(drop),
            Command::Latency(opts) => scenarios::latency::run(&opts).await,
            Command::Setup(opts) => scenarios::setup::run(&opts).await,
            Command::Idle(opts) => scenarios::idle::run(&opts).await,
            Command::Churn(opts) => scenarios::churn::run(&opts).await,
            Command::Smoke(opts) => scenarios::smoke(&opts.common).await,
            Command::All(opts) => {
                let result = scenarios::all(&opts.common, opts.churn_sessions, opts.idle_max).await;
                plot::render(&opts.common.out, &opts.plots)?;
                result
            }
            Command::ServeRelay(_) | Command::ServeBaseline | Command::Plot(_) => Ok(()),
        }
    })
}
