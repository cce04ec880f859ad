//! Promise 1: the relay never holds plaintext.
//!
//! A recording TCP proxy sits between both clients and the relay and keeps every byte the
//! relay receives and sends. Unique canaries typed into the chat (text both ways, a long
//! text, a resource card) must not appear in the recording — raw, base64 at any alignment,
//! hex, inside unmasked WebSocket payloads, or inside base64 fields of control frames.
//! The test proves it could fail: the proxy recorded the chat's frames, and values that do
//! travel in the clear (the program id, the seek topic) are found by the same search.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use base64::Engine as _;
use confidant_client::{
    Peer, PeerEvent, PeerOptions, ResourceCard, SeekPreferences, Seeker, SeekerEvent, SeekerOptions,
};
use confidant_tests::sdk_support::{
    RecordingProxy, contains, encodings_of, go_available, peer_until, seeker_until, wire_frames,
};
use confidant_tests::{ProgramFixture, TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// Everything a recording lets an observer search: raw bytes, unmasked payloads, and the
/// base64-decoded string fields of JSON control frames.
fn searchable(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![stream.to_vec()];
    for frame in wire_frames(stream) {
        if frame.opcode == 1
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&frame.payload)
        {
            collect_strings(&value, &mut out);
        }
        out.push(frame.payload);
    }
    out
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    match value {
        serde_json::Value::String(s) => {
            out.push(s.as_bytes().to_vec());
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(s) {
                out.push(decoded);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn found_anywhere(haystacks: &[Vec<u8>], secret: &str) -> bool {
    let needles = encodings_of(secret);
    haystacks
        .iter()
        .any(|h| needles.iter().any(|n| contains(h, n)))
}

#[tokio::test]
async fn chat_content_never_crosses_the_relay_in_any_readable_form() {
    let mut fixture = ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    let proxy = RecordingProxy::start(relay.addr).await;
    let unique = format!("{:x}", confidant_tests::fixtures::now_unix() ^ 0x5eed_cafe);
    let seeker_canary = format!("CANARY-SEEKER-{unique}-adverse-event-at-night");
    let peer_canary = format!("CANARY-PEER-{unique}-you-are-not-alone");
    let long_canary = format!("CANARY-LONG-{unique}-{}", "x".repeat(2000));
    let card_title = format!("CANARY-CARD-{unique}-Faculty Wellness");
    let card_url = format!("https://canary-{unique}.example/help");

    let credential = fixture.supporter();
    let mut peer = Peer::connect(
        &proxy.ws_url(),
        PROGRAM,
        credential.peer_credential(),
        PeerOptions::default(),
    )
    .await
    .unwrap();
    go_available(&mut peer, 1, true).await;
    let mut seeker = Seeker::connect(
        &proxy.ws_url(),
        PROGRAM,
        fixture.root().public(),
        SeekerOptions::default(),
    )
    .await
    .unwrap();
    seeker
        .seek(SeekPreferences {
            topic: Some("burnout".into()),
            ..SeekPreferences::default()
        })
        .await
        .unwrap();
    seeker_until(&mut seeker, |e| {
        matches!(e, SeekerEvent::Matched { .. }).then_some(())
    })
    .await;
    let (chat, _) = peer_until(&mut peer, |e| match e {
        PeerEvent::ChatReady { chat } => Some(*chat),
        _ => None,
    })
    .await;

    seeker.send_text(seeker_canary.clone()).await.unwrap();
    seeker.send_text(long_canary.clone()).await.unwrap();
    peer.send_text(chat, peer_canary.clone()).await.unwrap();
    peer.send_resource(
        chat,
        ResourceCard {
            title: card_title.clone(),
            url: Some(card_url.clone()),
            phone: None,
        },
    )
    .await
    .unwrap();
    // The canaries really were delivered (so they really crossed the proxy).
    let (texts, _) = peer_until(&mut peer, {
        let mut got = Vec::new();
        move |e| {
            if let PeerEvent::Message { text, .. } = e {
                got.push(text.clone());
            }
            (got.len() == 2).then(|| got.clone())
        }
    })
    .await;
    assert_eq!(texts, vec![seeker_canary.clone(), long_canary.clone()]);
    let (text, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Message(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert_eq!(text, peer_canary);
    let (card, _) = seeker_until(&mut seeker, |e| match e {
        SeekerEvent::Resource(c) => Some(c.clone()),
        _ => None,
    })
    .await;
    assert_eq!(card.title, card_title);
    seeker.end().await.unwrap();
    peer_until(&mut peer, |e| {
        matches!(e, PeerEvent::Ended { .. }).then_some(())
    })
    .await;
    relay.wait_idle(2).await;

    let recording = proxy.recording();
    assert_eq!(
        recording.to_relay.len(),
        2,
        "both clients went through the proxy"
    );

    // The recording is real: both directions carry binary data frames, every one of them a
    // handshake message or a padding bucket plus the tag (after the 4-byte header).
    let mut data_frames = 0;
    for stream in recording.to_relay.iter().chain(&recording.from_relay) {
        for frame in wire_frames(stream).iter().filter(|f| f.opcode == 2) {
            data_frames += 1;
            let noise = frame.payload.len() - 4;
            assert!(
                noise == 48 || [256, 1024, 4096, 16384].iter().any(|b| noise == b + 16),
                "a data frame of {noise} bytes is not a bucket size"
            );
        }
    }
    assert!(data_frames >= 10, "only {data_frames} data frames recorded");

    let to_relay: Vec<Vec<u8>> = recording
        .to_relay
        .iter()
        .flat_map(|s| searchable(s))
        .collect();
    let from_relay: Vec<Vec<u8>> = recording
        .from_relay
        .iter()
        .flat_map(|s| searchable(s))
        .collect();

    // Controls: values that do travel in the clear are found by the very same search —
    // in the masked client-to-relay direction too.
    assert!(
        found_anywhere(&to_relay, PROGRAM),
        "hello's program id not found"
    );
    assert!(
        found_anywhere(&from_relay, PROGRAM),
        "welcome's program id not found"
    );
    assert!(
        found_anywhere(&to_relay, "burnout"),
        "seek's topic not found"
    );
    assert!(
        found_anywhere(&from_relay, "Dr. Test Peer"),
        "the certificate's name not found"
    );

    for canary in [
        &seeker_canary,
        &peer_canary,
        &long_canary,
        &card_title,
        &card_url,
    ] {
        assert!(
            !found_anywhere(&to_relay, canary),
            "canary reached the relay: {canary:.40}"
        );
        assert!(
            !found_anywhere(&from_relay, canary),
            "canary left the relay: {canary:.40}"
        );
    }
}

#[test]
fn the_search_finds_a_canary_in_every_encoding_it_claims_to_cover() {
    let canary = "CANARY-self-test-0123456789";
    for prefix in ["", "a", "ab", "abc"] {
        let blob = format!("{prefix}{canary}-suffix");
        let b64 = base64::engine::general_purpose::STANDARD.encode(blob.as_bytes());
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob.as_bytes());
        let hex: String = blob.bytes().map(|b| format!("{b:02x}")).collect();
        for encoded in [blob.clone(), b64, url, hex] {
            let haystack = format!("{{\"noise\":\"{encoded}\"}}").into_bytes();
            assert!(found_anywhere(&[haystack], canary), "missed {encoded}");
        }
    }
    assert!(!found_anywhere(&[b"nothing to see".to_vec()], canary));
}
