//! `latency`: one-way time through the server at a fixed offered load — 50 % of the relay's
//! maximum measured just before in the same run — applied identically to relay and baseline.
//! Every chat sends in both directions at a steady rate (open loop, no credits); each frame
//! carries its send time (taken just before the write) in the bytes after the header, and
//! the receiver records now − sent in an HdrHistogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Args;
use confidant_proto::DataFrame;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::fixtures::Program;
use crate::net::Ws;
use crate::protocol::{Target, record_of_bucket};
use crate::report::{self, Table};
use crate::scenarios::throughput::{self, humantime_secs};
use crate::scenarios::{ChatPair, alternation, establish_pairs};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `latency`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Concurrent chats.
    #[arg(long, default_value_t = 100)]
    pub(crate) chats: usize,
    /// Offered load as a fraction of the relay's measured maximum.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) load: f64,
    /// Fixed total rate in frames/s instead of measuring the maximum first.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Load before recording starts.
    #[arg(long, value_parser = humantime_secs, default_value = "1")]
    pub(crate) warmup: Duration,
    /// Recorded interval.
    #[arg(long, value_parser = humantime_secs, default_value = "5")]
    pub(crate) measure: Duration,
}

/// Record size used for latency: the smallest bucket (typing, receipts, short texts).
const BUCKET: usize = 256;

/// One latency run.
pub(crate) struct Run {
    pub(crate) kind: Kind,
    pub(crate) histogram: Histogram<u64>,
    pub(crate) sent_rate: f64,
    pub(crate) failures: u64,
}

