//! The real binary's lifecycle: hot reload (SIGHUP and file polling) of revocation lists,
//! resources and limits; graceful shutdown on SIGTERM; built-in TLS with certificate reload
//! that keeps open connections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use confidant_proto::{
    ChatEndReason, ClientFrame, DataFrame, ErrorCode, RelayFrame, Role, SeekPreferences,
};
use confidant_tests::ops_support::{
    RelayProcess, peer_at, seeker_at, write_config, write_revocation_list,
};
use confidant_tests::tls::write_self_signed;
use confidant_tests::{ProgramFixture, RawClient, Received};
use futures_util::{SinkExt as _, StreamExt as _};
use rustix::process::Signal;
use tokio_tungstenite::tungstenite::Message;

const PROGRAM: &str = "resident-peer-support";

async fn matched_pair(url: &str, peer: &mut RawClient) -> (RawClient, confidant_proto::ChatNumber) {
    let mut seeker = seeker_at(url, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    peer.accept(offer).await;
    let chat = seeker.matched().await;
    (seeker, chat)
}

#[tokio::test]
async fn sighup_applies_a_new_revocation_list_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = ProgramFixture::new(PROGRAM);
    let credential = fixture.supporter();
    let config = write_config(dir.path(), &fixture, "reload_interval_secs = 0", "Line");
    let relay = RelayProcess::start(&["--config", config.to_str().unwrap()], &[]);
    let mut peer = peer_at(&relay.ws_url(), PROGRAM, &credential).await;
    peer.available(2, false).await;
    let (mut seeker, _) = matched_pair(&relay.ws_url(), &mut peer).await;

    let list = fixture.revoke(&[credential.serial]);
    write_revocation_list(&dir.path().join("revocation.list"), &list);
    // Polling is off: nothing happens until SIGHUP.
    peer.expect_silence(Duration::from_millis(300)).await;
    relay.signal(Signal::HUP);
    assert_eq!(seeker.chat_ended().await.1, ChatEndReason::Revoked);
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::Revoked);
    peer.expect_fatal(ErrorCode::CredentialRevoked).await;
    relay
        .wait_output("configuration reloaded", Duration::from_secs(5))
        .await;
    // And the revoked credential cannot come back.
    let mut again = RawClient::connect_url(&relay.ws_url()).await;
    again.hello(Role::Peer, PROGRAM).await;
    again.frame().await;
    again.send(&credential.present_frame()).await;
    again.expect_fatal(ErrorCode::CredentialRevoked).await;
    let (_, metrics) = relay.admin_get("/metrics").await;
    assert!(
        metrics.contains("confidant_peers_revoked_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("confidant_revocation_list_sequence{program=\"resident-peer-support\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn file_changes_reload_resources_and_limits_and_bad_edits_are_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "reload_interval_secs = 1", "Old line");
    let relay = RelayProcess::start(&["--config", config.to_str().unwrap()], &[]);
    let (_, body) = relay.public_get("/v1/programs").await;
    assert!(body.contains("Old line"), "{body}");

    // A broken edit is refused and the running configuration stays.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("root_key", "rootkey")).unwrap();
    relay
        .wait_output("reload failed", Duration::from_secs(10))
        .await;
    let (_, body) = relay.public_get("/v1/programs").await;
    assert!(body.contains("Old line"), "{body}");

    // A good edit: new resource, and a per-source limit of 1.
    let edited = write_config(
        dir.path(),
        &fixture,
        "reload_interval_secs = 1\n[limits]\nmax_connections_per_source = 1",
        "New line",
    );
    assert_eq!(edited, config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = relay.public_get("/v1/programs").await;
        if body.contains("New line") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reloaded:\n{}",
            relay.output.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _one = RawClient::connect_url(&relay.ws_url()).await;
    assert!(
        tokio_tungstenite::connect_async(relay.ws_url())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sigterm_tells_everyone_waits_for_chats_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = ProgramFixture::new(PROGRAM);
    let credential = fixture.supporter();
    let config = write_config(dir.path(), &fixture, "", "Line");
    let mut relay = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--shutdown-deadline",
            "3",
        ],
        &[],
    );
    let mut peer = peer_at(&relay.ws_url(), PROGRAM, &credential).await;
    peer.available(2, false).await;
    let (mut seeker, seeker_chat) = matched_pair(&relay.ws_url(), &mut peer).await;
    let mut idle = RawClient::connect_url(&relay.ws_url()).await;
    // The hub knows the idle connection before the signal: its task answers a ping (so it
    // has told the hub), and a scrape asks the hub after that. Otherwise, on a busy machine,
    // the hub may hear of it only after the drain began and never tell it `shutdown`.
    idle.ping_pong().await;
    relay.admin_get("/metrics").await;

    let started = std::time::Instant::now();
    relay.signal(Signal::TERM);
    for client in [&mut seeker, &mut peer, &mut idle] {
        assert_eq!(
            client.frame().await,
            RelayFrame::Shutdown { deadline_ms: 3_000 }
        );
    }
    // Draining: not ready, no new connections, but the chat still carries data.
    let (status, _) = relay.admin_get("/readyz").await;
    assert_eq!(status, 503);
    seeker.send_data(seeker_chat, b"still here").await;
    assert_eq!(peer.data().await.1, b"still here");
    // The deadline passes: chats end as shutdown, everyone is closed with 1001.
    assert_eq!(seeker.chat_ended().await.1, ChatEndReason::Shutdown);
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::Shutdown);
    for client in [&mut seeker, &mut peer, &mut idle] {
        client.expect_error(ErrorCode::ShuttingDown).await;
        assert_eq!(client.recv().await, Received::Closed(Some(1001)));
    }
    let status = relay.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", relay.output.text());
    assert!(started.elapsed() >= Duration::from_millis(2_500));
}

#[tokio::test]
async fn sigterm_with_no_chats_exits_promptly() {
    let mut relay = RelayProcess::start(
        &["--dev", "--dev-no-demo-peer", "--shutdown-deadline", "60"],
        &[],
    );
    let mut seeker = seeker_at(&relay.ws_url(), PROGRAM).await;
    relay.signal(Signal::INT);
    assert!(matches!(seeker.frame().await, RelayFrame::Shutdown { .. }));
    seeker.expect_fatal(ErrorCode::ShuttingDown).await;
    assert_eq!(relay.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

// ----- TLS -----

type TlsWs =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A `wss://` connection trusting exactly `root` (DER). Returns the stream and the
/// certificate the relay presented.
async fn connect_tls(addr: std::net::SocketAddr, root: &[u8]) -> (TlsWs, Vec<u8>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.to_vec().into()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .unwrap()
        .unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let url = format!("wss://localhost:{}/v1/ws", addr.port());
    let (ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    (ws, presented)
}

async fn send(ws: &mut TlsWs, frame: &ClientFrame) {
    ws.send(Message::Text(frame.to_json().into()))
        .await
        .unwrap();
}

async fn next(ws: &mut TlsWs) -> Message {
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

async fn frame(ws: &mut TlsWs) -> RelayFrame {
    loop {
        match next(ws).await {
            Message::Text(text) => {
                let frame = RelayFrame::from_json(text.as_bytes()).unwrap();
                if !matches!(frame, RelayFrame::Queued { .. }) {
                    return frame;
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a control frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn chat_over_built_in_tls_and_certificate_reload_keeps_connections() {
    let dir = tempfile::tempdir().unwrap();
    let first_cert = write_self_signed(dir.path(), "relay").der;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let credential = fixture.supporter();
    let config = write_config(dir.path(), &fixture, "reload_interval_secs = 0", "Line");
    let relay = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--tls-cert",
            dir.path().join("relay.pem").to_str().unwrap(),
            "--tls-key",
            dir.path().join("relay.key").to_str().unwrap(),
        ],
        &[],
    );
    // Plain HTTP is not served on a TLS port.
    assert!(
        tokio_tungstenite::connect_async(relay.ws_url())
            .await
            .is_err()
    );

    let (mut peer, presented) = connect_tls(relay.addr, &first_cert).await;
    assert_eq!(presented, first_cert);
    send(&mut peer, &ClientFrame::hello_v1(Role::Peer, PROGRAM)).await;
    assert!(matches!(frame(&mut peer).await, RelayFrame::Welcome { .. }));
    send(&mut peer, &credential.present_frame()).await;
    let RelayFrame::Challenge { challenge } = frame(&mut peer).await else {
        panic!("challenge")
    };
    send(
        &mut peer,
        &ClientFrame::Prove {
            answer: credential.answer(challenge.as_bytes()).into(),
        },
    )
    .await;
    assert!(matches!(
        frame(&mut peer).await,
        RelayFrame::Verified { .. }
    ));
    send(
        &mut peer,
        &ClientFrame::SetAvailability {
            status: confidant_proto::Availability::Available,
            capacity: 1,
            topics: vec![],
            languages: vec![],
            auto_accept: true,
        },
    )
    .await;
    assert!(matches!(
        frame(&mut peer).await,
        RelayFrame::AvailabilitySet { .. }
    ));

    let (mut seeker, _) = connect_tls(relay.addr, &first_cert).await;
    send(&mut seeker, &ClientFrame::hello_v1(Role::Seeker, PROGRAM)).await;
    assert!(matches!(
        frame(&mut seeker).await,
        RelayFrame::Welcome { .. }
    ));
    send(
        &mut seeker,
        &ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        },
    )
    .await;
    let RelayFrame::ChatStarted {
        chat: peer_chat, ..
    } = frame(&mut peer).await
    else {
        panic!("chat_started")
    };
    let RelayFrame::Matched {
        chat: seeker_chat, ..
    } = frame(&mut seeker).await
    else {
        panic!("matched")
    };

    // A new certificate, picked up on SIGHUP.
    let second_cert = write_self_signed(dir.path(), "relay").der;
    relay.signal(Signal::HUP);
    relay
        .wait_output("TLS certificate reloaded", Duration::from_secs(5))
        .await;
    let (_probe, presented) = connect_tls(relay.addr, &second_cert).await;
    assert_eq!(presented, second_cert);

    // The chat opened under the first certificate still works both ways.
    seeker
        .send(Message::Binary(
            DataFrame::encode(seeker_chat, b"over tls").unwrap().into(),
        ))
        .await
        .unwrap();
    let Message::Binary(bytes) = next(&mut peer).await else {
        panic!("data")
    };
    assert_eq!(
        DataFrame::decode(&bytes).unwrap().noise_message,
        b"over tls"
    );
    peer.send(Message::Binary(
        DataFrame::encode(peer_chat, b"and back").unwrap().into(),
    ))
    .await
    .unwrap();
    let Message::Binary(bytes) = next(&mut seeker).await else {
        panic!("data")
    };
    assert_eq!(
        DataFrame::decode(&bytes).unwrap().noise_message,
        b"and back"
    );
}
