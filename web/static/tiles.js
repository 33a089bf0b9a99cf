// The video tiles and their layout: a grid sized to fit every tile at 16:9,
// or a stage where one tile (a screen share, or a pinned participant) is large
// and the others run in a strip beside or below it.

import { h, icon, initial, visible } from './dom.js';

const ASPECT = 16 / 9;
const GAP = 8;

export class Tiles {
  // layout holds stage (the large tile) and strip (every other tile; the
  // grid when nothing is staged).
  constructor({ layout, stage, strip, onPin }) {
    this.layoutEl = layout;
    this.stage = stage;
    this.strip = strip;
    this.onPin = onPin;
    this.map = new Map(); // key -> tile record
    this.pinned = null;
    this.seq = 0;
    this.observer = new ResizeObserver(() => this.layout());
    this.observer.observe(layout);
  }

  get(key) { return this.map.get(key); }

  // ensure makes the tile of key if missing. kind is camera or screen;
  // participantId is null for the local tiles.
  ensure(key, { name, kind = 'camera', local = false, participantId = null }) {
    let t = this.map.get(key);
    if (t) return t;
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    video.playsInline = true;
    const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' }, h('span', { class: 'avatar-letter' }));
    const nameEl = h('span', { class: 'name' });
    const label = h('div', { class: 'label' },
      h('span', { class: 'ind ind-mic', title: 'Microphone off' }, icon('mic-off')),
      h('span', { class: 'ind ind-cam', title: 'Camera off' }, icon('cam-off')),
      nameEl);
    const pin = h('button', { type: 'button', class: 'pin', 'aria-pressed': 'false' }, icon('pin'));
    const el = h('div', { class: `tile ${kind}${local ? ' local' : ''}`, role: 'group', dataset: { key, kind } },
      video, avatar, label, pin);
    if (participantId) {
      if (kind === 'camera') el.dataset.participantId = participantId;
      else el.dataset.screenOf = participantId;
    }
    if (local && kind === 'camera') el.dataset.self = 'true';
    pin.addEventListener('click', () => this.togglePin(key));
    el.addEventListener('dblclick', () => this.togglePin(key));
    // Screens first, then the local tile, then the others in order of arrival.
    el.style.order = String(kind === 'screen' ? 0 : local ? 1 : 2 + this.seq++);
    t = { key, kind, local, participantId, el, video, avatar, nameEl, pin, track: null, name: '' };
    this.map.set(key, t);
    this.setName(key, name);
    this.strip.append(el);
    this.layout();
    return t;
  }

  setName(key, name) {
    const t = this.map.get(key);
    if (!t) return;
    t.name = String(name || '');
    const shown = t.kind === 'screen' ? `${t.name} (screen)` : t.name;
    t.nameEl.textContent = shown;
    t.avatar.firstChild.textContent = initial(t.name);
    t.el.setAttribute('aria-label', shown);
    this.updatePin(t);
  }

  remove(key) {
    const t = this.map.get(key);
    if (!t) return;
    t.video.srcObject = null;
    t.el.remove();
    this.map.delete(key);
    if (this.pinned === key) this.pinned = null;
    this.layout();
  }

  // clearRemote removes every tile but the local ones (rejoining).
  clearRemote() {
    for (const [key, t] of this.map) if (!t.local) this.remove(key);
  }

  clear() {
    for (const key of [...this.map.keys()]) this.remove(key);
    this.pinned = null;
  }

