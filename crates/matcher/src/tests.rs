//! Unit tests of the matching core: no sockets, no clock, every rule deterministic.

use std::time::{Duration, Instant};

use confidant_proto::{
    Availability, NoPeerReason, OfferWithdrawnReason, QueueNone, SeekPreferences,
};

use super::*;

const PROGRAM: &str = "resident-peer-support";
const OTHER: &str = "toh-peer-mentoring";
const OFFER_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT_LIMIT: Duration = Duration::from_secs(600);

fn matcher(max_queue: usize) -> Matcher {
    let mut matcher = Matcher::new(MatchConfig {
        offer_timeout: OFFER_TIMEOUT,
        max_queue,
    });
    matcher.add_program(PROGRAM, WAIT_LIMIT);
    matcher.add_program(OTHER, WAIT_LIMIT);
    matcher
}

fn profile(role: &str, topics: &[&str], languages: &[&str]) -> PeerProfile {
    PeerProfile {
        role: role.to_owned(),
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        languages: languages.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn available(capacity: u16, auto_accept: bool) -> PeerAvailability {
    PeerAvailability {
        status: Availability::Available,
        capacity,
        topics: Vec::new(),
        languages: Vec::new(),
        auto_accept,
    }
}

fn online_peer(m: &mut Matcher, id: u64, program: &str, capacity: u16, now: Instant) -> PeerId {
    let peer = PeerId(id);
    m.peer_joined(peer, program, profile("resident", &[], &["en", "fr"]), now)
        .unwrap();
    m.set_availability(peer, available(capacity, false), now)
        .unwrap();
    peer
}

fn seeker(m: &mut Matcher, id: u64, program: &str) -> SeekerId {
    let seeker = SeekerId(id);
    m.seeker_joined(seeker, program).unwrap();
    seeker
}

fn offers(actions: &[Action]) -> Vec<(OfferKey, SeekerId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Offer { offer, seeker, .. } => Some((*offer, *seeker)),
            _ => None,
        })
        .collect()
}

fn matched(actions: &[Action]) -> Vec<(OfferKey, SeekerId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Matched { offer, seeker } => Some((*offer, *seeker)),
            _ => None,
        })
        .collect()
}

#[test]
fn seek_without_peers_queues_and_says_none_online() {
    let now = Instant::now();
    let mut m = matcher(10);
    let s = seeker(&mut m, 1, PROGRAM);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    assert_eq!(
        actions,
        vec![Action::Queued {
            seeker: s,
            position: 1,
            peers_online: 0,
            estimate_secs: None,
            none: Some(QueueNone::NoneOnline)
        }]
    );
    assert_eq!(m.stats().queued_seekers, 1);
}

#[test]
fn a_peer_coming_online_gets_the_waiting_seeker() {
    let now = Instant::now();
    let mut m = matcher(10);
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), now).unwrap();
    let p = PeerId(7);
    m.peer_joined(p, PROGRAM, profile("resident", &[], &[]), now)
        .unwrap();
    let actions = m.set_availability(p, available(1, false), now).unwrap();
    assert_eq!(offers(&actions).len(), 1);
    // The queued figures changed (a peer came online): the seeker is told.
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Queued {
            peers_online: 1,
            ..
        }
    )));
    let (offer, _) = offers(&actions)[0];
    let actions = m.accept(p, offer.number, now).unwrap();
    assert_eq!(matched(&actions), vec![(offer, s)]);
    assert_eq!(m.stats().queued_seekers, 0);
    assert_eq!(m.stats().active_chats, 1);
}

#[test]
fn matching_never_crosses_programs() {
    let now = Instant::now();
    let mut m = matcher(10);
    online_peer(&mut m, 1, OTHER, 2, now);
    let s = seeker(&mut m, 2, PROGRAM);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    assert!(offers(&actions).is_empty());
    assert!(matches!(
        actions.as_slice(),
        [Action::Queued {
            peers_online: 0,
            ..
        }]
    ));
}

#[test]
fn queue_is_fifo_and_positions_update() {
    let now = Instant::now();
    let mut m = matcher(10);
    let a = seeker(&mut m, 1, PROGRAM);
    let b = seeker(&mut m, 2, PROGRAM);
    m.seek(a, SeekPreferences::default(), now).unwrap();
    let actions = m.seek(b, SeekPreferences::default(), now).unwrap();
    assert!(actions.contains(&Action::Queued {
        seeker: b,
        position: 2,
        peers_online: 0,
        estimate_secs: None,
        none: Some(QueueNone::NoneOnline)
    }));
    let p = PeerId(9);
    m.peer_joined(p, PROGRAM, profile("staff", &[], &[]), now)
        .unwrap();
    let actions = m.set_availability(p, available(1, false), now).unwrap();
    // Capacity 1: only the head of the queue is offered.
    assert_eq!(offers(&actions), vec![(OfferKey { peer: p, number: 1 }, a)]);
    let actions = m.cancel(a, now).unwrap();
    assert!(actions.contains(&Action::OfferWithdrawn {
        offer: OfferKey { peer: p, number: 1 },
        reason: OfferWithdrawnReason::SeekerLeft
    }));
    assert!(actions.contains(&Action::Cancelled { seeker: a }));
    assert_eq!(offers(&actions), vec![(OfferKey { peer: p, number: 2 }, b)]);
    assert!(actions.contains(&Action::Queued {
        seeker: b,
        position: 1,
        peers_online: 1,
        estimate_secs: None,
        none: None
    }));
}

