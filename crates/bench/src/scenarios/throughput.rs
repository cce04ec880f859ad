//! `throughput`: how many data frames per second the server forwards with every chat
//! sending in both directions at once, each direction with a fixed window of frames in
//! flight (the receiver hands a credit back per frame), so neither server is ever asked to
//! buffer without bound and both see the same offered load.
//!
//! Each chat's first frame per direction is a freshly sealed padded record that the
//! receiver decrypts (the path is real end to end); after that the sender resends that same
//! ciphertext, so the load generator's CPU goes to the network path, not to ChaCha20 — the
//! server cannot tell the difference, it never looks past the 4-byte header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use confidant_proto::{DataFrame, RelayFrame};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::fixtures::Program;
use crate::net::Ws;
use crate::protocol::{Target, record_of_bucket};
use crate::report::{self, Table};
use crate::scenarios::{ChatPair, alternation, establish_pairs};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `throughput`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Concurrent chats (comma-separated list).
    #[arg(long, value_delimiter = ',', default_values_t = [100_usize, 1000])]
    pub(crate) chats: Vec<usize>,
    /// Record bucket sizes in bytes (frames are bucket + 16 tag + 4 header).
    #[arg(long, value_delimiter = ',', default_values_t = [256_usize, 16384])]
    pub(crate) buckets: Vec<usize>,
    /// Load before the measurement starts.
    #[arg(long, value_parser = humantime_secs, default_value = "1")]
    pub(crate) warmup: Duration,
    /// Measured interval.
    #[arg(long, value_parser = humantime_secs, default_value = "4")]
    pub(crate) measure: Duration,
}

/// Seconds (fractions allowed) as a Duration.
pub(crate) fn humantime_secs(text: &str) -> std::result::Result<Duration, String> {
    text.parse::<f64>()
        .map_err(|e| e.to_string())
        .and_then(|s| Duration::try_from_secs_f64(s).map_err(|e| e.to_string()))
}

/// One measured run.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) kind: Kind,
    pub(crate) frames_per_second: f64,
    pub(crate) bytes_per_second: f64,
    /// Server CPU time per forwarded frame, in microseconds.
    pub(crate) cpu_us_per_frame: f64,
    pub(crate) failures: u64,
}

/// Frames in flight per direction per chat: ≈64 KiB, at most 16 frames.
pub(crate) fn window(frame_len: usize) -> usize {
    (64 * 1024 / frame_len.max(1)).clamp(2, 16)
}

/// Runs the table and returns every measured run.
pub(crate) async fn run(opts: &Opts) -> Result<Vec<Measured>> {
    let mut all = Vec::new();
    let mut table = Table::new(
        "throughput (frames/s forwarded, both directions; medians)",
        &[
            "chats",
            "record",
            "frame B",
            "relay frames/s",
            "baseline frames/s",
            "relay / baseline",
            "relay MB/s",
            "relay CPU µs/frame",
            "baseline CPU µs/frame",
            "relay spread",
            "failures",
        ],
    );
    for &chats in &opts.chats {
        for &bucket in &opts.buckets {
            let mut runs = Vec::new();
            for kind in alternation(&opts.common) {
                let measured = measure(kind, chats, bucket, opts).await?;
                eprintln!(
                    "  throughput {} chats={chats} record={bucket}: {:.0} frames/s",
                    kind.name(),
                    measured.frames_per_second
                );
                runs.push(measured);
            }
            let pick = |kind: Kind, f: fn(&Measured) -> f64| -> Vec<f64> {
                runs.iter().filter(|m| m.kind == kind).map(f).collect()
            };
            let relay = pick(Kind::Relay, |m| m.frames_per_second);
            let base = pick(Kind::Baseline, |m| m.frames_per_second);
            let (lo, hi) = report::spread(&relay);
            let failures: u64 = runs.iter().map(|m| m.failures).sum();
            table.row(vec![
                chats.to_string(),
                bucket.to_string(),
                (bucket + 20).to_string(),
                report::int(report::median(&relay)),
                report::int(report::median(&base)),
                report::ratio(report::median(&relay), report::median(&base)),
                format!(
                    "{:.1}",
                    report::median(&pick(Kind::Relay, |m| m.bytes_per_second)) / 1e6
                ),
                format!(
                    "{:.2}",
                    report::median(&pick(Kind::Relay, |m| m.cpu_us_per_frame))
                ),
                format!(
                    "{:.2}",
                    report::median(&pick(Kind::Baseline, |m| m.cpu_us_per_frame))
                ),
                format!("{}–{}", report::int(lo), report::int(hi)),
                failures.to_string(),
            ]);
            all.extend(runs);
        }
    }
    table.print();
    table.write_csv(&opts.common.out, "throughput")?;
    let failures: u64 = all.iter().map(|m| m.failures).sum();
    if failures > 0 {
        return Err(format!("throughput: {failures} chats failed").into());
    }
    Ok(all)
}

/// One server, one size: set up `chats` chats, load them, count.
pub(crate) async fn measure(
    kind: Kind,
    chats: usize,
    bucket: usize,
    opts: &Opts,
) -> Result<Measured> {
    let mut program = Program::new("bench-program")?;
    let server = ServerProcess::start(kind, &[&program])?;
    let target = Arc::new(Target::new(
        server.addr,
        kind,
        &mut program,
        opts.common.sources,
    )?);
    let pairs = establish_pairs(&target, &mut program, chats).await?;
    drive(kind, pairs, bucket, opts.warmup, opts.measure, || {
        server.cpu()
    })
    .await
}

