//! Promise 2: the relay cannot impersonate a peer supporter.
//!
//! A malicious relay — a man-in-the-middle that parses and rewrites frames between the
//! seeker and the real relay — swaps the peer's certificate, forges one, replays an old
//! revocation list, answers the handshake itself, or flips a ciphertext byte. Each time the
//! seeker's SDK ends the chat with a precise error, never reports `Matched` for a peer it
//! could not authenticate, and never surfaces tampered text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use confidant_client::{
    ChatEndReason, ClientError, EndReason, Peer, PeerEvent, PeerOptions, RevocationMemory,
    SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
};
use confidant_crypto::{CredentialError, NoiseError};
use confidant_proto::RelayFrame;
use confidant_tests::sdk_support::{
    Direction, MitmProxy, Rewrite, go_available, peer_until, seeker_events_within, seeker_until,
};
use confidant_tests::{ProgramFixture, SupporterCredential, TestRelay, test_limits};
use tokio_tungstenite::tungstenite::Message;

const PROGRAM: &str = "resident-peer-support";

async fn available_peer(relay: &TestRelay, credential: &SupporterCredential) -> Peer {
    let mut peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut peer, 2, true).await;
    peer
}

async fn seeker_via(
    proxy: &MitmProxy,
    fixture: &ProgramFixture,
    memory: RevocationMemory,
) -> Seeker {
    Seeker::connect(
        &proxy.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions {
            revocation_memory: memory,
            ..SeekerOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Rewrites `matched` frames towards the seeker with `edit`.
fn edit_matched(
    edit: impl Fn(&mut confidant_proto::Credential) + Send + Sync + 'static,
) -> Rewrite {
    edit_matched_with_features(move |credential, _| edit(credential))
}

/// Rewrites `matched` frames towards the seeker with `edit`, which also sees the peer's chat
/// features as the relay passes them.
fn edit_matched_with_features(
    edit: impl Fn(&mut confidant_proto::Credential, &mut Option<Vec<String>>) + Send + Sync + 'static,
) -> Rewrite {
    Arc::new(move |direction, message| {
        if direction == Direction::ToClient
            && let Message::Text(text) = &message
            && let Ok(RelayFrame::Matched {
                chat,
                mut credential,
                mut chat_features,
            }) = RelayFrame::from_json(text.as_bytes())
        {
            edit(&mut credential, &mut chat_features);
            let forged = RelayFrame::Matched {
                chat,
                credential,
                chat_features,
            };
            return vec![(direction, Message::text(forged.to_json()))];
        }
        vec![(direction, message)]
    })
}

/// Seeks and returns how the chat ended, asserting nothing from the peer was shown.
async fn seek_until_ended(seeker: &mut Seeker) -> EndReason {
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let (reason, seen) = seeker_until(seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            SeekerEvent::Matched { .. } | SeekerEvent::Message(_) | SeekerEvent::Resource(_)
        )),
        "something from an unauthenticated peer was shown: {seen:?}"
    );
    reason
}

#[tokio::test]
async fn a_forged_certificate_is_rejected_before_any_content() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let _peer = available_peer(&relay, &credential).await;
    // The relay "promotes" the peer: same length, different signed name.
    let proxy = MitmProxy::start(
        relay.ws_url(),
        edit_matched(|credential| {
            let cert = &mut credential.supporter_certificate.0;
            let name = b"Dr. Test Peer";
            let at = cert
                .windows(name.len())
                .position(|w| w == name)
                .expect("name in cert");
            cert[at..at + name.len()].copy_from_slice(b"Dr. Evil Peer");
        }),
    )
    .await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    let reason = seek_until_ended(&mut seeker).await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::PeerRejected(CredentialError::BadSignature))
    );
}

#[tokio::test]
async fn a_certificate_from_another_program_root_is_rejected() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let _peer = available_peer(&relay, &credential).await;
    // A whole chain minted by a relay-controlled root for the same program id.
    let mut rogue = ProgramFixture::new(PROGRAM);
    let impostor = rogue.supporter();
    let proxy = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| {
            credential.issuer_certificate.0 = impostor.issuer_certificate.clone();
            credential.supporter_certificate.0 = impostor.supporter_certificate.clone();
            credential.revocation_list.0 = impostor.revocation_list.clone();
        }),
    )
    .await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    let reason = seek_until_ended(&mut seeker).await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::PeerRejected(CredentialError::BadSignature))
    );
}

#[tokio::test]
async fn a_swapped_valid_certificate_cannot_complete_the_handshake() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let real = fixture.supporter();
    // Another genuinely certified supporter of the same program, not online.
    let other = fixture.supporter();
    let mut peer = available_peer(&relay, &real).await;
    let swapped = other.supporter_certificate.clone();
    let proxy = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| credential.supporter_certificate.0 = swapped.clone()),
    )
    .await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    let reason = seek_until_ended(&mut seeker).await;
    // The real peer could not read msg1 (it was for the other key) and ended the chat; the
    // seeker never saw msg2, so nothing was shown and the ending carries no End record.
    assert_eq!(
        reason,
        EndReason::WithoutEndRecord(ChatEndReason::PartnerEnded)
    );
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::Handshake(NoiseError::HandshakeDecrypt))
    );
}

#[tokio::test]
async fn a_relay_answering_the_handshake_itself_is_caught() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let _peer = available_peer(&relay, &credential).await;
    // The relay swallows msg1 and answers with its own msg2 (it lacks the peer's key).
    let rewrite: Rewrite = Arc::new(|direction, message| match (&direction, &message) {
        (Direction::ToRelay, Message::Binary(frame)) => {
            let mut forged = frame[..4].to_vec();
            forged.extend_from_slice(&[0x42; 48]);
            vec![(Direction::ToClient, Message::binary(forged))]
        }
        _ => vec![(direction, message)],
    });
    let proxy = MitmProxy::start(relay.ws_url(), rewrite).await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    let reason = seek_until_ended(&mut seeker).await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::Handshake(NoiseError::HandshakeDecrypt))
    );
}