#[test]
fn preferences_must_fit_certificate_and_availability() {
    let now = Instant::now();
    let mut m = matcher(10);
    let nurse = PeerId(1);
    m.peer_joined(
        nurse,
        PROGRAM,
        profile("nursing", &["burnout"], &["fr"]),
        now,
    )
    .unwrap();
    m.set_availability(nurse, available(2, false), now).unwrap();
    let s = seeker(&mut m, 5, PROGRAM);
    let wants_resident = SeekPreferences {
        peer_role: Some("resident".into()),
        ..Default::default()
    };
    assert!(offers(&m.seek(s, wants_resident, now).unwrap()).is_empty());
    assert_eq!(
        m.cancel(s, now).unwrap(),
        vec![Action::Cancelled { seeker: s }]
    );
    // A second cancel, now idle, is ignored without an answer (proto/spec.md, `cancel`).
    assert!(m.cancel(s, now).unwrap().is_empty());
    let wants_litigation = SeekPreferences {
        topic: Some("litigation".into()),
        ..Default::default()
    };
    assert!(offers(&m.seek(s, wants_litigation, now).unwrap()).is_empty());
    m.cancel(s, now).unwrap();
    let fits = SeekPreferences {
        topic: Some("burnout".into()),
        language: Some("fr".into()),
        peer_role: Some("nursing".into()),
    };
    let actions = m.seek(s, fits, now).unwrap();
    assert_eq!(offers(&actions).len(), 1);
}

#[test]
fn availability_cannot_widen_the_certificate() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = PeerId(1);
    m.peer_joined(p, PROGRAM, profile("staff", &["burnout"], &["en"]), now)
        .unwrap();
    let mut availability = available(1, false);
    availability.topics = vec!["litigation".into()];
    m.set_availability(p, availability, now).unwrap();
    let s = seeker(&mut m, 2, PROGRAM);
    let prefs = SeekPreferences {
        topic: Some("litigation".into()),
        ..Default::default()
    };
    assert!(offers(&m.seek(s, prefs, now).unwrap()).is_empty());
}

#[test]
fn offers_count_against_capacity() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 2, now);
    let mut offered = Vec::new();
    for id in 10..13 {
        let s = seeker(&mut m, id, PROGRAM);
        offered.extend(offers(&m.seek(s, SeekPreferences::default(), now).unwrap()));
    }
    assert_eq!(offered.len(), 2, "capacity 2 means two offers in flight");
    assert!(offered.iter().all(|(o, _)| o.peer == p));
    // Accepting one keeps the load at 2: still no third offer.
    let actions = m.accept(p, offered[0].0.number, now).unwrap();
    assert!(offers(&actions).is_empty());
    // Ending the chat frees a unit: the third seeker is offered.
    let actions = m.chat_ended(offered[0].1, p, now);
    assert_eq!(offers(&actions).len(), 1);
}

#[test]
fn least_loaded_then_longest_idle() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 3, now);
    let p2 = online_peer(&mut m, 2, PROGRAM, 3, now + Duration::from_secs(1));
    let s1 = seeker(&mut m, 10, PROGRAM);
    let s2 = seeker(&mut m, 11, PROGRAM);
    let later = now + Duration::from_secs(5);
    let first = offers(&m.seek(s1, SeekPreferences::default(), later).unwrap());
    assert_eq!(first[0].0.peer, p1, "p1 idle longest");
    let second = offers(&m.seek(s2, SeekPreferences::default(), later).unwrap());
    assert_eq!(second[0].0.peer, p2, "p2 less loaded");
}

#[test]
fn decline_goes_to_the_next_peer_and_never_back() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, now);
    let p2 = online_peer(&mut m, 2, PROGRAM, 1, now + Duration::from_millis(1));
    let s = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(first[0].0.peer, p1);
    let actions = m.decline(p1, first[0].0.number, now).unwrap();
    let second = offers(&actions);
    assert_eq!(second[0].0.peer, p2);
    let actions = m.decline(p2, second[0].0.number, now).unwrap();
    assert!(offers(&actions).is_empty(), "both declined: nobody left");
    assert_eq!(m.stats().queued_seekers, 1, "still waiting for a new peer");
    assert_eq!(m.decline(p2, 99, now), Err(MatchError::UnknownOffer));
}

#[test]
fn offer_timeout_withdraws_and_moves_on() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, now);
    let p2 = online_peer(&mut m, 2, PROGRAM, 1, now + Duration::from_millis(1));
    let s = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(m.next_deadline(), Some(now + OFFER_TIMEOUT));
    assert!(
        m.tick(now + OFFER_TIMEOUT - Duration::from_millis(1))
            .is_empty()
    );
    let actions = m.tick(now + OFFER_TIMEOUT);
    assert!(actions.contains(&Action::OfferWithdrawn {
        offer: first[0].0,
        reason: OfferWithdrawnReason::Timeout
    }));
    assert_eq!(offers(&actions)[0].0.peer, p2);
    assert_eq!(
        m.accept(p1, first[0].0.number, now),
        Err(MatchError::UnknownOffer)
    );
}

#[test]
fn a_chat_that_ran_excludes_nobody_but_a_refused_peer_is_excluded() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 2, now);
    let s = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    m.accept(p, first[0].0.number, now).unwrap();
    m.chat_ended(s, p, now);
    // The chat ran and ended: seeking again on the same connection may meet the same peer
    // (proto/spec.md: only a block, a decline or a refusal before msg1 excludes).
    let again = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0.peer, p);
    m.accept(p, again[0].0.number, now).unwrap();
    // This time the seeker's client refused the peer before msg1 (department, credential):
    // the driver excludes the peer for this connection.
    m.exclude(s, p);
    m.chat_ended(s, p, now);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    assert!(offers(&actions).is_empty());
    // A new connection (new handle) is a new seeker as far as the relay can know.
    let fresh = seeker(&mut m, 11, PROGRAM);
    assert_eq!(
        offers(&m.seek(fresh, SeekPreferences::default(), now).unwrap()).len(),
        1
    );
}

