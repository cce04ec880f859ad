// The seeker page: choose a program, ask for a peer, wait, verify the peer in the page,
// chat end to end encrypted, leave (end chat or quick exit). Nothing is stored: all state
// lives in the `state` object below and is dropped on exit.

import { h, $, clear, showOnly, wipeDocument } from '../ui/dom.js';
import { t, translateStatic, mountLanguageSwitch, onLanguageChange, tagLabel, localized, clockTime } from '../ui/i18n.js';
import { resourceList, resourceCard } from '../ui/resources.js';
import { renderEmergency } from '../ui/emergency.js';
import { fetchPrograms, b64, PROTOCOL_VERSION } from '../net/relay.js';
import { ResumableConnection, RESUME_FEATURE } from '../net/resume.js';
import { verifyChain, SeekerHandshake, fromHex, toHex } from '../crypto/index.js';
import { PINNED_ROOT_KEYS, NEUTRAL_URL } from '../config.js';

const TYPING_IDLE_MS = 3000;
/**
 * Relay features this page implements (proto/spec.md, "Features"): `pass` (refuse a peer of
 * my department and keep my place in the queue) and `queue-none` (told at once when nobody
 * online can take me), `resume` (a lost socket keeps the chat or the place in the queue for
 * the relay's grace window: net/resume.js). Saying `features` also means the page reads
 * relay frames by the growth rules: unknown members and non-critical frames of unknown types
 * are skipped.
 */
const SEEKER_FEATURES = ['pass', 'queue-none', RESUME_FEATURE];
/** Phases in which leaving the page would end something: the page warns before unload. */
const ACTIVE_PHASES = ['connecting', 'queued', 'verifying', 'handshaking', 'chatting'];

/** Everything the page knows. Reset (and its keys wiped) on exit or end. */
const state = {
  programs: [],
  program: null, // the chosen program description
  rootKey: null, // Uint8Array, pinned or (dev) from /v1/programs
  rootKeyPinned: false,
  prefs: { topic: '', language: '', peer_role: '' },
  department: '', // checked locally against the certificate, never sent
  conn: null,
  features: null, // what the relay granted in welcome; null before it (or with a plain hello)
  helloPlain: false, // the relay predates features: hello without them
  passed: 0, // peers of my department passed while this wait lasts
  phase: 'start', // start | connecting | queued | verifying | handshaking | chatting | ended
  queue: null,
  chat: null, // {number, handshake, session, peer, messages, sent, receivedTexts, readByPeer, peerTyping}
  minRevocationSequence: 0n, // highest revocation sequence seen in this page's life
  ended: null, // {kind, reason, resources}
  typingTimer: null,
  typingSent: false,
  relayAcked: 0, // counted messages the relay acknowledged on this connection
  graceMs: 0, // welcome.resume.grace_ms: how long the relay keeps this connection after a loss
  partnerAway: false, // partner_away came for my chat and partner_back has not
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

// ------------------------------------------------------------------ programs and keys

function chooseProgram(id) {
  const program = state.programs.find((p) => p.id === id) || null;
  state.program = program;
  state.rootKey = null;
  state.rootKeyPinned = false;
  if (!program) return;
  const pinned = PINNED_ROOT_KEYS[program.id];
  if (pinned) {
    state.rootKey = fromHex(pinned);
    state.rootKeyPinned = true;
  } else if (/^[0-9a-f]{64}$/.test(program.root_key)) {
    // Development fallback only: see src/config.js. A real build pins the key.
    state.rootKey = fromHex(program.root_key);
  }
  renderKeyNote();
  renderHelpPanel();
  renderEmergencyNote();
  $('#program-name').textContent = program.name;
}

/** The emergency line in the notice at the top of every screen (see ui/emergency.js). */
function renderEmergencyNote() {
  const el = $('#emergency');
  if (el) renderEmergency(el, state.program, t);
}

/** "up to a minute", "up to 30 seconds": the relay's grace window, in words. */
function windowText(ms) {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s === 60) return t('resume.window.minute');
  if (s % 60 === 0) return t('resume.window.minutes', { m: s / 60 });
  return t('resume.window.seconds', { s });
}

/** Whether the connection is between a lost socket and its resume. */
function resuming() {
  return !!state.conn && state.conn.reconnecting;
}

/**
 * The connection line in the header (a status region): reconnecting (what is kept, and for
 * how long), or offline. Empty when all is well.
 */
function renderConnectionNote() {
  const el = $('#connection-note');
  if (!el) return;
  let text = '';
  if (resuming()) {
    const kept = state.phase === 'queued' || state.phase === 'connecting' ? 'resume.keptQueue' : 'resume.keptChat';
    text = `${t('resume.reconnecting')} ${t(kept, { window: windowText(state.graceMs) })}`;
  } else if (navigator.onLine === false) text = t('offline.note');
  if (el.textContent !== text) el.textContent = text;
}

