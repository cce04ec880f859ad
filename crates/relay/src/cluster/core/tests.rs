//! The core, one failure case at a time: each test names the integration test
//! (`tests/tests/cluster/*.rs`) whose case it covers without a broker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use confidant_proto::{Availability, ChatEndReason, ChatNumber};

use super::*;
use crate::cluster::wire::{NodeMessage, PeerPresence, Presence};

const HEARTBEAT: Duration = Duration::from_millis(200);
const TTL: Duration = Duration::from_millis(800);
const REQUEST: Duration = Duration::from_millis(300);

fn core(me: &str, now: Instant) -> ClusterCore {
    let prefix = format!("{me}-t");
    let mut next = 0u32;
    let tokens = Box::new(move || {
        next += 1;
        format!("{prefix}{next}")
    });
    let settings = Settings {
        heartbeat: HEARTBEAT,
        node_ttl: TTL,
        request_timeout: REQUEST,
    };
    ClusterCore::new(me.to_owned(), settings, tokens, now)
}

fn drain(core: &mut ClusterCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

fn peer(token: &str, free: u16) -> PeerPresence {
    PeerPresence {
        token: token.to_owned(),
        program: "p".to_owned(),
        issuer_certificate: vec![1].into(),
        supporter_certificate: vec![2].into(),
        available: true,
        free,
        topics: Vec::new(),
        languages: Vec::new(),
    }
}

fn presence(node: &str, peers: Vec<PeerPresence>) -> Presence {
    Presence {
        node: node.to_owned(),
        draining: false,
        peers,
        lists: Vec::new(),
        heads: Vec::new(),
        leaving: false,
    }
}

fn local(party: u64, free: u16) -> LocalPeer {
    LocalPeer {
        party: Party(party),
        program: "p".to_owned(),
        issuer_certificate: vec![1],
        supporter_certificate: vec![2],
        available: true,
        free,
        topics: Vec::new(),
        languages: Vec::new(),
    }
}

/// Node A knows node B's peer `pb` (capacity `free`) as virtual party 100.
fn a_knows_b_peer(now: Instant, free: u16) -> ClusterCore {
    let mut a = core("A", now);
    drain(&mut a);
    a.handle_presence(presence("B", vec![peer("pb", free)]), now);
    let actions = drain(&mut a);
    assert!(
        actions.iter().any(
            |x| matches!(x, Action::Verify { node, peers } if node == "B" && peers.len() == 1)
        )
    );
    a.handle_verified("B", vec![(peer("pb", free), true)]);
    let actions = drain(&mut a);
    let Some(Action::OpenRemotePeer {
        node,
        peer,
        draining,
    }) = actions.first().cloned()
    else {
        panic!("expected OpenRemotePeer, got {actions:?}");
    };
    a.remote_peer_opened(&node, peer, draining, Party(100));
    let actions = drain(&mut a);
    assert_eq!(availability(&actions), Some(Availability::Available));
    a
}

fn availability(actions: &[Action]) -> Option<Availability> {
    actions.iter().rev().find_map(|x| match x {
        Action::Hub(ToHub::Availability { status, .. }) => Some(*status),
        _ => None,
    })
}

/// A offers its seeker (offer 1) to B's peer: the reservation goes out. Returns its
/// reference.
fn a_reserves(a: &mut ClusterCore, now: Instant) -> Token {
    a.handle_party(
        Party(100),
        PartyEvent::Offer {
            offer: 1,
            topic: None,
            language: None,
        },
        now,
    );
    let actions = drain(a);
    assert!(matches!(
        actions.as_slice(),
        [Action::AskWaited {
            party: Party(100),
            offer: 1
        }]
    ));
    a.handle_waited(Party(100), 1, Duration::from_millis(40), now);
    let actions = drain(a);
    match actions.as_slice() {
        [
            Action::Request {
                node,
                message:
                    NodeMessage::Reserve {
                        offer, waited_ms, ..
                    },
            },
        ] if node == "B" => {
            assert_eq!(*waited_ms, 40);
            offer.clone()
        }
        other => panic!("expected a reservation request, got {other:?}"),
    }
}

/// Node B with local peer party 7 presented under a token; returns B and the token.
fn b_with_local_peer(now: Instant) -> (ClusterCore, Token) {
    let mut b = core("B", now);
    b.handle_timeout(now);
    assert!(matches!(
        drain(&mut b).as_slice(),
        [Action::SnapshotPresence]
    ));
    b.send_presence(vec![local(7, 1)], Vec::new(), Vec::new());
    let actions = drain(&mut b);
    let Some(Action::Presence(p)) = actions.first() else {
        panic!("expected presence, got {actions:?}");
    };
    let token = p.peers[0].token.clone();
    (b, token)
}

fn reserve(reference: &str, peer: &str) -> NodeMessage {
    NodeMessage::Reserve {
        offer: reference.to_owned(),
        from: "A".to_owned(),
        peer: peer.to_owned(),
        topic: None,
        language: None,
        peer_role: None,
        waited_ms: 10,
    }
}

fn answers(actions: &[Action]) -> Vec<bool> {
    actions
        .iter()
        .filter_map(|x| match x {
            Action::Answer { granted, .. } => Some(*granted),
            _ => None,
        })
        .collect()
}

fn closes(actions: &[Action]) -> Vec<Party> {
    actions
        .iter()
        .filter_map(|x| match x {
            Action::Close(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn ends(actions: &[Action]) -> Vec<(Token, Token)> {
    actions
        .iter()
        .filter_map(|x| match x {
            Action::EndChat { node, chat, .. } => Some((node.clone(), chat.clone())),
            _ => None,
        })
        .collect()
}

fn withdrawals(actions: &[Action]) -> Vec<Token> {
    actions
        .iter()
        .filter_map(|x| match x {
            Action::ToNode {
                message: NodeMessage::Withdraw { offer },
                ..
            } => Some(offer.clone()),
            _ => None,
        })
        .collect()
}

// ---- cluster/chat.rs: a cross-node chat, both halves ----

#[test]
fn a_cross_node_match_binds_one_token_on_both_nodes_and_the_end_crosses() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    let (mut b, token) = b_with_local_peer(now);
    // B: the reservation opens a remote seeker and asks the hub.
    let mut message = reserve(&reference, &token);
    if let NodeMessage::Reserve { waited_ms, .. } = &mut message {
        *waited_ms = 40;
    }
    b.handle_node_message(message, now);
    let actions = drain(&mut b);
    assert!(
        matches!(actions.as_slice(), [Action::OpenRemoteSeeker { reference: r, from, .. }] if *r == reference && from == "A")
    );
    b.seeker_opened(&reference, Some(Party(9)));
    let actions = drain(&mut b);
    assert!(
        matches!(actions.as_slice(), [Action::Hub(ToHub::RemoteOffer { seeker: Party(9), peer: Party(7), waited, .. })] if *waited == Duration::from_millis(40))
    );
    b.handle_grant(&reference, true);
    assert_eq!(answers(&drain(&mut b)), vec![true]);
    // The peer accepts on B: the chat is bound there first, then A hears `matched`.
    b.handle_party(
        Party(9),
        PartyEvent::Matched {
            chat: ChatNumber(3),
            token: "c1".to_owned(),
        },
        now,
    );
    let actions = drain(&mut b);
    let matched = actions.iter().find_map(|x| match x {
        Action::ToNode { node, message } if node == "A" => Some(message.clone()),
        _ => None,
    });
    let Some(NodeMessage::Matched { offer, chat, from }) = matched else {
        panic!("expected matched, got {actions:?}");
    };
    assert_eq!(
        (offer.as_str(), chat.as_str(), from.as_str()),
        (reference.as_str(), "c1", "B")
    );
    assert_eq!(b.chats(), 1);
    // A: the answer, then `matched` → the chat is expected before the hub accepts.
    a.handle_reserve_answer(&reference, Some(true));
    assert!(matches!(
        drain(&mut a).as_slice(),
        [Action::Note(Note::ReservationGranted)]
    ));
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference.clone(),
            chat: "c1".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    let actions = drain(&mut a);
    assert!(matches!(
        actions.as_slice(),
        [
            Action::ExpectChat { party: Party(100), offer: 1, token },
            Action::Hub(ToHub::Accept { party: Party(100), offer: 1 }),
        ] if token == "c1"
    ));
    assert!(a.knows_chat("c1"));
    a.handle_party(
        Party(100),
        PartyEvent::ChatStarted {
            offer: 1,
            chat: ChatNumber(5),
        },
        now,
    );
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.chats(), 1);
    // A's seeker ends: `end` to B once; B's echo is not sent back.
    a.handle_party(
        Party(100),
        PartyEvent::ChatEnded {
            chat: ChatNumber(5),
            reason: ChatEndReason::PartnerEnded,
        },
        now,
    );
    assert_eq!(
        ends(&drain(&mut a)),
        vec![("B".to_owned(), "c1".to_owned())]
    );
    b.handle_chat_end("c1");
    b.handle_party(
        Party(9),
        PartyEvent::ChatEnded {
            chat: ChatNumber(3),
            reason: ChatEndReason::PartnerLeft,
        },
        now,
    );
    assert!(ends(&drain(&mut b)).is_empty());
    b.handle_party(
        Party(9),
        PartyEvent::ChatRemoved {
            chat: ChatNumber(3),
        },
        now,
    );
    b.handle_party(Party(9), PartyEvent::Closed, now);
    let actions = drain(&mut b);
    assert!(ends(&actions).is_empty(), "{actions:?}");
    assert_eq!(b.chats(), 0);
    a.handle_party(
        Party(100),
        PartyEvent::ChatRemoved {
            chat: ChatNumber(5),
        },
        now,
    );
    assert!(matches!(drain(&mut a).as_slice(), [Action::UnbindChat(t)] if t == "c1"));
    assert_eq!(a.chats(), 0);
}

// ---- cluster/capacity.rs / cluster/three_nodes.rs: refusals ----

#[test]
fn a_refused_reservation_keeps_the_seeker_and_marks_the_peer_full_until_its_next_presence() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_reserve_answer(&reference, Some(false));
    let actions = drain(&mut a);
    assert_eq!(availability(&actions), Some(Availability::Away));
    assert!(actions.iter().any(|x| matches!(
        x,
        Action::Hub(ToHub::OfferRefused {
            party: Party(100),
            offer: 1
        })
    )));
    assert!(
        !actions
            .iter()
            .any(|x| matches!(x, Action::Hub(ToHub::Decline { .. }))),
        "a refusal is not a decline"
    );
    // The next presence that still shows room makes it available again.
    a.handle_presence(presence("B", vec![peer("pb", 1)]), now);
    assert_eq!(availability(&drain(&mut a)), Some(Availability::Available));
}

#[test]
fn the_peers_node_refuses_unknown_peers_and_refuses_everything_while_draining() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", "no-such-peer"), now);
    assert_eq!(answers(&drain(&mut b)), vec![false]);
    b.set_draining(true);
    b.handle_node_message(reserve("r2", &token), now);
    assert_eq!(answers(&drain(&mut b)), vec![false]);
}

#[test]
fn a_hub_refusal_closes_the_remote_seeker_and_answers_no() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    drain(&mut b);
    b.seeker_opened("r1", Some(Party(9)));
    drain(&mut b);
    b.handle_grant("r1", false);
    let actions = drain(&mut b);
    assert_eq!(closes(&actions), vec![Party(9)]);
    assert_eq!(answers(&actions), vec![false]);
}

