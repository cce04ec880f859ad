// Feature `resume` in the web client (proto/spec.md "Resume", docs/resume.md): a web seeker
// and a web peer console, each in its own browser context and each behind its own loopback
// TCP proxy (tcpProxy in relay.js), so a test can take one side's network away the way a
// phone loses it: `context.setOffline(true)` (the page's `offline` event, new sockets fail)
// and every TCP connection of that context cut without a WebSocket close (the relay sees a
// lost socket, not a goodbye). Both sides see honest banners; what is typed on both sides
// meanwhile arrives once and in order; a window that closes, or a relay restart, ends the
// chat and says so; and nothing is written to the browser's storage.
import { test, expect } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, hasFlag, tcpProxy, storageSnapshot } from './relay.js';
import { DEVICES, watchConsole, signInPeer, goAvailable, openSeeker, EMPTY_STORAGE, expectAccessible, screenshot } from './pages.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer', '--resume-grace', '--dev-seed'];
/** How long a side stays offline in the resume tests (the relay's window is 60 s). */
const GAP_MS = 10_000;

const TEXT = {
  en: {
    banner: 'Connection lost — reconnecting… Your chat is kept for up to a minute.',
    waiting: 'Waiting for the connection — will be sent when it is back',
    sent: /^(Sent|Read)$/,
    partnerAway: "Your peer's connection dropped; they may be back in a moment.",
    lostTitle: 'The connection was lost',
    ended: 'The connection could not be restored, so the chat has ended. Nothing from it was kept.',
    unsentOne: '1 message you wrote while the connection was lost was not sent.',
    again: 'Start again',
  },
  fr: {
    banner: 'Connexion perdue — reconnexion… Votre conversation est conservée pendant une minute au plus.',
    waiting: 'En attente de la connexion — sera envoyé dès son retour',
    sent: /^(Envoyé|Lu)$/,
    partnerAway: 'La connexion de votre pair a été coupée ; votre pair sera peut-être de retour dans un instant.',
    lostTitle: 'La connexion a été perdue',
    ended: "La connexion n'a pas pu être rétablie ; la conversation est donc terminée. Rien n'en a été conservé.",
    unsentOne: '1 message écrit pendant la coupure n\'a pas été envoyé.',
    again: 'Recommencer',
  },
};
const PEER = {
  reconnecting: 'Connection lost — reconnecting… Your chats and availability are kept for up to a minute. Open offers lapse meanwhile.',
  back: 'Connection restored. Your chats went on.',
  seekerAway: "The seeker's connection dropped; they may be back in a moment.",
  seekerBack: 'The seeker is back.',
  expired: "The seeker's connection did not come back in time; this chat ended.",
  lapsed: 'The offers that were open lapsed while the connection was lost.',
};

