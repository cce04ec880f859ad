//! Scale-out metrics in a real `/metrics` scrape: node B is the real binary (the recorder
//! is installed by the binary), node A an in-process relay, joined through a real
//! `nats-server`. Every cluster metric name is exported with a plausible value through a
//! cross-node chat, node A's departure and the broker's loss, and every metric the Grafana
//! dashboard queries — its cluster panels included — is in the clustered scrape. And the
//! cross-node chat gauge returns to 0 when the partner's node is lost (killed) mid-chat.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::float_cmp,
    missing_docs
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use confidant_client::{PeerEvent, SeekPreferences, Seeker, SeekerEvent, SeekerOptions};
use confidant_relay::metrics;
use confidant_tests::cluster_support::{
    NatsServer, TEST_HEARTBEAT, TEST_TTL, binary_node, peer_on, start_node_with,
};
use confidant_tests::ops_support::{RelayProcess, write_config};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, test_limits};

const PROGRAM: &str = "resident-peer-support";
const ROUND_TRIPS: usize = 5;

fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn get(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("no metric {name} in {m:#?}"))
}

async fn scrape(node: &RelayProcess) -> (String, BTreeMap<String, f64>) {
    let (status, text) = node.admin_get("/metrics").await;
    assert_eq!(status, 200);
    let parsed = parse(&text);
    (text, parsed)
}