#[test]
fn a_draining_node_peers_are_offered_nobody() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 2);
    let mut draining = presence("B", vec![peer("pb", 2)]);
    draining.draining = true;
    a.handle_presence(draining, now);
    assert_eq!(availability(&drain(&mut a)), Some(Availability::Away));
}

// ---- cluster/reservation.rs ----

#[test]
fn an_unanswered_reservation_is_withdrawn_and_counted_refused_at_its_deadline() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.handle_timeout(now); // the first heartbeat
    drain(&mut a);
    let reference = a_reserves(&mut a, now);
    assert_eq!(a.poll_timeout(), now + HEARTBEAT.min(REQUEST));
    a.handle_timeout(now + REQUEST - Duration::from_millis(1));
    assert!(withdrawals(&drain(&mut a)).is_empty());
    a.handle_timeout(now + REQUEST);
    let actions = drain(&mut a);
    assert_eq!(withdrawals(&actions), vec![reference.clone()]);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Note(Note::ReservationUnanswered)))
    );
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Hub(ToHub::OfferRefused { offer: 1, .. })))
    );
    // The grant that crosses the withdrawal: its answer is moot, its `matched` ends the chat.
    a.handle_reserve_answer(&reference, Some(true));
    assert!(drain(&mut a).is_empty());
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference,
            chat: "c9".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    let actions = drain(&mut a);
    assert_eq!(ends(&actions), vec![("B".to_owned(), "c9".to_owned())]);
    assert!(
        !actions
            .iter()
            .any(|x| matches!(x, Action::Hub(ToHub::Accept { .. })))
    );
}

