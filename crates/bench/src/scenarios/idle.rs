//! `idle`: the server's resident memory per idle connection. In steps, the load generator
//! opens connections and leaves them idle — three quarters in chats (seeker and peer
//! logged in, matched, Noise handshake done), one quarter seekers waiting in a queue — and
//! reads the server process's `VmRSS` after each step. The baseline holds the same number
//! of connections: three quarters paired (handshake passed through), one quarter unpaired.
//!
//! The queue: a second program whose only peer (capacity 1) is busy with one chat, so its
//! seekers wait (`queued`) instead of getting `no_peer`.
//!
//! **Several processes** (`--servers N`, N ≥ 2): one process can hold at most its file limit
//! of sockets (20,000 here, and it cannot be raised), so for `--total` connections on one
//! machine the scenario also starts N *units*, each a child process of this program
//! (hidden `idle-unit`) that starts its own relay child and holds `total / N` connections
//! against it, the same mix, from its own `127.0.0.x` source addresses. Each side of each
//! unit stays under the file limit. The table gives every relay's RSS, their sum (what one
//! machine spends on `total` connections), the cost per connection, and whether the sum
//! fits in 1 GiB. The single-process steps run first, as before.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::fixtures::Program;
use crate::net::{self, Ws};
use crate::protocol::{self, Target};
use crate::report::{self, Table};
use crate::scenarios::establish_pairs;
use crate::server::{Kind, ServerProcess, self_command};
use crate::{Common, Result};

/// Options for `idle`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Total idle connections at each step (ascending, comma-separated). This machine's
    /// hard file limit is 20,000 per process, which caps the last step just below it.
    #[arg(long, value_delimiter = ',', default_values_t = [2_500_usize, 5_000, 10_000, 19_500])]
    pub(crate) steps: Vec<usize>,
    /// Also measure the baseline forwarder.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) baseline: bool,
    /// Run the single-process steps (`--steps`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) single: bool,
    /// Relay processes for the several-process stage (1: no such stage).
    #[arg(long, default_value_t = 1)]
    pub(crate) servers: usize,
    /// Connections held in total by the several-process stage.
    #[arg(long, default_value_t = 50_000)]
    pub(crate) total: usize,
}

/// Arguments of the hidden `idle-unit` subcommand: one relay child and `connections` idle
/// connections to it (¾ in chats, ¼ queued).
#[derive(Debug, Clone, Args)]
pub struct UnitArgs {
    /// Connections to hold.
    #[arg(long)]
    connections: usize,
    /// First source address: `127.0.0.<first>`.
    #[arg(long)]
    source_first: u8,
    /// How many source addresses from the first.
    #[arg(long, default_value_t = 8)]
    sources: u8,
}

/// One step's reading.
#[derive(Clone, Copy, Debug)]
struct Point {
    connections: usize,
    rss: u64,
}

/// Runs the table(s).
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    if opts.single {
        single(opts).await?;
    }
    if opts.servers > 1 {
        spread(opts).await?;
    }
    Ok(())
}

