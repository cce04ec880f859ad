// Records inside the encryption, padded to fixed buckets (proto/crypto.md "Records";
// reference: crates/crypto/src/record.rs). The relay sees only the bucket size. Encoding
// and decoding are strict in the same order as the Rust code, so every implementation
// reports the same first error.
//
// A record is one of:
//   {type:'text', text} {type:'typing', typing} {type:'read', count: bigint}
//   {type:'end'} {type:'block'} {type:'resource', resource:{title, url?, phone?}}
//   {type:'unknown', kind, body}: a type 0x07..0x7f of a later revision, which a receiver
//   skips (proto/crypto.md §4, growth); 0x80..0xff are critical: record_unknown_type.

import { CryptoError } from './errors.js';
import { utf8 } from './bytes.js';

export const BUCKETS = [256, 1024, 4096, 16384];
export const RECORD_HEADER_LEN = 3;
export const MAX_TEXT_BYTES = 16384 - RECORD_HEADER_LEN;

const KIND = { text: 1, typing: 2, read: 3, end: 4, block: 5, resource: 6 };
const FIRST_SKIPPABLE = 0x07;
const LAST_SKIPPABLE = 0x7f;

const err = (code) => new CryptoError(code);

function bucketFor(len) {
  return BUCKETS.find((b) => b >= len) ?? null;
}

function cardJson(card) {
  // Field order as serde writes it (title, url, phone), optional fields left out.
  const out = { title: card.title };
  if (card.url !== undefined && card.url !== null) out.url = card.url;
  if (card.phone !== undefined && card.phone !== null) out.phone = card.phone;
  return JSON.stringify(out);
}

/** Encodes a record into exactly one bucket. */
export function encodePadded(record) {
  let kind;
  let body;
  switch (record.type) {
    case 'text':
      if (!record.text) throw err('record_empty_text');
      kind = KIND.text;
      body = utf8.encode(record.text);
      break;
    case 'typing':
      kind = KIND.typing;
      body = Uint8Array.of(record.typing ? 1 : 0);
      break;
    case 'read': {
      kind = KIND.read;
      body = new Uint8Array(8);
      new DataView(body.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(record.count)));
      break;
    }
    case 'end':
      kind = KIND.end;
      body = new Uint8Array(0);
      break;
    case 'block':
      kind = KIND.block;
      body = new Uint8Array(0);
      break;
    case 'resource':
      if (!record.resource || typeof record.resource.title !== 'string' || !record.resource.title) {
        throw err('record_invalid_resource');
      }
      kind = KIND.resource;
      body = utf8.encode(cardJson(record.resource));
      break;
    case 'unknown':
      if (!(record.kind >= FIRST_SKIPPABLE && record.kind <= LAST_SKIPPABLE)) throw err('record_unknown_type');
      kind = record.kind;
      body = record.body;
      break;
    default:
      throw err('record_unknown_type');
  }
  if (body.length > 0xffff) throw err('record_too_long');
  const bucket = bucketFor(body.length + RECORD_HEADER_LEN);
  if (bucket === null) throw err('record_too_long');
  const out = new Uint8Array(bucket);
  out[0] = kind;
  out[1] = body.length >> 8;
  out[2] = body.length & 255;
  out.set(body, 3);
  return out;
}

function parseCard(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw err('record_invalid_resource');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw err('record_invalid_resource');
  const keys = Object.keys(v);
  if (keys.some((k) => !['title', 'url', 'phone'].includes(k))) throw err('record_invalid_resource');
  if (typeof v.title !== 'string' || v.title === '') throw err('record_invalid_resource');
  const card = { title: v.title };
  for (const k of ['url', 'phone']) {
    if (k in v && v[k] !== null) {
      if (typeof v[k] !== 'string') throw err('record_invalid_resource');
      card[k] = v[k];
    }
  }
  // serde refuses duplicate fields; JSON.parse keeps the last. Detect by re-counting keys.
  const dupes = text.match(/"(title|url|phone)"\s*:/g) || [];
  if (dupes.length !== keys.length) throw err('record_invalid_resource');
  return card;
}

/** Decodes one padded record; throws CryptoError with a `record_*` code. */
export function decodePadded(padded) {
  if (!BUCKETS.includes(padded.length)) throw err('record_invalid_length');
  const kind = padded[0];
  if (kind < KIND.text || kind > LAST_SKIPPABLE) throw err('record_unknown_type');
  const bodyLen = (padded[1] << 8) | padded[2];
  if (bodyLen > padded.length - RECORD_HEADER_LEN) throw err('record_body_overrun');
  if (bucketFor(bodyLen + RECORD_HEADER_LEN) !== padded.length) throw err('record_non_minimal_bucket');
  const body = padded.subarray(3, 3 + bodyLen);
  let acc = 0;
  for (let i = 3 + bodyLen; i < padded.length; i++) acc |= padded[i];
  if (acc !== 0) throw err('record_nonzero_padding');
  switch (kind) {
    case KIND.text: {
      const text = utf8.decode(body);
      if (text === null) throw err('record_invalid_utf8');
      if (text === '') throw err('record_empty_text');
      return { type: 'text', text };
    }
    case KIND.typing:
      if (body.length === 1 && (body[0] === 0 || body[0] === 1)) {
        return { type: 'typing', typing: body[0] === 1 };
      }
      throw err('record_invalid_body');
    case KIND.read:
      if (body.length !== 8) throw err('record_invalid_body');
      return { type: 'read', count: new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0) };
    case KIND.end:
    case KIND.block:
      if (body.length !== 0) throw err('record_invalid_body');
      return { type: kind === KIND.end ? 'end' : 'block' };
    case KIND.resource: {
      const text = utf8.decode(body);
      if (text === null) throw err('record_invalid_utf8');
      return { type: 'resource', resource: parseCard(text) };
    }
    default:
      return { type: 'unknown', kind, body: body.slice() };
  }
}