#[test]
fn a_withdrawal_while_the_remote_seeker_is_registered_means_the_hub_is_never_asked() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    drain(&mut b);
    b.handle_node_message(
        NodeMessage::Withdraw {
            offer: "r1".to_owned(),
        },
        now,
    );
    assert!(drain(&mut b).is_empty());
    b.seeker_opened("r1", Some(Party(9)));
    let actions = drain(&mut b);
    assert!(
        !actions
            .iter()
            .any(|x| matches!(x, Action::Hub(ToHub::RemoteOffer { .. }))),
        "{actions:?}"
    );
    assert_eq!(closes(&actions), vec![Party(9)]);
    assert_eq!(answers(&actions), vec![false]);
}

#[test]
fn a_withdrawal_that_crosses_the_hubs_grant_undoes_it() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    drain(&mut b);
    b.seeker_opened("r1", Some(Party(9)));
    drain(&mut b);
    b.handle_node_message(
        NodeMessage::Withdraw {
            offer: "r1".to_owned(),
        },
        now,
    );
    assert_eq!(closes(&drain(&mut b)), vec![Party(9)]);
    b.handle_grant("r1", true);
    let actions = drain(&mut b);
    assert_eq!(answers(&actions), vec![false]);
    // The auto-accepting peer's match arrives as the party closes: the seeker's node is not
    // told of a chat, and the closing party leaves no `end` to send either.
    b.handle_party(
        Party(9),
        PartyEvent::Matched {
            chat: ChatNumber(1),
            token: "c1".to_owned(),
        },
        now,
    );
    let actions = drain(&mut b);
    assert!(
        !actions.iter().any(|x| matches!(x, Action::ToNode { .. })),
        "{actions:?}"
    );
    b.handle_party(Party(9), PartyEvent::Closed, now);
    let actions = drain(&mut b);
    assert!(ends(&actions).is_empty());
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::UnbindChat(t) if t == "c1"))
    );
    assert_eq!(b.chats(), 0);
}

