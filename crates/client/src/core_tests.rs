//! The seeker and peer state machines against each other, with real cryptography and no
//! network: the relay is played by hand, which makes a malicious relay easy to play too.

use std::sync::Arc;

use confidant_crypto::{CredentialError, ResourceCard};
use confidant_proto::{ChatEndReason, ChatNumber, ClientFrame, RelayFrame, SeekPreferences};

use crate::clock::FixedClock;
use crate::end_reason::EndReason;
use crate::error::ClientError;
use crate::outbox::{Outbox, Output};
use crate::peer_core::{PeerCommand, PeerCore};
use crate::peer_event::PeerEvent;
use crate::revocation_memory::RevocationMemory;
use crate::seeker_core::{SeekerCommand, SeekerConfig, SeekerCore};
use crate::seeker_event::SeekerEvent;
use crate::test_fixtures::{Fixture, NOW, PROGRAM, Supporter};

const SEEKER_CHAT: ChatNumber = ChatNumber(1);
const PEER_CHAT: ChatNumber = ChatNumber(7);

struct Split<E> {
    controls: Vec<ClientFrame>,
    data: Vec<(ChatNumber, Vec<u8>)>,
    events: Vec<E>,
}

fn split<E>(out: &mut Outbox<E>) -> Split<E> {
    let mut result = Split {
        controls: Vec::new(),
        data: Vec::new(),
        events: Vec::new(),
    };
    for item in out.take() {
        match item {
            Output::Control(frame) => result.controls.push(frame),
            Output::Data {
                chat,
                noise_message,
            } => result.data.push((chat, noise_message)),
            Output::Event(event) => result.events.push(event),
        }
    }
    result
}

fn seeker(fixture: &Fixture, memory: RevocationMemory, avoid: Option<&str>) -> SeekerCore {
    SeekerCore::new(seeker_config(fixture, memory, avoid))
}

fn seeker_config(fixture: &Fixture, memory: RevocationMemory, avoid: Option<&str>) -> SeekerConfig {
    SeekerConfig {
        program: PROGRAM.to_owned(),
        root_key: fixture.root.public(),
        clock: Arc::new(FixedClock(NOW)),
        revocation_memory: memory,
        avoid_department: avoid.map(str::to_owned),
        chat_features: Vec::new(),
        pass: false,
        urgency: false,
    }
}

fn start_seeking(core: &mut SeekerCore) {
    let mut out = Outbox::default();
    core.on_command(
        SeekerCommand::Seek(SeekPreferences::default(), false),
        &mut out,
    )
    .unwrap();
    let sent = split(&mut out);
    assert!(matches!(
        sent.controls.as_slice(),
        [ClientFrame::Seek { .. }]
    ));
}