#[test]
fn auto_accept_matches_at_once() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = PeerId(1);
    m.peer_joined(p, PROGRAM, profile("staff", &[], &[]), now)
        .unwrap();
    m.set_availability(p, available(1, true), now).unwrap();
    let s = seeker(&mut m, 2, PROGRAM);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    assert!(matches!(actions.first(), Some(Action::Queued { .. })));
    assert_eq!(
        matched(&actions),
        vec![(OfferKey { peer: p, number: 1 }, s)]
    );
    assert_eq!(
        m.seek(s, SeekPreferences::default(), now),
        Err(MatchError::AlreadySeeking)
    );
}

#[test]
fn wait_limit_gives_no_peer_and_withdraws_the_offer() {
    let now = Instant::now();
    let mut m = Matcher::new(MatchConfig {
        offer_timeout: Duration::from_secs(100),
        max_queue: 10,
    });
    m.add_program(PROGRAM, Duration::from_secs(5));
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 2, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(m.next_deadline(), Some(now + Duration::from_secs(5)));
    let actions = m.tick(now + Duration::from_secs(5));
    assert!(actions.contains(&Action::OfferWithdrawn {
        offer: first[0].0,
        reason: OfferWithdrawnReason::SeekerLeft
    }));
    assert!(actions.contains(&Action::NoPeer {
        seeker: s,
        reason: NoPeerReason::WaitLimit
    }));
    assert_eq!(m.stats().queued_seekers, 0);
    assert_eq!(m.stats().open_offers, 0);
    assert_eq!(m.next_deadline(), None);
    let _ = p;
}

#[test]
fn queue_full_is_refused() {
    let now = Instant::now();
    let mut m = matcher(1);
    let a = seeker(&mut m, 1, PROGRAM);
    let b = seeker(&mut m, 2, PROGRAM);
    m.seek(a, SeekPreferences::default(), now).unwrap();
    let actions = m.seek(b, SeekPreferences::default(), now).unwrap();
    assert_eq!(
        actions,
        vec![Action::NoPeer {
            seeker: b,
            reason: NoPeerReason::QueueFull
        }]
    );
    // The refused seeker is idle and may try again.
    m.cancel(a, now).unwrap();
    assert!(m.seek(b, SeekPreferences::default(), now).is_ok());
}

#[test]
fn peer_leaving_returns_offers_to_the_queue() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 10, PROGRAM);
    m.seek(s, SeekPreferences::default(), now).unwrap();
    let actions = m.peer_left(p1, now);
    assert!(actions.contains(&Action::Queued {
        seeker: s,
        position: 1,
        peers_online: 0,
        estimate_secs: None,
        none: Some(QueueNone::NoneOnline)
    }));
    let p2 = PeerId(2);
    m.peer_joined(p2, PROGRAM, profile("staff", &[], &[]), now)
        .unwrap();
    let actions = m.set_availability(p2, available(1, false), now).unwrap();
    assert_eq!(offers(&actions)[0].1, s);
}

#[test]
fn seeker_leaving_withdraws_its_offer_and_frees_capacity() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let a = seeker(&mut m, 10, PROGRAM);
    let b = seeker(&mut m, 11, PROGRAM);
    m.seek(a, SeekPreferences::default(), now).unwrap();
    m.seek(b, SeekPreferences::default(), now).unwrap();
    let actions = m.seeker_left(a, now);
    assert!(actions.contains(&Action::OfferWithdrawn {
        offer: OfferKey { peer: p, number: 1 },
        reason: OfferWithdrawnReason::SeekerLeft
    }));
    assert_eq!(offers(&actions), vec![(OfferKey { peer: p, number: 2 }, b)]);
}

#[test]
fn estimates_come_from_observed_waits() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let a = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(a, SeekPreferences::default(), now).unwrap());
    m.accept(p, first[0].0.number, now + Duration::from_secs(20))
        .unwrap();
    let b = seeker(&mut m, 11, PROGRAM);
    let actions = m
        .seek(b, SeekPreferences::default(), now + Duration::from_secs(21))
        .unwrap();
    assert!(actions.contains(&Action::Queued {
        seeker: b,
        position: 1,
        peers_online: 1,
        estimate_secs: Some(20),
        none: None
    }));
}

#[test]
fn away_peers_get_no_offers_and_capacity_zero_is_refused() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = PeerId(1);
    m.peer_joined(p, PROGRAM, profile("staff", &[], &[]), now)
        .unwrap();
    assert_eq!(
        m.set_availability(p, available(0, false), now),
        Err(MatchError::InvalidCapacity)
    );
    let mut away = available(2, false);
    away.status = Availability::Away;
    m.set_availability(p, away, now).unwrap();
    let s = seeker(&mut m, 2, PROGRAM);
    assert!(offers(&m.seek(s, SeekPreferences::default(), now).unwrap()).is_empty());
}

// --- Scale-out hooks: `remote_offer`, `offer_refused`, `peer_state`, `queue_heads`. ---

fn away() -> PeerAvailability {
    PeerAvailability {
        status: Availability::Away,
        ..available(1, false)
    }
}

