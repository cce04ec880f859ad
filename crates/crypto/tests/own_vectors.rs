//! Our own vectors in `proto/vectors/*.json`.
//!
//! `committed_vectors_match_generator` proves the files are exactly what the deterministic
//! generator (`tests/vectors_gen/`) produces; regenerate with
//! `CONFIDANT_REGENERATE_VECTORS=1 cargo test -p confidant-crypto --test own_vectors`.
//! The other tests read the committed files the way a third-party implementation would and
//! check every case against our public API. Run with `--nocapture` to see the counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
mod vectors_gen;

use common::{field_bytes, hex, load_json, record_from_json, unhex, unhex_array, vectors_dir};
use confidant_crypto::SignedBody as _;
use confidant_crypto::possession::{
    PossessionChallenge, answer_possession_challenge_with_ephemeral,
};
use confidant_crypto::{
    ChatSession, NoiseError, PeerHandshake, SeekerHandshake, SupporterSecret, decode_padded,
    encode_padded, verify_chain,
};
use serde_json::Value;

#[test]
fn committed_vectors_match_generator() {
    let regenerate = std::env::var_os("CONFIDANT_REGENERATE_VECTORS").is_some();
    for (name, contents) in vectors_gen::generate() {
        let path = vectors_dir().join(name);
        if regenerate {
            std::fs::write(&path, &contents).unwrap();
            println!("wrote {}", path.display());
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == contents,
            "{} differs from the generator; run CONFIDANT_REGENERATE_VECTORS=1 cargo test -p confidant-crypto --test own_vectors",
            path.display()
        );
    }
}

#[test]
fn certificates_json() {
    let doc = load_json("certificates.json");
    let (mut ok, mut err) = (0, 0);
    for c in doc["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let root: [u8; 32] = unhex_array(c["root_public_key"].as_str().unwrap());
        let result = verify_chain(
            &root,
            c["program"].as_str().unwrap(),
            &field_bytes(c, "issuer_certificate"),
            &field_bytes(c, "supporter_certificate"),
            &field_bytes(c, "revocation_list"),
            c["now"].as_u64().unwrap(),
            c["min_sequence"].as_u64().unwrap(),
        );
        let expected = &c["expected"];
        match (expected["result"].as_str().unwrap(), result) {
            ("ok", Ok(v)) => {
                assert_eq!(
                    v.certificate.serial,
                    expected["serial"].as_u64().unwrap(),
                    "{name}"
                );
                assert_eq!(
                    v.certificate_hash.to_vec(),
                    field_bytes(expected, "certificate_hash"),
                    "{name}"
                );
                assert_eq!(
                    v.revocation_sequence,
                    expected["revocation_sequence"].as_u64().unwrap(),
                    "{name}"
                );
                ok += 1;
            }
            ("error", Err(e)) => {
                assert_eq!(e.code(), expected["error"].as_str().unwrap(), "{name}");
                assert_eq!(e.detail(), expected["detail"].as_str(), "{name}");
                err += 1;
            }
            (want, got) => panic!("{name}: expected {want}, got {got:?}"),
        }
    }
    // Each encoding's body decodes and re-encodes to the same bytes.
    for e in doc["encodings"].as_array().unwrap() {
        let wire = field_bytes(e, "wire");
        let body = field_bytes(e, "body");
        let reencoded = match e["kind"].as_str().unwrap() {
            "issuer_certificate" => confidant_crypto::IssuerCertificate::decode_unverified(&wire)
                .unwrap()
                .encode_body()
                .unwrap(),
            "supporter_certificate" => {
                confidant_crypto::SupporterCertificate::decode_unverified(&wire)
                    .unwrap()
                    .encode_body()
                    .unwrap()
            }
            _ => confidant_crypto::RevocationList::decode_unverified(&wire)
                .unwrap()
                .encode_body()
                .unwrap(),
        };
        assert_eq!(reencoded, body);
    }
    println!(
        "certificates.json: {} cases run ({ok} valid, {err} rejected), 0 skipped",
        ok + err
    );
    assert!(
        ok >= 2 && err >= 20,
        "too few certificate cases: {ok} ok, {err} errors"
    );
}

