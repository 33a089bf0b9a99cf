// The chat panel: messages with their sender and time, an unread count while
// the panel is closed. Message text is set with textContent only: whatever it
// holds is shown as text, never parsed as HTML.

import { h } from './dom.js';

export const MAX_CHAT = 4096; // code points, as the server counts

export class Chat {
  // send(text) sends a message; it returns false if it could not.
  constructor({ log, form, input, badge, empty, send }) {
    this.logEl = log;
    this.input = input;
    this.badge = badge;
    this.empty = empty;
    this.send = send;
    this.unread = 0;
    this.isOpen = false;
    this.onunread = () => {};
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter makes a new line.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    input.addEventListener('input', () => this.grow());
  }

  submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.send(text)) {
      this.input.value = '';
      this.grow();
    }
  }

  grow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
  }

  // add shows a chat message from the server: {from: {id, name}, text, ts}.
  add(msg, selfId) {
    const from = (msg && msg.from) || {};
    const self = from.id === selfId;
    const when = new Date(Number(msg.ts) || Date.now());
    const time = h('time', { datetime: when.toISOString(), text: when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) });
    const item = h('li', { class: self ? 'msg self' : 'msg', dataset: { from: String(from.id || '') } },
      h('div', { class: 'msg-head' }, h('span', { class: 'msg-from', text: self ? 'You' : String(from.name || 'Someone') }), time),
      h('p', { class: 'msg-text', text: String(msg.text ?? '') }));
    item.dataset.name = String(from.name || '');
    const atBottom = this.logEl.scrollHeight - this.logEl.scrollTop - this.logEl.clientHeight < 40;
    this.logEl.append(item);
    this.empty.hidden = true;
    if (atBottom || self) this.logEl.scrollTop = this.logEl.scrollHeight;
    if (!this.isOpen && !self) this.setUnread(this.unread + 1);
  }

  setOpen(open) {
    this.isOpen = open;
    if (open) {
      this.setUnread(0);
      this.logEl.scrollTop = this.logEl.scrollHeight;
    }
  }

  setUnread(n) {
    this.unread = n;
    this.badge.textContent = n > 99 ? '99+' : String(n);
    this.badge.hidden = n === 0;
    this.onunread(n);
  }

  clear() {
    this.logEl.textContent = '';
    this.empty.hidden = false;
    this.setUnread(0);
  }

  // log lists the rendered messages: {name, text, time, self}.
  log() {
    return [...this.logEl.querySelectorAll('.msg')].map((li) => ({
      name: li.dataset.name,
      from: li.dataset.from,
      shownFrom: li.querySelector('.msg-from').textContent,
      text: li.querySelector('.msg-text').textContent,
      time: li.querySelector('time').textContent,
      self: li.classList.contains('self'),
    }));
  }
}

// chatProblem tells why text cannot be sent, or null.
export function chatProblem(text) {
  const n = [...String(text)].length;
  if (n < 1) return 'The message is empty';
  if (n > MAX_CHAT) return `The message is too long (at most ${MAX_CHAT} characters)`;
  return null;
}