function renderKeyNote() {
  const note = $('#key-note');
  const p = state.program;
  if (!p) {
    note.hidden = true;
    return;
  }
  note.hidden = false;
  if (state.rootKeyPinned && PINNED_ROOT_KEYS[p.id] !== p.root_key) {
    note.textContent = t('key.mismatch');
    note.classList.add('warn');
  } else {
    note.textContent = state.rootKeyPinned ? t('key.pinned', { key: p.root_key.slice(0, 16) }) : t('key.dev', { key: p.root_key.slice(0, 16) });
    note.classList.toggle('warn', !state.rootKeyPinned);
  }
}

function renderHelpPanel() {
  const panel = $('#help-panel');
  clear(panel);
  const resources = state.program ? state.program.resources : state.programs.flatMap((p) => p.resources || []);
  panel.append(h('h2', {}, t('help.title')), h('p', {}, t('help.text')), resourceList(resources, t));
}

// ------------------------------------------------------------------ views

function show(name) {
  showOnly(Object.values(views), views[name]);
  // During a chat the page becomes one screen: header with Quick exit on top, composer at
  // the bottom, the messages scrolling between them (style.css, body.chat-mode).
  document.body.classList.toggle('chat-mode', name === 'chat');
}

function renderStart(message) {
  state.phase = 'start';
  const v = views.start;
  clear(v);
  const programs = state.programs;
  const form = h('form', { class: 'card stack', novalidate: true });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    startSeeking();
  });
  form.append(h('h1', {}, t('start.title')), h('p', { class: 'lead' }, t('start.lead')));
  if (message) form.append(h('p', { class: 'callout', role: 'alert' }, message));

  if (programs.length > 1) {
    const fs = h('fieldset', {}, h('legend', {}, t('start.program')));
    for (const p of programs) {
      const id = `program-${p.id}`;
      const input = h('input', { type: 'radio', name: 'program', id, value: p.id, checked: state.program && state.program.id === p.id });
      input.addEventListener('change', () => {
        chooseProgram(p.id);
        renderStart();
        const again = document.getElementById(id);
        if (again) again.focus();
      });
      fs.append(h('div', { class: 'choice' }, input, h('label', { for: id }, p.name)));
    }
    form.append(fs);
  }

  const p = state.program;
  if (p) {
    const select = (name, label, options) => {
      const id = `pref-${name}`;
      const el = h('select', { id, name }, h('option', { value: '' }, t('start.any')), options.map((o) => h('option', { value: o, selected: state.prefs[name] === o }, tagLabel(o, p))));
      el.addEventListener('change', () => (state.prefs[name] = el.value));
      return h('div', { class: 'field' }, h('label', { for: id }, label), el);
    };
    const opts = h('details', { class: 'options', open: Object.values(state.prefs).some(Boolean) || !!state.department });
    opts.append(h('summary', {}, t('start.options')));
    if (p.topics && p.topics.length) opts.append(select('topic', t('start.topic'), p.topics));
    if (p.languages && p.languages.length) opts.append(select('language', t('start.language'), p.languages));
    if (p.peer_roles && p.peer_roles.length) opts.append(select('peer_role', t('start.role'), p.peer_roles));
    // The program's own list when it has one (feature program-details): the seeker picks
    // rather than types, so "Demo department" can no longer miss "Demo". Either way the
    // check happens in this page and the choice is never sent.
    const departments = Array.isArray(p.departments) ? p.departments.filter((d) => typeof d === 'string' && d) : [];
    const dep = departments.length
      ? h('select', { id: 'department', name: 'department', 'aria-describedby': 'department-hint' }, h('option', { value: '' }, t('start.departmentNone')), departments.map((d) => h('option', { value: d, selected: state.department === d }, d)))
      : h('input', { id: 'department', name: 'department', type: 'text', autocomplete: 'off', spellcheck: 'false', value: state.department, 'aria-describedby': 'department-hint' });
    dep.addEventListener(departments.length ? 'change' : 'input', () => (state.department = dep.value));
    opts.append(
      h('div', { class: 'field' }, h('label', { for: 'department' }, t('start.department')), dep, h('p', { id: 'department-hint', class: 'hint' }, t(departments.length ? 'start.departmentHintList' : 'start.departmentHint'))),
    );
    form.append(opts);
    // The limits of confidentiality, before the chat starts (feature program-details).
    const statement = localized(p.confidentiality);
    if (statement) form.append(confidentialityBox(statement, false));
  }
  form.append(h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'talk', disabled: !p }, t('start.talk'))));
  v.append(form);
  show('start');
}

/**
 * Why nobody can take me right now, if so: the relay says it (`queued.none`, feature
 * queue-none); a relay without the feature only gives the count of peers online.
 */
function queueNone(q) {
  if (q.none === 'none_online' || q.none === 'none_available') return q.none;
  if (q.none === undefined && q.peers_online === 0) return 'none_online';
  return null;
}

