// Fails when web/dist differs from a fresh build: the committed bundle is what the relay
// embeds, so it must be exactly what `npm run build` makes from the sources.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fresh = mkdtempSync(join(tmpdir(), 'confidant-web-'));
const env = { ...process.env };
delete env.CONFIDANT_PINNED_KEYS;
delete env.CONFIDANT_NEUTRAL_URL;
try {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), fresh], { env, stdio: 'pipe' });
  const a = readdirSync(join(root, 'dist')).sort();
  const b = readdirSync(fresh).sort();
  let failed = 0;
  let passed = 0;
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    console.error(`dist files ${a} differ from a fresh build's ${b}`);
    failed++;
  }
  for (const f of b) {
    let same = false;
    try {
      same = readFileSync(join(root, 'dist', f)).equals(readFileSync(join(fresh, f)));
    } catch {
      same = false;
    }
    if (same) passed++;
    else {
      console.error(`web/dist/${f} differs from a fresh build: run \`npm run build\` in web/ and commit`);
      failed++;
    }
  }
  console.log(`dist check: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
