//! `certificates.json`: the canonical encodings and every verification outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::{NOW, PROGRAM, seed};
use crate::common::hex;
use confidant_crypto::SignedBody as _;
use confidant_crypto::{
    ISSUER_CERTIFICATE_DOMAIN, IssuerCertificate, IssuingKey, REVOCATION_LIST_DOMAIN,
    RevocationList, RootKey, SUPPORTER_CERTIFICATE_DOMAIN, SupporterCertificate, SupporterSecret,
    verify_chain,
};
use serde_json::{Value, json};

const DAY: u64 = 86_400;

/// The fixed keys and valid objects every vector file builds on.
pub struct Credentials {
    pub root: RootKey,
    pub issuing: IssuingKey,
    pub supporter_secret: SupporterSecret,
    pub issuer_cert: IssuerCertificate,
    pub supporter_cert: SupporterCertificate,
    pub list: RevocationList,
    pub issuer_wire: Vec<u8>,
    pub supporter_wire: Vec<u8>,
    pub list_wire: Vec<u8>,
}

impl Credentials {
    pub fn new() -> Self {
        let root = RootKey::from_bytes(&seed("root key"));
        let issuing = IssuingKey::from_bytes(&seed("issuing key"));
        let supporter_secret = SupporterSecret::from_bytes(seed("supporter x25519 static"));
        let issuer_cert =
            IssuerCertificate::new(PROGRAM, issuing.public(), NOW - 30 * DAY, NOW + 335 * DAY);
        let supporter_cert = SupporterCertificate {
            program: PROGRAM.into(),
            issuer_key_id: issuing.key_id(),
            serial: 1042,
            x25519_public: supporter_secret.public(),
            display_name: "Sam R.".into(),
            role: "nursing".into(),
            department: "Intensive Care".into(),
            topics: vec!["burnout".into(), "moral-injury".into(), "grief".into()],
            languages: vec!["en".into(), "es".into()],
            not_before: NOW - DAY,
            not_after: NOW + 90 * DAY,
            mlkem768_public: None,
        };
        let list = RevocationList {
            program: PROGRAM.into(),
            sequence: 7,
            issued_at: NOW - 3600,
            next_update: NOW + 7 * DAY,
            revoked_serials: vec![17, 1001],
            revoked_issuers: vec![[0xee; 8]],
        };
        let issuer_wire = issuer_cert.sign(&root).unwrap();
        let supporter_wire = supporter_cert.sign(&issuing).unwrap();
        let list_wire = list.sign(&root).unwrap();
        Self {
            root,
            issuing,
            supporter_secret,
            issuer_cert,
            supporter_cert,
            list,
            issuer_wire,
            supporter_wire,
            list_wire,
        }
    }
}

fn signed(body: &[u8], sig: [u8; 64]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(&sig);
    v
}

fn issuer_fields(c: &IssuerCertificate) -> Value {
    json!({"version": 1, "program": c.program, "key_id": hex(&c.key_id), "public_key": hex(&c.public_key),
           "not_before": c.not_before, "not_after": c.not_after})
}

fn supporter_fields(c: &SupporterCertificate) -> Value {
    json!({"version": 1, "program": c.program, "issuer_key_id": hex(&c.issuer_key_id), "serial": c.serial,
           "x25519_public": hex(&c.x25519_public), "display_name": c.display_name, "role": c.role,
           "department": c.department, "topics": c.topics, "languages": c.languages,
           "not_before": c.not_before, "not_after": c.not_after})
}

fn list_fields(l: &RevocationList) -> Value {
    let issuers: Vec<String> = l.revoked_issuers.iter().map(|i| hex(i)).collect();
    json!({"version": 1, "program": l.program, "sequence": l.sequence, "issued_at": l.issued_at,
           "next_update": l.next_update, "revoked_serials": l.revoked_serials, "revoked_issuers": issuers})
}

fn encoding(kind: &str, domain: &str, fields: Value, wire: &[u8]) -> Value {
    let body = &wire[..wire.len() - 64];
    let mut msg = domain.as_bytes().to_vec();
    msg.push(0);
    msg.extend_from_slice(body);
    json!({"kind": kind, "domain": domain, "fields": fields, "body": hex(body),
           "signed_message": hex(&msg), "signature": hex(&wire[wire.len() - 64..]), "wire": hex(wire)})
}

