//! The portable conformance suite (`crates/conformance`, runnable by anyone against any relay
//! with `confidant-conformance --relay URL`) against the real relay, in CI: every input of
//! `proto/spec.md`'s state tables, the growth rules and the chat rules, so the next mismatch
//! between relay and spec fails here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_client::PeerCredential;
use confidant_conformance::{PeerKeys, Target, run};
use confidant_tests::fixtures::SupporterSpec;
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_keeps_the_spec_to_the_letter() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let supporter = fixture.supporter();
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = PeerCredential::new(
        supporter.issuer_certificate,
        supporter.supporter_certificate,
        supporter.revocation_list,
        supporter.secret,
    )
    .unwrap();
    let target = Target {
        url: relay.ws_url(),
        program: PROGRAM.to_owned(),
        peer: Some(PeerKeys::new(credential)),
        only: None,
    };
    let report = run(&target).await;
    print!("{}", report.render());
    let (passed, failed, skipped) = report.counts();
    assert_eq!(failed, 0, "{}", report.render());
    assert_eq!(skipped, 0, "with a credential every check runs");
    assert!(passed >= 45, "the table shrank: {passed} checks");
    // Every connection the suite opened is gone, and so is every chat and offer.
    let stats = relay.wait_idle(0).await;
    assert_eq!(
        (stats.active_chats, stats.open_offers, stats.capacity_in_use),
        (0, 0, 0)
    );
}

/// A certificate for a role the program does not list (`peer_roles`) is refused at `present`:
/// no seeker could ask for that role (`proto/spec.md`, `present`). It was accepted before.
#[tokio::test]
async fn a_role_the_program_does_not_list_is_refused() {
    use confidant_proto::{ErrorCode, Role};
    use confidant_tests::RawClient;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let chaplain = fixture.supporter_with(SupporterSpec {
        role: "chaplain".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut client = RawClient::connect(&relay).await;
    client.hello(Role::Peer, PROGRAM).await;
    let _welcome = client.frame().await;
    client.send(&chaplain.present_frame()).await;
    client.expect_fatal(ErrorCode::CredentialRejected).await;
    // A listed role on the same relay is verified, on two connections at once (the spec
    // allows one certificate on several connections).
    let resident = fixture.supporter();
    let first = RawClient::peer(&relay, PROGRAM, &resident).await;
    let second = RawClient::peer(&relay, PROGRAM, &resident).await;
    first.close().await;
    second.close().await;
}

/// When the program lists its departments, a certificate naming another is refused: a
/// seeker of that department could not ask to avoid the peer (`proto/spec.md`,
/// `program-details`).
#[tokio::test]
async fn a_department_the_program_does_not_list_is_refused() {
    use confidant_proto::{ErrorCode, Role};
    use confidant_tests::RawClient;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let elsewhere = fixture.supporter_with(SupporterSpec {
        department: "Radiology".into(),
        ..confidant_tests::default_supporter_spec()
    });
    let listed = fixture.supporter(); // "Emergency Medicine"
    let mut config = fixture.program_config();
    config.details.departments = vec!["Emergency Medicine".into(), "Surgery".into()];
    let relay = TestRelay::start(vec![config], test_limits()).await;
    let mut client = RawClient::connect(&relay).await;
    client.hello(Role::Peer, PROGRAM).await;
    let _welcome = client.frame().await;
    client.send(&elsewhere.present_frame()).await;
    client.expect_fatal(ErrorCode::CredentialRejected).await;
    RawClient::peer(&relay, PROGRAM, &listed)
        .await
        .close()
        .await;
}

/// The whole missed-offer story through the real relay, as a seeker alone with one peer
/// lives it: the offer lapses, the same peer is offered the seeker again at once (before,
/// the seeker waited out the whole wait limit beside that idle peer), a second lapse sets
/// the peer away and tells it so, and the seeker's figures say no peer is available.
#[tokio::test]
async fn a_missed_offer_strands_nobody() {
    use confidant_proto::{Availability, RelayFrame, SeekPreferences};
    use confidant_tests::RawClient;
    let mut fixture = ProgramFixture::new(PROGRAM);
    let credential = fixture.supporter();
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let mut peer = RawClient::peer(&relay, PROGRAM, &credential).await;
    peer.available(1, false).await;
    let mut seeker = RawClient::seeker(&relay, PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    let first = peer.offer().await;
    // test_limits: offers lapse after 2 s.
    let RelayFrame::OfferWithdrawn { offer, .. } = peer.frame().await else {
        panic!("the first offer lapses");
    };
    assert_eq!(offer, first);
    let second = peer.offer().await;
    assert_ne!(second, first, "offered again, as a new offer");
    let RelayFrame::OfferWithdrawn { offer, .. } = peer.frame().await else {
        panic!("the second offer lapses");
    };
    assert_eq!(offer, second);
    match peer.frame().await {
        RelayFrame::AvailabilitySet {
            status: Availability::Away,
            ..
        } => {}
        other => panic!("two missed offers set the peer away: {other:?}"),
    }
    // The seeker is told: no peer online and available.
    loop {
        match seeker.frame().await {
            RelayFrame::Queued {
                peers_online: 0, ..
            } => break,
            RelayFrame::Queued { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // Back at the console, the peer is offered the seeker at once, and takes it.
    peer.available(1, false).await;
    let third = peer.offer().await;
    peer.accept(third).await;
    seeker.matched().await;
}
