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

/** Opens the peer console and signs in with the files in `dir`. */
export async function signInPeer(page, origin, dir) {
  await page.goto(origin + '/peer.html');
  await page.locator('#key-file').setInputFiles(join(dir, 'supporter.key'));
  await page.locator('#credential-file').setInputFiles(join(dir, 'supporter.credential'));
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

/** A full-page screenshot into SCREENSHOT_DIR as `<name>-<viewport>.png`. */
export async function screenshot(page, name, viewport) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // Smooth scrolling of the chat log must have settled before the picture is taken.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${viewport}.png`), fullPage: true, animations: 'disabled' });
}