function queueLines() {
  const q = state.queue;
  if (!q) return [h('p', { id: state.checking ? 'admission-checking' : null }, t(state.checking ? 'queue.checking' : 'queue.connecting'))];
  const none = queueNone(q);
  return [
    // The place is kept through a lost socket: said plainly, never "you lost your place".
    resuming() ? h('p', { class: 'callout', id: 'queue-reconnecting' }, t('resume.queue')) : null,
    h('p', { class: 'big' }, t('queue.position', { n: q.position })),
    h('p', {}, t('queue.peers', { n: q.peers_online })),
    // Said at once, not after the wait limit; waiting on stays possible.
    none ? h('p', { class: 'callout', id: 'queue-none' }, t(`queue.${none}`), ' ', t('queue.keepWaiting')) : null,
    h('p', {}, q.estimate_secs === undefined ? t('queue.noEstimate') : t('queue.estimate', { min: Math.max(1, Math.round(q.estimate_secs / 60)) })),
  ];
}

function renderQueue() {
  const v = views.queue;
  clear(v);
  const resources = (state.program && state.program.resources) || [];
  v.append(
    h(
      'div',
      { class: 'card stack' },
      h('h1', {}, t('queue.title')),
      // The queue position has a polite status region of its own, updated in place (a region
      // re-created on every update would not be announced).
      h('div', { class: 'queue', id: 'queue-state', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }, queueLines()),
      // Outside the status region: announced once when it happens (announce()), not with
      // every queue update after it.
      state.passed ? h('p', { class: 'hint', id: 'queue-passed' }, t('queue.passed')) : null,
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'cancel', onclick: cancelSeeking }, t('queue.cancel'))),
    ),
    // Help stays in sight while waiting, not only after the wait limit.
    resources.length
      ? h('section', { class: 'card stack', id: 'queue-help', 'aria-labelledby': 'queue-help-title' }, h('h2', { id: 'queue-help-title' }, t('queue.helpTitle')), h('p', {}, t('queue.helpText')), resourceList(resources, t))
      : null,
  );
  show('queue');
}

function updateQueue() {
  const region = $('#queue-state');
  if (!region || views.queue.hidden) {
    renderQueue();
    return;
  }
  clear(region);
  region.append(...queueLines());
}

/** The program's statement of the limits of confidentiality: a plain box before the chat,
 * a collapsed one (always reachable) during it. */
function confidentialityBox(statement, collapsed) {
  if (collapsed) {
    return h('details', { class: 'confidentiality', id: 'confidentiality-chat' }, h('summary', {}, t('confidentiality.title')), h('p', {}, statement));
  }
  return h('section', { class: 'confidentiality', id: 'confidentiality', 'aria-labelledby': 'confidentiality-title' }, h('h2', { id: 'confidentiality-title' }, t('confidentiality.title')), h('p', {}, statement));
}

