// The peer console: load key, credential and revocation list from files the supporter
// picks (kept in memory only), prove possession, set availability, take offers, run
// several chats in tabs, share the program's resource cards, end or block.

import { h, $, clear, showOnly } from '../ui/dom.js';
import { t, translateStatic, mountLanguageSwitch, onLanguageChange } from '../ui/i18n.js';
import { resourceCard } from '../ui/resources.js';
import { RelayConnection, b64, PROTOCOL_VERSION } from '../net/relay.js';
import {
  decodeSupporterKeyFile,
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

const state = {
  files: { key: null, credential: null, revocation: null }, // decoded, in memory only
  certificate: null,
  conn: null,
  phase: 'login', // login | connecting | verified
  program: null,
  availability: { status: 'available', capacity: 2, topics: [], languages: [], auto_accept: false },
  availabilitySet: null,
  offers: new Map(), // offer number -> {offer, topic, language, expiresAt}
  chats: new Map(), // chat number -> {number, session, messages, ended, sentTexts, receivedTexts, unread}
  activeChat: null,
  displayName: null,
  loginError: null,
};

const views = {};

function announce(text) {
  const s = $('#status');
  s.textContent = '';
  setTimeout(() => (s.textContent = text), 30);
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
  state.files = { key: null, credential: null, revocation: null };
  state.certificate = null;
}

async function connect() {
  state.loginError = null;
  let key;
  let credential;
  let revocation;
  try {
    key = decodeSupporterKeyFile(await readFile('key-file'));
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
  state.files = { key, credential, revocation };
  state.certificate = cert;
  state.phase = 'connecting';
  const conn = new RelayConnection({ onControl, onData, onClose });
  state.conn = conn;
  await conn.open();
  conn.send({ type: 'hello', v: PROTOCOL_VERSION, role: 'peer', program: cert.program });
  announce(t('peer.connecting'));
}

// ------------------------------------------------------------------ relay frames

function onControl(frame) {
  switch (frame.type) {
    case 'welcome':
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
    case 'verified':
      state.phase = 'verified';
      state.displayName = frame.display_name;
      if (frame.display_name !== state.certificate.displayName) announce(t('peer.nameMismatch'));
      renderConsole();
      announce(t('peer.verified', { name: frame.display_name }));
      break;
    case 'availability_set':
      state.availabilitySet = frame;
      renderAvailabilityStatus();
      break;
    case 'offer':
      state.offers.set(frame.offer, { ...frame, expiresAt: Date.now() + frame.expires_in_ms });
      renderOffers();
      announce(t('peer.offer.new'));
      break;
    case 'offer_withdrawn':
      state.offers.delete(frame.offer);
      renderOffers();
      break;
    case 'chat_started':
      state.offers.delete(frame.offer);
      state.chats.set(frame.chat, { number: frame.chat, session: null, messages: [], ended: null, sentTexts: 0, receivedTexts: 0, unread: 0, seekerTyping: false });
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
        c.messages.push({ kind: 'system', text: t(`reason.${frame.reason}`) });
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
      if (['credential_rejected', 'possession_failed', 'hello_timeout', 'unknown_program', 'credential_revoked'].includes(frame.code)) {
        loginFailed(t('peer.error.relay', { code: frame.code }));
      } else {
        announce(t('error.relay', { code: String(frame.code) }));
      }
      break;
    default:
      state.conn.close(1002);
  }
}

function onData({ chat, message }) {
  const c = state.chats.get(chat);
  if (!c || c.ended) return;
  if (!c.session) {
    // msg1: answer with msg2.
    try {
      const { session, msg2 } = peerRespond(state.files.key, state.files.credential.supporterCertificate, message);
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
      c.messages.push({ kind: 'text', mine: false, text: record.text });
      if (state.activeChat === chat && !document.hidden) sendRecord(c, { type: 'read', count: BigInt(c.receivedTexts) });
      else c.unread += 1;
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
      c.messages.push({ kind: 'resource', resource: record.resource, mine: false });
      break;
    case 'end':
    case 'block':
      c.messages.push({ kind: 'system', text: t('peer.chat.seekerEnded') });
      break;
    default:
      break;
  }
  renderTabs();
}

function onClose() {
  if (state.phase === 'login') return;
  for (const c of state.chats.values()) if (c.session) c.session.destroy();
  state.chats.clear();
  state.offers.clear();
  state.activeChat = null;
  state.conn = null;
  loginFailed(t('error.closed'));
}

function sendRecord(c, record) {
  if (!c.session || c.session.broken || c.ended) return false;
  try {
    state.conn.sendData(c.number, c.session.seal(record));
    return true;
  } catch {
    return false;
  }
}

function endChat(chat, how) {
  const c = state.chats.get(chat);
  if (!c || c.ended) return;
  sendRecord(c, { type: how === 'block' ? 'block' : 'end' });
  state.conn.send({ type: how === 'block' ? 'block' : 'end', chat });
}

// ------------------------------------------------------------------ console UI

function renderConsole() {
  const v = views.console;
  clear(v);
  const cert = state.certificate;
  v.append(
    h(
      'div',
      { class: 'card' },
      h('h1', {}, t('peer.console.title')),
      h('p', {}, t('peer.console.signedIn', { name: state.displayName || cert.displayName, role: cert.role || '—' })),
    ),
    renderAvailabilityForm(),
    h('section', { class: 'card', 'aria-labelledby': 'offers-title' }, h('h2', { id: 'offers-title' }, t('peer.offers.title')), h('div', { id: 'offers', 'aria-live': 'polite' })),
    h('section', { class: 'card', 'aria-labelledby': 'chats-title' }, h('h2', { id: 'chats-title' }, t('peer.chats.title')), h('div', { id: 'chats' })),
  );
  showOnly([views.login, views.console], views.console);
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
            h('div', { class: 'choice' }, h('input', { type: 'checkbox', name, id: `${name}-${tag}`, value: tag, checked: chosen.includes(tag) }), h('label', { for: `${name}-${tag}` }, tag.replace(/-/g, ' '))),
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
    state.conn.send(frame);
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

function renderOffers() {
  const el = $('#offers');
  if (!el) return;
  clear(el);
  if (!state.offers.size) {
    el.append(h('p', { class: 'hint' }, t('peer.offers.none')));
    return;
  }
  const list = h('ul', { class: 'offers' });
  for (const o of state.offers.values()) {
    const secs = Math.max(0, Math.round((o.expiresAt - Date.now()) / 1000));
    list.append(
      h(
        'li',
        { class: 'offer', 'data-offer': o.offer },
        h('p', {}, t('peer.offer.text', { topic: o.topic ? o.topic.replace(/-/g, ' ') : t('peer.offer.anyTopic'), language: o.language || t('peer.offer.anyLanguage') })),
        h('p', { class: 'hint' }, t('peer.offer.expires', { s: secs })),
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
  state.conn.send({ type: how, offer });
  if (how === 'decline') {
    state.offers.delete(offer);
    renderOffers();
  }
}

function renderTabs() {
  const el = $('#chats');
  if (!el) return;
  const focusedId = document.activeElement && document.activeElement.id;
  // Every record from the seeker re-renders the panel: keep what the peer was typing and
  // the resource card they had picked (a read receipt must not undo their choice).
  const draft = $('#peer-message') ? $('#peer-message').value : '';
  const picked = $('#share-resource') ? $('#share-resource').value : '';
  const draftChat = state.activeChat;
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
  el.append(tabs, renderPanel(state.chats.get(state.activeChat)));
  const input = $('#peer-message');
  if (input && draftChat === state.activeChat) input.value = draft;
  const share = $('#share-resource');
  if (share && !share.disabled && draftChat === state.activeChat) share.value = picked;
  if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
}

function selectChat(n) {
  state.activeChat = n;
  const c = state.chats.get(n);
  if (c && c.unread) {
    c.unread = 0;
    sendRecord(c, { type: 'read', count: BigInt(c.receivedTexts) });
  }
  renderTabs();
}

function renderPanel(c) {
  const log = h('ol', { class: 'log', id: `log-${c.number}`, 'aria-live': 'polite', 'aria-label': t('chat.log') });
  for (const m of c.messages) {
    if (m.kind === 'system') log.append(h('li', { class: 'msg system' }, m.text));
    else if (m.kind === 'resource') log.append(h('li', { class: `msg ${m.mine ? 'mine' : 'theirs'} resource` }, resourceCard(m.resource, t)));
    else
      log.append(
        h(
          'li',
          { class: `msg ${m.mine ? 'mine' : 'theirs'}` },
          h('p', { class: 'text' }, m.text),
          m.mine ? h('p', { class: 'receipt' }, m.read ? t('chat.read') : t('chat.sent')) : null,
        ),
      );
  }
  const live = !!c.session && !c.ended;
  const input = h('textarea', { id: 'peer-message', rows: '2', disabled: !live, 'aria-label': t('chat.message') });
  let typingTimer = null;
  let typingSent = false;
  input.addEventListener('input', () => {
    if (!typingSent) typingSent = sendRecord(c, { type: 'typing', typing: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => {
      if (typingSent) sendRecord(c, { type: 'typing', typing: false });
      typingSent = false;
    }, 3000);
  });
  const send = () => {
    const text = input.value.trim();
    if (!text || !sendRecord(c, { type: 'text', text })) return;
    clearTimeout(typingTimer);
    typingSent = false;
    c.messages.push({ kind: 'text', mine: true, text, index: c.sentTexts, read: false });
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
      c.messages.push({ kind: 'resource', resource: card, mine: true });
      renderTabs();
    }
  });
  return h(
    'div',
    { role: 'tabpanel', id: `panel-${c.number}`, 'aria-labelledby': `tab-${c.number}`, class: 'chat' },
    h('p', { class: 'hint' }, c.ended ? t('peer.chat.closed') : c.session ? t('chat.secure') : t('peer.chat.waiting')),
    log,
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
    if (state.phase === 'verified') renderConsole();
    else renderLogin();
  });
  setInterval(() => {
    if (state.offers.size) {
      for (const o of state.offers.values()) {
        const el = document.querySelector(`[data-offer="${o.offer}"] .hint`);
        if (el) el.textContent = t('peer.offer.expires', { s: Math.max(0, Math.round((o.expiresAt - Date.now()) / 1000)) });
      }
    }
  }, 1000);
  renderLogin();
}

main();
