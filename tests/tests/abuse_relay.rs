//! Abuse against the real `confidant-relay` binary (a child process on loopback): each
//! attack must get its clear error or close code, a canary chat running alongside must
//! keep its normal round trip (measured before and during), and the relay's resident set
//! (`/proc/<pid>/status` of the child) must stay bounded. Each test prints one row of the
//! table in `docs/reliability.md` (`RELIABILITY-ROW …`, shown with `--nocapture`).
//!
//! Attackers connect from `127.0.0.2`–`127.0.0.9` and the canary from `127.0.0.1`, so the
//! per-source limit never touches the canary. The tests of this file run one at a time
//! ([`exclusive`]) so the figures are the attack's, not a neighbour's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_proto::limits::{MAX_CAPACITY, MAX_DATA_FRAME};
use confidant_proto::{
    ChatEndReason, ChatNumber, ClientFrame, ErrorCode, NoPeerReason, RelayFrame, Role,
    SeekPreferences,
};
use confidant_tests::abuse_support::{
    AbuseRelay, Canary, MemorySampler, PROGRAM, Row, WsClient, canary_figures, client_frame,
    client_frame_header, during_attack, exclusive, loopback, raw_upgrade, read_frames, tcp_from,
    waves,
};
use confidant_tests::fixtures::SupporterSpec;
use confidant_tests::ops_support::peer_at;
use confidant_tests::{ProgramFixture, RawClient, Received};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;

/// Most an attack may grow the relay's resident set. The relay bounds every buffer; this
/// catches a leak or an unbounded queue (hundreds of MiB), not allocator noise.
const MEMORY_LIMIT_KIB: u64 = 64 * 1024;

fn hello_json() -> String {
    ClientFrame::hello_v1(Role::Seeker, PROGRAM).to_json()
}

