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
        RelayFrame::Welcome { v, role, program } => {
            assert_eq!((v, role), (1, Role::Seeker));
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
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream
        .write_all(b"GET /v1/programs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(confidant_tests::WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(response).unwrap();
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
