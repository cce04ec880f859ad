// The text files a peer supporter holds (crates/crypto/src/keys.rs and
// crates/client/src/credential_files.rs): a label line naming the kind, then standard
// padded base64 lines. A file of the wrong kind is refused by its label.

import { fromBase64 } from './bytes.js';
import { CryptoError } from './errors.js';

export const SUPPORTER_KEY_LABEL = 'confidant-supporter-key-v1';
/** A supporter key file with an ML-KEM-768 key: label, X25519 secret, 64-byte ML-KEM seed. */
export const SUPPORTER_KEY_MLKEM_LABEL = 'confidant-supporter-key-v2';
export const CREDENTIAL_LABEL = 'confidant-credential-v1';
export const REVOCATION_LIST_LABEL = 'confidant-revocation-list-v1';

/** A key file: exactly a label line and one base64 line of 32 bytes (LF or CRLF). */
export function decodeKeyFile(label, text) {
  let t = text;
  if (t.endsWith('\n')) t = t.slice(0, -1);
  if (t.endsWith('\r')) t = t.slice(0, -1);
  const nl = t.indexOf('\n');
  if (nl < 0) throw new CryptoError('key_file_malformed');
  let first = t.slice(0, nl);
  const second = t.slice(nl + 1);
  if (first.endsWith('\r')) first = first.slice(0, -1);
  if (second.includes('\n') || second.includes('\r')) throw new CryptoError('key_file_malformed');
  if (first !== label) throw new CryptoError('key_file_wrong_label');
  const key = fromBase64(second);
  if (!key) throw new CryptoError('key_file_bad_base64');
  if (key.length !== 32) throw new CryptoError('key_file_wrong_length');
  return key;
}

/** A labelled file of `count` base64 lines; blank trailing lines are ignored. */
export function decodeLabelled(label, count, text) {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  if (!lines.length || lines[0].trim() !== label) throw new CryptoError('file_wrong_label', label);
  const rest = lines.slice(1);
  if (rest.length !== count) throw new CryptoError('file_wrong_line_count');
  return rest.map((line) => {
    const b = fromBase64(line.trim());
    if (!b) throw new CryptoError('file_bad_base64');
    return b;
  });
}

export function decodeSupporterKeyFile(text) {
  return decodeKeyFile(SUPPORTER_KEY_LABEL, text);
}

/**
 * A supporter key file of either version (proto/crypto.md §8): the X25519 secret and, in a
 * version-2 file, the ML-KEM-768 seed `d || z`.
 * @returns {{x25519: Uint8Array, mlkemSeed: Uint8Array|null}}
 */
export function decodeSupporterKeys(text) {
  const first = text.split('\n')[0].replace(/\r$/, '');
  if (first !== SUPPORTER_KEY_MLKEM_LABEL) {
    return { x25519: decodeSupporterKeyFile(text), mlkemSeed: null };
  }
  let t = text;
  if (t.endsWith('\n')) t = t.slice(0, -1);
  if (t.endsWith('\r')) t = t.slice(0, -1);
  const lines = t.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length !== 3) throw new CryptoError('key_file_malformed');
  const x25519 = fromBase64(lines[1]);
  const mlkemSeed = fromBase64(lines[2]);
  if (!x25519 || !mlkemSeed) throw new CryptoError('key_file_bad_base64');
  if (x25519.length !== 32 || mlkemSeed.length !== 64) throw new CryptoError('key_file_wrong_length');
  return { x25519, mlkemSeed };
}

/** @returns {{issuerCertificate: Uint8Array, supporterCertificate: Uint8Array}} */
export function decodeCredentialFile(text) {
  const [issuerCertificate, supporterCertificate] = decodeLabelled(CREDENTIAL_LABEL, 2, text);
  return { issuerCertificate, supporterCertificate };
}

export function decodeRevocationListFile(text) {
  return decodeLabelled(REVOCATION_LIST_LABEL, 1, text)[0];
}
