// Accessibility (axe: no `serious` or `critical` violation) and the CI screenshots, at phone
// (360x640) and desktop (1280x800) width, for the seeker's start, queued, chat and no_peer
// screens and the peer console (sign-in and a live chat). Screenshots go to
// test-results/screenshots/ (see README.md).
import { test, expect } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, hasFlag } from './relay.js';
import { VIEWPORTS, DEVICES, signInPeer, goAvailable, openSeeker, askForPeer, expectAccessible, screenshot } from './pages.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer', '--dev-wait-limit'];

let relay; // no demo peer, a test supporter's files in `dir`: queued, chat, console
let lonely; // no peer at all and a one-second wait: no_peer
let dir;
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')} (asked of the lead)`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-a11y-'));
  [relay, lonely] = await Promise.all([
    startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir]),
    startRelay(['--dev-no-demo-peer', '--dev-wait-limit', '1']),
  ]);
});
test.afterAll(async () => {
  await Promise.all([relay && relay.stop(), lonely && lonely.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const [size, viewport] of Object.entries(VIEWPORTS)) {
  test.describe(`${size} ${viewport.width}x${viewport.height}`, () => {
    test.use(DEVICES[size]); // the phone is a touch device, as phones are

    test('seeker: start, queued and no_peer', async ({ page }, testInfo) => {
      await openSeeker(page, relay.origin);
      await page.locator('#program-resident-peer-support').check();
      await page.locator('details.options summary').click();
      await expect(page.locator('#department')).toBeVisible();
      await expectAccessible(page, testInfo, 'seeker start');
      await screenshot(page, 'seeker-start', size);

      // Nobody is available on `relay`: the seeker stays in the queue.
      await page.getByRole('button', { name: /talk to a peer/i }).click();
      await expect(page.locator('#queue-state')).toContainText('Your place in line: 1');
      await expectAccessible(page, testInfo, 'seeker queued');
      await page.locator('#cancel').click();
      await expect(page.locator('#view-start')).toContainText('You left the queue.');

      await openSeeker(page, lonely.origin);
      await askForPeer(page);
      await expect(page.locator('#ended-no_peer .resource-card').first()).toBeVisible();
      await expectAccessible(page, testInfo, 'seeker no_peer');
      await screenshot(page, 'seeker-no-peer', size);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
    });

    test('seeker chat and peer console', async ({ browser }, testInfo) => {
      const seekerContext = await browser.newContext(DEVICES[size]);
      const peerContext = await browser.newContext(DEVICES[size]);
      try {
        const seeker = await seekerContext.newPage();
        const peer = await peerContext.newPage();
        await peer.goto(relay.origin + '/peer.html');
        await expectAccessible(peer, testInfo, 'peer sign-in');
        await signInPeer(peer, relay.origin, dir);
        await goAvailable(peer, { capacity: 2, autoAccept: true });

        await openSeeker(seeker, relay.origin);
        await askForPeer(seeker);
        await expect(seeker.locator('#send')).toBeEnabled();
        await seeker.locator('#message').fill('Hello, rough shift today.');
        await seeker.keyboard.press('Enter');
        await expect(peer.locator('.log .msg.theirs .text')).toHaveText(['Hello, rough shift today.']);
        await peer.locator('#peer-message').fill('Hi, I am here to listen.');
        await peer.locator('#peer-send').click();
        await peer.locator('#share-resource').selectOption({ index: 1 });
        await peer.locator('#share').click();
        await expect(seeker.locator('#chat-log .resource-card')).toBeVisible();
        await expect(seeker.locator('#chat-log .msg.mine .receipt')).toHaveText('Read');

        await expectAccessible(seeker, testInfo, 'seeker chat');
        // The chat is exactly one screen tall (Quick exit on top, composer at the bottom).
        await screenshot(seeker, 'seeker-chat', size, { fullPage: false });
        await expectAccessible(peer, testInfo, 'peer console');
        await screenshot(peer, 'peer-console', size);
        for (const page of [seeker, peer]) {
          expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
        }
      } finally {
        await seekerContext.close();
        await peerContext.close();
      }
    });
  });
}

test('dark colour scheme: seeker start and no_peer, peer sign-in', async ({ browser }, testInfo) => {
  const context = await browser.newContext({ colorScheme: 'dark' });
  try {
    const page = await context.newPage();
    await openSeeker(page, lonely.origin);
    await expectAccessible(page, testInfo, 'seeker start (dark)');
    await askForPeer(page);
    await expect(page.locator('#ended-no_peer')).toBeVisible();
    await expectAccessible(page, testInfo, 'seeker no_peer (dark)');
    await page.goto(lonely.origin + '/peer.html');
    await expect(page.locator('#connect')).toBeVisible();
    await expectAccessible(page, testInfo, 'peer sign-in (dark)');
  } finally {
    await context.close();
  }
});
