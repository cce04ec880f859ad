// The relay connection: one WebSocket, JSON control frames as text, data frames as binary
// (4-byte big-endian chat number + one Noise message). See proto/spec.md.
import { toBase64, fromBase64 } from '../crypto/bytes.js';

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

export function websocketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${WEBSOCKET_PATH}`;
}

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
  constructor({ onControl, onData, onClose }) {
    this.onControl = onControl;
    this.onData = onData;
    this.onClose = onClose;
    this.ws = null;
    this.closed = false;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(websocketUrl());
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('connection failed')), { once: true });
      ws.addEventListener('message', (ev) => {
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
          this.onControl(frame);
        } else {
          const data = decodeDataFrame(ev.data);
          if (data) this.onData(data);
        }
      });
      ws.addEventListener('close', (ev) => {
        this.closed = true;
        this.onClose({ code: ev.code, reason: ev.reason });
      });
    });
  }

  /** True only when the frame was handed to an open socket (never a silent drop). */
  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && !this.closed;
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
      this.ws.send(encode());
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
