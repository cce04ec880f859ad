// The relay connection: one WebSocket, JSON control frames as text, data frames as binary
// (4-byte big-endian chat number + one Noise message). See proto/spec.md.
import { toBase64, fromBase64 } from '../crypto/bytes.js';
import { earnProof } from './admission.js';

export const PROTOCOL_VERSION = 1;
export const WEBSOCKET_PATH = '/v1/ws';
export const MAX_DATA_FRAME = 16404;

/**
 * GET /v1/programs on the page's own origin, with the program details (feature
 * `program-details`: emergency help, the confidentiality statement, departments, labels).
 * A relay that predates the feature ignores the query and sends the version-1 description.
 */
export async function fetchPrograms() {
  const res = await fetch('/v1/programs?features=program-details', { credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
  if (!res.ok) throw new Error(`programs: HTTP ${res.status}`);
  const list = await res.json();
  if (!Array.isArray(list)) throw new Error('programs: not a list');
  return list;
}

/** The socket's URL: feature `admission` declared, with the proof once there is one. */
export function websocketUrl(proof = null) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = proof ? `?features=admission&proof=${encodeURIComponent(proof)}` : '?features=admission';
  return `${scheme}//${location.host}${WEBSOCKET_PATH}${query}`;
}

/** Codes with which a relay under load asks for a (new) proof of work. */
export const PROOF_CODES = new Set(['proof_required', 'proof_rejected']);
/** Proofs one opening may earn before the refusal goes to the page. */
export const PROOF_TRIES = 2;
/** After this long solving, the page tells the user (onAdmission('checking')). */
export const ADMISSION_NOTICE_MS = 300;

export function encodeDataFrame(chat, noiseMessage) {
  const out = new Uint8Array(4 + noiseMessage.length);
  new DataView(out.buffer).setUint32(0, chat >>> 0);
  out.set(noiseMessage, 4);
  return out;
}

export function decodeDataFrame(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 5 || bytes.length > MAX_DATA_FRAME) return null;
  return { chat: new DataView(bytes.buffer, bytes.byteOffset).getUint32(0), message: bytes.subarray(4) };
}

/**
 * A thin wrapper: onControl(frame), onData({chat, message}), onClose({code, reason}).
 */
export class RelayConnection {
  constructor({ onControl, onData, onClose, onAdmission = () => {} }) {
    this.onControl = onControl;
    this.onData = onData;
    this.onClose = onClose;
    this.onAdmission = onAdmission;
    this.ws = null;
    this.closed = false;
    // Frames sent before the relay's first frame: said again on a socket opened with a proof.
    this.early = [];
    this.proofs = 0;
    this.admitting = false;
  }

  open() {
    return new Promise((resolve, reject) => this.#connect(null, resolve, reject));
  }

  #connect(proof, resolve, reject) {
    const ws = new WebSocket(websocketUrl(proof));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.addEventListener(
      'open',
      () => {
        if (proof) {
          this.admitting = false;
          for (const text of this.early) ws.send(text);
        }
        resolve();
      },
      { once: true },
    );
    ws.addEventListener('error', () => reject(new Error('connection failed')), { once: true });
    ws.addEventListener('message', (ev) => {
      if (ws !== this.ws) return;
      if (typeof ev.data === 'string') {
        let frame;
        try {
          frame = JSON.parse(ev.data);
        } catch {
          this.close(1002);
          return;
        }
        if (!frame || typeof frame.type !== 'string') {
          this.close(1002);
          return;
        }
        if (this.early && frame.type === 'error' && PROOF_CODES.has(frame.code) && this.proofs < PROOF_TRIES) {
          // The relay is under load: pay, then say the same first frames on a new socket.
          this.admitting = true;
          return;
        }
        this.early = null;
        this.onControl(frame);
      } else {
        this.early = null;
        const data = decodeDataFrame(ev.data);
        if (data) this.onData(data);
      }
    });
    ws.addEventListener('close', (ev) => {
      if (ws !== this.ws) return;
      if (this.admitting && !this.closed) {
        this.#admit();
        return;
      }
      this.closed = true;
      this.onClose({ code: ev.code, reason: ev.reason });
    });
  }

  async #admit() {
    this.proofs += 1;
    const notice = setTimeout(() => this.onAdmission('checking'), ADMISSION_NOTICE_MS);
    let proof;
    try {
      proof = await earnProof();
    } catch {
      clearTimeout(notice);
      this.onAdmission('done');
      this.closed = true;
      this.onClose({ code: 4428, reason: '' });
      return;
    }
    clearTimeout(notice);
    this.onAdmission('done');
    if (this.closed) return;
    this.#connect(proof, () => {}, () => {
      this.closed = true;
      this.onClose({ code: 1006, reason: '' });
    });
  }

  /** True only when the frame was handed to an open socket (never a silent drop). */
  get isOpen() {
    return !!this.ws && (this.admitting || this.ws.readyState === WebSocket.OPEN) && !this.closed;
  }

  /** Sends a control frame; returns whether it was handed to an open socket. */
  send(frame) {
    return this.#write(() => JSON.stringify(frame));
  }

  /** Sends a data frame; returns whether it was handed to an open socket. */
  sendData(chat, message) {
    return this.#write(() => encodeDataFrame(chat, message));
  }

  #write(encode) {
    if (!this.isOpen) return false;
    try {
      const message = encode();
      if (this.early && typeof message === 'string') this.early.push(message);
      if (this.admitting) return true;
      this.ws.send(message);
      return true;
    } catch {
      return false;
    }
  }

  close(code = 1000) {
    this.closed = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      try {
        this.ws.close(code);
      } catch {
        this.ws.close();
      }
    }
  }
}

export const b64 = { encode: toBase64, decode: fromBase64 };
