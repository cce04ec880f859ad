// Starting the real relay (`confidant-relay --dev`) on a free loopback port, and the Rust
// `confidant` CLI, for the end-to-end tests.
import { spawn, execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repoRoot, 'target');
export const relayBin = process.env.CONFIDANT_RELAY_BIN || join(targetDir, 'debug', 'confidant-relay');
export const cliBin = process.env.CONFIDANT_CLI_BIN || join(targetDir, 'debug', 'confidant');

let helpText = null;
/** The relay's `--help`, to find out which dev options this build has. */
export function relayHelp() {
  if (helpText === null) {
    try {
      helpText = execFileSync(relayBin, ['--help'], { encoding: 'utf8' });
    } catch (e) {
      helpText = String((e && e.stdout) || '');
    }
  }
  return helpText;
}

export const hasFlag = (flag) => relayHelp().includes(flag);

/**
 * Waits (bounded) until `path` exists: the relay writes its `--dev-peer-credential-dir`
 * files just after it starts answering, so a test reading them at once can be early.
 */
export async function waitForFile(path, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} was never written`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `confidant-relay --dev --listen 127.0.0.1:<free port> ...extra`; resolves when
 * /v1/programs answers (and, when `waitForDemo`, when the demo peer is online).
 */
export async function startRelay(extra = []) {
  // freePort() closes its probe before the relay binds, so another process (or the next
  // relay's probe) can take the port in between: try again on "Address already in use".
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRelayOnce(extra);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(String(e && e.message))) throw e;
    }
  }
}

async function startRelayOnce(extra) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  let current = await launch(port, extra);
  const handle = {
    port,
    origin,
    ws: `ws://127.0.0.1:${port}/v1/ws`,
    output: () => current.output(),
    /** Stops the relay: SIGINT (graceful: `shutdown`, then close 1001), or SIGKILL with `kill`. */
    async stop({ kill = false } = {}) {
      const { proc } = current;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(kill ? 'SIGKILL' : 'SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(timer);
    },
    /**
     * Stops this relay (if it still runs) and starts a new one on the same port: a relay
     * restart as clients see it. Pass `--dev-seed` in `args` both times, so the programs keep
     * their keys and a credential from before still verifies. The handle then controls the
     * new process.
     */
    async restart({ kill = false, args = extra, downMs = 0 } = {}) {
      await handle.stop({ kill });
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      for (let attempt = 1; ; attempt++) {
        try {
          current = await launch(port, args);
          return handle;
        } catch (e) {
          // The port may take a moment to be free again.
          if (attempt >= 20 || !/Address already in use/.test(String(e && e.message))) throw e;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
  return handle;
}

/** Spawns `confidant-relay --dev` on `port`; resolves when /v1/programs answers. */
async function launch(port, extra) {
  const origin = `http://127.0.0.1:${port}`;
  // The admin listener (metrics) gets its own free port too, so relays can run side by side.
  const admin = hasFlag('--admin-listen') ? ['--admin-listen', `127.0.0.1:${await freePort()}`] : [];
  const proc = spawn(relayBin, ['--dev', '--listen', `127.0.0.1:${port}`, ...admin, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`relay exited (${proc.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${origin}/v1/programs`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`relay did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, output: () => output };
}

/** Runs the Rust CLI with piped stdin; `waitFor(text)` resolves when stdout shows it. */
export function startCli(args) {
  const proc = spawn(cliBin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (out.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout.on('data', (d) => {
    out += d;
    check();
  });
  proc.stderr.on('data', (d) => {
    out += d;
    check();
  });
  return {
    proc,
    output: () => out,
    send: (line) => proc.stdin.write(`${line}\n`),
    waitFor(text, ms = 15_000) {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { text, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`CLI never printed ${JSON.stringify(text)}; output:\n${out}`)), ms);
      });
    },
    stop() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/**
 * Records every request the page makes and fails the test if any leaves 127.0.0.1.
 */
export function watchRequests(page, origin) {
  const foreign = [];
  const all = [];
  page.on('request', (req) => {
    const url = req.url();
    all.push(url);
    if (!(url.startsWith(origin + '/') || url === origin || url.startsWith('about:') || url.startsWith('data:'))) {
      foreign.push(url);
    }
  });
  page.on('websocket', (ws) => {
    const url = ws.url();
    all.push(url);
    if (!url.startsWith(`ws://127.0.0.1:${new URL(origin).port}/`)) foreign.push(url);
  });
  return { foreign, all };
}

/** Asserts nothing was stored by the page: cookies, Web Storage, IndexedDB, service workers. */
export async function storageSnapshot(page) {
  return page.evaluate(async () => ({
    localStorage: localStorage.length,
    sessionStorage: sessionStorage.length,
    cookie: document.cookie,
    serviceWorkers: navigator.serviceWorker ? (await navigator.serviceWorker.getRegistrations()).length : 0,
    indexedDB: indexedDB.databases ? (await indexedDB.databases()).length : 0,
  }));
}

/**
 * A loopback TCP proxy in front of the relay, for one browser context: the page loads and
 * connects through it (`origin`), so the test can do to its connections what a lost
 * network does. `cut()` destroys every connection at once — no WebSocket close frame, so the
 * relay sees a lost socket, not a goodbye — and `down()` / `up()` refuse or accept new
 * ones. (Chromium's `context.setOffline(true)` alone keeps an open WebSocket alive, sending
 * and holding what arrives, crbug.com/423246: the relay would never see the page go.)
 */
export async function tcpProxy(targetPort) {
  const pairs = new Set();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    /** How many connections run through the proxy now. */
    open: () => pairs.size,
    cut() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    down() {
      refusing = true;
    },
    up() {
      refusing = false;
    },
    close() {
      this.cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
