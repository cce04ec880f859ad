// The peer console: load key, credential and revocation list from files the supporter
// picks (kept in this tab's memory for its life, never stored), prove possession, set
// availability, take offers, run several chats in tabs, share the program's resource cards,
// end or block. When the relay goes away (a restart: close 1001/1006/1012…), the console
// reconnects by itself with the files it holds, signs in again and restores availability.
// A lost socket (network change, `offline`) is resumed first (feature `resume`,
// net/resume.js): chats and availability survive it, open offers lapse.

import { h, $, clear, showOnly } from '../ui/dom.js';
import { t, translateStatic, mountLanguageSwitch, onLanguageChange, tagLabel, clockTime } from '../ui/i18n.js';
import { resourceCard } from '../ui/resources.js';
import { b64, PROTOCOL_VERSION } from '../net/relay.js';
import { ResumableConnection, RESUME_FEATURE } from '../net/resume.js';
import {
  decodeSupporterKeys,
  MlKemSecret,
  decodeCredentialFile,
  decodeRevocationListFile,
  decodeSupporterUnverified,
  answerPossessionChallenge,
  peerRespond,
  publicKeyOf,
  equalBytes,
  wipe,
} from '../crypto/index.js';

const MAX_CAPACITY = 16;
/** Close codes after which the console reconnects by itself: the relay went away or restarts. */
const RECONNECT_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);
/** Seconds before each reconnect attempt; bounded: after the last one the peer is asked. */
const RECONNECT_DELAYS = [1, 2, 4, 8, 15, 30, 30, 30];
/** A log scrolled to within this many pixels of its end counts as "at the newest message". */
const STICK_PX = 24;

const state = {
  files: { key: null, credential: null, revocation: null }, // decoded, in memory only
  certificate: null,
  conn: null,
  phase: 'login', // login | connecting | verified
  program: null,
  availability: { status: 'available', capacity: 2, topics: [], languages: [], auto_accept: false },
  availabilitySet: null,
  availabilityFrame: null, // the last set_availability sent: restored after a reconnect
  offers: new Map(), // offer number -> {offer, topic, language, expiresAt, arrivedAt}
  chats: new Map(), // chat number -> {number, session, messages, ended, sentTexts, receivedTexts, unread}
  activeChat: null,
  displayName: null,
  loginError: null,
  reconnect: { attempt: 0, timer: null, gaveUp: false, restored: false },
  // Feature resume: the socket was lost and the connection is being resumed (chats kept).
  resume: { active: false, graceMs: 0, back: false, timer: null, lapsed: false },
  relayAcked: 0, // counted messages the relay acknowledged on this connection
  alerts: { sound: false, notify: false, audio: null },
};

const views = {};

/**
 * Tells screen readers `text` through the polite #status region: each announcement is a new
 * node (two in quick succession are both read, neither cuts the other off), removed later.
 */
function announce(text) {
  const s = $('#status');
  if (!s) return;
  const line = h('p', {}, text);
  s.append(line);
  setTimeout(() => line.remove(), 10_000);
}

// ------------------------------------------------------------------ login

function renderLogin() {
  const v = views.login;
  clear(v);
  const fileField = (id, label, hint) =>
    h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { type: 'file', id, 'aria-describedby': `${id}-hint` }), h('p', { class: 'hint', id: `${id}-hint` }, hint));
  const form = h(
    'form',
    { class: 'card stack', id: 'login' },
    h('h1', {}, t('peer.login.title')),
    h('p', { class: 'lead' }, t('peer.login.lead')),
    fileField('key-file', t('peer.login.key'), t('peer.login.keyHint')),
    fileField('credential-file', t('peer.login.credential'), t('peer.login.credentialHint')),
    fileField('revocation-file', t('peer.login.revocation'), t('peer.login.revocationHint')),
    state.loginError ? h('p', { class: 'callout', role: 'alert', id: 'login-error' }, state.loginError) : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'connect' }, t('peer.login.connect'))),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    connect().catch((e) => loginFailed(e && e.message ? e.message : String(e)));
  });
  v.append(form);
  showOnly([views.login, views.console], views.login);
}

async function readFile(id) {
  const input = document.getElementById(id);
  const file = input && input.files && input.files[0];
  if (!file) throw new Error(t('peer.error.missingFile'));
  if (file.size > 64 * 1024) throw new Error(t('peer.error.fileTooLarge'));
  return file.text();
}

function loginFailed(message) {
  forgetFiles();
  if (state.conn) state.conn.close(1000);
  state.conn = null;
  state.phase = 'login';
  state.loginError = message;
  renderLogin();
  announce(message);
}

function forgetFiles() {
  if (state.files.key) wipe(state.files.key);
  if (state.files.mlkem) state.files.mlkem.destroy();
  state.files = { key: null, mlkem: null, credential: null, revocation: null };
  state.certificate = null;
}