#[test]
fn a_withdrawal_that_overtakes_its_reservation_refuses_it_on_arrival() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(
        NodeMessage::Withdraw {
            offer: "r1".to_owned(),
        },
        now,
    );
    b.handle_node_message(reserve("r1", &token), now);
    let actions = drain(&mut b);
    assert_eq!(answers(&actions), vec![false]);
    assert!(
        !actions
            .iter()
            .any(|x| matches!(x, Action::OpenRemoteSeeker { .. }))
    );
}

#[test]
fn early_withdrawals_are_bounded() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    for n in 0..=reservations::EARLY_WITHDRAWALS {
        b.handle_node_message(
            NodeMessage::Withdraw {
                offer: format!("w{n}"),
            },
            now,
        );
    }
    // The oldest was forgotten: its reservation is decided normally.
    b.handle_node_message(reserve("w0", &token), now);
    assert!(matches!(
        drain(&mut b).as_slice(),
        [Action::OpenRemoteSeeker { .. }]
    ));
}

#[test]
fn a_withdrawal_after_the_grant_makes_the_remote_seeker_leave() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    drain(&mut b);
    b.seeker_opened("r1", Some(Party(9)));
    b.handle_grant("r1", true);
    drain(&mut b);
    b.handle_node_message(
        NodeMessage::Withdraw {
            offer: "r1".to_owned(),
        },
        now,
    );
    assert_eq!(closes(&drain(&mut b)), vec![Party(9)]);
}

