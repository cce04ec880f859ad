// Tiny DOM helpers. Text is always set with textContent: nothing received from the relay
// or the partner is ever parsed as HTML.

/**
 * h('button', {class: 'x', onclick: f, type: 'button'}, 'text', child)
 * Attribute values of `false`/`null`/`undefined` are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

/** Shows exactly one of the elements (by `hidden`). */
export function showOnly(elements, visible) {
  for (const el of elements) el.hidden = el !== visible;
}

/** Wipes the page's visible state (quick exit): no text is left in the DOM. */
export function wipeDocument() {
  try {
    document.title = '';
    clear(document.body);
  } catch {
    // Nothing else to do: the navigation that follows discards the page anyway.
  }
}
