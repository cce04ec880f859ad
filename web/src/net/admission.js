// Feature `admission` (proto/spec.md, "Admission"): under load the relay asks each new
// socket for a proof of work. The page fetches a challenge from GET /v1/admission and looks
// for a nonce such that SHA-256(challenge || nonce as 8 bytes big-endian) starts with
// `difficulty` zero bits, in short chunks between which the page stays responsive.
import { sha256 } from '@noble/hashes/sha2.js';

export const ADMISSION_PATH = '/v1/admission';
/** The most a relay may ask: beyond, the page refuses rather than drain a phone's battery. */
export const MAX_DIFFICULTY = 24;
/** Hashes per chunk: a few milliseconds, so input and rendering go on between chunks. */
const CHUNK = 1024;

export async function fetchChallenge() {
  const res = await fetch(ADMISSION_PATH, { credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
  if (!res.ok) throw new Error(`admission: HTTP ${res.status}`);
  const body = await res.json();
  if (!body || typeof body.challenge !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(body.challenge)) throw new Error('admission: no challenge');
  if (!Number.isInteger(body.difficulty) || body.difficulty < 0 || body.difficulty > MAX_DIFFICULTY) throw new Error('admission: difficulty out of range');
  return body;
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The smallest nonce (as a decimal string) that solves `challenge` at `difficulty`. */
export async function solve(challenge, difficulty) {
  const prefix = sha256.create().update(fromBase64Url(challenge));
  const nonce = new Uint8Array(8);
  const view = new DataView(nonce.buffer);
  for (let n = 0; n < Number.MAX_SAFE_INTEGER; ) {
    const end = n + CHUNK;
    for (; n < end; n++) {
      view.setUint32(0, Math.floor(n / 2 ** 32));
      view.setUint32(4, n >>> 0);
      if (leadingZeroBits(prefix.clone().update(nonce).digest()) >= difficulty) return String(n);
    }
    await yieldToPage();
  }
  throw new Error('admission: no solution');
}

/** Fetches a challenge and solves it: the `proof` query value. */
export async function earnProof() {
  const { challenge, difficulty } = await fetchChallenge();
  const nonce = await solve(challenge, difficulty);
  return `${challenge}.${nonce}`;
}