#[test]
fn remote_offer_reserves_one_unit_and_never_oversubscribes() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 2, now);
    // Two other nodes each reserve one unit: both granted, as ordinary offers.
    let first = m
        .remote_offer(SeekerId(100), p, SeekPreferences::default(), now)
        .unwrap();
    assert_eq!(offers(&first).len(), 1);
    assert_eq!(offers(&first)[0].1, SeekerId(100));
    let second = m
        .remote_offer(SeekerId(101), p, SeekPreferences::default(), now)
        .unwrap();
    assert_eq!(offers(&second).len(), 1);
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(2));
    // A third node asks: the capacity is spoken for.
    assert_eq!(
        m.remote_offer(SeekerId(102), p, SeekPreferences::default(), now),
        Err(MatchError::NotAvailable)
    );
    // A local seeker is not offered this peer either; it queues.
    let s = seeker(&mut m, 1, PROGRAM);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    assert!(offers(&actions).is_empty(), "{actions:?}");
    // Remote seekers never enter this node's queue: only the local one counts.
    assert_eq!(
        m.queue_heads(now),
        vec![
            (PROGRAM.to_owned(), 1, Duration::ZERO),
            (OTHER.to_owned(), 0, Duration::ZERO)
        ]
    );
}

#[test]
fn remote_offer_refuses_unknown_away_and_unfitting_peers() {
    let now = Instant::now();
    let mut m = matcher(10);
    assert_eq!(
        m.remote_offer(SeekerId(100), PeerId(9), SeekPreferences::default(), now),
        Err(MatchError::UnknownParty)
    );
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let german = SeekPreferences {
        language: Some("de".into()),
        ..SeekPreferences::default()
    };
    assert_eq!(
        m.remote_offer(SeekerId(100), p, german, now),
        Err(MatchError::NotAvailable)
    );
    m.set_availability(p, away(), now).unwrap();
    assert_eq!(
        m.remote_offer(SeekerId(101), p, SeekPreferences::default(), now),
        Err(MatchError::NotAvailable)
    );
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(0));
}

#[test]
fn remote_offer_to_an_auto_accepting_peer_matches_at_once() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = PeerId(1);
    m.peer_joined(p, PROGRAM, profile("resident", &[], &["en"]), now)
        .unwrap();
    m.set_availability(p, available(1, true), now).unwrap();
    let actions = m
        .remote_offer(SeekerId(100), p, SeekPreferences::default(), now)
        .unwrap();
    assert!(offers(&actions).is_empty(), "{actions:?}");
    assert_eq!(matched(&actions).len(), 1);
    assert_eq!(matched(&actions)[0].1, SeekerId(100));
    assert_eq!(m.stats().active_chats, 1);
    assert_eq!(
        m.peer_state(p).map(|(a, load)| (a.auto_accept, load)),
        Some((true, 1))
    );
}

#[test]
fn refused_offer_keeps_the_seekers_place_and_does_not_exclude_the_peer() {
    let now = Instant::now();
    let mut m = matcher(10);
    // `p` stands for a remote peer (a virtual connection on the seeker's node).
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let first = seeker(&mut m, 1, PROGRAM);
    let second = seeker(&mut m, 2, PROGRAM);
    let actions = m.seek(first, SeekPreferences::default(), now).unwrap();
    let (offer, to) = offers(&actions)[0];
    assert_eq!(to, first);
    let later = now + Duration::from_secs(3);
    m.seek(second, SeekPreferences::default(), later).unwrap();
    // The peer's node refuses; the driver marks the peer away until its next presence.
    m.set_availability(p, away(), later).unwrap();
    let actions = m.offer_refused(p, offer.number, later).unwrap();
    assert!(offers(&actions).is_empty(), "{actions:?}");
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(0));
    assert_eq!(
        m.offer_refused(p, offer.number, later),
        Err(MatchError::UnknownOffer)
    );
    assert_eq!(
        m.offer_refused(PeerId(9), offer.number, later),
        Err(MatchError::UnknownParty)
    );
    // Both still wait, the first for longest.
    let heads = m.queue_heads(later + Duration::from_secs(1));
    assert_eq!(heads[0], (PROGRAM.to_owned(), 2, Duration::from_secs(4)));
    // Next presence: free again. The first seeker is offered the same peer (not excluded,
    // unlike a decline) ahead of the second.
    let actions = m
        .set_availability(p, available(1, false), later + Duration::from_secs(1))
        .unwrap();
    assert_eq!(offers(&actions).len(), 1);
    assert_eq!(offers(&actions)[0].1, first);
}

#[test]
fn declined_remote_offer_excludes_the_peer_for_that_seeker() {
    // The contrast with `offer_refused`: a real decline (the peer's node said `declined`)
    // goes through `decline` and the seeker is not offered that peer again.
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 1, PROGRAM);
    let actions = m.seek(s, SeekPreferences::default(), now).unwrap();
    let (offer, _) = offers(&actions)[0];
    let actions = m.decline(p, offer.number, now).unwrap();
    assert!(offers(&actions).is_empty(), "{actions:?}");
    assert_eq!(m.queue_heads(now)[0].1, 1);
}

