//! The servers under test, each run as a child process of this binary so its RSS and CPU
//! time can be read from `/proc/<pid>` and it has its own runtime, as in production.
//!
//! - `serve-relay`: the real relay library (`confidant_relay::start`) with the bench's
//!   programs and **raised limits** (connections, queue, frame rate), otherwise defaults.
//! - `serve-baseline`: [`crate::baseline`], the bare forwarder.
//!
//! A child prints `READY <addr>` once listening and exits when its stdin closes, so it
//! never outlives the bench. A relay child also answers the line `stats` on its stdin with
//! `STATS <connections> <available_peers> <queued_seekers> <active_chats>` (its
//! `RelayHandle::stats()`), so a scenario can wait for a state (e.g. remote peers seen).
//!
//! With `--cluster-nats-url` the relay joins other nodes through that NATS broker
//! (`RelayConfig::cluster`), as `tests/src/cluster_support.rs` starts a node.
//!
//! A relay child records the relay's metrics with the Prometheus recorder, as the
//! `confidant-relay` binary does, so it pays for them as deployed. It answers `cluster` with
//! `CLUSTER <nodes_lost> <nodes_returned>` (whether a node was let go at the TTL, and
//! whether that was a false alarm), `revoke PROGRAM LIST_HEX` with `REVOKED <install µs>
//! <install + hub round trip µs>` and `ping` with `PING <hub round trip µs>`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use confidant_relay::{ClusterConfig, Limits, ProgramConfig, RelayConfig, RelayStats};

use crate::fixtures::{Program, unhex};
use crate::{Result, net};

/// Arguments of the hidden `serve-relay` subcommand.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// `id:root_hex:revocation_list_hex`, once per program.
    #[arg(long = "program", required = true)]
    programs: Vec<String>,
    /// Join a cluster through this NATS broker (`nats://127.0.0.1:PORT`).
    #[arg(long)]
    cluster_nats_url: Option<String>,
    /// The cluster heartbeat (presence interval), milliseconds; the node TTL scales with it
    /// (default 1,000 ms and 3 s).
    #[arg(long, default_value_t = 1000)]
    cluster_heartbeat_ms: u64,
}

/// The WebSocket read buffer both servers use: the relay's default, or
/// `CONFIDANT_READ_BUFFER_BYTES` (the relay binary's own setting) when set and in range, so
/// the trade between idle memory and CPU per large frame can be measured. Read once per
/// process: the baseline asks on every accepted connection.
pub(crate) fn read_buffer_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        std::env::var("CONFIDANT_READ_BUFFER_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|bytes| confidant_relay::READ_BUFFER_RANGE.contains(bytes))
            .unwrap_or(Limits::default().read_buffer_bytes)
    })
}

/// The relay limits the bench runs with: the defaults (10,000 connections, 32 per source
/// address, 1,000 queued per program, 50 frames/s with a burst of 100) would refuse the
/// load itself. Timeouts, chat buffers and the slow-reader grace stay at their defaults.
pub(crate) fn bench_limits() -> Limits {
    Limits {
        read_buffer_bytes: read_buffer_bytes(),
        max_connections: 1_000_000,
        max_connections_per_source: 0,
        max_queue: 1_000_000,
        frames_per_second: 1_000_000,
        frame_burst: 1_000_000,
        hello_timeout: Duration::from_secs(60),
        // The bench opens connections by the thousand on purpose: it measures the relay,
        // not the gate.
        admission: confidant_relay::AdmissionMode::Off,
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
        details: confidant_relay::ProgramDetails::default(),
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

/// Answers `stats` lines on stdin with `STATS …` (and `cluster`, `revoke`, `ping`: see the
/// module's documentation); exits the process at end of file.
fn answer_stats_until_eof(
    relay: Arc<confidant_relay::RelayHandle>,
    runtime: tokio::runtime::Handle,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
            let mut words = line.split_whitespace();
            if let (Some("revoke"), Some(program), Some(list)) =
                (words.next(), words.next(), words.next())
            {
                // A new revocation list, then a `stats` round trip through the hub, which
                // waits behind the hub's re-check of every peer of the program.
                let answer = unhex(list).map_err(|e| e.to_string()).and_then(|list| {
                    runtime.block_on(async {
                        let started = std::time::Instant::now();
                        relay
                            .update_revocation_list(program, &list)
                            .await
                            .map_err(|e| e.to_string())?;
                        let installed = started.elapsed();
                        relay.stats().await;
                        Ok((installed, started.elapsed()))
                    })
                });
                let mut out = std::io::stdout().lock();
                let _ = match answer {
                    Ok((installed, total)) => writeln!(
                        out,
                        "REVOKED {} {}",
                        installed.as_micros(),
                        total.as_micros()
                    ),
                    Err(error) => writeln!(out, "REVOKE-FAILED {error}"),
                };
                let _ = out.flush();
            } else if line.trim() == "ping" {
                // The same `stats` round trip through an idle hub: the baseline.
                let took = runtime.block_on(async {
                    let started = std::time::Instant::now();
                    relay.stats().await;
                    started.elapsed()
                });
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "PING {}", took.as_micros());
                let _ = out.flush();
            } else if line.trim() == "stats" {
                let s = runtime.block_on(relay.stats());
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "STATS {} {} {} {}",
                    s.connections, s.available_peers, s.queued_seekers, s.active_chats
                );
                let _ = out.flush();
            } else if line.trim() == "cluster" {
                let text = metrics.render();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small counts
                let counter = |name: &str| {
                    text.lines()
                        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                        .find_map(|v| v.trim().parse::<f64>().ok())
                        .map_or(0, |v| v as u64)
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "CLUSTER {} {}",
                    counter(confidant_relay::metrics::CLUSTER_NODES_LOST),
                    counter(confidant_relay::metrics::CLUSTER_NODES_RETURNED)
                );
                let _ = out.flush();
            }
        }
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
    let handle = runtime.handle().clone();
    runtime.block_on(async move {
        let mut config = RelayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), programs);
        config.limits = bench_limits();
        // The recorder the `confidant-relay` binary installs, so the relay measured pays
        // for its metrics as deployed (and the cluster scenario can read its counters).
        let metrics = confidant_relay::metrics::install_prometheus()
            .map_err(|e| format!("metrics recorder: {e}"))?;
        if let Some(url) = &args.cluster_nats_url {
            // Defaults otherwise; the node TTL keeps its default ratio to the heartbeat.
            let mut cluster = ClusterConfig::new(url);
            let heartbeat = Duration::from_millis(args.cluster_heartbeat_ms.max(10));
            cluster.node_ttl = cluster
                .node_ttl
                .mul_f64(heartbeat.as_secs_f64() / cluster.heartbeat.as_secs_f64());
            cluster.heartbeat = heartbeat;
            config.cluster = Some(cluster);
        }
        let relay = Arc::new(confidant_relay::start(config).await?);
        println!("READY {}", relay.local_addr());
        answer_stats_until_eof(relay.clone(), handle, metrics);
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
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub(crate) addr: SocketAddr,
}