#[test]
fn an_offer_withdrawn_on_the_seekers_node_is_withdrawn_on_the_peers_node() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_party(Party(100), PartyEvent::OfferWithdrawn { offer: 1 }, now);
    assert_eq!(withdrawals(&drain(&mut a)), vec![reference.clone()]);
    // Its deadline no longer counts.
    a.handle_timeout(now + REQUEST);
    assert!(withdrawals(&drain(&mut a)).is_empty());
    // Withdrawn before the request went out: nothing to withdraw there.
    a.handle_party(
        Party(100),
        PartyEvent::Offer {
            offer: 2,
            topic: None,
            language: None,
        },
        now,
    );
    drain(&mut a);
    a.handle_party(Party(100), PartyEvent::OfferWithdrawn { offer: 2 }, now);
    assert!(withdrawals(&drain(&mut a)).is_empty());
    a.handle_waited(Party(100), 2, Duration::ZERO, now);
    assert!(
        drain(&mut a).is_empty(),
        "a withdrawn offer is never requested"
    );
}

#[test]
fn a_seeker_who_leaves_as_the_match_arrives_ends_the_chat_on_the_peers_node() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference,
            chat: "c1".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    drain(&mut a);
    a.handle_party(Party(100), PartyEvent::OfferWithdrawn { offer: 1 }, now);
    let actions = drain(&mut a);
    assert_eq!(ends(&actions), vec![("B".to_owned(), "c1".to_owned())]);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::UnbindChat(t) if t == "c1"))
    );
    assert!(!a.knows_chat("c1"));
}

#[test]
fn a_decline_is_a_decline() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_reserve_answer(&reference, Some(true));
    drain(&mut a);
    a.handle_node_message(NodeMessage::Declined { offer: reference }, now);
    assert!(matches!(
        drain(&mut a).as_slice(),
        [Action::Hub(ToHub::Decline {
            party: Party(100),
            offer: 1
        })]
    ));
    // On the peer's node: a remote seeker's unmatched end is `declined` to its node.
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    b.seeker_opened("r1", Some(Party(9)));
    b.handle_grant("r1", true);
    drain(&mut b);
    b.handle_party(Party(9), PartyEvent::Cancelled, now);
    assert!(
        matches!(drain(&mut b).as_slice(), [Action::ToNode { node, message: NodeMessage::Declined { offer } }] if node == "A" && offer == "r1")
    );
}

// ---- cluster/failover.rs / cluster/false_loss.rs / cluster/metrics.rs ----

#[test]
fn a_node_silent_past_the_ttl_is_let_go_and_every_half_there_is_told() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 2);
    // A chat with B's peer, and an open reservation.
    let reference = a_reserves(&mut a, now);
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference,
            chat: "c1".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    a.handle_party(
        Party(100),
        PartyEvent::ChatStarted {
            offer: 1,
            chat: ChatNumber(1),
        },
        now,
    );
    let second = {
        a.handle_party(
            Party(100),
            PartyEvent::Offer {
                offer: 2,
                topic: None,
                language: None,
            },
            now,
        );
        a.handle_waited(Party(100), 2, Duration::ZERO, now);
        match drain(&mut a).last() {
            Some(Action::Request {
                message: NodeMessage::Reserve { offer, .. },
                ..
            }) => offer.clone(),
            other => panic!("{other:?}"),
        }
    };
    // Granted: B holds a unit for it until `matched` or `declined`.
    a.handle_reserve_answer(&second, Some(true));
    // Heard at `now`; not yet gone at the TTL, gone just past it.
    a.handle_timeout(now + TTL);
    assert!(closes(&drain(&mut a)).is_empty());
    a.handle_timeout(now + TTL + Duration::from_millis(1));
    let actions = drain(&mut a);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeLost)))
    );
    assert_eq!(closes(&actions), vec![Party(100)]);
    assert_eq!(a.nodes(), 0);
    assert_eq!(a.remote_peers(), 0);
    // The party closes: the other node (maybe alive after all) is told about each half.
    a.handle_party(Party(100), PartyEvent::Closed, now + TTL);
    let actions = drain(&mut a);
    assert_eq!(ends(&actions), vec![("B".to_owned(), "c1".to_owned())]);
    assert_eq!(withdrawals(&actions), vec![second]);
    assert_eq!(a.chats(), 0);
    // B speaks again: a false alarm, counted; its peer is checked and offered afresh.
    a.handle_presence(presence("B", vec![peer("pb", 2)]), now + TTL * 2);
    let actions = drain(&mut a);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeReturned)))
    );
    assert!(actions.iter().any(|x| matches!(x, Action::Verify { .. })));
    // A second silence and return counts again; a new node never counts as returned.
    a.handle_presence(presence("C", Vec::new()), now + TTL * 2);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeReturned)))
    );
}