#[test]
fn peer_state_and_queue_heads_report_what_presence_sends() {
    let now = Instant::now();
    let mut m = matcher(10);
    assert_eq!(m.peer_state(PeerId(1)), None);
    assert_eq!(
        m.queue_heads(now),
        vec![
            (PROGRAM.to_owned(), 0, Duration::ZERO),
            (OTHER.to_owned(), 0, Duration::ZERO)
        ]
    );
    let p = online_peer(&mut m, 1, OTHER, 3, now);
    let (availability, load) = m.peer_state(p).unwrap();
    assert_eq!(
        (availability.status, availability.capacity, load),
        (Availability::Available, 3, 0)
    );
    for id in 1..=3 {
        let s = seeker(&mut m, id, PROGRAM);
        m.seek(s, SeekPreferences::default(), now + Duration::from_secs(id))
            .unwrap();
    }
    let s = seeker(&mut m, 4, OTHER);
    m.seek(s, SeekPreferences::default(), now).unwrap();
    let at = now + Duration::from_secs(10);
    // PROGRAM: three waiting, the first for 9 s. OTHER's seeker was offered `p` at once:
    // it still counts as waiting until it is matched, but it is being served, so its wait
    // is not a head other nodes should hold a slot for (zero).
    assert_eq!(
        m.queue_heads(at),
        vec![
            (PROGRAM.to_owned(), 3, Duration::from_secs(9)),
            (OTHER.to_owned(), 1, Duration::ZERO)
        ]
    );
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(1));
}

// --- Cross-node fairness: the queue-head hold. ---

const HOLD: Duration = Duration::from_millis(400);

#[test]
fn a_freed_slot_is_held_for_an_older_remote_head_then_granted_to_it() {
    let start = Instant::now();
    let mut m = matcher(10);
    // Another node's head has waited 5 s; this node's seeker arrives now.
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), start).unwrap();
    let p = online_peer(&mut m, 1, PROGRAM, 1, start);
    // The local peer's slot is held: no offer to the younger local seeker.
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(0));
    assert_eq!(m.next_deadline(), Some(start + HOLD));
    // The local seeker, older than the remote one asking, would refuse it…
    assert_eq!(
        m.remote_offer_waited(
            SeekerId(100),
            p,
            SeekPreferences::default(),
            Duration::ZERO,
            "node-a",
            start + Duration::from_millis(100)
        ),
        Err(MatchError::NotAvailable)
    );
    // …but the older head's reservation is granted.
    let granted = m
        .remote_offer_waited(
            SeekerId(101),
            p,
            SeekPreferences::default(),
            Duration::from_secs(5),
            "node-a",
            start + Duration::from_millis(100),
        )
        .unwrap();
    assert_eq!(offers(&granted)[0].1, SeekerId(101));
    assert_eq!(m.queue_heads(start).first().map(|h| h.1), Some(1));
}

#[test]
fn a_hold_not_claimed_in_time_goes_to_the_local_seeker() {
    let start = Instant::now();
    let mut m = matcher(10);
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), start).unwrap();
    let p = online_peer(&mut m, 1, PROGRAM, 1, start);
    assert!(offers(&m.tick(start + HOLD / 2)).is_empty());
    let actions = m.tick(start + HOLD);
    assert_eq!(offers(&actions), vec![(OfferKey { peer: p, number: 1 }, s)]);
}

#[test]
fn no_hold_for_younger_remote_heads_nor_for_remote_peers() {
    let start = Instant::now();
    let later = start + Duration::from_secs(10);
    let mut m = matcher(10);
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), start).unwrap();
    // The remote head has waited 1 s, ours 10 s: nothing is held.
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(1))],
        HOLD,
        later,
    );
    let p = online_peer(&mut m, 1, PROGRAM, 1, later);
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(1));
    // A peer on another node is that node's to grant: never held here.
    let mut m = matcher(10);
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), start).unwrap();
    let remote = PeerId(7);
    m.peer_joined(remote, PROGRAM, profile("resident", &[], &["en"]), start)
        .unwrap();
    m.set_peer_remote(remote);
    let actions = m
        .set_availability(remote, available(1, false), start)
        .unwrap();
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: remote,
                number: 1
            },
            s
        )]
    );
    // A remote head heard too long ago is ignored.
    let mut m = matcher(10);
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), later).unwrap();
    let p = online_peer(&mut m, 1, PROGRAM, 1, later);
    assert_eq!(m.peer_state(p).map(|(_, load)| load), Some(1));
}

#[test]
fn of_two_nodes_racing_for_a_slot_the_older_head_gets_it() {
    let start = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, start);
    // Node A's head has waited 5 s, node C's 1 s; nobody waits here.
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    m.remote_heads(
        "node-c",
        &[(PROGRAM.to_owned(), Duration::from_secs(1))],
        HOLD,
        start,
    );
    let at = start + Duration::from_millis(10);
    // C asks first: refused while A's older head may still claim the slot.
    assert_eq!(
        m.remote_offer_waited(
            SeekerId(100),
            p,
            SeekPreferences::default(),
            Duration::from_secs(1),
            "node-c",
            at
        ),
        Err(MatchError::NotAvailable)
    );
    let granted = m
        .remote_offer_waited(
            SeekerId(101),
            p,
            SeekPreferences::default(),
            Duration::from_secs(5),
            "node-a",
            at,
        )
        .unwrap();
    assert_eq!(offers(&granted)[0].1, SeekerId(101));
    // Had A not claimed it within the hold, C would have got it.
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, start);
    m.remote_heads(
        "node-a",
        &[(PROGRAM.to_owned(), Duration::from_secs(5))],
        HOLD,
        start,
    );
    let refused = m.remote_offer_waited(
        SeekerId(100),
        p,
        SeekPreferences::default(),
        Duration::from_secs(1),
        "node-c",
        start,
    );
    assert_eq!(refused, Err(MatchError::NotAvailable));
    let later = m
        .remote_offer_waited(
            SeekerId(102),
            p,
            SeekPreferences::default(),
            Duration::from_secs(1),
            "node-c",
            start + HOLD,
        )
        .unwrap();
    assert_eq!(offers(&later)[0].1, SeekerId(102));
}

