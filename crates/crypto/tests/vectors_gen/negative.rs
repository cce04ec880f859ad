//! `negative.json`: inputs every implementation must reject, with the expected error code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::credentials::Credentials;
use super::noise::{
    Fixed, LOW_ORDER_POINTS, prologue, raw_initiator, raw_responder, read, seal_raw, write,
};
use super::{raw_record, seed};
use crate::common::hex;
use confidant_crypto::noise_resolver::resolver_x25519;
use confidant_crypto::possession::{
    POSSESSION_PROLOGUE_LABEL, PossessionChallenge, answer_possession_challenge_with_ephemeral,
};
use confidant_crypto::{CHAT_PROLOGUE_LABEL, Record, SupporterSecret};
use serde_json::{Value, json};
use snow::TransportState;

fn flip(mut v: Vec<u8>, at: usize) -> Vec<u8> {
    v[at] ^= 0x01;
    v
}

fn with_e(mut msg: Vec<u8>, e: &[u8]) -> Vec<u8> {
    msg[..32].copy_from_slice(e);
    msg
}

pub fn negative(k: &Credentials) -> Value {
    let f = Fixed::new(k);
    let (mut seeker, mut peer, m1, m2) = f.sessions();
    let p = prologue(CHAT_PROLOGUE_LABEL, &f.certificate);
    let other_cert = b"a different certificate".to_vec();
    let other_secret = seed("another supporter");
    let other_public = SupporterSecret::from_bytes(other_secret).public();
    let mut cases: Vec<Value> = Vec::new();

    // 1. Low-order peer static keys: the seeker must refuse to start.
    for (what, point) in LOW_ORDER_POINTS {
        let key: [u8; 32] = crate::common::unhex_array(point);
        assert_eq!(resolver_x25519(&f.seeker_e, &key), None, "{what}");
        cases.push(json!({"kind": "seeker_start", "description": format!("peer static key is low-order: {what}"),
                          "peer_static": point, "error": "non_contributory_dh"}));
    }

    // 2. Bad msg1 at the supporter.
    let zero = [0_u8; 32];
    let order8 = crate::common::unhex(LOW_ORDER_POINTS[2].1);
    let msg1_with_payload = write(
        &mut raw_initiator(&p, &f.public, &f.seeker_e),
        b"early content",
    );
    let msg1_other_cert = write(
        &mut raw_initiator(
            &prologue(CHAT_PROLOGUE_LABEL, &other_cert),
            &f.public,
            &f.seeker_e,
        ),
        &[],
    );
    let msg1_other_key = write(&mut raw_initiator(&p, &other_public, &f.seeker_e), &[]);
    let respond_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "msg1 ephemeral public key tampered (one bit)",
            flip(m1.clone(), 3),
            "handshake_decrypt_failed",
        ),
        (
            "msg1 tag tampered (one bit)",
            flip(m1.clone(), 47),
            "handshake_decrypt_failed",
        ),
        (
            "msg1 made for another certificate (prologue differs)",
            msg1_other_cert,
            "handshake_decrypt_failed",
        ),
        (
            "msg1 made for another supporter's static key",
            msg1_other_key,
            "handshake_decrypt_failed",
        ),
        (
            "msg1 ephemeral is all-zero",
            with_e(m1.clone(), &zero),
            "non_contributory_dh",
        ),
        (
            "msg1 ephemeral is a low-order point",
            with_e(m1.clone(), &order8),
            "non_contributory_dh",
        ),
        (
            "msg1 truncated to 47 bytes",
            m1[..47].to_vec(),
            "malformed_handshake",
        ),
        (
            "msg1 with one extra byte",
            [m1.clone(), vec![0]].concat(),
            "malformed_handshake",
        ),
        (
            "msg1 carries a payload (content before msg2 is forbidden)",
            msg1_with_payload,
            "malformed_handshake",
        ),
        ("msg1 empty", vec![], "malformed_handshake"),
        (
            "msg1 larger than MAX_NOISE_MESSAGE (16401 bytes)",
            vec![0x42; 16401],
            "message_too_large",
        ),
    ];
    for (d, msg, e) in respond_cases {
        cases
            .push(json!({"kind": "peer_respond", "description": d, "msg1": hex(&msg), "error": e}));
    }

    // 3. Bad msg2 at the seeker (who started with the fixed seeker ephemeral).
    let other_msg2 = {
        let mut i = raw_initiator(&p, &f.public, &seed("an earlier seeker ephemeral"));
        let mut r = raw_responder(&p, &f.secret, &f.peer_e);
        read(&mut r, &write(&mut i, &[]));
        write(&mut r, &[])
    };
    let msg2_with_payload = {
        let mut r = raw_responder(&p, &f.secret, &f.peer_e);
        read(&mut r, &m1);
        write(&mut r, b"hello")
    };
    let finish_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "msg2 ephemeral tampered (one bit)",
            flip(m2.clone(), 5),
            "handshake_decrypt_failed",
        ),
        (
            "msg2 tag tampered (one bit)",
            flip(m2.clone(), 40),
            "handshake_decrypt_failed",
        ),
        (
            "msg2 replayed from a handshake with another seeker ephemeral",
            other_msg2,
            "handshake_decrypt_failed",
        ),
        (
            "msg2 ephemeral is all-zero",
            with_e(m2.clone(), &zero),
            "non_contributory_dh",
        ),
        (
            "msg2 ephemeral is a low-order point",
            with_e(m2.clone(), &order8),
            "non_contributory_dh",
        ),
        (
            "msg2 truncated to 32 bytes",
            m2[..32].to_vec(),
            "malformed_handshake",
        ),
        (
            "msg2 carries a payload",
            msg2_with_payload,
            "malformed_handshake",
        ),
        (
            "msg2 larger than MAX_NOISE_MESSAGE",
            vec![0x42; 16401],
            "message_too_large",
        ),
    ];
    for (d, msg, e) in finish_cases {
        cases.push(
            json!({"kind": "seeker_finish", "description": d, "msg2": hex(&msg), "error": e}),
        );
    }

    // 4. Transport: sequences delivered to one side of the reference handshake.
    let s: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            seeker
                .seal(&Record::Text(format!("seeker message {i}")))
                .unwrap()
        })
        .collect();
    let pm: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            peer.seal(&Record::Text(format!("peer message {i}")))
                .unwrap()
        })
        .collect();
    let (mut raw_seeker, _raw_peer) = f.raw_transports();
    let raw_seal = |t: &mut TransportState, pt: &[u8]| seal_raw(t, pt);
    // The raw seeker is at nonce 0, like the API seeker was before `s`.
    let bad_padding = {
        let mut v = raw_record(1, 2, b"hi", 256);
        v[200] = 7;
        raw_seal(&mut raw_seeker, &v)
    };
    let (mut raw_seeker, _) = f.raw_transports();
    let unknown_type = raw_seal(&mut raw_seeker, &raw_record(0x89, 0, b"", 256));
    let (mut raw_seeker, _) = f.raw_transports();
    let not_bucket = raw_seal(&mut raw_seeker, &raw_record(1, 2, b"hi", 255));
    let (mut raw_seeker, _) = f.raw_transports();
    let non_minimal = raw_seal(&mut raw_seeker, &raw_record(1, 2, b"hi", 1024));
    let ok = |c: &Vec<u8>| json!({"ciphertext": hex(c), "expect": "ok"});
    let bad = |c: &Vec<u8>, e: &str| json!({"ciphertext": hex(c), "expect": e});
    let transport_cases: Vec<(&str, &str, Vec<Value>, &str)> = vec![
        (
            "first seeker record tampered (one bit of ciphertext)",
            "peer",
            vec![bad(&flip(s[0].clone(), 100), "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "first seeker record tag tampered",
            "peer",
            vec![bad(&flip(s[0].clone(), 271), "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "replayed record",
            "peer",
            vec![ok(&s[0]), bad(&s[0], "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "reordered records (second before first)",
            "peer",
            vec![bad(&s[1], "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "dropped record (first, then third)",
            "peer",
            vec![ok(&s[0]), bad(&s[2], "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "reflected: the peer's own record sent back to it",
            "peer",
            vec![bad(&pm[0], "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "peer record tampered, at the seeker",
            "seeker",
            vec![bad(&flip(pm[0].clone(), 7), "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "peer records reordered, at the seeker",
            "seeker",
            vec![bad(&pm[1], "decrypt_failed")],
            "decrypt_failed",
        ),
        (
            "record truncated by one byte",
            "peer",
            vec![bad(&s[0][..271].to_vec(), "malformed_message")],
            "malformed_message",
        ),
        (
            "record truncated to the tag only",
            "peer",
            vec![bad(&s[0][..16].to_vec(), "malformed_message")],
            "malformed_message",
        ),
        (
            "empty transport message",
            "peer",
            vec![bad(&vec![], "malformed_message")],
            "malformed_message",
        ),
        (
            "length 300: not a bucket plus tag",
            "peer",
            vec![bad(&vec![0x42; 300], "malformed_message")],
            "malformed_message",
        ),
        (
            "oversized: 16401 bytes",
            "peer",
            vec![bad(&vec![0x42; 16401], "message_too_large")],
            "message_too_large",
        ),
        (
            "valid encryption of a 255-byte plaintext (not a bucket)",
            "peer",
            vec![bad(&not_bucket, "malformed_message")],
            "malformed_message",
        ),
        (
            "valid encryption of a record with non-zero padding",
            "peer",
            vec![bad(&bad_padding, "invalid_record")],
            "invalid_record",
        ),
        (
            "valid encryption of a record of unknown critical type 0x89",
            "peer",
            vec![bad(&unknown_type, "invalid_record")],
            "invalid_record",
        ),
        (
            "valid encryption of a record in a non-minimal bucket",
            "peer",
            vec![bad(&non_minimal, "invalid_record")],
            "invalid_record",
        ),
        (
            "after a failure the session stays broken, even for the valid next record",
            "peer",
            vec![
                bad(&flip(s[0].clone(), 9), "decrypt_failed"),
                bad(&s[0], "session_broken"),
            ],
            "session_broken",
        ),
    ];
    for (d, receiver, messages, e) in transport_cases {
        cases.push(json!({"kind": "transport", "description": d, "receiver": receiver, "messages": messages, "error": e}));
    }

    // 5. Possession proof.
    let relay_e = seed("relay possession ephemeral");
    let challenge = seed("possession challenge");
    let peer_pe = seed("supporter possession ephemeral");
    let secret = SupporterSecret::from_bytes(f.secret);
    let pp = prologue(POSSESSION_PROLOGUE_LABEL, &f.certificate);
    let (_, pmsg1) =
        PossessionChallenge::new_deterministic(&f.public, &f.certificate, &relay_e, challenge)
            .unwrap();
    let for_other_key = write(&mut raw_initiator(&pp, &other_public, &relay_e), &challenge);
    let for_other_cert = write(
        &mut raw_initiator(
            &prologue(POSSESSION_PROLOGUE_LABEL, &other_cert),
            &f.public,
            &relay_e,
        ),
        &challenge,
    );
    let answer_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "challenge addressed to another static key",
            for_other_key,
            "handshake_decrypt_failed",
        ),
        (
            "challenge bound to another certificate",
            for_other_cert,
            "handshake_decrypt_failed",
        ),
        (
            "a chat msg1 presented as a challenge",
            m1.clone(),
            "malformed_handshake",
        ),
        (
            "challenge tampered",
            flip(pmsg1.clone(), 50),
            "handshake_decrypt_failed",
        ),
    ];
    for (d, msg, e) in answer_cases {
        cases.push(json!({"kind": "possession_answer", "description": d, "challenge_message": hex(&msg), "error": e}));
    }
    let earlier_answer = {
        let (_, earlier) = PossessionChallenge::new_deterministic(
            &f.public,
            &f.certificate,
            &seed("earlier relay ephemeral"),
            seed("earlier challenge"),
        )
        .unwrap();
        answer_possession_challenge_with_ephemeral(&secret, &f.certificate, &earlier, &peer_pe)
            .unwrap()
    };
    let wrong_echo = {
        let mut r = raw_responder(&pp, &f.secret, &peer_pe);
        read(&mut r, &pmsg1);
        write(&mut r, &[0x5a; 32])
    };
    let good_answer =
        answer_possession_challenge_with_ephemeral(&secret, &f.certificate, &pmsg1, &peer_pe)
            .unwrap();
    let verify_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "answer replayed from an earlier challenge",
            earlier_answer,
            "handshake_decrypt_failed",
        ),
        (
            "answer decrypts but echoes other bytes",
            wrong_echo,
            "challenge_mismatch",
        ),
        (
            "answer tampered",
            flip(good_answer.clone(), 60),
            "handshake_decrypt_failed",
        ),
        (
            "answer truncated",
            good_answer[..79].to_vec(),
            "malformed_handshake",
        ),
        (
            "answer ephemeral all-zero",
            with_e(good_answer.clone(), &zero),
            "non_contributory_dh",
        ),
    ];
    for (d, msg, e) in verify_cases {
        cases.push(json!({"kind": "possession_verify", "description": d, "answer_message": hex(&msg), "error": e}));
    }

    json!({
        "description": "Must-fail inputs (proto/crypto.md). Every case is rejected with 'error'. Kinds: \
            seeker_start(peer_static, handshake.supporter_certificate, handshake.seeker_ephemeral_secret); \
            peer_respond(handshake.supporter_static_secret, handshake.supporter_certificate, msg1, handshake.supporter_ephemeral_secret); \
            seeker_finish: start with handshake inputs, then finish(msg2); \
            transport: complete the reference handshake, then deliver 'messages' in order to 'receiver', each must give 'expect' \
            ('ok' = accepted; 'invalid_record' = decrypted but the padded record is invalid); \
            possession_answer(handshake.supporter_static_secret, certificate, challenge_message, possession.supporter_ephemeral_secret); \
            possession_verify: relay challenge from 'possession' inputs, then verify(answer_message).",
        "version": 1,
        "handshake": f.json(),
        "possession": {"relay_ephemeral_secret": hex(&relay_e), "challenge": hex(&challenge),
                        "supporter_ephemeral_secret": hex(&peer_pe)},
        "cases": cases,
    })
}
