import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
export const VECTORS = join(here, '..', '..', '..', 'proto', 'vectors');

export function loadVectors(name) {
  // Integers beyond 2^53 (u64 read counts) would lose precision in JSON.parse: keep them as
  // strings; the tests turn them into BigInt.
  const text = readFileSync(join(VECTORS, name), 'utf8').replace(/(:\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(text);
}

/** Prints a count line and fails when nothing ran: a silent zero must never pass. */
export function report(t, label, counts) {
  const text = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  t.diagnostic(`${label}: ${text}`);
  console.log(`${label}: ${text}`);
  if (!counts.run) throw new Error(`${label}: no case ran`);
}
