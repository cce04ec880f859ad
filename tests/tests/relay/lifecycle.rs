//! Connection lifecycle: hello/welcome, programs, peer presence and possession proof.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use confidant_proto::{ClientFrame, ErrorCode, ProgramInfo, RelayFrame, Role};
use confidant_tests::{ProgramFixture, RawClient, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

async fn relay_with(fixture: &ProgramFixture) -> TestRelay {
    TestRelay::start(vec![fixture.program_config()], test_limits()).await
}

#[tokio::test]
async fn hello_gets_welcome_with_program_and_resources() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    let mut client = RawClient::connect(&relay).await;
    client.hello(Role::Seeker, PROGRAM).await;
    match client.frame().await {
        RelayFrame::Welcome {
            v,
            role,
            program,
            features,
            resume,
        } => {
            assert_eq!((v, role), (1, Role::Seeker));
            assert_eq!(resume, None);
            // A version-1 hello (no features) gets a version-1 welcome, member for member.
            assert_eq!(features, None);
            assert_eq!(program.id, PROGRAM);
            assert_eq!(program.resources[0].phone.as_deref(), Some("613-562-5211"));
            assert_eq!(program.root_key.len(), 64);
        }
        other => panic!("{other:?}"),
    }
    relay.wait_idle(1).await;
}

#[tokio::test]
async fn programs_endpoint_lists_programs() {
    let a = ProgramFixture::new(PROGRAM);
    let b = ProgramFixture::new("toh-peer-mentoring");
    let relay = TestRelay::start(vec![a.program_config(), b.program_config()], test_limits()).await;
    let text = http(
        &relay,
        "GET /v1/programs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    let programs: Vec<ProgramInfo> = serde_json::from_str(body).unwrap();
    let ids: Vec<&str> = programs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec![PROGRAM, "toh-peer-mentoring"]);
}

#[tokio::test]
async fn wrong_version_and_unknown_program_are_refused() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    let mut client = RawClient::connect(&relay).await;
    client
        .send(&ClientFrame::Hello {
            v: 9,
            role: Role::Seeker,
            program: PROGRAM.into(),
            features: None,
            chat_features: None,
        })
        .await;
    client.expect_fatal(ErrorCode::UnsupportedVersion).await;
    let mut client = RawClient::connect(&relay).await;
    client.hello(Role::Seeker, "no-such-program").await;
    client.expect_fatal(ErrorCode::UnknownProgram).await;
    relay.wait_idle(0).await;
}

#[tokio::test]
async fn hello_timeout_closes() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.hello_timeout = Duration::from_millis(200);
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let mut client = RawClient::connect(&relay).await;
    client.expect_fatal(ErrorCode::HelloTimeout).await;
    // A peer that never proves is timed out the same way.
    let mut peer = RawClient::connect(&relay).await;
    peer.hello(Role::Peer, PROGRAM).await;
    assert!(matches!(peer.frame().await, RelayFrame::Welcome { .. }));
    peer.expect_fatal(ErrorCode::HelloTimeout).await;
    relay.wait_idle(0).await;
}

#[tokio::test]
async fn valid_peer_is_verified() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    let credential = fixture.supporter();
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(2, false).await;
    relay.wait_stats(|s| s.available_peers == 1).await;
    peer.close().await;
    relay.wait_idle(0).await;
}

async fn present_expect(relay: &TestRelay, program: &str, frame: ClientFrame, code: ErrorCode) {
    let mut peer = RawClient::connect(relay).await;
    peer.hello(Role::Peer, program).await;
    assert!(matches!(peer.frame().await, RelayFrame::Welcome { .. }));
    peer.send(&frame).await;
    peer.expect_fatal(code).await;
}