async function connect() {
  state.loginError = null;
  let key;
  let mlkemSeed;
  let credential;
  let revocation;
  try {
    ({ x25519: key, mlkemSeed } = decodeSupporterKeys(await readFile('key-file')));
    credential = decodeCredentialFile(await readFile('credential-file'));
    revocation = decodeRevocationListFile(await readFile('revocation-file'));
  } catch (e) {
    throw new Error(e && e.code ? t('peer.error.file', { code: e.code }) : e.message);
  }
  let cert;
  try {
    cert = decodeSupporterUnverified(credential.supporterCertificate);
  } catch (e) {
    throw new Error(t('peer.error.file', { code: e.code || 'malformed' }));
  }
  if (!equalBytes(publicKeyOf(key), cert.x25519Public)) throw new Error(t('peer.error.keyMismatch'));
  // A certificate with an ML-KEM key needs the key file that holds its secret half, and
  // then every chat is hybrid (crypto.md §2.1); a version-1 certificate needs none.
  const mlkem = mlkemSeed ? new MlKemSecret(mlkemSeed) : null;
  if (mlkemSeed) wipe(mlkemSeed);
  if (!!mlkem !== !!cert.mlkem768Public || (mlkem && !equalBytes(mlkem.publicKey, cert.mlkem768Public))) {
    if (mlkem) mlkem.destroy();
    throw new Error(t('peer.error.keyMismatch'));
  }
  state.files = { key, mlkem, credential, revocation };
  state.certificate = cert;
  state.phase = 'connecting';
  await connectRelay();
  announce(t('peer.connecting'));
}

/** Opens a connection and says hello; the frames that follow sign in (see onControl). */
async function connectRelay() {
  const conn = new ResumableConnection({
    onControl: (frame) => conn === state.conn && onControl(frame),
    onData: (data) => conn === state.conn && onData(data),
    onClose: (ev) => conn === state.conn && onClose(ev),
    onState: (info) => conn === state.conn && onConnectionState(info),
    onAcked: (received) => conn === state.conn && onAcked(received),
  });
  state.conn = conn;
  state.relayAcked = 0;
  clearTimeout(state.resume.timer);
  state.resume = { active: false, graceMs: 0, back: false, timer: null, lapsed: false };
  await conn.open();
  // `features` also means this console reads relay frames by the growth rules.
  conn.send({ type: 'hello', v: PROTOCOL_VERSION, role: 'peer', program: state.certificate.program, features: [RESUME_FEATURE] });
}

// ------------------------------------------------------------------ resume (a lost socket)

/** "up to a minute", "up to 30 seconds": the relay's grace window, in words. */
function windowText(ms) {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s === 60) return t('resume.window.minute');
  if (s % 60 === 0) return t('resume.window.minutes', { m: s / 60 });
  return t('resume.window.seconds', { s });
}

/**
 * The socket was lost (reconnecting: chats and availability are kept by the relay for its
 * window; open offers lapse at once, so they are shown as gone) or the connection runs again.
 */
function onConnectionState({ state: now }) {
  const r = state.resume;
  clearTimeout(r.timer);
  if (now === 'reconnecting') {
    r.active = true;
    r.back = false;
    r.lapsed = state.offers.size > 0;
    state.offers.clear();
    renderOffers();
    renderReconnectNote();
    announce(t('peer.resume.reconnecting', { window: windowText(r.graceMs) }));
  } else {
    r.active = false;
    r.back = true;
    renderReconnectNote();
    announce(t('peer.resume.back'));
    r.timer = setTimeout(() => {
      r.back = false;
      renderReconnectNote();
    }, 15_000);
  }
  renderTabs();
}

/** The relay acknowledged counted messages up to `received`: those are "Sent". */
function onAcked(received) {
  state.relayAcked = received;
  let changed = false;
  for (const c of state.chats.values()) {
    for (const m of c.messages) {
      if (m.mine && !m.acked && m.seq && m.seq <= received) {
        m.acked = true;
        changed = true;
      }
    }
  }
  if (changed) renderTabs();
}

// ------------------------------------------------------------------ reconnecting

function reconnecting() {
  return state.phase === 'reconnecting';
}

/** The relay went away: chats and offers are gone with it; the files stay; try again soon. */
function lostRelay() {
  state.conn = null;
  for (const c of state.chats.values()) {
    if (c.session) c.session.destroy();
    c.session = null;
    c.seekerTyping = false;
    if (c.ended === null) {
      c.ended = 'connection_lost';
      c.messages.push({ kind: 'system', text: t('peer.reason.connection_lost'), at: Date.now() });
    }
  }
  state.offers.clear();
  state.availabilitySet = null;
  state.phase = 'reconnecting';
  state.reconnect.attempt = 0;
  state.reconnect.gaveUp = false;
  state.reconnect.restored = false;
  renderConsole();
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(state.reconnect.timer);
  const r = state.reconnect;
  if (r.attempt >= RECONNECT_DELAYS.length) {
    r.gaveUp = true;
    renderReconnectNote();
    announce(t('peer.conn.gaveUp'));
    return;
  }
  const delay = RECONNECT_DELAYS[r.attempt] * 1000;
  r.attempt += 1;
  renderReconnectNote();
  if (r.attempt === 1) announce(t('peer.conn.reconnecting', { n: r.attempt, max: RECONNECT_DELAYS.length }));
  r.timer = setTimeout(async () => {
    if (!reconnecting()) return;
    try {
      await connectRelay();
    } catch {
      // A failed socket also fires `close`: whichever of the two comes first schedules the
      // next attempt (and clears state.conn, so the other does not count it twice).
      if (reconnecting() && state.conn !== null) {
        state.conn = null;
        scheduleReconnect();
      }
    }
  }, delay);
}

