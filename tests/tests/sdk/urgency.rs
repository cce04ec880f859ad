//! Feature `urgency` through the SDK: `seek_urgently` puts the seeker ahead of one who
//! sought just before, and the supporter's offer event says it is urgent.

use confidant_client::{Peer, PeerEvent, PeerOptions, SeekPreferences, Seeker, SeekerOptions};
use confidant_tests::sdk_support::peer_until;
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test]
async fn an_urgent_seeker_is_offered_first_and_the_peer_sees_it() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let url = relay.ws_url();
    let key = fixture.root().public();
    let connect = || Seeker::connect(&url, PROGRAM, key, SeekerOptions::default());
    let first = connect().await.unwrap();
    assert!(first.features().iter().any(|f| f == "urgency"));
    first.seek(SeekPreferences::default()).await.unwrap();
    let urgent = connect().await.unwrap();
    urgent
        .seek_urgently(SeekPreferences::default())
        .await
        .unwrap();
    relay.wait_stats(|s| s.queued_seekers == 2).await;
    let credential = fixture.supporter();
    let mut peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    peer.set_availability(confidant_client::AvailabilitySettings {
        capacity: 1,
        ..confidant_client::AvailabilitySettings::default()
    })
    .await
    .unwrap();
    let (urgent_flag, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Offer { urgent, .. } => Some(*urgent),
        _ => None,
    })
    .await;
    assert!(urgent_flag, "the first offer is the urgent seeker's");
    drop((first, urgent));
}
