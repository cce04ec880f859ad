// The Noise Protocol Framework (revision 34), for the one suite Confidant uses:
// 25519 / ChaChaPoly / SHA256. This is a straight transcription of the specification's
// CipherState, SymmetricState and HandshakeState objects, with the handshake patterns as
// token tables so the published cacophony vectors can exercise more than NK.
//
// Like the Rust resolver (crates/crypto/src/noise_resolver.rs), a Diffie-Hellman with a
// low-order public key is refused ("non_contributory_dh") instead of producing an all-zero
// key: noble's x25519 refuses those inputs before running the ladder, and we also check
// the result.

import { x25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concat, wipe } from './bytes.js';
import { CryptoError } from './errors.js';

export const DHLEN = 32;
export const HASHLEN = 32;
export const TAGLEN = 16;
/** The largest message Noise allows. */
export const NOISE_MAX_MESSAGE = 65535;
const MAX_NONCE = 2n ** 64n - 1n;
const SUFFIX = '_25519_ChaChaPoly_SHA256';

// ---------------------------------------------------------------- primitives

/** X25519 refusing non-contributory results. */
export function dh(privateKey, publicKey) {
  let out;
  try {
    out = x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    throw new CryptoError('non_contributory_dh');
  }
  if (out.every((b) => b === 0)) throw new CryptoError('non_contributory_dh');
  return out;
}

export function publicKeyOf(privateKey) {
  return x25519.getPublicKey(privateKey);
}

/** @returns {{priv: Uint8Array, pub: Uint8Array}} */
export function keyPair(privateKey) {
  const priv = privateKey ? Uint8Array.from(privateKey) : randomBytes(32);
  return { priv, pub: publicKeyOf(priv) };
}