function retryNow() {
  state.reconnect.attempt = 0;
  state.reconnect.gaveUp = false;
  scheduleReconnect();
}

/** Signed in again after a reconnect: put back the availability the peer had set. */
function reconnected() {
  clearTimeout(state.reconnect.timer);
  state.reconnect = { attempt: 0, timer: null, gaveUp: false, restored: !!state.availabilityFrame, back: true };
  if (state.availabilityFrame) state.conn.send(state.availabilityFrame);
  const text = state.reconnect.restored ? t('peer.conn.backAvailable') : t('peer.conn.back');
  renderReconnectNote();
  announce(text);
  // "Back" is news for a while, not forever.
  state.reconnect.timer = setTimeout(() => {
    state.reconnect.back = false;
    renderReconnectNote();
  }, 15_000);
}

function renderReconnectNote() {
  const el = $('#reconnect-note');
  if (!el) return;
  clear(el);
  const r = state.reconnect;
  el.classList.remove('ok');
  if (state.resume.active) {
    el.append(t('peer.resume.reconnecting', { window: windowText(state.resume.graceMs) }));
  } else if (state.resume.back && !reconnecting()) {
    el.classList.add('ok');
    el.append(t('peer.resume.back'));
  } else if (reconnecting() && r.gaveUp) {
    el.append(t('peer.conn.gaveUp'), ' ', h('button', { type: 'button', id: 'reconnect-now', onclick: retryNow }, t('peer.conn.retry')));
  } else if (reconnecting()) {
    el.append(t('peer.conn.reconnecting', { n: r.attempt, max: RECONNECT_DELAYS.length }));
  } else if (r.back) {
    el.classList.add('ok');
    el.append(r.restored ? t('peer.conn.backAvailable') : t('peer.conn.back'));
  }
}

function signOut() {
  clearTimeout(state.reconnect.timer);
  const conn = state.conn;
  state.conn = null;
  if (conn) conn.close(1000);
  for (const c of state.chats.values()) if (c.session) c.session.destroy();
  state.chats.clear();
  state.offers.clear();
  state.activeChat = null;
  state.availabilitySet = null;
  state.availabilityFrame = null;
  state.reconnect = { attempt: 0, timer: null, gaveUp: false, restored: false };
  forgetFiles();
  state.phase = 'login';
  state.loginError = null;
  updateTitle();
  renderLogin();
}

// ------------------------------------------------------------------ relay frames

function onControl(frame) {
  switch (frame.type) {
    case 'welcome':
      state.resume.graceMs = frame.resume && Number.isSafeInteger(frame.resume.grace_ms) ? frame.resume.grace_ms : 0;
      state.program = frame.program;
      $('#program-name').textContent = frame.program.name;
      state.conn.send({
        type: 'present',
        issuer_certificate: b64.encode(state.files.credential.issuerCertificate),
        supporter_certificate: b64.encode(state.files.credential.supporterCertificate),
        revocation_list: b64.encode(state.files.revocation),
      });
      break;
    case 'challenge': {
      const challenge = b64.decode(frame.challenge);
      let answer;
      try {
        answer = answerPossessionChallenge(state.files.key, state.files.credential.supporterCertificate, challenge);
      } catch (e) {
        loginFailed(t('peer.error.challenge', { code: e.code || 'error' }));
        return;
      }
      state.conn.send({ type: 'prove', answer: b64.encode(answer) });
      break;
    }
    case 'verified': {
      const again = reconnecting();
      state.phase = 'verified';
      state.displayName = frame.display_name;
      renderConsole();
      if (again) {
        reconnected();
        break;
      }
      if (frame.display_name !== state.certificate.displayName) announce(t('peer.nameMismatch'));
      announce(t('peer.verified', { name: frame.display_name }));
      break;
    }
    case 'availability_set':
      state.availabilitySet = frame;
      renderAvailabilityStatus();
      break;
    case 'offer':
      state.offers.set(frame.offer, { ...frame, arrivedAt: Date.now(), expiresAt: Date.now() + frame.expires_in_ms });
      renderOffers();
      alertOffer(frame.offer);
      break;
    case 'offer_withdrawn':
      state.offers.delete(frame.offer);
      renderOffers();
      break;
    case 'partner_away':
    case 'partner_back': {
      const c = state.chats.get(frame.chat);
      if (!c || c.ended) break;
      const away = frame.type === 'partner_away';
      if (c.away === away) break;
      c.away = away;
      if (away) c.seekerTyping = false;
      const text = t(away ? 'peer.chat.seekerAway' : 'peer.chat.seekerBack');
      c.messages.push({ kind: 'system', text, at: Date.now() });
      renderTabs();
      announce(`${t('peer.chat.tab', { n: frame.chat })}: ${text}`);
      break;
    }
    case 'chat_started':
      state.offers.delete(frame.offer);
      state.chats.set(frame.chat, {
        number: frame.chat,
        session: null,
        messages: [],
        ended: null,
        sentTexts: 0,
        receivedTexts: 0,
        unread: 0,
        seekerTyping: false,
        seekerEnded: false, // the seeker's sealed end record arrived
        atBottom: true, // the log follows the newest message until the peer scrolls up
        scrollTop: 0,
        newBelow: false,
      });
      if (state.activeChat === null) state.activeChat = frame.chat;
      renderOffers();
      renderTabs();
      renderAvailabilityStatus();
      announce(t('peer.chat.started', { n: frame.chat }));
      break;
    case 'chat_ended': {
      const c = state.chats.get(frame.chat);
      if (c) {
        c.ended = frame.reason;
        if (c.session) c.session.destroy();
        c.session = null;
        c.seekerTyping = false;
        // Said from the peer's side; once, even when the seeker's end record said it first.
        const said = c.seekerEnded && (frame.reason === 'partner_ended' || frame.reason === 'partner_left');
        // The seeker's socket was lost and its window closed: say that, not "they left".
        const text = c.away && frame.reason === 'partner_left' ? t('peer.reason.away_expired') : peerReason(frame.reason);
        c.away = false;
        if (!said) c.messages.push({ kind: 'system', text, at: Date.now() });
        renderTabs();
        renderAvailabilityStatus();
        announce(t('peer.chat.ended', { n: frame.chat }));
      }
      break;
    }
    case 'shutdown':
      announce(t('chat.shutdown'));
      break;
    case 'error':
      if (frame.code === 'shutting_down' && (reconnecting() || state.phase === 'verified')) break; // the close follows: reconnect
      if (['credential_rejected', 'possession_failed', 'hello_timeout', 'unknown_program', 'credential_revoked'].includes(frame.code)) {
        loginFailed(t('peer.error.relay', { code: frame.code }));
      } else {
        announce(t('error.relay', { code: String(frame.code) }));
      }
      break;
    default:
      // Growth rules (hello said `features`): an unknown frame is skipped unless critical.
      if (frame.critical === true) state.conn.close(1002);
  }
}