/// Runs the table.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let rate = match opts.rate {
        Some(rate) => rate,
        None => {
            let max_opts = throughput::Opts {
                common: opts.common.clone(),
                chats: vec![opts.chats],
                buckets: vec![BUCKET],
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(3),
            };
            let mut relay_max = Vec::new();
            for _ in 0..opts.common.repeat.clamp(1, 2) {
                let m = throughput::measure(Kind::Relay, opts.chats, BUCKET, &max_opts).await?;
                relay_max.push(m.frames_per_second);
            }
            let max = report::median(&relay_max);
            eprintln!(
                "  latency: relay maximum {max:.0} frames/s; offering {:.0}",
                max * opts.load
            );
            max * opts.load
        }
    };
    let mut runs = Vec::new();
    for kind in alternation(&opts.common) {
        let run = measure(kind, rate, opts).await?;
        eprintln!(
            "  latency {}: p50 {} µs, p99 {} µs",
            kind.name(),
            run.histogram.value_at_quantile(0.5),
            run.histogram.value_at_quantile(0.99)
        );
        runs.push(run);
    }
    let mut table = Table::new(
        &format!(
            "latency (one-way, {} chats, {BUCKET} B records, {:.0} frames/s offered = {:.0} % of relay max; µs, medians of runs)",
            opts.chats,
            rate,
            opts.load * 100.0
        ),
        &[
            "server",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "frames/s sent",
            "samples",
        ],
    );
    let mut p99 = [0.0_f64; 2];
    for (i, kind) in [Kind::Relay, Kind::Baseline].into_iter().enumerate() {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.kind == kind).collect();
        let q = |quantile: f64| -> f64 {
            let values: Vec<f64> = mine
                .iter()
                .map(|r| r.histogram.value_at_quantile(quantile) as f64)
                .collect();
            report::median(&values)
        };
        let max: Vec<f64> = mine.iter().map(|r| r.histogram.max() as f64).collect();
        let sent: Vec<f64> = mine.iter().map(|r| r.sent_rate).collect();
        let samples: u64 = mine.iter().map(|r| r.histogram.len()).sum();
        if let Some(slot) = p99.get_mut(i) {
            *slot = q(0.99);
        }
        table.row(vec![
            kind.name().into(),
            report::int(q(0.5)),
            report::int(q(0.99)),
            report::int(q(0.999)),
            report::int(report::median(&max)),
            report::int(report::median(&sent)),
            report::int(samples as f64),
        ]);
    }
    table.row(vec![
        "relay / baseline p99".into(),
        String::new(),
        report::ratio(p99[0], p99[1]),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    table.print();
    table.write_csv(&opts.common.out, "latency")?;
    let failures: u64 = runs.iter().map(|r| r.failures).sum();
    if failures > 0 {
        return Err(format!("latency: {failures} chats failed").into());
    }
    Ok(())
}

async fn measure(kind: Kind, total_rate: f64, opts: &Opts) -> Result<Run> {
    let mut program = Program::new("bench-program")?;
    let server = ServerProcess::start(kind, &[&program])?;
    let target = Arc::new(Target::new(
        server.addr,
        kind,
        &mut program,
        opts.common.sources,
    )?);
    let pairs = establish_pairs(&target, &mut program, opts.chats).await?;
    let run = drive(kind, pairs, total_rate, opts.warmup, opts.measure).await?;
    drop(server);
    Ok(run)
}

/// Offers `total_rate` frames/s (open loop, both directions, spread over the chats) to
/// `pairs`; records one-way times after `warmup` for `measure`.
pub(crate) async fn drive(
    kind: Kind,
    pairs: Vec<ChatPair>,
    total_rate: f64,
    warmup: Duration,
    measure: Duration,
) -> Result<Run> {
    let chats = pairs.len().max(1);
    let per_direction = total_rate / (2.0 * chats as f64);
    let period = Duration::from_secs_f64(1.0 / per_direction.max(0.1));
    let epoch = Instant::now();
    let record_from = epoch + warmup;
    let stop = CancellationToken::new();
    let mut senders: JoinSet<Result<u64>> = JoinSet::new();
    let mut receivers: JoinSet<Result<Histogram<u64>>> = JoinSet::new();
    let record = record_of_bucket(BUCKET);
    for (index, mut pair) in pairs.into_iter().enumerate() {
        let to_peer = pair
            .seeker_session
            .seal(&record)
            .map_err(|e| format!("{e:?}"))?;
        let to_seeker = pair
            .peer_session
            .seal(&record)
            .map_err(|e| format!("{e:?}"))?;
        let (seeker_tx, seeker_rx) = pair.seeker.split();
        let (peer_tx, peer_rx) = pair.peer.split();
        // Stagger the chats' phases over one period so sends are spread, not in lockstep.
        let offset = period.mul_f64(index as f64 / chats as f64);
        let seeker_frame = Bytes::from(DataFrame::encode(pair.seeker_chat, &to_peer)?);
        let peer_frame = Bytes::from(DataFrame::encode(pair.peer_chat, &to_seeker)?);
        senders.spawn(sender(
            seeker_tx,
            seeker_frame,
            epoch,
            offset,
            period,
            stop.clone(),
        ));
        senders.spawn(sender(
            peer_tx,
            peer_frame,
            epoch,
            offset,
            period,
            stop.clone(),
        ));
        receivers.spawn(receiver(peer_rx, epoch, record_from, stop.clone()));
        receivers.spawn(receiver(seeker_rx, epoch, record_from, stop.clone()));
    }
    tokio::time::sleep(warmup).await;
    let sent_at_start = Instant::now();
    tokio::time::sleep(measure).await;
    let elapsed = sent_at_start.elapsed();
    stop.cancel();
    let mut failures = 0;
    let mut sent = 0;
    while let Some(joined) = senders.join_next().await {
        match joined {
            Ok(Ok(n)) => sent += n,
            _ => failures += 1,
        }
    }
    let mut histogram = new_histogram()?;
    while let Some(joined) = receivers.join_next().await {
        match joined {
            Ok(Ok(h)) => histogram.add(h)?,
            Ok(Err(error)) => {
                if failures < 3 {
                    eprintln!("  latency {}: a chat failed: {error}", kind.name());
                }
                failures += 1;
            }
            Err(_) => failures += 1,
        }
    }
    // `sent` covers warm-up too; report the rate over the whole sending time.
    let sent_rate = sent as f64 / (warmup + elapsed).as_secs_f64();
    Ok(Run {
        kind,
        histogram,
        sent_rate,
        failures,
    })
}

fn new_histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

async fn sender(
    mut sink: SplitSink<Ws, Message>,
    template: Bytes,
    epoch: Instant,
    offset: Duration,
    period: Duration,
    stop: CancellationToken,
) -> Result<u64> {
    let mut next = tokio::time::Instant::from_std(epoch + offset);
    let mut sent = 0_u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(sent),
            () = tokio::time::sleep_until(next) => {}
        }
        next += period;
        // Never try to catch up in a burst: a late tick just moves on.
        let now = tokio::time::Instant::now();
        if next < now {
            next = now + period;
        }
        let mut frame = BytesMut::from(template.as_ref());
        let stamp = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(slot) = frame.get_mut(4..12) {
            slot.copy_from_slice(&stamp.to_be_bytes());
        }
        sink.send(Message::Binary(frame.freeze())).await?;
        sent += 1;
    }
}

async fn receiver(
    mut stream: SplitStream<Ws>,
    epoch: Instant,
    record_from: Instant,
    stop: CancellationToken,
) -> Result<Histogram<u64>> {
    let mut histogram = new_histogram()?;
    loop {
        let next = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(histogram),
            next = stream.next() => next,
        };
        // A partner torn down after the stop (its `chat_ended`, its reset) is not a failure.
        if stop.is_cancelled() {
            return Ok(histogram);
        }
        match next {
            Some(Ok(Message::Binary(frame))) => {
                let now = Instant::now();
                if now < record_from {
                    continue;
                }
                let stamp = frame
                    .get(4..12)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or("short frame")?;
                let sent = epoch + Duration::from_nanos(stamp);
                let micros = now.saturating_duration_since(sent).as_micros();
                histogram.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            }
            Some(Ok(Message::Text(_))) => return Err("control frame during the latency run".into()),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => return Err("closed during the latency run".into()),
        }
    }
}