function renderChat() {
  const v = views.chat;
  clear(v);
  const c = state.chat;
  const peer = c.peer;
  const header = h(
    'div',
    { class: 'chat-head' },
    h(
      'div',
      { class: 'peer-card', id: 'peer-card' },
      h('h1', { class: 'peer-name' }, h('span', { id: 'peer-name' }, peer.displayName), peer.role ? h('span', { class: 'peer-role', id: 'peer-role' }, ` · ${tagLabel(peer.role, state.program)}`) : null),
      // On a phone the rest of the card folds under one line ("✓ Verified · details"), so
      // the card and End chat stay above the messages (style.css); on a wider screen it is
      // open and its summary hidden.
      h(
        'details',
        { class: 'peer-more', id: 'peer-more', open: !narrowScreen() },
        h('summary', {}, h('span', { 'aria-hidden': 'true' }, '✓ '), t('chat.verifiedShort')),
        h('p', { class: 'verified' }, h('span', { 'aria-hidden': 'true' }, '✓ '), t('chat.verified', { program: state.program.name })),
        h(
          'div',
          { class: 'peer-meta' },
          peer.department ? h('p', { class: 'hint' }, t('chat.department', { department: peer.department })) : null,
          // Said only when true: the certificate carries an ML-KEM key, so this chat runs the
          // hybrid handshake (crypto.md §2.1); nothing is claimed for an X25519-only chat.
          peer.postQuantum ? h('p', { class: 'hint', id: 'peer-pq' }, t('chat.postQuantum')) : null,
          localized(state.program.confidentiality) ? confidentialityBox(localized(state.program.confidentiality), true) : null,
        ),
      ),
    ),
    // At the top, away from Send, and it asks first.
    h('button', { type: 'button', id: 'end-chat', class: 'end-chat', 'aria-expanded': 'false', 'aria-controls': 'end-confirm', onclick: askEndChat }, t('chat.end')),
  );
  const confirm = h(
    'div',
    { class: 'confirm', id: 'end-confirm', role: 'group', 'aria-labelledby': 'end-confirm-question', hidden: true },
    h('p', { id: 'end-confirm-question' }, t('chat.endConfirm')),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'end-confirm-yes', onclick: () => endChat('ended') }, t('chat.endYes')),
      h('button', { type: 'button', id: 'end-confirm-no', onclick: cancelEndChat }, t('chat.endNo')),
    ),
  );
  // Not a live region: incoming messages are announced once, through #status (announce());
  // the seeker's own messages and read receipts are not announced at all.
  const log = h('ol', { class: 'log', id: 'chat-log', 'aria-label': t('chat.log') });
  const typing = h('p', { class: 'typing', id: 'typing', hidden: true }, t('chat.typing', { name: peer.displayName }));
  const input = h('textarea', {
    id: 'message',
    rows: '2',
    maxlength: '4000',
    dir: 'auto',
    spellcheck: 'false',
    autocorrect: 'off',
    autocapitalize: 'sentences',
    autocomplete: 'off',
    enterkeyhint: 'send',
    disabled: state.phase !== 'chatting',
  });
  input.addEventListener('input', onTypingInput);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendText();
    }
  });
  const form = h(
    'form',
    { class: 'composer' },
    h('label', { for: 'message', class: 'visually-hidden' }, t('chat.message')),
    input,
    h('button', { type: 'submit', class: 'primary', id: 'send', disabled: state.phase !== 'chatting' }, t('chat.send')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendText();
  });
  const status = h('p', { class: 'hint', id: 'chat-phase' }, state.phase === 'chatting' ? t('chat.secure') : t('chat.securing'));
  // The peer's socket was lost and the relay keeps the chat for them (partner_away): said
  // above the messages until partner_back or the end. A status region of its own.
  const partner = h('p', { class: 'callout partner-note', id: 'partner-note', role: 'status' }, state.partnerAway ? t('resume.partnerAway') : '');
  // Only the messages scroll (#chat-body): the peer card with End chat stays on top and the
  // composer at the bottom of a phone's screen however long the chat gets (style.css,
  // body.chat-mode).
  // Focusable (tabindex 0): once the messages overflow — sooner with a banner above them —
  // keyboard users scroll them too (axe: scrollable-region-focusable).
  const body = h('div', { class: 'chat-body', id: 'chat-body', tabindex: '0', role: 'region', 'aria-label': t('chat.log') }, status, log, typing);
  v.append(h('div', { class: 'card chat' }, header, confirm, partner, body, form));
  for (const m of c.messages) log.append(renderMessage(m));
  show('chat');
  scrollToNewest();
}

/** A phone-sized screen (the width style.css lays out for phones). */
function narrowScreen() {
  return typeof matchMedia === 'function' && matchMedia('(max-width: 30rem)').matches;
}

function scrollToNewest() {
  const body = $('#chat-body');
  if (body) body.scrollTop = body.scrollHeight;
}

function askEndChat() {
  const box = $('#end-confirm');
  if (!box) return;
  box.hidden = false;
  $('#end-chat').setAttribute('aria-expanded', 'true');
  $('#end-confirm-yes').focus();
}

function cancelEndChat() {
  const box = $('#end-confirm');
  if (!box) return;
  box.hidden = true;
  $('#end-chat').setAttribute('aria-expanded', 'false');
  const input = $('#message');
  if (input && !input.disabled) input.focus();
  else $('#end-chat').focus();
}

function receiptText(m) {
  if (m.failed) return t('chat.notSent');
  if (m.read) return t('chat.read');
  // With resume, "Sent" means the relay acknowledged it; until then it is on its way, or
  // waits for the connection to come back.
  if (!m.acked) return resuming() ? t('resume.waiting') : t('resume.sending');
  return t('chat.sent');
}

function renderReceipt(m) {
  const p = h('p', { class: `receipt${m.failed ? ' failed' : ''}${!m.failed && !m.acked ? ' pending' : ''}`, 'data-id': m.id }, receiptText(m));
  if (m.failed) {
    p.append(' ', h('button', { type: 'button', class: 'linklike retry', onclick: () => retryMessage(m) }, t('chat.retry')));
  }
  return p;
}

/** The message's time on this device (hh:mm, local), as the peer console shows it. The log
 * is not a live region and announce() says no time, so it is read only when the seeker
 * reads the log. */
function timeOf(m) {
  return m.at ? h('time', { datetime: new Date(m.at).toISOString() }, clockTime(m.at)) : null;
}

function renderMessage(m) {
  if (m.kind === 'resource') {
    return h('li', { class: 'msg theirs resource' }, timeOf(m), h('p', { class: 'who' }, t('chat.sharedResource')), resourceCard(m.resource, t, 2));
  }
  if (m.kind === 'system') return h('li', { class: 'msg system' }, timeOf(m), ' ', h('span', { class: 'system-text' }, m.text));
  const li = h(
    'li',
    { class: `msg ${m.mine ? 'mine' : 'theirs'}` },
    timeOf(m),
    h('p', { class: 'who visually-hidden' }, m.mine ? t('chat.you') : state.chat.peer.displayName),
    h('p', { class: 'text', dir: 'auto' }, m.text),
  );
  if (m.mine) li.append(renderReceipt(m));
  return li;
}

