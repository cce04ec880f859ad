//! The relay binary stopped under load: SIGTERM (graceful: `shutdown{deadline_ms}`, then
//! `chat_ended{shutdown}`, close 1001, exit 0) and SIGKILL (every client sees its
//! connection end). Eight chats pump data both ways, seekers wait in the queue and idle
//! connections sit there; every wait is bounded, nothing hangs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, ClientFrame, RelayFrame, SeekPreferences};
use confidant_tests::abuse_support::{AbuseRelay, Row, exclusive};
use confidant_tests::{RawClient, Received};
use rustix::process::Signal;

const CHATS: usize = 8;
const QUEUED: usize = 5;
const IDLE: usize = 5;

/// What one client saw from the moment of the signal.
#[derive(Debug, Default)]
struct Seen {
    shutdown_notice: bool,
    ended: Vec<ChatEndReason>,
    errors: Vec<confidant_proto::ErrorCode>,
    close: Option<Option<u16>>,
    took: Duration,
}

/// Reads until the connection ends (bounded by `within`), echoing data frames when
/// `echo` (the peer) or sending a new one after each (a seeker), so load runs to the end.
async fn run_until_closed(
    mut client: RawClient,
    chat: Option<confidant_proto::ChatNumber>,
    echo: bool,
    signalled: tokio::sync::watch::Receiver<Option<Instant>>,
    within: Duration,
) -> Seen {
    let mut seen = Seen::default();
    if let Some(chat) = chat {
        client.send_data(chat, b"load").await;
    }
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let Some(received) = client
            .recv_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        else {
            panic!("client still open {within:?} after the start: {seen:?}");
        };
        match received {
            Received::Data(bytes) => {
                let frame = confidant_proto::DataFrame::decode(&bytes).unwrap();
                let to = if echo { Some(frame.chat) } else { chat };
                if !echo {
                    // About 100 round trips a second per chat: load, not a CPU hog.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                if let Some(to) = to {
                    // The relay may be gone any moment: a failed send is the end.
                    let send = confidant_proto::DataFrame::encode(to, b"load").unwrap();
                    if !try_send(&mut client, send).await {
                        seen.close = Some(None);
                        break;
                    }
                }
            }
            Received::Frame(RelayFrame::Shutdown { .. }) => seen.shutdown_notice = true,
            Received::Frame(RelayFrame::ChatEnded { reason, .. }) => seen.ended.push(reason),
            Received::Frame(RelayFrame::Error { code, .. }) => seen.errors.push(code),
            Received::Frame(_) => {}
            Received::Closed(code) => {
                seen.close = Some(code);
                break;
            }
        }
    }
    seen.took = signalled.borrow().map_or(Duration::ZERO, |at| at.elapsed());
    seen
}

async fn try_send(client: &mut RawClient, bytes: Vec<u8>) -> bool {
    // RawClient panics on a failed send; run it where a panic is contained.
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        client.send_binary(bytes),
    ))
    .await;
    result.is_ok()
}

struct Load {
    relay: AbuseRelay,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<Seen>)>,
    signalled: tokio::sync::watch::Sender<Option<Instant>>,
}

