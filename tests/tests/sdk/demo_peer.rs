//! The demo peer the relay's `--dev` mode runs: labelled as not a real person, auto-accepts,
//! answers kindly with reminders of where real help is, and ends when told to stop.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_client::{
    DEMO_DISPLAY_NAME, EndReason, SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
    demo_credential, run_demo_peer,
};
use confidant_tests::fixtures::now_unix;
use confidant_tests::sdk_support::seeker_until;
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

#[tokio::test]
async fn demo_peer_chats_says_it_is_a_demo_and_stops_cleanly() {
    let fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = demo_credential(fixture.root(), PROGRAM, now_unix() - 60, 30).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = relay.ws_url();
    let demo = tokio::spawn(async move {
        run_demo_peer(&url, PROGRAM, credential, async {
            let _ = stopped.await;
        })
        .await
    });

    let mut seeker = Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .unwrap();
    // The demo peer may take a moment to come online: seek until matched.
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let (peer, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Matched { peer } => Some(peer.clone()),
        _ => None,
    })
    .await;
    assert_eq!(peer.display_name, DEMO_DISPLAY_NAME);
    let (greeting, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Message(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert!(greeting.contains("not a real person"), "{greeting}");
    assert!(
        greeting.contains("613-562-5211"),
        "points to the program's resources: {greeting}"
    );

    seeker.send_text("Is anyone there?").await.unwrap();
    let (reply, skipped) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Message(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert!(reply.contains("demo"), "{reply}");
    assert!(skipped.contains(&SeekerEvent::Typing(true)), "{skipped:?}");
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Resource(_)).then_some(())
    })
    .await;

    // Shutting the demo down ends the open chat with a real End record.
    stop.send(()).unwrap();
    let (reason, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::PartnerEnded);
    demo.await.unwrap().unwrap();
}