let dir;
let relay; // window 60 s (the --dev default)
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')}`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-resume-'));
  relay = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir, '--dev-seed', 'confidant-e2e-resume']);
});
test.afterAll(async () => {
  if (relay) await relay.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One side: its own context, its own proxy in front of `target`, one page. */
async function side(browser, target, options = {}) {
  const proxy = await tcpProxy(target.port);
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems = watchConsole(page);
  return {
    proxy,
    context,
    page,
    problems,
    /** What a lost network does: the page is told it is offline, its connections die. */
    async goOffline() {
      await context.setOffline(true);
      proxy.down();
      proxy.cut();
    },
    async goOnline() {
      proxy.up();
      await context.setOffline(false);
    },
    async close() {
      await context.close();
      await proxy.close();
    },
  };
}

async function setSeekerLanguage(page, lang) {
  if (lang === 'en') return;
  await page.locator('.lang-switch button[data-lang="fr"]').click();
  await expect(page.locator('html')).toHaveAttribute('lang', lang);
}

/** The console signs in and goes available; the seeker asks; the console accepts. */
async function chatting(seeker, peer, target, { lang = 'en', capacity = 2 } = {}) {
  await signInPeer(peer.page, peer.proxy.origin, dir);
  await goAvailable(peer.page, { capacity });
  await openSeeker(seeker.page, seeker.proxy.origin);
  await setSeekerLanguage(seeker.page, lang);
  await askForPeer(seeker.page);
  const offer = peer.page.locator('.offer').first();
  await expect(offer).toBeVisible();
  await offer.getByRole('button', { name: 'Accept' }).click();
  await expect(seeker.page.locator('#send')).toBeEnabled();
  await expect(peer.page.locator('#peer-message')).toBeEnabled();
  void target;
}

/** "Talk to a peer", in whatever language the page speaks. */
async function askForPeer(page) {
  const radio = page.locator('#program-resident-peer-support');
  if (await radio.count()) await radio.check();
  await page.locator('#talk').click();
}

async function seekerSays(page, text) {
  await page.locator('#message').fill(text);
  await page.keyboard.press('Enter');
}

async function peerSays(page, text) {
  await page.locator('#peer-message').fill(text);
  await page.locator('#peer-send').click();
}

const seekerGot = (page) => page.locator('#chat-log .msg.theirs:not(.resource) .text');
const peerGot = (page) => page.locator('.log .msg.theirs .text');
const seekerWrote = (page) => page.locator('#chat-log .msg.mine .text');

for (const [device, lang] of [
  ['phone', 'en'],
  ['phone', 'fr'],
  ['desktop', 'en'],
]) {
  test(`${device}, ${lang}: the seeker's network goes for ${GAP_MS / 1000} s; both sides are told, and what both typed arrives once, in order`, async ({ browser }, testInfo) => {
    const L = TEXT[lang];
    const seeker = await side(browser, relay, DEVICES[device]);
    const peer = await side(browser, relay, DEVICES.desktop);
    try {
      await chatting(seeker, peer, relay, { lang });
      await seekerSays(seeker.page, 'before 1');
      await expect(peerGot(peer.page)).toHaveText(['before 1']);
      await peerSays(peer.page, 'peer before');
      await expect(seekerGot(seeker.page)).toHaveText(['peer before']);

      await seeker.goOffline();
      const note = seeker.page.locator('#connection-note');
      await expect(note).toHaveText(L.banner);
      // The relay saw the socket go: the console says so in the chat's log and its tab.
      await expect(peer.page.locator('.log .msg.system .system-text')).toHaveText([PEER.seekerAway]);
      await expect(peer.page.locator('[role="tab"]')).toContainText('connection dropped');
      // Help stays in sight, and the composer stays usable: what is typed waits.
      await expect(seeker.page.locator('#emergency')).toBeVisible();
      await seekerSays(seeker.page, 'gap 1');
      await seekerSays(seeker.page, 'gap 2');
      const receipts = seeker.page.locator('#chat-log .msg.mine .receipt');
      await expect(receipts).toHaveText([L.sent, L.waiting, L.waiting]);
      await peerSays(peer.page, 'peer gap 1');
      await peerSays(peer.page, 'peer gap 2');
      await expect(peer.page.locator('.log .msg.mine .receipt')).toHaveText([/^(Sent|Read)$/, /^(Sent|Read)$/, /^(Sent|Read)$/]);
      if (device === 'phone') {
        await screenshot(seeker.page, lang === 'en' ? 'seeker-reconnecting' : 'seeker-reconnecting-fr', device, { fullPage: false });
        // The banner, the composer and Quick exit are all on the phone's screen.
        for (const sel of ['#connection-note', '#message', '#quick-exit', '#emergency']) {
          const box = await seeker.page.locator(sel).boundingBox();
          expect(box, sel).not.toBeNull();
          expect(box.y + box.height, `${sel} on screen`).toBeLessThanOrEqual(640 + 1);
          expect(box.y, `${sel} on screen`).toBeGreaterThanOrEqual(0);
        }
        // And the messages keep room to be read under the banner (a quarter of the screen).
        const log = await seeker.page.locator('#chat-body').boundingBox();
        expect(log.height, 'room left for the messages').toBeGreaterThan(640 / 4);
      }
      await expectAccessible(seeker.page, testInfo, `seeker reconnecting (${device}, ${lang})`);
      await seeker.page.waitForTimeout(GAP_MS - 2000);
      await expect(note).toHaveText(L.banner); // still kept, still said

      const back = Date.now();
      await seeker.goOnline();
      await expect(note).toBeEmpty();
      const resumedIn = Date.now() - back;
      testInfo.annotations.push({ type: 'resume time', description: `${resumedIn} ms after setOffline(false)` });
      console.log(`[resume] ${device}/${lang}: seeker back ${resumedIn} ms after setOffline(false)`);
      expect(resumedIn).toBeLessThan(5000);

      // Once each, in order, on both sides.
      await expect(peerGot(peer.page)).toHaveText(['before 1', 'gap 1', 'gap 2']);
      await expect(seekerGot(seeker.page)).toHaveText(['peer before', 'peer gap 1', 'peer gap 2']);
      await expect(receipts).toHaveText([L.sent, L.sent, L.sent]);
      await expect(peer.page.locator('.log .msg.system .system-text')).toHaveText([PEER.seekerAway, PEER.seekerBack]);
      await expect(peer.page.locator('[role="tab"]')).not.toContainText('connection dropped');
      // The chat goes on.
      await seekerSays(seeker.page, 'after');
      await expect(peerGot(peer.page)).toHaveText(['before 1', 'gap 1', 'gap 2', 'after']);
      await peerSays(peer.page, 'peer after');
      await expect(seekerGot(seeker.page)).toHaveText(['peer before', 'peer gap 1', 'peer gap 2', 'peer after']);
      await expect(seekerWrote(seeker.page)).toHaveText(['before 1', 'gap 1', 'gap 2', 'after']);
      await seeker.page.waitForTimeout(500);
      await expect(peerGot(peer.page)).toHaveCount(4); // nothing twice, later either

      // Nothing of it was written anywhere in either browser.
      for (const p of [seeker.page, peer.page]) expect(await storageSnapshot(p)).toEqual(EMPTY_STORAGE);
      expect(seeker.problems).toEqual([]);
      expect(peer.problems).toEqual([]);
    } finally {
      await seeker.close();
      await peer.close();
    }
  });
}

test('offline with the socket still open (Chromium keeps it): the page resumes on a new socket, and what the old one still brings is not read twice', async ({ browser }) => {
  const seeker = await side(browser, relay, DEVICES.phone);
  const peer = await side(browser, relay, DEVICES.desktop);
  try {
    await chatting(seeker, peer, relay);
    await seekerSays(seeker.page, 'before');
    await expect(peerGot(peer.page)).toHaveText(['before']);
    // Only the page's `offline` event: the relay still writes into the old socket, and
    // Chromium holds what arrives until it is back online, then hands it over.
    await seeker.context.setOffline(true);
    await expect(seeker.page.locator('#connection-note')).toHaveText(TEXT.en.banner);
    await peerSays(peer.page, 'held 1');
    await peerSays(peer.page, 'held 2');
    await seekerSays(seeker.page, 'queued');
    await seeker.page.waitForTimeout(2000);
    await seeker.context.setOffline(false);
    await expect(seeker.page.locator('#connection-note')).toBeEmpty();
    await expect(seekerGot(seeker.page)).toHaveText(['held 1', 'held 2']);
    await expect(peerGot(peer.page)).toHaveText(['before', 'queued']);
    // The chat goes on, both ways: both Noise sessions are in step.
    await peerSays(peer.page, 'after');
    await seekerSays(seeker.page, 'after too');
    await expect(seekerGot(seeker.page)).toHaveText(['held 1', 'held 2', 'after']);
    await expect(peerGot(peer.page)).toHaveText(['before', 'queued', 'after too']);
    await expect(seeker.page.locator('#view-chat')).toBeVisible();
    // The relay never saw the seeker go (the old socket was alive until the new one took
    // over), so the console was told nothing.
    await expect(peer.page.locator('.log .msg.system')).toHaveCount(0);
  } finally {
    await seeker.close();
    await peer.close();
  }
});

test("the console's network goes: the seeker is told, chats go on, an open offer lapses and comes back", async ({ browser }, testInfo) => {
  const seeker = await side(browser, relay, DEVICES.phone);
  const peer = await side(browser, relay, DEVICES.desktop);
  const second = await side(browser, relay, DEVICES.desktop);
  try {
    await chatting(seeker, peer, relay);
    await seekerSays(seeker.page, 'hello');
    await expect(peerGot(peer.page)).toHaveText(['hello']);
    // A second seeker waits: its offer is open on the console.
    await openSeeker(second.page, second.proxy.origin);
    await askForPeer(second.page);
    await expect(peer.page.locator('.offer')).toHaveCount(1);

    await peer.goOffline();
    const note = peer.page.locator('#reconnect-note');
    await expect(note).toHaveText(PEER.reconnecting);
    await expect(peer.page.locator('.offer')).toHaveCount(0);
    await expect(peer.page.locator('#offers-lapsed')).toHaveText(PEER.lapsed);
    const partner = seeker.page.locator('#partner-note');
    await expect(partner).toHaveText(TEXT.en.partnerAway);
    await expect(second.page.locator('#view-queue')).toBeVisible(); // still waiting
    // The peer's composer stays usable; what is typed waits for the connection.
    await peerSays(peer.page, 'peer gap 1');
    await peerSays(peer.page, 'peer gap 2');
    await expect(peer.page.locator('.log .msg.mine .receipt')).toHaveText([TEXT.en.waiting, TEXT.en.waiting]);
    await seekerSays(seeker.page, 'are you there?');
    await expectAccessible(peer.page, testInfo, 'console reconnecting');
    await screenshot(seeker.page, 'seeker-partner-away', 'phone', { fullPage: false });
    await expectAccessible(seeker.page, testInfo, 'seeker whose peer is away');
    await peer.page.waitForTimeout(GAP_MS - 3000);

    const back = Date.now();
    await peer.goOnline();
    await expect(note).toHaveText(PEER.back);
    console.log(`[resume] console back ${Date.now() - back} ms after setOffline(false)`);
    await expect(partner).toBeEmpty();
    await expect(seekerGot(seeker.page)).toHaveText(['peer gap 1', 'peer gap 2']);
    await expect(peerGot(peer.page)).toHaveText(['hello', 'are you there?']);
    await expect(peer.page.locator('.log .msg.mine .receipt')).toHaveText([/^(Sent|Read)$/, /^(Sent|Read)$/]);
    // Back, the waiting seeker is offered again (the relay kept the availability).
    await expect(peer.page.locator('.offer')).toHaveCount(1);
    await expect(peer.page.locator('#availability-status')).toContainText('Now Available: 1 of 2');
    await peerSays(peer.page, 'peer after');
    await expect(seekerGot(seeker.page)).toHaveText(['peer gap 1', 'peer gap 2', 'peer after']);
    for (const p of [seeker.page, peer.page]) expect(await storageSnapshot(p)).toEqual(EMPTY_STORAGE);
    expect(peer.problems).toEqual([]);
  } finally {
    await second.close();
    await seeker.close();
    await peer.close();
  }
});

test('a queued seeker loses its network: the queue says it is reconnecting, and the seeker keeps its place', async ({ browser }, testInfo) => {
  // A relay of its own: a seeker of an earlier test whose socket was cut may still hold a
  // place in the shared relay's queue for its window.
  const own = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir, '--dev-seed', 'confidant-e2e-resume']);
  const first = await side(browser, own, DEVICES.phone);
  const later = await side(browser, own, DEVICES.desktop);
  const peer = await side(browser, own, DEVICES.desktop);
  try {
    await openSeeker(first.page, first.proxy.origin);
    await askForPeer(first.page);
    const place = first.page.locator('#queue-state .big');
    await expect(place).toHaveText('Your place in line: 1');

    await first.goOffline();
    await expect(first.page.locator('#connection-note')).toHaveText('Connection lost — reconnecting… You keep your place in line for up to a minute.');
    await expect(first.page.locator('#queue-reconnecting')).toHaveText('Reconnecting… You have not lost your place in line.');
    await expect(first.page.locator('#queue-help')).toBeVisible(); // the resources stay
    await expectAccessible(first.page, testInfo, 'queued seeker reconnecting');
    await screenshot(first.page, 'seeker-queue-reconnecting', 'phone');
    // Someone else comes meanwhile: behind the away seeker.
    await openSeeker(later.page, later.proxy.origin);
    await askForPeer(later.page);
    await expect(later.page.locator('#queue-state .big')).toHaveText('Your place in line: 2');
    await first.page.waitForTimeout(3000);

    await first.goOnline();
    await expect(first.page.locator('#connection-note')).toBeEmpty();
    await expect(first.page.locator('#queue-reconnecting')).toHaveCount(0);
    await expect(place).toHaveText('Your place in line: 1');
    // The first peer to come is offered the first seeker, who gets the chat.
    await signInPeer(peer.page, peer.proxy.origin, dir);
    await goAvailable(peer.page, { capacity: 1 });
    await peer.page.locator('.offer').first().getByRole('button', { name: 'Accept' }).click();
    await expect(first.page.locator('#send')).toBeEnabled();
    await expect(later.page.locator('#view-queue')).toBeVisible();
  } finally {
    await later.close();
    await first.close();
    await peer.close();
    await own.stop();
  }
});

