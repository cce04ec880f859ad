// Credentials without a roster: root -> issuing key -> supporter certificate, plus the
// root-signed revocation list. Canonical byte encodings and the order of checks follow
// proto/crypto.md (reference: crates/crypto/src/{codec,certificate,revocation,validation}.rs):
// every implementation must report the same first failure.
//
// Ed25519 is verified like ed25519-dalek's `verify_strict`: canonical encodings only
// (noble `zip215: false` decoding), small-order public keys and small-order R refused, s
// below the group order, and the cofactorless equation [s]B - [k]A == R compared as bytes.

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concat, equalBytes, utf8 } from './bytes.js';
import { dh } from './noise.js';
import { CryptoError } from './errors.js';
import { MLKEM768_PUBLIC_LEN, isValidMlKemPublic } from './mlkem.js';

export const CREDENTIAL_VERSION = 1;
export const SIGNATURE_LEN = 64;
export const MAX_STRING_BYTES = 128;
export const MAX_STRING_LIST_ITEMS = 32;
export const MAX_REVOKED_SERIALS = 10000;
export const MAX_REVOKED_ISSUERS = 1000;
export const ISSUER_CERTIFICATE_DOMAIN = 'confidant-v1-issuer-certificate';
export const SUPPORTER_CERTIFICATE_DOMAIN = 'confidant-v1-supporter-certificate';
export const REVOCATION_LIST_DOMAIN = 'confidant-v1-revocation-list';
const ALL_DOMAINS = [ISSUER_CERTIFICATE_DOMAIN, SUPPORTER_CERTIFICATE_DOMAIN, REVOCATION_LIST_DOMAIN];

const malformed = (detail) => new CryptoError('malformed', detail);

// ---------------------------------------------------------------- canonical codec

class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.o = 0;
  }
  take(n) {
    if (n > this.b.length - this.o) throw malformed('truncated');
    const out = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return out;
  }
  u8() {
    return this.take(1)[0];
  }
  u16() {
    const t = this.take(2);
    return (t[0] << 8) | t[1];
  }
  u64() {
    const t = this.take(8);
    return new DataView(t.buffer, t.byteOffset, 8).getBigUint64(0);
  }
  version(expected) {
    if (this.u8() !== expected) throw malformed('unknown_version');
  }
  str(nonEmpty) {
    const n = this.u16();
    if (n > MAX_STRING_BYTES) throw malformed('string_too_long');
    const s = utf8.decode(this.take(n));
    if (s === null) throw malformed('invalid_utf8');
    if (nonEmpty && s === '') throw malformed('empty_field');
    return s;
  }
  count(max) {
    const n = this.u16();
    if (n > max) throw malformed('list_too_long');
    return n;
  }
  strList() {
    const n = this.count(MAX_STRING_LIST_ITEMS);
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.str(false));
    return out;
  }
  u64List(max) {
    const n = this.count(max);
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.u64());
    for (let i = 1; i < out.length; i++) if (!(out[i - 1] < out[i])) throw malformed('unsorted_list');
    return out;
  }
  idList(max) {
    const n = this.count(max);
    const out = [];
    for (let i = 0; i < n; i++) out.push(Uint8Array.from(this.take(8)));
    for (let i = 1; i < out.length; i++) {
      if (compareBytes(out[i - 1], out[i]) >= 0) throw malformed('unsorted_list');
    }
    return out;
  }
  finish() {
    if (this.o !== this.b.length) throw malformed('trailing_bytes');
  }
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** First 8 bytes of SHA-256 of an Ed25519 public key. */
export function keyId(publicKey) {
  return sha256(publicKey).subarray(0, 8);
}

/** Splits `body || signature(64)`; the body must be non-empty. */
export function splitSigned(wire) {
  if (wire.length <= SIGNATURE_LEN) throw malformed('truncated');
  return { body: wire.subarray(0, wire.length - SIGNATURE_LEN), signature: wire.subarray(wire.length - SIGNATURE_LEN) };
}

export function decodeIssuerBody(body) {
  const r = new Reader(body);
  r.version(CREDENTIAL_VERSION);
  const cert = {
    program: r.str(true),
    keyId: Uint8Array.from(r.take(8)),
    publicKey: Uint8Array.from(r.take(32)),
    notBefore: r.u64(),
    notAfter: r.u64(),
  };
  r.finish();
  if (!equalBytes(cert.keyId, keyId(cert.publicKey))) throw malformed('key_id_mismatch');
  return cert;
}

/** Body version of a supporter certificate that carries an ML-KEM-768 key (§5.2). */
export const SUPPORTER_CERTIFICATE_VERSION_MLKEM = 2;

export function decodeSupporterBody(body) {
  const r = new Reader(body);
  const version = r.u8();
  if (version !== CREDENTIAL_VERSION && version !== SUPPORTER_CERTIFICATE_VERSION_MLKEM) {
    throw malformed('unknown_version');
  }
  const cert = {
    program: r.str(true),
    issuerKeyId: Uint8Array.from(r.take(8)),
    serial: r.u64(),
    x25519Public: Uint8Array.from(r.take(32)),
    displayName: r.str(true),
    role: r.str(false),
    department: r.str(false),
    topics: r.strList(),
    languages: r.strList(),
    notBefore: r.u64(),
    notAfter: r.u64(),
    mlkem768Public: null,
  };
  if (version === SUPPORTER_CERTIFICATE_VERSION_MLKEM) {
    cert.mlkem768Public = Uint8Array.from(r.take(MLKEM768_PUBLIC_LEN));
  }
  r.finish();
  return cert;
}

