// Resource cards: the operator's resources (no_peer, footer) and the cards a peer shares.
// Only http(s) URLs become links (spec: a client MUST NOT render any other scheme as one).
import { h } from './dom.js';

export function safeHttpUrl(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

function telHref(phone) {
  const digits = String(phone).replace(/[^0-9+]/g, '');
  return digits ? `tel:${digits}` : null;
}

/**
 * One card: title, then link / phone / email if present. `level` is the title's heading level:
 * one below the heading the card sits under, so the outline never skips a level.
 */
export function resourceCard(resource, t, level = 3) {
  const href = safeHttpUrl(resource.url);
  const tel = resource.phone ? telHref(resource.phone) : null;
  const items = [];
  if (href) items.push(h('li', {}, h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, resource.url)));
  else if (resource.url) items.push(h('li', {}, resource.url));
  if (resource.phone) {
    items.push(h('li', {}, t('resource.phone'), ' ', tel ? h('a', { href: tel }, resource.phone) : resource.phone));
  }
  if (resource.email) {
    items.push(h('li', {}, t('resource.email'), ' ', h('a', { href: `mailto:${resource.email}` }, resource.email)));
  }
  return h('article', { class: 'resource-card' }, h(`h${level}`, {}, resource.title), items.length ? h('ul', {}, items) : null);
}

export function resourceList(resources, t) {
  return h('div', { class: 'resource-list' }, (resources || []).map((r) => resourceCard(r, t)));
}
