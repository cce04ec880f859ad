// Page-level helpers shared by the browser specs: the peer console's sign-in, the seeker's
// "talk to a peer", a WebSocket recorder/tamperer (Playwright's routeWebSocket), the axe
// scan and the CI screenshots.
import { expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCredentialFile, decodeSupporterUnverified } from '../src/crypto/index.js';

const webDir = join(dirname(fileURLToPath(import.meta.url)), '..');
/** CI artefacts (gitignored): phone and desktop screenshots of every main screen. */
export const SCREENSHOT_DIR = join(webDir, 'test-results', 'screenshots');

export const VIEWPORTS = {
  phone: { width: 360, height: 640 },
  desktop: { width: 1280, height: 800 },
};

/**
 * Browser context options per device: the phone is a touch device (no hover, coarse pointer,
 * so no Escape-key hint), the desktop has a mouse and a keyboard.
 */
export const DEVICES = {
  phone: { viewport: VIEWPORTS.phone, hasTouch: true, isMobile: true },
  desktop: { viewport: VIEWPORTS.desktop },
};

/**
 * An init script (page.addInitScript) that records what screen readers would be told: every
 * text added to an existing live region ([aria-live] other than off, role status/log/alert),
 * in order, as {region, text} in window.__announced. A region inserted with its content
 * already in it is not recorded (screen readers do not read it either).
 */
export function recordAnnouncements() {
  window.__announced = [];
  const LIVE = '[aria-live]:not([aria-live="off"]), [role="status"], [role="log"], [role="alert"]';
  const regionOf = (node) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    return el ? el.closest(LIVE) : null;
  };
  new MutationObserver((records) => {
    for (const r of records) {
      const region = regionOf(r.target);
      if (!region) continue;
      let text = '';
      if (r.type === 'characterData') text = r.target.data;
      else for (const n of r.addedNodes) text += ` ${n.textContent}`;
      text = text.trim();
      if (text) window.__announced.push({ region: region.id || region.className || region.tagName, text });
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

/** What recordAnnouncements() collected so far. */
export const announcements = (page) => page.evaluate(() => window.__announced || []);

/** Ends the seeker's chat with "End chat" and its confirmation. */
export async function endSeekerChat(page) {
  await page.locator('#end-chat').click();
  await page.locator('#end-confirm-yes').click();
}

export const EMPTY_STORAGE = { localStorage: 0, sessionStorage: 0, cookie: '', serviceWorkers: 0, indexedDB: 0 };

/** The test supporter's certificate as the relay wrote it (`--dev-peer-credential-dir`). */
export function credentialOf(dir) {
  const credential = decodeCredentialFile(readFileSync(join(dir, 'supporter.credential'), 'utf8'));
  return { ...credential, certificate: decodeSupporterUnverified(credential.supporterCertificate) };
}

/** Records CSP violations and page errors. */
export function watchConsole(page) {
  const problems = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

/**
 * Opens the peer console and signs in with the files in `dir`: `supporter.*` (X25519 only),
 * or with `name` = 'supporter-pq' the supporter whose certificate carries an ML-KEM key.
 */
export async function signInPeer(page, origin, dir, name = 'supporter') {
  await page.goto(origin + '/peer.html');
  await page.locator('#key-file').setInputFiles(join(dir, `${name}.key`));
  await page.locator('#credential-file').setInputFiles(join(dir, `${name}.credential`));
  await page.locator('#revocation-file').setInputFiles(join(dir, 'revocation.list'));
  await page.locator('#connect').click();
  await expect(page.locator('#view-console')).toContainText(/Signed in as .+/);
}

/** Goes available (optionally accepting every offer automatically). */
export async function goAvailable(page, { capacity = 2, autoAccept = false } = {}) {
  await page.locator('#capacity').fill(String(capacity));
  if (autoAccept) await page.locator('#auto-accept').check();
  await page.locator('#apply-availability').click();
  await expect(page.locator('#availability-status')).toContainText(`Now Available: 0 of ${capacity}`);
}

/** Opens the seeker page on its start screen. */
export async function openSeeker(page, origin) {
  await page.goto(origin + '/');
  await expect(page.locator('#view-start form')).toBeVisible();
}

/** Picks the first dev program and asks for a peer. */
export async function askForPeer(page, program = 'resident-peer-support') {
  const radio = page.locator(`#program-${program}`);
  if (await radio.count()) await radio.check();
  await page.getByRole('button', { name: /talk to a peer/i }).click();
}

/**
 * Puts a transparent proxy between the page and the relay with `page.routeWebSocket`.
 * `events` lists, in order, what the page sent ({dir:'out', text|binary}), what it received
 * ({dir:'in', ...}) and closes ({dir, close: true, code}). `rewrite(frame)` may return a
 * replacement for a JSON control frame from the relay before the page sees it. Not for a
 * page that navigates away right after closing (quick exit): the routed socket is torn down
 * with the page and may drop what was still in flight, which a real socket does not.
 */
export async function proxyWebSocket(page, { rewrite } = {}) {
  const events = [];
  const record = (dir, message) =>
    events.push(typeof message === 'string' ? { dir, text: message, frame: parseJson(message) } : { dir, binary: message.length });
  await page.routeWebSocket(
    (url) => url.pathname === '/v1/ws',
    (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        record('out', m);
        server.send(m);
      });
      server.onMessage((m) => {
        let out = m;
        if (typeof m === 'string' && rewrite) {
          const replaced = rewrite(parseJson(m));
          if (replaced) out = JSON.stringify(replaced);
        }
        record('in', out);
        ws.send(out);
      });
      ws.onClose((code, reason) => {
        events.push({ dir: 'out', close: true, code });
        server.close({ code, reason });
      });
      server.onClose((code, reason) => {
        events.push({ dir: 'in', close: true, code });
        ws.close({ code, reason });
      });
    },
  );
  return events;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Runs axe (every rule, WCAG 2.x A/AA and best practice) and fails on any violation, whatever
 * its impact, naming the rule and the elements. (Until the heading levels of resource cards
 * were fixed, `moderate` findings were only annotated; now there are none, so none may come back.)
 */
export async function expectAccessible(page, _testInfo, label) {
  const results = await new AxeBuilder({ page }).analyze();
  const describe = (v) => `${v.id} [${v.impact}] ${v.help}\n    ${v.nodes.map((n) => n.target.join(' ')).join('\n    ')}`;
  expect(results.violations.map(describe), `axe on ${label}`).toEqual([]);
  return results;
}

/**
 * A full-page screenshot into SCREENSHOT_DIR as `<name>-<viewport>.png`. Full page by making
 * the viewport as tall as the page for the capture (Playwright's own `fullPage` re-emulates
 * the screen and loses touch emulation meanwhile, so a phone would show desktop-only bits
 * such as the Escape hint). `fullPage: false` for screens exactly one viewport tall (the
 * seeker's chat, the console with its sticky offer).
 */
export async function screenshot(page, name, viewport, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // Smooth scrolling of the chat log must have settled before the picture is taken.
  const settle = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await settle();
  const size = page.viewportSize();
  const height = fullPage ? await page.evaluate(() => document.documentElement.scrollHeight) : size.height;
  if (height > size.height) {
    await page.setViewportSize({ width: size.width, height });
    await settle();
  }
  try {
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${viewport}.png`), animations: 'disabled' });
  } finally {
    if (height > size.height) await page.setViewportSize(size);
  }
}
