//! The hybrid post-quantum handshake (issue 21, `proto/crypto.md` §2.1) through the real
//! relay: a seeker and a peer whose certificate carries an ML-KEM-768 key chat with
//! `Noise_NKpsk2` — msg1 on the wire is 1136 bytes, not 48 — while a peer with a version-1
//! certificate still gets plain NK from the same seeker; and a relay that strips the KEM
//! ciphertext or the certificate's key ends the chat instead of downgrading it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use confidant_client::{
    ClientError, EndReason, Peer, PeerEvent, PeerOptions, SeekPreferences, Seeker, SeekerEvent,
    SeekerOptions,
};
use confidant_crypto::{CredentialError, NoiseError};
use confidant_proto::RelayFrame;
use confidant_tests::sdk_support::{
    Direction, MitmProxy, RecordingProxy, Rewrite, go_available, peer_until, seeker_until,
    wire_frames,
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
    .expect("peer connects and proves its key");
    go_available(&mut peer, 2, true).await;
    peer
}

async fn seeker_at(url: &str, fixture: &ProgramFixture) -> Seeker {
    Seeker::connect(
        url,
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .expect("seeker connects")
}

/// Seeks, chats one message each way, ends; returns whether the peer card said hybrid.
async fn chat_once(seeker: &mut Seeker, peer: &mut Peer) -> bool {
    seeker.seek(SeekPreferences::default()).await.unwrap();
    let (post_quantum, _) = seeker_until(seeker, |e| match e {
        SeekerEvent::Matched { peer } => Some(peer.post_quantum),
        _ => None,
    })
    .await;
    let (chat, _) = peer_until(peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;
    seeker
        .send_text("is this safe from a later quantum computer?")
        .await
        .unwrap();
    let (heard, _) = peer_until(peer, |e| match e {
        PeerEvent::Message { text, .. } => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(heard, "is this safe from a later quantum computer?");
    peer.send_text(chat, "X25519 and ML-KEM both guard it")
        .await
        .unwrap();
    let (answer, _) = seeker_until(seeker, |e| match e {
        SeekerEvent::Message(text) => Some(text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(answer, "X25519 and ML-KEM both guard it");
    seeker.end().await.unwrap();
    seeker_until(seeker, |e| matches!(e, SeekerEvent::Ended(_)).then_some(())).await;
    post_quantum
}

/// The binary frames the seeker sent, from a recording (data frames: 4-byte chat number
/// and one Noise message).
fn seeker_binary_frames(proxy: &RecordingProxy) -> Vec<Vec<u8>> {
    proxy
        .recording()
        .to_relay
        .iter()
        .flat_map(|stream| wire_frames(stream))
        .filter(|frame| frame.opcode == 2)
        .map(|frame| frame.payload)
        .collect()
}

#[tokio::test]
async fn rust_seeker_and_rust_peer_chat_over_the_hybrid_handshake() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.hybrid_supporter();
    let mut peer = available_peer(&relay, &credential).await;
    let proxy = RecordingProxy::start(relay.addr).await;
    let mut seeker = seeker_at(&proxy.ws_url(), &fixture).await;
    assert!(
        chat_once(&mut seeker, &mut peer).await,
        "the peer card says post-quantum"
    );
    // What crossed the wire: msg1 is e || ENCRYPT(ML-KEM-768 ciphertext) = 1136 bytes.
    let frames = seeker_binary_frames(&proxy);
    assert_eq!(frames[0].len(), 4 + 1136, "msg1 of the hybrid handshake");
    assert!(
        frames[1..].iter().all(|f| f.len() == 4 + 272),
        "records after it"
    );
}

#[tokio::test]
async fn the_same_seeker_uses_plain_nk_with_a_version_1_certificate() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.supporter();
    let mut peer = available_peer(&relay, &credential).await;
    let proxy = RecordingProxy::start(relay.addr).await;
    let mut seeker = seeker_at(&proxy.ws_url(), &fixture).await;
    assert!(!chat_once(&mut seeker, &mut peer).await);
    assert_eq!(
        seeker_binary_frames(&proxy)[0].len(),
        4 + 48,
        "plain NK msg1"
    );
}

/// Seeks through a malicious relay and returns how the seeker's chat ended, asserting
/// no message from the peer was ever shown.
async fn seek_until_ended(seeker: &mut Seeker) -> (EndReason, Vec<SeekerEvent>) {
    seeker.seek(SeekPreferences::default()).await.unwrap();
    seeker_until(seeker, |e| match e {
        SeekerEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await
}

/// Downgrade: the relay cuts the ML-KEM ciphertext out of msg1, leaving a well-formed
/// plain NK msg1 (e and tag). The hybrid peer refuses it — it never answers a plain
/// handshake — and the chat ends on both sides; no text is ever exchanged.
#[tokio::test]
async fn a_relay_stripping_the_kem_ciphertext_ends_the_chat() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.hybrid_supporter();
    let mut peer = available_peer(&relay, &credential).await;
    let stripped = Arc::new(AtomicBool::new(false));
    let flag = stripped.clone();
    let rewrite: Rewrite = Arc::new(move |direction, message| match (&direction, &message) {
        (Direction::ToRelay, Message::Binary(frame)) if frame.len() == 4 + 1136 => {
            flag.store(true, Ordering::SeqCst);
            let mut plain = frame[..4 + 32].to_vec();
            plain.extend_from_slice(&frame[frame.len() - 16..]);
            vec![(direction, Message::binary(plain))]
        }
        _ => vec![(direction, message)],
    });
    let proxy = MitmProxy::start(relay.ws_url(), rewrite).await;
    let mut seeker = seeker_at(&format!("ws://{}/v1/ws", proxy.addr), &fixture).await;
    let (reason, seen) = seek_until_ended(&mut seeker).await;
    assert!(
        stripped.load(Ordering::SeqCst),
        "the proxy saw a hybrid msg1"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, SeekerEvent::Message(_))),
        "{seen:?}"
    );
    assert!(
        matches!(reason, EndReason::WithoutEndRecord(_)),
        "{reason:?}"
    );
    let (peer_reason, peer_seen) = peer_until(&mut peer, |e| match e {
        PeerEvent::Ended { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        peer_reason,
        EndReason::Failed(ClientError::Handshake(NoiseError::MalformedHandshake)),
        "the hybrid peer refuses a plain msg1"
    );
    assert!(
        !peer_seen
            .iter()
            .any(|e| matches!(e, PeerEvent::ChatReady { .. })),
        "{peer_seen:?}"
    );
}

/// Downgrade: the relay strips the ML-KEM key from the certificate it passes in `matched`
/// (cut back to a version-1 body). The issuer's signature no longer verifies: the seeker
/// refuses the peer before sending anything.
#[tokio::test]
async fn a_relay_stripping_the_certificate_key_is_refused() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let credential = fixture.hybrid_supporter();
    let _peer = available_peer(&relay, &credential).await;
    let rewrite: Rewrite = Arc::new(|direction, message| {
        if direction == Direction::ToClient
            && let Message::Text(text) = &message
            && let Ok(RelayFrame::Matched {
                chat,
                mut credential,
                chat_features,
            }) = RelayFrame::from_json(text.as_bytes())
        {
            let wire = credential.supporter_certificate.0.clone();
            let (body, signature) = wire.split_at(wire.len() - 64);
            let mut v1 = body[..body.len() - 1184].to_vec();
            v1[0] = 1;
            v1.extend_from_slice(signature);
            credential.supporter_certificate.0 = v1;
            let forged = RelayFrame::Matched {
                chat,
                credential,
                chat_features,
            };
            return vec![(direction, Message::text(forged.to_json()))];
        }
        vec![(direction, message)]
    });
    let proxy = MitmProxy::start(relay.ws_url(), rewrite).await;
    let mut seeker = seeker_at(&format!("ws://{}/v1/ws", proxy.addr), &fixture).await;
    let (reason, seen) = seek_until_ended(&mut seeker).await;
    assert_eq!(
        reason,
        EndReason::Failed(ClientError::PeerRejected(CredentialError::BadSignature))
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SeekerEvent::Matched { .. })),
        "{seen:?}"
    );
}
