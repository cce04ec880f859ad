// The chat: Noise_NK_25519_ChaChaPoly_SHA256 with a certificate-bound prologue, padded
// records, and a session that breaks for good on the first failure. Mirrors
// crates/crypto/src/{handshake,session,possession}.rs; the byte-level rules are in
// proto/crypto.md.
//
// Prologue = label || SHA-256(exact supporter certificate bytes). A relay that swaps
// certificates breaks the handshake instead of steering the seeker to another key.

import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { HandshakeState, TAGLEN } from './noise.js';
import { BUCKETS, encodePadded, decodePadded } from './record.js';
import { concat, equalBytes, utf8, wipe } from './bytes.js';
import { CryptoError } from './errors.js';
import { MLKEM768_CIPHERTEXT_LEN, hybridPsk, mlkemEncapsulate } from './mlkem.js';

export const PROTOCOL_NAME = 'Noise_NK_25519_ChaChaPoly_SHA256';
/** The hybrid chat (proto/crypto.md §2.1): NK with the ML-KEM PSK mixed in at msg2. */
export const HYBRID_PROTOCOL_NAME = 'Noise_NKpsk2_25519_ChaChaPoly_SHA256';
/** Hybrid msg1: e (32) || ENCRYPT(ML-KEM-768 ciphertext) (1088 + 16). */
export const HYBRID_MSG1_LEN = 32 + MLKEM768_CIPHERTEXT_LEN + 16;
export const CHAT_PROLOGUE_LABEL = utf8.encode('confidant-v1-chat');
export const POSSESSION_PROLOGUE_LABEL = utf8.encode('confidant-v1-possession');
export const MAX_NOISE_MESSAGE = 16384 + TAGLEN;
/** msg1 (`e, es` + empty payload tag) and msg2 (`e, ee` + empty payload tag). */
export const HANDSHAKE_MESSAGE_LEN = 32 + 16;
export const CHALLENGE_LEN = 32;
export const POSSESSION_MESSAGE_LEN = 32 + CHALLENGE_LEN + 16;

export function prologue(label, certificate) {
  return concat(label, sha256(certificate));
}

function readHandshake(state, message, expectedLen, payloadLen) {
  if (message.length > MAX_NOISE_MESSAGE) throw new CryptoError('message_too_large');
  if (message.length !== expectedLen) throw new CryptoError('malformed_handshake');
  const payload = state.readMessage(message);
  if (payload.length !== payloadLen) throw new CryptoError('unexpected_payload');
  return payload;
}

function guard(state, fn) {
  try {
    return fn();
  } catch (e) {
    state.destroy();
    throw e;
  }
}

/** A live chat after a completed handshake, on either side. */
export class ChatSession {
  constructor({ send, recv, h }) {
    this.send = send;
    this.recv = recv;
    this.h = h;
  }

  get broken() {
    return this.send === null;
  }

  /** The handshake hash, identical on both sides (channel binding). */
  handshakeHash() {
    return Uint8Array.from(this.h);
  }

  /** Pads and encrypts one record. An encoding error leaves the session usable. */
  seal(record) {
    if (this.broken) throw new CryptoError('session_broken');
    const plaintext = encodePadded(record);
    try {
      return this.send.encryptWithAd(new Uint8Array(0), plaintext);
    } catch (e) {
      this.destroy();
      throw e;
    } finally {
      wipe(plaintext);
    }
  }

