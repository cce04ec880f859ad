// English and French, one file per language. Nothing is stored: the choice lives in memory
// and starts from the browser's language.
import en from '../i18n/en.json';
import fr from '../i18n/fr.json';

const CATALOGUES = { en, fr };
export const LANGUAGES = Object.keys(CATALOGUES);
let current = (navigator.language || 'en').slice(0, 2) === 'fr' ? 'fr' : 'en';
const listeners = new Set();

export function language() {
  return current;
}

/** t('key', {n: 3}) -> text with {n} replaced. Unknown keys fall back to English, then the key. */
export function t(key, vars = {}) {
  const s = CATALOGUES[current][key] ?? CATALOGUES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function setLanguage(lang) {
  if (!CATALOGUES[lang] || lang === current) return;
  current = lang;
  document.documentElement.lang = lang;
  for (const f of listeners) f();
}

export function onLanguageChange(f) {
  listeners.add(f);
}

/** Fills every [data-i18n] element's text and [data-i18n-attr="attr:key"] attribute. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, t(key));
    }
  }
}

/** Wires a language switch: one button per language, aria-pressed on the current one. */
export function mountLanguageSwitch(container) {
  const render = () => {
    for (const b of container.querySelectorAll('button[data-lang]')) {
      b.setAttribute('aria-pressed', String(b.dataset.lang === current));
    }
  };
  for (const b of container.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', () => setLanguage(b.dataset.lang));
  }
  document.documentElement.lang = current;
  onLanguageChange(render);
  render();
}

/**
 * A human label for a program tag (topic, language, role): the program's own label for the
 * current language when it sends one (`program.labels`, feature `program-details`), else this
 * client's table (`tag.<tag>` in the catalogues), else the tag itself with dashes as spaces.
 * Never a raw English tag where a translation is known.
 */
/** A program-provided text by language (`{"en": "...", "fr": "..."}`): the page's language,
 * else English, else any; null when there is none. */
export function localized(texts) {
  if (!texts || typeof texts !== 'object') return null;
  const pick = texts[current] ?? texts.en ?? Object.values(texts)[0];
  return typeof pick === 'string' && pick ? pick : null;
}

export function tagLabel(tag, program = null) {
  const own = program && program.labels && program.labels[current];
  if (own && typeof own[tag] === 'string' && own[tag]) return own[tag];
  const key = `tag.${tag}`;
  const s = CATALOGUES[current][key] ?? CATALOGUES.en[key];
  return s ?? String(tag).replace(/-/g, ' ');
}

/** HH:MM (24 h) in the reader's time zone, computed in the page. */
export function clockTime(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