#[test]
fn padding_json() {
    let doc = load_json("padding.json");
    let (mut valid, mut invalid) = (0, 0);
    for c in doc["valid"].as_array().unwrap() {
        let record = record_from_json(&c["record"]);
        let padded = field_bytes(c, "padded");
        assert_eq!(
            encode_padded(&record).unwrap(),
            padded,
            "{}",
            c["description"]
        );
        assert_eq!(
            decode_padded(&padded).unwrap(),
            record,
            "{}",
            c["description"]
        );
        valid += 1;
    }
    for c in doc["invalid"].as_array().unwrap() {
        let err =
            decode_padded(&field_bytes(c, "padded")).expect_err(c["description"].as_str().unwrap());
        assert_eq!(
            err.code(),
            c["error"].as_str().unwrap(),
            "{}",
            c["description"]
        );
        invalid += 1;
    }
    println!(
        "padding.json: {} cases run ({valid} valid, {invalid} invalid), 0 skipped",
        valid + invalid
    );
    assert!(valid >= 10 && invalid >= 20);
}

struct Handshake {
    secret: [u8; 32],
    public: [u8; 32],
    certificate: Vec<u8>,
    seeker_e: [u8; 32],
    peer_e: [u8; 32],
}

impl Handshake {
    fn from_json(h: &Value) -> Self {
        Self {
            secret: unhex_array(h["supporter_static_secret"].as_str().unwrap()),
            public: unhex_array(h["supporter_static_public"].as_str().unwrap()),
            certificate: field_bytes(h, "supporter_certificate"),
            seeker_e: unhex_array(h["seeker_ephemeral_secret"].as_str().unwrap()),
            peer_e: unhex_array(h["supporter_ephemeral_secret"].as_str().unwrap()),
        }
    }

    fn run(&self) -> (ChatSession, ChatSession, Vec<u8>, Vec<u8>) {
        let secret = SupporterSecret::from_bytes(self.secret);
        assert_eq!(secret.public(), self.public);
        let (hs, m1) =
            SeekerHandshake::start_with_ephemeral(&self.public, &self.certificate, &self.seeker_e)
                .unwrap();
        let (peer, m2) =
            PeerHandshake::respond_with_ephemeral(&secret, &self.certificate, &m1, &self.peer_e)
                .unwrap();
        (hs.finish(&m2).unwrap(), peer, m1, m2)
    }
}

