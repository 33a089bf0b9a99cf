// Small DOM helpers. User-supplied text only ever enters the page through
// textContent or Text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);

// h creates an element. props: class, text, dataset, on* listeners, aria-*
// and other attributes; children are nodes or strings (made Text nodes).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// icon clones one of the SVG icons of the page's <template id="icons">.
export function icon(name, cls = '') {
  const tpl = $('icons');
  const src = tpl && tpl.content.querySelector(`svg[data-icon="${name}"]`);
  if (!src) return document.createElement('span');
  const svg = src.cloneNode(true);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  if (cls) svg.classList.add(cls);
  return svg;
}

// initial is the first character of a name, upper-cased, for avatars.
export function initial(name) {
  return ([...String(name || '').trim()][0] || '?').toUpperCase();
}

// toast shows a short message at the bottom of the page for a few seconds.
export function toast(text, ms = 3500) {
  const box = $('toasts');
  if (!box) return;
  const t = h('div', { class: 'toast', text });
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

// visible tells whether an element is rendered (not display:none anywhere up).
export function visible(el) {
  if (!el || !el.isConnected) return false;
  if (el.checkVisibility) return el.checkVisibility();
  return el.getClientRects().length > 0;
}

export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// store reads and writes localStorage, which may be unavailable.
export const store = {
  get(key) {
    try { return localStorage.getItem(key); } catch (_) { return null; }
  },
  set(key, value) {
    try { localStorage.setItem(key, value); } catch (_) { /* storage off */ }
  },
};
