//! The real binary's admin listener, metrics, logs and per-source limit: aggregate
//! figures only, no canary, address, port or key anywhere — in `/metrics` or in the logs
//! at `trace` — and the Grafana dashboard only queries metrics the relay exports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use confidant_proto::{ClientFrame, SeekPreferences};
use confidant_tests::fixtures::SupporterSpec;
use confidant_tests::ops_support::{
    RelayProcess, client_ports, contains_number, hex, peer_at, seeker_at, write_config,
};
use confidant_tests::{ProgramFixture, RawClient};

const PROGRAM: &str = "resident-peer-support";
const CANARY_NAME: &str = "CanaryName-5e1f0c";
const CANARY_DEPARTMENT: &str = "CanaryDept-9a7b3d";
const CANARY_TEXT: &[u8] = b"CanaryText-0d4e8b: a message the relay must never show";

fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn metric(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name} in {metrics:#?}"))
}

struct Secrets {
    words: Vec<String>,
    ports: Vec<u16>,
}

fn assert_clean(what: &str, text: &str, secrets: &Secrets) {
    for word in &secrets.words {
        assert!(
            !text.contains(word.as_str()),
            "{what} contains {word:?}:\n{text}"
        );
    }
    for port in &secrets.ports {
        assert!(
            !contains_number(text, *port),
            "{what} contains client port {port}:\n{text}"
        );
    }
}

/// Starts the relay from a config, runs a chat with canaries, and checks `/metrics` and
/// the logs during and after it.
#[tokio::test]
async fn metrics_and_logs_carry_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "", "Counselling line");
    let relay = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--log-level",
            "trace",
            "--log-format",
            "json",
            "--frames-per-second",
            "1",
            "--frame-burst",
            "30",
        ],
        &[],
    );
    let (status, body) = relay.admin_get("/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _) = relay.admin_get("/readyz").await;
    assert_eq!(status, 200);

    let credential = fixture.supporter_with(SupporterSpec {
        display_name: CANARY_NAME.into(),
        department: CANARY_DEPARTMENT.into(),
        ..confidant_tests::default_supporter_spec()
    });
    let mut peer = peer_at(&relay.ws_url(), PROGRAM, &credential).await;
    peer.available(2, false).await;
    let mut seeker = seeker_at(&relay.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let peer_chat = peer.accept(offer).await;
    let seeker_chat = seeker.matched().await;
    for _ in 0..3 {
        seeker.send_data(seeker_chat, CANARY_TEXT).await;
        assert_eq!(peer.data().await.1, CANARY_TEXT);
        peer.send_data(peer_chat, CANARY_TEXT).await;
        assert_eq!(seeker.data().await.1, CANARY_TEXT);
    }
    // A malformed frame and a flood, for the rejection and rate-limit counters.
    let mut rude = RawClient::connect_url(&relay.ws_url()).await;
    rude.send_text("{not json").await;
    // Seeks for a topic the program does not offer: refused (non-fatal), never queued.
    let mut flood = seeker_at(&relay.ws_url(), PROGRAM).await;
    let unoffered = SeekPreferences {
        topic: Some("no-such-topic".into()),
        ..SeekPreferences::default()
    };
    for _ in 0..40 {
        flood
            .send(&ClientFrame::Seek {
                preferences: unoffered.clone(),
                urgent: false,
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let secrets = Secrets {
        words: vec![
            CANARY_NAME.into(),
            CANARY_DEPARTMENT.into(),
            "CanaryText".into(),
            hex(&fixture.root().public()),
            hex(&credential.secret.public()),
            "127.0.0.1:".into(),
        ],
        ports: client_ports(relay.addr.port()),
    };
    assert!(secrets.ports.len() >= 2, "{:?}", secrets.ports);

    // During the chat.
    let (status, text) = relay.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert_clean("/metrics", &text, &secrets);
    let m = parse_metrics(&text);
    assert!(metric(&m, "confidant_connections") >= 2.0, "{text}");
    assert_eq!(metric(&m, "confidant_chats_active"), 1.0, "{text}");
    assert_eq!(metric(&m, "confidant_queue_length"), 0.0);
    assert_eq!(metric(&m, "confidant_peers_available"), 1.0, "{text}");
    assert!(metric(&m, "confidant_offers_total") >= 1.0);
    assert_eq!(metric(&m, "confidant_matches_total"), 1.0);
    assert_eq!(metric(&m, "confidant_frames_relayed_total"), 6.0, "{text}");
    assert!(metric(&m, "confidant_bytes_relayed_total") >= 6.0 * CANARY_TEXT.len() as f64);
    assert_eq!(metric(&m, "confidant_wait_seconds_count"), 1.0);
    assert_eq!(metric(&m, "confidant_ready"), 1.0);
    assert!(
        metric(&m, "confidant_rejections_total{code=\"malformed_frame\"}") >= 1.0,
        "{text}"
    );
    assert!(metric(&m, "confidant_rate_limited_total") >= 1.0, "{text}");

    // After it.
    seeker.send(&ClientFrame::End { chat: seeker_chat }).await;
    seeker.chat_ended().await;
    peer.chat_ended().await;
    let (_, text) = relay.admin_get("/metrics").await;
    assert_clean("/metrics", &text, &secrets);
    let m = parse_metrics(&text);
    assert_eq!(metric(&m, "confidant_chats_active"), 0.0);
    assert_eq!(metric(&m, "confidant_chat_duration_seconds_count"), 1.0);
    assert_eq!(
        metric(&m, "confidant_chats_ended_total{reason=\"ended\"}"),
        1.0,
        "{text}"
    );
    assert_dashboard_queries_exist(&text);

    // The logs at trace level, after everything: nothing personal either.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = relay.output.text();
    assert!(logs.contains("chat_started"), "trace logs are on:\n{logs}");
    let mut secrets = secrets;
    // The relay's own listening address is its configuration, not a client's.
    secrets.words.retain(|w| w != "127.0.0.1:");
    assert_clean("logs", &logs, &secrets);
    for line in relay.logs.text().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
}

fn assert_dashboard_queries_exist(scrape: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "dashboard has {} queries", exprs.len());
    let exported: Vec<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    for expr in &exprs {
        let names: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("confidant_"))
            .collect();
        assert!(!names.is_empty(), "query names no relay metric: {expr}");
        for name in names {
            assert!(
                exported.contains(&name),
                "dashboard queries {name}, not exported:\n{expr}"
            );
        }
    }
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "expr" {
                    if let Some(expr) = value.as_str() {
                        out.push(expr.to_owned());
                    }
                } else {
                    collect_exprs(value, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn connections_per_source_are_limited() {
    let relay = RelayProcess::start(
        &[
            "--dev",
            "--dev-no-demo-peer",
            "--max-connections-per-source",
            "2",
        ],
        &[],
    );
    let first = RawClient::connect_url(&relay.ws_url()).await;
    let _second = RawClient::connect_url(&relay.ws_url()).await;
    let refused = tokio_tungstenite::connect_async(relay.ws_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| ())),
    }
    first.close().await;
    // The slot comes back once the connection is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio_tungstenite::connect_async(relay.ws_url())
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, text) = relay.admin_get("/metrics").await;
    let refused = parse_metrics(&text)["confidant_source_limited_total"];
    assert!(refused >= 1.0, "{text}");
}
