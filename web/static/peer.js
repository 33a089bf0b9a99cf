// One RTCPeerConnection to the server, negotiated with "perfect negotiation":
// this client is the polite peer, the server the impolite one. It publishes
// local tracks (with their source told to the server first), and keeps the
// map of what arrives: mid -> {participantId, trackId, kind, source, track}.

const sends = (dir) => dir === 'sendrecv' || dir === 'sendonly';

export class Peer {
  // session: the Session whose socket carries the signaling and whose queue
  //   serializes it.
  // counters: an object with negotiations, collisions, negotiationErrors
  //   (the test hook), updated as negotiations complete or fail.
  // onRemote(): the set of received tracks changed.
  // onState(state): the connection state changed.
  // onError(text): a negotiation failed.
  // isKnown(id): whether id is a participant of the room.
  constructor({ iceServers, session, counters, onRemote, onState, onError, isKnown }) {
    this.session = session;
    this.counters = counters;
    this.onRemote = onRemote;
    this.onError = onError;
    this.isKnown = isKnown;
    this.pc = new RTCPeerConnection({ iceServers });
    this.makingOffer = false;
    this.pendingCandidates = []; // remote candidates received before a remote description
    this.tracks = {};            // the latest server offer's {mid: {participantId, trackId, kind, source}}
    this.attached = new Map();   // mid -> {participantId, trackId, kind, source, track}
    this.senders = new Map();    // source -> {sender, trackId}: trackId is what the server knows
    this.closed = false;
    this.audioPrev = new Map();  // stats id -> {energy, duration}, for audio levels

    const pc = this.pc;
    pc.onicecandidate = (e) => {
      if (!this.closed) this.session.send({ type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    pc.onnegotiationneeded = () => this.session.enqueue(() => this.negotiate(true));
    pc.ontrack = (e) => this.onTrack(e);
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      if (pc.connectionState === 'failed') pc.restartIce(); // the server never restarts ICE itself
      onState(pc.connectionState);
    };
  }

  // start publishes the local tracks ([{track, source, stream, muted}]) and
  // makes the first offer. Metadata goes first, so the server knows the
  // sources (and mute states) before the media arrives.
  start(locals) {
    if (locals.length) {
      this.describe(locals);
      for (const l of locals) this.add(l);
    } else {
      // A viewer: the offer still needs media sections.
      this.pc.addTransceiver('audio', { direction: 'recvonly' });
      this.pc.addTransceiver('video', { direction: 'recvonly' });
    }
    this.session.enqueue(() => this.negotiate(false));
  }

  // publish adds tracks after the start; negotiationneeded makes the offer.
  publish(locals) {
    if (this.closed || !locals.length) return;
    this.describe(locals);
    for (const l of locals) this.add(l);
  }

  describe(locals) {
    this.session.send({ type: 'publish', tracks: locals.map((l) => ({ trackId: l.track.id, source: l.source })) });
    for (const l of locals) {
      if (l.muted) this.session.send({ type: 'mute', trackId: l.track.id, muted: true });
    }
  }

  // add sends track on a transceiver of its own. (addTrack could reuse a
  // transceiver the server opened to send us someone's media, and the server
  // does not take media from those.)
  add({ track, source, stream }) {
    const { sender } = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    this.senders.set(source, { sender, trackId: track.id });
  }

  has(source) { return this.senders.has(source); }

  // sending is the track sent for source (null: none).
  sending(source) {
    const s = this.senders.get(source);
    return s ? s.sender.track : null;
  }

  // publishedId is the id the server knows for the local track of source,
  // which stays the same across replaceTrack.
  publishedId(source) {
    const s = this.senders.get(source);
    return s ? s.trackId : null;
  }

  // replace swaps the track sent for source (null: send nothing) without
  // renegotiating.
  async replace(source, track) {
    const s = this.senders.get(source);
    if (!s || this.closed) return false;
    await s.sender.replaceTrack(track);
    return true;
  }

  // unpublish stops sending source; negotiationneeded makes the offer, and the
  // server tells the others the track is gone.
  unpublish(source) {
    const s = this.senders.get(source);
    if (!s) return;
    this.senders.delete(source);
    if (!this.closed) this.pc.removeTrack(s.sender);
  }

  // reattach carries this connection over to a new session after the
  // server resumed us. An offer of ours may have been lost with the old
  // socket: roll it back and offer again what still needs negotiating.
  async reattach(session) {
    this.session = session;
    if (this.pc.signalingState === 'have-local-offer') {
      try {
        await this.pc.setLocalDescription({ type: 'rollback' });
      } catch (err) {
        console.warn('rollback', err);
      }
    }
    session.enqueue(() => this.negotiate(false));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const pc = this.pc;
    pc.onicecandidate = pc.onnegotiationneeded = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
    this.attached.clear();
    this.senders.clear();
  }

  // --- negotiation -----------------------------------------------------------

  // needsNegotiation tells whether local transceivers hold changes that no
  // completed offer/answer has covered yet.
  needsNegotiation() {
    return this.pc.getTransceivers().some((t) => {
      if (t.currentDirection === 'stopped') return false;
      if (t.direction === 'stopped' || t.mid === null) return true;
      return sends(t.direction) !== sends(t.currentDirection);
    });
  }

  // negotiate sends an offer. fromEvent: negotiationneeded fired (always
  // offer); otherwise only when local changes still need negotiating.
  async negotiate(fromEvent) {
    const pc = this.pc;
    if (this.closed || pc.signalingState !== 'stable') return;
    if (!fromEvent && !this.needsNegotiation()) return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      if (!this.closed) this.session.send({ type: 'offer', sdp: pc.localDescription.sdp });
    } catch (err) {
      this.fail('offer', err);
    } finally {
      this.makingOffer = false;
    }
  }

  async onOffer(msg) {
    const pc = this.pc;
    if (this.closed) return;
    // Polite peer: on a collision, setRemoteDescription rolls our offer back.
    const collision = this.makingOffer || pc.signalingState !== 'stable';
    if (collision) this.counters.collisions++;
    this.tracks = msg.tracks && typeof msg.tracks === 'object' ? msg.tracks : {};
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      await this.flushCandidates();
      await pc.setLocalDescription();
      if (this.closed) return;
      this.session.send({ type: 'answer', sdp: pc.localDescription.sdp });
      if (pc.signalingState === 'stable') this.counters.negotiations++;
    } catch (err) {
      this.fail('answer', err);
      return;
    }
    this.reconcile();
    // A rolled-back offer is lost (the impolite server ignored it): offer
    // again. negotiationneeded normally fires too; negotiate() skips duplicates.
    this.session.enqueue(() => this.negotiate(collision));
  }