function onData({ chat, message }) {
  const c = state.chats.get(chat);
  if (!c || c.ended) return;
  if (!c.session) {
    // msg1: answer with msg2.
    try {
      const { session, msg2 } = peerRespond(
        state.files.key,
        state.files.credential.supporterCertificate,
        message,
        undefined,
        state.files.mlkem,
      );
      c.session = session;
      state.conn.sendData(chat, msg2);
    } catch {
      endChat(chat, 'end');
      return;
    }
    renderTabs();
    return;
  }
  let record;
  try {
    record = c.session.open(message);
  } catch {
    endChat(chat, 'end');
    return;
  }
  switch (record.type) {
    case 'text':
      c.receivedTexts += 1;
      c.seekerTyping = false;
      c.messages.push({ kind: 'text', mine: false, text: record.text, at: Date.now() });
      if (state.activeChat === chat && !document.hidden) sendRecord(c, { type: 'read', count: BigInt(c.receivedTexts) });
      else c.unread += 1;
      if (state.activeChat === chat && !c.atBottom) c.newBelow = true;
      announce(t('peer.chat.newMessage', { n: chat }));
      break;
    case 'typing':
      c.seekerTyping = record.typing;
      break;
    case 'read': {
      const upTo = record.count > BigInt(c.sentTexts) ? c.sentTexts : Number(record.count);
      for (const m of c.messages) if (m.mine && m.index < upTo) m.read = true;
      break;
    }
    case 'resource':
      c.messages.push({ kind: 'resource', resource: record.resource, mine: false, at: Date.now() });
      if (state.activeChat === chat && !c.atBottom) c.newBelow = true;
      break;
    case 'end':
    case 'block':
      c.seekerTyping = false;
      c.seekerEnded = true;
      c.messages.push({ kind: 'system', text: t('peer.chat.seekerEnded'), at: Date.now() });
      break;
    default:
      break;
  }
  renderTabs();
}

function onClose({ code, resumeFailed } = {}) {
  if (state.phase === 'login') return;
  if (resumeFailed && state.phase === 'verified') {
    // The relay kept nothing (window closed, or it restarted): as after any lost relay.
    clearTimeout(state.resume.timer);
    state.resume = { active: false, graceMs: 0, back: false, timer: null, lapsed: false };
    lostRelay();
    return;
  }
  if (reconnecting()) {
    // An attempt that connected and closed again (e.g. the relay still draining).
    state.conn = null;
    scheduleReconnect();
    return;
  }
  if (state.phase === 'verified' && RECONNECT_CODES.has(code)) {
    lostRelay();
    return;
  }
  for (const c of state.chats.values()) if (c.session) c.session.destroy();
  state.chats.clear();
  state.offers.clear();
  state.activeChat = null;
  state.conn = null;
  loginFailed(t('error.closed'));
}

function peerReason(reason) {
  const key = `peer.reason.${reason}`;
  const s = t(key);
  return s === key ? t('peer.reason.other') : s;
}

function sendRecord(c, record) {
  if (!c.session || c.session.broken || c.ended) return false;
  // Seal only what will leave: now, or after the resume, in order (a sealed record that
  // never goes breaks the session). Returns the message's number when the connection keeps
  // it until the relay's ack, true when written without resume.
  if (!state.conn || !state.conn.canSend) return false;
  try {
    return state.conn.sendData(c.number, c.session.seal(record));
  } catch {
    return false;
  }
}

