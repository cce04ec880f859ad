// The peer console a supporter can live in (issue 15), at phone size (360x640) and desktop
// (1280x800), in English and French: offers where the eye is (top of the page, focused and
// announced) with a title change, an optional WebAudio sound and a system notification when
// allowed; a log that stays on the newest message unless the peer scrolled up; timestamps;
// "waiting since"; wording from the peer's side; the typing indicator cleared at the end;
// program tags translated; and a console that survives a relay restart by itself.
import { test, expect } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, hasFlag } from './relay.js';
import { DEVICES, signInPeer, goAvailable, openSeeker, askForPeer, expectAccessible, screenshot, recordAnnouncements, announcements } from './pages.js';

const NEEDED = ['--dev-peer-credential-dir', '--dev-no-demo-peer', '--dev-seed', '--shutdown-deadline'];
// The same seed before and after a restart: the programs keep their keys, so the credential
// the console holds still verifies on the new relay.
const ARGS = ['--dev-no-demo-peer', '--dev-seed', 'confidant-e2e-console', '--shutdown-deadline', '1'];

const TEXT = {
  en: {
    title: 'Confidant — peer console',
    offerTitle: '(1) Offer — Confidant',
    offerHeading: 'A seeker is waiting',
    waiting: /^Waiting since \d\d:\d\d \((\d+) s\)$/,
    announced: 'A seeker is waiting.',
    notification: 'A seeker is waiting.',
    seekerEnded: 'The seeker ended the chat.',
    seekerLeft: 'The seeker left (their connection closed).',
    typing: 'The seeker is typing…',
    newMessages: 'New messages',
    topics: ['An adverse event', 'Litigation', 'Burnout', 'Moral injury'],
    languages: ['English', 'French'],
    role: '(Resident)',
    offerText: 'Burnout · language: French',
    reconnecting: 'Reconnecting',
    notifyOn: 'System notifications are on.',
    back: 'Reconnected to the relay. Your availability was restored.',
    availableNow: 'Now Available: 0 of 2',
  },
  fr: {
    title: 'Confidant — console des pairs',
    offerTitle: '(1) Demande — Confidant',
    offerHeading: 'Une personne attend',
    waiting: /^En attente depuis \d\d:\d\d \((\d+) s\)$/,
    announced: 'Une personne attend.',
    notification: 'Une personne attend.',
    seekerEnded: 'La personne a terminé la conversation.',
    seekerLeft: 'La personne est partie (sa connexion s\'est fermée).',
    typing: 'La personne écrit…',
    newMessages: 'Nouveaux messages',
    topics: ['Un événement indésirable', 'Un litige', "L'épuisement professionnel", 'La blessure morale'],
    languages: ['Anglais', 'Français'],
    role: '(Résident·e)',
    offerText: "L'épuisement professionnel · langue : Français",
    reconnecting: 'Reconnexion',
    notifyOn: 'Les notifications du système sont activées.',
    back: 'Reconnecté·e au relais. Votre disponibilité a été rétablie.',
    availableNow: 'Actuellement Disponible : 0 conversation(s) ouverte(s) sur 2.',
  },
};

/** Records notifications, permission requests and WebAudio tones in window.__alerts. */
function recordAlerts() {
  const alerts = { notifications: [], asked: 0, tones: 0 };
  window.__alerts = alerts;
  const Real = window.Notification;
  function Fake(title, options) {
    alerts.notifications.push({ title, body: options && options.body });
    this.close = () => {};
  }
  Object.defineProperty(Fake, 'permission', { get: () => (Real ? Real.permission : 'default') });
  Fake.requestPermission = (...args) => {
    alerts.asked += 1;
    return Real ? Real.requestPermission(...args) : Promise.resolve('denied');
  };
  window.Notification = Fake;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    alerts.tones += 1;
    return start.apply(this, args);
  };
}
const alertsOf = (page) => page.evaluate(() => window.__alerts);