#[test]
fn presence_already_heard_keeps_a_node() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.handle_presence(presence("B", vec![peer("pb", 1)]), now + TTL);
    drain(&mut a);
    a.handle_timeout(now + TTL + Duration::from_millis(100));
    assert!(closes(&drain(&mut a)).is_empty());
    assert_eq!(a.nodes(), 1);
}

#[test]
fn the_peers_node_ends_the_remote_seekers_of_a_node_it_lets_go() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_presence(presence("A", Vec::new()), now);
    drain(&mut b);
    b.handle_node_message(reserve("r1", &token), now);
    b.seeker_opened("r1", Some(Party(9)));
    b.handle_grant("r1", true);
    b.handle_party(
        Party(9),
        PartyEvent::Matched {
            chat: ChatNumber(2),
            token: "c1".to_owned(),
        },
        now,
    );
    drain(&mut b);
    b.handle_timeout(now + TTL + HEARTBEAT);
    assert_eq!(closes(&drain(&mut b)), vec![Party(9)]);
    b.handle_party(Party(9), PartyEvent::Closed, now + TTL + HEARTBEAT);
    assert_eq!(
        ends(&drain(&mut b)),
        vec![("A".to_owned(), "c1".to_owned())]
    );
}

#[test]
fn a_node_that_leaves_is_forgotten_at_once_and_not_counted_lost() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let mut bye = presence("B", Vec::new());
    bye.leaving = true;
    bye.draining = true;
    a.handle_presence(bye, now);
    let actions = drain(&mut a);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeLeft)))
    );
    assert_eq!(closes(&actions), vec![Party(100)]);
    assert_eq!(a.nodes(), 0);
    a.handle_timeout(now + TTL * 3);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeLost)))
    );
    // Its next life is a new node, not a returned one.
    a.handle_presence(presence("B", Vec::new()), now + TTL * 3);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Note(Note::NodeReturned)))
    );
}

#[test]
fn a_lost_broker_forgets_every_node_and_sends_no_presence_until_it_returns() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.handle_broker(false);
    let actions = drain(&mut a);
    assert_eq!(closes(&actions), vec![Party(100)]);
    assert_eq!(a.nodes(), 0);
    a.handle_timeout(now + HEARTBEAT);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::SnapshotPresence))
    );
    a.handle_broker(true);
    a.handle_timeout(now + HEARTBEAT * 2);
    assert!(
        drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::SnapshotPresence))
    );
}

#[test]
fn leaving_says_so_and_closes_every_party() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.leave();
    let actions = drain(&mut a);
    assert!(
        matches!(&actions[0], Action::Presence(p) if p.leaving && p.draining && p.peers.is_empty())
    );
    assert_eq!(closes(&actions), vec![Party(100)]);
}

// ---- cluster/presence.rs ----

