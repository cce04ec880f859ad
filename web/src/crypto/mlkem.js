// ML-KEM-768 (FIPS 203) for the hybrid chat handshake, on @noble/post-quantum. Mirrors
// crates/crypto/src/mlkem.rs; the construction is proto/crypto.md §2.1. Nothing new here:
// key generation from the 64-byte seed d || z, encapsulation with a 32-byte m and
// decapsulation are noble's, checked against Wycheproof's ML-KEM-768 vectors
// (test/crypto/mlkem_published.test.js).

import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { utf8 } from './bytes.js';
import { CryptoError } from './errors.js';

export const MLKEM768_PUBLIC_LEN = 1184;
export const MLKEM768_CIPHERTEXT_LEN = 1088;
export const MLKEM_SEED_LEN = 64;
export const HYBRID_PSK_INFO = utf8.encode('confidant-v1-chat-mlkem768-psk');

/**
 * `Encaps(publicKey)` with the 32-byte `m` (fresh randomness unless a test vector gives one).
 * Refuses a key of the wrong length or one that fails the FIPS 203 §7.2 modulus check
 * (`invalid_kem_key`).
 * @returns {{ciphertext: Uint8Array, sharedSecret: Uint8Array}}
 */
export function mlkemEncapsulate(publicKey, m) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== MLKEM768_PUBLIC_LEN) {
    throw new CryptoError('invalid_kem_key');
  }
  let out;
  try {
    out = ml_kem768.encapsulate(publicKey, m ?? randomBytes(32));
  } catch {
    throw new CryptoError('invalid_kem_key');
  }
  return { ciphertext: out.cipherText, sharedSecret: out.sharedSecret };
}

/** Whether `publicKey` is a valid ML-KEM-768 encapsulation key (length and modulus check). */
export function isValidMlKemPublic(publicKey) {
  try {
    mlkemEncapsulate(publicKey, new Uint8Array(32));
    return true;
  } catch {
    return false;
  }
}

/** A supporter's ML-KEM-768 key from its 64-byte seed `d || z`. */
export class MlKemSecret {
  constructor(seed) {
    if (!(seed instanceof Uint8Array) || seed.length !== MLKEM_SEED_LEN) {
      throw new CryptoError('key_file_wrong_length');
    }
    const { publicKey, secretKey } = ml_kem768.keygen(seed);
    this.publicKey = publicKey;
    this.secretKey = secretKey;
  }

  /** `Decaps(ciphertext)`; a ciphertext of another length is `malformed_handshake`. */
  decapsulate(ciphertext) {
    if (ciphertext.length !== MLKEM768_CIPHERTEXT_LEN) throw new CryptoError('malformed_handshake');
    return ml_kem768.decapsulate(ciphertext, this.secretKey);
  }

  destroy() {
    this.secretKey.fill(0);
  }
}

/**
 * The Noise PSK of a hybrid chat: HKDF-SHA256(salt = SHA-256(supporter certificate),
 * IKM = ML-KEM shared secret, info = "confidant-v1-chat-mlkem768-psk", L = 32).
 */
export function hybridPsk(sharedSecret, certificateHash) {
  return hkdf(sha256, sharedSecret, certificateHash, HYBRID_PSK_INFO, 32);
}
