// Every file in proto/vectors/*.json, positive and negative, as each file's own
// description says to run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { loadVectors, report, VECTORS } from './helpers.js';
import { fromHex as h, toHex } from '../../src/crypto/bytes.js';
import { encodePadded, decodePadded } from '../../src/crypto/record.js';
import {
  SeekerHandshake,
  peerRespond,
  answerPossessionChallenge,
  PossessionChallenge,
  prologue,
  CHAT_PROLOGUE_LABEL,
  POSSESSION_PROLOGUE_LABEL,
} from '../../src/crypto/chat.js';
import {
  verifyChain,
  decodeIssuerBody,
  decodeSupporterBody,
  decodeRevocationBody,
  signedMessage,
  verifyStrict,
  splitSigned,
} from '../../src/crypto/credentials.js';
import { publicKeyOf } from '../../src/crypto/noise.js';
import { MlKemSecret, mlkemEncapsulate, hybridPsk } from '../../src/crypto/mlkem.js';

const KNOWN = ['certificates.json', 'hybrid.json', 'negative.json', 'padding.json', 'transcripts.json'];

test('every vector file is run by this suite', () => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.json'));
  for (const f of files) assert.ok(KNOWN.includes(f), `vector file ${f} is not run by the web tests`);
});

/** Vector JSON record -> our record object. */
function rec(r) {
  if (r.type === 'read') return { type: 'read', count: BigInt(r.count) };
  if (r.type === 'unknown') return { type: 'unknown', kind: r.kind, body: h(r.body) };
  return r;
}

