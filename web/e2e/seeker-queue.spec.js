// The seeker while waiting (issue 15): a peer of my department is passed and I keep my place
// (feature `pass`), and I am told at once when nobody online can take me (feature
// `queue-none`), with the resources, free to keep waiting.
import { test, expect } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, hasFlag } from './relay.js';
import { credentialOf, signInPeer, goAvailable, proxyWebSocket, screenshot, DEVICES } from './pages.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer'];

let relay; // the demo peer (department Demo) and a test supporter's files (department Surgery)
let lonely; // no peer at all
let dir;
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')}`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-queue-'));
  [relay, lonely] = await Promise.all([startRelay(['--dev-peer-credential-dir', dir]), startRelay(['--dev-no-demo-peer'])]);
});
test.afterAll(async () => {
  await Promise.all([relay && relay.stop(), lonely && lonely.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const frames = (events, dir, type) => events.filter((e) => e.dir === dir && e.frame && e.frame.type === type).map((e) => e.frame);

test('the only peer online is from my department: it is passed once, I keep place 1, and the next peer takes me', async ({ browser }) => {
  const seekerContext = await browser.newContext(DEVICES.phone);
  const peerContext = await browser.newContext();
  try {
    const page = await seekerContext.newPage();
    const events = await proxyWebSocket(page);
    await page.goto(relay.origin + '/');
    await page.locator('#program-resident-peer-support').check();
    await page.locator('details.options summary').click();
    await page.locator('#department').selectOption('Demo');
    await page.locator('#talk').click();
    // The demo peer is matched, found to be from my department, and passed before msg1.
    await expect(page.locator('#queue-passed')).toContainText('You keep your place in line');
    await expect(page.locator('#queue-state')).toContainText('Your place in line: 1');
    // Nobody else is online: said at once, with the resources, and I may keep waiting.
    await expect(page.locator('#queue-none')).toContainText('No peer online can take you right now');
    await expect(page.locator('#queue-help')).toContainText('Faculty Wellness');
    await screenshot(page, 'seeker-passed', 'phone');
    // No loop: however long I wait, the demo peer is not matched again.
    await page.waitForTimeout(2000);
    expect(frames(events, 'in', 'matched')).toHaveLength(1);
    expect(frames(events, 'out', 'pass')).toHaveLength(1);
    expect(frames(events, 'out', 'end')).toHaveLength(0);
    expect(frames(events, 'out', 'seek')).toHaveLength(1);
    // A second peer (department Surgery) comes online later and is offered me.
    const peerPage = await peerContext.newPage();
    await signInPeer(peerPage, relay.origin, dir);
    await goAvailable(peerPage, { capacity: 1 });
    const offer = peerPage.locator('.offer').first();
    await expect(offer).toBeVisible();
    await offer.getByRole('button', { name: 'Accept' }).click();
    await expect(page.locator('#peer-name')).toHaveText(credentialOf(dir).certificate.displayName);
    await expect(page.locator('#send')).toBeEnabled();
    // Every queue update I had said place 1.
    const positions = frames(events, 'in', 'queued').map((f) => f.position);
    expect(positions.length).toBeGreaterThan(0);
    expect(positions.every((p) => p === 1), JSON.stringify(positions)).toBe(true);
    expect(frames(events, 'in', 'matched')).toHaveLength(2);
  } finally {
    await seekerContext.close();
    await peerContext.close();
  }
});

for (const lang of ['en', 'fr']) {
  test(`nobody online: said at once with the resources, and waiting goes on (${lang})`, async ({ page }) => {
    const events = await proxyWebSocket(page);
    await page.goto(lonely.origin + '/');
    if (lang === 'fr') await page.locator('.lang-switch button[data-lang="fr"]').click();
    await page.locator('#program-resident-peer-support').check();
    await page.locator('#talk').click();
    const text = lang === 'fr' ? "Aucun pair n'est en ligne pour le moment." : 'No peer is online right now.';
    // At once: well within the first second, not after the wait limit.
    await expect(page.locator('#queue-none')).toContainText(text, { timeout: 3000 });
    await expect(page.locator('#queue-help')).toContainText('Faculty Wellness');
    // The relay said so explicitly (feature queue-none), and the wait goes on.
    expect(frames(events, 'in', 'queued')[0].none).toBe('none_online');
    await page.waitForTimeout(500);
    await expect(page.locator('#view-queue')).toBeVisible();
    await expect(page.locator('#cancel')).toBeEnabled();
    await page.locator('#cancel').click();
  });
}

test('a relay from before features: the page greets it again as version 1 and waits as before', async ({ page }) => {
  // Stands in for an old relay: a hello with `features` is refused as an unknown member
  // (malformed_frame, close 4400), as such a relay does; a plain hello goes through.
  const hellos = [];
  await page.routeWebSocket(
    (url) => url.pathname === '/v1/ws',
    (ws) => {
      let server = null;
      ws.onMessage((m) => {
        const frame = typeof m === 'string' ? JSON.parse(m) : null;
        if (frame && frame.type === 'hello') {
          hellos.push(frame);
          if ('features' in frame) {
            ws.send(JSON.stringify({ type: 'error', code: 'malformed_frame', message: 'the frame is not a valid control frame' }));
            ws.close({ code: 4400 });
            return;
          }
          server = ws.connectToServer();
          server.onMessage((reply) => ws.send(reply));
          server.onClose((code, reason) => ws.close({ code, reason }));
        }
        if (server) server.send(m);
      });
    },
  );
  await page.goto(lonely.origin + '/');
  await page.locator('#program-resident-peer-support').check();
  await page.locator('#talk').click();
  await expect(page.locator('#queue-state')).toContainText('Your place in line: 1');
  // Without queue-none the page still says nobody is online, from peers_online 0.
  await expect(page.locator('#queue-none')).toContainText('No peer is online right now.');
  expect(hellos.map((h) => 'features' in h)).toEqual([true, false]);
  await page.waitForTimeout(300);
  await expect(page.locator('#view-queue')).toBeVisible();
});
