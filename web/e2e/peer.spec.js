// Rust seeker (`confidant seek`) <-> the web peer console. The relay's `--dev` root key lives
// only in its memory, so the relay writes a supporter credential for its first dev program
// (`--dev-peer-credential-dir DIR`: supporter.key, supporter.credential, revocation.list, program) and runs without its own demo peer
// (`--dev-no-demo-peer`), so the Rust seeker is matched with the web console.
import { test, expect } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, startCli, hasFlag, watchRequests, storageSnapshot } from './relay.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer'];

let relay;
let dir;
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')} (asked of the lead)`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-peer-'));
  relay = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir]);
});
test.afterAll(async () => {
  if (relay) await relay.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Rust seeker chats with the web peer console', async ({ page }) => {
  const requests = watchRequests(page, relay.origin);
  await page.goto(relay.origin + '/peer.html');
  await page.locator('#key-file').setInputFiles(join(dir, 'supporter.key'));
  await page.locator('#credential-file').setInputFiles(join(dir, 'supporter.credential'));
  await page.locator('#revocation-file').setInputFiles(join(dir, 'revocation.list'));
  await page.locator('#connect').click();
  // Possession proof answered in the page; the relay read our certificate.
  await expect(page.locator('#view-console')).toContainText(/Signed in as .+/);
  await page.locator('#capacity').fill('2');
  await page.locator('#apply-availability').click();
  await expect(page.locator('#availability-status')).toContainText('Now Available: 0 of 2');

  const program = readFileSync(join(dir, 'program'), 'utf8').trim();
  const seeker = startCli(['seek', '--relay', relay.ws, '--program', program, '--trust-relay-root-key']);
  try {
    // The offer shows in the console; accept it.
    const offer = page.locator('.offer').first();
    await expect(offer).toBeVisible();
    await offer.getByRole('button', { name: 'Accept' }).click();
    await expect(page.locator('[role="tab"]')).toHaveCount(1);
    await expect(page.locator('#peer-message')).toBeEnabled();
    await seeker.waitFor('Type a message');
    // The open-chats line follows chats as they start (the relay only reports it on set).
    await expect(page.locator('#availability-status')).toContainText('Now Available: 1 of 2');

    seeker.send('hello from the rust seeker');
    await expect(page.locator('.log .msg.theirs .text')).toHaveText(['hello from the rust seeker']);

    await page.locator('#peer-message').fill('Hi, I am here to listen.');
    await page.locator('#peer-send').click();
    await seeker.waitFor('Hi, I am here to listen.');
    await seeker.waitFor('[peer has read 1 message(s)]');

    // Share one of the program's resource cards.
    await page.locator('#share-resource').selectOption({ index: 1 });
    await page.locator('#share').click();
    await seeker.waitFor('Faculty Wellness');

    // End from the console; the Rust seeker is told.
    await page.locator('#peer-end').click();
    await seeker.waitFor('[chat ended]');
    await expect(page.locator('[role="tab"]')).toContainText('closed');
    await expect(page.locator('#availability-status')).toContainText('Now Available: 0 of 2');
  } finally {
    seeker.stop();
  }
  expect(await storageSnapshot(page)).toEqual({ localStorage: 0, sessionStorage: 0, cookie: '', serviceWorkers: 0, indexedDB: 0 });
  expect(requests.foreign).toEqual([]);
});

test('a wrong key file is refused in the page, before anything is sent', async ({ page }) => {
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(f)));
  await page.goto(relay.origin + '/peer.html');
  await page.locator('#key-file').setInputFiles({ name: 'other.key', mimeType: 'text/plain', buffer: Buffer.from('confidant-supporter-key-v1\n' + Buffer.alloc(32, 7).toString('base64') + '\n') });
  await page.locator('#credential-file').setInputFiles(join(dir, 'supporter.credential'));
  await page.locator('#revocation-file').setInputFiles(join(dir, 'revocation.list'));
  await page.locator('#connect').click();
  await expect(page.locator('#login-error')).toContainText('does not match');
  expect(sent).toEqual([]);
});