struct Case<'a> {
    name: &'a str,
    description: &'a str,
    program: &'a str,
    issuer: Vec<u8>,
    supporter: Vec<u8>,
    list: Vec<u8>,
    now: u64,
    min_sequence: u64,
}

fn case_json(c: &Case<'_>, root_public: &[u8; 32]) -> Value {
    let result = verify_chain(
        root_public,
        c.program,
        &c.issuer,
        &c.supporter,
        &c.list,
        c.now,
        c.min_sequence,
    );
    // Guard against the generator silently recording a wrong outcome: each case's name says
    // what it must produce.
    match &result {
        Ok(_) => assert!(c.name.starts_with("valid"), "{} unexpectedly valid", c.name),
        Err(e) => assert!(
            c.name.contains(e.code()),
            "{} produced {}",
            c.name,
            e.code()
        ),
    }
    let expected = match &result {
        Ok(v) => json!({"result": "ok", "serial": v.certificate.serial,
                        "certificate_hash": hex(&v.certificate_hash), "revocation_sequence": v.revocation_sequence}),
        Err(e) => match e.detail() {
            Some(d) => json!({"result": "error", "error": e.code(), "detail": d}),
            None => json!({"result": "error", "error": e.code()}),
        },
    };
    json!({"name": c.name, "description": c.description, "root_public_key": hex(root_public),
           "program": c.program, "issuer_certificate": hex(&c.issuer), "supporter_certificate": hex(&c.supporter),
           "revocation_list": hex(&c.list), "now": c.now, "min_sequence": c.min_sequence, "expected": expected})
}

