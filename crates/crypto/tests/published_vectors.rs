//! Published conformance vectors (cacophony Noise, Wycheproof X25519 / ChaCha20-Poly1305 /
//! Ed25519) through the exact primitives the crate uses. Each test prints its counts; run with
//! `--nocapture` to see them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use common::{field_bytes, hex, load_json, unhex, unhex_array};
use confidant_crypto::noise_resolver::{ConfidantResolver, resolver_x25519};
use confidant_crypto::{PeerHandshake, SeekerHandshake, SupporterSecret};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use snow::params::{HandshakeModifier, NoiseParams};
use snow::{Builder, HandshakeState};

const SUITE_SUFFIX: &str = "_25519_ChaChaPoly_SHA256";

fn builder<'a>(params: &NoiseParams) -> Builder<'a> {
    Builder::with_resolver(params.clone(), Box::new(ConfidantResolver))
}

fn opt_bytes(v: &serde_json::Value, key: &str) -> Option<Vec<u8>> {
    v.get(key).and_then(|x| x.as_str()).map(unhex)
}

/// Builds the initiator and responder for one cacophony vector, as snow's own harness does.
fn build_pair(v: &serde_json::Value, params: &NoiseParams) -> (HandshakeState, HandshakeState) {
    let init_psks: Vec<Vec<u8>> = v["init_psks"]
        .as_array()
        .map(|a| a.iter().map(|p| unhex(p.as_str().unwrap())).collect())
        .unwrap_or_default();
    let resp_psks: Vec<Vec<u8>> = v["resp_psks"]
        .as_array()
        .map(|a| a.iter().map(|p| unhex(p.as_str().unwrap())).collect())
        .unwrap_or_default();
    let init_prologue = field_bytes(v, "init_prologue");
    let resp_prologue = field_bytes(v, "resp_prologue");
    let init_s = opt_bytes(v, "init_static");
    let resp_s = opt_bytes(v, "resp_static");
    let init_rs = opt_bytes(v, "init_remote_static");
    let resp_rs = opt_bytes(v, "resp_remote_static");
    let init_e = opt_bytes(v, "init_ephemeral");
    let resp_e = opt_bytes(v, "resp_ephemeral");
    let psk_arrays: Vec<([u8; 32], [u8; 32])> = init_psks
        .iter()
        .zip(&resp_psks)
        .map(|(i, r)| (i.clone().try_into().unwrap(), r.clone().try_into().unwrap()))
        .collect();

    let mut ib = builder(params).prologue(&init_prologue).unwrap();
    let mut rb = builder(params).prologue(&resp_prologue).unwrap();
    let mut psk_index = 0;
    for modifier in &params.handshake.modifiers.list {
        if let HandshakeModifier::Psk(n) = modifier {
            let (ipsk, rpsk) = &psk_arrays[psk_index];
            ib = ib.psk(*n, ipsk).unwrap();
            rb = rb.psk(*n, rpsk).unwrap();
            psk_index += 1;
        }
    }
    if let Some(k) = &init_s {
        ib = ib.local_private_key(k).unwrap();
    }
    if let Some(k) = &resp_s {
        rb = rb.local_private_key(k).unwrap();
    }
    if let Some(k) = &init_rs {
        ib = ib.remote_public_key(k).unwrap();
    }
    if let Some(k) = &resp_rs {
        rb = rb.remote_public_key(k).unwrap();
    }
    if let Some(k) = &init_e {
        ib = ib.fixed_ephemeral_key_for_testing_only(k);
    }
    if let Some(k) = &resp_e {
        rb = rb.fixed_ephemeral_key_for_testing_only(k);
    }
    (ib.build_initiator().unwrap(), rb.build_responder().unwrap())
}

