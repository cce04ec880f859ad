//! `hybrid.json`: the hybrid post-quantum chat handshake (`Noise_NKpsk2` with an ML-KEM-768
//! PSK, `proto/crypto.md` §2.1) from fixed keys and randomness, and its must-fail inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::credentials::Credentials;
use super::{NOW, PROGRAM, seed};
use crate::common::{hex, record_to_json};
use confidant_crypto::SignedBody as _;
use confidant_crypto::mlkem::{self, HYBRID_PSK_INFO, MlKemSecret};
use confidant_crypto::{
    HYBRID_PROTOCOL_NAME, PeerHandshake, Record, SeekerHandshake, SupporterCertificate,
    SupporterSecret, chat_prologue, encode_padded, verify_chain,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DAY: u64 = 86_400;

/// The fixed inputs of the hybrid handshake.
pub struct HybridFixed {
    pub x25519_secret: [u8; 32],
    pub mlkem_seed: [u8; 64],
    pub certificate: Vec<u8>,
    pub seeker_e: [u8; 32],
    pub peer_e: [u8; 32],
    pub m: [u8; 32],
    pub agreed: Vec<&'static str>,
}

impl HybridFixed {
    pub fn new(k: &Credentials) -> Self {
        let x25519_secret = seed("hybrid supporter x25519 static");
        let mut mlkem_seed = [0_u8; 64];
        mlkem_seed[..32].copy_from_slice(&seed("hybrid supporter ml-kem d"));
        mlkem_seed[32..].copy_from_slice(&seed("hybrid supporter ml-kem z"));
        let certificate = supporter(
            k,
            SupporterSecret::from_bytes(x25519_secret).public(),
            Some(MlKemSecret::from_seed(&mlkem_seed).public()),
        );
        Self {
            x25519_secret,
            mlkem_seed,
            certificate,
            seeker_e: seed("hybrid seeker ephemeral"),
            peer_e: seed("hybrid supporter ephemeral"),
            m: seed("hybrid seeker ml-kem m"),
            agreed: Vec::new(),
        }
    }
}

/// A hybrid supporter certificate signed by the vectors' issuing key.
fn supporter(k: &Credentials, x25519_public: [u8; 32], mlkem: Option<Vec<u8>>) -> Vec<u8> {
    SupporterCertificate {
        program: PROGRAM.into(),
        issuer_key_id: k.issuing.key_id(),
        serial: 1043,
        x25519_public,
        display_name: "Alex K.".into(),
        role: "resident".into(),
        department: "Emergency".into(),
        topics: vec!["adverse-event".into()],
        languages: vec!["en".into()],
        not_before: NOW - DAY,
        not_after: NOW + 90 * DAY,
        mlkem768_public: mlkem,
    }
    .sign(&k.issuing)
    .unwrap()
}

fn err_code(e: confidant_crypto::NoiseError) -> &'static str {
    e.code()
}