export function decodeRevocationBody(body) {
  const r = new Reader(body);
  r.version(CREDENTIAL_VERSION);
  const list = {
    program: r.str(true),
    sequence: r.u64(),
    issuedAt: r.u64(),
    nextUpdate: r.u64(),
    revokedSerials: r.u64List(MAX_REVOKED_SERIALS),
    revokedIssuers: r.idList(MAX_REVOKED_ISSUERS),
  };
  r.finish();
  return list;
}

/** Decodes a supporter certificate without verifying it (e.g. to show a file's owner). */
export function decodeSupporterUnverified(wire) {
  return decodeSupporterBody(splitSigned(wire).body);
}

// ---------------------------------------------------------------- signatures

/** `domain || 0x00 || body`: what every Confidant signature covers. */
export function signedMessage(domain, body) {
  return concat(utf8.encode(domain), Uint8Array.of(0), body);
}

const L = ed25519.Point.Fn.ORDER;

function leToBigInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** Ed25519 verification with the semantics of ed25519-dalek `verify_strict`. */
export function verifyStrict(publicKey, message, signature) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const Point = ed25519.Point;
  const rBytes = signature.subarray(0, 32);
  const s = leToBigInt(signature.subarray(32));
  if (s >= L) return false;
  let A, R;
  try {
    A = Point.fromBytes(publicKey, false);
    R = Point.fromBytes(rBytes, false);
  } catch {
    return false;
  }
  if (A.isSmallOrder() || R.isSmallOrder()) return false;
  const k = leToBigInt(sha512(concat(rBytes, publicKey, message))) % L;
  const SB = s === 0n ? Point.ZERO : Point.BASE.multiply(s);
  const kA = k === 0n ? Point.ZERO : A.multiplyUnsafe(k);
  const expected = SB.subtract(kA);
  return equalBytes(expected.toBytes(), rBytes);
}

function verifySigned(publicKey, domain, wire) {
  const { body, signature } = splitSigned(wire);
  if (verifyStrict(publicKey, signedMessage(domain, body), signature)) return body;
  const other = ALL_DOMAINS.filter((d) => d !== domain).some((d) =>
    verifyStrict(publicKey, signedMessage(d, body), signature),
  );
  throw new CryptoError(other ? 'wrong_domain' : 'bad_signature');
}

function checkWindow(now, notBefore, notAfter) {
  if (now < notBefore) throw new CryptoError('not_yet_valid');
  if (now > notAfter) throw new CryptoError('expired');
}

function isLowOrderX25519(publicKey) {
  try {
    dh(new Uint8Array(32).fill(0x55), publicKey);
    return false;
  } catch {
    return true;
  }
}

/**
 * Verifies a revocation list alone. Order: root signature (domain), decode, program,
 * sequence not below `minSequence`, `now <= nextUpdate`.
 * @param {Uint8Array} rootPublic
 * @param {string} program
 * @param {Uint8Array} wire
 * @param {bigint} now Unix seconds
 * @param {bigint} minSequence
 */
export function verifyRevocationList(rootPublic, program, wire, now, minSequence) {
  const body = verifySigned(rootPublic, REVOCATION_LIST_DOMAIN, wire);
  const list = decodeRevocationBody(body);
  if (list.program !== program) throw new CryptoError('wrong_program');
  if (list.sequence < BigInt(minSequence)) throw new CryptoError('revocation_rolled_back');
  if (BigInt(now) > list.nextUpdate) throw new CryptoError('revocation_stale');
  return list;
}

/**
 * Verifies root -> issuer -> supporter and the revocation list, in the specified order.
 * Returns the decoded certificate, SHA-256 of its wire bytes (the prologue binding) and the
 * list's sequence (to remember as the new minimum). Throws CryptoError on the first failure.
 */
export function verifyChain({ rootPublic, program, issuerCertificate, supporterCertificate, revocationList, now, minSequence = 0n }) {
  now = BigInt(now);
  const issuer = decodeIssuerBody(verifySigned(rootPublic, ISSUER_CERTIFICATE_DOMAIN, issuerCertificate));
  if (issuer.program !== program) throw new CryptoError('wrong_program');
  checkWindow(now, issuer.notBefore, issuer.notAfter);

  let claimed = null;
  try {
    claimed = decodeSupporterUnverified(supporterCertificate).issuerKeyId;
  } catch {
    claimed = null;
  }
  if (claimed && !equalBytes(claimed, issuer.keyId)) throw new CryptoError('issuer_mismatch');
  const supporter = decodeSupporterBody(verifySigned(issuer.publicKey, SUPPORTER_CERTIFICATE_DOMAIN, supporterCertificate));
  if (supporter.program !== program) throw new CryptoError('wrong_program');
  checkWindow(now, supporter.notBefore, supporter.notAfter);
  if (isLowOrderX25519(supporter.x25519Public)) throw new CryptoError('weak_key');
  if (supporter.mlkem768Public && !isValidMlKemPublic(supporter.mlkem768Public)) {
    throw new CryptoError('weak_key');
  }

  const list = verifyRevocationList(rootPublic, program, revocationList, now, BigInt(minSequence));
  if (list.revokedIssuers.some((id) => equalBytes(id, issuer.keyId)) || list.revokedSerials.includes(supporter.serial)) {
    throw new CryptoError('revoked');
  }
  return { certificate: supporter, certificateHash: sha256(supporterCertificate), revocationSequence: list.sequence };
}