function nonceBytes(n) {
  const out = new Uint8Array(12);
  let v = n;
  for (let i = 4; i < 12; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function hkdf(chainingKey, ikm, outputs) {
  const tempKey = hmac(sha256, chainingKey, ikm);
  const out1 = hmac(sha256, tempKey, Uint8Array.of(1));
  const out2 = hmac(sha256, tempKey, concat(out1, Uint8Array.of(2)));
  if (outputs === 2) {
    wipe(tempKey);
    return [out1, out2];
  }
  const out3 = hmac(sha256, tempKey, concat(out2, Uint8Array.of(3)));
  wipe(tempKey);
  return [out1, out2, out3];
}

// ---------------------------------------------------------------- CipherState

export class CipherState {
  constructor(key = null) {
    this.k = key;
    this.n = 0n;
  }

  hasKey() {
    return this.k !== null;
  }

  initializeKey(key) {
    if (this.k) wipe(this.k);
    this.k = key;
    this.n = 0n;
  }

  encryptWithAd(ad, plaintext) {
    if (!this.k) return Uint8Array.from(plaintext);
    if (this.n >= MAX_NONCE) throw new CryptoError('internal', 'nonce exhausted');
    const out = chacha20poly1305(this.k, nonceBytes(this.n), ad).encrypt(plaintext);
    this.n += 1n;
    return out;
  }

  /** Throws `decrypt_failed` on a bad tag; the nonce advances only on success. */
  decryptWithAd(ad, ciphertext) {
    if (!this.k) return Uint8Array.from(ciphertext);
    if (this.n >= MAX_NONCE) throw new CryptoError('internal', 'nonce exhausted');
    if (ciphertext.length < TAGLEN) throw new CryptoError('decrypt_failed');
    let out;
    try {
      out = chacha20poly1305(this.k, nonceBytes(this.n), ad).decrypt(ciphertext);
    } catch {
      throw new CryptoError('decrypt_failed');
    }
    this.n += 1n;
    return out;
  }

  destroy() {
    if (this.k) wipe(this.k);
    this.k = null;
  }
}

// ---------------------------------------------------------------- SymmetricState

class SymmetricState {
  constructor(protocolName) {
    const name = new TextEncoder().encode(protocolName);
    this.h = name.length <= HASHLEN ? concat(name, new Uint8Array(HASHLEN - name.length)) : sha256(name);
    this.ck = Uint8Array.from(this.h);
    this.cipher = new CipherState();
  }

  mixKey(ikm) {
    const [ck, k] = hkdf(this.ck, ikm, 2);
    wipe(this.ck);
    this.ck = ck;
    this.cipher.initializeKey(k);
  }

  mixHash(data) {
    this.h = sha256(concat(this.h, data));
  }

  mixKeyAndHash(ikm) {
    const [ck, th, k] = hkdf(this.ck, ikm, 3);
    wipe(this.ck);
    this.ck = ck;
    this.mixHash(th);
    this.cipher.initializeKey(k);
  }

  encryptAndHash(plaintext) {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext) {
    let p;
    try {
      p = this.cipher.decryptWithAd(this.h, ciphertext);
    } catch (e) {
      if (e instanceof CryptoError && e.code === 'decrypt_failed') {
        throw new CryptoError('handshake_decrypt_failed');
      }
      throw e;
    }
    this.mixHash(ciphertext);
    return p;
  }

  split() {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2);
    wipe(this.ck);
    this.cipher.destroy();
    return [new CipherState(k1), new CipherState(k2)];
  }
}

// ---------------------------------------------------------------- patterns

// Noise rev 34 §7.4 (one-way), §7.5 (interactive), §18 (deferred). Each pattern:
// [initiator pre-message tokens, responder pre-message tokens, message token lists].
const PATTERNS = {
  N: [[], ['s'], [['e', 'es']]],
  K: [['s'], ['s'], [['e', 'es', 'ss']]],
  X: [[], ['s'], [['e', 'es', 's', 'ss']]],
  NN: [[], [], [['e'], ['e', 'ee']]],
  NK: [[], ['s'], [['e', 'es'], ['e', 'ee']]],
  NX: [[], [], [['e'], ['e', 'ee', 's', 'es']]],
  KN: [['s'], [], [['e'], ['e', 'ee', 'se']]],
  KK: [['s'], ['s'], [['e', 'es', 'ss'], ['e', 'ee', 'se']]],
  KX: [['s'], [], [['e'], ['e', 'ee', 'se', 's', 'es']]],
  XN: [[], [], [['e'], ['e', 'ee'], ['s', 'se']]],
  XK: [[], ['s'], [['e', 'es'], ['e', 'ee'], ['s', 'se']]],
  XX: [[], [], [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']]],
  IN: [[], [], [['e', 's'], ['e', 'ee', 'se']]],
  IK: [[], ['s'], [['e', 'es', 's', 'ss'], ['e', 'ee', 'se']]],
  IX: [[], [], [['e', 's'], ['e', 'ee', 'se', 's', 'es']]],
  NK1: [[], ['s'], [['e'], ['e', 'ee', 'es']]],
  NX1: [[], [], [['e'], ['e', 'ee', 's'], ['es']]],
  X1N: [[], [], [['e'], ['e', 'ee'], ['s'], ['se']]],
  X1K: [[], ['s'], [['e', 'es'], ['e', 'ee'], ['s'], ['se']]],
  XK1: [[], ['s'], [['e'], ['e', 'ee', 'es'], ['s', 'se']]],
  X1K1: [[], ['s'], [['e'], ['e', 'ee', 'es'], ['s'], ['se']]],
  X1X: [[], [], [['e'], ['e', 'ee', 's', 'es'], ['s'], ['se']]],
  XX1: [[], [], [['e'], ['e', 'ee', 's'], ['es', 's', 'se']]],
  X1X1: [[], [], [['e'], ['e', 'ee', 's'], ['es', 's'], ['se']]],
  K1N: [['s'], [], [['e'], ['e', 'ee'], ['se']]],
  K1K: [['s'], ['s'], [['e', 'es'], ['e', 'ee'], ['se']]],
  KK1: [['s'], ['s'], [['e'], ['e', 'ee', 'se', 'es']]],
  K1K1: [['s'], ['s'], [['e'], ['e', 'ee', 'es'], ['se']]],
  K1X: [['s'], [], [['e'], ['e', 'ee', 's', 'es'], ['se']]],
  KX1: [['s'], [], [['e'], ['e', 'ee', 'se', 's'], ['es']]],
  K1X1: [['s'], [], [['e'], ['e', 'ee', 's'], ['se', 'es']]],
  I1N: [[], [], [['e', 's'], ['e', 'ee'], ['se']]],
  I1K: [[], ['s'], [['e', 'es', 's'], ['e', 'ee'], ['se']]],
  IK1: [[], ['s'], [['e', 's'], ['e', 'ee', 'se', 'es']]],
  I1K1: [[], ['s'], [['e', 's'], ['e', 'ee', 'es'], ['se']]],
  I1X: [[], [], [['e', 's'], ['e', 'ee', 's', 'es'], ['se']]],
  IX1: [[], [], [['e', 's'], ['e', 'ee', 'se', 's'], ['es']]],
  I1X1: [[], [], [['e', 's'], ['e', 'ee', 's'], ['se', 'es']]],
};

/**
 * Parses `Noise_<pattern>[psk modifiers]_25519_ChaChaPoly_SHA256` into token tables.
 * @returns {{pre: string[][], messages: string[][], psk: boolean, oneWay: boolean} | null}
 */
export function parseProtocolName(name) {
  if (!name.startsWith('Noise_') || !name.endsWith(SUFFIX)) return null;
  const handshake = name.slice(6, -SUFFIX.length);
  const m = /^([A-Z0-9]+?)((?:psk\d+\+?)*)$/.exec(handshake);
  if (!m) return null;
  const base = PATTERNS[m[1]];
  if (!base) return null;
  const messages = base[2].map((tokens) => [...tokens]);
  const mods = m[2] ? m[2].split('+').filter(Boolean) : [];
  for (const mod of mods) {
    const n = Number(mod.slice(3));
    if (n === 0) messages[0].unshift('psk');
    else if (n <= messages.length) messages[n - 1].push('psk');
    else return null;
  }
  return { pre: [base[0], base[1]], messages, psk: mods.length > 0, oneWay: base[2].length === 1 };
}

// ---------------------------------------------------------------- HandshakeState

export class HandshakeState {
  /**
   * @param {object} o
   * @param {string} o.protocolName
   * @param {boolean} o.initiator
   * @param {Uint8Array} [o.prologue]
   * @param {Uint8Array} [o.s] local static private key
   * @param {Uint8Array} [o.e] local ephemeral private key (fixed: test vectors only)
   * @param {Uint8Array} [o.rs] remote static public key
   * @param {Uint8Array} [o.re] remote ephemeral public key (pre-message only)
   * @param {Uint8Array[]} [o.psks]
   */
  constructor(o) {
    const parsed = parseProtocolName(o.protocolName);
    if (!parsed) throw new CryptoError('internal', 'unsupported protocol');
    this.ss = new SymmetricState(o.protocolName);
    this.initiator = o.initiator;
    this.s = o.s ? keyPair(o.s) : null;
    this.fixedE = o.e ? Uint8Array.from(o.e) : null;
    this.e = null;
    this.rs = o.rs ? Uint8Array.from(o.rs) : null;
    this.re = o.re ? Uint8Array.from(o.re) : null;
    this.psks = o.psks ? o.psks.map((p) => Uint8Array.from(p)) : [];
    this.pskMode = parsed.psk;
    this.messages = parsed.messages;
    this.oneWay = parsed.oneWay;
    this.index = 0;
    this.ss.mixHash(o.prologue || new Uint8Array(0));
    const [preI, preR] = parsed.pre;
    for (const [tokens, mine] of [
      [preI, this.initiator],
      [preR, !this.initiator],
    ]) {
      for (const t of tokens) {
        if (t !== 's') throw new CryptoError('internal', 'unsupported pre-message');
        const key = mine ? this.s && this.s.pub : this.rs;
        if (!key) throw new CryptoError('internal', 'missing pre-message key');
        this.ss.mixHash(key);
      }
    }
  }

  isMyTurn() {
    return (this.index % 2 === 0) === this.initiator;
  }

  isFinished() {
    return this.index >= this.messages.length;
  }

  handshakeHash() {
    return Uint8Array.from(this.ss.h);
  }

  #dhToken(token) {
    // es: initiator DH(e, rs), responder DH(s, re); se: initiator DH(s, re), responder DH(e, rs).
    const pick = {
      ee: [this.e, this.re],
      ss: [this.s, this.rs],
      es: this.initiator ? [this.e, this.rs] : [this.s, this.re],
      se: this.initiator ? [this.s, this.re] : [this.e, this.rs],
    }[token];
    const [local, remote] = pick;
    if (!local || !remote) throw new CryptoError('internal', 'missing key for ' + token);
    const shared = dh(local.priv, remote);
    this.ss.mixKey(shared);
    wipe(shared);
  }

  #nextPsk() {
    const psk = this.psks.shift();
    if (!psk || psk.length !== 32) throw new CryptoError('internal', 'missing psk');
    this.ss.mixKeyAndHash(psk);
  }

  /** Writes the next handshake message carrying `payload`. */
  writeMessage(payload = new Uint8Array(0)) {
    if (this.isFinished() || !this.isMyTurn()) throw new CryptoError('internal', 'not our turn');
    const parts = [];
    for (const t of this.messages[this.index]) {
      if (t === 'e') {
        this.e = keyPair(this.fixedE || undefined);
        this.fixedE = null;
        parts.push(this.e.pub);
        this.ss.mixHash(this.e.pub);
        if (this.pskMode) this.ss.mixKey(this.e.pub);
      } else if (t === 's') {
        parts.push(this.ss.encryptAndHash(this.s.pub));
      } else if (t === 'psk') {
        this.#nextPsk();
      } else {
        this.#dhToken(t);
      }
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.index++;
    return concat(...parts);
  }

  /** Reads the next handshake message; returns its payload. */
  readMessage(message) {
    if (this.isFinished() || this.isMyTurn()) throw new CryptoError('internal', 'not their turn');
    let off = 0;
    const take = (n) => {
      if (message.length - off < n) throw new CryptoError('malformed_handshake');
      const out = message.subarray(off, off + n);
      off += n;
      return out;
    };
    for (const t of this.messages[this.index]) {
      if (t === 'e') {
        this.re = Uint8Array.from(take(DHLEN));
        this.ss.mixHash(this.re);
        if (this.pskMode) this.ss.mixKey(this.re);
      } else if (t === 's') {
        const n = this.ss.cipher.hasKey() ? DHLEN + TAGLEN : DHLEN;
        this.rs = this.ss.decryptAndHash(take(n));
      } else if (t === 'psk') {
        this.#nextPsk();
      } else {
        this.#dhToken(t);
      }
    }
    const rest = message.subarray(off);
    if (this.ss.cipher.hasKey() && rest.length < TAGLEN) throw new CryptoError('malformed_handshake');
    const payload = this.ss.decryptAndHash(rest);
    this.index++;
    return payload;
  }

  /**
   * After the last message: the two transport ciphers, ours to send with and ours to
   * receive with, and the handshake hash. Wipes the handshake's secrets.
   */
  split() {
    if (!this.isFinished()) throw new CryptoError('internal', 'handshake not finished');
    const [c1, c2] = this.ss.split();
    const h = this.handshakeHash();
    this.destroy();
    return this.initiator ? { send: c1, recv: c2, h } : { send: c2, recv: c1, h };
  }

  destroy() {
    if (this.e) wipe(this.e.priv);
    if (this.s) wipe(this.s.priv);
    if (this.fixedE) wipe(this.fixedE);
    for (const p of this.psks) wipe(p);
    this.ss.cipher.destroy();
    wipe(this.ss.ck);
  }
}