/// Runs one vector's messages; returns an error string on the first mismatch.
fn run_cacophony(v: &serde_json::Value, params: &NoiseParams) -> Result<(), String> {
    let (mut init, mut resp) = build_pair(v, params);
    let messages = v["messages"].as_array().unwrap();
    let mut buf = vec![0_u8; 65535];
    let mut out = vec![0_u8; 65535];
    let mut iter = messages.iter().enumerate();
    while !init.is_handshake_finished() {
        let (i, m) = iter.next().ok_or("ran out of messages in handshake")?;
        let (send, recv) = if i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let payload = field_bytes(m, "payload");
        let n = send
            .write_message(&payload, &mut buf)
            .map_err(|e| format!("write {i}: {e:?}"))?;
        if buf[..n] != field_bytes(m, "ciphertext")[..] {
            return Err(format!("handshake message {i} ciphertext differs"));
        }
        let r = recv
            .read_message(&buf[..n], &mut out)
            .map_err(|e| format!("read {i}: {e:?}"))?;
        if out[..r] != payload[..] {
            return Err(format!("handshake message {i} payload differs"));
        }
    }
    let expected_hash = field_bytes(v, "handshake_hash");
    if init.get_handshake_hash() != &expected_hash[..]
        || resp.get_handshake_hash() != &expected_hash[..]
    {
        return Err("handshake hash differs".into());
    }
    let oneway = params.handshake.pattern.is_oneway();
    let mut init = init.into_transport_mode().map_err(|e| format!("{e:?}"))?;
    let mut resp = resp.into_transport_mode().map_err(|e| format!("{e:?}"))?;
    for (i, m) in iter {
        let (send, recv) = if oneway || i % 2 == 0 {
            (&mut init, &mut resp)
        } else {
            (&mut resp, &mut init)
        };
        let payload = field_bytes(m, "payload");
        let n = send
            .write_message(&payload, &mut buf)
            .map_err(|e| format!("write {i}: {e:?}"))?;
        if buf[..n] != field_bytes(m, "ciphertext")[..] {
            return Err(format!("transport message {i} ciphertext differs"));
        }
        let r = recv
            .read_message(&buf[..n], &mut out)
            .map_err(|e| format!("read {i}: {e:?}"))?;
        if out[..r] != payload[..] {
            return Err(format!("transport message {i} payload differs"));
        }
    }
    Ok(())
}

#[test]
fn cacophony_25519_chachapoly_sha256() {
    let doc = load_json("published/cacophony.txt");
    let (mut run, mut skipped, mut nk) = (0_usize, 0_usize, 0_usize);
    let mut failures = Vec::new();
    for v in doc["vectors"].as_array().unwrap() {
        let name = v["protocol_name"].as_str().unwrap_or_default();
        if !name.ends_with(SUITE_SUFFIX) {
            continue;
        }
        let Ok(params) = name.parse::<NoiseParams>() else {
            skipped += 1;
            println!("cacophony: skipped {name} (pattern not supported by snow)");
            continue;
        };
        match run_cacophony(v, &params) {
            Ok(()) => run += 1,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        if name == "Noise_NK_25519_ChaChaPoly_SHA256" {
            nk += 1;
        }
    }
    println!(
        "cacophony: {run} cases run, {skipped} skipped, {} failed ({nk} of them NK)",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        run >= 59,
        "expected at least 59 *_25519_ChaChaPoly_SHA256 cases, ran {run}"
    );
    assert!(nk >= 1, "no NK case");
}

/// Our handshake API is exactly NK with the documented prologue: using the cacophony NK keys
/// and ephemerals, `SeekerHandshake`/`PeerHandshake` produce the same bytes and hash as a plain
/// snow NK handshake whose prologue is `confidant-v1-chat || SHA-256(certificate)`.
#[test]
fn cacophony_nk_keys_through_our_handshake_api() {
    let doc = load_json("published/cacophony.txt");
    let mut checked = 0;
    for v in doc["vectors"].as_array().unwrap() {
        if v["protocol_name"] != "Noise_NK_25519_ChaChaPoly_SHA256" {
            continue;
        }
        let resp_static: [u8; 32] = unhex_array(v["resp_static"].as_str().unwrap());
        let rs: [u8; 32] = unhex_array(v["init_remote_static"].as_str().unwrap());
        let ie: [u8; 32] = unhex_array(v["init_ephemeral"].as_str().unwrap());
        let re: [u8; 32] = unhex_array(v["resp_ephemeral"].as_str().unwrap());
        let certificate = b"any certificate bytes";
        let mut prologue = b"confidant-v1-chat".to_vec();
        prologue.extend_from_slice(&Sha256::digest(certificate));

        let params: NoiseParams = "Noise_NK_25519_ChaChaPoly_SHA256".parse().unwrap();
        let mut init = builder(&params)
            .prologue(&prologue)
            .unwrap()
            .remote_public_key(&rs)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&ie)
            .build_initiator()
            .unwrap();
        let mut resp = builder(&params)
            .prologue(&prologue)
            .unwrap()
            .local_private_key(&resp_static)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&re)
            .build_responder()
            .unwrap();
        let mut m1 = [0_u8; 48];
        let mut m2 = [0_u8; 48];
        let mut scratch = [0_u8; 48];
        init.write_message(&[], &mut m1).unwrap();
        resp.read_message(&m1, &mut scratch).unwrap();
        resp.write_message(&[], &mut m2).unwrap();
        init.read_message(&m2, &mut scratch).unwrap();

        let secret = SupporterSecret::from_bytes(resp_static);
        assert_eq!(secret.public(), rs);
        let (seeker, our_m1) =
            SeekerHandshake::start_with_ephemeral(&rs, certificate, &ie).unwrap();
        assert_eq!(our_m1, m1);
        let (peer, our_m2) =
            PeerHandshake::respond_with_ephemeral(&secret, certificate, &our_m1, &re).unwrap();
        assert_eq!(our_m2, m2);
        let seeker = seeker.finish(&our_m2).unwrap();
        assert_eq!(seeker.handshake_hash(), init.get_handshake_hash());
        assert_eq!(peer.handshake_hash(), init.get_handshake_hash());
        checked += 1;
    }
    println!("cacophony NK through our handshake API: {checked} cases run, 0 skipped");
    assert!(checked >= 1);
}

