//! The SDK over `wss://` against the relay's built-in TLS: it connects when the relay's
//! certificate chains to the CA the app trusts, and refuses — with a clear `tls_failed`
//! error, never a hang — a certificate from another CA, one not in the public roots, one for
//! another name, and a plain `ws://` client talking to the TLS port. Each refusal leaves the
//! relay serving; a peer and a seeker then chat over TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_client::{
    ClientError, Peer, PeerEvent, PeerOptions, SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
    TlsTrust,
};
use confidant_relay::RelayConfig;
use confidant_tests::sdk_support::{go_available, peer_until, seeker_until};
use confidant_tests::tls::{write_ca_as_leaf, write_self_signed};
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

fn seeker_options(trust: TlsTrust) -> SeekerOptions {
    SeekerOptions {
        tls: trust,
        connect_timeout: Duration::from_secs(5),
        ..SeekerOptions::default()
    }
}

async fn seeker_error(url: &str, fixture: &ProgramFixture, trust: TlsTrust) -> ClientError {
    Seeker::connect(url, PROGRAM, fixture.root().public(), seeker_options(trust))
        .await
        .expect_err("the connection must be refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_connects_only_to_a_certificate_the_app_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let relay_cert = write_self_signed(dir.path(), "relay");
    let (files, relay_ca) = (relay_cert.files, relay_cert.pem);
    let other_ca = write_self_signed(dir.path(), "other").pem;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let supporter = fixture.supporter();
    let mut config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![fixture.program_config()],
    );
    config.limits = test_limits();
    config.tls = Some(files);
    let relay = TestRelay::start_with(config).await;
    let port = relay.addr.port();
    let url = format!("wss://localhost:{port}/v1/ws");
    let trusted = TlsTrust::from_pem(relay_ca.as_bytes()).unwrap();

    // Not in the public roots (the default trust).
    let error = seeker_error(&url, &fixture, TlsTrust::default()).await;
    assert_eq!(error.code(), "tls_failed", "{error}");
    assert!(
        error
            .to_string()
            .contains("does not chain to a CA this client trusts"),
        "{error}"
    );
    // Signed by another CA than the one trusted.
    let error = seeker_error(
        &url,
        &fixture,
        TlsTrust::from_pem(other_ca.as_bytes()).unwrap(),
    )
    .await;
    assert_eq!(error.code(), "tls_failed", "{error}");
    // The trusted certificate, but presented for a name it does not carry.
    let error = seeker_error(
        &format!("wss://127.0.0.1:{port}/v1/ws"),
        &fixture,
        trusted.clone(),
    )
    .await;
    assert_eq!(error.code(), "tls_failed", "{error}");
    assert!(
        error
            .to_string()
            .contains("is not for the host name in the relay URL"),
        "{error}"
    );
    // A plain WebSocket to the TLS port fails, within the timeout, without TLS.
    let error = seeker_error(
        &format!("ws://localhost:{port}/v1/ws"),
        &fixture,
        trusted.clone(),
    )
    .await;
    assert!(
        matches!(
            error,
            ClientError::Connect(_) | ClientError::ConnectionClosed { .. }
        ),
        "{error}"
    );

    // The relay is still serving: a peer and a seeker chat over TLS.
    let mut peer = Peer::connect(
        &url,
        PROGRAM,
        supporter.peer_credential(),
        PeerOptions {
            tls: trusted.clone(),
            ..PeerOptions::default()
        },
    )
    .await
    .expect("the peer connects over wss and proves its key");
    go_available(&mut peer, 1, true).await;
    let mut seeker = Seeker::connect(
        &url,
        PROGRAM,
        fixture.root().public(),
        seeker_options(trusted),
    )
    .await
    .expect("the seeker connects over wss");
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    seeker.send_text("over tls, end to end").await.unwrap();
    let (text, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Message { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "over tls, end to end");
    let stats = relay.stats().await;
    assert_eq!(stats.active_chats, 1, "{stats:?}");
}

/// A CA certificate (basicConstraints CA:TRUE, as a plain `openssl req -x509` makes) served
/// as the relay's own — the relay itself refuses to start with one, but a reverse proxy in
/// front of it may serve one. The SDK says what to fix instead of rustls's
/// `Other(OtherError(CaUsedAsEndEntity))`. The TLS server here is a bare rustls listener
/// standing in for that proxy: the handshake fails before anything of ours is spoken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_as_the_servers_own_is_explained() {
    use rustls::pki_types::pem::PemObject as _;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca_as_leaf(dir.path(), "proxy");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&ca.files.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ca.der.clone().into()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        // One handshake attempt (bounded by the client's refusal), then done.
        if let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let fixture = ProgramFixture::new(PROGRAM);
    let error = seeker_error(
        &format!("wss://localhost:{port}/v1/ws"),
        &fixture,
        TlsTrust::from_pem(ca.pem.as_bytes()).unwrap(),
    )
    .await;
    let text = error.to_string();
    assert_eq!(error.code(), "tls_failed", "{text}");
    assert!(
        text.contains("is a CA certificate (basicConstraints CA:TRUE)")
            && text.contains("basicConstraints CA:FALSE")
            && text.contains("docs/operators.md#tls"),
        "{text}"
    );
    assert!(!text.contains("CaUsedAsEndEntity"), "{text}");
    server.abort();
}
