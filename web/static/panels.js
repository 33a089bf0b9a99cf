// The side panels of the meeting (chat, participants, devices), one open at
// a time, and the invite link.

import { h, toast } from './dom.js';

export class Panels {
  // panels: {name: {panel, toggle}}. onOpen(name): a panel opened or all
  // closed (null).
  constructor(panels, onOpen) {
    this.panels = panels;
    this.onOpen = onOpen;
    for (const [name, p] of Object.entries(panels)) {
      p.toggle.addEventListener('click', () => this.open(p.panel.hidden ? name : null));
      p.panel.querySelectorAll('[data-close]').forEach((b) => b.addEventListener('click', () => this.open(null)));
    }
    // Escape closes the open panel and returns to its button.
    document.addEventListener('keydown', (e) => {
      const name = this.current();
      if (e.key !== 'Escape' || !name) return;
      this.open(null);
      this.panels[name].toggle.focus();
    });
  }

  current() {
    return Object.keys(this.panels).find((name) => !this.panels[name].panel.hidden) || null;
  }

  // open shows the panel name, or closes them all (null).
  open(name) {
    if (name !== null && !this.panels[name]) return this.current();
    for (const [n, p] of Object.entries(this.panels)) {
      p.panel.hidden = n !== name;
      p.toggle.setAttribute('aria-expanded', String(n === name));
    }
    document.body.dataset.panel = name || '';
    this.onOpen(name);
    return name;
  }
}

export function inviteLink(room) {
  const url = new URL(location.pathname, location.origin);
  url.searchParams.set('room', room || '');
  return url.toString();
}

// copyText copies text to the clipboard; where the clipboard is out of reach
// (plain HTTP on another host) it shows the text to copy by hand.
export async function copyText(text, done) {
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      copied = true;
    }
  } catch (_) { /* fall back below */ }
  if (!copied) {
    const area = h('textarea', { class: 'sr-only', readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    try { copied = document.execCommand('copy'); } catch (_) { copied = false; }
    area.remove();
  }
  toast(copied ? done : `Copy this link: ${text}`, copied ? 3000 : 10000);
  return copied;
}
