// Feature `admission`: a flood of connections from one address closes the relay's gate; the
// web seeker behind the same address pays a proof of work in the page and chats. Also the
// figures of docs/admission.md: solve times of src/net/admission.js in this Chromium.
import { test, expect } from '@playwright/test';
import { build } from 'esbuild';
import { join } from 'node:path';
import { startRelay, repoRoot } from './relay.js';

const DEMO_NAME = 'Demo peer (not a real person)';

async function chat(page, relay) {
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(relay.origin + '/');
  const radio = page.locator('#program-resident-peer-support');
  if (await radio.count()) await radio.check();
  await page.getByRole('button', { name: /talk to a peer/i }).click();
  return sockets;
}

async function sayHello(page) {
  await expect(page.locator('#peer-name')).toHaveText(DEMO_NAME, { timeout: 30_000 });
  await page.locator('#message').fill('Hello from behind the NAT.');
  await page.keyboard.press('Enter');
  await expect(page.locator('#chat-log .msg.mine .receipt')).toHaveText('Read');
}

/** Opens `n` WebSockets as a version-1 flood would (no feature, no proof), from another tab. */
async function flood(context, relay, n) {
  const tab = await context.newPage();
  await tab.goto(relay.origin + '/');
  const outcomes = await tab.evaluate(async ({ url, n }) => {
    const outcomes = { open: 0, refused: 0, other: 0 };
    await Promise.all(
      Array.from({ length: n }, () =>
        new Promise((resolve) => {
          const ws = new WebSocket(url);
          ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, role: 'seeker', program: 'resident-peer-support' })));
          ws.addEventListener('message', (ev) => {
            const frame = JSON.parse(String(ev.data));
            if (frame.type === 'welcome') outcomes.open += 1;
            else if (frame.type === 'error' && frame.code === 'too_many_connections') outcomes.refused += 1;
            else outcomes.other += 1;
            ws.close();
            resolve();
          });
          ws.addEventListener('error', () => resolve());
        }),
      ),
    );
    return outcomes;
  }, { url: relay.ws, n });
  await tab.close();
  return outcomes;
}

test('a flood closes the gate; the web seeker behind the same address pays and chats', async ({ page, context }) => {
  const relay = await startRelay(['--admission', 'auto', '--admission-new-per-second', '20', '--admission-difficulty', '12', '--max-connections-per-source', '0']);
  try {
    const outcomes = await flood(context, relay, 150);
    console.log(`flood: ${JSON.stringify(outcomes)}`);
    expect(outcomes.refused).toBeGreaterThan(100);
    const challenge = await (await page.request.get(relay.origin + '/v1/admission')).json();
    expect(challenge.required).toBe(true);
    const sockets = await chat(page, relay);
    await sayHello(page);
    // The first socket was refused with proof_required; the next carried the proof.
    expect(sockets[0]).toMatch(/\/v1\/ws\?features=admission$/);
    expect(sockets.some((url) => /[?&]proof=[A-Za-z0-9_-]+\.\d+$/.test(url))).toBe(true);
  } finally {
    await relay.stop();
  }
});

test('a slow proof shows "Checking your connection…", then the chat starts', async ({ page }) => {
  // 18 bits: a second or more in this Chromium, well past the 300 ms notice.
  const relay = await startRelay(['--admission', 'always', '--admission-difficulty', '18']);
  try {
    await chat(page, relay);
    await expect(page.locator('#admission-checking')).toHaveText('Checking your connection…', { timeout: 10_000 });
    await sayHello(page);
  } finally {
    await relay.stop();
  }
});

test('solve times in Chromium (docs/admission.md)', async ({ page }) => {
  test.setTimeout(240_000);
  const bundle = await build({
    stdin: {
      contents: "import { solve, leadingZeroBits } from './src/net/admission.js'; import { sha256 } from '@noble/hashes/sha2.js'; window.__pow = { solve, leadingZeroBits, sha256 };",
      resolveDir: join(repoRoot, 'web'),
    },
    bundle: true,
    format: 'iife',
    write: false,
  });
  await page.setContent('<html><body></body></html>');
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  const figures = await page.evaluate(async () => {
    const out = [];
    const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    for (const [bits, runs] of [[10, 40], [12, 40], [14, 30], [16, 12], [18, 4]]) {
      const times = [];
      for (let r = 0; r < runs; r++) {
        const challenge = b64url(crypto.getRandomValues(new Uint8Array(58)));
        const t0 = performance.now();
        const nonce = await window.__pow.solve(challenge, bits);
        times.push(performance.now() - t0);
        // Check the answer independently of the solver's loop.
        const bytes = Uint8Array.from(atob(challenge.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (challenge.length % 4)) % 4)), (c) => c.charCodeAt(0));
        const input = new Uint8Array(66);
        input.set(bytes);
        new DataView(input.buffer).setBigUint64(58, BigInt(nonce));
        const digest = window.__pow.sha256(input);
        if (window.__pow.leadingZeroBits(digest) < bits) throw new Error(`bad solution at ${bits} bits`);
      }
      times.sort((a, b) => a - b);
      const mean = times.reduce((a, b) => a + b, 0) / times.length;
      out.push({ bits, runs, mean: Math.round(mean), median: Math.round(times[Math.floor(times.length / 2)]), max: Math.round(times[times.length - 1]) });
    }
    const t0 = performance.now();
    let n = 0;
    const prefix = window.__pow.sha256.create().update(new Uint8Array(58));
    const nonce = new Uint8Array(8);
    while (performance.now() - t0 < 1000) {
      for (let i = 0; i < 1000; i++, n++) prefix.clone().update(nonce).digest();
    }
    out.push({ hashesPerSecond: Math.round(n / ((performance.now() - t0) / 1000)) });
    return out;
  });
  console.log(`chromium solve times: ${JSON.stringify(figures)}`);
  expect(figures.length).toBe(6);
});
