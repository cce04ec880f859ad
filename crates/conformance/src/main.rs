//! `confidant-conformance`: runs the suite against a relay and exits 1 if any check fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use confidant_client::PeerCredential;
use confidant_conformance::{PeerKeys, Target, run};

/// Checks a Confidant relay against proto/spec.md.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The relay's WebSocket URL, e.g. ws://127.0.0.1:8080/v1/ws.
    #[arg(long)]
    relay: String,
    /// A program the relay hosts.
    #[arg(long)]
    program: String,
    /// A supporter key file of that program (with --credential and --revocation-list) for
    /// the peer checks and the chat scenarios; without them those are skipped. The
    /// scenarios need that no other peer of the program is online.
    #[arg(long, requires_all = ["credential", "revocation_list"])]
    key: Option<PathBuf>,
    /// The supporter's credential file (`confidant admin sign`).
    #[arg(long, requires = "key")]
    credential: Option<PathBuf>,
    /// The program's revocation list file (`confidant admin revoke`).
    #[arg(long, requires = "key")]
    revocation_list: Option<PathBuf>,
    /// Only the checks whose name contains this text.
    #[arg(long)]
    only: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let peer = match (&args.key, &args.credential, &args.revocation_list) {
        (Some(key), Some(credential), Some(list)) => {
            match PeerCredential::from_files(key, credential, list) {
                Ok(credential) => Some(PeerKeys::new(credential)),
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let target = Target {
        url: args.relay,
        program: args.program,
        peer,
        only: args.only,
    };
    let report = run(&target).await;
    print!("{}", report.render());
    if report.failures().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
