// Builds web/dist deterministically: app.js, peer.js (IIFE bundles, minified, no source
// maps, no timestamps), style.css, and index.html / peer.html carrying Subresource
// Integrity hashes of exactly those bytes.
//
// Build-time settings (both optional):
//   CONFIDANT_PINNED_KEYS  path to a JSON object {"program-id": "<64 hex root key>", ...}
//                          — a real deployment pins its programs' root keys here.
//   CONFIDANT_NEUTRAL_URL  where quick exit goes (default about:blank).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');

function pinnedKeys() {
  const path = process.env.CONFIDANT_PINNED_KEYS;
  if (!path) return {};
  const keys = JSON.parse(readFileSync(path, 'utf8'));
  for (const [id, key] of Object.entries(keys)) {
    if (!/^[a-z0-9-]{1,64}$/.test(id) || !/^[0-9a-f]{64}$/.test(key)) {
      throw new Error(`CONFIDANT_PINNED_KEYS: bad entry ${id}`);
    }
  }
  return keys;
}

const neutral = process.env.CONFIDANT_NEUTRAL_URL || 'about:blank';
if (neutral !== 'about:blank' && !/^https:\/\//.test(neutral)) {
  throw new Error('CONFIDANT_NEUTRAL_URL must be about:blank or an https:// URL');
}

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'eof',
  charset: 'utf8',
  write: false,
  sourcemap: false,
  define: {
    __CONFIDANT_PINNED_KEYS__: JSON.stringify(pinnedKeys()),
    __CONFIDANT_NEUTRAL_URL__: JSON.stringify(neutral),
  },
  loader: { '.json': 'json' },
  absWorkingDir: root,
};

const sri = (bytes) => 'sha384-' + createHash('sha384').update(bytes).digest('base64');

const results = {};
for (const [name, entry] of [
  ['app.js', 'src/seeker/app.js'],
  ['peer.js', 'src/peer/peer.js'],
]) {
  const r = await build({ ...common, entryPoints: [entry] });
  results[name] = r.outputFiles[0].contents;
}
const css = await build({ ...common, entryPoints: ['src/style.css'], define: {}, loader: {} });
results['style.css'] = css.outputFiles[0].contents;

const fill = (template, map) => {
  let s = readFileSync(join(root, template), 'utf8');
  for (const [k, v] of Object.entries(map)) s = s.replaceAll(`%${k}%`, v);
  if (/%[A-Z_]+%/.test(s)) throw new Error(`${template}: unfilled placeholder`);
  return s;
};
results['index.html'] = Buffer.from(fill('src/index.html', { STYLE_SRI: sri(results['style.css']), APP_SRI: sri(results['app.js']) }));
results['peer.html'] = Buffer.from(fill('src/peer.html', { STYLE_SRI: sri(results['style.css']), PEER_SRI: sri(results['peer.js']) }));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
let total = 0;
for (const [name, bytes] of Object.entries(results)) {
  writeFileSync(join(out, name), bytes);
  total += bytes.length;
  console.log(`${name.padEnd(11)} ${String(bytes.length).padStart(7)} bytes`);
}
console.log(`total       ${String(total).padStart(7)} bytes -> ${out}`);