function updateReceipt(m) {
  const old = document.querySelector(`.receipt[data-id="${m.id}"]`);
  if (old) old.replaceWith(renderReceipt(m));
}

function appendMessage(m) {
  if (!m.at) m.at = Date.now();
  state.chat.messages.push(m);
  const log = $('#chat-log');
  if (log) {
    log.append(renderMessage(m));
    scrollToNewest();
  }
}

function renderEnded() {
  const v = views.ended;
  clear(v);
  const e = state.ended || { kind: 'ended' };
  const parts = [h('h1', {}, t(`ended.${e.kind}.title`))];
  if (e.kind === 'lost' && navigator.onLine === false) parts.push(h('p', {}, t('offline.note')));
  if (e.detail) parts.push(h('p', {}, e.detail));
  else parts.push(h('p', {}, t(`ended.${e.kind}.text`)));
  const resources = e.resources || (state.program && state.program.resources) || [];
  if (resources.length) parts.push(h('h2', {}, t('ended.resources')), resourceList(resources, t));
  parts.push(h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', id: 'again', onclick: () => renderStart() }, t('ended.again'))));
  v.append(h('div', { class: 'card stack', id: `ended-${e.kind}` }, parts));
  show('ended');
  const heading = v.querySelector('h1');
  heading.tabIndex = -1;
  heading.focus();
}

// ------------------------------------------------------------------ relay conversation

async function startSeeking(plain = false) {
  if (!state.program || !state.rootKey) return;
  state.phase = 'connecting';
  state.queue = null;
  state.features = null;
  state.helloPlain = plain;
  state.passed = 0;
  renderQueue();
  if (!plain) announce(t('queue.connecting'));
  // Only the current connection speaks to the page: a replaced one (the plain retry below)
  // is closed without ending anything.
  state.graceMs = 0;
  state.relayAcked = 0;
  state.partnerAway = false;
  const conn = new ResumableConnection({
    onControl: (frame) => state.conn === conn && onControl(frame),
    onData: (data) => state.conn === conn && onData(data),
    onClose: (info) => state.conn === conn && onClose(info),
    // A relay under load asks for a proof of work first; past 300 ms, say why we wait.
    onAdmission: (phase) => {
      if (state.conn !== conn) return;
      state.checking = phase === 'checking';
      if (state.checking) announce(t('queue.checking'));
      updateQueue();
    },
    onState: (info) => state.conn === conn && onConnectionState(info),
    onAcked: (received) => state.conn === conn && onAcked(received),
  });
  state.conn = conn;
  state.checking = false;
  try {
    await conn.open();
  } catch {
    if (state.conn === conn) finish('error', { detail: t('error.connect') });
    return;
  }
  const hello = { type: 'hello', v: PROTOCOL_VERSION, role: 'seeker', program: state.program.id };
  conn.send(plain ? hello : { ...hello, features: SEEKER_FEATURES });
}

/** Whether the relay granted `feature` on this connection. */
function granted(feature) {
  return Array.isArray(state.features) && state.features.includes(feature);
}

function seekFrame() {
  const preferences = {};
  for (const [k, v] of Object.entries(state.prefs)) if (v) preferences[k] = v;
  return Object.keys(preferences).length ? { type: 'seek', preferences } : { type: 'seek' };
}

function cancelSeeking() {
  if (state.conn) state.conn.send({ type: 'cancel' });
  // If `cancelled` does not come back (e.g. it crossed a match), closing ends everything.
  setTimeout(() => {
    if (state.phase === 'queued' || state.phase === 'connecting') closeConnection();
  }, 2000);
}

function onControl(frame) {
  switch (frame.type) {
    case 'welcome':
      state.features = Array.isArray(frame.features) ? frame.features.filter((f) => typeof f === 'string') : [];
      state.graceMs = frame.resume && Number.isSafeInteger(frame.resume.grace_ms) ? frame.resume.grace_ms : 0;
      state.conn.send(seekFrame());
      break;
    case 'partner_away':
    case 'partner_back':
      if (state.chat && frame.chat === state.chat.number) setPartnerAway(frame.type === 'partner_away');
      break;
    case 'queued':
      state.phase = 'queued';
      state.queue = frame;
      updateQueue(); // #queue-state is a polite status region: it announces the change itself
      break;
    case 'cancelled':
      closeConnection();
      state.phase = 'start';
      renderStart(t('queue.cancelled'));
      announce(t('queue.cancelled'));
      break;
    case 'no_peer':
      closeConnection();
      finish('no_peer', { resources: frame.resources, detail: t(`noPeer.${frame.reason}`) });
      break;
    case 'matched':
      onMatched(frame);
      break;
    case 'chat_ended':
      if (state.chat && frame.chat === state.chat.number) onChatEnded(frame.reason);
      break;
    case 'shutdown':
      if (state.chat) appendMessage({ kind: 'system', text: t('chat.shutdown') });
      break;
    case 'error':
      // A relay from before features refuses `hello.features` (spec, "Features"): greet it
      // again, as version 1, on a new connection.
      if (state.features === null && !state.helloPlain && frame.code === 'malformed_frame') {
        closeConnection();
        startSeeking(true);
        return;
      }
      // Non-fatal codes are the normal result of races (spec "Error catalogue").
      if (['unknown_chat', 'unknown_offer', 'invalid_field', 'already_seeking', 'not_available'].includes(frame.code)) return;
      if (state.chat && state.phase === 'chatting') return; // the close that follows ends it
      finish('error', { detail: t('error.relay', { code: String(frame.code) }) });
      break;
    default:
      // Growth rules (we said `features`): a frame of an unknown type is skipped unless it
      // is marked critical. Without them, a frame we do not understand means client and
      // relay disagree on the protocol.
      if (state.helloPlain || frame.critical === true) state.conn.close(1002);
  }
}

function onMatched(frame) {
  state.phase = 'verifying';
  const number = frame.chat;
  const cred = frame.credential || {};
  const issuer = b64.decode(cred.issuer_certificate);
  const supporter = b64.decode(cred.supporter_certificate);
  const list = b64.decode(cred.revocation_list);
  let verified;
  try {
    if (!issuer || !supporter || !list) throw new Error('base64');
    // With a pinned key, the relay's copy of the key is never used (even if it differs).
    verified = verifyChain({
      rootPublic: state.rootKey,
      program: state.program.id,
      issuerCertificate: issuer,
      supporterCertificate: supporter,
      revocationList: list,
      now: BigInt(Math.floor(Date.now() / 1000)),
      minSequence: state.minRevocationSequence,
    });
  } catch (e) {
    // Fail closed: end the chat, tell the relay nothing about why.
    state.conn.send({ type: 'end', chat: number });
    closeConnection();
    finish('unverified', { detail: t('ended.unverified.text') + (e && e.code ? ` (${e.code})` : '') });
    return;
  }
  state.minRevocationSequence = verified.revocationSequence;
  const cert = verified.certificate;
  if (state.department.trim() && sameDepartment(state.department, cert.department)) {
    if (granted('pass')) {
      // Refuse this peer and keep my place: the relay puts me back where I stood, never
      // offers me this peer again, and is not told why (spec, `pass`).
      state.conn.send({ type: 'pass', chat: number });
      state.phase = 'queued';
      state.passed += 1;
      renderQueue();
      announce(t('queue.passed'));
      return;
    }
    state.conn.send({ type: 'end', chat: number });
    closeConnection();
    finish('department', {});
    return;
  }
  let start;
  try {
    // A certificate with an ML-KEM-768 key always gets the hybrid handshake (crypto.md §2.1).
    start = SeekerHandshake.start(cert.x25519Public, supporter, undefined, { mlkemPublic: cert.mlkem768Public });
  } catch {
    state.conn.send({ type: 'end', chat: number });
    closeConnection();
    finish('unverified', {});
    return;
  }
  state.chat = {
    number,
    handshake: start.handshake,
    session: null,
    peer: {
      displayName: cert.displayName,
      role: cert.role,
      department: cert.department,
      fingerprint: toHex(verified.certificateHash).slice(0, 16),
      postQuantum: !!cert.mlkem768Public,
    },
    messages: [],
    sentTexts: 0,
    receivedTexts: 0,
    nextId: 0, // local message ids (receipts)
  };
  state.phase = 'handshaking';
  state.conn.sendData(number, start.msg1);
  renderChat();
  announce(t('chat.matched', { name: cert.displayName }));
}

function sameDepartment(a, b) {
  const norm = (s) => s.normalize('NFKC').trim().toLowerCase().replace(/\s+/g, ' ');
  return norm(a) !== '' && norm(a) === norm(b);
}

function onData({ chat, message }) {
  const c = state.chat;
  if (!c || chat !== c.number) return;
  if (state.phase === 'handshaking') {
    try {
      c.session = c.handshake.finish(message);
      c.handshake = null;
    } catch {
      return failChat();
    }
    state.phase = 'chatting';
    $('#chat-phase').textContent = t('chat.secure');
    $('#message').disabled = false;
    $('#send').disabled = false;
    $('#message').focus();
    return;
  }
  if (state.phase !== 'chatting') return;
  let record;
  try {
    record = c.session.open(message);
  } catch {
    return failChat();
  }
  switch (record.type) {
    case 'text':
      c.receivedTexts += 1;
      setPeerTyping(false);
      appendMessage({ kind: 'text', mine: false, text: record.text });
      announce(`${c.peer.displayName}: ${record.text}`);
      sendRecord({ type: 'read', count: BigInt(c.receivedTexts) });
      break;
    case 'typing':
      setPeerTyping(record.typing);
      break;
    case 'read':
      markRead(record.count);
      break;
    case 'resource':
      appendMessage({ kind: 'resource', resource: record.resource });
      announce(t('chat.sharedResource'));
      break;
    case 'end':
    case 'block':
      // The peer's `end`/`block` control frame follows; chat_ended finishes.
      c.peerEnded = true;
      break;
    default:
      break;
  }
}

function setPeerTyping(on) {
  const el = $('#typing');
  if (!el || el.hidden === !on) return;
  el.hidden = !on;
  if (on) scrollToNewest();
}

function markRead(count) {
  const c = state.chat;
  const upTo = count > BigInt(c.sentTexts) ? c.sentTexts : Number(count);
  for (const m of c.messages) {
    if (m.mine && m.index !== null && m.index < upTo && !m.read) {
      m.read = true;
      updateReceipt(m);
    }
  }
}

function sendRecord(record) {
  const c = state.chat;
  if (!c || !c.session || c.session.broken) return false;
  // Seal only what can go: now, or (feature resume) after the resume, in order. A sealed
  // record that never leaves would desynchronise the session's counters, and a message must
  // never look "Sent" when it was not.
  if (!state.conn || !state.conn.canSend) return false;
  try {
    return state.conn.sendData(c.number, c.session.seal(record));
  } catch {
    return false;
  }
}

/** Sends a text record now if the connection can take it; the message's index counts sent texts only. */
function trySend(m) {
  const c = state.chat;
  // Without resume, offline means not sent (the socket may still look open).
  if (navigator.onLine === false && !resuming()) return false;
  const sent = sendRecord({ type: 'text', text: m.text });
  if (!sent) return false;
  m.index = c.sentTexts;
  m.failed = false;
  // A number: kept by the connection until the relay acknowledges it ("Sent" then).
  // `true`: a connection without resume wrote it to an open socket.
  m.seq = typeof sent === 'number' ? sent : null;
  m.acked = m.seq === null || m.seq <= state.relayAcked;
  c.sentTexts += 1;
  return true;
}

/** The relay acknowledged counted messages up to `received`: those are "Sent". */
function onAcked(received) {
  state.relayAcked = received;
  const c = state.chat;
  if (!c) return;
  for (const m of c.messages) {
    if (m.mine && !m.acked && m.seq !== null && m.seq !== undefined && m.seq <= received) {
      m.acked = true;
      updateReceipt(m);
    }
  }
}

/** The socket was lost (reconnecting) or the connection runs again (live). */
function onConnectionState({ state: now }) {
  // #connection-note is a status region: it says "reconnecting" itself; its emptying is
  // silent, so the way back is announced.
  renderConnectionNote();
  if (now === 'live') announce(t('resume.back'));
  if (state.phase === 'queued' || state.phase === 'connecting') updateQueue();
  const c = state.chat;
  if (c) for (const m of c.messages) if (m.mine && !m.acked && !m.failed) updateReceipt(m);
  const input = $('#message');
  if (now === 'live' && input) stopTyping(false);
}

function setPartnerAway(away) {
  state.partnerAway = away;
  const el = $('#partner-note');
  if (el) el.textContent = away ? t('resume.partnerAway') : '';
  if (!away) announce(t('resume.partnerBack'));
}

function sendText() {
  const input = $('#message');
  if (!input || state.phase !== 'chatting') return;
  const text = input.value.trim();
  if (!text) return;
  const c = state.chat;
  const m = { kind: 'text', mine: true, text, id: c.nextId++, index: null, read: false, failed: true };
  trySend(m);
  appendMessage(m);
  input.value = '';
  stopTyping(false);
  input.focus();
}

function retryMessage(m) {
  if (!state.chat || state.phase !== 'chatting' || !m.failed) return;
  if (trySend(m)) updateReceipt(m);
}

function onTypingInput() {
  // Typing is news only now: it is not kept for after a resume.
  if (state.phase !== 'chatting' || !state.conn || !state.conn.isOpen) return;
  if (!state.typingSent) {
    state.typingSent = sendRecord({ type: 'typing', typing: true });
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
}

function stopTyping(send) {
  clearTimeout(state.typingTimer);
  if (state.typingSent && send) sendRecord({ type: 'typing', typing: false });
  state.typingSent = false;
}

function failChat() {
  // Any decryption failure ends the chat: no resynchronisation.
  const c = state.chat;
  if (c) state.conn.send({ type: 'end', chat: c.number });
  closeConnection();
  finish('broken', {});
}

function endChat(kind) {
  const c = state.chat;
  if (c && state.conn) {
    sendRecord({ type: 'end' });
    state.conn.send({ type: 'end', chat: c.number });
  }
  state.userEnded = kind;
}

function onChatEnded(reason) {
  const mine = reason === 'ended';
  closeConnection();
  finish(mine ? 'ended' : 'partner', { detail: mine ? null : t(`reason.${reason}`) });
}

function onClose(info = {}) {
  if (!state.phase || state.phase === 'start' || state.phase === 'ended') return;
  // The relay drops a chat or a place in the queue with the connection: say so plainly.
  if (!info.resumeFailed) {
    finish('lost', {});
    return;
  }
  // The resume failed or its window closed: the relay kept nothing. What was typed during
  // the gap is said to be not sent (its text goes with the chat).
  const c = state.chat;
  // (A message the peer has read got there, even when the relay's ack did not.)
  const unsent = c ? c.messages.filter((m) => m.mine && m.kind === 'text' && !m.acked && !m.read).length : 0;
  const detail = [t(c ? 'resume.endedChat' : 'resume.endedQueue')];
  if (unsent) detail.push(t(unsent === 1 ? 'resume.unsentOne' : 'resume.unsentMany', { n: unsent }));
  finish('lost', { detail: detail.join(' ') });
}

function closeConnection() {
  const conn = state.conn;
  state.conn = null;
  if (conn) conn.close(1000);
}

function dropChat() {
  const c = state.chat;
  if (!c) return;
  if (c.handshake) c.handshake.destroy();
  if (c.session) c.session.destroy();
  state.chat = null;
  stopTyping(false);
}

function finish(kind, { resources, detail } = {}) {
  closeConnection();
  dropChat();
  // The hidden chat view still holds the conversation's text: drop it with the keys.
  clear(views.chat);
  clear(views.queue);
  state.phase = 'ended';
  state.queue = null;
  state.partnerAway = false;
  state.relayAcked = 0;
  renderConnectionNote();
  state.ended = { kind, resources, detail };
  renderEnded();
  announce(t(`ended.${kind}.title`));
}

// ------------------------------------------------------------------ quick exit

function quickExit() {
  // 1. Tell the partner, inside and outside the encryption; 2. close; 3. wipe; 4. leave
  //    without a history entry.
  try {
    const c = state.chat;
    if (c && state.conn) {
      sendRecord({ type: 'end' });
      state.conn.send({ type: 'end', chat: c.number });
    } else if (state.conn && state.phase === 'queued') {
      state.conn.send({ type: 'cancel' });
    }
  } catch {
    // Leaving matters more than telling.
  }
  const conn = state.conn;
  state.conn = null;
  if (conn) conn.close(1000);
  dropChat();
  for (const k of Object.keys(state)) state[k] = null;
  wipeDocument();
  location.replace(NEUTRAL_URL);
}

// ------------------------------------------------------------------ start

async function main() {
  views.loading = $('#view-loading');
  views.start = $('#view-start');
  views.queue = $('#view-queue');
  views.chat = $('#view-chat');
  views.ended = $('#view-ended');
  translateStatic();
  mountLanguageSwitch($('.lang-switch'));
  $('#quick-exit').addEventListener('click', quickExit);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      quickExit();
    }
  });
  // Leaving mid-chat or mid-queue ends it: the browser asks first. (Quick exit clears
  // `state` before it navigates, so it is never held up by this.)
  window.addEventListener('beforeunload', (ev) => {
    if (state.phase && ACTIVE_PHASES.includes(state.phase)) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  });
  window.addEventListener('online', renderConnectionNote);
  window.addEventListener('offline', renderConnectionNote);
  renderConnectionNote();
  const helpButton = $('#show-help');
  helpButton.addEventListener('click', () => {
    const panel = $('#help-panel');
    panel.hidden = !panel.hidden;
    helpButton.setAttribute('aria-expanded', String(!panel.hidden));
  });
  onLanguageChange(() => {
    translateStatic();
    renderKeyNote();
    renderHelpPanel();
    renderEmergencyNote();
    renderConnectionNote();
    rerender();
  });
  try {
    state.programs = await fetchPrograms();
  } catch {
    state.programs = [];
  }
  if (state.programs.length === 1) chooseProgram(state.programs[0].id);
  renderHelpPanel();
  renderEmergencyNote();
  if (!state.programs.length) {
    views.loading.textContent = t('error.programs');
    return;
  }
  // Nothing survives a reload (nothing is stored), so a chat or a wait in progress ended
  // with it: say so instead of an unexplained start page. The browser says it was a reload.
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav && nav.type === 'reload') {
    state.phase = 'ended';
    state.ended = { kind: 'reloaded' };
    renderEnded();
    return;
  }
  renderStart();
}

function rerender() {
  if (!state.phase) return;
  if (state.phase === 'start') renderStart();
  else if (state.phase === 'queued' || state.phase === 'connecting') renderQueue();
  else if (state.chat && ['handshaking', 'chatting', 'verifying'].includes(state.phase)) renderChat();
  else if (state.phase === 'ended') renderEnded();
}

main();