#[test]
fn a_draining_matcher_makes_no_new_offer() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 2, now);
    let first = seeker(&mut m, 10, PROGRAM);
    let open = offers(&m.seek(first, SeekPreferences::default(), now).unwrap());
    assert_eq!(open.len(), 1);
    m.stop_offering();
    let late = seeker(&mut m, 11, PROGRAM);
    let actions = m.seek(late, SeekPreferences::default(), now).unwrap();
    assert!(offers(&actions).is_empty(), "{actions:?}");
    // The offer made before the drain may still be answered.
    assert_eq!(
        matched(&m.accept(p, open[0].0.number, now).unwrap()).len(),
        1
    );
    assert_eq!(
        m.remote_offer(SeekerId(99), p, SeekPreferences::default(), now),
        Err(MatchError::NotAvailable)
    );
}

/// A lapsed offer is not a decline: with one peer online, a seeker whose offer lapsed is
/// offered to that peer again at once. Before, the peer was excluded for good and the seeker
/// waited out the whole wait limit beside an idle, available peer (issue: "one missed offer
/// strands the seeker").
#[test]
fn a_lapsed_offer_is_offered_again_when_nobody_else_can_take_the_seeker() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(first.len(), 1);
    let lapse = now + OFFER_TIMEOUT;
    let again = offers(&m.tick(lapse));
    assert_eq!(again.len(), 1, "offered again to the only peer");
    assert_eq!(again[0].0.peer, p);
    assert_ne!(again[0].0.number, first[0].0.number, "as a new offer");
    // The second offer is answered: the seeker is matched.
    assert_eq!(
        matched(&m.accept(p, again[0].0.number, lapse).unwrap()).len(),
        1
    );
}

/// Another fitting peer gets its turn before the one that let the offer lapse.
#[test]
fn after_a_lapse_the_other_peers_have_their_turn_first() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(s, SeekPreferences::default(), now).unwrap());
    assert_eq!(first[0].0.peer, p1);
    // p2 came online after p1 was offered (so p1 would win the idle-longest tie-break).
    let p2 = online_peer(&mut m, 2, PROGRAM, 1, now + Duration::from_millis(1));
    let lapse = now + OFFER_TIMEOUT;
    let next = offers(&m.tick(lapse));
    assert_eq!(next[0].0.peer, p2);
}

/// A peer who lets offers lapse twice in a row is set away and told so: it is not at the
/// console, and seekers are not to wait on it. Answering an offer resets the count.
#[test]
fn two_lapses_in_a_row_set_the_peer_away() {
    let now = Instant::now();
    let mut m = matcher(10);
    let p = online_peer(&mut m, 1, PROGRAM, 1, now);
    let s = seeker(&mut m, 10, PROGRAM);
    let _ = m.seek(s, SeekPreferences::default(), now).unwrap();
    let t1 = now + OFFER_TIMEOUT;
    let actions = m.tick(t1);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::AvailabilitySet { .. }))
    );
    let t2 = t1 + OFFER_TIMEOUT;
    let actions = m.tick(t2);
    assert!(actions.contains(&Action::AvailabilitySet {
        peer: p,
        status: Availability::Away,
        capacity: 1,
        active_chats: 0,
    }));
    assert!(
        offers(&actions).is_empty(),
        "an away peer is offered nobody"
    );
    assert!(actions.contains(&Action::Queued {
        seeker: s,
        position: 1,
        peers_online: 0,
        estimate_secs: None,
        none: Some(QueueNone::NoneOnline),
    }));
    // Back at the console: available again, offered the seeker, and a decline resets.
    let back = offers(&m.set_availability(p, available(1, false), t2).unwrap());
    assert_eq!(back.len(), 1);
    let t3 = t2 + OFFER_TIMEOUT;
    let third = offers(&m.tick(t3));
    assert_eq!(
        third.len(),
        1,
        "one lapse after coming back is not two in a row"
    );
    let other = seeker(&mut m, 11, PROGRAM);
    let _ = m.seek(other, SeekPreferences::default(), t3).unwrap();
    let after_decline = m.decline(p, third[0].0.number, t3).unwrap();
    assert_eq!(offers(&after_decline)[0].1, other);
    let t4 = t3 + OFFER_TIMEOUT;
    assert!(
        !m.tick(t4)
            .iter()
            .any(|a| matches!(a, Action::AvailabilitySet { .. })),
        "the decline reset the count"
    );
}

fn queued_of(actions: &[Action], who: SeekerId) -> Option<(u32, Option<QueueNone>)> {
    actions.iter().rev().find_map(|a| match a {
        Action::Queued {
            seeker,
            position,
            none,
            ..
        } if *seeker == who => Some((*position, *none)),
        _ => None,
    })
}