function endChat(chat, how) {
  const c = state.chats.get(chat);
  if (!c || c.ended || !state.conn) return;
  sendRecord(c, { type: how === 'block' ? 'block' : 'end' });
  state.conn.send({ type: how === 'block' ? 'block' : 'end', chat });
}

// ------------------------------------------------------------------ console UI

function renderConsole() {
  const v = views.console;
  clear(v);
  const cert = state.certificate;
  v.append(
    h('p', { class: 'reconnect-note', id: 'reconnect-note', role: 'status', 'aria-live': 'polite' }),
    // Offers first, where the eye is; sticky while there are any (style.css .offers-bar).
    h('section', { class: 'card offers-bar', id: 'offers-section', 'aria-labelledby': 'offers-title' }, h('h2', { id: 'offers-title' }, t('peer.offers.title')), h('div', { id: 'offers' })),
    h(
      'div',
      { class: 'card' },
      h('h1', {}, t('peer.console.title')),
      h('p', {}, t('peer.console.signedIn', { name: state.displayName || cert.displayName, role: cert.role ? tagLabel(cert.role, state.program) : '—' })),
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'sign-out', onclick: signOut }, t('peer.signOut'))),
    ),
    h('section', { class: 'card', 'aria-labelledby': 'chats-title' }, h('h2', { id: 'chats-title' }, t('peer.chats.title')), h('div', { id: 'chats' })),
    renderAvailabilityForm(),
    renderAlerts(),
  );
  showOnly([views.login, views.console], views.console);
  renderReconnectNote();
  renderAvailabilityStatus();
  renderOffers();
  renderTabs();
}

function renderAvailabilityForm() {
  const a = state.availability;
  const program = state.program || { topics: [], languages: [] };
  const form = h('form', { class: 'card stack', id: 'availability' });
  const status = h(
    'fieldset',
    {},
    h('legend', {}, t('peer.avail.status')),
    ['available', 'away'].map((s) =>
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'status', id: `status-${s}`, value: s, checked: a.status === s }),
        h('label', { for: `status-${s}` }, t(`peer.avail.${s}`)),
      ),
    ),
  );
  const capacity = h('input', { type: 'number', id: 'capacity', min: '1', max: String(MAX_CAPACITY), value: String(a.capacity) });
  const checks = (name, legend, tags, chosen) =>
    tags.length
      ? h(
          'fieldset',
          {},
          h('legend', {}, legend),
          tags.map((tag) =>
            h(
              'div',
              { class: 'choice' },
              h('input', { type: 'checkbox', name, id: `${name}-${tag}`, value: tag, checked: chosen.includes(tag) }),
              h('label', { for: `${name}-${tag}` }, tagLabel(tag, state.program)),
            ),
          ),
        )
      : null;
  form.append(
    h('h2', {}, t('peer.avail.title')),
    status,
    h('div', { class: 'field' }, h('label', { for: 'capacity' }, t('peer.avail.capacity')), capacity),
    checks('topics', t('peer.avail.topics'), program.topics || [], a.topics),
    checks('languages', t('peer.avail.languages'), program.languages || [], a.languages),
    h('div', { class: 'choice' }, h('input', { type: 'checkbox', id: 'auto-accept', checked: a.auto_accept }), h('label', { for: 'auto-accept' }, t('peer.avail.autoAccept'))),
    h('p', { class: 'hint', id: 'availability-status', 'aria-live': 'polite' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'apply-availability' }, t('peer.avail.apply'))),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const cap = Math.min(MAX_CAPACITY, Math.max(1, parseInt(capacity.value, 10) || 1));
    state.availability = {
      status: fd.get('status') === 'away' ? 'away' : 'available',
      capacity: cap,
      topics: fd.getAll('topics').map(String),
      languages: fd.getAll('languages').map(String),
      auto_accept: form.querySelector('#auto-accept').checked,
    };
    const frame = { type: 'set_availability', status: state.availability.status, capacity: cap };
    if (state.availability.topics.length) frame.topics = state.availability.topics;
    if (state.availability.languages.length) frame.languages = state.availability.languages;
    if (state.availability.auto_accept) frame.auto_accept = true;
    // Remembered (in memory) so a reconnect can put it back.
    state.availabilityFrame = frame;
    if (state.conn) state.conn.send(frame);
  });
  return form;
}

function renderAvailabilityStatus() {
  const el = $('#availability-status');
  if (!el) return;
  const s = state.availabilitySet;
  // The relay reports open chats only when availability is set; the console knows its own
  // chats exactly, so it counts them and the line stays right as chats start and end.
  const active = [...state.chats.values()].filter((c) => c.ended === null).length;
  el.textContent = s ? t('peer.avail.now', { status: t(`peer.avail.${s.status}`), active, capacity: s.capacity }) : t('peer.avail.notYet');
}

// ------------------------------------------------------------------ offers and alerts