/// Scrapes until `check` holds (bounded), returning that scrape.
async fn scrape_until(
    node: &RelayProcess,
    within: Duration,
    what: &str,
    check: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> (String, BTreeMap<String, f64>) {
    let deadline = Instant::now() + within;
    loop {
        let (text, m) = scrape(node).await;
        if check(&m) {
            return (text, m);
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn dashboard_names() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("confidant_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "expr" {
                    out.extend(value.as_str().map(str::to_owned));
                } else {
                    collect_exprs(value, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// A seeker on `node` seeks and is matched with `peer` (on another node); returns the
/// seeker and the peer's chat number once the chat is ready on both sides.
async fn chat_on(
    node: &RelayProcess,
    fixture: &ProgramFixture,
    peer: &mut confidant_client::Peer,
) -> (Seeker, confidant_client::ChatNumber) {
    let mut seeker = Seeker::connect(
        &node.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .unwrap();
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (chat, _) = peer_until(peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    (seeker, chat)
}

fn exported(scrape: &str) -> Vec<&str> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_metrics_in_a_real_scrape() {
    let Some(mut nats) = NatsServer::start("cluster_metrics_in_a_real_scrape").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    // A can fall silent on request (a node alive but heard late), for the false-alarm count.
    let mute_a = Arc::new(AtomicBool::new(false));
    let mute = mute_a.clone();
    let mut a = start_node_with(
        vec![fixture.program_config()],
        test_limits(),
        &nats.url(),
        |c| {
            c.faults.mute_presence = Some(mute);
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[cluster]\nnats_url = \"{}\"\nheartbeat_ms = {}\nnode_ttl_ms = {}\n",
        nats.url(),
        TEST_HEARTBEAT.as_millis(),
        TEST_TTL.as_millis()
    );
    let config = write_config(dir.path(), &fixture, &extra, "Help line");
    let b = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--lock-memory",
            "false",
        ],
        &[],
    );

    // Every cluster name is in metrics::ALL, and exported from the first scrape.
    for name in confidant_relay::cluster::ALL_METRICS {
        assert!(metrics::ALL.contains(name), "{name} not in metrics::ALL");
    }
    let (text, _) = scrape(&b).await;
    let names = exported(&text);
    for name in confidant_relay::cluster::ALL_METRICS {
        assert!(names.contains(name), "{name} not exported:\n{text}");
    }

    // A peer on A (capacity 1, auto-accept); B hears of it from A's presence.
    let credential = fixture.supporter();
    let mut peer = peer_on(&a, PROGRAM, &credential, 1, true).await;
    let (text, m) = scrape_until(&b, Duration::from_secs(5), "saw A's peer", |m| {
        m.get(metrics::CLUSTER_REMOTE_PEERS) == Some(&1.0)
    })
    .await;
    assert_eq!(get(&m, metrics::CLUSTER_BROKER_CONNECTED), 1.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES), 1.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_CROSS_NODE_CHATS), 0.0, "{text}");

    // A seeker on B: B asks A for the peer's capacity (a granted reservation), then chats.
    let (mut seeker, chat) = chat_on(&b, &fixture, &mut peer).await;
    for i in 0..ROUND_TRIPS {
        seeker.send_text(format!("ping {i}")).await.unwrap();
        peer_until(&mut peer, |e| {
            matches!(e, PeerEvent::Message { .. }).then_some(())
        })
        .await;
        peer.send_text(chat, format!("pong {i}")).await.unwrap();
        seeker_until(&mut seeker, |e| {
            matches!(e, SeekerEvent::Message(_)).then_some(())
        })
        .await;
    }
    let (text, m) = scrape(&b).await;
    let granted = get(
        &m,
        &format!("{}{{result=\"granted\"}}", metrics::CLUSTER_RESERVATIONS),
    );
    let frames_in = get(
        &m,
        &format!("{}{{direction=\"in\"}}", metrics::CLUSTER_FRAMES),
    );
    let frames_out = get(
        &m,
        &format!("{}{{direction=\"out\"}}", metrics::CLUSTER_FRAMES),
    );
    eprintln!(
        "B during the chat: reservations granted {granted}, frames in {frames_in}, out {frames_out}"
    );
    assert_eq!(granted, 1.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_CROSS_NODE_CHATS), 1.0, "{text}");
    // Each round trip is one frame each way, on top of the Noise handshake's frames; the
    // SDK sends nothing else across, so the counts are bounded both ways.
    let bound = (ROUND_TRIPS + 8) as f64;
    assert!((ROUND_TRIPS as f64..=bound).contains(&frames_in), "{text}");
    assert!((ROUND_TRIPS as f64..=bound).contains(&frames_out), "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_BROKER_DISCONNECTS), 0.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES_LOST), 0.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES_RETURNED), 0.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES_LEFT), 0.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_INGRESS_OVERFLOWS), 0.0, "{text}");
    // The dashboard queries only names this clustered scrape exports.
    let names = exported(&text);
    for name in dashboard_names() {
        assert!(
            names.contains(&name.as_str()),
            "dashboard queries {name}, not exported:\n{text}"
        );
    }

    // The chat ends: the gauge goes back to 0.
    seeker.end().await.unwrap();
    scrape_until(&b, Duration::from_secs(5), "cross-node chat gone", |m| {
        m.get(metrics::CLUSTER_CROSS_NODE_CHATS) == Some(&0.0)
    })
    .await;

    // A false alarm: A falls silent while alive, B lets it go at the TTL, then A speaks
    // again. B counts the loss, and then the return that shows the loss was for nothing.
    mute_a.store(true, Ordering::Relaxed);
    let (text, _) = scrape_until(&b, Duration::from_secs(5), "let A go", |m| {
        m.get(metrics::CLUSTER_NODES) == Some(&0.0)
    })
    .await;
    assert_eq!(
        get(&parse(&text), metrics::CLUSTER_NODES_LOST),
        1.0,
        "{text}"
    );
    assert_eq!(
        get(&parse(&text), metrics::CLUSTER_NODES_RETURNED),
        0.0,
        "{text}"
    );
    mute_a.store(false, Ordering::Relaxed);
    let (text, m) = scrape_until(&b, Duration::from_secs(5), "heard A again", |m| {
        m.get(metrics::CLUSTER_NODES) == Some(&1.0)
            && m.get(metrics::CLUSTER_REMOTE_PEERS) == Some(&1.0)
    })
    .await;
    assert_eq!(get(&m, metrics::CLUSTER_NODES_RETURNED), 1.0, "{text}");

    // Node A shuts down (gracefully): its last word makes B forget it at once — well
    // inside the TTL — and count it as left, not lost.
    drop(peer);
    let leaving = Instant::now();
    a.shutdown(Duration::from_millis(200)).await;
    let (text, m) = scrape_until(&b, Duration::from_secs(5), "forgot node A", |m| {
        m.get(metrics::CLUSTER_NODES) == Some(&0.0)
    })
    .await;
    let forgotten = leaving.elapsed();
    eprintln!("B forgot A {forgotten:?} after A began its shutdown (TTL {TEST_TTL:?})");
    assert_eq!(get(&m, metrics::CLUSTER_REMOTE_PEERS), 0.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES_LEFT), 1.0, "{text}");
    // Only the false alarm above counts as lost; the shutdown does not.
    assert_eq!(get(&m, metrics::CLUSTER_NODES_LOST), 1.0, "{text}");
    assert_eq!(get(&m, metrics::CLUSTER_NODES_RETURNED), 1.0, "{text}");

    // The broker goes away: B says so at once and counts it.
    nats.stop();
    let (text, m) = scrape_until(&b, Duration::from_secs(5), "saw the broker go", |m| {
        m.get(metrics::CLUSTER_BROKER_CONNECTED) == Some(&0.0)
    })
    .await;
    assert_eq!(get(&m, metrics::CLUSTER_BROKER_DISCONNECTS), 1.0, "{text}");
}

/// Issue 23, item 1: the seeker's node lost the peer's node (SIGKILL) in the middle of a
/// cross-node chat. The chat ends there (the seeker is told `partner_left`), and the
/// cross-node chat gauge must fall with it — it used to stay at 1 for ever, because the
/// virtual connection of a lost node closed without forgetting its chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_chat_gauge_falls_when_the_partner_node_is_killed() {
    let Some(nats) = NatsServer::start("cross_node_chat_gauge_node_killed").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A: the peer's node, to be killed. B: the seeker's node, whose gauge is watched.
    let mut a = binary_node(&nats.url(), &fixture, dir_a.path());
    let b = binary_node(&nats.url(), &fixture, dir_b.path());
    let credential = fixture.supporter();
    let mut peer = peer_on(&a.view(), PROGRAM, &credential, 1, true).await;
    scrape_until(&b, Duration::from_secs(5), "saw A's peer", |m| {
        m.get(metrics::CLUSTER_REMOTE_PEERS) == Some(&1.0)
    })
    .await;
    let (mut seeker, _) = chat_on(&b, &fixture, &mut peer).await;
    let (text, m) = scrape(&b).await;
    assert_eq!(get(&m, metrics::CLUSTER_CROSS_NODE_CHATS), 1.0, "{text}");
    assert_eq!(get(&m, metrics::CHATS_ACTIVE), 1.0, "{text}");

    a.signal(rustix::process::Signal::KILL);
    let _ = a.wait_exit(Duration::from_secs(5));
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Ended(_)).then_some(())
    })
    .await;
    // B let A go and ended its half; the virtual connection closes before the hub hears
    // of it, so once the chat is gone from the hub the gauge must be 0 — no waiting for it.
    let (text, m) = scrape_until(&b, Duration::from_secs(5), "ended the chat", |m| {
        m.get(metrics::CHATS_ACTIVE) == Some(&0.0) && m.get(metrics::CLUSTER_NODES) == Some(&0.0)
    })
    .await;
    assert_eq!(get(&m, metrics::CLUSTER_NODES_LOST), 1.0, "{text}");
    assert_eq!(
        get(&m, metrics::CLUSTER_CROSS_NODE_CHATS),
        0.0,
        "the cross-node chat gauge leaked after the node loss:\n{text}"
    );
}
