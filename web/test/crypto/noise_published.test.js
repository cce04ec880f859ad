// Published Noise vectors (cacophony) and Wycheproof primitives, through our own code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVectors, report } from './helpers.js';
import { HandshakeState, parseProtocolName, dh } from '../../src/crypto/noise.js';
import { SeekerHandshake, peerRespond } from '../../src/crypto/chat.js';
import { verifyStrict } from '../../src/crypto/credentials.js';
import { fromHex as h, toHex, concat } from '../../src/crypto/bytes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

const SUFFIX = '_25519_ChaChaPoly_SHA256';
const opt = (v, k) => (v[k] ? h(v[k]) : undefined);

function runCacophony(v) {
  const parsed = parseProtocolName(v.protocol_name);
  const init = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: true,
    prologue: h(v.init_prologue),
    s: opt(v, 'init_static'),
    e: opt(v, 'init_ephemeral'),
    rs: opt(v, 'init_remote_static'),
    psks: (v.init_psks || []).map(h),
  });
  const resp = new HandshakeState({
    protocolName: v.protocol_name,
    initiator: false,
    prologue: h(v.resp_prologue),
    s: opt(v, 'resp_static'),
    e: opt(v, 'resp_ephemeral'),
    rs: opt(v, 'resp_remote_static'),
    psks: (v.resp_psks || []).map(h),
  });
  const n = parsed.messages.length;
  let i = 0;
  let hash = null;
  let ciphers = null;
  for (const m of v.messages) {
    const payload = h(m.payload);
    if (i < n) {
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const ct = w.writeMessage(payload);
      assert.equal(toHex(ct), m.ciphertext, `${v.protocol_name} handshake message ${i}`);
      assert.equal(toHex(r.readMessage(ct)), m.payload);
      if (i === n - 1) {
        assert.equal(toHex(init.handshakeHash()), v.handshake_hash, `${v.protocol_name} hash`);
        hash = toHex(resp.handshakeHash());
        ciphers = { i: init.split(), r: resp.split() };
      }
    } else {
      const fromInit = parsed.oneWay || i % 2 === 0;
      const [w, r] = fromInit ? [ciphers.i, ciphers.r] : [ciphers.r, ciphers.i];
      const ct = w.send.encryptWithAd(new Uint8Array(0), payload);
      assert.equal(toHex(ct), m.ciphertext, `${v.protocol_name} transport message ${i}`);
      assert.equal(toHex(r.recv.decryptWithAd(new Uint8Array(0), ct)), m.payload);
    }
    i++;
  }
  assert.equal(hash, v.handshake_hash);
}

test('cacophony: every *_25519_ChaChaPoly_SHA256 vector', (t) => {
  const doc = loadVectors('published/cacophony.txt');
  let run = 0;
  let nk = 0;
  const skipped = [];
  for (const v of doc.vectors) {
    if (!v.protocol_name.endsWith(SUFFIX)) continue;
    if (!parseProtocolName(v.protocol_name)) {
      skipped.push(v.protocol_name);
      continue;
    }
    runCacophony(v);
    run++;
    if (v.protocol_name === 'Noise_NK_25519_ChaChaPoly_SHA256') nk++;
  }
  report(t, 'cacophony', { run, 'of them NK': nk, skipped: skipped.length });
  assert.ok(nk >= 1, 'no NK case');
  assert.ok(run >= 59, `expected at least 59 cases, ran ${run}; skipped ${skipped}`);
});

