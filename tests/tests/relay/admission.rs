//! Admission without addresses (`proto/spec.md`, "Admission"; `docs/admission.md`): under
//! load the relay asks new connections for a proof of work bound to a fresh challenge; a
//! missing, wrong, stale or reused proof gets its catalogue code; version-1 clients are
//! untouched while the gate is open; the SDK pays and gets in.

use std::time::{Duration, Instant};

use confidant_client::{
    AvailabilitySettings, Peer, PeerEvent, PeerOptions, SeekPreferences, Seeker, SeekerEvent,
    SeekerOptions,
};
use confidant_proto::{AdmissionChallenge, ErrorCode, RelayFrame, Role};
use confidant_relay::{AdmissionMode, Limits};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, RawClient, Received, TestRelay, test_limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PROGRAM: &str = "resident-peer-support";
/// Small enough for a debug build; the figures for real difficulties are in the docs.
const DIFFICULTY: u8 = 10;

fn gated(mode: AdmissionMode) -> Limits {
    Limits {
        admission: mode,
        admission_difficulty: DIFFICULTY,
        ..test_limits()
    }
}

/// `GET /v1/admission` over a plain socket.
async fn challenge(relay: &TestRelay) -> AdmissionChallenge {
    let mut tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(b"GET /v1/admission HTTP/1.0\r\nHost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{text}"
    );
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    serde_json::from_str(body).unwrap()
}

async fn proof(relay: &TestRelay) -> String {
    let c = challenge(relay).await;
    assert_eq!(c.difficulty, DIFFICULTY);
    let nonce = confidant_client::solve_admission_challenge(&c.challenge, c.difficulty).unwrap();
    format!("{}.{nonce}", c.challenge)
}

fn url(relay: &TestRelay, query: &str) -> String {
    format!("{}?{query}", relay.ws_url())
}

/// Opens a socket at `query`, says a version-1 hello, and returns the first answer.
async fn hello_at(relay: &TestRelay, query: &str) -> (RawClient, RelayFrame) {
    let mut client = RawClient::connect_url(&url(relay, query)).await;
    client.hello(Role::Seeker, PROGRAM).await;
    let first = client.frame().await;
    (client, first)
}

async fn refused_with(relay: &TestRelay, query: &str, code: ErrorCode) {
    let mut client = RawClient::connect_url(&url(relay, query)).await;
    client.hello(Role::Seeker, PROGRAM).await;
    client.expect_fatal(code).await;
}

#[tokio::test]
async fn missing_wrong_stale_and_reused_proofs_get_their_codes() {
    let fixture = ProgramFixture::new(PROGRAM);
    let limits = Limits {
        admission_validity: Duration::from_millis(600),
        ..gated(AdmissionMode::Always)
    };
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    assert!(challenge(&relay).await.required);

    // Missing.
    refused_with(&relay, "features=admission", ErrorCode::ProofRequired).await;
    // A version-1 client (no feature) hears only a code it knows.
    refused_with(&relay, "", ErrorCode::TooManyConnections).await;
    // Wrong: a nonce that does not do the work, garbage, and a challenge not from this relay.
    let c = challenge(&relay).await;
    let good = confidant_client::solve_admission_challenge(&c.challenge, c.difficulty).unwrap();
    // The solver returns the smallest nonce that works, so nonce 0 does not (unless it is
    // the solution, one chance in 2^10).
    if good > 0 {
        refused_with(
            &relay,
            &format!("features=admission&proof={}.0", c.challenge),
            ErrorCode::ProofRejected,
        )
        .await;
    }
    refused_with(
        &relay,
        "features=admission&proof=garbage",
        ErrorCode::ProofRejected,
    )
    .await;
    let other =
        TestRelay::start(vec![fixture.program_config()], gated(AdmissionMode::Always)).await;
    let foreign = proof(&other).await;
    refused_with(
        &relay,
        &format!("features=admission&proof={foreign}"),
        ErrorCode::ProofRejected,
    )
    .await;
    // Good, once; the same proof again is reused.
    let good = proof(&relay).await;
    let (_admitted, first) = hello_at(&relay, &format!("features=admission&proof={good}")).await;
    assert!(matches!(first, RelayFrame::Welcome { .. }), "{first:?}");
    refused_with(
        &relay,
        &format!("features=admission&proof={good}"),
        ErrorCode::ProofRejected,
    )
    .await;
    // Stale: solved, then presented after the validity.
    let stale = proof(&relay).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    refused_with(
        &relay,
        &format!("features=admission&proof={stale}"),
        ErrorCode::ProofRejected,
    )
    .await;
}

