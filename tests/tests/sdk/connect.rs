//! Connecting through the SDK: clear errors for a wrong program, a peer whose credential
//! the relay refuses, and a key that does not match its certificate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_client::{
    ClientError, ErrorCode, Peer, PeerCredential, PeerOptions, Seeker, SeekerOptions,
};
use confidant_crypto::SupporterSecret;
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test]
async fn unknown_program_and_bad_url_are_clear_errors() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let error = Seeker::connect(
        &relay.ws_url(),
        "no-such-program",
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.relay_code(),
        Some(ErrorCode::UnknownProgram),
        "{error}"
    );
    let error = Seeker::connect(
        "http://example.invalid",
        PROGRAM,
        [0; 32],
        SeekerOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "invalid_url");
}

#[tokio::test]
async fn the_relay_refuses_expired_and_revoked_peers() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let expired = fixture.expired_supporter();
    let revoked = fixture.supporter();
    fixture.revoke(&[revoked.serial]);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    // A revoked supporter is told so at login (credential_revoked), not given the generic
    // rejection an expired certificate gets.
    for (credential, code) in [
        (&expired, ErrorCode::CredentialRejected),
        (&revoked, ErrorCode::CredentialRevoked),
    ] {
        let error = Peer::connect(
            &relay.ws_url(),
            PROGRAM,
            credential.peer_credential(),
            PeerOptions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.relay_code(), Some(code), "{error}");
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_locally() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let credential = fixture.supporter();
    let error = PeerCredential::new(
        credential.issuer_certificate.clone(),
        credential.supporter_certificate.clone(),
        credential.revocation_list.clone(),
        SupporterSecret::from_bytes([9; 32]),
    )
    .unwrap_err();
    assert!(matches!(error, ClientError::Credential(_)), "{error}");
}
