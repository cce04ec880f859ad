// The seeker page as a distressed clinician on a phone meets it (issue 15), at phone size
// (360x640, a touch device) and desktop (1280x800), in English and French: Quick exit and the
// composer always on screen, End chat that asks first, emergency help and resources in sight
// on every screen, a warning before leaving mid-chat and a page that explains a reload, an
// offline indicator and messages that say "Not sent" when they were not (or, with feature
// `resume`, that wait for the connection and go when it is back), and one screen reader
// announcement per incoming message.
import { test, expect } from '@playwright/test';
import { startRelay, hasFlag } from './relay.js';
import { DEVICES, recordAnnouncements, announcements, endSeekerChat, expectAccessible, screenshot } from './pages.js';

const DEMO_NAME = 'Demo peer (not a real person)';

const TEXT = {
  en: {
    // The dev programs name their emergency services (feature program-details): 911 and
    // 9-8-8. A program that names none gets the fallback, "call your local emergency number".
    emergency: /^In an emergency:[\s\S]*911[\s\S]*988/,
    emergencyFallback: 'If you are in danger or thinking of harming yourself, call your local emergency number.',
    confirm: 'End this chat? Nothing from it will be kept.',
    queueHelp: 'If you need help before a peer is free',
    reloadedTitle: 'This page was reloaded',
    reloaded: 'nothing from it was kept',
    offline: 'You are offline.',
    reconnecting: 'Connection lost — reconnecting… Your chat is kept for up to a minute.',
    waiting: 'Waiting for the connection — will be sent when it is back',
    notSent: 'Not sent',
    sent: /^(Sent|Read)$/,
    lostTitle: 'The connection was lost',
    quickExit: 'Quick exit',
  },
  fr: {
    emergency: /^En cas d'urgence :[\s\S]*911[\s\S]*988/,
    emergencyFallback: "Si vous êtes en danger ou si vous pensez à vous faire du mal, appelez le numéro d'urgence local.",
    confirm: "Terminer cette conversation ? Rien n'en sera conservé.",
    queueHelp: "Si vous avez besoin d'aide avant qu'un pair soit libre",
    reloadedTitle: 'Cette page a été rechargée',
    reloaded: "rien n'en a été conservé",
    offline: 'Vous êtes hors ligne.',
    reconnecting: 'Connexion perdue — reconnexion… Votre conversation est conservée pendant une minute au plus.',
    waiting: 'En attente de la connexion — sera envoyé dès son retour',
    notSent: 'Non envoyé',
    sent: /^(Envoyé|Lu)$/,
    lostTitle: 'La connexion a été perdue',
    quickExit: 'Sortie rapide',
  },
};

let relay; // with the demo peer (and feature resume, as --dev has it)
let lonely; // no peer at all: the seeker stays queued
let plain; // with the demo peer, without resume (--resume-grace 0): version-1 offline behaviour
test.beforeAll(async () => {
  relay = await startRelay();
  if (hasFlag('--dev-no-demo-peer')) lonely = await startRelay(['--dev-no-demo-peer']);
  if (hasFlag('--resume-grace')) plain = await startRelay(['--resume-grace', '0']);
});
test.afterAll(async () => {
  await Promise.all([relay && relay.stop(), lonely && lonely.stop(), plain && plain.stop()]);
});

async function open(page, origin, lang) {
  await page.goto(origin + '/');
  await expect(page.locator('#view-start form')).toBeVisible();
  if (lang === 'fr') {
    await page.locator('.lang-switch button[data-lang="fr"]').click();
    await expect(page.locator('html')).toHaveAttribute('lang', 'fr');
  }
  const radio = page.locator('#program-resident-peer-support');
  if (await radio.count()) await radio.check();
}

async function startChat(page, lang, origin = relay.origin) {
  await open(page, origin, lang);
  await page.locator('#talk').click();
  await expect(page.locator('#peer-name')).toHaveText(DEMO_NAME);
  await expect(page.locator('#send')).toBeEnabled();
  await expect(page.locator('#chat-log .msg.theirs')).toHaveCount(1); // the demo peer's greeting
}