#[tokio::test]
async fn with_the_gate_open_version_1_clients_are_untouched() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    assert!(!challenge(&relay).await.required);
    // No query at all, the feature without a proof, and even a wrong proof: all welcome.
    for query in ["", "features=admission", "features=admission&proof=x.1"] {
        let (_client, first) = hello_at(&relay, query).await;
        assert!(
            matches!(first, RelayFrame::Welcome { .. }),
            "{query}: {first:?}"
        );
    }
    let mut plain = RawClient::connect(&relay).await;
    plain.hello(Role::Seeker, PROGRAM).await;
    assert!(matches!(plain.frame().await, RelayFrame::Welcome { .. }));
    let off = TestRelay::start(vec![fixture.program_config()], gated(AdmissionMode::Off)).await;
    let mut plain = RawClient::connect(&off).await;
    plain.hello(Role::Seeker, PROGRAM).await;
    assert!(matches!(plain.frame().await, RelayFrame::Welcome { .. }));
}

/// A flood of connections from one address (all of loopback is one address here) closes
/// the `auto` gate; the flood's connections that do not pay are refused, while an SDK
/// seeker and an SDK peer behind the same address pay a proof each and chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_closes_the_gate_and_clients_behind_the_same_address_still_chat() {
    const FLOOD: usize = 200;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let limits = Limits {
        max_connections: 1_000,
        max_connections_per_source: 0,
        admission_new_per_second: 40,
        ..gated(AdmissionMode::Auto)
    };
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    assert!(!challenge(&relay).await.required, "open before the flood");

    let started = Instant::now();
    let mut held = Vec::new();
    let (mut welcomed, mut refused) = (0, 0);
    for _ in 0..FLOOD {
        let mut client = RawClient::connect(&relay).await;
        client.hello(Role::Seeker, PROGRAM).await;
        match client.frame().await {
            RelayFrame::Welcome { .. } => {
                welcomed += 1;
                held.push(client);
            }
            RelayFrame::Error { code, .. } => {
                assert_eq!(code, ErrorCode::TooManyConnections);
                assert_eq!(client.recv().await, Received::Closed(Some(1013)));
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    let flood_time = started.elapsed();
    assert!(
        welcomed < 60,
        "the gate closed early in the flood: {welcomed} got in"
    );
    assert_eq!(welcomed + refused, FLOOD);
    assert!(challenge(&relay).await.required, "closed during the flood");

    // Behind the same address, the SDK pays and chats.
    let started = Instant::now();
    let credential = fixture.supporter();
    let mut peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .expect("the peer pays and gets in");
    peer.set_availability(AvailabilitySettings {
        capacity: 1,
        auto_accept: true,
        ..AvailabilitySettings::default()
    })
    .await
    .unwrap();
    let mut seeker = Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .expect("the seeker pays and gets in");
    let admitted_in = started.elapsed();
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    seeker.send_text("behind the hospital's NAT").await.unwrap();
    let (text, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Message { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "behind the hospital's NAT");
    println!(
        "flood: {FLOOD} connections in {flood_time:?}, {welcomed} welcomed before the gate closed, \
         {refused} refused; SDK peer + seeker admitted with proofs in {admitted_in:?}"
    );
}