#[test]
fn a_node_never_presents_another_nodes_peers_as_its_own() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.send_presence(vec![local(1, 1), local(100, 1)], Vec::new(), Vec::new());
    let actions = drain(&mut a);
    let Some(Action::Presence(p)) = actions.first() else {
        panic!("{actions:?}");
    };
    assert_eq!(p.peers.len(), 1, "the virtual peer was echoed back");
    // Its own presence, echoed by the broker, is not another node.
    a.handle_presence(p.clone(), now);
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.nodes(), 1);
    assert!(a.is_virtual(Party(100)));
    assert!(!a.is_virtual(Party(1)));
}

#[test]
fn a_local_peer_keeps_its_token_across_heartbeats_and_a_new_connection_gets_a_new_one() {
    let now = Instant::now();
    let mut b = core("B", now);
    let token_of = |b: &mut ClusterCore, parties: &[u64]| {
        b.send_presence(
            parties.iter().map(|p| local(*p, 1)).collect(),
            Vec::new(),
            Vec::new(),
        );
        match drain(b).first() {
            Some(Action::Presence(p)) => {
                p.peers.iter().map(|x| x.token.clone()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        }
    };
    let first = token_of(&mut b, &[7]);
    assert_eq!(token_of(&mut b, &[7]), first);
    let second = token_of(&mut b, &[8]);
    assert_ne!(second, first);
}

#[test]
fn a_peer_no_longer_listed_leaves_and_a_rejected_certificate_is_not_checked_again() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a.handle_presence(presence("B", vec![peer("bad", 1)]), now);
    let actions = drain(&mut a);
    assert_eq!(closes(&actions), vec![Party(100)]);
    assert!(actions.iter().any(|x| matches!(x, Action::Verify { .. })));
    a.handle_verified("B", vec![(peer("bad", 1), false)]);
    assert!(drain(&mut a).is_empty());
    a.handle_presence(presence("B", vec![peer("bad", 1)]), now);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Verify { .. }))
    );
    a.handle_party(Party(100), PartyEvent::Closed, now);
    assert_eq!(a.remote_peers(), 0);
}

#[test]
fn certificates_changed_while_checked_are_checked_again() {
    let now = Instant::now();
    let mut a = core("A", now);
    a.handle_presence(presence("B", vec![peer("pb", 1)]), now);
    drain(&mut a);
    let mut changed = peer("pb", 1);
    changed.supporter_certificate = vec![9].into();
    a.handle_presence(presence("B", vec![changed]), now);
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Verify { .. })),
        "one check at a time"
    );
    a.handle_verified("B", vec![(peer("pb", 1), true)]);
    assert!(
        drain(&mut a).is_empty(),
        "the checked certificates are no longer the listed ones"
    );
}

#[test]
fn a_peer_verified_after_its_node_was_let_go_is_closed() {
    let now = Instant::now();
    let mut a = core("A", now);
    a.handle_presence(presence("B", vec![peer("pb", 1)]), now);
    a.handle_verified("B", vec![(peer("pb", 1), true)]);
    let Some(Action::OpenRemotePeer { peer, draining, .. }) = drain(&mut a)
        .into_iter()
        .find(|x| matches!(x, Action::OpenRemotePeer { .. }))
    else {
        panic!();
    };
    a.handle_timeout(now + TTL * 2);
    drain(&mut a);
    a.remote_peer_opened("B", peer, draining, Party(100));
    assert_eq!(closes(&drain(&mut a)), vec![Party(100)]);
}

// ---- cluster/fairness.rs ----

#[test]
fn queue_heads_go_to_the_hub_with_a_hold_of_two_heartbeats() {
    let now = Instant::now();
    let mut a = core("A", now);
    let mut p = presence("B", Vec::new());
    p.heads = vec![("p".to_owned(), 2, 1500), ("q".to_owned(), 0, 0)];
    a.handle_presence(p, now);
    let actions = drain(&mut a);
    assert!(actions.iter().any(|x| matches!(
        x,
        Action::Hub(ToHub::RemoteHeads { node, heads, hold })
            if node == "B" && *heads == vec![("p".to_owned(), Duration::from_millis(1500))] && *hold == HEARTBEAT * 2
    )));
}