/** Sends `text` and waits for the demo peer's answer to it. */
async function sendAndAwaitReply(page, text) {
  const before = await page.locator('#chat-log .msg.theirs:not(.resource)').count();
  await page.locator('#message').fill(text);
  await page.keyboard.press('Enter');
  await expect(page.locator('#chat-log .msg.theirs:not(.resource)')).toHaveCount(before + 1, { timeout: 10_000 });
}

/** The element's box lies inside the viewport (top >= 0, bottom <= height). */
async function expectOnScreen(page, selector) {
  const box = await page.locator(selector).boundingBox();
  const { height } = page.viewportSize();
  expect(box, `${selector} is rendered`).not.toBeNull();
  expect(box.y, `${selector} top`).toBeGreaterThanOrEqual(0);
  expect(box.y + box.height, `${selector} bottom`).toBeLessThanOrEqual(height);
}

for (const [device, options] of Object.entries(DEVICES)) {
  for (const lang of ['en', 'fr']) {
    const L = TEXT[lang];
    test.describe(`${device} ${options.viewport.width}x${options.viewport.height} ${lang}`, () => {
      test.use(options);

      test('Quick exit and the composer stay on screen through a long chat; End chat asks first', async ({ page }, testInfo) => {
        await startChat(page, lang);
        for (const text of ['Hello, rough shift today.', 'We lost a patient.', 'I keep going over it.', 'I could not sleep.']) {
          await sendAndAwaitReply(page, text);
        }
        // The chat is taller than the screen now, yet nothing important scrolled away.
        for (const sel of ['#quick-exit', '#message', '#send', '#emergency']) await expectOnScreen(page, sel);
        const body = page.locator('#chat-body');
        expect(await body.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
        // The newest message is in view, and the page itself does not scroll.
        await expectOnScreen(page, '#chat-log .msg:last-child');
        await page.mouse.wheel(0, 2000);
        expect(await page.evaluate(() => document.scrollingElement.scrollTop)).toBe(0);
        await expectOnScreen(page, '#quick-exit');

        // The key hint only where there is a keyboard with Escape.
        const exitText = (await page.locator('#quick-exit').innerText()).trim();
        if (device === 'phone') expect(exitText).toBe(L.quickExit);
        else expect(exitText).toMatch(/Esc/);

        // Messages keep their own direction; the composer does not spell-check or autocorrect.
        await expect(page.locator('#chat-log .msg .text').first()).toHaveAttribute('dir', 'auto');
        const composer = page.locator('#message');
        await expect(composer).toHaveAttribute('spellcheck', 'false');
        await expect(composer).toHaveAttribute('autocorrect', 'off');
        await expect(composer).toHaveAttribute('dir', 'auto');
        expect(await composer.evaluate((el) => el.spellcheck)).toBe(false);

        // End chat is not just under Send: it sits above the messages.
        const end = await page.locator('#end-chat').boundingBox();
        const send = await page.locator('#send').boundingBox();
        expect(end.y + end.height).toBeLessThan(send.y - 100);

        // End chat asks first; "Keep talking" keeps the chat.
        await body.evaluate((el) => (el.scrollTop = 0));
        await page.locator('#end-chat').click();
        const confirm = page.locator('#end-confirm');
        await expect(confirm).toBeVisible();
        await expect(confirm).toContainText(L.confirm);
        await expect(page.locator('#end-confirm-yes')).toBeFocused();
        await expect(page.locator('#end-chat')).toHaveAttribute('aria-expanded', 'true');
        await expectAccessible(page, testInfo, 'seeker end-chat confirmation');
        await page.locator('#end-confirm-no').click();
        await expect(confirm).toBeHidden();
        await expect(page.locator('#message')).toBeEnabled();
        await expect(page.locator('#view-chat')).toBeVisible();

        // The confirmation never stands between the seeker and Quick exit: with it open, one
        // tap (phone) or one key (desktop) still leaves at once, without a leave warning.
        await page.locator('#end-chat').click();
        await expect(confirm).toBeVisible();
        if (device === 'phone') await page.locator('#quick-exit').tap();
        else await page.keyboard.press('Escape');
        await page.waitForURL('about:blank');
      });

      test('emergency help on every screen; resources while queued', async ({ page }, testInfo) => {
        test.skip(!lonely, 'needs confidant-relay --dev-no-demo-peer');
        // Start, and queued (nobody online on `lonely`).
        await open(page, lonely.origin, lang);
        await expect(page.locator('#emergency')).toHaveText(L.emergency);
        await expectOnScreen(page, '#emergency');
        await page.locator('#talk').click();
        await expect(page.locator('#queue-state')).toContainText(/1/);
        await expect(page.locator('#emergency')).toHaveText(L.emergency);
        const help = page.locator('#queue-help');
        await expect(help).toBeVisible();
        await expect(help.locator('h2')).toHaveText(L.queueHelp);
        await expect(help.locator('.resource-card')).toContainText('Faculty Wellness');
        await expectAccessible(page, testInfo, 'seeker queued with resources');
        await page.locator('#cancel').click();
        await expect(page.locator('#view-start form')).toBeVisible();
        await expect(page.locator('#emergency')).toHaveText(L.emergency);

        // Chat and its end, with the demo peer.
        await startChat(page, lang);
        await expect(page.locator('#emergency')).toHaveText(L.emergency);
        await expectOnScreen(page, '#emergency');
        await endSeekerChat(page);
        await expect(page.locator('#ended-ended')).toBeVisible();
        await expect(page.locator('#emergency')).toHaveText(L.emergency);
      });

      test('leave warning mid-chat, and after a reload a page that says what happened', async ({ page }, testInfo) => {
        await startChat(page, lang);
        // Leaving mid-chat: the browser asks first; staying keeps the chat.
        let dialog = page.waitForEvent('dialog');
        page.evaluate(() => location.reload()).catch(() => null);
        let d = await dialog;
        expect(d.type()).toBe('beforeunload');
        await d.dismiss();
        await expect(page.locator('#message')).toBeEnabled();
        await sendAndAwaitReply(page, 'still here');

        // Reloading anyway: the page explains, calmly, and nothing is left of the chat.
        dialog = page.waitForEvent('dialog');
        const reload = page.reload();
        d = await dialog;
        await d.accept();
        await reload;
        const page2 = page.locator('#ended-reloaded');
        await expect(page2).toBeVisible();
        await expect(page2.locator('h1')).toHaveText(TEXT.en.reloadedTitle); // the language starts from the browser's
        await expect(page2).toContainText(TEXT.en.reloaded);
        await expect(page2.locator('h1')).toBeFocused();
        await expect(page.locator('#chat-log')).toHaveCount(0);
        // No program chosen yet on this page: the fallback every client gives.
        await expect(page.locator('#emergency')).toHaveText(TEXT.en.emergencyFallback);
        if (lang === 'fr') {
          await page.locator('.lang-switch button[data-lang="fr"]').click();
          await expect(page2.locator('h1')).toHaveText(L.reloadedTitle);
          await expect(page2).toContainText(L.reloaded);
        }
        await expectAccessible(page, testInfo, 'seeker after a reload');
        // From there, a fresh start; a reload with nothing going on asks nothing.
        await page.locator('#again').click();
        await expect(page.locator('#view-start form')).toBeVisible();
        await page.reload(); // would hang on a beforeunload dialog
        await expect(page.locator('#ended-reloaded')).toBeVisible();
      });

      test('offline (feature resume): a banner, and a message typed meanwhile waits, never "Sent", and goes once the connection is back', async ({ page, context }, testInfo) => {
        await startChat(page, lang);
        await sendAndAwaitReply(page, 'before');
        await expect(page.locator('#chat-log .msg.mine .receipt').first()).toHaveText(L.sent);
        await expect(page.locator('#connection-note')).toBeHidden();

        // (Chromium keeps the open socket alive offline, holding what arrives; the page takes
        // it for lost anyway and resumes on a new socket when back: the relay's takeover.)
        await context.setOffline(true);
        await expect(page.locator('#connection-note')).toHaveText(L.reconnecting);
        await page.locator('#message').fill('typed while offline');
        await page.keyboard.press('Enter');
        const receipt = page.locator('#chat-log .msg.mine').last().locator('.receipt');
        await expect(receipt).toHaveText(L.waiting);
        await page.waitForTimeout(1500);
        await expect(receipt).toHaveText(L.waiting);
        await expectOnScreen(page, '#connection-note');
        await expectOnScreen(page, '#message');
        await expectAccessible(page, testInfo, 'seeker offline with a message waiting');

        await context.setOffline(false);
        await expect(page.locator('#connection-note')).toBeHidden();
        await expect(receipt).toHaveText(L.sent);
        // The demo peer got it once and answers it: its greeting, 'before', this one.
        await expect(page.locator('#chat-log .msg.theirs:not(.resource)')).toHaveCount(3, { timeout: 10_000 });
        await page.waitForTimeout(1000);
        await expect(page.locator('#chat-log .msg.theirs:not(.resource)')).toHaveCount(3);
      });

      test('offline without resume (--resume-grace 0): an indicator, and a message typed meanwhile is "Not sent", never "Sent"', async ({ page, context }, testInfo) => {
        test.skip(!plain, 'needs confidant-relay --resume-grace');
        await startChat(page, lang, plain.origin);
        await sendAndAwaitReply(page, 'before');
        await expect(page.locator('#chat-log .msg.mine .receipt').first()).toHaveText(L.sent);
        await expect(page.locator('#connection-note')).toBeHidden();

        await context.setOffline(true);
        await page.locator('#message').fill('typed while offline');
        await page.keyboard.press('Enter');
        const receipt = page.locator('#chat-log .msg.mine').last().locator('.receipt');
        await expect(receipt).toContainText(L.notSent);
        // Give a socket that would deliver it a moment: it must still not claim "Sent".
        await page.waitForTimeout(1500);
        await expect(receipt).toContainText(L.notSent);
        await expect(page.locator('#connection-note')).toBeVisible();
        await expect(page.locator('#connection-note')).toContainText(L.offline);
        await expectOnScreen(page, '#connection-note');
        await expectAccessible(page, testInfo, 'seeker offline with a message not sent');

        await context.setOffline(false);
        await expect(page.locator('#connection-note')).toBeHidden();
        await receipt.getByRole('button').click();
        await expect(receipt).toHaveText(L.sent);
        await expect(page.locator('#chat-log .msg.theirs:not(.resource)')).toHaveCount(3, { timeout: 10_000 });
      });

      test('the connection closing mid-chat: a page that says the connection was lost', async ({ page }, testInfo) => {
        // A proxy between the page and the relay that the test can cut.
        let cut;
        await page.routeWebSocket(
          (url) => url.pathname === '/v1/ws',
          (ws) => {
            const server = ws.connectToServer();
            ws.onMessage((m) => server.send(m));
            server.onMessage((m) => ws.send(m));
            ws.onClose((code, reason) => server.close({ code, reason }));
            server.onClose((code, reason) => ws.close({ code, reason }));
            cut = () => {
              // As the page sees a relay going away: close 1001, then the relay side too.
              ws.close({ code: 1001, reason: 'going away' });
              server.close();
            };
          },
        );
        await startChat(page, lang);
        await page.locator('#message').fill('a draft');
        cut();
        const lost = page.locator('#ended-lost');
        await expect(lost).toBeVisible();
        await expect(lost.locator('h1')).toHaveText(L.lostTitle);
        await expect(page.locator('#chat-log')).toHaveCount(0);
        await expect(page.locator('#emergency')).toHaveText(L.emergency);
        await expectAccessible(page, testInfo, 'seeker: connection lost');
      });

      test('screen readers hear each incoming message once, and not their own messages or receipts', async ({ page }) => {
        await page.addInitScript(recordAnnouncements);
        await startChat(page, lang);
        await sendAndAwaitReply(page, 'my first message');
        await sendAndAwaitReply(page, 'my second message');
        await expect(page.locator('#chat-log .msg.mine .receipt')).toHaveText([L.sent, L.sent]);
        await expect(page.locator('#chat-log .resource-card')).toHaveCount(1);
        await page.waitForTimeout(300); // announce() writes after a short pause
        const said = await announcements(page);
        const incoming = await page.locator('#chat-log .msg.theirs:not(.resource) .text').allTextContents();
        expect(incoming).toHaveLength(3);
        for (const text of incoming) {
          expect(said.filter((a) => a.text.includes(text)), `announced once: ${text.slice(0, 30)}`).toHaveLength(1);
        }
        for (const own of ['my first message', 'my second message']) {
          expect(said.filter((a) => a.text.includes(own)), own).toEqual([]);
        }
        expect(said.filter((a) => /^(Sent|Read|Envoyé|Lu)$/.test(a.text))).toEqual([]);
        // The shared resource card is announced once, by name of what happened, not read twice.
        expect(said.filter((a) => a.region === 'chat-log')).toEqual([]);
      });
    });
  }
}

test('queue position is announced in its own polite status region, once per change', async ({ page }) => {
  test.skip(!lonely, 'needs confidant-relay --dev-no-demo-peer');
  await page.addInitScript(recordAnnouncements);
  await page.goto(lonely.origin + '/');
  await page.locator('#program-resident-peer-support').check();
  await page.locator('#talk').click();
  const region = page.locator('#queue-state');
  await expect(region).toContainText('Your place in line: 1');
  await expect(region).toHaveAttribute('role', 'status');
  await expect(region).toHaveAttribute('aria-live', 'polite');
  await page.waitForTimeout(300);
  const said = await announcements(page);
  const positions = said.filter((a) => a.text.includes('Your place in line'));
  expect(positions.length).toBeGreaterThanOrEqual(1);
  expect(positions.every((a) => a.region === 'queue-state'), JSON.stringify(positions)).toBe(true);
  await page.locator('#cancel').click();
});

test('screenshot: the seeker in a chat at 360x640 (touch)', async ({ browser }) => {
  const context = await browser.newContext(DEVICES.phone);
  try {
    const page = await context.newPage();
    await startChat(page, 'en');
    for (const text of ['Hello, rough shift today.', 'We lost a patient this morning.', 'I keep going over it.']) {
      await sendAndAwaitReply(page, text);
    }
    await page.locator('#message').fill('Thank you for listening');
    await screenshot(page, 'seeker-chat-touch', 'phone', { fullPage: false });
  } finally {
    await context.close();
  }
});

test('at 360x640 the peer card and End chat stay above the messages; each message shows its time, announced once', async ({ browser }) => {
  const context = await browser.newContext(DEVICES.phone);
  try {
    const page = await context.newPage();
    await page.addInitScript(recordAnnouncements);
    await startChat(page, 'en');
    for (const text of ['Hello, rough shift today.', 'We lost a patient this morning.', 'I keep going over it.', 'I could not sleep.']) {
      await sendAndAwaitReply(page, text);
    }
    // The log scrolls; the card with the peer's name and End chat do not scroll away.
    const body = page.locator('#chat-body');
    expect(await body.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
    for (const sel of ['#peer-card', '#peer-name', '#end-chat', '#quick-exit', '#message']) await expectOnScreen(page, sel);
    await body.evaluate((el) => (el.scrollTop = el.scrollHeight));
    for (const sel of ['#peer-card', '#end-chat']) await expectOnScreen(page, sel);
    // The log keeps room to read: at least a third of the screen.
    const log = await body.boundingBox();
    expect(log.height).toBeGreaterThan(640 / 3);
    await screenshot(page, 'seeker-chat-header', 'phone', { fullPage: false });
    // Every message, mine and the peer's, carries its time on this device (hh:mm).
    const messages = page.locator('#chat-log .msg:not(.system)');
    const count = await messages.count();
    expect(count).toBeGreaterThanOrEqual(9);
    const times = await page.locator('#chat-log .msg:not(.system) > time').allInnerTexts();
    expect(times).toHaveLength(count);
    for (const time of times) expect(time).toMatch(/^\d{2}:\d{2}$/);
    const datetime = await page.locator('#chat-log .msg.theirs > time').first().getAttribute('datetime');
    expect(Number.isNaN(Date.parse(datetime))).toBe(false);
    // Screen readers: each of the peer's answers announced once, and no time read out.
    const said = await announcements(page);
    const answers = said.filter((a) => a.text.startsWith(DEMO_NAME));
    const answerTexts = answers.map((a) => a.text);
    expect(new Set(answerTexts).size, JSON.stringify(answerTexts)).toBe(answerTexts.length);
    expect(answers.length).toBeGreaterThanOrEqual(4);
    expect(said.some((a) => /\b\d{2}:\d{2}\b/.test(a.text)), JSON.stringify(said)).toBe(false);
  } finally {
    await context.close();
  }
});