/// Slowloris on the HTTP upgrade: 100 connections that dribble a request header, a byte
/// every 500 ms, never finishing it. The relay's header timeout (10 s) closes each one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_upgrade_headers_are_cut_off() {
    const CONNECTIONS: usize = 100;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&[]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let stream = tcp_from(addr, Some(loopback(2))).await.expect("connect");
                let (mut read, mut write) = stream.into_split();
                write
                    .write_all(b"GET /v1/ws HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
                    .await
                    .expect("first bytes");
                let mut answer = Vec::new();
                let mut buffer = [0_u8; 1024];
                loop {
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "slow connection still open after 20 s"
                    );
                    tokio::select! {
                        read = read.read(&mut buffer) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(n) => answer.extend_from_slice(&buffer[..n]),
                        },
                        () = tokio::time::sleep(Duration::from_millis(500)) => {
                            if write.write_all(b"a").await.is_err() {
                                break;
                            }
                        }
                    }
                }
                (started.elapsed(), answer)
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("slow connection task"));
        }
        out
    };
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let slowest = results.iter().map(|(d, _)| *d).max().unwrap();
    let fastest = results.iter().map(|(d, _)| *d).min().unwrap();
    // Cut at the header deadline: not before (a byte every 500 ms is "progress" to a naive
    // timer), not long after.
    assert!(
        fastest >= Duration::from_secs(9),
        "closed after {fastest:?}"
    );
    assert!(
        slowest <= Duration::from_secs(14),
        "closed after {slowest:?}"
    );
    let answered = results
        .iter()
        .filter(|(_, a)| a.starts_with(b"HTTP/1.1 408"))
        .count();
    assert!(
        results
            .iter()
            .all(|(_, a)| a.is_empty() || a.starts_with(b"HTTP/1.1 408")),
        "unexpected answer to a half request"
    );
    Canary::assert_normal(before, during, "slowloris upgrade");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "slowloris upgrade");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Slowloris on the HTTP upgrade: 100 connections dribbling header bytes (1 per 500 ms)",
        outcome: format!(
            "each closed at the 10 s header timeout ({:.1}–{:.1} s), {answered} with `408`, the rest silently",
            fastest.as_secs_f64(),
            slowest.as_secs_f64()
        ),
        refused: format!("{CONNECTIONS} of {CONNECTIONS} cut"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Slowloris after the upgrade: WebSockets that never send `hello` are closed with
/// `hello_timeout` (4408).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_websockets_get_hello_timeout() {
    const CONNECTIONS: usize = 30;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&["--hello-timeout", "1"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let (mut stream, head) = raw_upgrade(addr, Some(loopback(2)), "").await;
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                read_frames(&mut stream, Duration::from_secs(5)).await
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    };
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    for frames in &results {
        assert_eq!(frames.errors(), vec![ErrorCode::HelloTimeout]);
        assert_eq!(frames.close, Some(4408));
    }
    Canary::assert_normal(before, during, "silent websockets");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "silent websockets");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "WebSockets that never send `hello` (30, hello timeout 1 s)",
        outcome: "`hello_timeout`, close 4408".into(),
        refused: format!("{CONNECTIONS} of {CONNECTIONS} closed"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Slowloris on the Noise handshake: seekers that get matched and never send msg1 hold a
/// peer's capacity only until the chat handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matched_seekers_that_never_send_msg1_time_out() {
    const SEEKERS: usize = 4;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&["--chat-handshake-timeout", "1"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let (mut peer, _) = relay.peer(SEEKERS as u16).await;
    let mut seekers = Vec::new();
    for _ in 0..SEEKERS {
        let mut seeker = relay.seeker().await;
        seeker.seek(SeekPreferences::default()).await;
        let offer = peer.offer().await;
        peer.accept(offer).await;
        seeker.matched().await;
        seekers.push(seeker);
    }
    let memory = MemorySampler::start(relay.pid());
    let started = Instant::now();
    let attack = async move {
        let mut reasons = Vec::new();
        for seeker in &mut seekers {
            reasons.push(seeker.chat_ended().await.1);
        }
        for _ in 0..SEEKERS {
            reasons.push(peer.chat_ended().await.1);
        }
        (reasons, started.elapsed(), peer, seekers)
    };
    let ((reasons, took, peer, seekers), during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    assert!(
        reasons
            .iter()
            .all(|r| *r == ChatEndReason::HandshakeTimeout),
        "{reasons:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    Canary::assert_normal(before, during, "handshake slowloris");
    // Only the canary chat (which did its handshake) is left; the peer's capacity is free.
    relay.wait_tables(1.0, 3.0 + SEEKERS as f64).await;
    drop((peer, seekers));
    Row {
        attack: "Noise handshake slowloris: 4 matched seekers never send msg1 (timeout 1 s)",
        outcome: format!(
            "all 4 chats end `handshake_timeout` for both sides after {:.1} s; capacity freed",
            took.as_secs_f64()
        ),
        refused: "4 chats ended".into(),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// A connection after `hello`, made by hand: returns the socket past `welcome`.
async fn hand_seeker(addr: std::net::SocketAddr, source: u8) -> tokio::net::TcpStream {
    let (mut stream, head) = raw_upgrade(addr, Some(loopback(source)), "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
        .write_all(&client_frame(true, 1, hello_json().as_bytes()))
        .await
        .unwrap();
    // The welcome frame: read until one whole text frame is in.
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("welcome in time")
            .unwrap();
        assert!(n > 0, "closed before welcome");
        buffer.extend_from_slice(&chunk[..n]);
        if buffer.len() >= 4 {
            let (header, payload) = match buffer[1] & 0x7f {
                126 => (4, usize::from(u16::from_be_bytes([buffer[2], buffer[3]]))),
                n => (2, usize::from(n)),
            };
            if let Some(text) = buffer.get(header..header + payload) {
                assert!(
                    matches!(RelayFrame::from_json(text), Ok(RelayFrame::Welcome { .. })),
                    "expected welcome"
                );
                return stream;
            }
        }
    }
}

/// Writes `frames` (already encoded) until the relay stops taking them or `cap` bytes are
/// written; returns the bytes written and what the relay sent back.
async fn write_until_closed(
    stream: tokio::net::TcpStream,
    first: Vec<u8>,
    next: Vec<u8>,
    cap: usize,
) -> (usize, confidant_tests::abuse_support::ServerFrames) {
    let (mut read, mut write) = stream.into_split();
    let reader = tokio::spawn(async move { read_frames(&mut read, Duration::from_secs(10)).await });
    let mut written = 0;
    if write.write_all(&first).await.is_ok() {
        written += first.len();
        while written < cap {
            match tokio::time::timeout(Duration::from_secs(2), write.write_all(&next)).await {
                Ok(Ok(())) => written += next.len(),
                _ => break,
            }
        }
    }
    drop(write);
    (written, reader.await.unwrap())
}

/// Oversized frames: a header that claims a 1 TiB binary frame, and a 1 GiB text frame
/// streamed for real. Refused at the header with `frame_too_large` (1009), before any
/// payload is buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_at_the_header() {
    const CONNECTIONS: usize = 20;
    let _serial = exclusive().await;
    // Waves of new connections from the attackers would close the admission gate (auto,
    // 100 new/s) and refuse them before they send a frame: this test is about frames.
    let mut relay = AbuseRelay::start(&["--admission", "off"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = waves(Duration::from_secs(1), move || async move {
        let mut tasks = Vec::new();
        for i in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let stream = hand_seeker(addr, 2).await;
                let (opcode, claimed) = if i % 2 == 0 {
                    (2, 1_u64 << 40)
                } else {
                    (1, 1 << 30)
                };
                write_until_closed(
                    stream,
                    client_frame_header(true, opcode, claimed),
                    vec![0x41; 64 * 1024],
                    64 * 1024 * 1024,
                )
                .await
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    });
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let waves = results.len();
    let results: Vec<_> = results.into_iter().flatten().collect();
    let most = results.iter().map(|(w, _)| *w).max().unwrap();
    for (_, frames) in &results {
        assert_eq!(frames.errors(), vec![ErrorCode::FrameTooLarge]);
        assert_eq!(frames.close, Some(1009));
    }
    Canary::assert_normal(before, during, "oversized frames");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "oversized frames");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Oversized frames: waves of 20 connections for 1 s, headers claiming 1 TiB (binary) / 1 GiB (text), payload streamed",
        outcome: "`frame_too_large`, close 1009, at the frame header".into(),
        refused: format!(
            "{n} of {n} closed ({waves} waves); at most {} KiB accepted by the socket before the close",
            most / 1024,
            n = results.len()
        ),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Endless continuation fragments: a message started with FIN=0 and continued with FIN=0
/// fragments forever. The reassembled-message limit (`MAX_DATA_FRAME`) ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_continuation_fragments_hit_the_message_limit() {
    const CONNECTIONS: usize = 10;
    let _serial = exclusive().await;
    // Waves of new connections from the attackers would close the admission gate (auto,
    // 100 new/s) and refuse them before they send a frame: this test is about frames.
    let mut relay = AbuseRelay::start(&["--admission", "off"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = waves(Duration::from_secs(1), move || async move {
        let mut tasks = Vec::new();
        for i in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let stream = hand_seeker(addr, 3).await;
                let opcode = if i % 2 == 0 { 2 } else { 1 };
                write_until_closed(
                    stream,
                    client_frame(false, opcode, &[0x41; 1024]),
                    client_frame(false, 0, &[0x41; 1024]),
                    64 * 1024 * 1024,
                )
                .await
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    });
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let waves = results.len();
    let results: Vec<_> = results.into_iter().flatten().collect();
    let most = results.iter().map(|(w, _)| *w).max().unwrap();
    for (written, frames) in &results {
        assert_eq!(
            frames.errors(),
            vec![ErrorCode::FrameTooLarge],
            "after {written} bytes"
        );
        assert_eq!(frames.close, Some(1009));
    }
    assert!(
        most < 64 * 1024 * 1024,
        "a connection took 64 MiB of fragments"
    );
    Canary::assert_normal(before, during, "continuation fragments");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "continuation fragments");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Endless continuation fragments: waves of 10 connections for 1 s, FIN=0 fragments of 1 KiB forever (text and binary)",
        outcome: format!(
            "`frame_too_large`, close 1009, once the message passes {MAX_DATA_FRAME} bytes"
        ),
        refused: format!(
            "{n} of {n} closed ({waves} waves); at most {} KiB written before the close",
            most / 1024,
            n = results.len()
        ),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Ping (and unsolicited pong) floods: keep-alives are frames and cost rate-limit tokens,
/// so a flood ends with `rate_limited` (4429) instead of making the relay write pongs
/// without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_floods_are_rate_limited() {
    const CONNECTIONS: usize = 4;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&[]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let mut tasks = Vec::new();
        for i in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let stream = hand_seeker(addr, 4).await;
                let opcode = if i % 2 == 0 { 9 } else { 10 };
                let frame = client_frame(true, opcode, &[0x50; 125]);
                // 100 frames per write: as fast as the socket takes them.
                let burst: Vec<u8> = frame
                    .iter()
                    .copied()
                    .cycle()
                    .take(frame.len() * 100)
                    .collect();
                let (written, frames) =
                    write_until_closed(stream, Vec::new(), burst, 256 * 1024 * 1024).await;
                (written / frame.len(), frames)
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    };
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let most = results.iter().map(|(w, _)| *w).max().unwrap();
    let pongs: usize = results.iter().map(|(_, f)| f.pongs).sum();
    for (sent, frames) in &results {
        assert_eq!(
            frames.errors(),
            vec![ErrorCode::RateLimited],
            "after {sent} frames: {frames:?}"
        );
        assert_eq!(frames.close, Some(4429));
    }
    Canary::assert_normal(before, during, "ping flood");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "ping flood");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Ping / unsolicited pong flood: 4 connections writing 125-byte pings or pongs as fast as the socket takes them",
        outcome: "`rate_limited`, close 4429, after the burst (100 frames at the default 50/s)".into(),
        refused: format!(
            "4 of 4 closed; {pongs} pongs answered in all; at most {most} frames written, the rest read and discarded during the 1 s lingering close"
        ),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// The next thing on a split reader (pings skipped), bounded.
async fn next_received(stream: &mut confidant_tests::abuse_support::WsReader) -> Received {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the relay answered in time");
        return match next {
            Some(Ok(Message::Text(text))) => {
                Received::Frame(RelayFrame::from_json(text.as_bytes()).unwrap())
            }
            Some(Ok(Message::Binary(bytes))) => Received::Data(bytes.to_vec()),
            Some(Ok(Message::Close(close))) => Received::Closed(close.map(|c| u16::from(c.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => Received::Closed(None),
        };
    }
}

/// Reads until the connection closes; returns the error codes seen and the close code.
async fn errors_until_close(
    stream: &mut confidant_tests::abuse_support::WsReader,
) -> (Vec<ErrorCode>, Option<u16>) {
    let mut errors = Vec::new();
    loop {
        match next_received(stream).await {
            Received::Frame(RelayFrame::Error { code, .. }) => errors.push(code),
            Received::Closed(code) => return (errors, code),
            _ => {}
        }
    }
}

/// Frame floods above the rate limit (defaults: 50 frames/s, burst 100): a seeker in a
/// chat floods data frames at its partner, and another floods data frames before any
/// match. Both end with `rate_limited` (4429); the flooded peer is told `partner_left` and
/// received no more than the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_floods_are_rate_limited() {
    const FLOOD: usize = 2_000;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&[]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let (mut victim, _) = relay.peer(1).await;
    let addr = relay.process.addr;
    let (mut sink, mut stream, _) = WsClient::connect_split(addr, Some(loopback(5))).await;
    sink.send(Message::Text(hello_json().into())).await.unwrap();
    next_received(&mut stream).await;
    let seek = ClientFrame::Seek {
        preferences: SeekPreferences::default(),
        urgent: false,
    };
    sink.send(Message::Text(seek.to_json().into()))
        .await
        .unwrap();
    let offer = victim.offer().await;
    victim.accept(offer).await;
    let chat = loop {
        if let Received::Frame(RelayFrame::Matched { chat, .. }) = next_received(&mut stream).await
        {
            break chat;
        }
    };
    let (mut sink2, mut stream2, _) = WsClient::connect_split(addr, Some(loopback(5))).await;
    sink2
        .send(Message::Text(hello_json().into()))
        .await
        .unwrap();
    next_received(&mut stream2).await;

    let memory = MemorySampler::start(relay.pid());
    let attack = async move {
        let frame = confidant_proto::DataFrame::encode(chat, &[0x42; 1024]).unwrap();
        let stray = confidant_proto::DataFrame::encode(ChatNumber(7), &[0x42; 64]).unwrap();
        let flood_in_chat = async {
            let mut sent = 0;
            for _ in 0..FLOOD {
                if sink
                    .send(Message::Binary(frame.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
            sent
        };
        let flood_unmatched = async {
            let mut sent = 0;
            for _ in 0..FLOOD {
                if sink2
                    .send(Message::Binary(stray.clone().into()))
                    .await
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
            sent
        };
        let (in_chat, unmatched, closed_in_chat, closed_unmatched) = tokio::join!(
            flood_in_chat,
            flood_unmatched,
            errors_until_close(&mut stream),
            errors_until_close(&mut stream2)
        );
        let mut delivered = 0;
        let end = loop {
            match victim.recv().await {
                Received::Data(_) => delivered += 1,
                Received::Frame(RelayFrame::ChatEnded { reason, .. }) => break reason,
                other => panic!("victim got {other:?}"),
            }
        };
        (
            in_chat,
            unmatched,
            closed_in_chat,
            closed_unmatched,
            delivered,
            end,
            victim,
        )
    };
    let ((in_chat, unmatched, closed_in_chat, closed_unmatched, delivered, end, _victim), during) =
        during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    assert_eq!(closed_in_chat, (vec![ErrorCode::RateLimited], Some(4429)));
    let (stray_errors, stray_close) = &closed_unmatched;
    assert_eq!(*stray_close, Some(4429));
    assert_eq!(stray_errors.last(), Some(&ErrorCode::RateLimited));
    let unknown = stray_errors
        .iter()
        .filter(|c| **c == ErrorCode::UnknownChat)
        .count();
    assert_eq!(unknown + 1, stray_errors.len(), "{stray_errors:?}");
    assert!(
        unknown <= 110,
        "{unknown} unknown_chat answers: more than the burst"
    );
    assert!(
        delivered <= 110,
        "{delivered} frames forwarded: more than the burst"
    );
    assert_eq!(end, ChatEndReason::PartnerLeft);
    Canary::assert_normal(before, during, "frame floods");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "frame floods");
    relay.wait_tables(1.0, 3.0).await;
    Row {
        attack: "Frame floods: 2000 × 1 KiB data frames in a chat, and 2000 data frames before any match (rate 50/s, burst 100)",
        outcome: format!(
            "`rate_limited`, close 4429; the flooded partner got {delivered} frames then `chat_ended{{partner_left}}`; the unmatched flooder got {unknown} `unknown_chat` first"
        ),
        refused: format!("{in_chat} / {unmatched} frames written before the close (socket buffers included)"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Many connections: 100 attempts from one source (limit 32 per source) and then, from
/// other sources, attempts past the total limit (60). The per-source limit answers HTTP 429
/// before any upgrade; the total limit answers `too_many_connections` (1013).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_meet_the_source_and_total_limits() {
    const ATTEMPTS: usize = 100;
    let _serial = exclusive().await;
    // About the per-source and total caps: the admission gate (which 180 connections in a
    // second would close) is off here; `a_flood_from_one_address_…` tests it.
    let mut relay = AbuseRelay::start(&[
        "--max-connections-per-source",
        "32",
        "--max-connections",
        "60",
        "--admission",
        "off",
    ]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let mut held = Vec::new();
        let (mut per_source, mut total, mut accepted) = (0, 0, 0);
        // One source, then sources 127.0.0.3.. with 20 each.
        let sources = std::iter::repeat_n(2_u8, ATTEMPTS)
            .chain((3..=6).flat_map(|s| std::iter::repeat_n(s, 20)));
        for source in sources {
            let tcp = tcp_from(addr, Some(loopback(source))).await.unwrap();
            let url = format!("ws://{addr}/v1/ws");
            match tokio_tungstenite::client_async(url, tcp).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status().as_u16(), 429);
                    per_source += 1;
                }
                Err(other) => panic!("upgrade failed: {other}"),
                Ok((mut ws, _)) => {
                    ws.send(Message::Text(hello_json().into())).await.unwrap();
                    let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
                        .await
                        .unwrap();
                    match first {
                        Some(Ok(Message::Text(text))) => {
                            match RelayFrame::from_json(text.as_bytes()).unwrap() {
                                RelayFrame::Welcome { .. } => {
                                    accepted += 1;
                                    held.push(ws);
                                }
                                RelayFrame::Error { code, .. } => {
                                    assert_eq!(code, ErrorCode::TooManyConnections);
                                    let close =
                                        tokio::time::timeout(Duration::from_secs(5), ws.next())
                                            .await
                                            .unwrap();
                                    assert!(
                                        matches!(&close, Some(Ok(Message::Close(Some(c)))) if u16::from(c.code) == 1013),
                                        "{close:?}"
                                    );
                                    total += 1;
                                }
                                other => panic!("{other:?}"),
                            }
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
        (per_source, total, accepted, held)
    };
    let ((per_source, total, accepted, held), during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    // 32 from 127.0.0.2; then 60 - 2 (canary) - 32 = 26 more from the other sources.
    assert_eq!(accepted, 58, "accepted");
    assert_eq!(per_source, ATTEMPTS - 32, "refused per source");
    assert_eq!(total, 80 - 26, "refused at the total limit");
    Canary::assert_normal(before, during, "many connections");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "many connections");
    drop(held);
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Many connections: 100 from one source (limit 32), then 80 from four other sources (total limit 60)",
        outcome: "per source: HTTP 429 before the upgrade; total: `too_many_connections`, close 1013".into(),
        refused: format!("{per_source} refused per source, {total} at the total limit, {accepted} held open"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// `permessage-deflate` offered in the upgrade is not negotiated (compression before
/// encryption would leak through sizes); a frame with RSV1 set (a "compressed" frame) is
/// closed with RFC 6455's protocol error (1002); invalid UTF-8 in a text frame, whole or
/// split over fragments, is closed with 1007 (invalid payload). Neither gets an `error`
/// frame: the client broke the WebSocket protocol itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_invalid_utf8_are_refused() {
    let _serial = exclusive().await;
    // Waves of new connections from the attackers would close the admission gate (auto,
    // 100 new/s) and refuse them before they send a frame: this test is about frames.
    let mut relay = AbuseRelay::start(&["--admission", "off"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = waves(Duration::from_secs(1), move || async move {
        // Offer compression: the answer must not accept it, and the connection works
        // uncompressed.
        let (mut stream, head) = raw_upgrade(
            addr,
            Some(loopback(6)),
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions"),
            "compression negotiated:\n{head}"
        );
        stream
            .write_all(&client_frame(true, 1, hello_json().as_bytes()))
            .await
            .unwrap();
        stream
            .write_all(&client_frame(true, 8, &1000_u16.to_be_bytes()))
            .await
            .unwrap();
        let plain = read_frames(&mut stream, Duration::from_secs(5)).await;
        assert!(
            matches!(plain.frames.first(), Some(RelayFrame::Welcome { .. })),
            "{plain:?}"
        );
        // A frame marked compressed (RSV1) without the extension.
        let mut rsv1 = client_frame(true, 1, hello_json().as_bytes());
        rsv1[0] |= 0x40;
        let cases: [(&str, Vec<u8>, u16); 3] = [
            ("rsv1", rsv1, 1002),
            (
                "bad utf-8",
                client_frame(true, 1, b"{\"type\":\"hello\xc3\x28\"}"),
                1007,
            ),
            (
                "bad utf-8 in a continuation",
                [
                    client_frame(false, 1, b"{\"type\":"),
                    client_frame(true, 0, b"\"\xed\xa0\x80\"}"),
                ]
                .concat(),
                1007,
            ),
        ];
        let mut closes = Vec::new();
        for (what, bytes, close) in cases {
            let (mut stream, _) = raw_upgrade(addr, Some(loopback(6)), "").await;
            stream.write_all(&bytes).await.unwrap();
            let got = read_frames(&mut stream, Duration::from_secs(5)).await;
            assert_eq!(got.errors(), Vec::<ErrorCode>::new(), "{what}");
            assert_eq!(got.close, Some(close), "{what}");
            closes.push(got.close);
        }
        closes.len() + 1
    });
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let connections: usize = results.iter().sum();
    Canary::assert_normal(before, during, "compression and utf-8");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "compression and utf-8");
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "`permessage-deflate` offered; RSV1 (\"compressed\") frame; invalid UTF-8 in a text frame and in a continuation fragment",
        outcome: "no `Sec-WebSocket-Extensions` in the 101 answer (chat goes on uncompressed); the three bad frames: `malformed_frame`, close 4400".into(),
        refused: format!("{connections} connections over {} waves, every bad frame refused", results.len()),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// A flood of seeks: one seeker repeats `seek` (`already_seeking`, not fatal, until the rate
/// limit), and 40 seekers fill a queue of 10 (`no_peer{queue_full}` for the other 30).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_floods_meet_already_seeking_and_the_queue_limit() {
    const SEEKERS: usize = 40;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&["--max-queue", "10"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let seek = ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        };
        // One connection repeating seek.
        let (mut sink, mut stream, _) = WsClient::connect_split(addr, Some(loopback(7))).await;
        sink.send(Message::Text(hello_json().into())).await.unwrap();
        next_received(&mut stream).await;
        for _ in 0..150 {
            if sink
                .send(Message::Text(seek.to_json().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let (errors, close) = errors_until_close(&mut stream).await;
        // Many connections seeking at once.
        let (mut queued, mut full) = (0, 0);
        let mut held = Vec::new();
        for i in 0..SEEKERS {
            // Two sources, each under the per-source limit (32).
            let source = if i % 2 == 0 { 8 } else { 9 };
            let (mut sink, mut stream, _) =
                WsClient::connect_split(addr, Some(loopback(source))).await;
            sink.send(Message::Text(hello_json().into())).await.unwrap();
            next_received(&mut stream).await;
            sink.send(Message::Text(seek.to_json().into()))
                .await
                .unwrap();
            match next_received(&mut stream).await {
                Received::Frame(RelayFrame::Queued { .. }) => queued += 1,
                Received::Frame(RelayFrame::NoPeer {
                    reason: NoPeerReason::QueueFull,
                    ..
                }) => full += 1,
                other => panic!("{other:?}"),
            }
            held.push((sink, stream));
        }
        (errors, close, queued, full, held)
    };
    let ((errors, close, queued, full, held), during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    assert_eq!(close, Some(4429));
    assert_eq!(errors.last(), Some(&ErrorCode::RateLimited));
    // The first seek queued it; the rest up to the burst are `already_seeking` — answered
    // by the hub, so those still on their way when the connection task refuses the flood
    // (itself, at once) are dropped with the connection: any number up to the burst.
    let already = errors
        .iter()
        .filter(|c| **c == ErrorCode::AlreadySeeking)
        .count();
    assert_eq!(already + 1, errors.len(), "{errors:?}");
    assert!(already < 100, "{already} already_seeking");
    assert_eq!((queued, full), (10, SEEKERS - 10));
    Canary::assert_normal(before, during, "seek flood");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "seek flood");
    drop(held);
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Seek floods: one seeker sends `seek` 150 times; 40 seekers seek with the queue limit at 10",
        outcome: format!(
            "repeats: `already_seeking` (not fatal; {already} arrived before the close), then `rate_limited`, close 4429; queue: 10 `queued`, 30 `no_peer{{queue_full}}`"
        ),
        refused: format!("{full} seekers refused a queue place"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// A peer advertising absurd capacity: above `MAX_CAPACITY` or zero is `invalid_field`
/// (not fatal), beyond u16 is `malformed_frame`; at the maximum, the relay gives it exactly
/// `MAX_CAPACITY` chats and keeps the other seekers queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_capacity_is_refused_and_the_maximum_holds() {
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&[]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let credential = relay.fixture.supporter();
    let mut greedy = peer_at(&relay.url(), PROGRAM, &credential).await;
    let url = relay.url();
    let memory = MemorySampler::start(relay.pid());
    let attack = async move {
        for capacity in ["65535", "0", "17"] {
            greedy
                .send_text(format!(
                    r#"{{"type":"set_availability","status":"available","capacity":{capacity},"auto_accept":true}}"#
                ))
                .await;
            greedy.expect_error(ErrorCode::InvalidField).await;
        }
        greedy
            .send(&ClientFrame::SetAvailability {
                status: confidant_proto::Availability::Available,
                capacity: MAX_CAPACITY,
                topics: vec![],
                languages: vec![],
                auto_accept: true,
            })
            .await;
        greedy.frame().await;
        let mut seekers = Vec::new();
        for _ in 0..usize::from(MAX_CAPACITY) + 4 {
            let mut seeker = confidant_tests::ops_support::seeker_at(&url, PROGRAM).await;
            seeker.seek(SeekPreferences::default()).await;
            seekers.push(seeker);
        }
        let mut started = 0;
        while let Some(received) = greedy.recv_within(Duration::from_millis(500)).await {
            match received {
                Received::Frame(RelayFrame::ChatStarted { .. }) => started += 1,
                other => panic!("{other:?}"),
            }
        }
        // Beyond u16: not even a valid frame.
        greedy
            .send_text(r#"{"type":"set_availability","status":"available","capacity":4294967296}"#)
            .await;
        greedy.expect_fatal(ErrorCode::MalformedFrame).await;
        (started, seekers)
    };
    let ((started, seekers), during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    assert_eq!(started, usize::from(MAX_CAPACITY));
    Canary::assert_normal(before, during, "absurd capacity");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "absurd capacity");
    // The greedy peer is gone: its 16 seekers were told, the 4 others still wait.
    let m = relay.metrics().await;
    assert_eq!(m.get("confidant_queue_length"), Some(&4.0), "{m:#?}");
    drop(seekers);
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Absurd capacity: `set_availability` with capacity 65535, 0, 17, then 2^32; then 20 seekers at a peer with the maximum (16, auto-accept)",
        outcome: "65535 / 0 / 17: `invalid_field` (connection continues); 2^32: `malformed_frame`, close 4400; at 16: exactly 16 chats, 4 seekers stay queued".into(),
        refused: "3 capacities refused, 1 frame fatal".into(),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Credentials that must not come online: expired, not yet valid, revoked (by a newer list
/// the peer itself presents), another program's. Each is `credential_rejected` (4401).
/// Then replayed possession proofs: a genuine peer's certificate with an answer recorded
/// from its own earlier login is `possession_failed` (4401), every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_replayed_proofs_are_refused() {
    let _serial = exclusive().await;
    // Waves of new connections from the attackers would close the admission gate (auto,
    // 100 new/s) and refuse them before they send a frame: this test is about credentials.
    let mut relay = AbuseRelay::start(&["--admission", "off"]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let now = confidant_tests::fixtures::now_unix();
    let expired = relay.fixture.expired_supporter();
    let future = relay.fixture.supporter_with(SupporterSpec {
        not_before: now + 86_400,
        not_after: now + 10 * 86_400,
        ..confidant_tests::default_supporter_spec()
    });
    let mut revoked = relay.fixture.supporter();
    revoked.revocation_list = relay.fixture.revoke(&[revoked.serial]);
    let foreign = ProgramFixture::new(PROGRAM).supporter();
    // A genuine peer logs in once; its challenge answer is recorded.
    let genuine = relay.fixture.supporter();
    let url = relay.url();
    let mut first = RawClient::connect_url(&url).await;
    first.hello(Role::Peer, PROGRAM).await;
    first.frame().await;
    first.send(&genuine.present_frame()).await;
    let RelayFrame::Challenge { challenge } = first.frame().await else {
        panic!("expected a challenge")
    };
    let recorded = genuine.answer(challenge.as_bytes());
    first
        .send(&ClientFrame::Prove {
            answer: recorded.clone().into(),
        })
        .await;
    assert!(matches!(first.frame().await, RelayFrame::Verified { .. }));
    let credentials = [
        (expired, ErrorCode::CredentialRejected),
        (future, ErrorCode::CredentialRejected),
        (revoked, ErrorCode::CredentialRevoked),
        (foreign, ErrorCode::CredentialRejected),
    ];
    let present: Vec<(ClientFrame, ErrorCode)> = credentials
        .iter()
        .map(|(c, code)| (c.present_frame(), *code))
        .collect();
    let genuine_present = genuine.present_frame();

    let memory = MemorySampler::start(relay.pid());
    let attack = waves(Duration::from_secs(1), move || {
        let url = url.clone();
        let present = present.clone();
        let genuine_present = genuine_present.clone();
        let recorded = recorded.clone();
        async move {
            let mut refused = 0;
            for (frame, code) in &present {
                let mut bad = RawClient::connect_url(&url).await;
                bad.hello(Role::Peer, PROGRAM).await;
                bad.frame().await;
                bad.send(frame).await;
                bad.expect_fatal(*code).await;
                refused += 1;
            }
            let mut replay = RawClient::connect_url(&url).await;
            replay.hello(Role::Peer, PROGRAM).await;
            replay.frame().await;
            replay.send(&genuine_present).await;
            let RelayFrame::Challenge { .. } = replay.frame().await else {
                panic!("expected a challenge")
            };
            replay
                .send(&ClientFrame::Prove {
                    answer: recorded.into(),
                })
                .await;
            replay.expect_fatal(ErrorCode::PossessionFailed).await;
            (refused, 1)
        }
    });
    let (results, during) = during_attack(&mut canary, attack).await;
    let memory = memory.finish().await;
    let rejected: usize = results.iter().map(|r| r.0).sum();
    let replays: usize = results.iter().map(|r| r.1).sum();
    Canary::assert_normal(before, during, "credentials");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "credentials");
    // The genuine peer, still online, was never disturbed.
    first.expect_silence(Duration::from_millis(100)).await;
    first.close().await;
    relay.wait_tables(1.0, 2.0).await;
    Row {
        attack: "Bad credentials (expired, not yet valid, revoked by a newer list, another program's root) and replayed possession proofs, repeated for 1 s",
        outcome: "`credential_rejected`, close 4401; replayed answer to a fresh challenge: `possession_failed`, close 4401".into(),
        refused: format!("{rejected} credentials and {replays} replays refused, 0 admitted"),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    canary.end().await;
}

/// Admission without addresses (`docs/admission.md`): a flood of connections from one
/// address closes the `auto` gate (new connections per second above the setting); the
/// flood's connections that do not pay are refused — version-1 ones with
/// `too_many_connections` (1013), those that declare the feature with `proof_required`
/// (4428) — while an SDK peer and an SDK seeker behind the *same* address pay a proof each
/// and chat. The per-source cap is off, as behind a reverse proxy or a hospital's NAT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_pays_while_clients_behind_it_chat() {
    const FLOOD: usize = 400;
    let _serial = exclusive().await;
    let mut relay = AbuseRelay::start(&[
        "--max-connections-per-source",
        "0",
        "--admission",
        "auto",
        "--admission-new-per-second",
        "50",
    ]);
    let mut canary = Canary::open(&mut relay).await;
    let before = canary.baseline().await;
    let memory = MemorySampler::start(relay.pid());
    let addr = relay.process.addr;
    let attack = async move {
        let (mut welcomed, mut busy, mut required) = (0, 0, 0);
        let started = Instant::now();
        for i in 0..FLOOD {
            let tcp = tcp_from(addr, Some(loopback(2))).await.unwrap();
            // Every other attacker knows the feature but does not pay.
            let url = if i % 2 == 0 {
                format!("ws://{addr}/v1/ws")
            } else {
                format!("ws://{addr}/v1/ws?features=admission")
            };
            let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
            ws.send(Message::Text(hello_json().into())).await.unwrap();
            let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap();
            let Some(Ok(Message::Text(text))) = first else {
                panic!("{first:?}")
            };
            match RelayFrame::from_json(text.as_bytes()).unwrap() {
                RelayFrame::Welcome { .. } => welcomed += 1,
                RelayFrame::Error { code, .. } => {
                    let close = tokio::time::timeout(Duration::from_secs(5), ws.next())
                        .await
                        .unwrap();
                    let Some(Ok(Message::Close(Some(close)))) = close else {
                        panic!("{close:?}")
                    };
                    match code {
                        ErrorCode::TooManyConnections => {
                            assert_eq!(i % 2, 0, "only version-1 clients hear busy");
                            assert_eq!(u16::from(close.code), 1013);
                            busy += 1;
                        }
                        ErrorCode::ProofRequired => {
                            assert_eq!(i % 2, 1);
                            assert_eq!(u16::from(close.code), 4428);
                            required += 1;
                        }
                        other => panic!("{other:?}"),
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        (welcomed, busy, required, started.elapsed())
    };
    let ((welcomed, busy, required, took), during) = during_attack(&mut canary, attack).await;

    // Behind the same address, while the gate is closed: the SDK pays and chats.
    let started = Instant::now();
    let url = relay.url();
    let credential = relay.fixture.supporter();
    let mut peer = confidant_client::Peer::connect(
        &url,
        PROGRAM,
        credential.peer_credential(),
        confidant_client::PeerOptions::default(),
    )
    .await
    .expect("the peer pays and gets in");
    peer.set_availability(confidant_client::AvailabilitySettings {
        capacity: 1,
        auto_accept: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut seeker = confidant_client::Seeker::connect(
        &url,
        PROGRAM,
        relay.fixture.root().public(),
        confidant_client::SeekerOptions::default(),
    )
    .await
    .expect("the seeker pays and gets in");
    let admitted_in = started.elapsed();
    seeker.seek(SeekPreferences::default()).await.unwrap();
    confidant_tests::sdk_support::seeker_until(&mut seeker, |e| {
        matches!(e, confidant_client::SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    seeker.send_text("behind the same NAT").await.unwrap();
    let (text, _) = confidant_tests::sdk_support::peer_until(&mut peer, |e| match e {
        confidant_client::PeerEvent::Message { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "behind the same NAT");
    let memory = memory.finish().await;

    assert!(
        welcomed < 100,
        "the gate closed early in the flood: {welcomed} got in"
    );
    assert_eq!(welcomed + busy + required, FLOOD);
    let m = relay.metrics().await;
    let get = |name: &str| m.get(name).copied().unwrap_or(0.0);
    // The SDK peer and seeker: each asked once (`missing`), each paid once.
    assert_eq!(get("confidant_admission_accepted_total"), 2.0, "{m:#?}");
    assert_eq!(get("confidant_admission_challenges_total"), 2.0, "{m:#?}");
    assert_eq!(
        get("confidant_admission_refused_total{reason=\"version_1\"}"),
        busy as f64
    );
    assert_eq!(
        get("confidant_admission_refused_total{reason=\"missing\"}"),
        (required + 2) as f64
    );
    Canary::assert_normal(before, during, "connection flood with admission");
    memory.assert_growth_below(MEMORY_LIMIT_KIB, "connection flood with admission");
    Row {
        attack: "Connection flood from one address, per-source cap off, admission auto (50 new/s)",
        outcome: "gate closes; version-1: `too_many_connections` 1013; with the feature and no proof: `proof_required` 4428; SDK peer + seeker behind the same address pay and chat".into(),
        refused: format!(
            "{FLOOD} in {:.1} s: {welcomed} in before the gate closed, {busy} busy, {required} proof_required; SDK pair admitted in {} ms",
            took.as_secs_f64(),
            admitted_in.as_millis()
        ),
        memory: memory.describe(),
        canary: canary_figures(before, during),
    }
    .print();
    drop(seeker);
    drop(peer);
    canary.end().await;
}
