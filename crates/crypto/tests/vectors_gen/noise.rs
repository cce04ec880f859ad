//! `transcripts.json` (full handshakes and records) and `negative.json` (must-fail inputs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::credentials::Credentials;
use super::seed;
use crate::common::{hex, record_to_json};
use confidant_crypto::noise_resolver::ConfidantResolver;
use confidant_crypto::possession::{
    POSSESSION_PROLOGUE_LABEL, PossessionChallenge, answer_possession_challenge_with_ephemeral,
};
use confidant_crypto::{
    CHAT_PROLOGUE_LABEL, ChatSession, PROTOCOL_NAME, PeerHandshake, Record, ResourceCard,
    SeekerHandshake, SupporterSecret, encode_padded,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use snow::{Builder, HandshakeState, TransportState};

/// Low-order (or equivalent after masking bit 255) X25519 public keys.
pub const LOW_ORDER_POINTS: [(&str, &str); 9] = [
    (
        "zero",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "one (order 1... identity on the Montgomery curve maps to 0)",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "order-8 point",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ),
    (
        "order-8 point",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    ),
    (
        "p - 1 (order 2)",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "p (non-canonical zero)",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "p + 1 (non-canonical one)",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "zero with bit 255 set",
        "0000000000000000000000000000000000000000000000000000000000000080",
    ),
    (
        "order-8 point with bit 255 set",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    ),
];

pub fn prologue(label: &[u8], certificate: &[u8]) -> Vec<u8> {
    let mut p = label.to_vec();
    p.extend_from_slice(&Sha256::digest(certificate));
    p
}

pub fn raw_initiator(prologue: &[u8], rs: &[u8; 32], e: &[u8; 32]) -> HandshakeState {
    Builder::with_resolver(PROTOCOL_NAME.parse().unwrap(), Box::new(ConfidantResolver))
        .prologue(prologue)
        .unwrap()
        .remote_public_key(rs)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(e)
        .build_initiator()
        .unwrap()
}

pub fn raw_responder(prologue: &[u8], s: &[u8; 32], e: &[u8; 32]) -> HandshakeState {
    Builder::with_resolver(PROTOCOL_NAME.parse().unwrap(), Box::new(ConfidantResolver))
        .prologue(prologue)
        .unwrap()
        .local_private_key(s)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(e)
        .build_responder()
        .unwrap()
}

pub fn write(hs: &mut HandshakeState, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0_u8; 65535];
    let n = hs.write_message(payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub fn read(hs: &mut HandshakeState, msg: &[u8]) -> Vec<u8> {
    let mut buf = vec![0_u8; 65535];
    let n = hs.read_message(msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub fn seal_raw(t: &mut TransportState, plaintext: &[u8]) -> Vec<u8> {
    let mut buf = vec![0_u8; plaintext.len() + 16];
    let n = t.write_message(plaintext, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Fixed inputs of the reference chat handshake.
pub struct Fixed {
    pub secret: [u8; 32],
    pub public: [u8; 32],
    pub certificate: Vec<u8>,
    pub seeker_e: [u8; 32],
    pub peer_e: [u8; 32],
}

impl Fixed {
    pub fn new(k: &Credentials) -> Self {
        Self {
            secret: seed("supporter x25519 static"),
            public: k.supporter_secret.public(),
            certificate: k.supporter_wire.clone(),
            seeker_e: seed("seeker ephemeral"),
            peer_e: seed("supporter ephemeral"),
        }
    }

    pub fn json(&self) -> Value {
        json!({"supporter_static_secret": hex(&self.secret), "supporter_static_public": hex(&self.public),
               "supporter_certificate": hex(&self.certificate), "seeker_ephemeral_secret": hex(&self.seeker_e),
               "supporter_ephemeral_secret": hex(&self.peer_e),
               "prologue": hex(&prologue(CHAT_PROLOGUE_LABEL, &self.certificate))})
    }

    /// Our API's sessions (seeker, peer) plus msg1 and msg2.
    pub fn sessions(&self) -> (ChatSession, ChatSession, Vec<u8>, Vec<u8>) {
        let secret = SupporterSecret::from_bytes(self.secret);
        let (hs, m1) =
            SeekerHandshake::start_with_ephemeral(&self.public, &self.certificate, &self.seeker_e)
                .unwrap();
        let (peer, m2) =
            PeerHandshake::respond_with_ephemeral(&secret, &self.certificate, &m1, &self.peer_e)
                .unwrap();
        (hs.finish(&m2).unwrap(), peer, m1, m2)
    }

    /// The same handshake through plain snow, for sealing arbitrary plaintexts.
    pub fn raw_transports(&self) -> (TransportState, TransportState) {
        let p = prologue(CHAT_PROLOGUE_LABEL, &self.certificate);
        let mut i = raw_initiator(&p, &self.public, &self.seeker_e);
        let mut r = raw_responder(&p, &self.secret, &self.peer_e);
        let m1 = write(&mut i, &[]);
        read(&mut r, &m1);
        let m2 = write(&mut r, &[]);
        read(&mut i, &m2);
        (
            i.into_transport_mode().unwrap(),
            r.into_transport_mode().unwrap(),
        )
    }
}

/// The reference conversation: (sender, record).
fn conversation() -> Vec<(&'static str, Record)> {
    vec![
        (
            "seeker",
            Record::Text("Hi. Rough night on the ward, can we talk?".into()),
        ),
        ("peer", Record::Typing(true)),
        (
            "peer",
            Record::Text("Of course. I'm here and I have time. What happened?".into()),
        ),
        ("seeker", Record::Read(1)),
        (
            "seeker",
            Record::Text("We lost a patient I had cared for all week. ".repeat(8)),
        ),
        (
            "peer",
            Record::Resource(ResourceCard {
                title: "Clinician support line".into(),
                url: Some("https://example.invalid/support".into()),
                phone: Some("+1 555 0100".into()),
            }),
        ),
        ("seeker", Record::End),
    ]
}

pub fn transcripts(k: &Credentials) -> Value {
    let f = Fixed::new(k);
    let (mut seeker, mut peer, m1, m2) = f.sessions();
    let mut messages = Vec::new();
    let (mut seeker_nonce, mut peer_nonce) = (0_u64, 0_u64);
    for (from, record) in conversation() {
        let padded = encode_padded(&record).unwrap();
        let (ct, nonce) = if from == "seeker" {
            let ct = seeker.seal(&record).unwrap();
            assert_eq!(peer.open(&ct).unwrap(), record);
            seeker_nonce += 1;
            (ct, seeker_nonce - 1)
        } else {
            let ct = peer.seal(&record).unwrap();
            assert_eq!(seeker.open(&ct).unwrap(), record);
            peer_nonce += 1;
            (ct, peer_nonce - 1)
        };
        messages.push(
            json!({"from": from, "nonce": nonce, "record": record_to_json(&record),
                             "plaintext": hex(&padded), "ciphertext": hex(&ct)}),
        );
    }

    // Possession proof with fixed relay ephemeral, challenge and peer ephemeral.
    let relay_e = seed("relay possession ephemeral");
    let challenge = seed("possession challenge");
    let peer_pe = seed("supporter possession ephemeral");
    let secret = SupporterSecret::from_bytes(f.secret);
    let (pending, pmsg1) =
        PossessionChallenge::new_deterministic(&f.public, &f.certificate, &relay_e, challenge)
            .unwrap();
    let pmsg2 =
        answer_possession_challenge_with_ephemeral(&secret, &f.certificate, &pmsg1, &peer_pe)
            .unwrap();
    pending.verify(&pmsg2).unwrap();

    json!({
        "description": "Full Noise_NK_25519_ChaChaPoly_SHA256 chat handshake and transport records from fixed keys and \
                        ephemerals (proto/crypto.md, 'Chat handshake', 'Records'), and one possession proof. Running the \
                        handshake with these inputs must reproduce msg1, msg2, handshake_hash and every ciphertext; each \
                        side's nonce counts its own sent messages from 0.",
        "version": 1,
        "protocol_name": PROTOCOL_NAME,
        "handshake": f.json(),
        "msg1": hex(&m1),
        "msg2": hex(&m2),
        "handshake_hash": hex(&seeker.handshake_hash()),
        "messages": messages,
        "possession": {
            "description": "The relay (NK initiator) challenges the supporter's static key; prologue is \
                            'confidant-v1-possession' || SHA-256(certificate); msg1 payload is the challenge, msg2 payload echoes it.",
            "supporter_static_public": hex(&f.public),
            "supporter_certificate_sha256": hex(&Sha256::digest(&f.certificate)),
            "prologue": hex(&prologue(POSSESSION_PROLOGUE_LABEL, &f.certificate)),
            "relay_ephemeral_secret": hex(&relay_e),
            "challenge": hex(&challenge),
            "supporter_ephemeral_secret": hex(&peer_pe),
            "challenge_message": hex(&pmsg1),
            "answer_message": hex(&pmsg2),
        },
    })
}