/// Runs seek → matched → msg1 → msg2 and returns both cores with the chat open.
fn open_chat(fixture: &Fixture, supporter: &Supporter) -> (SeekerCore, PeerCore) {
    let mut seeker = seeker(fixture, RevocationMemory::new(), None);
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(supporter, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(sent.events.is_empty(), "nothing is shown before msg2");
    let [(chat, msg1)] = sent.data.as_slice() else {
        panic!("exactly msg1 expected")
    };
    assert_eq!(*chat, SEEKER_CHAT);

    let mut peer = PeerCore::new(
        confidant_crypto::SupporterSecret::from_bytes(*supporter.secret.to_bytes()),
        None,
        supporter.certificate.clone(),
        Vec::new(),
    );
    let mut peer_out = Outbox::default();
    peer.on_frame(
        RelayFrame::ChatStarted {
            chat: PEER_CHAT,
            offer: 1,
            chat_features: None,
        },
        &mut peer_out,
    );
    peer.on_data(PEER_CHAT, msg1, &mut peer_out);
    let peer_sent = split(&mut peer_out);
    assert!(matches!(
        peer_sent.events.as_slice(),
        [PeerEvent::ChatStarted { .. }, PeerEvent::ChatReady { .. }]
    ));
    let [(_, msg2)] = peer_sent.data.as_slice() else {
        panic!("exactly msg2 expected")
    };
    seeker.on_data(SEEKER_CHAT, msg2, &mut out);
    let sent = split(&mut out);
    let [SeekerEvent::Matched { peer: verified }] = sent.events.as_slice() else {
        panic!("matched expected, got {:?}", sent.events)
    };
    assert_eq!(verified.display_name, "Supporter 10");
    (seeker, peer)
}

#[test]
fn full_chat_both_ways_with_receipts_and_clean_end() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let (mut seeker, mut peer) = open_chat(&fixture, &supporter);
    let mut out = Outbox::default();
    let mut peer_out = Outbox::default();

    assert_eq!(
        seeker.on_command(SeekerCommand::SendText("hello".into()), &mut out),
        Ok(1)
    );
    let sent = split(&mut out);
    for (_, frame) in &sent.data {
        peer.on_data(PEER_CHAT, frame, &mut peer_out);
    }
    let got = split(&mut peer_out);
    assert_eq!(
        got.events,
        vec![PeerEvent::Message {
            chat: PEER_CHAT,
            text: "hello".into()
        }]
    );

    peer.on_command(PeerCommand::MarkRead(PEER_CHAT, 5), &mut peer_out)
        .unwrap();
    peer.on_command(
        PeerCommand::SendResource(
            PEER_CHAT,
            ResourceCard {
                title: "Counselling".into(),
                url: None,
                phone: Some("555".into()),
            },
        ),
        &mut peer_out,
    )
    .unwrap();
    peer.on_command(PeerCommand::SendText(PEER_CHAT, "hi".into()), &mut peer_out)
        .unwrap();
    peer.on_command(PeerCommand::End(PEER_CHAT), &mut peer_out)
        .unwrap();
    let sent = split(&mut peer_out);
    assert_eq!(sent.controls, vec![ClientFrame::End { chat: PEER_CHAT }]);
    for (_, frame) in &sent.data {
        seeker.on_data(SEEKER_CHAT, frame, &mut out);
    }
    let got = split(&mut out);
    assert_eq!(got.events.len(), 4);
    // Read receipts are capped at what was actually sent.
    assert_eq!(got.events.first(), Some(&SeekerEvent::ReadUpTo(1)));
    assert!(matches!(got.events.get(1), Some(SeekerEvent::Resource(_))));
    assert_eq!(got.events.get(2), Some(&SeekerEvent::Message("hi".into())));
    assert_eq!(
        got.events.get(3),
        Some(&SeekerEvent::Ended(EndReason::PartnerEnded))
    );
    // The relay's chat_ended afterwards changes nothing; a new seek is allowed.
    seeker.on_frame(
        RelayFrame::ChatEnded {
            chat: SEEKER_CHAT,
            reason: ChatEndReason::PartnerEnded,
        },
        &mut out,
    );
    assert!(split(&mut out).events.is_empty());
    start_seeking(&mut seeker);
}

#[test]
fn relay_level_end_without_record_is_reported_as_such() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let (mut seeker, _peer) = open_chat(&fixture, &supporter);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::ChatEnded {
            chat: SEEKER_CHAT,
            reason: ChatEndReason::PartnerEnded,
        },
        &mut out,
    );
    assert_eq!(
        split(&mut out).events,
        vec![SeekerEvent::Ended(EndReason::WithoutEndRecord(
            ChatEndReason::PartnerEnded
        ))]
    );
}

#[test]
fn flipped_ciphertext_ends_the_chat_without_showing_anything() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let (mut seeker, mut peer) = open_chat(&fixture, &supporter);
    let mut out = Outbox::default();
    let mut peer_out = Outbox::default();
    peer.on_command(
        PeerCommand::SendText(PEER_CHAT, "secret".into()),
        &mut peer_out,
    )
    .unwrap();
    let mut frame = split(&mut peer_out).data.remove(0).1;
    if let Some(byte) = frame.get_mut(10) {
        *byte ^= 1;
    }
    seeker.on_data(SEEKER_CHAT, &frame, &mut out);
    let sent = split(&mut out);
    assert_eq!(sent.controls, vec![ClientFrame::End { chat: SEEKER_CHAT }]);
    assert!(matches!(
        sent.events.as_slice(),
        [SeekerEvent::Ended(EndReason::Failed(ClientError::Decrypt(
            _
        )))]
    ));
    assert_eq!(
        seeker.on_command(SeekerCommand::SendText("more".into()), &mut out),
        Err(ClientError::NoChat)
    );
}

