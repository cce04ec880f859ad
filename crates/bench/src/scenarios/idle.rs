//! `idle`: the server's resident memory per idle connection. In steps, the load generator
//! opens connections and leaves them idle — three quarters in chats (seeker and peer
//! logged in, matched, Noise handshake done), one quarter seekers waiting in a queue — and
//! reads the server process's `VmRSS` after each step. The baseline holds the same number
//! of connections: three quarters paired (handshake passed through), one quarter unpaired.
//!
//! The queue: a second program whose only peer (capacity 1) is busy with one chat, so its
//! seekers wait (`queued`) instead of getting `no_peer`.

use std::sync::Arc;
use std::time::Duration;

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
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `idle`.
#[derive(Debug, Clone, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Total idle connections at each step (ascending, comma-separated). This machine's
    /// hard file limit is 20,000 per process, which caps the last step just below it.
    #[arg(long, value_delimiter = ',', default_values_t = [2_500_usize, 5_000, 10_000, 19_500])]
    pub(crate) steps: Vec<usize>,
    /// Also measure the baseline forwarder.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) baseline: bool,
}

/// One step's reading.
#[derive(Clone, Copy, Debug)]
struct Point {
    connections: usize,
    rss: u64,
}

/// Runs the table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
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
    let mut chat_program = Program::new("bench-program")?;
    let mut queue_program = Program::new("bench-queue")?;
    let server = ServerProcess::start(kind, &[&chat_program, &queue_program])?;
    let chats = Arc::new(Target::new(
        server.addr,
        kind,
        &mut chat_program,
        opts.common.sources,
    )?);
    let queue = Arc::new(Target::new(
        server.addr,
        kind,
        &mut queue_program,
        opts.common.sources,
    )?);
    let settle = Duration::from_secs(2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let zero = server.rss()?;
    let stop = CancellationToken::new();
    let mut holders: JoinSet<()> = JoinSet::new();
    let mut open = 0_usize;
    let mut queued = 0_usize;
    if kind == Kind::Relay {
        // The queue program's one busy peer.
        for pair in establish_pairs(&queue, &mut queue_program, 1).await? {
            hold(&mut holders, pair.seeker, &stop);
            hold(&mut holders, pair.peer, &stop);
            open += 2;
        }
    }
    let mut points = Vec::new();
    for &step in &opts.steps {
        let want_queued = step / 4;
        let want_chat_conns = step.saturating_sub(want_queued);
        let chat_conns = open.saturating_sub(queued);
        let new_pairs = want_chat_conns.saturating_sub(chat_conns) / 2;
        for pair in establish_pairs(&chats, &mut chat_program, new_pairs).await? {
            hold(&mut holders, pair.seeker, &stop);
            hold(&mut holders, pair.peer, &stop);
            open += 2;
        }
        let add_queued = want_queued.saturating_sub(queued);
        let gate = Arc::new(Semaphore::new(64));
        let mut joining: JoinSet<Result<Ws>> = JoinSet::new();
        for i in 0..add_queued {
            let (queue, gate) = (queue.clone(), gate.clone());
            // Unpaired baseline connections each get a key no one else uses.
            let key = 1_000_000_000 + (queued + i) as u64;
            joining.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                match queue.kind {
                    Kind::Relay => protocol::seeker_queued(&queue).await,
                    Kind::Baseline => queue.connect(key).await,
                }
            });
        }
        while let Some(joined) = joining.join_next().await {
            hold(&mut holders, joined??, &stop);
            open += 1;
            queued += 1;
        }
        tokio::time::sleep(settle).await;
        let rss = server.rss()?;
        eprintln!(
            "  idle {}: {open} connections, RSS {} MiB",
            kind.name(),
            report::mib(rss as f64)
        );
        points.push(Point {
            connections: open,
            rss,
        });
    }
    stop.cancel();
    holders.abort_all();
    drop(server);
    Ok((zero, points))
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