  async onAnswer(msg) {
    const pc = this.pc;
    if (this.closed) return;
    if (pc.signalingState !== 'have-local-offer') {
      console.warn('ignoring answer in state', pc.signalingState);
      return;
    }
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      await this.flushCandidates();
      if (pc.signalingState === 'stable') this.counters.negotiations++;
    } catch (err) {
      this.fail('answer from server', err);
      return;
    }
    this.session.enqueue(() => this.negotiate(false));
  }

  async onCandidate(msg) {
    if (this.closed || !msg.candidate) return; // null: end of candidates
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(msg.candidate);
      return;
    }
    await this.addCandidate(msg.candidate);
  }

  async flushCandidates() {
    const list = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of list) await this.addCandidate(c);
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      console.warn('addIceCandidate', err);
    }
  }

  fail(what, err) {
    const text = `${what}: ${err && err.message ? err.message : String(err)}`;
    console.error('negotiation', text);
    this.counters.negotiationErrors.push(text);
    this.onError(text);
  }

  // --- received tracks -------------------------------------------------------

  onTrack(e) {
    const mid = e.transceiver && e.transceiver.mid;
    const info = (mid !== null && this.tracks[mid]) || {};
    const stream = e.streams && e.streams[0];
    // The tracks map is authoritative; the stream id (the publisher's id) is a
    // fallback for a known participant only. Anything else (e.g. a
    // transceiver the server is not sending on) is ignored.
    let participantId = info.participantId;
    if (!participantId && stream && this.isKnown(stream.id)) participantId = stream.id;
    if (!participantId) return;
    const track = e.track;
    this.attached.set(mid, {
      participantId,
      trackId: info.trackId || track.id,
      kind: track.kind,
      source: info.source || '',
      track,
    });
    track.addEventListener('ended', () => this.detachTrack(track));
    if (stream) stream.addEventListener('removetrack', (ev) => this.detachTrack(ev.track));
    this.onRemote();
  }

  detachTrack(track) {
    let changed = false;
    for (const [mid, a] of this.attached) {
      if (a.track === track) { this.attached.delete(mid); changed = true; }
    }
    if (changed && !this.closed) this.onRemote();
  }

  // After a server offer: drop media whose mid is no longer forwarded, and
  // refresh what the map says about the rest.
  reconcile() {
    for (const [mid, a] of this.attached) {
      const info = this.tracks[mid];
      if (!info || info.participantId !== a.participantId) {
        this.attached.delete(mid);
        continue;
      }
      if (info.source) a.source = info.source;
      if (info.trackId) a.trackId = info.trackId;
    }
    this.onRemote();
  }

  // --- statistics ------------------------------------------------------------

  // participantOf maps an inbound-rtp report to its publisher, via its mid.
  participantOf(s, report, trackToMid) {
    let trackIdentifier = s.trackIdentifier;
    if (!trackIdentifier && s.trackId && report.get(s.trackId)) trackIdentifier = report.get(s.trackId).trackIdentifier;
    const mid = s.mid != null ? s.mid : trackToMid[trackIdentifier];
    const info = (mid != null && (this.tracks[mid] || this.attached.get(mid))) || null;
    const att = mid != null ? this.attached.get(mid) : null;
    return info ? { id: info.participantId, source: (att && att.source) || info.source || 'camera' } : null;
  }

  trackToMid() {
    const out = {};
    this.pc.getTransceivers().forEach((t) => {
      if (t.mid !== null && t.receiver.track) out[t.receiver.track.id] = t.mid;
    });
    return out;
  }

  // stats sums inbound video per publishing participant:
  // {id: {framesDecoded, bytesReceived, sources: {camera: {framesDecoded}, screen: {...}}}}.
  async stats() {
    const out = {};
    if (this.closed) return out;
    const trackToMid = this.trackToMid();
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
      const who = this.participantOf(s, report, trackToMid);
      if (!who || !who.id) return;
      const sum = out[who.id] || (out[who.id] = { framesDecoded: 0, bytesReceived: 0, sources: {} });
      sum.framesDecoded += s.framesDecoded || 0;
      sum.bytesReceived += s.bytesReceived || 0;
      const src = sum.sources[who.source] || (sum.sources[who.source] = { framesDecoded: 0, bytesReceived: 0 });
      src.framesDecoded += s.framesDecoded || 0;
      src.bytesReceived += s.bytesReceived || 0;
    });
    return out;
  }

  // audioLevels measures, since its last call, the audio level (RMS, 0..1)
  // received from each participant's microphone, and of the local
  // microphone under the key "self".
  async audioLevels() {
    const out = {};
    if (this.closed) return out;
    const trackToMid = this.trackToMid();
    const report = await this.pc.getStats();
    const level = (s) => {
      const prev = this.audioPrev.get(s.id);
      const energy = s.totalAudioEnergy;
      const duration = s.totalSamplesDuration;
      if (energy === undefined || duration === undefined) return s.audioLevel || 0;
      this.audioPrev.set(s.id, { energy, duration });
      if (!prev || duration <= prev.duration) return 0;
      return Math.sqrt(Math.max(0, energy - prev.energy) / (duration - prev.duration));
    };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        const who = this.participantOf(s, report, trackToMid);
        if (!who || who.source === 'screen-audio') return;
        out[who.id] = Math.max(out[who.id] || 0, level(s));
      } else if (s.type === 'media-source' && s.kind === 'audio') {
        out.self = Math.max(out.self || 0, level(s));
      }
    });
    return out;
  }
}