/// Feature `pass`: a seeker whose client refuses the matched peer (its own department) goes
/// back to the place it held, not to the back of the queue, with that peer excluded, and
/// keeps its original wait limit. Before, it had to `seek` again behind everyone who came
/// after it, and with one peer online met the same peer in a loop (issue 15, 5).
#[test]
fn a_pass_puts_the_seeker_back_at_its_place_with_that_peer_excluded() {
    let t0 = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, t0);
    let a = seeker(&mut m, 10, PROGRAM);
    let b = seeker(&mut m, 11, PROGRAM);
    let c = seeker(&mut m, 12, PROGRAM);
    let first = offers(&m.seek(a, SeekPreferences::default(), t0).unwrap());
    assert_eq!(
        first,
        vec![(
            OfferKey {
                peer: p1,
                number: 1
            },
            a
        )]
    );
    m.seek(b, SeekPreferences::default(), t0 + Duration::from_secs(1))
        .unwrap();
    m.seek(c, SeekPreferences::default(), t0 + Duration::from_secs(2))
        .unwrap();
    let t1 = t0 + Duration::from_secs(3);
    assert_eq!(matched(&m.accept(p1, 1, t1).unwrap()).len(), 1);
    // a's client saw p1's certificate and refused it before msg1.
    let t2 = t1 + Duration::from_secs(1);
    let actions = m.pass(a, p1, t2);
    // a is first again; p1, freed, goes to b (a may never be offered to p1 again).
    assert_eq!(
        queued_of(&actions, a),
        Some((1, Some(QueueNone::NoneAvailable)))
    );
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: p1,
                number: 2
            },
            b
        )]
    );
    assert_eq!(queued_of(&actions, c), Some((3, None)));
    assert_eq!(m.stats().queued_seekers, 3);
    assert_eq!(m.stats().active_chats, 0);
    // A second peer comes online: a, at the head, is offered first.
    let p2 = PeerId(2);
    m.peer_joined(p2, PROGRAM, profile("resident", &[], &[]), t2)
        .unwrap();
    let actions = m.set_availability(p2, available(1, false), t2).unwrap();
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: p2,
                number: 1
            },
            a
        )]
    );
    // The wait limit still counts from a's first `seek`.
    let actions = m.tick(t0 + WAIT_LIMIT);
    assert!(actions.contains(&Action::NoPeer {
        seeker: a,
        reason: NoPeerReason::WaitLimit
    }));
}

/// The peer that came online after the pass is offered the seeker, which kept position 1.
#[test]
fn after_a_pass_the_next_peer_gets_the_seeker_first() {
    let t0 = Instant::now();
    let mut m = matcher(10);
    let p1 = online_peer(&mut m, 1, PROGRAM, 1, t0);
    let a = seeker(&mut m, 10, PROGRAM);
    let first = offers(&m.seek(a, SeekPreferences::default(), t0).unwrap());
    m.accept(p1, first[0].0.number, t0).unwrap();
    let b = seeker(&mut m, 11, PROGRAM);
    m.seek(b, SeekPreferences::default(), t0 + Duration::from_secs(1))
        .unwrap();
    let t1 = t0 + Duration::from_secs(2);
    let actions = m.pass(a, p1, t1);
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: p1,
                number: 2
            },
            b
        )]
    );
    m.accept(p1, 2, t1).unwrap();
    let p2 = PeerId(2);
    m.peer_joined(p2, PROGRAM, profile("resident", &[], &[]), t1)
        .unwrap();
    let actions = m.set_availability(p2, available(1, false), t1).unwrap();
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: p2,
                number: 1
            },
            a
        )]
    );
    assert_eq!(queued_of(&actions, a), Some((1, None)));
}

/// Feature `queue-none`: the seeker is told at once, and for as long as it lasts, that no
/// available peer can take it, and why; a busy peer that fits still counts (it frees up).
#[test]
fn queued_says_when_no_available_peer_can_take_the_seeker() {
    let now = Instant::now();
    let mut m = matcher(10);
    let s = seeker(&mut m, 10, PROGRAM);
    let wants_nursing = SeekPreferences {
        peer_role: Some("nursing".into()),
        ..Default::default()
    };
    let actions = m.seek(s, wants_nursing, now).unwrap();
    assert_eq!(
        queued_of(&actions, s),
        Some((1, Some(QueueNone::NoneOnline)))
    );
    // A resident comes online: a peer is online, but it cannot take this seeker.
    let resident = PeerId(1);
    m.peer_joined(resident, PROGRAM, profile("resident", &[], &[]), now)
        .unwrap();
    let actions = m
        .set_availability(resident, available(1, false), now)
        .unwrap();
    assert_eq!(
        queued_of(&actions, s),
        Some((1, Some(QueueNone::NoneAvailable)))
    );
    // A nurse comes online and takes another seeker's chat: busy, but it fits, so it counts.
    let nurse = PeerId(2);
    m.peer_joined(nurse, PROGRAM, profile("nursing", &[], &[]), now)
        .unwrap();
    let actions = m.set_availability(nurse, available(1, false), now).unwrap();
    assert_eq!(queued_of(&actions, s), Some((1, None)));
    assert_eq!(
        offers(&actions),
        vec![(
            OfferKey {
                peer: nurse,
                number: 1
            },
            s
        )]
    );
    // The nurse declines: it may never take s, and nobody else fits.
    let actions = m.decline(nurse, 1, now).unwrap();
    assert_eq!(
        queued_of(&actions, s),
        Some((1, Some(QueueNone::NoneAvailable)))
    );
    // Everyone goes: nobody online.
    m.peer_left(nurse, now);
    let actions = m.peer_left(resident, now);
    assert_eq!(
        queued_of(&actions, s),
        Some((1, Some(QueueNone::NoneOnline)))
    );
}

// Feature `resume`: a party whose socket is lost keeps its place but is offered nothing.