function renderAlerts() {
  const sound = h('input', { type: 'checkbox', id: 'offer-sound', checked: state.alerts.sound });
  sound.addEventListener('change', () => {
    state.alerts.sound = sound.checked;
    // Made on this click: browsers let a page play sound only after a user gesture.
    if (sound.checked && !state.alerts.audio && typeof AudioContext === 'function') state.alerts.audio = new AudioContext();
    if (sound.checked) chime();
  });
  const supported = typeof Notification === 'function';
  const permission = supported ? Notification.permission : 'unsupported';
  let notifyLine;
  if (!supported) notifyLine = h('p', { class: 'hint', id: 'notify-status' }, t('peer.alerts.notifyUnsupported'));
  else if (state.alerts.notify && permission === 'granted') notifyLine = h('p', { class: 'hint', id: 'notify-status' }, t('peer.alerts.notifyOn'));
  else if (permission === 'denied') notifyLine = h('p', { class: 'hint', id: 'notify-status' }, t('peer.alerts.notifyDenied'));
  else notifyLine = h('button', { type: 'button', id: 'enable-notifications', 'aria-describedby': 'notify-hint', onclick: enableNotifications }, t('peer.alerts.notify'));
  return h(
    'section',
    { class: 'card stack', id: 'alerts', 'aria-labelledby': 'alerts-title' },
    h('h2', { id: 'alerts-title' }, t('peer.alerts.title')),
    h('div', { class: 'alerts' }, h('div', { class: 'choice' }, sound, h('label', { for: 'offer-sound' }, t('peer.alerts.sound'))), notifyLine),
    h('p', { class: 'hint', id: 'notify-hint' }, t('peer.alerts.notifyHint')),
  );
}

/** Asked only here, on the peer's click. */
async function enableNotifications() {
  if (typeof Notification !== 'function') return;
  let permission = Notification.permission;
  if (permission === 'default') {
    try {
      permission = await Notification.requestPermission();
    } catch {
      permission = Notification.permission;
    }
  }
  state.alerts.notify = permission === 'granted';
  const old = $('#alerts');
  if (old) {
    old.replaceWith(renderAlerts());
    const line = $('#notify-status') || $('#enable-notifications');
    if (line) {
      line.tabIndex = -1;
      line.focus();
    }
  }
}

/** Two soft tones, made on the spot with WebAudio (no sound file, nothing fetched). */
function chime() {
  const ctx = state.alerts.audio;
  if (!ctx) return;
  if (ctx.state === 'suspended') ctx.resume().catch(() => null);
  const start = ctx.currentTime + 0.02;
  [660, 880].forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const at = start + i * 0.18;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.15, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.17);
  });
}

/** A new offer: title, announcement, focus if the peer is not busy elsewhere, sound, notification. */
function alertOffer(number) {
  announce(t('peer.offer.new'));
  // Focus moves to the offer unless the peer is typing or in a chat: never steal a keystroke.
  const active = document.activeElement;
  const busy = !!active && active !== document.body && (active.matches('textarea, input, select') || !!active.closest('#chats'));
  if (!busy) {
    const heading = document.querySelector(`[data-offer="${number}"] h3`);
    if (heading) heading.focus();
  }
  if (state.alerts.sound) chime();
  if (state.alerts.notify && typeof Notification === 'function' && Notification.permission === 'granted' && (document.hidden || !document.hasFocus())) {
    try {
      // Content-free: no topic, no language; just that someone waits.
      const n = new Notification(t('app.name'), { body: t('peer.notification.body'), tag: 'confidant-offer' });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch {
      // A browser that refuses page notifications: the title and the sound remain.
    }
  }
}

function updateTitle() {
  const n = state.offers.size;
  document.title = n ? t('peer.pageTitleOffers', { n }) : t('peer.pageTitle');
}

function agoText(ms) {
  const secs = Math.max(0, Math.floor(ms / 1000));
  return secs < 60 ? t('peer.ago.s', { s: secs }) : t('peer.ago.m', { m: Math.floor(secs / 60), s: secs % 60 });
}

function offerTimes(o) {
  const now = Date.now();
  return {
    waiting: t('peer.offer.waiting', { time: clockTime(o.arrivedAt), ago: agoText(now - o.arrivedAt) }),
    expires: t('peer.offer.expires', { s: Math.max(0, Math.round((o.expiresAt - now) / 1000)) }),
  };
}

function renderOffers() {
  updateTitle();
  const el = $('#offers');
  if (!el) return;
  const section = $('#offers-section');
  if (section) section.classList.toggle('has-offers', state.offers.size > 0);
  clear(el);
  if (!state.offers.size) {
    el.append(h('p', { class: 'hint' }, t('peer.offers.none')));
    if (state.resume.lapsed) el.append(h('p', { class: 'hint', id: 'offers-lapsed' }, t('peer.resume.offersLapsed')));
    return;
  }
  state.resume.lapsed = false;
  const list = h('ul', { class: 'offers' });
  for (const o of state.offers.values()) {
    const times = offerTimes(o);
    list.append(
      h(
        'li',
        { class: 'offer', 'data-offer': o.offer },
        h('h3', { tabindex: '-1' }, t('peer.offer.heading')),
        h('p', {}, t('peer.offer.text', { topic: o.topic ? tagLabel(o.topic, state.program) : t('peer.offer.anyTopic'), language: o.language ? tagLabel(o.language, state.program) : t('peer.offer.anyLanguage') })),
        h('p', { class: 'hint offer-waiting' }, times.waiting),
        h('p', { class: 'hint offer-expires' }, times.expires),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'primary', onclick: () => answerOffer(o.offer, 'accept') }, t('peer.offer.accept')),
          h('button', { type: 'button', onclick: () => answerOffer(o.offer, 'decline') }, t('peer.offer.decline')),
        ),
      ),
    );
  }
  el.append(list);
}

