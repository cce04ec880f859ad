//! The `confidant` command line: the library behind the binary, so tests can drive it.
//!
//! - `seek` — an anonymous seeker's chat in the terminal;
//! - `peer` — a peer supporter serving several chats at once;
//! - `keygen` — a supporter's X25519 key pair (the secret never leaves the device);
//! - `admin` — a program's offline root key, issuing keys, supporter credentials and the
//!   signed revocation list.
//!
//! The load generator is not here: `confidant-bench` links the relay, which an end user's
//! tool must not (ARCHITECTURE.md).
#![forbid(unsafe_code)]

mod admin;
mod args;
mod cli_error;
mod console;
mod files;
mod keygen;
mod peer_command;
mod root_key;
mod seek_command;
mod tls_trust;

pub use args::{AdminCommand, Cli, Command};
pub use cli_error::CliError;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Admin { command } => admin::run(command),
        Command::Seek(args) => run_async(seek_command::run(args)),
        Command::Peer(args) => run_async(peer_command::run(args)),
    }
}

/// Runs an interactive command, then drops the runtime without waiting for the blocking
/// thread that reads stdin: that read may never return, and must not keep the process alive
/// after the chat ended.
fn run_async(command: impl Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    let runtime = runtime()?;
    let result = runtime.block_on(command);
    runtime.shutdown_background();
    result
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Invalid(format!("cannot start the async runtime: {e}")))
}