#[test]
fn wycheproof_x25519() {
    let doc = load_json("published/wycheproof-x25519_test.json");
    let (mut run, mut accepted, mut rejected_zero, mut acceptable_accepted) = (0, 0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        assert_eq!(group["curve"], "curve25519");
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let private: [u8; 32] = unhex_array(t["private"].as_str().unwrap());
            let public: [u8; 32] = unhex_array(t["public"].as_str().unwrap());
            let shared: [u8; 32] = unhex_array(t["shared"].as_str().unwrap());
            let result = t["result"].as_str().unwrap();
            assert_ne!(
                result, "invalid",
                "tc {id}: no invalid X25519 cases expected"
            );
            // The primitive itself agrees with Wycheproof on every case...
            assert_eq!(
                x25519_dalek::x25519(private, public),
                shared,
                "tc {id} primitive"
            );
            // ...and our resolver refuses exactly the all-zero (non-contributory) results.
            let ours = resolver_x25519(&private, &public);
            if shared == [0; 32] {
                assert_eq!(result, "acceptable", "tc {id}");
                assert_eq!(
                    ours, None,
                    "tc {id}: all-zero shared secret must be rejected"
                );
                rejected_zero += 1;
            } else {
                assert_eq!(ours, Some(shared), "tc {id}: {}", hex(&public));
                accepted += 1;
                if result == "acceptable" {
                    acceptable_accepted += 1;
                }
            }
            run += 1;
        }
    }
    println!(
        "wycheproof x25519: {run} cases run, 0 skipped; {accepted} accepted \
         ({acceptable_accepted} of them 'acceptable'), {rejected_zero} 'acceptable' rejected as all-zero"
    );
    assert!(run >= 518, "ran only {run}");
    assert_eq!(rejected_zero, 31);
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let doc = load_json("published/wycheproof-chacha20_poly1305_test.json");
    let (mut run, mut skipped, mut valid, mut invalid) = (0, 0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let iv_bits = group["ivSize"].as_u64().unwrap();
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            if iv_bits != 96 {
                // chacha20poly1305 (RFC 8439) takes only 96-bit nonces; Noise never uses others.
                skipped += 1;
                continue;
            }
            let key: [u8; 32] = unhex_array(t["key"].as_str().unwrap());
            let nonce: [u8; 12] = unhex_array(t["iv"].as_str().unwrap());
            let aad = field_bytes(t, "aad");
            let msg = field_bytes(t, "msg");
            let mut ct = field_bytes(t, "ct");
            ct.extend_from_slice(&field_bytes(t, "tag"));
            let aead = ChaCha20Poly1305::new(&key.into());
            let nonce = Nonce::from(nonce);
            let opened = aead.decrypt(
                &nonce,
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            );
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(opened.as_deref(), Ok(&msg[..]), "tc {id} decrypt");
                    let sealed = aead
                        .encrypt(
                            &nonce,
                            Payload {
                                msg: &msg,
                                aad: &aad,
                            },
                        )
                        .unwrap();
                    assert_eq!(sealed, ct, "tc {id} encrypt");
                    valid += 1;
                }
                "invalid" => {
                    assert!(opened.is_err(), "tc {id}: invalid case decrypted");
                    invalid += 1;
                }
                other => panic!("tc {id}: unexpected result {other}"),
            }
            run += 1;
        }
    }
    println!(
        "wycheproof chacha20-poly1305: {run} cases run ({valid} valid, {invalid} invalid), \
         {skipped} skipped (nonce not 96 bits)"
    );
    assert!(run >= 316, "ran only {run}");
    assert!(skipped <= 9, "skipped {skipped}");
}

#[test]
fn wycheproof_ed25519_verify_strict() {
    let doc = load_json("published/wycheproof-ed25519_test.json");
    let (mut run, mut valid, mut invalid, mut acceptable) = (0, 0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let pk: [u8; 32] = unhex_array(group["publicKey"]["pk"].as_str().unwrap());
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let msg = field_bytes(t, "msg");
            let sig = field_bytes(t, "sig");
            let ok = match (
                VerifyingKey::from_bytes(&pk),
                <[u8; 64]>::try_from(sig.as_slice()),
            ) {
                (Ok(key), Ok(sig)) => key
                    .verify_strict(&msg, &Signature::from_bytes(&sig))
                    .is_ok(),
                _ => false,
            };
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert!(ok, "tc {id}: valid signature rejected");
                    valid += 1;
                }
                "invalid" => {
                    assert!(!ok, "tc {id}: invalid signature accepted");
                    invalid += 1;
                }
                _ => {
                    // None exist in this file; if a future copy adds some, we reject them
                    // (verify_strict) and the spec says so.
                    assert!(!ok, "tc {id}: acceptable case accepted by verify_strict");
                    acceptable += 1;
                }
            }
            run += 1;
        }
    }
    println!(
        "wycheproof ed25519: {run} cases run ({valid} valid, {invalid} invalid, \
         {acceptable} acceptable), 0 skipped"
    );
    assert!(run >= 151, "ran only {run}");
}

