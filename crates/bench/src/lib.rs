//! `confidant-bench`: a load generator for the Confidant relay and
//! a bare WebSocket forwarder to compare it with.
//!
//! Every scenario starts its server — the real relay library (`confidant_relay::start`,
//! raised limits) or the baseline forwarder — as a child process of this binary
//! (`serve-relay` / `serve-baseline`), drives it over loopback with real protocol traffic
//! from several `127.0.0.x` source addresses, and prints one table: relay, baseline and
//! relay / baseline, measured in the same run. Every wait is bounded; nothing leaves
//! loopback. `docs/performance.md` explains the method.
//!
//! It is its own binary, not a subcommand of the `confidant` CLI: the bench links the relay
//! (axum, async-nats), and a seeker's or supporter's tool must not.
#![forbid(unsafe_code)]

mod baseline;
mod fixtures;
mod net;
mod plot;
mod protocol;
mod report;
mod scenarios;
mod server;

pub use scenarios::churn::Opts as ChurnOpts;
pub use scenarios::cluster::Opts as ClusterOpts;
pub use scenarios::idle::Opts as IdleOpts;
pub use scenarios::idle::UnitArgs as IdleUnitArgs;
pub use scenarios::latency::Opts as LatencyOpts;
pub use scenarios::setup::Opts as SetupOpts;
pub use scenarios::throughput::Opts as ThroughputOpts;
pub use server::RelayArgs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Errors are reported, never unwrapped: a failed session is a result, not a panic.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result with [`BoxError`].
pub(crate) type Result<T> = std::result::Result<T, BoxError>;

/// Errors a run returns, as the binaries print them.
pub type Error = BoxError;

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
pub struct Common {
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

/// The scenarios, plots, and the hidden server entry points the scenarios spawn.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Two relay nodes and a nats-server: chats across nodes against chats on one node.
    Cluster(scenarios::cluster::Opts),
    /// Peer logins per second, and the hub's pause when a new revocation list arrives.
    Revocation(scenarios::revocation::Opts),
    /// The hybrid post-quantum handshake against X25519 only, same run: bytes, CPU
    /// handshakes/s, and complete sessions/s through the relay.
    Handshake(scenarios::handshake::Opts),
    /// Feature resume: time from a new socket to `resumed` against a fresh reconnect, and
    /// the relay's memory per away connection.
    Resume(scenarios::resume::Opts),
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
    /// (internal) One relay and idle connections to it, for `idle --servers N`.
    #[command(hide = true)]
    IdleUnit(scenarios::idle::UnitArgs),
}

/// Options for `smoke`.
#[derive(Debug, Args)]
pub struct SmokeOpts {
    #[command(flatten)]
    common: Common,
}

/// Options for `all`.
#[derive(Debug, Args)]
pub struct AllOpts {
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

/// Options for `plot`.
#[derive(Debug, Args)]
pub struct PlotOpts {
    /// Where the CSV files are.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Where the SVG plots go.
    #[arg(long, default_value = "docs/performance")]
    plots: PathBuf,
}

/// `confidant-bench`'s `main`: parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("confidant-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command. The scenarios start their servers as children of this executable
/// (`confidant-bench serve-relay …`).
pub fn run(command: Command) -> std::result::Result<(), Error> {
    net::raise_file_limit();
    match command {
        Command::ServeRelay(args) => server::serve_relay(&args),
        Command::ServeBaseline => server::serve_baseline(),
        Command::Plot(opts) => plot::render(&opts.out, &opts.plots),
        other => run_client(other),
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
            Command::Cluster(opts) => scenarios::cluster::run(&opts).await,
            Command::Revocation(opts) => scenarios::revocation::run(&opts).await,
            Command::Resume(opts) => scenarios::resume::run(&opts).await,
            Command::IdleUnit(args) => scenarios::idle::unit(&args).await,
            Command::Handshake(opts) => scenarios::handshake::run(&opts).await,
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