fn matched_outcome(
    fixture: &Fixture,
    memory: RevocationMemory,
    credential: confidant_proto::Credential,
) -> Split<SeekerEvent> {
    let mut seeker = seeker(fixture, memory, None);
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential,
            chat_features: None,
        },
        &mut out,
    );
    split(&mut out)
}

fn assert_rejected(sent: &Split<SeekerEvent>, expected: CredentialError) {
    assert!(sent.data.is_empty(), "no handshake with a rejected peer");
    assert_eq!(sent.controls, vec![ClientFrame::End { chat: SEEKER_CHAT }]);
    assert_eq!(
        sent.events,
        vec![SeekerEvent::Ended(EndReason::Failed(
            ClientError::PeerRejected(expected)
        ))]
    );
}

#[test]
fn forged_signature_is_rejected() {
    let fixture = Fixture::new();
    let mut supporter = fixture.supporter(9, 10, "Surgery");
    if let Some(last) = supporter.certificate.last_mut() {
        *last ^= 0x40;
    }
    let credential = fixture.credential(&supporter, fixture.revocation_list(1, &[]));
    let sent = matched_outcome(&fixture, RevocationMemory::new(), credential);
    assert_rejected(&sent, CredentialError::BadSignature);
}

#[test]
fn revoked_and_rolled_back_lists_are_rejected() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let revoked = fixture.credential(&supporter, fixture.revocation_list(3, &[10]));
    let memory = RevocationMemory::new();
    let sent = matched_outcome(&fixture, memory.clone(), revoked);
    assert_rejected(&sent, CredentialError::Revoked);

    // A newer list was seen (sequence 5); the relay now replays sequence 2.
    memory.observe(PROGRAM, 5);
    let old = fixture.credential(&supporter, fixture.revocation_list(2, &[]));
    let sent = matched_outcome(&fixture, memory, old);
    assert_rejected(&sent, CredentialError::RevocationRolledBack);
}

#[test]
fn a_successful_match_raises_the_revocation_minimum() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let memory = RevocationMemory::new();
    let credential = fixture.credential(&supporter, fixture.revocation_list(4, &[]));
    let sent = matched_outcome(&fixture, memory.clone(), credential);
    assert_eq!(sent.data.len(), 1);
    assert_eq!(memory.minimum(PROGRAM), 4);
}