test('cacophony NK keys through the Confidant handshake API', (t) => {
  const doc = loadVectors('published/cacophony.txt');
  let run = 0;
  for (const v of doc.vectors) {
    if (v.protocol_name !== 'Noise_NK_25519_ChaChaPoly_SHA256') continue;
    const cert = new TextEncoder().encode('any certificate bytes');
    const prologue = concat(new TextEncoder().encode('confidant-v1-chat'), sha256(cert));
    const init = new HandshakeState({ protocolName: v.protocol_name, initiator: true, prologue, rs: h(v.init_remote_static), e: h(v.init_ephemeral) });
    const resp = new HandshakeState({ protocolName: v.protocol_name, initiator: false, prologue, s: h(v.resp_static), e: h(v.resp_ephemeral) });
    const m1 = init.writeMessage();
    resp.readMessage(m1);
    const m2 = resp.writeMessage();
    init.readMessage(m2);
    const { handshake, msg1 } = SeekerHandshake.start(h(v.init_remote_static), cert, h(v.init_ephemeral));
    assert.deepEqual(msg1, m1);
    const { session: peer, msg2 } = peerRespond(h(v.resp_static), cert, msg1, h(v.resp_ephemeral));
    assert.deepEqual(msg2, m2);
    const seeker = handshake.finish(msg2);
    assert.deepEqual(seeker.handshakeHash(), init.handshakeHash());
    assert.deepEqual(peer.handshakeHash(), init.handshakeHash());
    run++;
  }
  report(t, 'cacophony NK through our API', { run });
});

test('wycheproof x25519: primitive agrees, all-zero results refused', (t) => {
  const doc = loadVectors('published/wycheproof-x25519_test.json');
  let run = 0;
  let accepted = 0;
  let rejectedZero = 0;
  for (const g of doc.testGroups) {
    for (const c of g.tests) {
      const zero = /^0+$/.test(c.shared);
      let out = null;
      try {
        out = toHex(dh(h(c.private), h(c.public)));
      } catch (e) {
        assert.equal(e.code, 'non_contributory_dh', `tc ${c.tcId}`);
      }
      if (zero) {
        assert.equal(out, null, `tc ${c.tcId}: all-zero must be refused`);
        rejectedZero++;
      } else {
        assert.equal(out, c.shared, `tc ${c.tcId}`);
        accepted++;
      }
      run++;
    }
  }
  report(t, 'wycheproof x25519', { run, accepted, 'refused as all-zero': rejectedZero });
  assert.ok(run >= 518);
  assert.equal(rejectedZero, 31);
});

test('wycheproof chacha20-poly1305 (96-bit nonces)', (t) => {
  const doc = loadVectors('published/wycheproof-chacha20_poly1305_test.json');
  let run = 0;
  let skipped = 0;
  for (const g of doc.testGroups) {
    for (const c of g.tests) {
      if (g.ivSize !== 96) {
        skipped++;
        continue;
      }
      const aead = () => chacha20poly1305(h(c.key), h(c.iv), h(c.aad));
      const ct = concat(h(c.ct), h(c.tag));
      let opened = null;
      try {
        opened = toHex(aead().decrypt(ct));
      } catch {
        opened = null;
      }
      if (c.result === 'valid') {
        assert.equal(opened, c.msg, `tc ${c.tcId}`);
        assert.equal(toHex(aead().encrypt(h(c.msg))), toHex(ct));
      } else {
        assert.equal(opened, null, `tc ${c.tcId}: invalid case decrypted`);
      }
      run++;
    }
  }
  report(t, 'wycheproof chacha20-poly1305', { run, skipped });
  assert.ok(run >= 316);
});

test('wycheproof ed25519 with verify_strict semantics', (t) => {
  const doc = loadVectors('published/wycheproof-ed25519_test.json');
  let run = 0;
  let valid = 0;
  let invalid = 0;
  for (const g of doc.testGroups) {
    const pk = h(g.publicKey.pk);
    for (const c of g.tests) {
      const sig = h(c.sig);
      const ok = sig.length === 64 && verifyStrict(pk, h(c.msg), sig);
      if (c.result === 'valid') {
        assert.ok(ok, `tc ${c.tcId}: valid rejected`);
        valid++;
      } else {
        assert.ok(!ok, `tc ${c.tcId} (${c.result}, ${c.flags}): accepted`);
        invalid++;
      }
      run++;
    }
  }
  report(t, 'wycheproof ed25519', { run, valid, 'invalid or acceptable (refused)': invalid });
  assert.ok(run >= 151);
});