/// The single-process steps, relay and baseline.
async fn single(opts: &Opts) -> Result<()> {
    if let Some(limit) = net::file_limit() {
        let largest = opts.steps.iter().copied().max().unwrap_or(0) as u64;
        if largest + 200 > limit {
            return Err(format!(
                "idle: {largest} connections need more than the file limit of {limit} allows"
            )
            .into());
        }
    }
    let (relay_zero, relay) = measure(Kind::Relay, opts).await?;
    let (base_zero, base) = if opts.baseline {
        measure(Kind::Baseline, opts).await?
    } else {
        (0, Vec::new())
    };
    let mut table = Table::new(
        "idle (server RSS per idle connection; ¾ in chats, ¼ queued / unpaired)",
        &[
            "connections",
            "relay RSS MiB",
            "relay KiB/conn",
            "baseline RSS MiB",
            "baseline KiB/conn",
            "relay / baseline (per conn)",
        ],
    );
    let mut rows = Vec::new();
    let per_conn = |zero: u64, p: &Point| -> f64 {
        (p.rss as f64 - zero as f64) / p.connections.max(1) as f64 / 1024.0
    };
    for (i, point) in relay.iter().enumerate() {
        let b = base.get(i);
        let relay_kib = per_conn(relay_zero, point);
        let base_kib = b.map(|b| per_conn(base_zero, b)).unwrap_or(0.0);
        table.row(vec![
            report::int(point.connections as f64),
            report::mib(point.rss as f64),
            format!("{relay_kib:.1}"),
            b.map(|b| report::mib(b.rss as f64)).unwrap_or_default(),
            format!("{base_kib:.1}"),
            report::ratio(relay_kib, base_kib),
        ]);
        rows.push(vec![
            point.connections.to_string(),
            point.rss.to_string(),
            b.map(|b| b.rss.to_string()).unwrap_or_default(),
            relay_zero.to_string(),
            base_zero.to_string(),
        ]);
    }
    // What 50,000 connections would take at the largest step's cost per connection.
    if let Some(last) = relay.last() {
        let kib = per_conn(relay_zero, last);
        let projected = relay_zero as f64 + kib * 1024.0 * 50_000.0;
        table.row(vec![
            "50,000 (projected)".into(),
            report::mib(projected),
            format!("{kib:.1}"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    table.print();
    table.write_csv(&opts.common.out, "idle")?;
    report::write_csv(
        &opts.common.out,
        "idle_rss",
        &[
            "connections".into(),
            "relay_rss_bytes".into(),
            "baseline_rss_bytes".into(),
            "relay_rss_zero".into(),
            "baseline_rss_zero".into(),
        ],
        &rows,
    )?;
    Ok(())
}

/// RSS with no connection, then at each step.
async fn measure(kind: Kind, opts: &Opts) -> Result<(u64, Vec<Point>)> {
    let mut holding = Holding::start(kind, net::Sources::new(opts.common.sources)).await?;
    let mut points = Vec::new();
    for &step in &opts.steps {
        holding.grow_to(step).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = holding.server.rss()?;
        eprintln!(
            "  idle {}: {} connections, RSS {} MiB",
            kind.name(),
            holding.open,
            report::mib(rss as f64)
        );
        points.push(Point {
            connections: holding.open,
            rss,
        });
    }
    let zero = holding.zero;
    holding.stop();
    Ok((zero, points))
}

/// One server and the idle connections held open against it.
struct Holding {
    kind: Kind,
    server: ServerProcess,
    chat_program: Program,
    chats: Arc<Target>,
    queue: Arc<Target>,
    stop: CancellationToken,
    holders: JoinSet<()>,
    /// Connections open.
    open: usize,
    /// Of which queued seekers (unpaired for the baseline).
    queued: usize,
    /// The server's RSS before any connection.
    zero: u64,
}

impl Holding {
    /// Starts the server, reads its RSS with no connection, and (relay) makes the queue
    /// program's one peer busy.
    async fn start(kind: Kind, sources: net::Sources) -> Result<Self> {
        let mut chat_program = Program::new("bench-program")?;
        let mut queue_program = Program::new("bench-queue")?;
        let server = ServerProcess::start(kind, &[&chat_program, &queue_program])?;
        let mut chats = Target::new(server.addr, kind, &mut chat_program, 1)?;
        chats.sources = sources;
        let mut queue = Target::new(server.addr, kind, &mut queue_program, 1)?;
        queue.sources = chats.sources.same();
        let (chats, queue) = (Arc::new(chats), Arc::new(queue));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let zero = server.rss()?;
        let mut holding = Self {
            kind,
            server,
            chat_program,
            chats,
            queue,
            stop: CancellationToken::new(),
            holders: JoinSet::new(),
            open: 0,
            queued: 0,
            zero,
        };
        if kind == Kind::Relay {
            // The queue program's one busy peer.
            let queue = holding.queue.clone();
            for pair in establish_pairs(&queue, &mut queue_program, 1).await? {
                hold(&mut holding.holders, pair.seeker, &holding.stop);
                hold(&mut holding.holders, pair.peer, &holding.stop);
                holding.open += 2;
            }
        }
        Ok(holding)
    }

    /// Opens connections until `step` are open: ¾ in chats, ¼ queued.
    ///
    /// Queued seekers first: the relay's matcher looks at every peer for every queued
    /// seeker on each queue event (`Matcher::dispatch` in crates/matcher/src), so
    /// joining the queue while thousands of peers are logged in costs far more than the
    /// state it creates; the order does not change the state measured after the step.
    async fn grow_to(&mut self, step: usize) -> Result<()> {
        let want_queued = step / 4;
        let add_queued = want_queued.saturating_sub(self.queued);
        let gate = Arc::new(Semaphore::new(64));
        let mut joining: JoinSet<Result<Ws>> = JoinSet::new();
        for i in 0..add_queued {
            let (queue, gate) = (self.queue.clone(), gate.clone());
            // Unpaired baseline connections each get a key no one else uses.
            let key = 1_000_000_000 + (self.queued + i) as u64;
            let kind = self.kind;
            joining.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                match kind {
                    Kind::Relay => protocol::seeker_queued(&queue).await,
                    Kind::Baseline => queue.connect(key).await,
                }
            });
        }
        while let Some(joined) = joining.join_next().await {
            hold(&mut self.holders, joined??, &self.stop);
            self.open += 1;
            self.queued += 1;
        }
        let want_chat_conns = step.saturating_sub(want_queued);
        let chat_conns = self.open.saturating_sub(self.queued);
        let new_pairs = want_chat_conns.saturating_sub(chat_conns) / 2;
        for pair in establish_pairs(&self.chats, &mut self.chat_program, new_pairs).await? {
            hold(&mut self.holders, pair.seeker, &self.stop);
            hold(&mut self.holders, pair.peer, &self.stop);
            self.open += 2;
        }
        Ok(())
    }

    fn stop(mut self) {
        self.stop.cancel();
        self.holders.abort_all();
    }
}

/// `idle-unit`: holds `connections` against its own relay child; prints `ZERO <relay pid>
/// <relay RSS>` once the relay runs, `HELD <connections> <relay RSS>` once they are all
/// open, and exits (with its relay) when stdin closes.
pub(crate) async fn unit(args: &UnitArgs) -> Result<()> {
    let sources = net::Sources::starting_at(args.source_first, args.sources);
    let mut holding = Holding::start(Kind::Relay, sources).await?;
    println!("ZERO {} {}", holding.server.pid(), holding.zero);
    holding.grow_to(args.connections).await?;
    println!("HELD {} {}", holding.open, holding.server.rss()?);
    // Stay until the parent closes stdin (bounded by the parent, which waits at most
    // `SPREAD_DEADLINE` and then kills its units).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    holding.stop();
    Ok(())
}

/// Longest the several-process stage may take to open its connections.
const SPREAD_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// One unit as the parent sees it.
struct Unit {
    child: std::process::Child,
    relay_pid: u32,
    relay_zero: u64,
    held: usize,
}

impl Drop for Unit {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the unit's stdout until `HELD`; returns (relay pid, relay zero RSS, held).
fn read_unit(stdout: std::process::ChildStdout) -> Result<(u32, u64, usize)> {
    let mut zero = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["ZERO", pid, rss] => zero = Some((pid.parse()?, rss.parse()?)),
            ["HELD", held, _] => {
                let (pid, rss) = zero.ok_or("HELD before ZERO")?;
                return Ok((pid, rss, held.parse()?));
            }
            _ => {}
        }
    }
    Err("unit ended before holding its connections".into())
}

/// The several-process stage: `servers` units holding `total` connections together.
async fn spread(opts: &Opts) -> Result<()> {
    let per_unit = opts.total.div_ceil(opts.servers);
    if let Some(limit) = net::file_limit()
        && per_unit as u64 + 200 > limit
    {
        return Err(format!(
            "idle: {per_unit} connections per process need more than the file limit of {limit}; use more --servers"
        )
        .into());
    }
    let sources = opts.common.sources.max(1);
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..opts.servers {
        let first = 1 + i * usize::from(sources);
        let first = u8::try_from(first)
            .ok()
            .filter(|f| usize::from(*f) + usize::from(sources) <= 255)
            .ok_or("idle: too many servers × sources for 127.0.0.1–254")?;
        let mut child = self_command([
            "idle-unit".to_owned(),
            "--connections".to_owned(),
            // Pairs round the chat share down by at most one connection.
            (per_unit + 1).to_string(),
            "--source-first".to_owned(),
            first.to_string(),
            "--sources".to_owned(),
            sources.to_string(),
        ])?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()?;
        let stdout = child.stdout.take().ok_or("no unit stdout")?;
        children.push((
            child,
            tokio::task::spawn_blocking(move || read_unit(stdout)),
        ));
    }
    // Every unit is killed on any failure (Unit's and Child's drops), so no reader lingers.
    let mut units = Vec::new();
    let mut readers = Vec::new();
    for (child, reader) in children {
        units.push(Unit {
            child,
            relay_pid: 0,
            relay_zero: 0,
            held: 0,
        });
        readers.push(reader);
    }
    for (unit, reader) in units.iter_mut().zip(readers) {
        let left = SPREAD_DEADLINE.saturating_sub(started.elapsed());
        let (pid, zero, held) = tokio::time::timeout(left, reader)
            .await
            .map_err(|_| "idle: a unit did not open its connections in time")???;
        unit.relay_pid = pid;
        unit.relay_zero = zero;
        unit.held = held;
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut table = Table::new(
        &format!(
            "idle, several processes ({} relay processes, {} connections held on one machine; ¾ in chats, ¼ queued)",
            opts.servers,
            report::int(opts.total as f64)
        ),
        &[
            "relay process",
            "connections",
            "RSS MiB",
            "KiB/conn",
            "generator RSS MiB",
        ],
    );
    let (mut connections, mut rss_sum, mut zero_sum, mut generators) = (0, 0, 0, 0);
    let mut rows = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        let rss = net::rss_bytes(unit.relay_pid)?;
        let generator = net::rss_bytes(unit.child.id())?;
        connections += unit.held;
        rss_sum += rss;
        zero_sum += unit.relay_zero;
        generators += generator;
        let per = (rss as f64 - unit.relay_zero as f64) / unit.held.max(1) as f64 / 1024.0;
        table.row(vec![
            (i + 1).to_string(),
            report::int(unit.held as f64),
            report::mib(rss as f64),
            format!("{per:.1}"),
            report::mib(generator as f64),
        ]);
        rows.push(vec![
            (i + 1).to_string(),
            unit.held.to_string(),
            rss.to_string(),
            unit.relay_zero.to_string(),
            generator.to_string(),
        ]);
    }
    let per = (rss_sum as f64 - zero_sum as f64) / connections.max(1) as f64 / 1024.0;
    let gib = 1024.0 * 1024.0 * 1024.0;
    table.row(vec![
        format!("sum of {}", opts.servers),
        report::int(connections as f64),
        report::mib(rss_sum as f64),
        format!("{per:.1}"),
        report::mib(generators as f64),
    ]);
    table.row(vec![
        "fits in 1 GiB".into(),
        String::new(),
        format!(
            "{} ({:.0} % of 1 GiB)",
            if (rss_sum as f64) <= gib { "yes" } else { "no" },
            rss_sum as f64 / gib * 100.0
        ),
        String::new(),
        String::new(),
    ]);
    drop(units);
    table.print();
    eprintln!(
        "  idle: {connections} connections opened in {:.0} s",
        opened_in.as_secs_f64()
    );
    table.write_csv(&opts.common.out, "idle_spread")?;
    report::write_csv(
        &opts.common.out,
        "idle_spread_rss",
        &[
            "process".into(),
            "connections".into(),
            "relay_rss_bytes".into(),
            "relay_rss_zero".into(),
            "generator_rss_bytes".into(),
        ],
        &rows,
    )?;
    if connections < opts.total {
        return Err(format!(
            "idle: only {connections} of {} connections held",
            opts.total
        )
        .into());
    }
    Ok(())
}

/// Keeps a connection open and read (pings answered, `queued` updates drained) until `stop`.
fn hold(holders: &mut JoinSet<()>, mut ws: Ws, stop: &CancellationToken) {
    let stop = stop.clone();
    holders.spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                next = ws.next() => if !matches!(next, Some(Ok(_))) { return },
            }
        }
    });
}