test.describe('the window closes first (--resume-grace 3)', () => {
  let short;
  test.beforeAll(async () => {
    short = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir, '--dev-seed', 'confidant-e2e-resume', '--resume-grace', '3']);
  });
  test.afterAll(async () => {
    if (short) await short.stop();
  });

  for (const lang of ['en', 'fr']) {
    test(`${lang}: the chat ends, both sides are told plainly, the seeker gets the resources and can start again`, async ({ browser }, testInfo) => {
      const L = TEXT[lang];
      const seeker = await side(browser, short, DEVICES.phone);
      const peer = await side(browser, short, DEVICES.desktop);
      try {
        await chatting(seeker, peer, short, { lang });
        await seekerSays(seeker.page, 'hello');
        await expect(peerGot(peer.page)).toHaveText(['hello']);
        await expect(seeker.page.locator('#chat-log .msg.mine .receipt')).toHaveText([L.sent]);
        await seeker.goOffline();
        await expect(seeker.page.locator('#connection-note')).toContainText(lang === 'en' ? 'up to 3 seconds' : 'pendant 3 secondes au plus');
        await seekerSays(seeker.page, 'typed in the gap');
        // The relay's window (3 s) closes: the console's chat ends, said from its side.
        await expect(peer.page.locator('.log .msg.system .system-text')).toHaveText([PEER.seekerAway, PEER.expired], { timeout: 10_000 });
        await expect(peer.page.locator('[role="tab"]')).toContainText('closed');
        // The page gives up when the window has passed, offline or not.
        const ended = seeker.page.locator('#ended-lost');
        await expect(ended).toBeVisible({ timeout: 10_000 });
        await expect(ended.locator('h1')).toHaveText(L.lostTitle);
        await expect(ended).toContainText(L.ended);
        await expect(ended).toContainText(L.unsentOne);
        await expect(ended.locator('.resource-card, li').first()).toBeVisible(); // the program's resources
        await expect(seeker.page.locator('#emergency')).toBeVisible();
        await expect(seeker.page.locator('#connection-note')).not.toContainText(L.banner);
        await expect(seeker.page.locator('#chat-log')).toHaveCount(0); // the text went with the chat
        expect(await seeker.page.evaluate(() => document.body.innerText)).not.toContain('typed in the gap');
        await expectAccessible(seeker.page, testInfo, `seeker after the window closed (${lang})`);

        await seeker.goOnline();
        await seeker.page.locator('#again').click();
        await expect(seeker.page.locator('#view-start form')).toBeVisible();
        await askForPeer(seeker.page);
        await peer.page.locator('.offer').first().getByRole('button', { name: 'Accept' }).click();
        await expect(seeker.page.locator('#send')).toBeEnabled();
        await seekerSays(seeker.page, 'again');
        await peer.page.locator('[role="tab"]').last().click();
        await expect(peer.page.locator('.log .msg.theirs .text')).toHaveText(['again']);
        expect(await storageSnapshot(seeker.page)).toEqual(EMPTY_STORAGE);
      } finally {
        await seeker.close();
        await peer.close();
      }
    });
  }
});