pub fn certificates(k: &Credentials) -> Value {
    let base = |name, description| Case {
        name,
        description,
        program: PROGRAM,
        issuer: k.issuer_wire.clone(),
        supporter: k.supporter_wire.clone(),
        list: k.list_wire.clone(),
        now: NOW,
        min_sequence: 7,
    };
    let resign_supporter = |f: &dyn Fn(&mut SupporterCertificate)| {
        let mut c = k.supporter_cert.clone();
        f(&mut c);
        c.sign(&k.issuing).unwrap()
    };
    let resign_list = |f: &dyn Fn(&mut RevocationList)| {
        let mut l = k.list.clone();
        f(&mut l);
        l.sign(&k.root).unwrap()
    };
    let supporter_body = k.supporter_cert.encode_body().unwrap();
    let list_body = k.list.encode_body().unwrap();
    let other_root = RootKey::from_bytes(&seed("some other root"));

    let mut cases = vec![base(
        "valid_chain",
        "A valid root -> issuer -> supporter chain with a fresh revocation list.",
    )];
    cases.push(Case {
        min_sequence: 0,
        ..base(
            "valid_chain_lower_min_sequence",
            "Valid; the client has only seen older lists.",
        )
    });
    cases.push(Case { now: NOW + 90 * DAY, ..base("valid_at_supporter_not_after", "Valid at exactly the supporter's not_after (bounds are inclusive) -- but the list is stale by then, so use a fresh one.") });
    cases.last_mut().unwrap().list = resign_list(&|l| l.next_update = NOW + 90 * DAY);
    cases.push(Case {
        now: NOW + 90 * DAY + 1,
        ..base(
            "supporter_expired",
            "now is one second after the supporter's not_after.",
        )
    });
    cases.last_mut().unwrap().list = resign_list(&|l| l.next_update = NOW + 100 * DAY);
    cases.push(Case {
        now: NOW - DAY - 1,
        ..base(
            "supporter_not_yet_valid",
            "now is one second before the supporter's not_before.",
        )
    });
    cases.push(Case {
        now: NOW - 30 * DAY - 1,
        ..base(
            "issuer_not_yet_valid",
            "now is before the issuer certificate's not_before.",
        )
    });
    let mut c = base(
        "issuer_expired",
        "The issuer certificate expired although the supporter certificate has not.",
    );
    let short_issuer = IssuerCertificate {
        not_after: NOW - 1,
        ..k.issuer_cert.clone()
    };
    c.issuer = short_issuer.sign(&k.root).unwrap();
    cases.push(c);
    let mut c = base(
        "wrong_domain_supporter",
        "The supporter body is signed by the issuing key, but under the revocation-list domain.",
    );
    c.supporter = signed(
        &supporter_body,
        k.issuing
            .sign_raw_for_tests(REVOCATION_LIST_DOMAIN, &supporter_body),
    );
    cases.push(c);
    let mut c = base(
        "wrong_domain_supporter_as_issuer",
        "The supporter body is signed under the issuer-certificate domain.",
    );
    c.supporter = signed(
        &supporter_body,
        k.issuing
            .sign_raw_for_tests(ISSUER_CERTIFICATE_DOMAIN, &supporter_body),
    );
    cases.push(c);
    let mut c = base(
        "wrong_domain_revocation_list",
        "The revocation-list body is signed by the root under the issuer-certificate domain.",
    );
    c.list = signed(
        &list_body,
        k.root
            .sign_raw_for_tests(ISSUER_CERTIFICATE_DOMAIN, &list_body),
    );
    cases.push(c);
    let mut c = base(
        "bad_signature_supporter_serial_changed",
        "The serial in the signed supporter certificate was changed after signing.",
    );
    let serial_offset = 1 + 2 + PROGRAM.len() + 8 + 7;
    c.supporter[serial_offset] ^= 0x01;
    cases.push(c);
    let mut c = base(
        "bad_signature_supporter_signature_flipped",
        "One bit of the supporter signature is flipped.",
    );
    let last = c.supporter.len() - 1;
    c.supporter[last] ^= 0x01;
    cases.push(c);
    let mut c = base(
        "bad_signature_issuer_other_root",
        "The issuer certificate is signed by a different root key.",
    );
    c.issuer = k.issuer_cert.sign(&other_root).unwrap();
    cases.push(c);
    let mut c = base(
        "bad_signature_revocation_other_root",
        "The revocation list is signed by a different root key.",
    );
    c.list = k.list.sign(&other_root).unwrap();
    cases.push(c);
    let mut c = base(
        "bad_signature_supporter_signed_by_root",
        "The supporter certificate is signed by the root instead of the issuing key.",
    );
    c.supporter = signed(
        &supporter_body,
        k.root
            .sign_raw_for_tests(SUPPORTER_CERTIFICATE_DOMAIN, &supporter_body),
    );
    cases.push(c);
    let mut c = base("revoked_serial", "The supporter's serial is on the list.");
    c.list = resign_list(&|l| l.revoked_serials.push(1042));
    cases.push(c);
    let mut c = base(
        "revoked_issuer",
        "The issuing key's id is on the list (compromised issuer).",
    );
    let issuer_id = k.issuing.key_id();
    c.list = resign_list(&|l| l.revoked_issuers.push(issuer_id));
    cases.push(c);
    cases.push(Case {
        now: NOW + 7 * DAY + 1,
        ..base(
            "revocation_stale",
            "now is one second after the list's next_update.",
        )
    });
    cases.push(Case {
        min_sequence: 8,
        ..base(
            "revocation_rolled_back",
            "The client has already seen sequence 8; the relay serves 7.",
        )
    });
    cases.push(Case {
        program: "other-program",
        ..base(
            "wrong_program",
            "The relying party is configured for another program.",
        )
    });
    let mut c = base(
        "wrong_program_supporter",
        "The supporter certificate names another program.",
    );
    c.supporter = resign_supporter(&|s| s.program = "other-program".into());
    cases.push(c);
    let mut c = base(
        "wrong_program_revocation_list",
        "The revocation list names another program.",
    );
    c.list = resign_list(&|l| l.program = "other-program".into());
    cases.push(c);
    let mut c = base(
        "issuer_mismatch",
        "The supporter certificate names another issuing key id.",
    );
    c.supporter = resign_supporter(&|s| s.issuer_key_id = [0xab; 8]);
    cases.push(c);
    let mut c = base(
        "weak_key_x25519",
        "The supporter certificate carries an all-zero (low-order) X25519 key.",
    );
    c.supporter = resign_supporter(&|s| s.x25519_public = [0; 32]);
    cases.push(c);
    let mut c = base(
        "malformed_trailing_bytes",
        "A signed supporter body with one extra byte after its last field.",
    );
    let mut long = supporter_body.clone();
    long.push(0);
    c.supporter = signed(
        &long,
        k.issuing
            .sign_raw_for_tests(SUPPORTER_CERTIFICATE_DOMAIN, &long),
    );
    cases.push(c);
    let mut c = base(
        "malformed_unknown_version",
        "A signed supporter body whose version byte is 3 (1 is X25519 only, 2 adds an ML-KEM-768 key).",
    );
    let mut v2 = supporter_body.clone();
    v2[0] = 3;
    c.supporter = signed(
        &v2,
        k.issuing
            .sign_raw_for_tests(SUPPORTER_CERTIFICATE_DOMAIN, &v2),
    );
    cases.push(c);
    let mut c = base(
        "malformed_truncated_issuer",
        "The issuer certificate is shorter than a signature.",
    );
    c.issuer = k.issuer_wire[..40].to_vec();
    cases.push(c);
    let mut c = base(
        "malformed_unsorted_revocations",
        "A root-signed list whose serials are not strictly ascending.",
    );
    let mut unsorted = list_body.clone();
    // serial list starts after version, program, sequence, issued_at, next_update, count.
    let at = 1 + 2 + PROGRAM.len() + 24 + 2;
    let (a, b) = (
        unsorted[at..at + 8].to_vec(),
        unsorted[at + 8..at + 16].to_vec(),
    );
    unsorted[at..at + 8].copy_from_slice(&b);
    unsorted[at + 8..at + 16].copy_from_slice(&a);
    c.list = signed(
        &unsorted,
        k.root.sign_raw_for_tests(REVOCATION_LIST_DOMAIN, &unsorted),
    );
    cases.push(c);
    let mut c = base(
        "malformed_invalid_utf8",
        "A signed supporter body whose display name is not UTF-8.",
    );
    let mut bad = k.supporter_cert.clone();
    bad.display_name = "Sam R.".into();
    let mut body = bad.encode_body().unwrap();
    let name_at = 1 + 2 + PROGRAM.len() + 8 + 8 + 32 + 2;
    body[name_at] = 0xff;
    c.supporter = signed(
        &body,
        k.issuing
            .sign_raw_for_tests(SUPPORTER_CERTIFICATE_DOMAIN, &body),
    );
    cases.push(c);

    let root_public = k.root.public();
    let cases: Vec<Value> = cases.iter().map(|c| case_json(c, &root_public)).collect();
    json!({
        "description": "Credential chain vectors (proto/crypto.md §5 'Canonical credential encoding' and §6 'Verifying a supporter'). 'encodings' give each object's fields, \
                        canonical body, the exact signed message (domain || 0x00 || body), signature and wire form. \
                        'cases': call verify_chain(root_public_key, program, issuer_certificate, supporter_certificate, \
                        revocation_list, now, min_sequence); 'expected.error' is the first failing check's code \
                        ('detail' refines 'malformed'). All byte strings are lower-case hex; times are Unix seconds.",
        "version": 1,
        "encodings": [
            encoding("issuer_certificate", ISSUER_CERTIFICATE_DOMAIN, issuer_fields(&k.issuer_cert), &k.issuer_wire),
            encoding("supporter_certificate", SUPPORTER_CERTIFICATE_DOMAIN, supporter_fields(&k.supporter_cert), &k.supporter_wire),
            encoding("revocation_list", REVOCATION_LIST_DOMAIN, list_fields(&k.list), &k.list_wire),
        ],
        "keys": {
            "root_seed": hex(&seed("root key")), "root_public_key": hex(&root_public),
            "issuing_seed": hex(&seed("issuing key")), "issuing_public_key": hex(&k.issuing.public()),
            "issuing_key_id": hex(&k.issuing.key_id()),
            "supporter_x25519_secret": hex(&seed("supporter x25519 static")),
            "supporter_x25519_public": hex(&k.supporter_secret.public()),
        },
        "cases": cases,
    })
}