  // setVideo shows track (or nothing) in the tile of key.
  setVideo(key, track) {
    const t = this.map.get(key);
    if (!t || t.track === track) return;
    t.track = track || null;
    t.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) t.video.play().catch(() => {}); // autoplay does it too; muted video may always play
    this.refresh(t);
  }

  // setState sets the microphone and camera states of a tile: on, off
  // (muted) or none (no such device).
  setState(key, { mic, cam }) {
    const t = this.map.get(key);
    if (!t) return;
    if (mic) t.el.dataset.mic = mic;
    if (cam) t.el.dataset.cam = cam;
    const micText = mic === 'off' ? 'Microphone muted' : 'No microphone';
    t.el.querySelector('.ind-mic').title = micText;
    this.refresh(t);
  }

  refresh(t) {
    const showVideo = !!t.track && (t.kind === 'screen' || t.el.dataset.cam === 'on');
    if (showVideo) t.el.dataset.video = 'on';
    else delete t.el.dataset.video;
  }

  // setSpeaking highlights the tile of key (null: none).
  setSpeaking(key) {
    for (const [k, t] of this.map) {
      if (k === key) t.el.dataset.speaking = 'true';
      else delete t.el.dataset.speaking;
    }
  }

  togglePin(key) {
    this.pin(this.pinned === key ? null : key);
  }

  pin(key) {
    this.pinned = key && this.map.has(key) ? key : null;
    for (const t of this.map.values()) this.updatePin(t);
    this.layout();
    if (this.onPin) this.onPin(this.pinned);
  }

  updatePin(t) {
    const pinned = this.pinned === t.key;
    t.pin.setAttribute('aria-pressed', String(pinned));
    const text = pinned ? `Unpin ${t.nameEl.textContent}` : `Pin ${t.nameEl.textContent} to the stage`;
    t.pin.setAttribute('aria-label', text);
    t.pin.title = text;
  }

  // staged is the key of the large tile: the pinned one, else the latest
  // screen share of someone else, else null (the grid).
  staged() {
    if (this.pinned && this.map.has(this.pinned)) return this.pinned;
    let screen = null;
    for (const t of this.map.values()) if (t.kind === 'screen' && !t.local && t.track) screen = t.key;
    return screen;
  }

  count() { return this.map.size; }

  // layout puts the staged tile on the stage and sizes the grid.
  layout() {
    const staged = this.staged();
    for (const t of this.map.values()) {
      const home = t.key === staged ? this.stage : this.strip;
      if (t.el.parentNode !== home) home.append(t.el);
      t.el.toggleAttribute('data-staged', t.key === staged);
    }
    this.layoutEl.dataset.mode = staged ? 'stage' : 'grid';
    if (staged) {
      this.strip.style.gridTemplateColumns = '';
      return;
    }
    const n = this.strip.childElementCount;
    const W = this.strip.clientWidth;
    const H = this.strip.clientHeight;
    if (!n || !W || !H) return;
    const { cols, width } = bestGrid(n, W, H);
    this.strip.style.gridTemplateColumns = `repeat(${cols}, ${Math.floor(width)}px)`;
  }

  // state describes a tile for the test hook: what is shown on it.
  state(key) {
    const t = this.map.get(key);
    if (!t) return null;
    return {
      name: t.name,
      mic: t.el.dataset.mic || 'none',
      cam: t.el.dataset.cam || 'none',
      mutedMic: visible(t.el.querySelector('.ind-mic')),
      mutedCam: visible(t.el.querySelector('.ind-cam')),
      video: t.el.dataset.video === 'on',
      speaking: t.el.dataset.speaking === 'true',
      pinned: this.pinned === key,
      staged: t.el.hasAttribute('data-staged'),
    };
  }
}

// bestGrid picks the number of columns that makes n 16:9 tiles largest in a
// W x H box. Tiles never get narrower than a minimum: beyond that they keep
// that width and the grid scrolls instead (a very large meeting).
export function bestGrid(n, W, H) {
  const minWidth = Math.min(W, W < 600 ? 150 : 200);
  let best = { cols: 1, width: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const width = Math.min((W - GAP * (cols - 1)) / cols, ((H - GAP * (rows - 1)) / rows) * ASPECT);
    if (width > best.width) best = { cols, width };
  }
  if (best.width < minWidth) {
    best = { cols: Math.max(1, Math.floor((W + GAP) / (minWidth + GAP))), width: minWidth };
  }
  return best;
}