test.describe('a relay restart mid-chat ends the chat (its state was in memory only)', () => {
  for (const kill of [true, false]) {
    test(`the relay is ${kill ? 'killed' : 'restarted gracefully'}: the seeker is told the truth`, async ({ browser }) => {
      const own = await startRelay(['--dev-no-demo-peer', '--dev-peer-credential-dir', dir, '--dev-seed', 'confidant-e2e-resume', '--shutdown-deadline', '1']);
      const seeker = await side(browser, own, DEVICES.phone);
      const peer = await side(browser, own, DEVICES.desktop);
      try {
        await chatting(seeker, peer, own);
        await seekerSays(seeker.page, 'hello');
        await expect(peerGot(peer.page)).toHaveText(['hello']);
        await own.restart({ kill, downMs: 1000 });
        // Killed: the socket is lost, the page tries to resume, and the new relay, which
        // knows nothing of it, refuses. Drained: the relay ended the chat itself and said why.
        const ended = seeker.page.locator(kill ? '#ended-lost' : '#ended-partner');
        await expect(ended).toBeVisible({ timeout: 15_000 });
        if (kill) {
          await expect(ended.locator('h1')).toHaveText(TEXT.en.lostTitle);
          await expect(ended).toContainText(TEXT.en.ended);
        } else {
          await expect(ended).toContainText('The service restarted.');
        }
        await expect(seeker.page.locator('#connection-note')).toBeEmpty();
        await expect(seeker.page.locator('#again')).toBeVisible();
        // The console's chat ended too, and it signs in again by itself.
        await expect(peer.page.locator('[role="tab"]')).toContainText('closed');
        await expect(peer.page.locator('#reconnect-note')).toContainText('Reconnected to the relay', { timeout: 20_000 });
        expect(await storageSnapshot(seeker.page)).toEqual(EMPTY_STORAGE);
      } finally {
        await seeker.close();
        await peer.close();
        await own.stop();
      }
    });
  }
});
