//! The servers under test, each run as a child process of this binary so its RSS and CPU
//! time can be read from `/proc/<pid>` and it has its own runtime, as in production.
//!
//! - `serve-relay`: the real relay library (`confidant_relay::start`) with the bench's
//!   programs and **raised limits** (connections, queue, frame rate), otherwise defaults.
//! - `serve-baseline`: [`crate::baseline`], the bare forwarder.
//!
//! A child prints `READY <addr>` once listening and exits when its stdin closes, so it
//! never outlives the bench.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Args;
use confidant_relay::{Limits, ProgramConfig, RelayConfig};

use crate::fixtures::{Program, unhex};
use crate::{Result, net};

/// Arguments of the hidden `serve-relay` subcommand.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// `id:root_hex:revocation_list_hex`, once per program.
    #[arg(long = "program", required = true)]
    programs: Vec<String>,
}

/// The relay limits the bench runs with: the defaults (10,000 connections, 32 per source
/// address, 1,000 queued per program, 50 frames/s with a burst of 100) would refuse the
/// load itself. Timeouts, chat buffers and the slow-reader grace stay at their defaults.
pub(crate) fn bench_limits() -> Limits {
    Limits {
        max_connections: 1_000_000,
        max_connections_per_source: 0,
        max_queue: 1_000_000,
        frames_per_second: 1_000_000,
        frame_burst: 1_000_000,
        hello_timeout: Duration::from_secs(60),
        ..Limits::default()
    }
}

fn program_config(arg: &str) -> Result<ProgramConfig> {
    let mut parts = arg.split(':');
    let (Some(id), Some(root), Some(list)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("--program wants id:root_hex:list_hex".into());
    };
    let root: [u8; 32] = unhex(root)?
        .try_into()
        .map_err(|_| "root key is not 32 bytes")?;
    Ok(ProgramConfig {
        id: id.to_owned(),
        name: format!("Bench program {id}"),
        root_public_key: root,
        topics: vec!["burnout".into()],
        languages: vec!["en".into()],
        peer_roles: vec!["resident".into()],
        resources: vec![],
        wait_limit: Duration::from_secs(3600),
        revocation_list: unhex(list)?,
    })
}

/// Exits the process when stdin reaches end of file (the parent is gone or done).
fn exit_on_stdin_eof() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
}

/// `serve-relay`.
pub(crate) fn serve_relay(args: &RelayArgs) -> Result<()> {
    let programs = args
        .programs
        .iter()
        .map(|p| program_config(p))
        .collect::<Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut config = RelayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), programs);
        config.limits = bench_limits();
        let relay = confidant_relay::start(config).await?;
        println!("READY {}", relay.local_addr());
        exit_on_stdin_eof();
        std::future::pending::<()>().await;
        drop(relay);
        Ok(())
    })
}

/// `serve-baseline`.
pub(crate) fn serve_baseline() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        println!("READY {}", listener.local_addr()?);
        exit_on_stdin_eof();
        crate::baseline::serve(listener).await;
        Ok(())
    })
}

/// Which server a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Relay,
    Baseline,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Relay => "relay",
            Self::Baseline => "baseline",
        }
    }
}

/// A running server child. Dropping it ends the child.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `kind` hosting `programs` (ignored by the baseline) and waits until it listens.
    pub(crate) fn start(kind: Kind, programs: &[&Program]) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        match kind {
            Kind::Relay => {
                command.arg("serve-relay");
                for program in programs {
                    command.arg("--program").arg(program.to_arg());
                }
            }
            Kind::Baseline => {
                command.arg("serve-baseline");
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("RUST_LOG", "warn")
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("READY ")
            .ok_or_else(|| format!("{} did not start: {line:?}", kind.name()))?
            .parse()?;
        Ok(Self { child, addr })
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's resident set, in bytes.
    pub(crate) fn rss(&self) -> Result<u64> {
        net::rss_bytes(self.pid())
    }

    /// The child's CPU time so far.
    pub(crate) fn cpu(&self) -> Result<Duration> {
        net::cpu_time(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