function answerOffer(offer, how) {
  if (!state.conn) return;
  state.conn.send({ type: how, offer });
  if (how === 'decline') {
    state.offers.delete(offer);
    renderOffers();
  }
}

// ------------------------------------------------------------------ chats

function nearBottom(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight <= STICK_PX;
}

function renderTabs() {
  const el = $('#chats');
  if (!el) return;
  const focusedId = document.activeElement && document.activeElement.id;
  // Every record from the seeker re-renders the panel: keep what the peer was typing, the
  // resource card they had picked (a read receipt must not undo their choice), and where
  // they were in the log.
  const draft = $('#peer-message') ? $('#peer-message').value : '';
  const picked = $('#share-resource') ? $('#share-resource').value : '';
  const draftChat = state.activeChat;
  const oldLog = state.activeChat !== null ? document.getElementById(`log-${state.activeChat}`) : null;
  const shown = state.chats.get(state.activeChat);
  if (oldLog && shown) shown.scrollTop = oldLog.scrollTop;
  clear(el);
  if (!state.chats.size) {
    el.append(h('p', { class: 'hint' }, t('peer.chats.none')));
    return;
  }
  if (!state.chats.has(state.activeChat)) state.activeChat = state.chats.keys().next().value;
  const tabs = h('div', { role: 'tablist', class: 'tabs', 'aria-label': t('peer.chats.title') });
  const ids = [...state.chats.keys()];
  for (const n of ids) {
    const c = state.chats.get(n);
    const selected = n === state.activeChat;
    const tab = h(
      'button',
      { type: 'button', role: 'tab', id: `tab-${n}`, 'aria-selected': String(selected), 'aria-controls': `panel-${n}`, tabindex: selected ? '0' : '-1', class: c.ended ? 'ended' : '' },
      t('peer.chat.tab', { n }),
      c.unread ? h('span', { class: 'badge' }, ` (${c.unread})`) : null,
      c.ended ? h('span', { class: 'badge' }, ` — ${t('peer.chat.closed')}`) : null,
      !c.ended && c.away ? h('span', { class: 'badge away' }, ` — ${t('peer.chat.away')}`) : null,
    );
    tab.addEventListener('click', () => selectChat(n));
    tab.addEventListener('keydown', (ev) => {
      const i = ids.indexOf(n);
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        const next = ids[(i + (ev.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length];
        selectChat(next);
        const b = document.getElementById(`tab-${next}`);
        if (b) b.focus();
      }
    });
    tabs.append(tab);
  }
  const c = state.chats.get(state.activeChat);
  el.append(tabs, renderPanel(c));
  // The log stays on the newest message, unless the peer scrolled up to read: then it stays
  // where they are and a "New messages" button says more came.
  const log = document.getElementById(`log-${c.number}`);
  if (log) {
    if (c.atBottom) {
      log.scrollTop = log.scrollHeight;
      c.newBelow = false;
    } else log.scrollTop = c.scrollTop;
    renderNewMessagesButton(c);
  }
  const input = $('#peer-message');
  if (input && draftChat === state.activeChat) input.value = draft;
  const share = $('#share-resource');
  if (share && !share.disabled && draftChat === state.activeChat) share.value = picked;
  if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus({ preventScroll: true });
}

function renderNewMessagesButton(c) {
  const button = $('#new-messages');
  if (button) button.hidden = !c.newBelow;
}

function scrollLogToEnd(c) {
  const log = document.getElementById(`log-${c.number}`);
  if (!log) return;
  log.scrollTop = log.scrollHeight;
  c.atBottom = true;
  c.newBelow = false;
  renderNewMessagesButton(c);
}

function selectChat(n) {
  if (n !== state.activeChat) {
    const c = state.chats.get(n);
    if (c) c.atBottom = true;
  }
  state.activeChat = n;
  const c = state.chats.get(n);
  if (c && c.unread) {
    c.unread = 0;
    sendRecord(c, { type: 'read', count: BigInt(c.receivedTexts) });
  }
  renderTabs();
}

/** Read; Sent (with resume: the relay acknowledged it); or on its way / waiting for the connection. */
function receiptText(m) {
  if (m.read) return t('chat.read');
  if (m.acked) return t('chat.sent');
  return state.resume.active ? t('resume.waiting') : t('resume.sending');
}

function timeOf(m) {
  return m.at ? h('time', { datetime: new Date(m.at).toISOString() }, clockTime(m.at)) : null;
}

function renderPanel(c) {
  // Not a live region: the panel is re-rendered on every record, and a live log would be
  // read again each time. A new message is announced once, through #status.
  const log = h('ol', { class: 'log', id: `log-${c.number}`, 'aria-label': t('chat.log'), tabindex: '0' });
  for (const m of c.messages) {
    if (m.kind === 'system') log.append(h('li', { class: 'msg system' }, timeOf(m), ' ', h('span', { class: 'system-text' }, m.text)));
    else if (m.kind === 'resource') log.append(h('li', { class: `msg ${m.mine ? 'mine' : 'theirs'} resource` }, timeOf(m), resourceCard(m.resource, t)));
    else
      log.append(
        h(
          'li',
          { class: `msg ${m.mine ? 'mine' : 'theirs'}` },
          timeOf(m),
          h('p', { class: 'text', dir: 'auto' }, m.text),
          m.mine ? h('p', { class: `receipt${m.read || m.acked ? '' : ' pending'}` }, receiptText(m)) : null,
        ),
      );
  }
  log.addEventListener('scroll', () => {
    c.atBottom = nearBottom(log);
    c.scrollTop = log.scrollTop;
    if (c.atBottom && c.newBelow) {
      c.newBelow = false;
      renderNewMessagesButton(c);
    }
  });
  const newMessages = h('button', { type: 'button', id: 'new-messages', class: 'new-messages', hidden: !c.newBelow, onclick: () => scrollLogToEnd(c) }, t('peer.chat.newMessages'), h('span', { 'aria-hidden': 'true' }, ' ↓'));
  const live = !!c.session && !c.ended;
  const input = h('textarea', { id: 'peer-message', rows: '2', disabled: !live, dir: 'auto', spellcheck: 'false', autocomplete: 'off' });
  let typingTimer = null;
  let typingSent = false;
  input.addEventListener('input', () => {
    if (!state.conn || !state.conn.isOpen) return; // typing is news only now, not after a resume
    if (!typingSent) typingSent = !!sendRecord(c, { type: 'typing', typing: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => {
      if (typingSent) sendRecord(c, { type: 'typing', typing: false });
      typingSent = false;
    }, 3000);
  });
  const send = () => {
    const text = input.value.trim();
    if (!text) return;
    const sent = sendRecord(c, { type: 'text', text });
    if (!sent) return;
    clearTimeout(typingTimer);
    typingSent = false;
    const seq = typeof sent === 'number' ? sent : null;
    c.messages.push({ kind: 'text', mine: true, text, index: c.sentTexts, read: false, seq, acked: seq === null || seq <= state.relayAcked, at: Date.now() });
    c.atBottom = true; // one's own message brings the log to the end
    c.sentTexts += 1;
    input.value = '';
    renderTabs();
    const again = $('#peer-message');
    if (again) again.focus();
  };
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  const form = h('form', { class: 'composer' }, h('label', { for: 'peer-message', class: 'visually-hidden' }, t('chat.message')), input, h('button', { type: 'submit', class: 'primary', id: 'peer-send', disabled: !live }, t('chat.send')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send();
  });
  const resources = (state.program && state.program.resources) || [];
  const share = h('select', { id: 'share-resource', disabled: !live || !resources.length }, h('option', { value: '' }, t('peer.share.choose')), resources.map((r, i) => h('option', { value: String(i) }, r.title)));
  const shareButton = h('button', { type: 'button', id: 'share', disabled: !live || !resources.length }, t('peer.share.button'));
  shareButton.addEventListener('click', () => {
    const r = resources[Number(share.value)];
    if (!share.value || !r) return;
    const card = { title: r.title };
    if (r.url) card.url = r.url;
    if (r.phone) card.phone = r.phone;
    if (sendRecord(c, { type: 'resource', resource: card })) {
      share.value = '';
      c.messages.push({ kind: 'resource', resource: card, mine: true, at: Date.now() });
      c.atBottom = true;
      renderTabs();
    }
  });
  return h(
    'div',
    { role: 'tabpanel', id: `panel-${c.number}`, 'aria-labelledby': `tab-${c.number}`, class: 'chat' },
    h('p', { class: 'hint' }, c.ended ? t('peer.chat.closed') : c.session ? t('chat.secure') : t('peer.chat.waiting')),
    !c.ended && c.away ? h('p', { class: 'callout partner-note', id: `away-${c.number}` }, t('peer.chat.seekerAway')) : null,
    log,
    newMessages,
    c.seekerTyping ? h('p', { class: 'typing' }, t('peer.chat.typing')) : null,
    form,
    h(
      'div',
      { class: 'field inline' },
      h('label', { for: 'share-resource' }, t('peer.share.label')),
      share,
      shareButton,
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', id: 'peer-end', disabled: !!c.ended, onclick: () => endChat(c.number, 'end') }, t('chat.end')),
      h('button', { type: 'button', id: 'peer-block', class: 'danger', disabled: !!c.ended, onclick: () => endChat(c.number, 'block') }, t('peer.chat.block')),
      c.ended ? h('button', { type: 'button', id: 'peer-close-tab', onclick: () => closeTab(c.number) }, t('peer.chat.closeTab')) : null,
    ),
  );
}

function closeTab(n) {
  state.chats.delete(n);
  state.activeChat = null;
  renderTabs();
}

// ------------------------------------------------------------------ start
function main() {
  views.login = $('#view-login');
  views.console = $('#view-console');
  translateStatic();
  mountLanguageSwitch($('.lang-switch'));
  onLanguageChange(() => {
    translateStatic();
    updateTitle();
    if (state.phase === 'verified' || reconnecting()) renderConsole();
    else renderLogin();
  });
  setInterval(() => {
    for (const o of state.offers.values()) {
      const el = document.querySelector(`[data-offer="${o.offer}"]`);
      if (!el) continue;
      const times = offerTimes(o);
      el.querySelector('.offer-waiting').textContent = times.waiting;
      el.querySelector('.offer-expires').textContent = times.expires;
    }
  }, 1000);
  updateTitle();
  renderLogin();
}

main();