#[test]
fn swapped_certificate_fails_the_handshake() {
    // The relay hands the seeker another valid supporter's certificate; the real peer
    // answers msg1 with its own key, which cannot match.
    let fixture = Fixture::new();
    let real = fixture.supporter(9, 10, "Surgery");
    let other = fixture.supporter(8, 11, "Surgery");
    let mut seeker = seeker(&fixture, RevocationMemory::new(), None);
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(&other, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let msg1 = split(&mut out).data.remove(0).1;
    let mut peer = PeerCore::new(
        confidant_crypto::SupporterSecret::from_bytes(*real.secret.to_bytes()),
        None,
        real.certificate.clone(),
        Vec::new(),
    );
    let mut peer_out = Outbox::default();
    peer.on_frame(
        RelayFrame::ChatStarted {
            chat: PEER_CHAT,
            offer: 1,
            chat_features: None,
        },
        &mut peer_out,
    );
    peer.on_data(PEER_CHAT, &msg1, &mut peer_out);
    let peer_sent = split(&mut peer_out);
    assert!(peer_sent.data.is_empty(), "the real peer cannot answer");
    assert!(matches!(
        peer_sent.events.last(),
        Some(PeerEvent::Ended {
            reason: EndReason::Failed(ClientError::Handshake(_)),
            ..
        })
    ));
    // And a forged msg2 (random bytes) fails on the seeker's side.
    seeker.on_data(SEEKER_CHAT, &[7; 48], &mut out);
    let sent = split(&mut out);
    assert!(matches!(
        sent.events.as_slice(),
        [SeekerEvent::Ended(EndReason::Failed(
            ClientError::Handshake(_)
        ))]
    ));
}

#[test]
fn same_department_is_skipped_locally_then_seeks_again() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Emergency Medicine");
    let mut seeker = seeker(
        &fixture,
        RevocationMemory::new(),
        Some("emergency medicine"),
    );
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(&supporter, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(sent.data.is_empty(), "no handshake with a skipped peer");
    assert_eq!(sent.controls, vec![ClientFrame::End { chat: SEEKER_CHAT }]);
    assert_eq!(sent.events, vec![SeekerEvent::SkippedSameDepartment]);
    seeker.on_frame(
        RelayFrame::ChatEnded {
            chat: SEEKER_CHAT,
            reason: ChatEndReason::Ended,
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(matches!(
        sent.controls.as_slice(),
        [ClientFrame::Seek { .. }]
    ));
}

/// With feature `pass` the same-department peer is passed: the seeker waits on in its place
/// (no new `seek`, which would put it at the back), and the relay's `chat_ended` for the
/// passed chat changes nothing.
#[test]
fn same_department_is_passed_when_the_relay_agreed_on_pass() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Emergency Medicine");
    let mut seeker = SeekerCore::new(SeekerConfig {
        pass: true,
        ..seeker_config(
            &fixture,
            RevocationMemory::new(),
            Some("emergency medicine"),
        )
    });
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(&supporter, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(sent.data.is_empty(), "no handshake with a passed peer");
    assert_eq!(sent.controls, vec![ClientFrame::Pass { chat: SEEKER_CHAT }]);
    assert_eq!(sent.events, vec![SeekerEvent::SkippedSameDepartment]);
    seeker.on_frame(
        RelayFrame::ChatEnded {
            chat: SEEKER_CHAT,
            reason: ChatEndReason::Ended,
        },
        &mut out,
    );
    seeker.on_frame(
        RelayFrame::Queued {
            position: 1,
            peers_online: 1,
            estimate_secs: None,
            none: Some(confidant_proto::QueueNone::NoneAvailable),
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(
        sent.controls.is_empty(),
        "no second seek: {:?}",
        sent.controls
    );
    assert_eq!(
        sent.events,
        vec![SeekerEvent::Queued {
            position: 1,
            peers_online: 1,
            estimate: None,
            none: Some(confidant_proto::QueueNone::NoneAvailable),
        }]
    );
}

#[test]
fn expired_certificate_is_rejected_by_the_clients_clock() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let mut seeker = SeekerCore::new(SeekerConfig {
        program: PROGRAM.to_owned(),
        root_key: fixture.root.public(),
        clock: Arc::new(FixedClock(NOW + 60 * 86_400)),
        revocation_memory: RevocationMemory::new(),
        avoid_department: None,
        chat_features: Vec::new(),
        pass: false,
        urgency: false,
    });
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(&supporter, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let sent = split(&mut out);
    assert!(matches!(
        sent.events.as_slice(),
        [SeekerEvent::Ended(EndReason::Failed(
            ClientError::PeerRejected(_)
        ))]
    ));
}

#[test]
fn seeker_sends_nothing_before_the_handshake_completes() {
    let fixture = Fixture::new();
    let supporter = fixture.supporter(9, 10, "Surgery");
    let mut seeker = seeker(&fixture, RevocationMemory::new(), None);
    start_seeking(&mut seeker);
    let mut out = Outbox::default();
    seeker.on_frame(
        RelayFrame::Matched {
            chat: SEEKER_CHAT,
            credential: fixture.credential(&supporter, fixture.revocation_list(1, &[])),
            chat_features: None,
        },
        &mut out,
    );
    let _ = split(&mut out);
    assert_eq!(
        seeker.on_command(SeekerCommand::SendText("too early".into()), &mut out),
        Err(ClientError::NoChat)
    );
    assert!(split(&mut out).data.is_empty());
}