#[tokio::test]
async fn bad_chains_are_rejected() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut other = ProgramFixture::new("toh-peer-mentoring");
    let relay = relay_with(&fixture).await;
    // Expired.
    let expired = fixture.expired_supporter();
    present_expect(
        &relay,
        PROGRAM,
        expired.present_frame(),
        ErrorCode::CredentialRejected,
    )
    .await;
    // Another program's credential.
    let foreign = other.supporter();
    present_expect(
        &relay,
        PROGRAM,
        foreign.present_frame(),
        ErrorCode::CredentialRejected,
    )
    .await;
    // Tampered supporter certificate.
    let mut tampered = fixture.supporter();
    let last = tampered.supporter_certificate.len() - 1;
    tampered.supporter_certificate[last] ^= 1;
    present_expect(
        &relay,
        PROGRAM,
        tampered.present_frame(),
        ErrorCode::CredentialRejected,
    )
    .await;
    // Revoked (the presented list names it).
    let revoked = fixture.supporter();
    fixture.revoke(&[revoked.serial]);
    let revoked = confidant_tests::SupporterCredential {
        revocation_list: fixture.revocation_list.clone(),
        ..revoked
    };
    // Revoked at login: the code says so (not a generic rejection), so the supporter knows
    // to ask the program rather than retry.
    present_expect(
        &relay,
        PROGRAM,
        revoked.present_frame(),
        ErrorCode::CredentialRevoked,
    )
    .await;
    relay.wait_idle(0).await;
}

#[tokio::test]
async fn the_relay_keeps_the_newest_list_a_peer_presented() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    let victim = fixture.supporter();
    let old_list = victim.revocation_list.clone();
    // A peer presents a newer list revoking `victim`...
    fixture.revoke(&[victim.serial]);
    let honest = fixture.supporter();
    let _peer = RawClient::peer(&relay, PROGRAM, &honest).await;
    // ...so `victim`, presenting the old list, is still refused.
    let stale = confidant_tests::SupporterCredential {
        revocation_list: old_list,
        ..victim
    };
    present_expect(
        &relay,
        PROGRAM,
        stale.present_frame(),
        ErrorCode::CredentialRevoked,
    )
    .await;
}

#[tokio::test]
async fn wrong_and_replayed_possession_answers_fail() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    let credential = fixture.supporter();
    // Wrong answer: garbage.
    let mut peer = RawClient::connect(&relay).await;
    peer.hello(Role::Peer, PROGRAM).await;
    peer.frame().await;
    peer.send(&credential.present_frame()).await;
    let RelayFrame::Challenge { challenge } = peer.frame().await else {
        panic!("challenge")
    };
    let first_answer = credential.answer(challenge.as_bytes());
    peer.send(&ClientFrame::Prove {
        answer: vec![0_u8; first_answer.len()].into(),
    })
    .await;
    peer.expect_fatal(ErrorCode::PossessionFailed).await;
    // Replay: a valid answer to an earlier challenge does not answer a new one.
    let mut peer = RawClient::connect(&relay).await;
    peer.hello(Role::Peer, PROGRAM).await;
    peer.frame().await;
    peer.send(&credential.present_frame()).await;
    assert!(matches!(peer.frame().await, RelayFrame::Challenge { .. }));
    peer.send(&ClientFrame::Prove {
        answer: first_answer.into(),
    })
    .await;
    peer.expect_fatal(ErrorCode::PossessionFailed).await;
    // Someone else's key cannot answer for this certificate.
    let impostor = fixture.supporter();
    let mut peer = RawClient::connect(&relay).await;
    peer.hello(Role::Peer, PROGRAM).await;
    peer.frame().await;
    peer.send(&credential.present_frame()).await;
    let RelayFrame::Challenge { challenge } = peer.frame().await else {
        panic!("challenge")
    };
    let forged = confidant_crypto::answer_possession_challenge(
        &impostor.secret,
        &credential.supporter_certificate,
        challenge.as_bytes(),
    );
    match forged {
        Ok(answer) => {
            peer.send(&ClientFrame::Prove {
                answer: answer.into(),
            })
            .await;
            peer.expect_fatal(ErrorCode::PossessionFailed).await;
        }
        // The impostor cannot even decrypt the challenge: also a pass.
        Err(_) => peer.close().await,
    }
    relay.wait_idle(0).await;
}

#[tokio::test]
async fn connection_limit_refuses_with_try_again_later() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.max_connections = 1;
    let relay = TestRelay::start(vec![fixture.program_config()], limits).await;
    let _first = RawClient::seeker(&relay, PROGRAM).await;
    let mut second = RawClient::connect(&relay).await;
    second.expect_fatal(ErrorCode::TooManyConnections).await;
    relay.wait_stats(|s| s.connections == 1).await;
}