/// Loads `pairs` with `bucket`-byte records for `warmup`, then counts for `measure`;
/// `cpu` reads the CPU time of the server process(es) under test.
pub(crate) async fn drive(
    kind: Kind,
    pairs: Vec<ChatPair>,
    bucket: usize,
    warmup: Duration,
    measure: Duration,
    cpu: impl Fn() -> Result<Duration>,
) -> Result<Measured> {
    let load = Load::start(pairs, bucket)?;
    tokio::time::sleep(warmup).await;
    let (f0, b0, c0, t0) = (load.frames(), load.bytes(), cpu()?, Instant::now());
    tokio::time::sleep(measure).await;
    let (f1, b1, c1, t1) = (load.frames(), load.bytes(), cpu()?, Instant::now());
    let failures = load.stop().await;
    let seconds = (t1 - t0).as_secs_f64();
    let frames = (f1 - f0) as f64;
    Ok(Measured {
        kind,
        frames_per_second: frames / seconds,
        bytes_per_second: (b1 - b0) as f64 / seconds,
        cpu_us_per_frame: if frames > 0.0 {
            (c1.saturating_sub(c0)).as_secs_f64() * 1e6 / frames
        } else {
            0.0
        },
        failures,
    })
}

/// The running load: two senders and two receivers per chat.
struct Load {
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Load {
    fn start(pairs: Vec<ChatPair>, bucket: usize) -> Result<Self> {
        let mut load = Self {
            frames: Arc::default(),
            bytes: Arc::default(),
            failures: Arc::default(),
            stop: CancellationToken::new(),
            tasks: JoinSet::new(),
        };
        let record = record_of_bucket(bucket);
        for mut pair in pairs {
            let to_peer = pair
                .seeker_session
                .seal(&record)
                .map_err(|e| format!("seal: {e:?}"))?;
            let to_seeker = pair
                .peer_session
                .seal(&record)
                .map_err(|e| format!("seal: {e:?}"))?;
            let seeker_frame = Bytes::from(DataFrame::encode(pair.seeker_chat, &to_peer)?);
            let peer_frame = Bytes::from(DataFrame::encode(pair.peer_chat, &to_seeker)?);
            let window = window(seeker_frame.len());
            let (seeker_tx, seeker_rx) = pair.seeker.split();
            let (peer_tx, peer_rx) = pair.peer.split();
            let to_peer_credit = Arc::new(Semaphore::new(window));
            let to_seeker_credit = Arc::new(Semaphore::new(window));
            load.spawn_sender(seeker_tx, seeker_frame, to_peer_credit.clone());
            load.spawn_sender(peer_tx, peer_frame, to_seeker_credit.clone());
            load.spawn_receiver(peer_rx, to_peer_credit, Some(pair.peer_session));
            load.spawn_receiver(seeker_rx, to_seeker_credit, Some(pair.seeker_session));
        }
        Ok(load)
    }

    fn spawn_sender(
        &mut self,
        mut sink: SplitSink<Ws, Message>,
        frame: Bytes,
        credit: Arc<Semaphore>,
    ) {
        let stop = self.stop.clone();
        let failures = self.failures.clone();
        self.tasks.spawn(async move {
            let result: Result<()> = async {
                loop {
                    // Feed while credit lasts; flush once when it runs out (one write per burst).
                    match credit.try_acquire() {
                        Ok(permit) => permit.forget(),
                        Err(_) => {
                            sink.flush().await?;
                            tokio::select! {
                                () = stop.cancelled() => return Ok(()),
                                permit = credit.acquire() => permit?.forget(),
                            }
                        }
                    }
                    if stop.is_cancelled() {
                        return Ok(());
                    }
                    sink.feed(Message::Binary(frame.clone())).await?;
                }
            }
            .await;
            if result.is_err() && !stop.is_cancelled() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    fn spawn_receiver(
        &mut self,
        mut stream: SplitStream<Ws>,
        credit: Arc<Semaphore>,
        mut session: Option<confidant_crypto::ChatSession>,
    ) {
        let (stop, frames, bytes, failures) = (
            self.stop.clone(),
            self.frames.clone(),
            self.bytes.clone(),
            self.failures.clone(),
        );
        self.tasks.spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    next = stream.next() => next,
                };
                if stop.is_cancelled() {
                    return;
                }
                match next {
                    Some(Ok(Message::Binary(frame))) => {
                        // The first frame is decrypted: the path is real end to end.
                        if let Some(mut s) = session.take() {
                            let opened = DataFrame::decode(&frame)
                                .map_err(|_| ())
                                .and_then(|f| s.open(f.noise_message).map_err(|_| ()));
                            if opened.is_err() {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        frames.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
                        credit.add_permits(1);
                    }
                    Some(Ok(Message::Text(text))) => {
                        // Any control frame mid-run (chat_ended, error) is a failure.
                        let frame = RelayFrame::from_json(text.as_bytes());
                        eprintln!("  unexpected control frame during load: {frame:?}");
                        failures.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        if !stop.is_cancelled() {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                }
            }
        });
    }

    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Stops every task; returns the failure count.
    async fn stop(mut self) -> u64 {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        self.failures.load(Ordering::Relaxed)
    }
}
