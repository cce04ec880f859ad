// A relay connection that survives the loss of its socket (feature `resume`, proto/spec.md
// "Resume"). Both directions are numbered streams: the page counts what it sends after
// `hello` and what it receives after `welcome` (never `ack`, `resume`, `resumed`), keeps
// what it sent until the relay's `ack` covers it, and acknowledges what it received. When
// the socket dies (closed without an `error` frame, the browser's `offline` event, or no
// `ack` for what was sent within ACK_DEADLINE_MS) it opens a new socket to the same URL,
// presents the one-time secret with `resume`, and on `resumed` sends again, byte for byte
// and in order, what the relay did not get. Noise sessions are untouched: nothing is sealed
// twice.
//
// The secret lives in this object only: never in localStorage, sessionStorage, IndexedDB,
// a cookie or a log. A reload loses it, and with it the chat (docs/resume.md, "Reloads in
// the web client").
//
// The old socket is never closed by the page before the relay has taken the connection
// over: a WebSocket close is a goodbye, and the relay ends a connection at once on it.
//
// A relay that did not agree on `resume` gets exactly the version-1 behaviour: a frame
// counts as sent only when handed to an open socket, and a lost socket ends everything.
import { websocketUrl, encodeDataFrame, decodeDataFrame, PROOF_CODES, PROOF_TRIES, ADMISSION_NOTICE_MS } from './relay.js';
import { earnProof } from './admission.js';

/** `url` with a solved admission proof (feature `admission`, proto/spec.md "Admission"). */
const withProof = (url, proof) => `${url}${url.includes('?') ? '&' : '?'}proof=${encodeURIComponent(proof)}`;

export const RESUME_FEATURE = 'resume';
/** proto/spec.md, "Limits": an `ack` after this many counted messages… */
export const ACK_EVERY_MESSAGES = 16;
/** …or this long after the first one not yet acknowledged. */
export const ACK_DELAY_MS = 250;
/**
 * Counted messages sent and nothing at all heard back for this long: the socket is taken
 * for dead (the relay acknowledges within ACK_DELAY_MS; KEEPALIVE_DEADLINE is 10 s). The
 * page sends nothing extra to find out: browsers hide WebSocket pings.
 */
export const ACK_DEADLINE_MS = 10_000;
/** Delays before resume attempts (ms), the last one repeated; each with ±25 % jitter. */
export const RESUME_BACKOFF_MS = [300, 1000, 2000, 4000, 5000];
/** After the grace window (counted from when the page noticed the loss), give up. */
export const GIVE_UP_MARGIN_MS = 2000;

const jitter = (ms) => Math.round(ms * (0.75 + Math.random() * 0.5));

/**
 * Callbacks: onControl(frame), onData({chat, message}) — counted messages, in order, once;
 * onClose({code, reason, resumeFailed}) — the connection is over (not called after the
 * page's own close()); onState({state, graceMs, since}) — 'reconnecting' or 'live';
 * onAcked(received) — the relay acknowledged counted messages up to `received`.
 */
export class ResumableConnection {
  constructor({ onControl, onData, onClose, onState = () => {}, onAcked = () => {}, onAdmission = () => {}, url = null }) {
    // Feature `admission`: a relay under load refuses a socket with proof_required before
    // `welcome`; the page then pays a proof of work and says the same first frames again on
    // a new socket. onAdmission('checking') after ADMISSION_NOTICE_MS, ('done') at the end.
    this.onAdmission = onAdmission;
    this.early = []; // frames written before `welcome` (the hello)
    this.proofs = 0;
    this.admitting = false;
    this.nextProof = null; // a proof for the next resume attempt
    this.onControl = onControl;
    this.onData = onData;
    this.onClose = onClose;
    this.onState = onState;
    this.onAcked = onAcked;
    this.url = url || websocketUrl();
    this.ws = null; // the socket the connection runs on
    this.pending = null; // a socket presenting `resume`, not yet answered
    this.state = 'new'; // new | live | reconnecting | closed
    this.secret = null; // base64, from welcome.resume or the last resumed
    this.graceMs = 0;
    this.welcomed = false;
    this.sent = 0; // counted messages sent (or queued) after hello
    this.relayAcked = 0; // the relay's latest ack
    this.unacked = []; // [{seq, payload}] kept until the relay acknowledges them
    this.received = 0; // counted messages received after welcome
    this.ackedIn = 0; // the `received` of our latest ack
    this.lastError = false; // the latest message was an `error` frame: a close after it is the end
    this.timers = { ack: null, deadline: null, attempt: null };
    this.lostAt = 0;
    this.attempt = 0;
    this.onOffline = () => this.#lost('offline');
    this.onOnline = () => {
      if (this.state === 'reconnecting' && !this.pending) {
        this.attempt = 0;
        this.#schedule(0);
      }
    };
  }

