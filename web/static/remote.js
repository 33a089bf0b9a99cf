// The other participants and what is received from them: a tile each, their
// microphone and camera states (from track-published and track-muted), a
// stage tile for a screen share, and an <audio> element per audio track.

import { h, toast } from './dom.js';

export class Remote {
  // getPeer(): the current Peer, or null. selfId(): the own participant id.
  // sinkId(): the chosen speaker. soundBox: where a "turn sound on" button
  // goes if the browser blocks playback. onChange(): someone came, went or
  // changed state.
  constructor({ tiles, audioBox, soundBox, getPeer, selfId, sinkId, onChange }) {
    Object.assign(this, { tiles, audioBox, soundBox, getPeer, selfId, sinkId, onChange });
    this.participants = {};      // id -> {id, name}: the test hook's participants
    this.published = new Map();  // id -> Map(trackId -> {trackId, kind, source, muted})
    this.sinks = new Map();      // mid -> {el, track}
  }

  isKnown(id) {
    return Object.hasOwn(this.participants, id);
  }

  add(p, announce) {
    if (!p || !p.id || p.id === this.selfId()) return;
    const name = String(p.name || '');
    this.participants[p.id] = { id: p.id, name };
    if (!this.published.has(p.id)) this.published.set(p.id, new Map());
    for (const t of p.tracks || []) this.setPublished(p.id, t, true);
    this.tiles.ensure(p.id, { name, participantId: p.id });
    this.renderOne(p.id);
    this.onChange();
    if (announce) toast(`${name} joined`);
  }

  remove(id) {
    const p = this.participants[id];
    if (!p) return;
    delete this.participants[id];
    this.published.delete(id);
    this.tiles.remove(id);
    this.tiles.remove(`screen:${id}`);
    this.syncAudio();
    this.onChange();
    toast(`${p.name} left`);
  }

  // clear forgets everyone (leaving or rejoining).
  clear() {
    this.participants = {};
    this.published.clear();
    this.tiles.clearRemote();
    this.syncAudio();
    this.onChange();
  }

  // sync takes the room as the server describes it after a resume: who left
  // meanwhile goes, who came is added, everyone's tracks are as listed.
  sync(list) {
    const now = new Set(list.map((p) => p && p.id));
    for (const id of Object.keys(this.participants)) if (!now.has(id)) this.remove(id);
    for (const p of list) {
      if (!p || !p.id || !this.isKnown(p.id)) {
        this.add(p, true);
        continue;
      }
      this.participants[p.id].name = String(p.name || '');
      this.published.set(p.id, new Map());
      for (const t of p.tracks || []) this.setPublished(p.id, t, true);
      this.renderOne(p.id);
    }
    this.syncAudio();
    this.onChange();
  }

  // setPublished records a track-published: insert or update.
  setPublished(id, track, quiet) {
    if (!track || !track.trackId || !this.isKnown(id)) return;
    this.published.get(id).set(track.trackId, { trackId: track.trackId, kind: track.kind, source: track.source, muted: !!track.muted });
    if (!quiet) this.changed(id);
  }

  unsetPublished(id, trackId) {
    const m = this.published.get(id);
    if (m) m.delete(trackId);
    this.changed(id);
  }

  setMuted(id, trackId, muted) {
    const m = this.published.get(id);
    if (!m) return;
    const t = m.get(trackId);
    if (t) t.muted = !!muted;
    else m.set(trackId, { trackId, kind: '', source: '', muted: !!muted });
    this.changed(id);
  }

  changed(id) {
    this.renderOne(id);
    this.onChange();
  }

  // sourceOf says what a received track is: what its publisher last said of
  // it, else the offer's tracks map, else camera or microphone by kind.
  sourceOf(id, a) {
    const m = this.published.get(id);
    const t = m && m.get(a.trackId);
    return (t && t.source) || a.source || (a.kind === 'video' ? 'camera' : 'microphone');
  }

  // deviceState is on, off (muted) or none for a participant's tracks of source.
  deviceState(id, source) {
    const list = [...(this.published.get(id) || new Map()).values()].filter((t) => {
      const src = t.source || (t.kind === 'video' ? 'camera' : t.kind === 'audio' ? 'microphone' : '');
      return src === source;
    });
    if (!list.length) return 'none';
    return list.every((t) => t.muted) ? 'off' : 'on';
  }

  hasScreen(id) {
    return !!this.tiles.get(`screen:${id}`);
  }

  // render shows what is received, after the peer's set of tracks changed.
  render() {
    for (const id of Object.keys(this.participants)) this.renderOne(id);
    this.syncAudio();
    this.onChange();
  }

  renderOne(id) {
    const p = this.participants[id];
    if (!p) return;
    const peer = this.getPeer();
    const pub = this.published.get(id) || new Map();
    let camera = null;
    let screen = null;
    for (const a of peer ? peer.attached.values() : []) {
      if (a.participantId !== id || a.kind !== 'video') continue;
      if (this.sourceOf(id, a) !== 'screen') camera = a.track;
      else if (!pub.size || pub.has(a.trackId)) screen = a.track; // not once unpublished
    }
    this.tiles.setState(id, { mic: this.deviceState(id, 'microphone'), cam: this.deviceState(id, 'camera') });
    this.tiles.setVideo(id, camera);
    const key = `screen:${id}`;
    if (screen) {
      this.tiles.ensure(key, { name: p.name, kind: 'screen', participantId: id });
      this.tiles.setVideo(key, screen);
      this.tiles.layout();
    } else {
      this.tiles.remove(key);
    }
  }

  // syncAudio plays each received audio track in an <audio> element of its own.
  syncAudio() {
    const peer = this.getPeer();
    const want = new Map();
    for (const [mid, a] of peer ? peer.attached : []) {
      if (a.kind === 'audio' && this.isKnown(a.participantId)) want.set(mid, a);
    }
    for (const [mid, s] of this.sinks) {
      const a = want.get(mid);
      if (a && a.track === s.track) continue;
      s.el.srcObject = null;
      s.el.remove();
      this.sinks.delete(mid);
    }
    for (const [mid, a] of want) {
      if (this.sinks.has(mid)) continue;
      const el = h('audio', { autoplay: true });
      el.srcObject = new MediaStream([a.track]);
      this.setSink(el);
      this.audioBox.append(el);
      this.sinks.set(mid, { el, track: a.track });
      el.play().catch((err) => { if (err && err.name === 'NotAllowedError') this.soundBlocked(); });
    }
  }

  setSink(el) {
    const id = this.sinkId();
    if (id && el.setSinkId) el.setSinkId(id).catch((err) => console.warn('setSinkId', err));
  }

  // setSinks plays every received sound on the chosen speaker.
  setSinks() {
    for (const s of this.sinks.values()) this.setSink(s.el);
  }

  // soundBlocked offers a button when the browser refused to play sound
  // before a click on the page.
  soundBlocked() {
    if (this.soundBox.querySelector('.sound-on')) return;
    const button = h('button', { type: 'button', class: 'sound-on primary' }, 'Sound is blocked by the browser: click to turn it on');
    button.addEventListener('click', () => {
      for (const s of this.sinks.values()) s.el.play().catch(() => {});
      button.remove();
    });
    this.soundBox.append(button);
  }

  // list describes everyone for the participant list.
  list() {
    return Object.values(this.participants).map((p) => ({
      id: p.id,
      name: p.name,
      mic: this.deviceState(p.id, 'microphone'),
      cam: this.deviceState(p.id, 'camera'),
      screen: this.hasScreen(p.id),
    }));
  }
}