#[test]
fn an_away_seeker_keeps_its_place_but_is_not_offered_until_back() {
    let now = Instant::now();
    let mut m = matcher(10);
    let first = seeker(&mut m, 1, PROGRAM);
    let second = seeker(&mut m, 2, PROGRAM);
    m.seek(first, SeekPreferences::default(), now).unwrap();
    m.seek(
        second,
        SeekPreferences::default(),
        now + Duration::from_secs(1),
    )
    .unwrap();
    let p = online_peer(&mut m, 9, PROGRAM, 1, now);
    // The first seeker was offered; it goes away: the offer is withdrawn, not counted
    // against the peer, and the second seeker gets the peer.
    let later = now + Duration::from_secs(2);
    let actions = m.seeker_away(first, true, later);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::OfferWithdrawn {
            reason: OfferWithdrawnReason::SeekerLeft,
            ..
        }
    )));
    assert_eq!(
        offers(&actions).iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        vec![second]
    );
    let (offer, _) = offers(&actions)[0];
    m.decline(p, offer.number, later).unwrap();
    // Still away: the declined second seeker cannot have the peer, and the first is not
    // offered while away.
    assert!(offers(&m.tick(later)).is_empty());
    // Back: offered at once; it never lost its place (never told another position).
    let actions = m.seeker_away(first, false, later);
    assert_eq!(
        offers(&actions).iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        vec![first]
    );
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::Queued { seeker, position, .. } if *seeker == first && *position != 1
    )));
}

#[test]
fn an_away_peer_lets_its_offers_lapse_and_gets_none_until_back() {
    let now = Instant::now();
    let mut m = matcher(10);
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek(s, SeekPreferences::default(), now).unwrap();
    let p = online_peer(&mut m, 9, PROGRAM, 2, now);
    let q = online_peer(&mut m, 10, PROGRAM, 2, now + Duration::from_secs(1));
    // The seeker was offered to p (came online first).
    let later = now + Duration::from_secs(2);
    let actions = m.peer_away(p, true, later);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::OfferWithdrawn {
            offer,
            reason: OfferWithdrawnReason::Timeout,
        } if offer.peer == p
    )));
    // A lapse, not a decline: the seeker goes to the other peer at once.
    assert_eq!(
        offers(&actions)
            .iter()
            .map(|(o, _)| o.peer)
            .collect::<Vec<_>>(),
        vec![q]
    );
    // An away peer counts as neither available nor online.
    assert_eq!(m.stats().available_peers, 1);
    let (offer, _) = offers(&actions)[0];
    m.decline(q, offer.number, later).unwrap();
    assert!(offers(&m.tick(later)).is_empty());
    // Back: its availability was kept, and the seeker (not excluded by a lapse) is offered
    // to it again.
    let actions = m.peer_away(p, false, later);
    assert_eq!(
        offers(&actions)
            .iter()
            .map(|(o, _)| o.peer)
            .collect::<Vec<_>>(),
        vec![p]
    );
    assert_eq!(m.stats().available_peers, 2);
}

// Feature `urgency`: an urgent seeker is placed as if it had sought URGENT_HEAD_START earlier.

#[test]
fn an_urgent_seeker_goes_ahead_of_recent_seekers_but_never_of_one_who_waited_the_head_start() {
    use confidant_proto::limits::URGENT_HEAD_START;
    let start = Instant::now();
    let mut m = matcher(10);
    let long_waiting = seeker(&mut m, 1, PROGRAM);
    m.seek(long_waiting, SeekPreferences::default(), start)
        .unwrap();
    // Sought just after the head start had passed for the first seeker…
    let recent_time = start + URGENT_HEAD_START - Duration::from_secs(60);
    let recent = seeker(&mut m, 2, PROGRAM);
    m.seek(recent, SeekPreferences::default(), recent_time)
        .unwrap();
    // …and an urgent seeker a minute later: ahead of `recent` (sought less than the head
    // start before it), behind `long_waiting` (who has waited the head start).
    let urgent_time = start + URGENT_HEAD_START + Duration::from_secs(1);
    let urgent = seeker(&mut m, 3, PROGRAM);
    let actions = m
        .seek_with(urgent, SeekPreferences::default(), true, urgent_time)
        .unwrap();
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Queued { seeker, position: 2, .. } if *seeker == urgent
    )));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Queued { seeker, position: 3, .. } if *seeker == recent
    )));
    // A peer with room for all three is offered them in that order, and the urgent one's
    // offer says so.
    let later = urgent_time + Duration::from_secs(1);
    let p = PeerId(9);
    m.peer_joined(p, PROGRAM, profile("resident", &[], &[]), later)
        .unwrap();
    let actions = m.set_availability(p, available(3, false), later).unwrap();
    let offered: Vec<(SeekerId, bool)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Offer { seeker, urgent, .. } => Some((*seeker, *urgent)),
            _ => None,
        })
        .collect();
    assert_eq!(
        offered,
        vec![(long_waiting, false), (urgent, true), (recent, false)]
    );
}

#[test]
fn urgency_keeps_the_wait_limit_of_the_real_seek() {
    let now = Instant::now();
    let mut m = matcher(10);
    let s = seeker(&mut m, 1, PROGRAM);
    m.seek_with(s, SeekPreferences::default(), true, now)
        .unwrap();
    assert!(
        m.tick(now + WAIT_LIMIT - Duration::from_secs(1))
            .iter()
            .all(|a| !matches!(a, Action::NoPeer { .. }))
    );
    assert!(m.tick(now + WAIT_LIMIT).iter().any(|a| matches!(
        a,
        Action::NoPeer {
            reason: NoPeerReason::WaitLimit,
            ..
        }
    )));
}