  /** Whether the relay agreed on `resume` and gave a secret. */
  get resumable() {
    return !!this.secret && this.graceMs > 0;
  }

  /** A socket is open and the connection runs on it. */
  get isOpen() {
    return this.state === 'live' && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** A frame handed over now will reach the relay: at once, or after the resume. */
  get canSend() {
    return this.isOpen || (this.state === 'reconnecting' && this.resumable);
  }

  get reconnecting() {
    return this.state === 'reconnecting';
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = this.#socket();
      this.ws = ws;
      ws.addEventListener(
        'open',
        () => {
          this.state = 'live';
          window.addEventListener('offline', this.onOffline);
          window.addEventListener('online', this.onOnline);
          resolve();
        },
        { once: true },
      );
      ws.addEventListener('error', () => reject(new Error('connection failed')), { once: true });
    });
  }

  /**
   * Sends a control frame. Returns the message's number when the frame will reach the relay
   * (it is kept for a resume), true for a frame that is not counted or a connection without
   * `resume` that wrote it, false when it cannot go.
   */
  send(frame) {
    return this.#send(JSON.stringify(frame), frame.type !== 'hello');
  }

  /** Sends a data frame: as send(). */
  sendData(chat, message) {
    return this.#send(encodeDataFrame(chat, message), true);
  }

  /** The page's goodbye: a WebSocket close, after which the relay keeps nothing. */
  close(code = 1000) {
    const was = this.state;
    this.state = 'closed';
    this.#stop();
    for (const ws of [this.ws, this.pending]) {
      if (!ws || ws.readyState > WebSocket.OPEN) continue;
      // A socket found dead is dropped, not closed: there is no goodbye to say on it, and
      // while it still looks alive a close would only race the resume.
      if (ws === this.ws && was === 'reconnecting') continue;
      try {
        ws.close(code);
      } catch {
        ws.close();
      }
    }
    this.pending = null;
    this.secret = null;
    this.unacked = [];
  }

  // ---------------------------------------------------------------- sending

  #send(payload, counted) {
    if (this.state === 'closed' || this.state === 'new') return false;
    if (!counted) {
      if (!this.welcomed) this.early.push(payload);
      return this.#write(this.ws, payload);
    }
    if (this.resumable) {
      this.sent += 1;
      const seq = this.sent;
      this.unacked.push({ seq, payload });
      if (this.isOpen && this.#write(this.ws, payload)) this.#armDeadline();
      return seq;
    }
    if (!this.isOpen || !this.#write(this.ws, payload)) return false;
    this.sent += 1;
    return true;
  }

  #write(ws, payload) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(payload);
      return true;
    } catch {
      return false;
    }
  }

  #sendAck() {
    clearTimeout(this.timers.ack);
    this.timers.ack = null;
    if (this.received === this.ackedIn || !this.isOpen) return;
    if (this.#write(this.ws, JSON.stringify({ type: 'ack', received: this.received }))) this.ackedIn = this.received;
  }

  /** Something sent and not acknowledged: the relay must answer within ACK_DEADLINE_MS. */
  #armDeadline() {
    if (this.timers.deadline || !this.unacked.length) return;
    this.timers.deadline = setTimeout(() => {
      this.timers.deadline = null;
      if (this.unacked.length) this.#lost('silent');
    }, ACK_DEADLINE_MS);
  }

  /** Heard from the relay: the deadline starts again (if anything is still unacknowledged). */
  #heard() {
    clearTimeout(this.timers.deadline);
    this.timers.deadline = null;
    this.#armDeadline();
  }

  #onRelayAck(received) {
    if (!Number.isSafeInteger(received) || received < this.relayAcked || received > this.sent) return;
    this.relayAcked = received;
    while (this.unacked.length && this.unacked[0].seq <= received) this.unacked.shift();
    this.onAcked(received);
  }

  // ---------------------------------------------------------------- receiving

  #socket(url = this.url) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => this.#message(ws, ev));
    ws.addEventListener('close', (ev) => this.#closed(ws, ev));
    return ws;
  }

  #message(ws, ev) {
    if (ws === this.pending) return this.#resumeAnswer(ws, ev);
    if (ws !== this.ws || this.state !== 'live') return; // a socket given up on says nothing more
    this.#heard();
    if (typeof ev.data !== 'string') {
      const data = decodeDataFrame(ev.data);
      this.#counted();
      this.lastError = false;
      if (data) this.onData(data);
      return;
    }
    const frame = parse(ev.data);
    if (!frame) {
      this.#end({ code: 1002, reason: 'malformed' }, 1002);
      return;
    }
    if (frame.type === 'ack' && this.resumable) {
      this.#onRelayAck(frame.received);
      return;
    }
    if (!this.welcomed && frame.type === 'error' && PROOF_CODES.has(frame.code) && this.proofs < PROOF_TRIES) {
      this.admitting = true; // the close follows: pay, then open again (#admit)
      return;
    }
    if (frame.type === 'welcome' && !this.welcomed) {
      this.welcomed = true;
      this.early = [];
      const r = frame.resume;
      const agreed = Array.isArray(frame.features) && frame.features.includes(RESUME_FEATURE);
      if (agreed && r && typeof r.secret === 'string' && Number.isSafeInteger(r.grace_ms) && r.grace_ms > 0) {
        this.secret = r.secret;
        this.graceMs = r.grace_ms;
      }
      // Never shown to the page: the secret stays in this object.
      const { resume: _secret, ...rest } = frame;
      this.onControl(this.resumable ? { ...rest, resume: { grace_ms: this.graceMs } } : rest);
      return;
    }
    this.#counted();
    this.lastError = frame.type === 'error';
    this.onControl(frame);
  }

  #counted() {
    if (!this.welcomed || !this.resumable) return;
    this.received += 1;
    if (this.received - this.ackedIn >= ACK_EVERY_MESSAGES) this.#sendAck();
    else if (!this.timers.ack) this.timers.ack = setTimeout(() => this.#sendAck(), ACK_DELAY_MS);
  }

  #closed(ws, ev) {
    if (ws === this.pending) {
      // An attempt that failed (no network yet, relay not listening): try again.
      this.pending = null;
      if (this.state === 'reconnecting') this.#schedule();
      return;
    }
    if (ws !== this.ws || this.state !== 'live') return;
    if (this.admitting) {
      this.admitting = false;
      this.#admit();
      return;
    }
    // Closed after an `error` frame: the relay said why; there is nothing to resume.
    if (this.lastError || !this.resumable) {
      this.#end({ code: ev.code, reason: ev.reason });
      return;
    }
    this.#lost('closed');
  }

  // ---------------------------------------------------------------- admission

  async #admit() {
    this.proofs += 1;
    const notice = setTimeout(() => this.onAdmission('checking'), ADMISSION_NOTICE_MS);
    let proof = null;
    try {
      proof = await earnProof();
    } catch {
      // No challenge, or one the page refuses to pay (too hard): the relay stays closed.
    }
    clearTimeout(notice);
    this.onAdmission('done');
    if (this.state !== 'live') return; // the page closed meanwhile
    if (!proof) {
      this.#end({ code: 4428, reason: 'proof_required' });
      return;
    }
    const ws = this.#socket(withProof(this.url, proof));
    this.ws = ws;
    ws.addEventListener(
      'open',
      () => {
        if (ws === this.ws) for (const payload of this.early) this.#write(ws, payload);
      },
      { once: true },
    );
  }

  /** A resume attempt refused for want of a proof: pay, then try again with it. */
  #admitResume() {
    earnProof().then(
      (proof) => {
        this.nextProof = proof;
        if (this.state === 'reconnecting' && !this.pending) this.#schedule(0);
      },
      () => {
        if (this.state === 'reconnecting' && !this.pending) this.#schedule();
      },
    );
  }

  // ---------------------------------------------------------------- resuming

  /** The socket is taken for dead: keep everything, tell the page, and try a new one. */
  #lost(why) {
    if (this.state !== 'live' || !this.resumable) return;
    this.state = 'reconnecting';
    this.lostAt = Date.now();
    this.attempt = 0;
    clearTimeout(this.timers.ack);
    clearTimeout(this.timers.deadline);
    this.timers.ack = this.timers.deadline = null;
    this.onState({ state: 'reconnecting', why, graceMs: this.graceMs, since: this.lostAt });
    // Offline, an attempt would fail at once: wait for `online` (and try now and then).
    this.#schedule(navigator.onLine === false ? RESUME_BACKOFF_MS.at(-1) : 0);
  }

  #schedule(delay = null) {
    clearTimeout(this.timers.attempt);
    if (this.state !== 'reconnecting') return;
    if (Date.now() > this.lostAt + this.graceMs + GIVE_UP_MARGIN_MS) {
      this.#end({ code: 0, reason: 'window closed', resumeFailed: true });
      return;
    }
    const ms = delay ?? jitter(RESUME_BACKOFF_MS[Math.min(this.attempt, RESUME_BACKOFF_MS.length - 1)]);
    this.attempt += 1;
    // Never past the window: one last attempt as it closes, then give up.
    const left = this.lostAt + this.graceMs + GIVE_UP_MARGIN_MS - Date.now();
    this.timers.attempt = setTimeout(() => this.#try(), Math.max(0, Math.min(ms, left)));
  }

  #try() {
    if (this.state !== 'reconnecting' || this.pending) return;
    if (Date.now() > this.lostAt + this.graceMs + GIVE_UP_MARGIN_MS) {
      this.#schedule();
      return;
    }
    let ws;
    try {
      ws = this.#socket(this.nextProof ? withProof(this.url, this.nextProof) : this.url);
      this.nextProof = null;
    } catch {
      this.#schedule();
      return;
    }
    this.pending = ws;
    ws.addEventListener(
      'open',
      () => {
        if (ws !== this.pending) return;
        // The secret is spent by presenting it, whatever the answer.
        this.#write(ws, JSON.stringify({ type: 'resume', secret: this.secret, received: this.received }));
      },
      { once: true },
    );
  }

  #resumeAnswer(ws, ev) {
    const frame = typeof ev.data === 'string' ? parse(ev.data) : null;
    if (frame && frame.type === 'ack') return; // not counted; the resumed answer follows
    if (frame && frame.type === 'error' && PROOF_CODES.has(frame.code)) {
      // Refused before the relay read `resume`: the secret is not spent. Pay and try again.
      this.pending = null;
      this.#admitResume();
      return;
    }
    if (!frame || frame.type !== 'resumed' || typeof frame.secret !== 'string' || !Number.isSafeInteger(frame.received) || frame.received > this.sent) {
      // resume_failed (4412) or anything else: this connection is gone on the relay.
      this.pending = null;
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
      this.#end({ code: 4412, reason: frame && frame.code ? String(frame.code) : 'resume refused', resumeFailed: true });
      return;
    }
    // The connection now runs on this socket. The relay dropped the old one.
    const old = this.ws;
    this.ws = ws;
    this.pending = null;
    this.secret = frame.secret;
    this.state = 'live';
    this.ackedIn = this.received;
    this.lastError = false;
    if (old && old !== ws && old.readyState <= WebSocket.OPEN) {
      // Already dropped by the relay's takeover; closing our end only frees it.
      try {
        old.close(1000);
      } catch {
        // nothing to free
      }
    }
    if (frame.received > this.relayAcked) this.#onRelayAck(frame.received);
    // What the relay did not get, again, in order, with the same bytes.
    for (const m of this.unacked) if (!this.#write(ws, m.payload)) break;
    this.#armDeadline();
    this.onState({ state: 'live', graceMs: this.graceMs });
  }

  #end(info, closeCode = null) {
    const wasLive = this.state === 'live';
    this.state = 'closed';
    this.#stop();
    if (closeCode && wasLive && this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(closeCode);
    if (this.pending && this.pending.readyState <= WebSocket.OPEN) this.pending.close(1000);
    this.pending = null;
    this.secret = null;
    this.onClose({ code: info.code, reason: info.reason || '', resumeFailed: !!info.resumeFailed, unsent: this.unacked.length });
    this.unacked = [];
  }

  #stop() {
    for (const k of Object.keys(this.timers)) {
      clearTimeout(this.timers[k]);
      this.timers[k] = null;
    }
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
  }
}

function parse(text) {
  try {
    const frame = JSON.parse(text);
    return frame && typeof frame.type === 'string' ? frame : null;
  } catch {
    return null;
  }
}
