//! `confidant-relay`: the relay binary. A thin shell over the `confidant_relay` library:
//! parse flags, build the configuration, start, wait for Ctrl-C, shut down gracefully.
#![forbid(unsafe_code)]

mod dev;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use confidant_relay::RelayConfig;

/// How long clients get to finish when the relay is stopped.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "confidant-relay",
    version,
    about = "Confidant relay: matches seekers with peer supporters and forwards ciphertext it cannot read"
)]
struct Args {
    /// Development mode: ephemeral in-memory program keys for the seed's two programs.
    #[arg(long)]
    dev: bool,
    /// Address to listen on.
    #[arg(long, env = "CONFIDANT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if !args.dev {
        eprintln!(
            "confidant-relay: only --dev is available yet (configuration files come later).\n\
             Try: confidant-relay --dev"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("confidant-relay: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_dev(args.listen))
}

async fn run_dev(listen: SocketAddr) -> ExitCode {
    let programs = match dev::DevProgram::seed() {
        Ok(programs) => programs,
        Err(error) => {
            eprintln!("confidant-relay: cannot create dev keys: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = RelayConfig::new(
        listen,
        programs.iter().map(dev::DevProgram::config).collect(),
    );
    let relay = match confidant_relay::start(config).await {
        Ok(relay) => relay,
        Err(error) => {
            eprintln!("confidant-relay: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = relay.local_addr();
    dev::print_banner(addr, &programs);
    spawn_demo_peer(addr, &programs);
    let _ = tokio::signal::ctrl_c().await;
    eprintln!(
        "confidant-relay: shutting down (clients get {}s)",
        SHUTDOWN_DEADLINE.as_secs()
    );
    relay.shutdown(SHUTDOWN_DEADLINE).await;
    ExitCode::SUCCESS
}

// ===================================================================================
// HOOK (lead): plug the in-process demo peer from the client crate in here.
//
// Each `DevProgram` holds its program's ephemeral root key, issuing key, issuer
// certificate and current revocation list; `DevProgram::issue_supporter` signs a
// supporter certificate for a freshly generated `SupporterSecret`. The demo peer is a
// normal client of the relay over loopback at `ws://{addr}/v1/ws`.
// ===================================================================================
/// Starts an in-process demo peer for `--dev` (not yet wired: see the hook comment).
fn spawn_demo_peer(addr: SocketAddr, programs: &[dev::DevProgram]) {
    let _ = (addr, programs);
}