#[test]
fn the_remote_peers_capacity_counts_this_nodes_own_offers_and_chats_with_it() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    a_reserves(&mut a, now);
    // B now shows no room (our reservation holds it): the matcher keeps our offer counted.
    a.handle_presence(presence("B", vec![peer("pb", 0)]), now);
    let actions = drain(&mut a);
    assert!(actions.iter().any(|x| matches!(
        x,
        Action::Hub(ToHub::Availability {
            capacity: 1,
            status: Availability::Away,
            ..
        })
    )));
}

#[test]
fn the_heartbeat_is_due_every_heartbeat_and_presence_carries_the_drain() {
    let now = Instant::now();
    let mut a = core("A", now);
    assert_eq!(a.poll_timeout(), now);
    a.handle_timeout(now);
    assert!(matches!(
        drain(&mut a).as_slice(),
        [Action::SnapshotPresence]
    ));
    assert_eq!(a.poll_timeout(), now + HEARTBEAT);
    a.handle_timeout(now + HEARTBEAT / 2);
    assert!(drain(&mut a).is_empty());
    a.set_draining(true);
    a.send_presence(Vec::new(), Vec::new(), Vec::new());
    assert!(matches!(drain(&mut a).as_slice(), [Action::Presence(p)] if p.draining && !p.leaving));
}

// ---- cluster/reservation.rs: an end that overtakes the chat start ----

#[test]
fn an_end_before_the_chat_starts_here_settles_it() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference,
            chat: "c1".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    // The hold for the chat is asked before the hub is, so nothing arriving is dropped.
    let actions = drain(&mut a);
    let expect = actions
        .iter()
        .position(|x| matches!(x, Action::ExpectChat { .. }));
    let accept = actions
        .iter()
        .position(|x| matches!(x, Action::Hub(ToHub::Accept { .. })));
    assert!(expect < accept);
    a.handle_party(
        Party(100),
        PartyEvent::ChatStarted {
            offer: 1,
            chat: ChatNumber(4),
        },
        now,
    );
    a.handle_chat_end("c1");
    a.handle_party(
        Party(100),
        PartyEvent::ChatEnded {
            chat: ChatNumber(4),
            reason: ChatEndReason::PartnerLeft,
        },
        now,
    );
    assert!(ends(&drain(&mut a)).is_empty(), "B's end is not echoed");
}

// ---- cluster/failover.rs (broker stopped and restarted mid-chat), found by the simulation ----

#[test]
fn ends_decided_without_the_broker_go_out_again_when_it_returns() {
    let now = Instant::now();
    let mut a = a_knows_b_peer(now, 1);
    let reference = a_reserves(&mut a, now);
    a.handle_node_message(
        NodeMessage::Matched {
            offer: reference,
            chat: "c1".to_owned(),
            from: "B".to_owned(),
        },
        now,
    );
    a.handle_party(
        Party(100),
        PartyEvent::ChatStarted {
            offer: 1,
            chat: ChatNumber(1),
        },
        now,
    );
    drain(&mut a);
    // The broker goes: A ends its half (its `end` may be lost with the connection).
    a.handle_broker(false);
    a.handle_party(Party(100), PartyEvent::Closed, now);
    assert_eq!(
        ends(&drain(&mut a)),
        vec![("B".to_owned(), "c1".to_owned())]
    );
    // Back before B's TTL: B never lets A go, so only this `end` ends B's half.
    a.handle_broker(true);
    assert_eq!(
        ends(&drain(&mut a)),
        vec![("B".to_owned(), "c1".to_owned())]
    );
    // Said once more, not for ever.
    a.handle_broker(false);
    a.handle_broker(true);
    assert!(ends(&drain(&mut a)).is_empty());
}

#[test]
fn a_remote_seeker_gone_while_the_hub_decides_is_answered_no() {
    let now = Instant::now();
    let (mut b, token) = b_with_local_peer(now);
    b.handle_node_message(reserve("r1", &token), now);
    b.seeker_opened("r1", Some(Party(9)));
    drain(&mut b);
    b.handle_party(Party(9), PartyEvent::Closed, now);
    assert_eq!(answers(&drain(&mut b)), vec![false]);
    b.handle_grant("r1", true);
    assert!(answers(&drain(&mut b)).is_empty(), "answered once");
}