  /** Decrypts and decodes one record; any failure breaks the session for good. */
  open(ciphertext) {
    if (this.broken) throw new CryptoError('session_broken');
    try {
      if (ciphertext.length > MAX_NOISE_MESSAGE) throw new CryptoError('message_too_large');
      if (!BUCKETS.some((b) => b + TAGLEN === ciphertext.length)) {
        throw new CryptoError('malformed_message');
      }
      const plaintext = this.recv.decryptWithAd(new Uint8Array(0), ciphertext);
      try {
        return decodePadded(plaintext);
      } catch (e) {
        throw new CryptoError('invalid_record', e.code);
      } finally {
        wipe(plaintext);
      }
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  destroy() {
    if (this.send) this.send.destroy();
    if (this.recv) this.recv.destroy();
    this.send = null;
    this.recv = null;
  }
}

/** The seeker's half-finished handshake. `start` returns it with msg1. */
export class SeekerHandshake {
  /**
   * @param {Uint8Array} peerStatic the X25519 key from the verified certificate
   * @param {Uint8Array} supporterCertificate exact wire bytes that were verified
   * @param {Uint8Array} [ephemeral] fixed ephemeral: test vectors only
   * @param {{mlkemPublic?: Uint8Array|null, m?: Uint8Array}} [hybrid] the verified
   *   certificate's ML-KEM-768 key: when present the hybrid handshake runs, always — the
   *   choice is the signed certificate's, never the relay's. `m`: test vectors only.
   * @returns {{handshake: SeekerHandshake, msg1: Uint8Array}}
   */
  static start(peerStatic, supporterCertificate, ephemeral, hybrid = {}) {
    const mlkemPublic = hybrid.mlkemPublic ?? null;
    const kem = mlkemPublic ? mlkemEncapsulate(mlkemPublic, hybrid.m) : null;
    const state = new HandshakeState({
      protocolName: kem ? HYBRID_PROTOCOL_NAME : PROTOCOL_NAME,
      initiator: true,
      prologue: prologue(CHAT_PROLOGUE_LABEL, supporterCertificate),
      rs: peerStatic,
      e: ephemeral,
    });
    const msg1 = guard(state, () => {
      if (!kem) return state.writeMessage(new Uint8Array(0));
      // The ciphertext is msg1's payload: encrypted under es and mixed into h.
      const out = state.writeMessage(kem.ciphertext);
      state.psks.push(hybridPsk(kem.sharedSecret, sha256(supporterCertificate)));
      wipe(kem.sharedSecret);
      return out;
    });
    const handshake = new SeekerHandshake();
    handshake.state = state;
    return { handshake, msg1 };
  }

  /** Completes the handshake with msg2; usable once. */
  finish(msg2) {
    const state = this.state;
    if (!state) throw new CryptoError('session_broken');
    this.state = null;
    return guard(state, () => {
      readHandshake(state, msg2, HANDSHAKE_MESSAGE_LEN, 0);
      return new ChatSession(state.split());
    });
  }

  destroy() {
    if (this.state) this.state.destroy();
    this.state = null;
  }
}

/**
 * The supporter's side: answers msg1 with its static secret. With `mlkem` (an MlKemSecret,
 * whose public half the supporter's own certificate carries) only the hybrid handshake is
 * accepted: a plain 48-byte msg1 — what a relay stripping the ciphertext sends — is
 * `malformed_handshake`.
 * @returns {{session: ChatSession, msg2: Uint8Array}}
 */
export function peerRespond(secret, supporterCertificate, msg1, ephemeral, mlkem = null) {
  const state = new HandshakeState({
    protocolName: mlkem ? HYBRID_PROTOCOL_NAME : PROTOCOL_NAME,
    initiator: false,
    prologue: prologue(CHAT_PROLOGUE_LABEL, supporterCertificate),
    s: secret,
    e: ephemeral,
  });
  return guard(state, () => {
    if (mlkem) {
      const ciphertext = readHandshake(state, msg1, HYBRID_MSG1_LEN, MLKEM768_CIPHERTEXT_LEN);
      const shared = mlkem.decapsulate(ciphertext);
      state.psks.push(hybridPsk(shared, sha256(supporterCertificate)));
      wipe(shared);
    } else {
      readHandshake(state, msg1, HANDSHAKE_MESSAGE_LEN, 0);
    }
    const msg2 = state.writeMessage(new Uint8Array(0));
    return { session: new ChatSession(state.split()), msg2 };
  });
}

/**
 * The supporter's answer to the relay's possession challenge: decrypt msg1 (the challenge)
 * and echo it in msg2. Only the holder of the certified key can.
 */
export function answerPossessionChallenge(secret, supporterCertificate, challenge, ephemeral) {
  const state = new HandshakeState({
    protocolName: PROTOCOL_NAME,
    initiator: false,
    prologue: prologue(POSSESSION_PROLOGUE_LABEL, supporterCertificate),
    s: secret,
    e: ephemeral,
  });
  try {
    const payload = readHandshake(state, challenge, POSSESSION_MESSAGE_LEN, CHALLENGE_LEN);
    return state.writeMessage(payload);
  } finally {
    state.destroy();
  }
}

/**
 * The relay's side of the possession proof. The web client never needs it; it is here so
 * the vectors can be checked from both ends.
 */
export class PossessionChallenge {
  static create(x25519Public, supporterCertificate, ephemeral, challenge) {
    const value = challenge ? Uint8Array.from(challenge) : randomBytes(CHALLENGE_LEN);
    const state = new HandshakeState({
      protocolName: PROTOCOL_NAME,
      initiator: true,
      prologue: prologue(POSSESSION_PROLOGUE_LABEL, supporterCertificate),
      rs: x25519Public,
      e: ephemeral,
    });
    const message = guard(state, () => state.writeMessage(value));
    const pending = new PossessionChallenge();
    pending.state = state;
    pending.challenge = value;
    return { pending, message };
  }

  verify(answer) {
    const state = this.state;
    this.state = null;
    try {
      const echoed = readHandshake(state, answer, POSSESSION_MESSAGE_LEN, CHALLENGE_LEN);
      if (!equalBytes(echoed, this.challenge)) throw new CryptoError('challenge_mismatch');
    } finally {
      state.destroy();
    }
  }
}
