// Where emergency help is: shown on every screen of the seeker flow. The one place that
// decides what the seeker reads about emergencies.
//
// A program may name its emergency services (`program.emergency`, a list of resources, sent
// with the protocol feature `program-details`: e.g. 911 and the 9-8-8 Suicide Crisis
// Helpline). When it names none — or the relay predates that field — the page still says
// where to turn: "call your local emergency number". Never nothing.
import { h } from './dom.js';
import { safeHttpUrl } from './resources.js';

/** The program's emergency entries, or [] when it configures none. */
export function emergencyEntries(program) {
  const list = program && Array.isArray(program.emergency) ? program.emergency : [];
  return list.filter((r) => r && typeof r.title === 'string' && r.title);
}

function telHref(phone) {
  const digits = String(phone).replace(/[^0-9+]/g, '');
  return digits ? `tel:${digits}` : null;
}

/** One compact line per entry: title, then the number as a tap-to-call link, or the address. */
function entryLine(r) {
  const parts = [r.title];
  if (r.phone) {
    const tel = telHref(r.phone);
    parts.push(' — ', tel ? h('a', { href: tel }, r.phone) : r.phone);
  } else if (safeHttpUrl(r.url)) {
    parts.push(' — ', h('a', { href: safeHttpUrl(r.url), rel: 'noopener noreferrer', target: '_blank' }, r.url));
  }
  return h('li', {}, ...parts);
}

/**
 * Fills `el` with the emergency information for `program` (null: no program chosen yet).
 * Text only, through the DOM: nothing from the relay is parsed as HTML.
 */
export function renderEmergency(el, program, t) {
  while (el.firstChild) el.firstChild.remove();
  const entries = emergencyEntries(program);
  if (!entries.length) {
    el.append(h('strong', {}, t('emergency.fallback')));
    return;
  }
  el.append(h('strong', {}, t('emergency.lead')), h('ul', { class: 'emergency-list' }, entries.map(entryLine)));
}
