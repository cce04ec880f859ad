//! Scale-out failures through a real `nats-server`: a node killed mid-chat (SIGKILL of the
//! real binary) and the broker stopped and restarted mid-chat. Partners are told within the
//! bound (presence TTL + one heartbeat), nothing reaches a wrong chat, local chats go on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use confidant_client::{EndReason, PeerEvent, SeekPreferences, SeekerEvent};
use confidant_tests::cluster_support::{
    NatsServer, TEST_HEARTBEAT, TEST_TTL, peer_on, seeker_on, start_node, wait_for,
};
use confidant_tests::ops_support::{RelayProcess, write_config};
use confidant_tests::sdk_support::{peer_until, seeker_until};
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// The promised bound: TTL, plus one heartbeat for the check, plus scheduling slack.
fn bound() -> Duration {
    TEST_TTL + TEST_HEARTBEAT + Duration::from_millis(700)
}

async fn chat_across(
    seeker_node: &TestRelay,
    seeker: &mut confidant_client::Seeker,
    peer: &mut confidant_client::Peer,
) -> confidant_client::ChatNumber {
    wait_for(seeker_node, Duration::from_secs(5), |s| {
        s.available_peers >= 1
    })
    .await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (chat, _) = peer_until(peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    seeker.send_text("hello across nodes").await.unwrap();
    let (text, _) = peer_until(peer, |e| match e {
        PeerEvent::Message { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "hello across nodes");
    chat
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_partner_told_within_bound() {
    let Some(nats) = NatsServer::start("killed_node_partner_told_within_bound").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    // Node B: the real binary, joined by one config table.
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[cluster]\nnats_url = \"{}\"\nheartbeat_ms = {}\nnode_ttl_ms = {}\n",
        nats.url(),
        TEST_HEARTBEAT.as_millis(),
        TEST_TTL.as_millis()
    );
    let config = write_config(dir.path(), &fixture, &extra, "Help line");
    let mut b = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--lock-memory",
            "false",
        ],
        &[],
    );
    let b_relay_view = b.view();
    let credential = fixture.supporter();
    let mut peer = peer_on(&b_relay_view, PROGRAM, &credential, 1, true).await;
    let mut seeker = seeker_on(&a, PROGRAM, &fixture).await;
    chat_across(&a, &mut seeker, &mut peer).await;

    b.signal(rustix::process::Signal::KILL);
    let killed = Instant::now();
    let (reason, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    let told = killed.elapsed();
    eprintln!(
        "node killed → seeker told in {told:?} (bound {:?}): {reason:?}",
        bound()
    );
    assert!(told <= bound(), "told after {told:?}");
    assert!(
        matches!(
            reason,
            EndReason::WithoutEndRecord(confidant_proto::ChatEndReason::PartnerLeft)
        ),
        "{reason:?}"
    );
    // The dead node's peer is gone from A; A's state is clean.
    wait_for(&a, Duration::from_secs(3), |s| {
        s.available_peers == 0 && s.active_chats == 0 && s.capacity_in_use == 0
    })
    .await;
    let _ = b.wait_exit(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_chat_local_goes_on_and_cluster_rejoins() {
    let Some(mut nats) = NatsServer::start("broker_restart_mid_chat").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let b = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let remote_credential = fixture.supporter();
    let local_credential = fixture.supporter();
    let mut remote_peer = peer_on(&b, PROGRAM, &remote_credential, 1, true).await;
    let mut cross_seeker = seeker_on(&a, PROGRAM, &fixture).await;
    chat_across(&a, &mut cross_seeker, &mut remote_peer).await;
    // A chat local to A, which the broker has nothing to do with.
    let mut local_peer = peer_on(&a, PROGRAM, &local_credential, 1, true).await;
    let mut local_seeker = seeker_on(&a, PROGRAM, &fixture).await;
    local_seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut local_seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (local_chat, _) = peer_until(&mut local_peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;

    nats.stop();
    let stopped = Instant::now();
    // Both sides of the cross-node chat are told; neither waits for the broker.
    let (reason, _) = seeker_until(&mut cross_seeker, |e| match e {
        SeekerEvent::Ended(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    let seeker_told = stopped.elapsed();
    assert!(
        matches!(
            reason,
            EndReason::WithoutEndRecord(confidant_proto::ChatEndReason::PartnerLeft)
        ),
        "{reason:?}"
    );
    peer_until(&mut remote_peer, |e| {
        matches!(e, PeerEvent::Ended { .. }).then_some(())
    })
    .await;
    let peer_told = stopped.elapsed();
    eprintln!("broker stopped → seeker told in {seeker_told:?}, peer in {peer_told:?}");
    assert!(seeker_told <= bound() && peer_told <= bound());

    // The local chat never noticed.
    local_seeker.send_text("still here").await.unwrap();
    let (text, _) = peer_until(&mut local_peer, |e| match e {
        PeerEvent::Message { chat, text } if *chat == local_chat => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, "still here");

    // The broker returns: the nodes find each other again and a new cross-node chat works.
    nats.restart().await;
    let rejoin = Instant::now();
    cross_seeker.close();
    let mut again = seeker_on(&a, PROGRAM, &fixture).await;
    // A's own peer is busy (capacity 1), so the next match must be B's peer.
    chat_across(&a, &mut again, &mut remote_peer).await;
    eprintln!(
        "broker back → new cross-node chat running in {:?}",
        rejoin.elapsed()
    );
}

/// Starts node B as the real binary, joined to `url`, with a short shutdown deadline.
fn start_binary_node(url: &str, fixture: &ProgramFixture, dir: &std::path::Path) -> RelayProcess {
    let extra = format!(
        "shutdown_deadline_secs = 2\n[cluster]\nnats_url = \"{url}\"\nheartbeat_ms = {}\nnode_ttl_ms = {}\n",
        TEST_HEARTBEAT.as_millis(),
        TEST_TTL.as_millis()
    );
    let config = write_config(dir, fixture, &extra, "Help line");
    RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--lock-memory",
            "false",
        ],
        &[],
    )
}

/// A rolling restart of one node: SIGTERM to B (the real binary) drains it — its presence
/// says `draining`, so A stops offering B's peer (which still has free capacity) to new
/// seekers, while the cross-node chat B carries goes on until the deadline and then ends
/// as `shutdown` on both sides; B exits 0. The replacement B' starts, the peer reconnects
/// to it, and the seeker who queued on A meanwhile is matched across to B'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_drains_then_the_new_node_takes_over() {
    use confidant_proto::{ChatEndReason, RelayFrame};
    use confidant_tests::ops_support::{peer_at, seeker_at};

    let Some(nats) = NatsServer::start("rolling_restart_drains").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut b = start_binary_node(&nats.url(), &fixture, dir.path());
    let credential = fixture.supporter();
    let mut peer = peer_at(&b.ws_url(), PROGRAM, &credential).await;
    // Capacity 2: after the first chat B's peer still has room, so only draining can keep
    // A from offering it again.
    peer.available(2, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut first = seeker_at(&a.ws_url(), PROGRAM).await;
    first.seek(SeekPreferences::default()).await;
    let offer = peer.offer().await;
    let p_chat = peer.accept(offer).await;
    let s_chat = first.matched().await;
    first.send_data(s_chat, b"before").await;
    assert_eq!(peer.data().await.1, b"before");

    b.signal(rustix::process::Signal::TERM);
    let term = Instant::now();
    assert_eq!(
        peer.frame().await,
        RelayFrame::Shutdown { deadline_ms: 2_000 }
    );
    // A hears `draining` in B's next presence and stops offering B's peer.
    wait_for(&a, Duration::from_secs(3), |s| s.available_peers == 0).await;
    let noticed = term.elapsed();
    let mut second = seeker_at(&a.ws_url(), PROGRAM).await;
    assert!(matches!(
        second.seek(SeekPreferences::default()).await,
        RelayFrame::Queued { .. }
    ));
    assert_eq!(
        peer.recv_within(Duration::from_millis(500)).await,
        None,
        "a draining node's peer got something"
    );
    // The running cross-node chat still carries data both ways while B drains.
    first.send_data(s_chat, b"still here").await;
    assert_eq!(peer.data().await.1, b"still here");
    peer.send_data(p_chat, b"me too").await;
    assert_eq!(first.data().await.1, b"me too");
    // The deadline: both halves end as `shutdown` (A's seeker through the chat subject).
    assert_eq!(peer.chat_ended().await.1, ChatEndReason::Shutdown);
    assert_eq!(first.chat_ended().await.1, ChatEndReason::Shutdown);
    let ended = term.elapsed();
    assert!(ended >= Duration::from_millis(1_800), "{ended:?}");
    let status = b.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", b.output.text());
    wait_for(&a, Duration::from_secs(3), |s| {
        s.active_chats == 0 && s.capacity_in_use == 0 && s.queued_seekers == 1
    })
    .await;

    // The replacement comes up; the peer reconnects to it and the queued seeker gets it.
    let replaced = Instant::now();
    let b2 = start_binary_node(&nats.url(), &fixture, dir.path());
    let mut peer = peer_at(&b2.ws_url(), PROGRAM, &credential).await;
    peer.available(1, false).await;
    let offer = peer.offer().await;
    peer.accept(offer).await;
    let chat = second.matched().await;
    second.send_data(chat, b"after").await;
    assert_eq!(peer.data().await.1, b"after");
    eprintln!(
        "rolling restart: A saw B draining after {noticed:?}; chat ended as shutdown after \
         {ended:?} (deadline 2 s); queued seeker matched to the new node {:?} after it started",
        replaced.elapsed()
    );
}
