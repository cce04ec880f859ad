//! `cluster`: what crossing nodes costs. One real `nats-server` (core NATS on loopback: no
//! JetStream, no store, monitoring off) and two relay nodes joined through it, each a child
//! process (`serve-relay --cluster-nats-url`). Two topologies in the same run, on the same
//! three processes:
//!
//! - **same node**: peers and seekers both on node A (the chat never touches the broker);
//! - **cross node**: peers on node B, seekers on node A, so every chat crosses: matching
//!   goes through B's capacity grant and every data frame through the broker.
//!
//! Before seeking, the scenario waits until node A counts every peer as available (for the
//! cross-node run: B's presence heartbeat has reached A). Measured per topology: match time
//! (seek sent → `matched` received), throughput (frames/s forwarded, both directions, same
//! window of credits as `throughput`) with the CPU time of both nodes and the broker per
//! frame, and one-way latency at one fixed offered load for both (default: a fraction of
//! the lower of the two maxima just measured). The table gives cross-node / same-node.
//!
//! Without `nats-server` (on `PATH`, `/usr/sbin` or `/usr/bin`) the scenario says so and
//! is skipped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::fixtures::Program;
use crate::net;
use crate::protocol::Target;
use crate::report::{self, Table};
use crate::scenarios::throughput::humantime_secs;
use crate::scenarios::{latency, login_peers, pair_seekers, throughput};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `cluster`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Concurrent chats (each: one seeker, one peer of capacity 1).
    #[arg(long, default_value_t = 100)]
    pub(crate) chats: usize,
    /// Record bucket for throughput and latency (frames are bucket + 20 bytes).
    #[arg(long, default_value_t = 256)]
    pub(crate) bucket: usize,
    /// Load before the throughput measurement.
    #[arg(long, value_parser = humantime_secs, default_value = "1")]
    pub(crate) warmup: Duration,
    /// Measured interval (throughput and latency each).
    #[arg(long, value_parser = humantime_secs, default_value = "4")]
    pub(crate) measure: Duration,
    /// Offered latency load as a fraction of the lower of the two measured maxima.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) load: f64,
    /// Fixed total latency load in frames/s instead (both topologies get the same).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// The nodes' presence heartbeat, ms (the relay's default is 1,000).
    #[arg(long, default_value_t = 1000)]
    pub(crate) heartbeat_ms: u64,
}

/// Where chats' peers sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topology {
    SameNode,
    CrossNode,
}

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Self::SameNode => "same node",
            Self::CrossNode => "cross node",
        }
    }
}

/// A `nats-server` child on a free loopback port; killed on drop.
struct Broker {
    child: Child,
    port: u16,
}

/// The broker binary, if installed.
fn nats_server_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

