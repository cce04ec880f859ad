// The web seeker page <-> the web peer console, each in its own browser context (no shared
// cookies, storage or memory), through a relay without its demo peer that wrote a test
// supporter's files (`--dev-no-demo-peer --dev-peer-credential-dir DIR`).
import { test, expect } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, hasFlag, watchRequests, storageSnapshot } from './relay.js';
import { credentialOf, watchConsole, signInPeer, goAvailable, openSeeker, askForPeer, proxyWebSocket, EMPTY_STORAGE } from './pages.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer'];

let relay;
let dir;
let peerName;
let resources;
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')} (asked of the lead)`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-pair-'));
  relay = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir]);
  peerName = credentialOf(dir).certificate.displayName;
  const programs = await (await fetch(`${relay.origin}/v1/programs`)).json();
  resources = programs.find((p) => p.id === 'resident-peer-support').resources;
});
test.afterAll(async () => {
  if (relay) await relay.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A seeker page and a peer console in two separate contexts. */
async function twoContexts(browser) {
  const seekerContext = await browser.newContext();
  const peerContext = await browser.newContext();
  const seeker = await seekerContext.newPage();
  const peer = await peerContext.newPage();
  return {
    seeker,
    peer,
    async close() {
      await seekerContext.close();
      await peerContext.close();
    },
  };
}

/** Signs the console in, makes it available, asks for a peer and accepts the offer. */
async function connectPair({ seeker, peer }) {
  await signInPeer(peer, relay.origin, dir);
  await goAvailable(peer, { capacity: 2 });
  await openSeeker(seeker, relay.origin);
  await askForPeer(seeker);
  const offer = peer.locator('.offer').first();
  await expect(offer).toBeVisible();
  await offer.getByRole('button', { name: 'Accept' }).click();
  await expect(peer.locator('[role="tab"]')).toHaveCount(1);
  await expect(seeker.locator('#peer-name')).toHaveText(peerName);
  await expect(seeker.locator('#send')).toBeEnabled();
  await expect(peer.locator('#peer-message')).toBeEnabled();
}

test('web seeker and web peer console chat end to end in two contexts', async ({ browser }) => {
  const pair = await twoContexts(browser);
  const { seeker, peer } = pair;
  try {
    const seekerProblems = watchConsole(seeker);
    const peerProblems = watchConsole(peer);
    const seekerRequests = watchRequests(seeker, relay.origin);
    const peerRequests = watchRequests(peer, relay.origin);
    await connectPair(pair);
    await expect(seeker.locator('#peer-card')).toContainText('Verified peer supporter of Resident Peer Support Program');

    // Seeker -> peer, with the typing indicator and the read receipt coming back.
    await seeker.locator('#message').fill('Hello, rough shift today.');
    await expect(peer.locator('.typing')).toHaveText('The seeker is typing…');
    await seeker.keyboard.press('Enter');
    await expect(peer.locator('.log .msg.theirs .text')).toHaveText(['Hello, rough shift today.']);
    await expect(peer.locator('.typing')).toHaveCount(0);
    await expect(seeker.locator('#chat-log .msg.mine .receipt')).toHaveText('Read');

    // Peer -> seeker.
    await peer.locator('#peer-message').fill('Hi, I am here to listen.');
    await peer.locator('#peer-send').click();
    await expect(seeker.locator('#chat-log .msg.theirs .text')).toHaveText(['Hi, I am here to listen.']);
    await expect(peer.locator('.log .msg.mine .receipt')).toHaveText('Read');

    // The peer shares one of the program's resource cards; the seeker sees the card. A
    // record arriving between the pick and the click (here: typing) must not undo the pick.
    await peer.locator('#share-resource').selectOption({ index: 1 });
    await seeker.locator('#message').fill('…');
    await expect(peer.locator('.typing')).toBeVisible();
    await expect(peer.locator('#share-resource')).toHaveValue('0');
    await peer.locator('#share').click();
    await expect(peer.locator('#share-resource')).toHaveValue('');
    await expect(peer.locator('.log .msg.mine.resource .resource-card')).toContainText(resources[0].title);
    await expect(seeker.locator('#chat-log .resource-card')).toContainText(resources[0].title);
    await expect(seeker.locator('#chat-log .msg.resource .who')).toHaveText('Your peer shared a resource');

    // The peer ends: the seeker is told, and keys and messages are gone from its page.
    await peer.locator('#peer-end').click();
    await expect(seeker.locator('#ended-partner')).toBeVisible();
    await expect(seeker.locator('#ended-partner')).toContainText('Your peer ended the chat.');
    await expect(seeker.locator('#chat-log')).toHaveCount(0);
    await expect(peer.locator('[role="tab"]')).toContainText('closed');
    await expect(peer.locator('#peer-message')).toBeDisabled();

    for (const page of [seeker, peer]) expect(await storageSnapshot(page)).toEqual(EMPTY_STORAGE);
    expect(seekerProblems).toEqual([]);
    expect(peerProblems).toEqual([]);
    expect(seekerRequests.foreign).toEqual([]);
    expect(peerRequests.foreign).toEqual([]);
  } finally {
    await pair.close();
  }
});

test('quick exit mid-chat: end sent before close, page wiped, the peer sees the chat end', async ({ browser }) => {
  const pair = await twoContexts(browser);
  const { seeker, peer } = pair;
  try {
    // What the page's socket carried, as Chromium's network stack reports it (the page's
    // own WebSocket, not a proxy: quick exit navigates away right after closing, and a
    // routed socket would be torn down with the page).
    const sockets = [];
    seeker.on('websocket', (ws) => {
      const s = { url: ws.url(), sent: [] };
      sockets.push(s);
      ws.on('framesent', (f) => s.sent.push(typeof f.payload === 'string' ? { text: f.payload } : { binary: f.payload.length }));
    });
    await connectPair(pair);
    await seeker.locator('#message').fill('something private');
    await seeker.keyboard.press('Enter');
    await expect(peer.locator('.log .msg.theirs .text')).toHaveText(['something private']);

    await seeker.locator('#message').fill('a draft never sent');
    await seeker.keyboard.press('Escape');
    await seeker.waitForURL('about:blank');
    expect(await seeker.evaluate(() => document.documentElement.textContent)).toBe('');

    // The peer sees both the seeker's sealed end record and the relay's `partner_ended`
    // (not `partner_left`: the relay got the `end` frame before the socket closed).
    // Said once, from the peer's side (the end record said it; chat_ended adds no second line).
    await expect(peer.locator('.log .msg.system .system-text')).toHaveText(['The seeker ended the chat.']);
    await expect(peer.locator('[role="tab"]')).toContainText('closed');
    await expect(peer.locator('#peer-message')).toBeDisabled();

    // On the wire, last of all: the sealed end record, then `end` (the close follows: a
    // WebSocket sends nothing after close()); the draft never left the page.
    expect(sockets).toHaveLength(1);
    const sent = sockets[0].sent;
    const last = sent.at(-1);
    expect(JSON.parse(last.text)).toEqual({ type: 'end', chat: expect.any(Number) });
    expect(sent.at(-2).binary).toBeGreaterThan(0);
    expect(sent.map((f) => f.text || '').join('\n')).not.toContain('a draft never sent');

    // Nothing is left at the origin either.
    await seeker.goto(relay.origin + '/');
    expect(await storageSnapshot(seeker)).toEqual(EMPTY_STORAGE);
  } finally {
    await pair.close();
  }
});

test.describe('a tampered or foreign certificate in `matched` is refused', () => {
  // One peer console, available with auto-accept, serves every case.
  let peerContext;
  let peer;
  let foreign; // a credential from another relay's (another program root's) dev keys
  test.beforeAll(async ({ browser }) => {
    const otherDir = mkdtempSync(join(tmpdir(), 'confidant-foreign-'));
    const other = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', otherDir]);
    try {
      foreign = credentialOf(otherDir);
      foreign.revocationList = readFileSync(join(otherDir, 'revocation.list'), 'utf8').split('\n')[1];
    } finally {
      await other.stop();
      rmSync(otherDir, { recursive: true, force: true });
    }
    peerContext = await browser.newContext();
    peer = await peerContext.newPage();
    await signInPeer(peer, relay.origin, dir);
    await goAvailable(peer, { capacity: 4, autoAccept: true });
  });
  test.afterAll(async () => {
    if (peerContext) await peerContext.close();
  });

  const b64 = (bytes) => Buffer.from(bytes).toString('base64');
  const flip = (base64, at) => {
    const bytes = Buffer.from(base64, 'base64');
    const i = typeof at === 'function' ? at(bytes) : at < 0 ? bytes.length + at : at;
    bytes[i] ^= 0x20;
    return bytes.toString('base64');
  };
  const CASES = [
    {
      name: 'one bit of the display name flipped',
      tamper: (cred) => ({ ...cred, supporter_certificate: flip(cred.supporter_certificate, (bytes) => bytes.indexOf(Buffer.from(peerName.slice(0, 8)))) }),
    },
    { name: 'one bit of the signature flipped', tamper: (cred) => ({ ...cred, supporter_certificate: flip(cred.supporter_certificate, -1) }) },
    { name: 'a supporter certificate from another issuer key', tamper: (cred) => ({ ...cred, supporter_certificate: b64(foreign.supporterCertificate) }) },
    {
      name: 'a whole chain under another root key',
      tamper: () => ({ issuer_certificate: b64(foreign.issuerCertificate), supporter_certificate: b64(foreign.supporterCertificate), revocation_list: foreign.revocationList }),
    },
  ];

  for (const { name, tamper } of CASES) {
    test(name, async ({ browser }) => {
      const context = await browser.newContext();
      try {
        const seeker = await context.newPage();
        let tampered = null;
        const events = await proxyWebSocket(seeker, {
          rewrite: (frame) => {
            if (!frame || frame.type !== 'matched') return null;
            tampered = { ...frame, credential: tamper(frame.credential) };
            expect(tampered.credential).not.toEqual(frame.credential);
            return tampered;
          },
        });
        const closedBefore = await peer.locator('[role="tab"].ended').count();
        await openSeeker(seeker, relay.origin);
        await askForPeer(seeker);

        const refusal = seeker.locator('#ended-unverified');
        await expect(refusal).toBeVisible();
        await expect(refusal.locator('h1')).toHaveText('Chat closed for your safety');
        await expect(refusal).toContainText("The peer's credential could not be verified, so nothing was sent.");
        await expect(refusal.locator('h1')).toBeFocused();
        expect(tampered).not.toBeNull();

        // Never a name, a verified badge or a message; no handshake byte left the page.
        await expect(seeker.locator('#view-chat')).toBeHidden();
        await expect(seeker.locator('#peer-name, #chat-log, #message')).toHaveCount(0);
        const text = await seeker.evaluate(() => document.body.innerText);
        expect(text).not.toMatch(/test peer|not a real person|Verified peer/i);
        const out = events.filter((e) => e.dir === 'out');
        expect(out.filter((e) => e.binary !== undefined)).toEqual([]);
        expect(out.some((e) => e.frame && e.frame.type === 'end' && e.frame.chat === tampered.chat)).toBe(true);

        // The peer side sees the chat close without a handshake.
        await expect(peer.locator('[role="tab"].ended')).toHaveCount(closedBefore + 1);
        await expect(peer.locator('.log .msg.theirs')).toHaveCount(0);
      } finally {
        await context.close();
      }
    });
  }
});