/// Wycheproof ML-KEM-768, key generation and decapsulation (`mlkem_768_test`, the subset
/// in `published/README.md`): for a 64-byte seed our `MlKemSecret` derives the listed
/// encapsulation key and decapsulates `c` to `K` — implicit rejection included (random and
/// bit-flipped ciphertexts give the listed pseudorandom `K`); a seed or ciphertext of another
/// length is refused.
#[test]
fn wycheproof_mlkem768_keygen_and_decaps() {
    use confidant_crypto::mlkem::{MLKEM_SEED_LEN, MlKemSecret};
    let v = load_json("published/wycheproof-mlkem_768_test.subset.json");
    let (mut valid, mut invalid) = (0, 0);
    for group in v["testGroups"].as_array().unwrap() {
        assert_eq!(group["parameterSet"], "ML-KEM-768");
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let seed = field_bytes(t, "seed");
            let c = field_bytes(t, "c");
            let outcome = <[u8; MLKEM_SEED_LEN]>::try_from(seed.as_slice())
                .ok()
                .map(|seed| MlKemSecret::from_seed(&seed))
                .and_then(|secret| {
                    let k = secret.decapsulate(&c).ok()?;
                    Some((secret.public(), k))
                });
            match t["result"].as_str().unwrap() {
                "valid" => {
                    let (ek, k) = outcome.unwrap_or_else(|| panic!("tcId {id} refused"));
                    assert_eq!(hex(&ek), t["ek"].as_str().unwrap(), "tcId {id} ek");
                    assert_eq!(hex(k.as_slice()), t["K"].as_str().unwrap(), "tcId {id} K");
                    valid += 1;
                }
                _ => {
                    assert!(outcome.is_none(), "tcId {id} accepted");
                    invalid += 1;
                }
            }
        }
    }
    println!("wycheproof ML-KEM-768 keygen/decaps: {valid} valid, {invalid} invalid");
    assert_eq!(
        valid + invalid,
        v["numberOfTests"].as_u64().unwrap() as usize
    );
    assert!(valid > 0 && invalid > 0);
}

/// Wycheproof ML-KEM-768 encapsulation (`mlkem_768_encaps_test`, the subset): with the
/// listed `m` our encapsulation gives `c` and `K`; keys that fail the FIPS 203 §7.2 modulus
/// check (`ModulusOverflow`, "Public key not reduced") or have the wrong length are refused —
/// the same check `verify_chain` applies to a certificate's ML-KEM key (`weak_key`).
#[test]
fn wycheproof_mlkem768_encaps() {
    use confidant_crypto::mlkem::{encapsulate_with, is_valid_public};
    let v = load_json("published/wycheproof-mlkem_768_encaps_test.subset.json");
    let (mut valid, mut invalid) = (0, 0);
    for group in v["testGroups"].as_array().unwrap() {
        assert_eq!(group["parameterSet"], "ML-KEM-768");
        for t in group["tests"].as_array().unwrap() {
            let id = &t["tcId"];
            let ek = field_bytes(t, "ek");
            let m: [u8; 32] = unhex_array(t["m"].as_str().unwrap());
            let outcome = encapsulate_with(&ek, &m);
            match t["result"].as_str().unwrap() {
                "valid" => {
                    let (c, k) = outcome.unwrap_or_else(|e| panic!("tcId {id}: {e}"));
                    assert!(is_valid_public(&ek));
                    assert_eq!(hex(&c), t["c"].as_str().unwrap(), "tcId {id} c");
                    assert_eq!(hex(k.as_slice()), t["K"].as_str().unwrap(), "tcId {id} K");
                    valid += 1;
                }
                _ => {
                    assert_eq!(
                        outcome.err(),
                        Some(confidant_crypto::NoiseError::InvalidKemKey),
                        "tcId {id}"
                    );
                    assert!(!is_valid_public(&ek));
                    invalid += 1;
                }
            }
        }
    }
    println!("wycheproof ML-KEM-768 encaps: {valid} valid, {invalid} invalid");
    assert_eq!(
        valid + invalid,
        v["numberOfTests"].as_u64().unwrap() as usize
    );
    assert!(valid > 0 && invalid > 0);
}