impl Broker {
    async fn start(binary: &PathBuf) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Core NATS only: no `-js` (JetStream), no store directory, monitoring off.
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let broker = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("nats-server did not listen within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(broker)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn cpu(&self) -> Result<Duration> {
        net::cpu_time(self.child.id())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The three processes of a run.
struct Cluster {
    broker: Broker,
    a: ServerProcess,
    b: ServerProcess,
}

impl Cluster {
    /// CPU time of both nodes and the broker.
    fn cpu(&self) -> Result<Duration> {
        Ok(self.a.cpu()? + self.b.cpu()? + self.broker.cpu()?)
    }

    /// How often each node let the other go at the TTL so far, and how many of those were
    /// false alarms (the other node was heard again): `None` when all is quiet. A let-go
    /// ends every chat between the two nodes, so it explains chats that end or never start.
    fn alarms(&mut self) -> Option<String> {
        let a = self.a.cluster_alarms();
        let b = self.b.cluster_alarms();
        match (a, b) {
            (Ok((0, 0)), Ok((0, 0))) => None,
            (Ok((a_lost, a_back)), Ok((b_lost, b_back))) => Some(format!(
                "node A let B go {a_lost} time(s) ({a_back} false alarm(s): B was heard again); \
                 node B let A go {b_lost} time(s) ({b_back} false alarm(s))"
            )),
            (a, b) => Some(format!("cluster counters unreadable: A {a:?}, B {b:?}")),
        }
    }
}

/// Polls node A's stats until `check` holds (bounded).
async fn wait_on_a(
    a: &mut ServerProcess,
    what: &str,
    within: Duration,
    check: impl Fn(&confidant_relay::RelayStats) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let stats = a.stats()?;
        if check(&stats) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("cluster: node A never reached {what}: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a broker and two nodes, then `n` chats with peers on A (same node) or B (cross
/// node) and seekers on A. Returns the processes, the chats and the match times.
///
/// Every run gets fresh processes: in an earlier version that reused one cluster for all
/// runs, a cross-node run after other runs on the same nodes sometimes saw a seeker matched
/// and then told `partner_left` before the handshake (see the report); a fresh cluster per
/// run measures each topology from the same clean start.
async fn chats(
    binary: &PathBuf,
    program: &mut Program,
    topology: Topology,
    opts: &Opts,
) -> Result<(Cluster, Vec<super::ChatPair>, Vec<Duration>)> {
    let n = opts.chats;
    let broker = Broker::start(binary).await?;
    let heartbeat = Duration::from_millis(opts.heartbeat_ms.max(10));
    let url = broker.url();
    let a = ServerProcess::start_node(Kind::Relay, &[&*program], Some((&url, heartbeat)))?;
    let b = ServerProcess::start_node(Kind::Relay, &[&*program], Some((&url, heartbeat)))?;
    let mut cluster = Cluster { broker, a, b };
    let peer_node = match topology {
        Topology::SameNode => cluster.a.addr,
        Topology::CrossNode => cluster.b.addr,
    };
    let sources = opts.common.sources;
    let peers_at = Arc::new(Target::new(peer_node, Kind::Relay, program, sources)?);
    let seekers_at = Arc::new(Target::new(cluster.a.addr, Kind::Relay, program, sources)?);
    let peers = login_peers(&peers_at, program, n).await?;
    let started = Instant::now();
    wait_on_a(
        &mut cluster.a,
        "every peer available",
        Duration::from_secs(30),
        |s| s.available_peers >= n,
    )
    .await?;
    if topology == Topology::CrossNode {
        eprintln!(
            "  cluster: node A saw B's {n} peers {:.0} ms after they were available",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    let before = super::ENDED_BEFORE_HANDSHAKE.load(std::sync::atomic::Ordering::Relaxed);
    let seekers_before =
        super::SEEKER_ENDED_BEFORE_HANDSHAKE.load(std::sync::atomic::Ordering::Relaxed);
    let (pairs, times) = match pair_seekers(&seekers_at, peers).await {
        Ok(paired) => paired,
        Err(error) => {
            let a = cluster
                .a
                .stats()
                .map(|s| format!("{s:?}"))
                .unwrap_or_default();
            let b = cluster
                .b
                .stats()
                .map(|s| format!("{s:?}"))
                .unwrap_or_default();
            let alarms = cluster.alarms().unwrap_or_else(|| "no node let go".into());
            return Err(format!(
                "{} chats: {error} (node A {a}; node B {b}; {alarms})",
                topology.name()
            )
            .into());
        }
    };
    let spurious =
        super::ENDED_BEFORE_HANDSHAKE.load(std::sync::atomic::Ordering::Relaxed) - before;
    let seekers_again = super::SEEKER_ENDED_BEFORE_HANDSHAKE
        .load(std::sync::atomic::Ordering::Relaxed)
        - seekers_before;
    if seekers_again > 0 {
        eprintln!(
            "  cluster {}: {seekers_again} seeker(s) matched and then told the chat ended before the handshake; they sought again",
            topology.name()
        );
    }
    if spurious > 0 {
        eprintln!(
            "  cluster {}: {spurious} chat(s) started at a peer and ended (partner_left) before the seeker's first message",
            topology.name()
        );
    }
    if let Some(alarms) = cluster.alarms() {
        eprintln!("  cluster {} while matching: {alarms}", topology.name());
    }
    Ok((cluster, pairs, times))
}

/// Says whether a node let the other go during a measurement (its chats then end, and
/// count as failures).
fn report_alarms(cluster: &mut Cluster, topology: Topology) {
    if let Some(alarms) = cluster.alarms() {
        eprintln!("  cluster {}: {alarms}", topology.name());
    }
}

/// One topology's figures.
struct Figures {
    topology: Topology,
    match_p50_ms: f64,
    match_p99_ms: f64,
    frames_per_second: f64,
    cpu_us_per_frame: f64,
    broker_us_per_frame: f64,
    latency: Option<latency::Run>,
    failures: u64,
}

fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return 0.0;
    }
    let index = ((ms.len() - 1) as f64 * q).round() as usize;
    ms.get(index).copied().unwrap_or(0.0)
}

/// Runs the table; skipped (with a message, successfully) without `nats-server`.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let Some(binary) = nats_server_binary() else {
        println!(
            "\ncluster: SKIPPED: nats-server not found on PATH (apt-get install -y nats-server; scripts/install-test-deps)\n"
        );
        return Ok(());
    };
    let mut program = Program::new("bench-program")?;
    let topologies = [Topology::SameNode, Topology::CrossNode];
    let mut figures = Vec::new();
    // Throughput (and match times) first, both topologies ...
    for topology in topologies {
        let (mut cluster, pairs, mut match_times) =
            chats(&binary, &mut program, topology, opts).await?;
        // The broker's share of the CPU read at the start and end of the measurement.
        let readings = std::cell::RefCell::new(Vec::new());
        let measured = throughput::drive(
            Kind::Relay,
            pairs,
            opts.bucket,
            opts.warmup,
            opts.measure,
            || {
                let (total, broker) = (cluster.cpu()?, cluster.broker.cpu()?);
                readings.borrow_mut().push((total, broker));
                Ok(total)
            },
        )
        .await?;
        let readings = readings.into_inner();
        let broker_share = match (readings.first(), readings.last()) {
            (Some(start), Some(end)) if end.0 > start.0 => {
                end.1.saturating_sub(start.1).as_secs_f64()
                    / end.0.saturating_sub(start.0).as_secs_f64()
            }
            _ => 0.0,
        };
        let broker_us_per_frame = measured.cpu_us_per_frame * broker_share;
        eprintln!(
            "  cluster {}: {:.0} frames/s, {:.2} µs CPU/frame (nodes + broker; broker {:.2})",
            topology.name(),
            measured.frames_per_second,
            measured.cpu_us_per_frame,
            broker_us_per_frame
        );
        report_alarms(&mut cluster, topology);
        drop(cluster);
        match_times.sort();
        figures.push((topology, match_times, measured, broker_us_per_frame));
    }
    // ... then latency at one offered load for both.
    let lower_max = figures
        .iter()
        .map(|(_, _, m, _)| m.frames_per_second)
        .fold(f64::INFINITY, f64::min);
    let rate = opts.rate.unwrap_or(lower_max * opts.load);
    let mut results = Vec::new();
    for (topology, mut match_times, measured, broker_us_per_frame) in figures {
        let (mut cluster, pairs, more_match_times) =
            chats(&binary, &mut program, topology, opts).await?;
        match_times.extend(more_match_times);
        let run = if rate.is_finite() && rate > 0.0 {
            let run = latency::drive(Kind::Relay, pairs, rate, opts.warmup, opts.measure).await?;
            eprintln!(
                "  cluster {} latency at {rate:.0} frames/s: p50 {} µs, p99 {} µs",
                topology.name(),
                run.histogram.value_at_quantile(0.5),
                run.histogram.value_at_quantile(0.99)
            );
            Some(run)
        } else {
            None
        };
        report_alarms(&mut cluster, topology);
        drop(cluster);
        results.push(Figures {
            topology,
            match_p50_ms: quantile_ms(&match_times, 0.5),
            match_p99_ms: quantile_ms(&match_times, 0.99),
            frames_per_second: measured.frames_per_second,
            cpu_us_per_frame: measured.cpu_us_per_frame,
            broker_us_per_frame,
            failures: measured.failures + run.as_ref().map_or(0, |r| r.failures),
            latency: run,
        });
    }
    print_table(opts, rate, &results)?;
    let failures: u64 = results.iter().map(|f| f.failures).sum();
    if failures > 0 {
        return Err(format!("cluster: {failures} chats failed").into());
    }
    Ok(())
}

fn print_table(opts: &Opts, rate: f64, results: &[Figures]) -> Result<()> {
    let mut table = Table::new(
        &format!(
            "cluster (two relay nodes + nats-server; {} chats, {} B records; latency at {} frames/s offered to both)",
            opts.chats,
            opts.bucket,
            report::int(rate)
        ),
        &[
            "topology",
            "match p50 ms",
            "match p99 ms",
            "frames/s",
            "CPU µs/frame (nodes + broker)",
            "broker CPU µs/frame",
            "latency p50 µs",
            "latency p99 µs",
            "latency frames/s sent",
            "failures",
        ],
    );
    let lat = |f: &Figures, q: f64| -> f64 {
        f.latency
            .as_ref()
            .map_or(0.0, |r| r.histogram.value_at_quantile(q) as f64)
    };
    for f in results {
        table.row(vec![
            f.topology.name().into(),
            format!("{:.1}", f.match_p50_ms),
            format!("{:.1}", f.match_p99_ms),
            report::int(f.frames_per_second),
            format!("{:.2}", f.cpu_us_per_frame),
            format!("{:.2}", f.broker_us_per_frame),
            report::int(lat(f, 0.5)),
            report::int(lat(f, 0.99)),
            report::int(f.latency.as_ref().map_or(0.0, |r| r.sent_rate)),
            f.failures.to_string(),
        ]);
    }
    if let (Some(same), Some(cross)) = (
        results.iter().find(|f| f.topology == Topology::SameNode),
        results.iter().find(|f| f.topology == Topology::CrossNode),
    ) {
        table.row(vec![
            "cross / same".into(),
            report::ratio(cross.match_p50_ms, same.match_p50_ms),
            report::ratio(cross.match_p99_ms, same.match_p99_ms),
            report::ratio(cross.frames_per_second, same.frames_per_second),
            report::ratio(cross.cpu_us_per_frame, same.cpu_us_per_frame),
            String::new(),
            report::ratio(lat(cross, 0.5), lat(same, 0.5)),
            report::ratio(lat(cross, 0.99), lat(same, 0.99)),
            String::new(),
            String::new(),
        ]);
    }
    table.print();
    table.write_csv(&opts.common.out, "cluster")
}
