// The seeker page: choose a program, ask for a peer, wait, verify the peer in the page,
// chat end to end encrypted, leave (end chat or quick exit). Nothing is stored: all state
// lives in the `state` object below and is dropped on exit.

import { h, $, clear, showOnly, wipeDocument } from '../ui/dom.js';
import { t, translateStatic, mountLanguageSwitch, onLanguageChange } from '../ui/i18n.js';
import { resourceList, resourceCard } from '../ui/resources.js';
import { RelayConnection, fetchPrograms, b64, PROTOCOL_VERSION } from '../net/relay.js';
import { verifyChain, SeekerHandshake, fromHex, toHex } from '../crypto/index.js';
import { PINNED_ROOT_KEYS, NEUTRAL_URL } from '../config.js';

const TYPING_IDLE_MS = 3000;

/** Everything the page knows. Reset (and its keys wiped) on exit or end. */
const state = {
  programs: [],
  program: null, // the chosen program description
  rootKey: null, // Uint8Array, pinned or (dev) from /v1/programs
  rootKeyPinned: false,
  prefs: { topic: '', language: '', peer_role: '' },
  department: '', // checked locally against the certificate, never sent
  conn: null,
  phase: 'start', // start | connecting | queued | verifying | handshaking | chatting | ended
  queue: null,
  chat: null, // {number, handshake, session, peer, messages, sent, receivedTexts, readByPeer, peerTyping}
  minRevocationSequence: 0n, // highest revocation sequence seen in this page's life
  ended: null, // {kind, reason, resources}
  typingTimer: null,
  typingSent: false,
};

const views = {};

function announce(text) {
  const s = $('#status');
  s.textContent = '';
  // A fresh text node so screen readers announce repeats too.
  setTimeout(() => (s.textContent = text), 30);
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
  $('#program-name').textContent = program.name;
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
      const el = h('select', { id, name }, h('option', { value: '' }, t('start.any')), options.map((o) => h('option', { value: o, selected: state.prefs[name] === o }, tagLabel(o))));
      el.addEventListener('change', () => (state.prefs[name] = el.value));
      return h('div', { class: 'field' }, h('label', { for: id }, label), el);
    };
    const opts = h('details', { class: 'options', open: Object.values(state.prefs).some(Boolean) || !!state.department });
    opts.append(h('summary', {}, t('start.options')));
    if (p.topics && p.topics.length) opts.append(select('topic', t('start.topic'), p.topics));
    if (p.languages && p.languages.length) opts.append(select('language', t('start.language'), p.languages));
    if (p.peer_roles && p.peer_roles.length) opts.append(select('peer_role', t('start.role'), p.peer_roles));
    const dep = h('input', { id: 'department', name: 'department', type: 'text', autocomplete: 'off', spellcheck: 'false', value: state.department, 'aria-describedby': 'department-hint' });
    dep.addEventListener('input', () => (state.department = dep.value));
    opts.append(
      h('div', { class: 'field' }, h('label', { for: 'department' }, t('start.department')), dep, h('p', { id: 'department-hint', class: 'hint' }, t('start.departmentHint'))),
    );
    form.append(opts);
  }
  form.append(h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'talk', disabled: !p }, t('start.talk'))));
  v.append(form);
  show('start');
}

function tagLabel(tag) {
  const key = `tag.${tag}`;
  const s = t(key);
  return s === key ? tag.replace(/-/g, ' ') : s;
}

function renderQueue() {
  const v = views.queue;
  clear(v);
  const q = state.queue;
  const lines = [];
  if (!q) lines.push(h('p', {}, t('queue.connecting')));
  else {
    lines.push(h('p', { class: 'big' }, t('queue.position', { n: q.position })));
    lines.push(h('p', {}, t('queue.peers', { n: q.peers_online })));
    lines.push(h('p', {}, q.estimate_secs === undefined ? t('queue.noEstimate') : t('queue.estimate', { min: Math.max(1, Math.round(q.estimate_secs / 60)) })));
  }
  v.append(
    h(
      'div',
      { class: 'card stack' },
      h('h1', {}, t('queue.title')),
      h('div', { class: 'queue', id: 'queue-state', 'aria-live': 'polite', 'aria-atomic': 'true' }, lines),
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'cancel', onclick: cancelSeeking }, t('queue.cancel'))),
    ),
  );
  show('queue');
}

function renderChat() {
  const v = views.chat;
  clear(v);
  const c = state.chat;
  const peer = c.peer;
  const header = h(
    'div',
    { class: 'peer-card', id: 'peer-card' },
    h('h1', { class: 'peer-name' }, h('span', { id: 'peer-name' }, peer.displayName), peer.role ? h('span', { class: 'peer-role', id: 'peer-role' }, ` · ${peer.role}`) : null),
    h('p', { class: 'verified' }, h('span', { 'aria-hidden': 'true' }, '✓ '), t('chat.verified', { program: state.program.name })),
    peer.department ? h('p', { class: 'hint' }, t('chat.department', { department: peer.department })) : null,
  );
  const log = h('ol', { class: 'log', id: 'chat-log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': t('chat.log') });
  const typing = h('p', { class: 'typing', id: 'typing', hidden: true }, t('chat.typing', { name: peer.displayName }));
  const input = h('textarea', { id: 'message', rows: '2', maxlength: '4000', 'aria-label': t('chat.message'), disabled: state.phase !== 'chatting' });
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
  v.append(
    h(
      'div',
      { class: 'card chat' },
      header,
      status,
      log,
      typing,
      form,
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'end-chat', onclick: () => endChat('ended') }, t('chat.end'))),
    ),
  );
  for (const m of c.messages) log.append(renderMessage(m));
  show('chat');
}