pub fn hybrid(k: &Credentials) -> Value {
    let f = HybridFixed::new(k);
    let secret = SupporterSecret::from_bytes(f.x25519_secret);
    let kem = MlKemSecret::from_seed(&f.mlkem_seed);
    let public = kem.public();
    let cert_hash: [u8; 32] = Sha256::digest(&f.certificate).into();
    let verified = verify_chain(
        &k.root.public(),
        PROGRAM,
        &k.issuer_wire,
        &f.certificate,
        &k.list_wire,
        NOW,
        0,
    )
    .unwrap();
    assert_eq!(
        verified.certificate.mlkem768_public.as_deref(),
        Some(&public[..])
    );

    let (ciphertext, shared) = mlkem::encapsulate_with(&public, &f.m).unwrap();
    let psk = mlkem::hybrid_psk(&shared, &cert_hash);
    let (hs, msg1) = SeekerHandshake::start_hybrid_with_randomness(
        &secret.public(),
        &public,
        &f.certificate,
        &f.agreed,
        &f.seeker_e,
        &f.m,
    )
    .unwrap();
    let (mut peer, msg2) = PeerHandshake::respond_hybrid_with_ephemeral(
        &secret,
        &kem,
        &f.certificate,
        &f.agreed,
        &msg1,
        &f.peer_e,
    )
    .unwrap();
    let mut seeker = hs.finish(&msg2).unwrap();
    let mut messages = Vec::new();
    for (from, record) in [
        (
            "seeker",
            Record::Text("Is this chat safe from a recording?".into()),
        ),
        (
            "peer",
            Record::Text("Private now, and against a later quantum computer too.".into()),
        ),
    ] {
        let ct = if from == "seeker" {
            let ct = seeker.seal(&record).unwrap();
            assert_eq!(peer.open(&ct).unwrap(), record);
            ct
        } else {
            let ct = peer.seal(&record).unwrap();
            assert_eq!(seeker.open(&ct).unwrap(), record);
            ct
        };
        messages.push(
            json!({"from": from, "nonce": 0, "record": record_to_json(&record),
            "plaintext": hex(&encode_padded(&record).unwrap()), "ciphertext": hex(&ct)}),
        );
    }

    // Must-fail inputs, each with the side that refuses it and the code.
    let mut negative = Vec::new();
    let (_, plain) =
        SeekerHandshake::start_with_ephemeral(&secret.public(), &f.certificate, &f.seeker_e)
            .unwrap();
    let mut push = |description: &str, side: &str, input: &[u8], code: &str| {
        negative.push(
            json!({"description": description, "side": side, "message": hex(input), "error": code}),
        );
    };
    let respond = |m: &[u8]| {
        PeerHandshake::respond_for_certificate(&secret, Some(&kem), &f.certificate, &f.agreed, m)
            .map(|_| ())
            .map_err(err_code)
    };
    let code = respond(&plain).unwrap_err();
    push(
        "downgrade: a plain NK msg1 (48 bytes) to a supporter whose certificate carries an ML-KEM key",
        "supporter",
        &plain,
        code,
    );
    let stripped: Vec<u8> = msg1[..32]
        .iter()
        .chain(&msg1[32 + 1088..])
        .copied()
        .collect();
    let code = respond(&stripped).unwrap_err();
    push(
        "msg1 with the ML-KEM ciphertext cut out",
        "supporter",
        &stripped,
        code,
    );
    for (what, at) in [("first", 32), ("last", 32 + 1087)] {
        let mut bad = msg1.clone();
        bad[at] ^= 0x01;
        let code = respond(&bad).unwrap_err();
        push(
            &format!("msg1 with the {what} ciphertext byte flipped"),
            "supporter",
            &bad,
            code,
        );
    }
    let mut long = msg1.clone();
    long.push(0);
    let code = respond(&long).unwrap_err();
    push("msg1 one byte too long", "supporter", &long, code);
    // msg2 from a supporter holding another ML-KEM key (its decapsulation rejects implicitly).
    let (hs, m1) = SeekerHandshake::start_hybrid_with_randomness(
        &secret.public(),
        &public,
        &f.certificate,
        &f.agreed,
        &f.seeker_e,
        &f.m,
    )
    .unwrap();
    let other = MlKemSecret::from_seed(&[0x42; 64]);
    let (_, wrong_m2) = PeerHandshake::respond_hybrid_with_ephemeral(
        &secret,
        &other,
        &f.certificate,
        &f.agreed,
        &m1,
        &f.peer_e,
    )
    .unwrap();
    let code = err_code(hs.finish(&wrong_m2).unwrap_err());
    push(
        "msg2 from a supporter that decapsulated with another ML-KEM key (seed 42 x 64): the PSKs differ",
        "seeker",
        &wrong_m2,
        code,
    );
    // A certificate whose ML-KEM key fails the FIPS 203 modulus check.
    let weak = supporter(k, secret.public(), Some(vec![0xff; 1184]));
    let weak_code = verify_chain(
        &k.root.public(),
        PROGRAM,
        &k.issuer_wire,
        &weak,
        &k.list_wire,
        NOW,
        0,
    )
    .unwrap_err()
    .code();

    // The relay strips the key: the body is cut back to version 1 (version byte 1, key
    // removed), the issuer's signature kept — the signature no longer verifies.
    let (body, signature) = f.certificate.split_at(f.certificate.len() - 64);
    let mut stripped_cert = body[..body.len() - 1184].to_vec();
    stripped_cert[0] = 1;
    stripped_cert.extend_from_slice(signature);
    let stripped_code = verify_chain(
        &k.root.public(),
        PROGRAM,
        &k.issuer_wire,
        &stripped_cert,
        &k.list_wire,
        NOW,
        0,
    )
    .unwrap_err()
    .code();

    json!({
        "description": "The hybrid chat handshake (proto/crypto.md §2.1) from fixed keys and randomness: the \
                        supporter certificate (version 2) carries the ML-KEM-768 key; the seeker encapsulates with m, \
                        sends the ciphertext as msg1's payload, and both sides mix psk = HKDF-SHA256(salt = \
                        SHA-256(certificate), IKM = ML-KEM shared secret, info) at psk2. Running it with these inputs \
                        must reproduce ciphertext, shared secret, psk, msg1, msg2, handshake_hash and the records.",
        "version": 1,
        "protocol_name": HYBRID_PROTOCOL_NAME,
        "program": PROGRAM,
        "now": NOW,
        "root_public_key": hex(&k.root.public()),
        "issuer_certificate": hex(&k.issuer_wire),
        "revocation_list": hex(&k.list_wire),
        "supporter_certificate": hex(&f.certificate),
        "supporter_certificate_sha256": hex(&cert_hash),
        "supporter_static_secret": hex(&f.x25519_secret),
        "supporter_static_public": hex(&secret.public()),
        "mlkem_seed": hex(&f.mlkem_seed),
        "mlkem_public": hex(&public),
        "agreed_chat_features": f.agreed,
        "prologue": hex(&chat_prologue(&f.certificate, &f.agreed).unwrap()),
        "seeker_ephemeral_secret": hex(&f.seeker_e),
        "supporter_ephemeral_secret": hex(&f.peer_e),
        "mlkem_m": hex(&f.m),
        "mlkem_ciphertext": hex(&ciphertext),
        "mlkem_shared_secret": hex(shared.as_slice()),
        "psk_info": String::from_utf8(HYBRID_PSK_INFO.to_vec()).unwrap(),
        "psk": hex(psk.as_slice()),
        "msg1": hex(&msg1),
        "msg2": hex(&msg2),
        "handshake_hash": hex(&seeker.handshake_hash()),
        "messages": messages,
        "negative": negative,
        "weak_mlkem_certificate": {
            "description": "A version-2 supporter certificate whose ML-KEM key is 1184 bytes of 0xff (fails the modulus \
                            check): verify_chain refuses it.",
            "supporter_certificate": hex(&weak),
            "error": weak_code,
        },
        "stripped_mlkem_certificate": {
            "description": "The hybrid certificate with its ML-KEM key cut off and its version byte set to 1, as a relay \
                            downgrading it would: the issuer's signature no longer verifies.",
            "supporter_certificate": hex(&stripped_cert),
            "error": stripped_code,
        },
    })
}
