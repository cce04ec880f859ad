//! Scale-out with three relay nodes through a real `nats-server`: capacity across three
//! nodes, a node killed while two others carry a chat, and a rolling restart of every node.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use confidant_proto::{ChatEndReason, ClientFrame, RelayFrame, SeekPreferences};
use confidant_tests::cluster_support::{
    NatsServer, TEST_HEARTBEAT, TEST_TTL, binary_node, chat_once, start_node, wait_for,
};
use confidant_tests::ops_support::{peer_at, seeker_at};
use confidant_tests::{ProgramFixture, RawClient, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// One peer of capacity 2 on C; three seekers on A and B seek at once. C never holds more
/// than two chats and offers together; the third seeker is matched when a chat ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_two_on_c_with_three_seekers_racing_from_a_and_b() {
    let Some(nats) = NatsServer::start("capacity_two_on_c_three_seekers").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let mut limits = test_limits();
    limits.offer_timeout = Duration::from_secs(10);
    let a = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let b = start_node(vec![fixture.program_config()], limits, &nats.url()).await;
    let c = Arc::new(start_node(vec![fixture.program_config()], limits, &nats.url()).await);
    let credential = fixture.supporter();
    let mut peer = peer_at(&c.ws_url(), PROGRAM, &credential).await;
    peer.available(2, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    wait_for(&b, Duration::from_secs(5), |s| s.available_peers == 1).await;

    // Watch C's load for the whole test: chats plus open offers never above 2.
    let most = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (c, most) = (c.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                let stats = c.stats().await;
                most.fetch_max(
                    stats
                        .capacity_in_use
                        .max(stats.open_offers + stats.active_chats),
                    Ordering::SeqCst,
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let mut seekers: Vec<RawClient> = Vec::new();
    for url in [a.ws_url(), b.ws_url(), a.ws_url()] {
        seekers.push(seeker_at(&url, PROGRAM).await);
    }
    let (s0, rest) = seekers.split_at_mut(1);
    let (s1, s2) = rest.split_at_mut(1);
    tokio::join!(
        s0[0].seek(SeekPreferences::default()),
        s1[0].seek(SeekPreferences::default()),
        s2[0].seek(SeekPreferences::default()),
    );
    // Two offers reach the peer (the capacity); it accepts both.
    let offers = [peer.offer().await, peer.offer().await];
    for offer in offers {
        peer.accept(offer).await;
    }
    // Nothing more while both chats run, though one seeker still waits.
    assert_eq!(
        peer.recv_within(Duration::from_millis(800)).await,
        None,
        "a third offer beyond capacity 2"
    );
    let stats = c.stats().await;
    assert_eq!((stats.active_chats, stats.open_offers), (2, 0), "{stats:?}");
    let waiting = a.stats().await.queued_seekers + b.stats().await.queued_seekers;
    assert_eq!(waiting, 1);

    // Match each chat to its seeker by content, then end the first.
    let mut matched = Vec::new();
    for (i, seeker) in seekers.iter_mut().enumerate() {
        if let Some(frame) = seeker.recv_within(Duration::from_millis(200)).await {
            let mut frame = Some(frame);
            while let Some(confidant_tests::Received::Frame(RelayFrame::Queued { .. })) = frame {
                frame = seeker.recv_within(Duration::from_millis(200)).await;
            }
            if let Some(confidant_tests::Received::Frame(RelayFrame::Matched { chat, .. })) = frame
            {
                matched.push((i, chat));
            }
        }
    }
    assert_eq!(matched.len(), 2, "{matched:?}");
    let third = (0..3)
        .find(|i| !matched.iter().any(|(m, _)| m == i))
        .unwrap();
    let (first, first_chat) = matched[0];
    seekers[first]
        .send_data(first_chat, b"who am I talking to")
        .await;
    let (p_first, words) = peer.data().await;
    assert_eq!(words, b"who am I talking to");
    peer.send(&ClientFrame::End { chat: p_first }).await;
    assert_eq!(peer.chat_ended().await, (p_first, ChatEndReason::Ended));
    assert_eq!(
        seekers[first].chat_ended().await,
        (first_chat, ChatEndReason::PartnerEnded)
    );

    // The freed unit goes to the third seeker.
    let offer = peer.offer().await;
    let p_third = peer.accept(offer).await;
    let s_third = seekers[third].matched().await;
    seekers[third].send_data(s_third, b"third").await;
    assert_eq!(peer.data().await, (p_third, b"third".to_vec()));
    peer.send_data(p_third, b"hello third").await;
    assert_eq!(
        seekers[third].data().await,
        (s_third, b"hello third".to_vec())
    );
    watcher.abort();
    let most = most.load(Ordering::SeqCst);
    eprintln!("three nodes, capacity 2 on C: C's load never above {most}");
    assert!(most <= 2, "C held {most} chats and offers");
}

/// A, B, C; a chat A↔C and a chat A↔B. B is SIGKILLed: the A↔B seeker is told within the
/// bound, the A↔C chat goes on both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_b_leaves_a_chat_between_a_and_c_untouched() {
    let Some(nats) = NatsServer::start("killing_b_leaves_a_and_c").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let a = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let c = start_node(vec![fixture.program_config()], test_limits(), &nats.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut b = binary_node(&nats.url(), &fixture, dir.path());
    let (on_c, on_b) = (fixture.supporter(), fixture.supporter());

    let mut peer_c = peer_at(&c.ws_url(), PROGRAM, &on_c).await;
    peer_c.available(1, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker_ac = seeker_at(&a.ws_url(), PROGRAM).await;
    seeker_ac.seek(SeekPreferences::default()).await;
    let offer = peer_c.offer().await;
    let p_ac = peer_c.accept(offer).await;
    let s_ac = seeker_ac.matched().await;
    // Both sides send at once (as the Noise handshake would), so no handshake timeout.
    seeker_ac.send_data(s_ac, b"A to C").await;
    assert_eq!(peer_c.data().await, (p_ac, b"A to C".to_vec()));
    peer_c.send_data(p_ac, b"C to A").await;
    assert_eq!(seeker_ac.data().await, (s_ac, b"C to A".to_vec()));
    // C's next presence says its peer is full.
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 0).await;

    let mut peer_b = peer_at(&b.ws_url(), PROGRAM, &on_b).await;
    peer_b.available(1, false).await;
    wait_for(&a, Duration::from_secs(5), |s| s.available_peers == 1).await;
    let mut seeker_ab = seeker_at(&a.ws_url(), PROGRAM).await;
    seeker_ab.seek(SeekPreferences::default()).await;
    let offer = peer_b.offer().await;
    let p_ab = peer_b.accept(offer).await;
    let s_ab = seeker_ab.matched().await;
    seeker_ab.send_data(s_ab, b"A to B").await;
    assert_eq!(peer_b.data().await, (p_ab, b"A to B".to_vec()));
    peer_b.send_data(p_ab, b"B to A").await;
    assert_eq!(seeker_ab.data().await, (s_ab, b"B to A".to_vec()));
    wait_for(&a, Duration::from_secs(5), |s| s.active_chats == 2).await;

    b.signal(rustix::process::Signal::KILL);
    let killed = Instant::now();
    assert_eq!(
        seeker_ab.chat_ended().await,
        (s_ab, ChatEndReason::PartnerLeft)
    );
    let told = killed.elapsed();
    let bound = TEST_TTL + TEST_HEARTBEAT + Duration::from_millis(700);
    eprintln!("three nodes, B killed: A↔B seeker told in {told:?} (bound {bound:?})");
    assert!(told <= bound, "{told:?}");
    // A↔C: still there, both ways, well after B's TTL ran out.
    for i in 0..3 {
        let words = format!("A to C {i}");
        seeker_ac.send_data(s_ac, words.as_bytes()).await;
        assert_eq!(peer_c.data().await, (p_ac, words.into_bytes()));
        let words = format!("C to A {i}");
        peer_c.send_data(p_ac, words.as_bytes()).await;
        assert_eq!(seeker_ac.data().await, (s_ac, words.into_bytes()));
    }
    let stats = a.stats().await;
    assert_eq!(stats.active_chats, 1, "{stats:?}");
    assert_eq!(c.stats().await.active_chats, 1);
    let _ = b.wait_exit(Duration::from_secs(5));
}

/// Three `confidant-relay` processes; each in turn is sent SIGTERM (a chat across it
/// drains and ends as `shutdown` on both sides), a cross-node chat between the other two
/// runs meanwhile, the node exits 0 and is replaced; then a chat across the new node.
/// Every chat checks it reached exactly its own partner (the words of each side name the
/// round and direction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_all_three_nodes() {
    let Some(nats) = NatsServer::start("rolling_restart_of_all_three_nodes").await else {
        return;
    };
    let mut fixture = ProgramFixture::new(PROGRAM);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<_> = dirs
        .iter()
        .map(|dir| binary_node(&nats.url(), &fixture, dir.path()))
        .collect();
    let credentials: Vec<_> = (0..4).map(|_| fixture.supporter()).collect();
    let started = Instant::now();
    let mut matches = Vec::new();
    for k in 0..3 {
        let (p, s) = ((k + 1) % 3, (k + 2) % 3);
        // A chat across node k (peer on k, seeker on s), running when k is told to stop.
        let mut peer = peer_at(&nodes[k].ws_url(), PROGRAM, &credentials[3]).await;
        peer.available(1, false).await;
        let mut seeker = seeker_at(&nodes[s].ws_url(), PROGRAM).await;
        seeker.seek(SeekPreferences::default()).await;
        let offer = tokio::time::timeout(Duration::from_secs(10), peer.offer())
            .await
            .expect("an offer across the node about to restart");
        let p_chat = peer.accept(offer).await;
        let s_chat = seeker.matched().await;
        seeker
            .send_data(s_chat, format!("round {k} before").as_bytes())
            .await;
        assert_eq!(
            peer.data().await,
            (p_chat, format!("round {k} before").into_bytes())
        );

        nodes[k].signal(rustix::process::Signal::TERM);
        assert_eq!(
            peer.frame().await,
            RelayFrame::Shutdown { deadline_ms: 2_000 }
        );
        // Throughout the drain: a new cross-node chat between the two other nodes.
        matches.push(
            chat_once(
                &nodes[p].ws_url(),
                &nodes[s].ws_url(),
                PROGRAM,
                &credentials[k],
                &format!("round {k} during the drain"),
            )
            .await,
        );
        // The chat across k still carries data until the deadline, then ends as shutdown.
        peer.send_data(p_chat, format!("round {k} draining").as_bytes())
            .await;
        assert_eq!(
            seeker.data().await,
            (s_chat, format!("round {k} draining").into_bytes())
        );
        assert_eq!(peer.chat_ended().await, (p_chat, ChatEndReason::Shutdown));
        assert_eq!(seeker.chat_ended().await, (s_chat, ChatEndReason::Shutdown));
        let status = nodes[k].wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{}", nodes[k].output.text());
        drop(seeker);

        // Replaced; a chat across the new node (peer on it, seeker on another).
        nodes[k] = binary_node(&nats.url(), &fixture, dirs[k].path());
        matches.push(
            chat_once(
                &nodes[k].ws_url(),
                &nodes[p].ws_url(),
                PROGRAM,
                &credentials[k],
                &format!("round {k} after the restart"),
            )
            .await,
        );
    }
    eprintln!(
        "rolling restart of all three nodes in {:?}; cross-node match times (seek → matched): {matches:?}",
        started.elapsed()
    );
    // A rolling restart loses no node: each node that shut down said so, and the nodes that
    // outlived it counted it as left (node 0, replaced first, saw 1 and 2 go; node 1 saw
    // 2; node 2 saw none), never as lost.
    for (i, node) in nodes.iter().enumerate() {
        let (status, text) = node.admin_get("/metrics").await;
        assert_eq!(status, 200);
        let counter = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("node {i}: no {name}"))
        };
        assert_eq!(
            counter(confidant_relay::metrics::CLUSTER_NODES_LOST),
            0.0,
            "node {i}"
        );
        let left = counter(confidant_relay::metrics::CLUSTER_NODES_LEFT);
        assert_eq!(left, (2 - i) as f64, "node {i}");
    }
    for node in &mut nodes {
        node.signal(rustix::process::Signal::TERM);
        assert_eq!(node.wait_exit(Duration::from_secs(10)).code(), Some(0));
    }
}