/// One raw HTTP/1.1 request to the relay; the whole response as text.
async fn http(relay: &TestRelay, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(confidant_tests::WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Every response carries the security headers — `/v1/programs` and the 404/405 answers too,
/// which had none — and a WebSocket upgrade from a foreign page is refused with 403 (it got
/// 101 before). No `Origin` (the CLI, apps) and the relay's own origin are accepted.
#[tokio::test]
async fn every_response_is_hardened_and_foreign_origins_are_refused() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = relay_with(&fixture).await;
    for request in [
        "GET /v1/programs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /no-such-page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /v1/programs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let response = http(&relay, request).await.to_ascii_lowercase();
        for header in [
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
            "x-frame-options: deny",
            "cache-control: no-store",
            "content-security-policy: ",
        ] {
            assert!(
                response.contains(header),
                "{header} missing from:\n{response}"
            );
        }
        // Plain HTTP here (the relay does not serve TLS itself): no HSTS.
        assert!(
            !response.contains("strict-transport-security"),
            "{response}"
        );
    }
    let upgrade = |origin: &str| {
        format!(
            "GET /v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n",
            relay.addr
        )
    };
    // The 403 keeps the connection (the request asked for an upgrade, not a close): read
    // until the body has arrived.
    let foreign = {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
        stream
            .write_all(upgrade("Origin: https://evil.example\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = Vec::new();
        let mut chunk = [0_u8; 1024];
        while !String::from_utf8_lossy(&response).contains("origin_not_allowed") {
            let n = tokio::time::timeout(confidant_tests::WAIT, stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(
                n > 0,
                "closed early: {}",
                String::from_utf8_lossy(&response)
            );
            response.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&response).into_owned()
    };
    assert!(foreign.starts_with("HTTP/1.1 403"), "{foreign}");
    // The upgrade responses are read only up to their head: the connection stays open.
    for origin in [String::new(), format!("Origin: http://{}\r\n", relay.addr)] {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
        stream.write_all(upgrade(&origin).as_bytes()).await.unwrap();
        let mut head = [0_u8; 12];
        tokio::time::timeout(confidant_tests::WAIT, stream.read_exact(&mut head))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 101", "origin {origin:?}");
    }
}

/// With `?features=program-details` (and in `welcome` with the feature), the program
/// description carries emergency help, the confidentiality statement, departments and
/// labels; without it, the version-1 description, member for member.
#[tokio::test]
async fn program_details_only_when_asked() {
    let fixture = ProgramFixture::new(PROGRAM);
    let mut config = fixture.program_config();
    config.details.emergency = vec![confidant_proto::Resource {
        title: "Emergency services".into(),
        url: None,
        phone: Some("911".into()),
        email: None,
    }];
    config
        .details
        .confidentiality
        .insert("en".into(), "Nothing is recorded.".into());
    config.details.departments = vec!["Emergency Medicine".into()];
    let relay = TestRelay::start(vec![config], test_limits()).await;
    let body = |response: String| -> serde_json::Value {
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    let plain = body(
        http(
            &relay,
            "GET /v1/programs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert!(plain[0].get("emergency").is_none(), "{plain}");
    let detailed = body(
        http(
            &relay,
            "GET /v1/programs?features=x-other,program-details HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert_eq!(detailed[0]["emergency"][0]["phone"], "911");
    assert_eq!(detailed[0]["confidentiality"]["en"], "Nothing is recorded.");
    assert_eq!(detailed[0]["departments"][0], "Emergency Medicine");
    assert_eq!(detailed[0]["labels"], serde_json::json!({}));
    // The SDK asks for it in hello and gets it in welcome.
    let seeker = confidant_client::Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        confidant_client::SeekerOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        seeker.features(),
        [
            "chat-features",
            "program-details",
            "pass",
            "queue-none",
            "resume",
            "urgency"
        ]
    );
    assert_eq!(
        seeker.program().departments.as_deref(),
        Some(&["Emergency Medicine".to_owned()][..])
    );
}