#[tokio::test]
async fn an_old_revocation_list_is_refused_after_a_newer_one_was_seen() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let old_list = fixture.revocation_list.clone(); // sequence 1, validly signed, fresh
    fixture.revoke(&[]); // sequence 2: what the relay and the peers now hold
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let (first, second) = (fixture.supporter(), fixture.supporter());
    let _first_peer = available_peer(&relay, &first).await;

    // The malicious relay serves the real list on the first match, the old one afterwards.
    let matches = Arc::new(AtomicUsize::new(0));
    let counter = matches.clone();
    let replay = old_list.clone();
    let proxy = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| {
            if counter.fetch_add(1, Ordering::SeqCst) >= 1 {
                credential.revocation_list.0 = replay.clone();
            }
        }),
    )
    .await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    seeker.end().await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Ended(_)).then_some(())
    })
    .await;

    let _second_peer = available_peer(&relay, &second).await;
    let reason = seek_until_ended(&mut seeker).await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::PeerRejected(
            CredentialError::RevocationRolledBack
        ))
    );
    assert_eq!(matches.load(Ordering::SeqCst), 2);

    // Control: the replayed list is itself valid — a client that never saw sequence 2
    // accepts it. Only the remembered sequence makes the difference.
    let replay = old_list.clone();
    let always_old = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| credential.revocation_list.0 = replay.clone()),
    )
    .await;
    let mut fresh = seeker_via(&always_old, &fixture, RevocationMemory::new()).await;
    fresh.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut fresh, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_flipped_ciphertext_byte_ends_the_chat_and_shows_nothing() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = available_peer(&relay, &credential).await;
    // The first binary frame to the seeker is msg2; flip a byte in the second (a message).
    let seen = Arc::new(Mutex::new(0_usize));
    let rewrite: Rewrite = Arc::new(move |direction, message| match (&direction, message) {
        (Direction::ToClient, Message::Binary(frame)) => {
            let mut count = seen.lock().unwrap();
            *count += 1;
            let mut bytes = frame.to_vec();
            if *count == 2 {
                bytes[20] ^= 0x01;
            }
            vec![(direction, Message::binary(bytes))]
        }
        (_, message) => vec![(direction, message)],
    });
    let proxy = MitmProxy::start(relay.ws_url(), rewrite).await;
    let mut seeker = seeker_via(&proxy, &fixture, RevocationMemory::new()).await;
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    peer.send_text(chat, "tampered in transit").await.unwrap();
    peer.send_text(chat, "after the tampering").await.unwrap();
    let (reason, seen) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::Decrypt(NoiseError::Decrypt))
    );
    let later = seeker_events_within(&mut seeker, std::time::Duration::from_millis(200)).await;
    assert!(
        !seen
            .iter()
            .chain(&later)
            .any(|e| matches!(e, SeekerEvent::Message(_))),
        "tampered or later text surfaced: {seen:?} {later:?}"
    );
    // The seeker's SDK ended the chat at the relay; the peer is told.
    peer_until(&mut peer, |e| {
        matches!(e, PeerEvent::Ended { .. }).then_some(())
    })
    .await;
}

/// Chat features are bound into the handshake (`proto/crypto.md` §2): a relay that strips
/// the peer's declared features from `matched` (to make the seeker skip a feature both
/// sides have) makes the prologues differ, and the chat fails before anything is shown. The
/// same two clients through an honest relay chat normally.
#[tokio::test]
async fn a_relay_that_alters_the_chat_features_cannot_complete_the_handshake() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let features = vec!["x-test-feature".to_owned()];
    let mut peer = Peer::connect(
        &relay.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions {
            chat_features: features.clone(),
            ..PeerOptions::default()
        },
    )
    .await
    .unwrap();
    go_available(&mut peer, 2, true).await;
    let seeker_options = || SeekerOptions {
        chat_features: features.clone(),
        ..SeekerOptions::default()
    };
    // Honest relay: both bind ["x-test-feature"] and the chat opens.
    let mut honest = Seeker::connect(
        &relay.ws_url(),
        PROGRAM,
        fixture.root().public(),
        seeker_options(),
    )
    .await
    .unwrap();
    assert_eq!(
        honest.features(),
        [
            "chat-features",
            "program-details",
            "pass",
            "queue-none",
            "resume",
            "urgency"
        ]
    );
    honest.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(&mut honest, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    // Lying relay: the seeker is told the peer declared nothing.
    let proxy = MitmProxy::start(
        relay.ws_url(),
        edit_matched_with_features(|_, chat_features| {
            assert_eq!(
                chat_features.as_deref(),
                Some(&["x-test-feature".to_owned()][..])
            );
            *chat_features = Some(Vec::new());
        }),
    )
    .await;
    let mut fooled = Seeker::connect(
        &proxy.ws_url(),
        PROGRAM,
        fixture.root().public(),
        seeker_options(),
    )
    .await
    .unwrap();
    let reason = seek_until_ended(&mut fooled).await;
    assert_eq!(
        reason,
        EndReason::WithoutEndRecord(ChatEndReason::PartnerEnded)
    );
    let (reason, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { reason, .. } if *reason != EndReason::PartnerEnded => {
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::Handshake(NoiseError::HandshakeDecrypt))
    );
}