#[test]
fn transcripts_json() {
    let doc = load_json("transcripts.json");
    let h = Handshake::from_json(&doc["handshake"]);
    let (mut seeker, mut peer, m1, m2) = h.run();
    assert_eq!(m1, field_bytes(&doc, "msg1"));
    assert_eq!(m2, field_bytes(&doc, "msg2"));
    assert_eq!(
        seeker.handshake_hash().to_vec(),
        field_bytes(&doc, "handshake_hash")
    );
    assert_eq!(peer.handshake_hash(), seeker.handshake_hash());
    let mut records = 0;
    for m in doc["messages"].as_array().unwrap() {
        let record = record_from_json(&m["record"]);
        assert_eq!(encode_padded(&record).unwrap(), field_bytes(m, "plaintext"));
        let (sender, receiver) = if m["from"] == "seeker" {
            (&mut seeker, &mut peer)
        } else {
            (&mut peer, &mut seeker)
        };
        let ct = sender.seal(&record).unwrap();
        assert_eq!(ct, field_bytes(m, "ciphertext"), "record {records}");
        assert_eq!(receiver.open(&ct).unwrap(), record);
        records += 1;
    }
    let p = &doc["possession"];
    let (pending, c) = PossessionChallenge::new_deterministic(
        &h.public,
        &h.certificate,
        &unhex_array(p["relay_ephemeral_secret"].as_str().unwrap()),
        unhex_array(p["challenge"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(c, field_bytes(p, "challenge_message"));
    let answer = answer_possession_challenge_with_ephemeral(
        &SupporterSecret::from_bytes(h.secret),
        &h.certificate,
        &c,
        &unhex_array(p["supporter_ephemeral_secret"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(answer, field_bytes(p, "answer_message"));
    pending.verify(&answer).unwrap();
    println!(
        "transcripts.json: 1 handshake, {records} records, 1 possession proof checked, 0 skipped"
    );
    assert!(records >= 5);
}

fn code(r: Result<impl std::fmt::Debug, NoiseError>) -> String {
    match r {
        Ok(v) => format!("accepted: {v:?}"),
        Err(e) => e.code().to_owned(),
    }
}

#[test]
fn negative_json() {
    let doc = load_json("negative.json");
    let h = Handshake::from_json(&doc["handshake"]);
    let secret = SupporterSecret::from_bytes(h.secret);
    let p = &doc["possession"];
    let relay_e: [u8; 32] = unhex_array(p["relay_ephemeral_secret"].as_str().unwrap());
    let challenge: [u8; 32] = unhex_array(p["challenge"].as_str().unwrap());
    let peer_pe: [u8; 32] = unhex_array(p["supporter_ephemeral_secret"].as_str().unwrap());
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for c in doc["cases"].as_array().unwrap() {
        let kind = c["kind"].as_str().unwrap();
        let want = c["error"].as_str().unwrap();
        let d = c["description"].as_str().unwrap();
        let got = match kind {
            "seeker_start" => {
                let key: [u8; 32] = unhex_array(c["peer_static"].as_str().unwrap());
                code(
                    SeekerHandshake::start_with_ephemeral(&key, &h.certificate, &h.seeker_e)
                        .map(|_| ()),
                )
            }
            "peer_respond" => code(
                PeerHandshake::respond_with_ephemeral(
                    &secret,
                    &h.certificate,
                    &field_bytes(c, "msg1"),
                    &h.peer_e,
                )
                .map(|_| ()),
            ),
            "seeker_finish" => {
                let (hs, _) =
                    SeekerHandshake::start_with_ephemeral(&h.public, &h.certificate, &h.seeker_e)
                        .unwrap();
                code(hs.finish(&field_bytes(c, "msg2")).map(|_| ()))
            }
            "transport" => {
                let (mut seeker, mut peer, _, _) = h.run();
                let receiver = if c["receiver"] == "seeker" {
                    &mut seeker
                } else {
                    &mut peer
                };
                let mut last = String::new();
                for m in c["messages"].as_array().unwrap() {
                    let r = receiver.open(&unhex(m["ciphertext"].as_str().unwrap()));
                    let expect = m["expect"].as_str().unwrap();
                    last = match r {
                        Ok(_) => "ok".to_owned(),
                        Err(e) => e.code().to_owned(),
                    };
                    assert_eq!(last, expect, "{d}");
                }
                last
            }
            "possession_answer" => code(answer_possession_challenge_with_ephemeral(
                &secret,
                &h.certificate,
                &field_bytes(c, "challenge_message"),
                &peer_pe,
            )),
            "possession_verify" => {
                let (pending, _) = PossessionChallenge::new_deterministic(
                    &h.public,
                    &h.certificate,
                    &relay_e,
                    challenge,
                )
                .unwrap();
                code(pending.verify(&field_bytes(c, "answer_message")))
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(got, want, "{kind}: {d}");
        *counts.entry(kind.to_owned()).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    println!("negative.json: {total} cases run, all rejected, 0 skipped; by kind: {counts:?}");
    for kind in [
        "seeker_start",
        "peer_respond",
        "seeker_finish",
        "transport",
        "possession_answer",
        "possession_verify",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= 3,
            "too few {kind} cases"
        );
    }
    assert!(total >= 50, "only {total} negative cases");
}

/// `hybrid.json`: the hybrid handshake reproduces byte for byte from the file's inputs, the
/// certificate verifies and carries the ML-KEM key, and every negative case fails with its
/// code on its side.
#[test]
fn hybrid_json() {
    use confidant_crypto::MlKemSecret;
    use confidant_crypto::mlkem::{encapsulate_with, hybrid_psk};
    let h = load_json("hybrid.json");
    let bytes = |k: &str| field_bytes(&h, k);
    let cert = bytes("supporter_certificate");
    let root: [u8; 32] = unhex_array(h["root_public_key"].as_str().unwrap());
    let now = h["now"].as_u64().unwrap();
    let program = h["program"].as_str().unwrap();
    let verified = verify_chain(
        &root,
        program,
        &bytes("issuer_certificate"),
        &cert,
        &bytes("revocation_list"),
        now,
        0,
    )
    .unwrap();
    let public = bytes("mlkem_public");
    assert_eq!(
        verified.certificate.mlkem768_public.as_deref(),
        Some(&public[..])
    );
    assert_eq!(
        hex(&verified.certificate_hash),
        h["supporter_certificate_sha256"].as_str().unwrap()
    );
    let kem = MlKemSecret::from_seed(&unhex_array(h["mlkem_seed"].as_str().unwrap()));
    assert_eq!(kem.public(), public);
    let secret =
        SupporterSecret::from_bytes(unhex_array(h["supporter_static_secret"].as_str().unwrap()));
    let m: [u8; 32] = unhex_array(h["mlkem_m"].as_str().unwrap());
    let (ct, shared) = encapsulate_with(&public, &m).unwrap();
    assert_eq!(hex(&ct), h["mlkem_ciphertext"].as_str().unwrap());
    assert_eq!(
        hex(shared.as_slice()),
        h["mlkem_shared_secret"].as_str().unwrap()
    );
    assert_eq!(
        hex(hybrid_psk(&shared, &verified.certificate_hash).as_slice()),
        h["psk"].as_str().unwrap()
    );
    let agreed: Vec<&str> = h["agreed_chat_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        hex(&confidant_crypto::chat_prologue(&cert, &agreed).unwrap()),
        h["prologue"].as_str().unwrap()
    );
    let (hs, msg1) = SeekerHandshake::start_hybrid_with_randomness(
        &secret.public(),
        &public,
        &cert,
        &agreed,
        &unhex_array(h["seeker_ephemeral_secret"].as_str().unwrap()),
        &m,
    )
    .unwrap();
    assert_eq!(hex(&msg1), h["msg1"].as_str().unwrap());
    let (mut peer, msg2) = PeerHandshake::respond_hybrid_with_ephemeral(
        &secret,
        &kem,
        &cert,
        &agreed,
        &msg1,
        &unhex_array(h["supporter_ephemeral_secret"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(hex(&msg2), h["msg2"].as_str().unwrap());
    let mut seeker = hs.finish(&msg2).unwrap();
    assert_eq!(
        hex(&seeker.handshake_hash()),
        h["handshake_hash"].as_str().unwrap()
    );
    for m in h["messages"].as_array().unwrap() {
        let record = record_from_json(&m["record"]);
        let ct = field_bytes(m, "ciphertext");
        if m["from"] == "seeker" {
            assert_eq!(seeker.seal(&record).unwrap(), ct);
            assert_eq!(peer.open(&ct).unwrap(), record);
        } else {
            assert_eq!(peer.seal(&record).unwrap(), ct);
            assert_eq!(seeker.open(&ct).unwrap(), record);
        }
    }
    let mut count = 0;
    for n in h["negative"].as_array().unwrap() {
        let input = field_bytes(n, "message");
        let got = if n["side"] == "supporter" {
            code(PeerHandshake::respond_for_certificate(
                &secret,
                Some(&kem),
                &cert,
                &agreed,
                &input,
            ))
        } else {
            let (hs, _) = SeekerHandshake::start_hybrid_with_randomness(
                &secret.public(),
                &public,
                &cert,
                &agreed,
                &unhex_array(h["seeker_ephemeral_secret"].as_str().unwrap()),
                &m,
            )
            .unwrap();
            code(hs.finish(&input))
        };
        assert_eq!(got, n["error"].as_str().unwrap(), "{}", n["description"]);
        count += 1;
    }
    for case in ["weak_mlkem_certificate", "stripped_mlkem_certificate"] {
        let weak = &h[case];
        let err = verify_chain(
            &root,
            program,
            &bytes("issuer_certificate"),
            &field_bytes(weak, "supporter_certificate"),
            &bytes("revocation_list"),
            now,
            0,
        )
        .unwrap_err();
        assert_eq!(err.code(), weak["error"].as_str().unwrap(), "{case}");
    }
    println!(
        "hybrid.json: handshake, {} records, {count} must-fail inputs, 1 weak key",
        h["messages"].as_array().unwrap().len()
    );
}
