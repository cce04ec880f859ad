// Wycheproof's ML-KEM-768 vectors (the subsets in proto/vectors/published/, with their
// provenance in README.md there) through the exact calls the client makes: MlKemSecret from
// the 64-byte seed (key generation) and its decapsulate, and mlkemEncapsulate with a given
// m, including the FIPS 203 §7.2 modulus check that verifyChain applies to a certificate's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVectors, report } from './helpers.js';
import { fromHex as h, toHex } from '../../src/crypto/bytes.js';
import { MlKemSecret, mlkemEncapsulate, isValidMlKemPublic } from '../../src/crypto/mlkem.js';

test('Wycheproof ML-KEM-768 key generation and decapsulation', (t) => {
  const v = loadVectors('published/wycheproof-mlkem_768_test.subset.json');
  let valid = 0;
  let invalid = 0;
  for (const group of v.testGroups) {
    assert.equal(group.parameterSet, 'ML-KEM-768');
    for (const c of group.tests) {
      let out = null;
      try {
        const secret = new MlKemSecret(h(c.seed));
        out = { ek: secret.publicKey, k: secret.decapsulate(h(c.c)) };
      } catch {
        out = null;
      }
      if (c.result === 'valid') {
        assert.ok(out, `tcId ${c.tcId} refused`);
        assert.equal(toHex(out.ek), c.ek, `tcId ${c.tcId} ek`);
        assert.equal(toHex(out.k), c.K, `tcId ${c.tcId} K`);
        valid += 1;
      } else {
        assert.equal(out, null, `tcId ${c.tcId} accepted`);
        invalid += 1;
      }
    }
  }
  assert.equal(valid + invalid, v.numberOfTests);
  report(t, 'wycheproof ML-KEM-768 keygen/decaps', { run: valid + invalid, valid, invalid });
});

test('Wycheproof ML-KEM-768 encapsulation and the modulus check', (t) => {
  const v = loadVectors('published/wycheproof-mlkem_768_encaps_test.subset.json');
  let valid = 0;
  let invalid = 0;
  for (const group of v.testGroups) {
    assert.equal(group.parameterSet, 'ML-KEM-768');
    for (const c of group.tests) {
      if (c.result === 'valid') {
        const out = mlkemEncapsulate(h(c.ek), h(c.m));
        assert.equal(toHex(out.ciphertext), c.c, `tcId ${c.tcId} c`);
        assert.equal(toHex(out.sharedSecret), c.K, `tcId ${c.tcId} K`);
        assert.ok(isValidMlKemPublic(h(c.ek)));
        valid += 1;
      } else {
        assert.throws(() => mlkemEncapsulate(h(c.ek), h(c.m)), (e) => e.code === 'invalid_kem_key', `tcId ${c.tcId}`);
        assert.ok(!isValidMlKemPublic(h(c.ek)));
        invalid += 1;
      }
    }
  }
  assert.equal(valid + invalid, v.numberOfTests);
  report(t, 'wycheproof ML-KEM-768 encaps', { run: valid + invalid, valid, invalid });
});