/** Our record -> comparable JSON (bigint as number-ish string). */
function norm(r) {
  return JSON.parse(JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

test('padding.json: valid encode/decode, invalid decode errors', (t) => {
  const doc = loadVectors('padding.json');
  assert.deepEqual(doc.buckets, [256, 1024, 4096, 16384]);
  let valid = 0;
  let invalid = 0;
  for (const c of doc.valid) {
    const padded = encodePadded(rec(c.record));
    assert.equal(padded.length, c.length, c.description);
    assert.equal(toHex(padded), c.padded, c.description);
    assert.deepEqual(norm(decodePadded(h(c.padded))), norm(rec(c.record)), c.description);
    valid++;
  }
  for (const c of doc.invalid) {
    assert.throws(() => decodePadded(h(c.padded)), (e) => e.code === c.error, c.description);
    invalid++;
  }
  report(t, 'padding.json', { run: valid + invalid, valid, invalid });
});

test('certificates.json: encodings and verify_chain cases', (t) => {
  const doc = loadVectors('certificates.json');
  let encodings = 0;
  for (const e of doc.encodings) {
    const body = h(e.body);
    const decode = { issuer_certificate: decodeIssuerBody, supporter_certificate: decodeSupporterBody, revocation_list: decodeRevocationBody }[e.kind];
    assert.ok(decode, e.kind);
    const v = decode(body);
    assert.equal(v.program, e.fields.program);
    assert.equal(toHex(signedMessage(e.domain, body)), e.signed_message);
    const { body: b2, signature } = splitSigned(h(e.wire));
    assert.equal(toHex(b2), e.body);
    assert.equal(toHex(signature), e.signature);
    if (e.kind === 'supporter_certificate') {
      assert.equal(v.displayName, e.fields.display_name);
      assert.equal(v.department, e.fields.department);
      assert.equal(v.serial, BigInt(e.fields.serial));
      assert.deepEqual(v.topics, e.fields.topics);
      assert.equal(toHex(v.x25519Public), e.fields.x25519_public);
    }
    if (e.kind === 'revocation_list') {
      assert.deepEqual(v.revokedSerials, e.fields.revoked_serials.map(BigInt));
      assert.deepEqual(v.revokedIssuers.map(toHex), e.fields.revoked_issuers);
    }
    encodings++;
  }
  // The key material matches.
  assert.equal(toHex(publicKeyOf(h(doc.keys.supporter_x25519_secret))), doc.keys.supporter_x25519_public);

  let ok = 0;
  let failed = 0;
  for (const c of doc.cases) {
    const run = () =>
      verifyChain({
        rootPublic: h(c.root_public_key),
        program: c.program,
        issuerCertificate: h(c.issuer_certificate),
        supporterCertificate: h(c.supporter_certificate),
        revocationList: h(c.revocation_list),
        now: BigInt(c.now),
        minSequence: BigInt(c.min_sequence),
      });
    if (c.expected.result === 'ok') {
      const v = run();
      assert.equal(toHex(v.certificateHash), c.expected.certificate_hash, c.name);
      assert.equal(v.revocationSequence, BigInt(c.expected.revocation_sequence), c.name);
      assert.equal(v.certificate.serial, BigInt(c.expected.serial), c.name);
      ok++;
    } else {
      assert.throws(run, (e) => {
        assert.equal(e.code, c.expected.error, c.name);
        if (c.expected.detail) assert.equal(e.detail, c.expected.detail, c.name);
        return true;
      });
      failed++;
    }
  }
  report(t, 'certificates.json', { run: encodings + ok + failed, encodings, 'valid chains': ok, 'refused chains': failed });
});

test('transcripts.json: handshake, every record, possession proof', (t) => {
  const doc = loadVectors('transcripts.json');
  const hs = doc.handshake;
  const cert = h(hs.supporter_certificate);
  assert.equal(toHex(prologue(CHAT_PROLOGUE_LABEL, cert)), hs.prologue);
  const { handshake, msg1 } = SeekerHandshake.start(h(hs.supporter_static_public), cert, h(hs.seeker_ephemeral_secret));
  assert.equal(toHex(msg1), doc.msg1);
  const { session: peer, msg2 } = peerRespond(h(hs.supporter_static_secret), cert, msg1, h(hs.supporter_ephemeral_secret));
  assert.equal(toHex(msg2), doc.msg2);
  const seeker = handshake.finish(msg2);
  assert.equal(toHex(seeker.handshakeHash()), doc.handshake_hash);
  assert.equal(toHex(peer.handshakeHash()), doc.handshake_hash);
  let records = 0;
  for (const m of doc.messages) {
    const [from, to] = m.from === 'seeker' ? [seeker, peer] : [peer, seeker];
    const padded = encodePadded(rec(m.record));
    assert.equal(toHex(padded), m.plaintext);
    const ct = from.seal(rec(m.record));
    assert.equal(toHex(ct), m.ciphertext, `message ${records}`);
    assert.deepEqual(norm(to.open(ct)), norm(rec(m.record)));
    records++;
  }
  const p = doc.possession;
  assert.equal(toHex(prologue(POSSESSION_PROLOGUE_LABEL, cert)), p.prologue);
  const { pending, message } = PossessionChallenge.create(h(p.supporter_static_public), cert, h(p.relay_ephemeral_secret), h(p.challenge));
  assert.equal(toHex(message), p.challenge_message);
  const answer = answerPossessionChallenge(h(hs.supporter_static_secret), cert, message, h(p.supporter_ephemeral_secret));
  assert.equal(toHex(answer), p.answer_message);
  pending.verify(answer);
  report(t, 'transcripts.json', { run: 2 + records + 1, 'handshake messages': 2, records, 'possession proofs': 1 });
});

test('negative.json: every must-fail case', (t) => {
  const doc = loadVectors('negative.json');
  const hs = doc.handshake;
  const cert = h(hs.supporter_certificate);
  const p = doc.possession;
  const counts = {};
  const expectCode = (fn, code, name) =>
    assert.throws(fn, (e) => {
      assert.equal(e.code, code, name);
      return true;
    });
  for (const c of doc.cases) {
    const name = `${c.kind}: ${c.description}`;
    const certificate = c.supporter_certificate ? h(c.supporter_certificate) : c.certificate ? h(c.certificate) : cert;
    switch (c.kind) {
      case 'seeker_start':
        expectCode(() => SeekerHandshake.start(h(c.peer_static), certificate, h(hs.seeker_ephemeral_secret)), c.error, name);
        break;
      case 'peer_respond':
        expectCode(() => peerRespond(h(hs.supporter_static_secret), certificate, h(c.msg1), h(hs.supporter_ephemeral_secret)), c.error, name);
        break;
      case 'seeker_finish': {
        const { handshake } = SeekerHandshake.start(h(hs.supporter_static_public), certificate, h(hs.seeker_ephemeral_secret));
        expectCode(() => handshake.finish(h(c.msg2)), c.error, name);
        break;
      }
      case 'transport': {
        const { handshake, msg1 } = SeekerHandshake.start(h(hs.supporter_static_public), cert, h(hs.seeker_ephemeral_secret));
        const { session: peer, msg2 } = peerRespond(h(hs.supporter_static_secret), cert, msg1, h(hs.supporter_ephemeral_secret));
        const seeker = handshake.finish(msg2);
        const receiver = c.receiver === 'peer' ? peer : seeker;
        let sawError = false;
        for (const m of c.messages) {
          if (m.expect === 'ok') {
            receiver.open(h(m.ciphertext));
          } else {
            expectCode(() => receiver.open(h(m.ciphertext)), m.expect, name);
            sawError = true;
          }
        }
        assert.ok(sawError, name);
        assert.ok(c.messages.some((m) => m.expect === c.error), name);
        break;
      }
      case 'possession_answer':
        expectCode(
          () => answerPossessionChallenge(h(hs.supporter_static_secret), certificate, h(c.challenge_message), h(p.supporter_ephemeral_secret)),
          c.error,
          name,
        );
        break;
      case 'possession_verify': {
        const { pending } = PossessionChallenge.create(h(hs.supporter_static_public), certificate, h(p.relay_ephemeral_secret), h(p.challenge));
        expectCode(() => pending.verify(h(c.answer_message)), c.error, name);
        break;
      }
      default:
        assert.fail(`unknown negative kind ${c.kind}`);
    }
    counts[c.kind] = (counts[c.kind] || 0) + 1;
  }
  const run = Object.values(counts).reduce((a, b) => a + b, 0);
  report(t, 'negative.json', { run, ...counts });
  assert.equal(run, doc.cases.length);
});

test('strict Ed25519 agrees on the vectors’ own signatures', () => {
  const doc = loadVectors('certificates.json');
  for (const e of doc.encodings) {
    const pub = e.kind === 'supporter_certificate' ? h(doc.keys.issuing_public_key) : h(doc.keys.root_public_key);
    assert.ok(verifyStrict(pub, h(e.signed_message), h(e.signature)), e.kind);
  }
});

test('hybrid.json: the hybrid handshake byte for byte, and every must-fail input', (t) => {
  const v = loadVectors('hybrid.json');
  const cert = h(v.supporter_certificate);
  const verified = verifyChain({
    rootPublic: h(v.root_public_key),
    program: v.program,
    issuerCertificate: h(v.issuer_certificate),
    supporterCertificate: cert,
    revocationList: h(v.revocation_list),
    now: BigInt(v.now),
  });
  assert.equal(toHex(verified.certificate.mlkem768Public), v.mlkem_public);
  assert.equal(toHex(verified.certificateHash), v.supporter_certificate_sha256);
  const kem = new MlKemSecret(h(v.mlkem_seed));
  assert.equal(toHex(kem.publicKey), v.mlkem_public);
  const enc = mlkemEncapsulate(h(v.mlkem_public), h(v.mlkem_m));
  assert.equal(toHex(enc.ciphertext), v.mlkem_ciphertext);
  assert.equal(toHex(enc.sharedSecret), v.mlkem_shared_secret);
  assert.equal(toHex(hybridPsk(enc.sharedSecret, verified.certificateHash)), v.psk);
  assert.deepEqual(v.agreed_chat_features, []); // the web client declares no chat features
  assert.equal(toHex(prologue(CHAT_PROLOGUE_LABEL, cert)), v.prologue);
  const secret = h(v.supporter_static_secret);
  const start = () =>
    SeekerHandshake.start(h(v.supporter_static_public), cert, h(v.seeker_ephemeral_secret), {
      mlkemPublic: h(v.mlkem_public),
      m: h(v.mlkem_m),
    });
  const { handshake, msg1 } = start();
  assert.equal(toHex(msg1), v.msg1);
  const { session: peer, msg2 } = peerRespond(secret, cert, msg1, h(v.supporter_ephemeral_secret), kem);
  assert.equal(toHex(msg2), v.msg2);
  const seeker = handshake.finish(msg2);
  assert.equal(toHex(seeker.handshakeHash()), v.handshake_hash);
  for (const m of v.messages) {
    const [from, to] = m.from === 'seeker' ? [seeker, peer] : [peer, seeker];
    assert.equal(toHex(from.seal(rec(m.record))), m.ciphertext);
    assert.deepEqual(to.open(h(m.ciphertext)), rec(m.record));
  }
  let negative = 0;
  for (const n of v.negative) {
    let code = 'accepted';
    try {
      if (n.side === 'supporter') {
        peerRespond(secret, cert, h(n.message), undefined, kem);
      } else {
        start().handshake.finish(h(n.message));
      }
    } catch (e) {
      code = e.code;
    }
    assert.equal(code, n.error, n.description);
    negative += 1;
  }
  for (const key of ['weak_mlkem_certificate', 'stripped_mlkem_certificate']) {
    assert.throws(
      () =>
        verifyChain({
          rootPublic: h(v.root_public_key),
          program: v.program,
          issuerCertificate: h(v.issuer_certificate),
          supporterCertificate: h(v[key].supporter_certificate),
          revocationList: h(v.revocation_list),
          now: BigInt(v.now),
        }),
      (e) => e.code === v[key].error,
      key,
    );
    negative += 1;
  }
  report(t, 'hybrid.json', { run: 1 + v.messages.length + negative, records: v.messages.length, negative });
});