function renderMessage(m) {
  if (m.kind === 'resource') {
    return h('li', { class: 'msg theirs resource' }, h('p', { class: 'who' }, t('chat.sharedResource')), resourceCard(m.resource, t, 2));
  }
  if (m.kind === 'system') return h('li', { class: 'msg system' }, m.text);
  const li = h('li', { class: `msg ${m.mine ? 'mine' : 'theirs'}` }, h('p', { class: 'who visually-hidden' }, m.mine ? t('chat.you') : state.chat.peer.displayName), h('p', { class: 'text' }, m.text));
  if (m.mine) {
    li.append(h('p', { class: 'receipt', 'data-index': m.index }, m.read ? t('chat.read') : t('chat.sent')));
  }
  return li;
}

function appendMessage(m) {
  state.chat.messages.push(m);
  const log = $('#chat-log');
  if (log) {
    log.append(renderMessage(m));
    log.lastElementChild.scrollIntoView({ block: 'end', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  }
}

function renderEnded() {
  const v = views.ended;
  clear(v);
  const e = state.ended || { kind: 'ended' };
  const parts = [h('h1', {}, t(`ended.${e.kind}.title`))];
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

async function startSeeking() {
  if (!state.program || !state.rootKey) return;
  state.phase = 'connecting';
  state.queue = null;
  renderQueue();
  announce(t('queue.connecting'));
  const conn = new RelayConnection({ onControl, onData, onClose });
  state.conn = conn;
  try {
    await conn.open();
  } catch {
    if (state.conn === conn) finish('error', { detail: t('error.connect') });
    return;
  }
  conn.send({ type: 'hello', v: PROTOCOL_VERSION, role: 'seeker', program: state.program.id });
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
      state.conn.send(seekFrame());
      break;
    case 'queued':
      state.phase = 'queued';
      state.queue = frame;
      renderQueue();
      announce(t('queue.position', { n: frame.position }));
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
      // Non-fatal codes are the normal result of races (spec "Error catalogue").
      if (['unknown_chat', 'unknown_offer', 'invalid_field', 'already_seeking', 'not_available'].includes(frame.code)) return;
      if (state.chat && state.phase === 'chatting') return; // the close that follows ends it
      finish('error', { detail: t('error.relay', { code: String(frame.code) }) });
      break;
    default:
      // A frame we do not understand: client and relay disagree on the protocol.
      state.conn.close(1002);
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
    state.conn.send({ type: 'end', chat: number });
    closeConnection();
    finish('department', {});
    return;
  }
  let start;
  try {
    start = SeekerHandshake.start(cert.x25519Public, supporter);
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
    peer: { displayName: cert.displayName, role: cert.role, department: cert.department, fingerprint: toHex(verified.certificateHash).slice(0, 16) },
    messages: [],
    sentTexts: 0,
    receivedTexts: 0,
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
  if (el) el.hidden = !on;
}

function markRead(count) {
  const c = state.chat;
  const upTo = count > BigInt(c.sentTexts) ? c.sentTexts : Number(count);
  for (const m of c.messages) {
    if (m.mine && m.index < upTo && !m.read) {
      m.read = true;
      const el = document.querySelector(`.receipt[data-index="${m.index}"]`);
      if (el) el.textContent = t('chat.read');
    }
  }
}

function sendRecord(record) {
  const c = state.chat;
  if (!c || !c.session || c.session.broken) return false;
  try {
    state.conn.sendData(c.number, c.session.seal(record));
    return true;
  } catch {
    return false;
  }
}

function sendText() {
  const input = $('#message');
  if (!input || state.phase !== 'chatting') return;
  const text = input.value.trim();
  if (!text) return;
  if (!sendRecord({ type: 'text', text })) return;
  const c = state.chat;
  appendMessage({ kind: 'text', mine: true, text, index: c.sentTexts, read: false });
  c.sentTexts += 1;
  input.value = '';
  stopTyping(false);
  input.focus();
}

function onTypingInput() {
  if (state.phase !== 'chatting') return;
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

function onClose() {
  if (!state.phase || state.phase === 'start' || state.phase === 'ended') return;
  finish('error', { detail: t('error.closed') });
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
    rerender();
  });
  try {
    state.programs = await fetchPrograms();
  } catch {
    state.programs = [];
  }
  if (state.programs.length === 1) chooseProgram(state.programs[0].id);
  renderHelpPanel();
  if (!state.programs.length) {
    views.loading.textContent = t('error.programs');
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