let relay;
let dir;
test.beforeAll(async () => {
  const missing = NEEDED.filter((f) => !hasFlag(f));
  test.skip(missing.length > 0, `needs confidant-relay ${missing.join(' ')}`);
  dir = mkdtempSync(join(tmpdir(), 'confidant-console-'));
  relay = await startRelay([...ARGS, '--dev-peer-credential-dir', dir]);
});
test.afterAll(async () => {
  if (relay) await relay.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function setLanguage(page, lang) {
  if (lang === 'en') return;
  await page.locator('.lang-switch button[data-lang="fr"]').click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
}

/** A signed-in, available console in its own context, with alerts recorded. */
async function openConsole(browser, device, { permissions = [] } = {}) {
  const context = await browser.newContext({ ...DEVICES[device], permissions });
  const page = await context.newPage();
  await page.addInitScript(recordAlerts);
  await page.addInitScript(recordAnnouncements);
  await signInPeer(page, relay.origin, dir);
  await goAvailable(page, { capacity: 2 });
  return { context, page };
}

/** A seeker page in its own context that asks for a peer. */
async function newSeeker(browser, prefs = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openSeeker(page, relay.origin);
  if (prefs.topic || prefs.language) {
    await page.locator('#program-resident-peer-support').check();
    await page.locator('details.options summary').click();
    if (prefs.topic) await page.locator('#pref-topic').selectOption(prefs.topic);
    if (prefs.language) await page.locator('#pref-language').selectOption(prefs.language);
  }
  await askForPeer(page);
  return { context, page };
}

/** Accepts the first offer and waits until both sides can type. */
async function accept(peer, seeker) {
  await peer.locator('.offer').first().getByRole('button', { name: /Accept|Accepter/ }).click();
  await expect(seeker.locator('#send')).toBeEnabled();
  await expect(peer.locator('#peer-message')).toBeEnabled();
}

async function expectInViewport(page, locator, what) {
  const box = await locator.boundingBox();
  const { height } = page.viewportSize();
  expect(box, what).not.toBeNull();
  expect(box.y, `${what} top`).toBeGreaterThanOrEqual(0);
  expect(box.y + box.height, `${what} bottom`).toBeLessThanOrEqual(height + 1);
}

for (const device of Object.keys(DEVICES)) {
  for (const lang of ['en', 'fr']) {
    const L = TEXT[lang];
    test.describe(`${device} ${lang}`, () => {
      test('a new offer: at the top, focused and announced, title, waiting since, sound and notification only when chosen', async ({ browser }, testInfo) => {
        const { context, page } = await openConsole(browser, device, { permissions: ['notifications'] });
        const seekers = [];
        try {
          await setLanguage(page, lang);
          await expect(page).toHaveTitle(L.title);
          await page.evaluate(() => window.scrollTo(0, 0));

          // 1. Defaults: no sound, no notification, no permission asked.
          seekers.push(await newSeeker(browser));
          const offer = page.locator('.offer').first();
          await expect(offer).toBeVisible();
          await expectInViewport(page, offer, 'offer');
          // And wherever the peer scrolls in a long console, the offer stays in sight.
          expect(await page.evaluate(() => document.documentElement.scrollHeight > innerHeight)).toBe(true);
          await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
          await expectInViewport(page, offer, 'offer, page scrolled to the end');
          await expectInViewport(page, offer.getByRole('button', { name: /Accept|Accepter/ }), 'Accept');
          await expect(offer.locator('h3')).toHaveText(L.offerHeading);
          await expect(offer.locator('h3')).toBeFocused();
          await expect(page).toHaveTitle(L.offerTitle);
          await expect.poll(async () => (await announcements(page)).filter((a) => a.region === 'status' && a.text === L.announced).length).toBe(1);
          // "Waiting since" counts up.
          const waiting = offer.locator('.offer-waiting');
          await expect(waiting).toHaveText(L.waiting);
          const first = Number((await waiting.textContent()).match(L.waiting)[1]);
          await expect.poll(async () => Number((await waiting.textContent()).match(L.waiting)[1]), { timeout: 5000 }).toBeGreaterThan(first);
          await expectAccessible(page, testInfo, 'peer console with an offer');
          await screenshot(page, lang === 'en' ? 'peer-offer' : 'peer-offer-fr', device, { fullPage: false });
          let alerts = await alertsOf(page);
          expect(alerts).toEqual({ notifications: [], asked: 0, tones: 0 });
          await offer.getByRole('button', { name: /Decline|Refuser/ }).click();
          await expect(page.locator('.offer')).toHaveCount(0);
          await expect(page).toHaveTitle(L.title);
          await seekers[0].page.locator('#cancel').click();

          // 2. Sound on and notifications allowed, each by the peer's own click.
          await page.locator('#offer-sound').check();
          // The browser already allows notifications here (the context grants them), yet none
          // came for the first offer: they start only with this click.
          await page.locator('#enable-notifications').click();
          await expect(page.locator('#notify-status')).toHaveText(L.notifyOn);
          alerts = await alertsOf(page);
          expect(alerts.notifications).toEqual([]);
          const tonesBefore = alerts.tones; // the check box plays the sound once, as a sample
          expect(tonesBefore).toBeGreaterThan(0);
          // The tab is in the background: that is when a notification helps.
          await page.evaluate(() => (document.hasFocus = () => false));
          seekers.push(await newSeeker(browser));
          await expect(page.locator('.offer')).toHaveCount(1);
          await expect(page).toHaveTitle(L.offerTitle);
          await expect.poll(async () => (await alertsOf(page)).tones).toBeGreaterThan(tonesBefore);
          alerts = await alertsOf(page);
          expect(alerts.notifications).toEqual([{ title: 'Confidant', body: L.notification }]);
          await accept(page, seekers[1].page);
          await expect(page).toHaveTitle(L.title);
        } finally {
          for (const s of seekers) await s.context.close();
          await context.close();
        }
      });

      test('chat: the log stays on the newest message unless scrolled up; timestamps; peer-side wording; typing cleared by a quick exit', async ({ browser }) => {
        const { context, page } = await openConsole(browser, device);
        const seeker = await newSeeker(browser);
        try {
          await setLanguage(page, lang);
          await accept(page, seeker.page);
          const log = page.locator('.log');
          const atEnd = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight <= 24);
          for (let i = 1; i <= 25; i++) {
            await seeker.page.locator('#message').fill(`message ${i}: how the night went`);
            await seeker.page.keyboard.press('Enter');
          }
          await expect(log.locator('.msg.theirs')).toHaveCount(25);
          expect(await log.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
          await expect.poll(atEnd).toBe(true);
          await log.scrollIntoViewIfNeeded();
          await expectInViewport(page, log.locator('.msg').last(), 'newest message');

          // Timestamps, HH:MM local, made in the page.
          const stamp = log.locator('.msg.theirs time').first();
          await expect(stamp).toHaveText(/^\d\d:\d\d$/);
          const local = await stamp.evaluate((el) => {
            const d = new Date(el.getAttribute('datetime'));
            return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
          });
          await expect(stamp).toHaveText(local);

          // Scrolled up to reread: a new message does not move the log; a button says so.
          await log.evaluate((el) => (el.scrollTop = 0));
          await expect.poll(() => log.evaluate((el) => el.scrollTop)).toBe(0);
          await seeker.page.locator('#message').fill('one more');
          await seeker.page.keyboard.press('Enter');
          await expect(log.locator('.msg.theirs')).toHaveCount(26);
          expect(await log.evaluate((el) => el.scrollTop)).toBe(0);
          const more = page.locator('#new-messages');
          await expect(more).toBeVisible();
          await expect(more).toContainText(L.newMessages);
          await more.click();
          await expect.poll(atEnd).toBe(true);
          await expect(more).toBeHidden();

          // The seeker types, then leaves with quick exit: typing cleared, one line, the peer's words.
          await seeker.page.locator('#message').fill('a draft');
          await expect(page.locator('.typing')).toHaveText(L.typing);
          await seeker.page.keyboard.press('Escape');
          await seeker.page.waitForURL('about:blank');
          await expect(log.locator('.msg.system .system-text')).toHaveText([L.seekerEnded]);
          await expect(page.locator('.typing')).toHaveCount(0);
          await expect(page.locator('#view-console')).not.toContainText(/Your peer|Votre pair/);
        } finally {
          await seeker.context.close();
          await context.close();
        }
      });

      test('program tags and the page title in the page language, never raw tags', async ({ browser }) => {
        const { context, page } = await openConsole(browser, device);
        const seeker = await newSeeker(browser, { topic: 'burnout', language: 'fr' });
        try {
          await setLanguage(page, lang);
          await expect(page).toHaveTitle(L.offerTitle);
          await expect(page.locator('#availability fieldset').nth(1).locator('label')).toHaveText(L.topics);
          await expect(page.locator('#availability fieldset').nth(2).locator('label')).toHaveText(L.languages);
          await expect(page.locator('#view-console')).toContainText(L.role);
          await expect(page.locator('.offer')).toContainText(L.offerText);
          const text = await page.locator('#view-console').innerText();
          for (const raw of ['adverse-event', 'moral-injury', '(resident)', ': en', ': fr', 'burnout ·']) {
            expect(text, raw).not.toContain(raw);
          }
          await accept(page, seeker.page);
          // The seeker closes the page without ending: "left", from the peer's side.
          await seeker.context.close();
          await expect(page.locator('.log .msg.system .system-text')).toHaveText([L.seekerLeft]);
        } finally {
          await seeker.context.close().catch(() => null);
          await context.close();
        }
      });
    });
  }
}

for (const device of Object.keys(DEVICES)) {
  for (const [how, kill] of [
    ['killed', true],
    ['restarted gracefully', false],
  ]) {
    test(`${device}: the relay is ${how}; the console reconnects, signs in again and restores availability`, async ({ browser }, testInfo) => {
      const lang = device === 'phone' ? 'fr' : 'en';
      const L = TEXT[lang];
      const { context, page } = await openConsole(browser, device);
      let seeker = await newSeeker(browser);
      try {
        await setLanguage(page, lang);
        await accept(page, seeker.page);
        await relay.restart({ kill, args: ARGS, downMs: 1500 });
        const note = page.locator('#reconnect-note');
        await expect(note).toContainText(L.reconnecting);
        await expectInViewport(page, note, 'reconnect notice');
        // The open chat ended with the old relay, and says so.
        await expect(page.locator('[role="tab"]')).toHaveClass(/ended/);
        await expect(note).toHaveText(L.back, { timeout: 20_000 });
        await expectAccessible(page, testInfo, 'peer console after a reconnect');
        await expect(page.locator('#availability-status')).toContainText(L.availableNow);
        await expect(page.locator('#view-login')).toBeHidden(); // no files to pick again
        // The relay really has the peer available again: a new seeker gets an offer.
        await seeker.context.close();
        seeker = await newSeeker(browser);
        await expect(page.locator('.offer')).toHaveCount(1);
        await accept(page, seeker.page);
      } finally {
        await seeker.context.close();
        await context.close();
      }
    });
  }
}

test('the relay stays down: the console stops retrying after its last attempt, offers Try again, and still holds the files', async ({ browser }, testInfo) => {
  const context = await browser.newContext(DEVICES.desktop);
  const page = await context.newPage();
  // The page's timers run on a clock the test moves on, so the whole backoff takes seconds.
  await page.clock.install();
  try {
    await signInPeer(page, relay.origin, dir);
    await goAvailable(page, { capacity: 2 });
    // From here the page's time moves only when the test says so.
    await page.clock.pauseAt(Date.now() + 1000);
    let sockets = 0;
    page.on('websocket', () => (sockets += 1));
    await relay.stop({ kill: true });
    const note = page.locator('#reconnect-note');
    // First the lost socket is resumed (feature resume) for the relay's window, 60 s: every
    // attempt fails for real. Once the window has passed the console falls back to signing
    // in again, and from there it is the schedule below.
    await expect(note).toContainText('Connection lost — reconnecting… Your chats and availability are kept for up to a minute.');
    await page.clock.runFor(58_000);
    await page.waitForTimeout(300);
    for (let i = 0; i < 40 && !(await note.innerText()).includes('attempt 1 of 8'); i++) {
      await page.clock.runFor(500);
      await page.waitForTimeout(150);
    }
    await expect(note).toContainText('attempt 1 of 8');
    expect(sockets).toBeGreaterThan(0); // the resume attempts
    sockets = 0;
    // Each attempt fails for real (nobody listens); the clock jumps on until the console
    // gives up. Eight attempts, then none.
    const gaveUp = 'The relay could not be reached. Your files are still loaded in this tab.';
    for (let i = 0; i < 20 && !(await note.innerText()).includes(gaveUp); i++) {
      await page.clock.runFor(31_000);
      await page.waitForTimeout(300); // the real socket's failure
    }
    await expect(note).toContainText(gaveUp);
    expect(sockets).toBe(8);
    const retry = page.locator('#reconnect-now');
    await expect(retry).toBeVisible();
    await page.clock.runFor(600_000);
    await page.waitForTimeout(300);
    expect(sockets).toBe(8); // no attempt after the last one
    await expect(retry).toBeVisible();
    await page.clock.resume(); // axe needs its own timers to run
    await expectAccessible(page, testInfo, 'peer console, relay unreachable');

    await relay.restart({ args: ARGS });
    await retry.click();
    await expect(note).toHaveText(TEXT.en.back);
    await expect(page.locator('#availability-status')).toContainText(TEXT.en.availableNow);
  } finally {
    await context.close();
  }
});
