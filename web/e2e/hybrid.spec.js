// The hybrid post-quantum handshake (proto/crypto.md §2.1) end to end in Chromium:
// web seeker <-> the Rust demo peer (whose certificate carries an ML-KEM-768 key, so the
// page runs Noise_NKpsk2 by default), Rust seeker (`confidant seek`) <-> the web console
// signed in as the `supporter-pq` test supporter, and web seeker <-> web console. What
// proves the hybrid handshake ran is the wire: msg1 is a 4-byte chat number and
// 32 + 1088 + 16 = 1136 bytes, where plain NK sends 48. A relay stripping the ML-KEM key
// from the certificate makes the page refuse the peer.
import { test, expect } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, startCli, hasFlag, waitForFile } from './relay.js';
import { signInPeer, goAvailable, openSeeker, askForPeer, proxyWebSocket } from './pages.js';

const HYBRID_MSG1 = 4 + 1136;
const PLAIN_MSG1 = 4 + 48;
const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer'];

const binaries = (events, dir) => events.filter((e) => e.dir === dir && e.binary !== undefined).map((e) => e.binary);

test.describe('web seeker and the Rust demo peer', () => {
  let relay;
  test.beforeAll(async () => {
    relay = await startRelay();
  });
  test.afterAll(async () => {
    if (relay) await relay.stop();
  });

  test('run the hybrid handshake by default', async ({ page }) => {
    const events = await proxyWebSocket(page);
    await openSeeker(page, relay.origin);
    await askForPeer(page);
    await expect(page.locator('#peer-name')).toHaveText('Demo peer (not a real person)');
    await expect(page.locator('#send')).toBeEnabled();
    await expect(page.locator('#peer-pq')).toHaveText('Encryption: hybrid post-quantum (X25519 and ML-KEM-768)');
    await page.locator('#message').fill('hello over the hybrid handshake');
    await page.keyboard.press('Enter');
    await expect(page.locator('#chat-log .msg.theirs').nth(1)).toBeVisible();
    const sent = binaries(events, 'out');
    expect(sent[0]).toBe(HYBRID_MSG1);
    expect(binaries(events, 'in')[0]).toBe(PLAIN_MSG1); // msg2: e, ee, psk + empty payload tag
  });
});

test.describe('with the hybrid test supporter', () => {
  let relay;
  let dir;
  let program;
  test.beforeAll(async () => {
    const missing = NEEDED.filter((f) => !hasFlag(f));
    test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')}`);
    dir = mkdtempSync(join(tmpdir(), 'confidant-hybrid-'));
    relay = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir]);
    await waitForFile(join(dir, 'program')); // written last
    program = readFileSync(join(dir, 'program'), 'utf8').trim();
  });
  test.afterAll(async () => {
    if (relay) await relay.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('Rust seeker and web console chat over the hybrid handshake', async ({ page }) => {
    const events = await proxyWebSocket(page);
    await signInPeer(page, relay.origin, dir, 'supporter-pq');
    await goAvailable(page, { capacity: 1, autoAccept: true });
    const seeker = startCli(['seek', '--relay', relay.ws, '--program', program, '--trust-relay-root-key']);
    try {
      await seeker.waitFor('[encryption] hybrid post-quantum handshake: X25519 and ML-KEM-768');
      await seeker.waitFor('Type a message');
      await expect(page.locator('#peer-message')).toBeEnabled();
      seeker.send('hello from the rust seeker, post-quantum');
      await expect(page.locator('.log .msg.theirs .text')).toHaveText(['hello from the rust seeker, post-quantum']);
      await page.locator('#peer-message').fill('heard you');
      await page.locator('#peer-send').click();
      await seeker.waitFor('heard you');
      expect(binaries(events, 'in')[0]).toBe(HYBRID_MSG1);
      expect(binaries(events, 'out')[0]).toBe(PLAIN_MSG1);
    } finally {
      seeker.stop();
    }
  });

  test('web seeker and web console chat over the hybrid handshake', async ({ browser }) => {
    const seekerContext = await browser.newContext();
    const peerContext = await browser.newContext();
    try {
      const seeker = await seekerContext.newPage();
      const peer = await peerContext.newPage();
      await signInPeer(peer, relay.origin, dir, 'supporter-pq');
      await goAvailable(peer, { capacity: 1, autoAccept: true });
      const events = await proxyWebSocket(seeker);
      await openSeeker(seeker, relay.origin);
      await askForPeer(seeker);
      await expect(seeker.locator('#send')).toBeEnabled();
      await seeker.locator('#message').fill('web to web, post-quantum');
      await seeker.keyboard.press('Enter');
      await expect(peer.locator('.log .msg.theirs .text')).toHaveText(['web to web, post-quantum']);
      await peer.locator('#peer-message').fill('received');
      await peer.locator('#peer-send').click();
      await expect(seeker.locator('#chat-log .msg.theirs .text')).toHaveText(['received']);
      expect(binaries(events, 'out')[0]).toBe(HYBRID_MSG1);
      await expect(seeker.locator('#peer-pq')).toHaveCount(1);
    } finally {
      await seekerContext.close();
      await peerContext.close();
    }
  });

  test('the same web seeker with the X25519-only supporter: plain NK, and no post-quantum claim', async ({ browser }) => {
    const seekerContext = await browser.newContext();
    const peerContext = await browser.newContext();
    try {
      const seeker = await seekerContext.newPage();
      const peer = await peerContext.newPage();
      await signInPeer(peer, relay.origin, dir);
      await goAvailable(peer, { capacity: 1, autoAccept: true });
      const events = await proxyWebSocket(seeker);
      await openSeeker(seeker, relay.origin);
      await askForPeer(seeker);
      await expect(seeker.locator('#send')).toBeEnabled();
      await seeker.locator('#message').fill('classic');
      await seeker.keyboard.press('Enter');
      await expect(peer.locator('.log .msg.theirs .text')).toHaveText(['classic']);
      expect(binaries(events, 'out')[0]).toBe(PLAIN_MSG1);
      await expect(seeker.locator('#peer-pq')).toHaveCount(0);
    } finally {
      await seekerContext.close();
      await peerContext.close();
    }
  });

  test('a relay stripping the ML-KEM key from the certificate is refused by the page', async ({ browser }) => {
    const seekerContext = await browser.newContext();
    const peerContext = await browser.newContext();
    try {
      const seeker = await seekerContext.newPage();
      const peer = await peerContext.newPage();
      await signInPeer(peer, relay.origin, dir, 'supporter-pq');
      await goAvailable(peer, { capacity: 1, autoAccept: true });
      let stripped = false;
      const events = await proxyWebSocket(seeker, {
        rewrite: (frame) => {
          if (!frame || frame.type !== 'matched') return null;
          // Back to a version-1 body: key cut out, version byte 1, the signature kept.
          const wire = Buffer.from(frame.credential.supporter_certificate, 'base64');
          const body = wire.subarray(0, wire.length - 64);
          const v1 = Buffer.concat([body.subarray(0, body.length - 1184), wire.subarray(wire.length - 64)]);
          v1[0] = 1;
          stripped = true;
          return { ...frame, credential: { ...frame.credential, supporter_certificate: v1.toString('base64') } };
        },
      });
      await openSeeker(seeker, relay.origin);
      await askForPeer(seeker);
      const refusal = seeker.locator('#ended-unverified');
      await expect(refusal).toBeVisible();
      await expect(refusal).toContainText('bad_signature');
      expect(stripped).toBe(true);
      expect(binaries(events, 'out')).toEqual([]); // no handshake byte left the page
    } finally {
      await seekerContext.close();
      await peerContext.close();
    }
  });
});