async fn load(within: Duration) -> Load {
    // Rate limits out of the way: this is load, not abuse.
    let mut relay = AbuseRelay::start(&[
        "--shutdown-deadline",
        "1",
        "--shutdown-grace",
        "1",
        "--frames-per-second",
        "100000",
        "--frame-burst",
        "100000",
    ]);
    let (mut peer, _) = relay.peer(CHATS as u16).await;
    let (signalled, signal_rx) = tokio::sync::watch::channel(None);
    let mut tasks = Vec::new();
    let mut chatting = Vec::new();
    for _ in 0..CHATS {
        let mut seeker = relay.seeker().await;
        seeker.seek(SeekPreferences::default()).await;
        let offer = peer.offer().await;
        peer.accept(offer).await;
        let chat = seeker.matched().await;
        chatting.push((seeker, chat));
    }
    tasks.push((
        "peer",
        tokio::spawn(run_until_closed(
            peer,
            None,
            true,
            signal_rx.clone(),
            within,
        )),
    ));
    for (seeker, chat) in chatting {
        tasks.push((
            "chatting seeker",
            tokio::spawn(run_until_closed(
                seeker,
                Some(chat),
                false,
                signal_rx.clone(),
                within,
            )),
        ));
    }
    for _ in 0..QUEUED {
        let mut seeker = relay.seeker().await;
        seeker
            .send(&ClientFrame::Seek {
                preferences: SeekPreferences::default(),
                urgent: false,
            })
            .await;
        tasks.push((
            "queued seeker",
            tokio::spawn(run_until_closed(
                seeker,
                None,
                false,
                signal_rx.clone(),
                within,
            )),
        ));
    }
    for _ in 0..IDLE {
        let idle = RawClient::connect_url(&relay.url()).await;
        tasks.push((
            "idle connection",
            tokio::spawn(run_until_closed(
                idle,
                None,
                false,
                signal_rx.clone(),
                within,
            )),
        ));
    }
    // Let the load run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Load {
        relay,
        tasks,
        signalled,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_ends_every_chat_and_connection_and_exits_zero() {
    let _serial = exclusive().await;
    let Load {
        mut relay,
        tasks,
        signalled,
    } = load(Duration::from_secs(15)).await;
    let metrics = relay.metrics().await;
    assert_eq!(metrics.get("confidant_chats_active"), Some(&(CHATS as f64)));
    let frames_before = metrics
        .get("confidant_frames_relayed_total")
        .copied()
        .unwrap_or(0.0);
    assert!(frames_before > 0.0, "no load ran");
    let at = Instant::now();
    signalled.send_replace(Some(at));
    relay.process.signal(Signal::TERM);
    let mut slowest = Duration::ZERO;
    for (who, task) in tasks {
        let seen = task.await.unwrap();
        assert!(
            seen.shutdown_notice,
            "{who} got no shutdown notice: {seen:?}"
        );
        assert!(seen.close.is_some(), "{who}: {seen:?}");
        match who {
            "peer" => {
                assert_eq!(seen.ended.len(), CHATS, "{seen:?}");
                assert!(
                    seen.ended.iter().all(|r| *r == ChatEndReason::Shutdown),
                    "{seen:?}"
                );
            }
            "chatting seeker" => assert_eq!(seen.ended, vec![ChatEndReason::Shutdown]),
            _ => assert!(seen.ended.is_empty(), "{who}: {seen:?}"),
        }
        assert_eq!(seen.close, Some(Some(1001)), "{who}: {seen:?}");
        slowest = slowest.max(seen.took);
    }
    let status = relay.process.wait_exit(Duration::from_secs(10));
    let exited = at.elapsed();
    assert!(status.success(), "exit status {status}");
    // Deadline 1 s + grace: every client closed well before 5 s.
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
    Row {
        attack: "SIGTERM under load: 8 chats pumping data, 5 queued seekers, 5 idle connections (deadline 1 s)",
        outcome: "all 19 told `shutdown{deadline_ms}`; 8 chats end `shutdown` on both sides; every connection closed 1001; exit 0".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: format!(
            "last client closed {:.2} s after the signal; process exited after {:.2} s",
            slowest.as_secs_f64(),
            exited.as_secs_f64()
        ),
    }
    .print();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_closes_every_connection_at_once() {
    let _serial = exclusive().await;
    let Load {
        mut relay,
        tasks,
        signalled,
    } = load(Duration::from_secs(10)).await;
    let at = Instant::now();
    signalled.send_replace(Some(at));
    relay.process.signal(Signal::KILL);
    let mut slowest = Duration::ZERO;
    for (who, task) in tasks {
        let seen = task.await.unwrap();
        // No close frame from a killed process: the stream just ends.
        assert_eq!(seen.close, Some(None), "{who}: {seen:?}");
        assert!(!seen.shutdown_notice, "{who}: {seen:?}");
        slowest = slowest.max(seen.took);
    }
    let status = relay.process.wait_exit(Duration::from_secs(5));
    assert!(!status.success());
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    // Memory only: a new relay starts with empty tables.
    let fresh = AbuseRelay::start(&[]);
    fresh.wait_tables(0.0, 0.0).await;
    Row {
        attack: "SIGKILL under load (same load)",
        outcome: "every client's connection ends (no close frame) at once; nothing on disk, a restarted relay starts with empty tables".into(),
        refused: "-".into(),
        memory: "-".into(),
        canary: format!("all 19 connections ended within {:.1} ms", slowest.as_secs_f64() * 1e3),
    }
    .print();
}