/// A command running this executable with `args` after the prefix (see [`crate::run`]).
pub(crate) fn self_command<I, S>(args: I) -> Result<Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(std::env::current_exe()?);
    command.args(args);
    Ok(command)
}

impl ServerProcess {
    /// Starts `kind` hosting `programs` (ignored by the baseline) and waits until it listens.
    pub(crate) fn start(kind: Kind, programs: &[&Program]) -> Result<Self> {
        Self::start_node(kind, programs, None)
    }

    /// Like [`Self::start`]; a relay with `cluster = Some((url, heartbeat))` joins that broker.
    pub(crate) fn start_node(
        kind: Kind,
        programs: &[&Program],
        cluster: Option<(&str, Duration)>,
    ) -> Result<Self> {
        let mut command = self_command::<_, &str>([])?;
        match kind {
            Kind::Relay => {
                command.arg("serve-relay");
                for program in programs {
                    command.arg("--program").arg(program.to_arg());
                }
                if let Some((url, heartbeat)) = cluster {
                    command.arg("--cluster-nats-url").arg(url);
                    command
                        .arg("--cluster-heartbeat-ms")
                        .arg(heartbeat.as_millis().to_string());
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
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("READY ")
            .ok_or_else(|| format!("{} did not start: {line:?}", kind.name()))?
            .parse()?;
        Ok(Self {
            child,
            stdin,
            stdout,
            addr,
        })
    }

    /// Sends `question` on the child's stdin and parses its one-line answer, which starts
    /// with `answer` followed by numbers (blocking for a moment: the child answers at once).
    fn ask<T>(&mut self, question: &str, answer: &str) -> Result<Vec<T>>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let stdin = self.stdin.as_mut().ok_or("child stdin closed")?;
        writeln!(stdin, "{question}")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let numbers = line
            .trim()
            .strip_prefix(answer)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("unexpected answer to {question}: {line:?}"))?
            .split_whitespace()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()?;
        Ok(numbers)
    }

    /// The relay's `stats()`.
    pub(crate) fn stats(&mut self) -> Result<RelayStats> {
        let numbers = self.ask::<usize>("stats", "STATS")?;
        let [connections, available_peers, queued_seekers, active_chats] = numbers[..] else {
            return Err(format!("unexpected answer to stats: {numbers:?}").into());
        };
        Ok(RelayStats {
            connections,
            available_peers,
            queued_seekers,
            active_chats,
            ..RelayStats::default()
        })
    }

    /// A cluster node's `(nodes lost, nodes returned)` counters: how often it let another
    /// node go at the TTL, and how many of those came back (false alarms).
    pub(crate) fn cluster_alarms(&mut self) -> Result<(u64, u64)> {
        let numbers = self.ask::<u64>("cluster", "CLUSTER")?;
        let [lost, returned] = numbers[..] else {
            return Err(format!("unexpected answer to cluster: {numbers:?}").into());
        };
        Ok((lost, returned))
    }

    /// Installs `list` for `program` in the relay and times, inside the relay process, the
    /// installation and then a `stats` round trip through the hub (which waits for the
    /// hub's re-check of every peer): `(installed, installed + round trip)`.
    pub(crate) fn revoke(&mut self, program: &str, list: &[u8]) -> Result<(Duration, Duration)> {
        let question = format!("revoke {program} {}", crate::fixtures::hex(list));
        let micros = self.ask::<u64>(&question, "REVOKED")?;
        let [installed, total] = micros[..] else {
            return Err(format!("unexpected answer to revoke: {micros:?}").into());
        };
        Ok((
            Duration::from_micros(installed),
            Duration::from_micros(total),
        ))
    }

    /// A `stats` round trip through the relay's hub, timed inside the relay process.
    pub(crate) fn ping(&mut self) -> Result<Duration> {
        let micros = self.ask::<u64>("ping", "PING")?;
        let [took] = micros[..] else {
            return Err(format!("unexpected answer to ping: {micros:?}").into());
        };
        Ok(Duration::from_micros(took))
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
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
