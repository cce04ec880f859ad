//! `revocation`: what peers' credentials cost the relay's hub — the one task every session's
//! matching passes through. For each peer count: the peers log in (hello, `present`,
//! possession proof, availability; `SETUP_PARALLELISM` at a time), giving **peer logins
//! per second**; then, while they stay online, new revocation lists for their program are
//! installed one after another (each revokes one serial no peer holds, so nobody is taken
//! offline) and the relay process times a `stats` round trip through the hub right behind
//! each: the hub answers it only after re-checking every online peer against the new list.
//! The **baseline** is the same round trip through the same hub with no new list, in the
//! same run; the table gives the pause and its ratio to the baseline.
//!
//! There is no bare-forwarder counterpart (it has no credentials), so this scenario has no
//! relay/baseline alternation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::fixtures::Program;
use crate::protocol::Target;
use crate::report::{self, Table};
use crate::scenarios::login_peers;
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `revocation`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Peers online, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1_000, 5_000])]
    pub(crate) peers: Vec<usize>,
    /// New lists installed per run (the table shows the median pause).
    #[arg(long, default_value_t = 7)]
    pub(crate) updates: usize,
}

/// One peer count's figures.
struct Figures {
    peers: usize,
    logins_per_second: f64,
    idle_round_trip: Duration,
    install: Duration,
    pause: Duration,
}

/// A serial far above any the bench hands out, so a list that revokes it takes nobody off.
const UNUSED_SERIAL: u64 = u64::MAX / 2;

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

async fn one(opts: &Opts, peers: usize) -> Result<Figures> {
    let mut program = Program::new("bench-program")?;
    let mut relay = ServerProcess::start(Kind::Relay, &[&program])?;
    let target = Arc::new(Target::new(
        relay.addr,
        Kind::Relay,
        &mut program,
        opts.common.sources,
    )?);
    let started = Instant::now();
    let online = login_peers(&target, &mut program, peers).await?;
    let logins_per_second = peers as f64 / started.elapsed().as_secs_f64();
    let stats = relay.stats()?;
    if stats.available_peers != peers {
        return Err(format!("revocation: {peers} peers logged in, relay counts {stats:?}").into());
    }
    let mut idle = Vec::new();
    let mut installs = Vec::new();
    let mut pauses = Vec::new();
    for i in 0..opts.updates.max(1) {
        idle.push(relay.ping()?);
        let serial = UNUSED_SERIAL + u64::try_from(i).unwrap_or(0);
        let list = program.next_list(vec![serial])?;
        let (install, total) = relay.revoke(&program.id, &list)?;
        installs.push(install);
        pauses.push(total.saturating_sub(install));
    }
    let stats = relay.stats()?;
    if stats.available_peers != peers {
        return Err(format!("revocation: a list revoking nobody took peers off: {stats:?}").into());
    }
    drop(online);
    Ok(Figures {
        peers,
        logins_per_second,
        idle_round_trip: median(idle),
        install: median(installs),
        pause: median(pauses),
    })
}

/// Runs the table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let mut results = Vec::new();
    for &peers in &opts.peers {
        let figures = one(opts, peers).await?;
        eprintln!(
            "  revocation {peers} peers: {:.0} logins/s; new list: install {} µs, hub pause {} µs (idle round trip {} µs)",
            figures.logins_per_second,
            figures.install.as_micros(),
            figures.pause.as_micros(),
            figures.idle_round_trip.as_micros()
        );
        results.push(figures);
    }
    let mut table = Table::new(
        &format!(
            "revocation (peers log in, then {} new lists while they are online; medians)",
            opts.updates
        ),
        &[
            "peers online",
            "peer logins/s",
            "list install µs",
            "hub pause µs (re-check every peer + round trip)",
            "idle hub round trip µs (baseline)",
            "pause / baseline",
            "pause per peer µs",
        ],
    );
    for f in &results {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        table.row(vec![
            report::int(f.peers as f64),
            report::int(f.logins_per_second),
            report::int(micros(f.install)),
            report::int(micros(f.pause)),
            report::int(micros(f.idle_round_trip)),
            report::ratio(micros(f.pause), micros(f.idle_round_trip)),
            format!("{:.2}", micros(f.pause) / f.peers.max(1) as f64),
        ]);
    }
    table.print();
    table.write_csv(&opts.common.out, "revocation")
}
