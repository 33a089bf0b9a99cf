// Confab browser client.
//
// Plain JavaScript, no build step, nothing fetched from the internet. It speaks
// the signaling protocol of /ws (version 1): join a room over a WebSocket, then
// one RTCPeerConnection per page negotiated with "perfect negotiation", where
// this client is the polite peer and the server the impolite one.
//
// window.confab is the test hook that automated browser tests drive:
//   state               'idle' | 'joining' | 'joined' | 'error'
//   selfId, room        own participant id and room once joined
//   lastError           last error code (server code, or 'disconnected') or null
//   participants        {id: {id, name}} of the others in the room
//   tracks              latest server offer's {mid: {participantId, trackId, kind, source}}
//   pc, ws, localStream the RTCPeerConnection, WebSocket and local MediaStream
//   negotiations        count of completed offer/answer exchanges
//   collisions          server offers that arrived while our offer was outstanding
//   negotiationErrors   error strings of failed negotiations
//   join(room, name)    what the form does; resolves true once joined, else false
//   leave()             what the Leave button does
//   stats()             resolves {participantId: {framesDecoded, bytesReceived}}
//                       summed over that participant's inbound video
//   remoteTiles()       ids of the participants that have a tile
'use strict';

(() => {
  // ---------------------------------------------------------------------------
  // Test hook and shared state
  // ---------------------------------------------------------------------------

  const confab = {
    state: 'idle',        // 'idle' | 'joining' | 'joined' | 'error'
    selfId: null,
    room: null,
    lastError: null,      // last error code (string) or null
    participants: {},     // id -> {id, name}, the others in the room
    tracks: {},           // mid -> {participantId, trackId, kind, source}, from the latest server offer
    pc: null,
    ws: null,
    localStream: null,
    negotiations: 0,      // completed offer/answer exchanges (page lifetime)
    collisions: 0,        // server offers that met our own outstanding offer (glare)
    negotiationErrors: [],
    join,
    leave,
    stats,
    remoteTiles,
  };
  window.confab = confab;

  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const NAME_KEY = 'confab.name';

  const ERROR_TEXT = {
    'name-taken': 'That name is already taken in this room. Please pick another.',
    'room-full': 'This room is full. Try again later or pick another room.',
    'bad-request': 'The server rejected the request as invalid.',
    'unauthorized': 'You are not allowed to join this room (missing or invalid token).',
    'negotiation-failed': 'Media negotiation failed.',
    'not-joined': 'Not in a room yet.',
    'already-joined': 'Already in a room.',
    'rate-limited': 'Too many requests: slow down.',
    'too-large': 'A message was too large for the server.',
    'unknown-type': 'The server did not understand a message.',
    'internal': 'The server had an internal error.',
    'disconnected': 'Disconnected',
    'connection-failed': 'The media connection failed.',
  };

  let pendingJoin = null;        // {room, name, resolve} while state is 'joining'
  let chain = Promise.resolve(); // serializes all signaling work
  let makingOffer = false;
  let pendingCandidates = [];    // remote candidates received before a remote description
  const remote = new Map();      // participant id -> {tile, placeholder, nameEl, main, screen}
  const attached = new Map();    // mid -> {participantId, source, kind, track}
  const published = new Map();   // participant id -> Map(trackId -> {trackId, kind, source, muted})

  // ---------------------------------------------------------------------------
  // DOM helpers (user data goes in through textContent only)
  // ---------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const el = {};

  // Error codes that answer a join; others arriving while joining are shown only.
  const JOIN_FAILURES = new Set(['name-taken', 'room-full', 'unauthorized', 'bad-request',
    'already-joined', 'rate-limited', 'internal', 'too-large']);
  // Codes whose server-supplied detail helps the reader.
  const WITH_DETAIL = new Set(['bad-request', 'unauthorized', 'negotiation-failed', 'internal']);

  function showError(code, detail) {
    const text = ERROR_TEXT[code];
    if (!text) el.error.textContent = detail ? `Error (${code}): ${detail}` : `Error: ${code}`;
    else el.error.textContent = detail && WITH_DETAIL.has(code) ? `${text} ${detail}` : text;
    el.error.hidden = false;
  }
  function clearError() { el.error.textContent = ''; el.error.hidden = true; }
  function showNotice(text) { el.notice.textContent = text; el.notice.hidden = !text; }

  function showView(inCall) {
    el.joinView.hidden = inCall;
    el.callView.hidden = !inCall;
    el.leave.hidden = !inCall;
    el.roomLabel.hidden = !inCall;
    el.roomLabel.textContent = inCall ? confab.room : '';
    el.joinBtn.disabled = confab.state === 'joining';
  }

  function setState(state) {
    confab.state = state;
    document.body.dataset.state = state;
    showView(state === 'joined');
  }

  function makeTile(label) {
    const tile = document.createElement('div');
    tile.className = 'tile';
    const placeholder = document.createElement('div');
    placeholder.className = 'placeholder';
    placeholder.textContent = ([...label][0] || '?').toUpperCase();
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = label;
    tile.append(placeholder, name);
    return { tile, placeholder, name };
  }

  function makeVideo(muted) {
    const v = document.createElement('video');
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute('playsinline', '');
    v.muted = muted;
    return v;
  }

  // play() may be refused by the autoplay policy for unmuted media; fall back
  // to muted playback and offer a button that unmutes on a user gesture.
  function startPlayback(video, tile) {
    const p = video.play();
    if (!p || !p.catch) return;
    p.catch((err) => {
      // AbortError: a newer srcObject replaced this one; its play() counts.
      if (!err || err.name !== 'NotAllowedError' || video.muted || !video.isConnected) return;
      video.muted = true;
      video.play().catch(() => {});
      if (tile.querySelector('.unmute')) return;
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'unmute';
      btn.textContent = 'Tap to unmute';
      btn.addEventListener('click', () => {
        tile.querySelectorAll('video').forEach((v) => { v.muted = false; v.play().catch(() => {}); });
        btn.remove();
      });
      tile.append(btn);
    });
  }

  // ---------------------------------------------------------------------------
  // Join form
  // ---------------------------------------------------------------------------

  function initForm() {
    el.form = $('join-form');
    el.room = $('room');
    el.name = $('name');
    el.joinBtn = $('join');
    el.leave = $('leave');
    el.error = $('error');
    el.notice = $('notice');
    el.joinView = $('join-view');
    el.callView = $('call-view');
    el.tiles = $('tiles');
    el.roomLabel = $('room-label');

    const params = new URLSearchParams(location.search);
    el.room.value = params.get('room') || '';
    try { el.name.value = localStorage.getItem(NAME_KEY) || ''; } catch (_) { /* storage off */ }

    el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      join(el.room.value, el.name.value);
    });
    el.leave.addEventListener('click', () => leave());
    setState('idle');
    (el.room.value ? el.name : el.room).focus();
  }

  function validate(room, name) {
    if (!ROOM_RE.test(room)) return 'Room must be 1–64 characters of A-Z a-z 0-9 _ . -';
    const n = [...name].length;
    if (n < 1 || n > 64) return 'Name must be 1–64 characters';
    if (/\p{Cc}/u.test(name)) return 'Name must contain printable characters only';
    return null;
  }

  // join(room, name) does what the form does. It resolves to true once
  // "joined" arrives, false on an error (state 'error', lastError set).
  async function join(room, name) {
    room = String(room ?? '').trim();
    name = String(name ?? '').trim();
    if (confab.state === 'joining' || confab.state === 'joined') return false;
    el.room.value = room;
    el.name.value = name;
    clearError();
    showNotice('');
    const invalid = validate(room, name);
    if (invalid) {
      confab.lastError = 'bad-request';
      setState('error');
      el.error.textContent = invalid;
      el.error.hidden = false;
      return false;
    }
    setState('joining');
    confab.room = room;

    const stream = await getLocalMedia();
    if (confab.state !== 'joining') { // left meanwhile
      if (stream) stream.getTracks().forEach((t) => t.stop());
      return false;
    }
    confab.localStream = stream;
    try {
      await openSocket();
    } catch (_) {
      return failJoin('disconnected', 'Could not connect to the server.');
    }
    if (confab.state !== 'joining') return false;
    const done = new Promise((resolve) => { pendingJoin = { room, name, resolve }; });
    const msg = { type: 'join', room, name };
    const token = new URLSearchParams(location.search).get('token');
    if (token) msg.token = token;
    send(msg);
    return done;
  }

  function failJoin(code, detail) {
    stopLocalMedia();
    confab.lastError = code;
    setState('error');
    showError(code, detail);
    if (pendingJoin) { pendingJoin.resolve(false); pendingJoin = null; }
    return false;
  }

  // ---------------------------------------------------------------------------
  // Local media
  // ---------------------------------------------------------------------------

  async function getLocalMedia() {
    const md = navigator.mediaDevices;
    const video = { width: 640, height: 480 };
    const attempts = [
      [{ audio: true, video }, ''],
      [{ audio: true }, 'Camera unavailable: joining with microphone only'],
      [{ video }, 'Microphone unavailable: joining with camera only'],
    ];
    if (md && md.getUserMedia) {
      for (const [constraints, notice] of attempts) {
        try {
          const stream = await md.getUserMedia(constraints);
          showNotice(notice);
          return stream;
        } catch (err) {
          console.warn('getUserMedia', constraints, err);
        }
      }
    }
    showNotice('Camera/microphone unavailable: joining without them');
    return null;
  }

  function stopLocalMedia() {
    if (confab.localStream) confab.localStream.getTracks().forEach((t) => t.stop());
    confab.localStream = null;
  }

  function addLocalTile() {
    const { tile, placeholder } = makeTile('You');
    tile.classList.add('local');
    placeholder.textContent = 'You';
    const stream = confab.localStream;
    if (stream && stream.getVideoTracks().length) {
      const v = makeVideo(true);
      v.srcObject = stream;
      tile.prepend(v);
      tile.dataset.hasVideo = 'true';
      v.play().catch(() => {});
    }
    el.tiles.prepend(tile);
  }

  // ---------------------------------------------------------------------------
  // WebSocket
  // ---------------------------------------------------------------------------

  function openSocket() {
    const ws = confab.ws;
    if (ws && ws.readyState === WebSocket.OPEN) return Promise.resolve(ws);
    return new Promise((resolve, reject) => {
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const sock = new WebSocket(`${proto}://${location.host}/ws`);
      confab.ws = sock;
      let opened = false;
      sock.onopen = () => { opened = true; resolve(sock); };
      sock.onmessage = (e) => onMessage(e.data);
      sock.onerror = () => reject(new Error('websocket error'));
      sock.onclose = () => {
        reject(new Error('websocket closed'));
        if (confab.ws !== sock) return;
        confab.ws = null;
        if (opened) onSocketClosed(); // a failed connect is reported by join()
      };
    });
  }

  function send(msg) {
    const ws = confab.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  function onSocketClosed() {
    const wasActive = confab.state === 'joining' || confab.state === 'joined';
    teardownCall();
    if (wasActive) failJoin('disconnected');
    else showError('disconnected');
  }

  function onMessage(data) {
    let msg;
    try { msg = JSON.parse(data); } catch (_) { return; }
    if (!msg || typeof msg.type !== 'string') return;
    enqueue(() => handleMessage(msg));
  }

  // enqueue runs fn after all signaling work queued before it.
  function enqueue(fn) {
    chain = chain.then(fn).catch((err) => console.error('signaling', err));
    return chain;
  }

  // ---------------------------------------------------------------------------
  // Signaling messages
  // ---------------------------------------------------------------------------

  async function handleMessage(msg) {
    switch (msg.type) {
      case 'joined': return onJoined(msg);
      case 'error': return onError(msg);
      case 'offer': return onOffer(msg);
      case 'answer': return onAnswer(msg);
      case 'candidate': return onCandidate(msg);
      case 'participant-joined': return addParticipant(msg.participant);
      case 'participant-left': return removeParticipant(msg.participantId);
      case 'track-published': return setPublished(msg.participantId, msg.track);
      case 'track-unpublished': return unsetPublished(msg.participantId, msg.trackId);
      case 'track-muted': return setMuted(msg.participantId, msg.trackId, msg.muted);
      case 'chat': console.debug('chat', msg.from && msg.from.name, msg.text); return undefined;
      default: return undefined; // unknown types are ignored
    }
  }

  function onError(msg) {
    const code = String(msg.code || 'internal');
    console.warn('server error', code, msg.message);
    confab.lastError = code;
    if (code === 'negotiation-failed') confab.negotiationErrors.push(`server: ${msg.message || code}`);
    if (confab.state === 'joining' && pendingJoin && JOIN_FAILURES.has(code)) {
      failJoin(code, msg.message);
    } else {
      showError(code, msg.message);
    }
  }

  function onJoined(msg) {
    if (confab.state !== 'joining' || !pendingJoin) { // left while joining
      send({ type: 'leave' });
      return;
    }
    const { room, name, resolve } = pendingJoin;
    pendingJoin = null;
    confab.selfId = msg.self && msg.self.id;
    confab.room = msg.room || room;
    confab.lastError = null;
    clearError();
    try { localStorage.setItem(NAME_KEY, name); } catch (_) { /* storage off */ }
    const url = new URL(location.href);
    url.searchParams.set('room', confab.room);
    history.replaceState(null, '', url);

    el.tiles.textContent = '';
    addLocalTile();
    (msg.participants || []).forEach(addParticipant);
    setState('joined');
    try {
      startPeerConnection(msg.iceServers || []);
    } catch (err) {
      negotiationError('peer connection', err);
    } finally {
      resolve(true);
    }
  }

  // ---------------------------------------------------------------------------
  // Peer connection and perfect negotiation (this client is polite)
  // ---------------------------------------------------------------------------

  function startPeerConnection(iceServers) {
    const pc = new RTCPeerConnection({ iceServers });
    confab.pc = pc;
    makingOffer = false;
    pendingCandidates = [];
    confab.tracks = {};

    pc.onicecandidate = (e) => {
      if (confab.pc !== pc) return;
      send({ type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    pc.onnegotiationneeded = () => enqueue(() => negotiate(pc, true));
    pc.ontrack = onTrack;
    pc.onconnectionstatechange = () => {
      document.body.dataset.connection = pc.connectionState;
      if (pc.connectionState === 'failed' && confab.pc === pc) showError('connection-failed');
    };

    // Metadata first, so the server knows the sources before the first offer.
    const tracks = confab.localStream ? confab.localStream.getTracks() : [];
    if (tracks.length) {
      send({
        type: 'publish',
        tracks: tracks.map((t) => ({ trackId: t.id, source: t.kind === 'video' ? 'camera' : 'microphone' })),
      });
      tracks.forEach((t) => pc.addTrack(t, confab.localStream));
    } else {
      // A viewer: the offer still needs media sections.
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    enqueue(() => negotiate(pc, false));
  }

  const sends = (dir) => dir === 'sendrecv' || dir === 'sendonly';

  // needsNegotiation tells whether local transceivers hold changes that no
  // completed offer/answer has covered yet.
  function needsNegotiation(pc) {
    return pc.getTransceivers().some((t) => {
      if (t.currentDirection === 'stopped') return false;
      if (t.direction === 'stopped' || t.mid === null) return true;
      return sends(t.direction) !== sends(t.currentDirection);
    });
  }

  // negotiate sends an offer. fromEvent: triggered by negotiationneeded (always
  // offer); otherwise only when local changes still need negotiating.
  async function negotiate(pc, fromEvent) {
    if (confab.pc !== pc || pc.signalingState !== 'stable') return;
    if (!fromEvent && !needsNegotiation(pc)) return;
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      if (confab.pc === pc) send({ type: 'offer', sdp: pc.localDescription.sdp });
    } catch (err) {
      negotiationError('offer', err);
    } finally {
      makingOffer = false;
    }
  }

  async function onOffer(msg) {
    const pc = confab.pc;
    if (!pc) return;
    // Polite peer: on a collision, setRemoteDescription rolls our offer back.
    const offerCollision = makingOffer || pc.signalingState !== 'stable';
    if (offerCollision) confab.collisions++;
    confab.tracks = msg.tracks || {};
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      await flushCandidates(pc);
      await pc.setLocalDescription();
      if (confab.pc !== pc) return;
      send({ type: 'answer', sdp: pc.localDescription.sdp });
      if (pc.signalingState === 'stable') confab.negotiations++;
    } catch (err) {
      negotiationError('answer', err);
      return;
    }
    reconcileTracks();
    // A rolled-back offer is lost (the impolite server ignored it): offer again.
    // negotiationneeded normally fires too; negotiate() skips duplicates.
    enqueue(() => negotiate(pc, offerCollision));
  }

  async function onAnswer(msg) {
    const pc = confab.pc;
    if (!pc) return;
    if (pc.signalingState !== 'have-local-offer') {
      console.warn('ignoring answer in state', pc.signalingState);
      return;
    }
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      await flushCandidates(pc);
      if (pc.signalingState === 'stable') confab.negotiations++;
    } catch (err) {
      negotiationError('answer from server', err);
      return;
    }
    enqueue(() => negotiate(pc, false));
  }

  async function onCandidate(msg) {
    const pc = confab.pc;
    if (!pc || !msg.candidate) return; // null: end of candidates, nothing to do
    if (!pc.remoteDescription) {
      pendingCandidates.push(msg.candidate);
      return;
    }
    await addCandidate(pc, msg.candidate);
  }

  async function flushCandidates(pc) {
    const list = pendingCandidates;
    pendingCandidates = [];
    for (const c of list) await addCandidate(pc, c);
  }

  async function addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate);
    } catch (err) {
      console.warn('addIceCandidate', err);
    }
  }

  function negotiationError(what, err) {
    const text = `${what}: ${err && err.message ? err.message : String(err)}`;
    console.error('negotiation', text);
    confab.negotiationErrors.push(text);
    showError('negotiation-failed', text);
  }

  // ---------------------------------------------------------------------------
  // Remote participants and their media
  // ---------------------------------------------------------------------------

  function addParticipant(p) {
    if (!p || !p.id || p.id === confab.selfId) return;
    confab.participants[p.id] = { id: p.id, name: String(p.name || '') };
    if (!published.has(p.id)) published.set(p.id, new Map());
    (p.tracks || []).forEach((t) => setPublished(p.id, t));
    const r = ensureTile(p.id);
    r.nameEl.textContent = confab.participants[p.id].name;
    r.placeholder.textContent = ([...confab.participants[p.id].name][0] || '?').toUpperCase();
    updateMuted(p.id);
  }

  function removeParticipant(id) {
    delete confab.participants[id];
    published.delete(id);
    for (const [mid, a] of attached) if (a.participantId === id) attached.delete(mid);
    const r = remote.get(id);
    if (r) {
      r.tile.querySelectorAll('video').forEach((v) => { v.srcObject = null; });
      r.tile.remove();
      remote.delete(id);
    }
  }

  function ensureTile(id) {
    let r = remote.get(id);
    if (r) return r;
    const p = confab.participants[id];
    const label = p ? p.name : 'Guest';
    const { tile, placeholder, name } = makeTile(label);
    tile.dataset.participantId = id;
    r = { tile, placeholder, nameEl: name, main: null, screen: null };
    remote.set(id, r);
    el.tiles.append(tile);
    return r;
  }

  function setPublished(id, track) {
    if (!track || !track.trackId) return;
    if (!published.has(id)) published.set(id, new Map());
    published.get(id).set(track.trackId, { ...track });
    updateMuted(id);
  }

  function unsetPublished(id, trackId) {
    const m = published.get(id);
    if (m) m.delete(trackId);
    updateMuted(id);
  }

  function setMuted(id, trackId, muted) {
    const m = published.get(id);
    const t = m && m.get(trackId);
    if (t) t.muted = !!muted;
    else if (m) m.set(trackId, { trackId, muted: !!muted, source: '', kind: '' });
    updateMuted(id);
  }

  // The tile's data-muted lists the sources that are muted ("microphone camera").
  function updateMuted(id) {
    const r = remote.get(id);
    if (!r) return;
    const muted = [...(published.get(id) || new Map()).values()]
      .filter((t) => t.muted).map((t) => t.source || t.kind || 'track');
    if (muted.length) r.tile.dataset.muted = [...new Set(muted)].join(' ');
    else delete r.tile.dataset.muted;
  }

  function onTrack(e) {
    const mid = e.transceiver && e.transceiver.mid;
    const info = (mid !== null && confab.tracks[mid]) || {};
    const stream = e.streams && e.streams[0];
    // The tracks map is authoritative; the stream id (the publisher's id) is a
    // fallback for a known participant only. Anything else (e.g. a transceiver
    // the server is not sending on) is ignored.
    let participantId = info.participantId;
    if (!participantId && stream && confab.participants[stream.id]) participantId = stream.id;
    if (!participantId || participantId === confab.selfId) return;
    const track = e.track;
    const source = info.source || (track.kind === 'video' ? 'camera' : 'microphone');
    detach(mid);
    attached.set(mid, { participantId, source, kind: track.kind, track });
    renderMedia(participantId);

    track.addEventListener('ended', () => detachTrack(track));
    if (stream) stream.addEventListener('removetrack', (ev) => detachTrack(ev.track));
  }

  function detachTrack(track) {
    for (const [mid, a] of attached) if (a.track === track) detach(mid);
  }

  function detach(mid) {
    const a = attached.get(mid);
    if (!a) return;
    attached.delete(mid);
    renderMedia(a.participantId);
  }

  // After a server offer: drop media whose mid is no longer forwarded.
  function reconcileTracks() {
    for (const [mid, a] of attached) {
      const info = confab.tracks[mid];
      if (!info || info.participantId !== a.participantId) detach(mid);
    }
  }

  // renderMedia puts a participant's attached tracks into its tile: camera
  // video and audio in the main element, a screen share in a second one.
  function renderMedia(id) {
    if (!confab.participants[id] && ![...attached.values()].some((a) => a.participantId === id)) return;
    const r = ensureTile(id);
    const mine = [...attached.values()].filter((a) => a.participantId === id);
    const isScreen = (a) => a.source === 'screen' || a.source === 'screen-audio';
    const mainTracks = mine.filter((a) => !isScreen(a)).map((a) => a.track);
    const screenTracks = mine.filter(isScreen).map((a) => a.track);
    r.main = updateVideo(r, r.main, mainTracks, 'main');
    r.screen = updateVideo(r, r.screen, screenTracks, 'screen');
    const hasVideo = mainTracks.some((t) => t.kind === 'video');
    if (hasVideo) r.tile.dataset.hasVideo = 'true'; else delete r.tile.dataset.hasVideo;
    if (r.screen) r.tile.dataset.screen = 'true'; else delete r.tile.dataset.screen;
  }

  function updateVideo(r, video, tracks, cls) {
    if (!tracks.length) {
      if (video) { video.srcObject = null; video.remove(); }
      return null;
    }
    const current = video && video.srcObject ? video.srcObject.getTracks() : [];
    if (video && current.length === tracks.length && tracks.every((t) => current.includes(t))) return video;
    if (!video) {
      video = makeVideo(false);
      video.className = cls;
      r.tile.insertBefore(video, r.nameEl);
    }
    video.srcObject = new MediaStream(tracks);
    startPlayback(video, r.tile);
    return video;
  }

  // ---------------------------------------------------------------------------
  // Stats, remote tiles (test hook)
  // ---------------------------------------------------------------------------

  // stats() sums inbound-rtp video per publishing participant.
  async function stats() {
    const pc = confab.pc;
    const out = {};
    if (!pc) return out;
    const trackToMid = {};
    pc.getTransceivers().forEach((t) => {
      if (t.mid !== null && t.receiver.track) trackToMid[t.receiver.track.id] = t.mid;
    });
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
      let trackIdentifier = s.trackIdentifier;
      if (!trackIdentifier && s.trackId && report.get(s.trackId)) trackIdentifier = report.get(s.trackId).trackIdentifier;
      const mid = s.mid != null ? s.mid : trackToMid[trackIdentifier];
      const info = (mid != null && (confab.tracks[mid] || attached.get(mid))) || null;
      const id = info && info.participantId;
      if (!id) return;
      const sum = out[id] || (out[id] = { framesDecoded: 0, bytesReceived: 0 });
      sum.framesDecoded += s.framesDecoded || 0;
      sum.bytesReceived += s.bytesReceived || 0;
    });
    return out;
  }

  function remoteTiles() {
    return [...el.tiles.querySelectorAll('.tile[data-participant-id]')].map((t) => t.dataset.participantId);
  }

  // ---------------------------------------------------------------------------
  // Leave and teardown
  // ---------------------------------------------------------------------------

  function leave() {
    // While joining, onJoined sends the leave once "joined" arrives.
    if (confab.state === 'joined') send({ type: 'leave' });
    if (pendingJoin) { pendingJoin.resolve(false); pendingJoin = null; }
    teardownCall();
    clearError();
    showNotice('');
    setState('idle');
  }

  function teardownCall() {
    const pc = confab.pc;
    confab.pc = null;
    if (pc) {
      pc.onicecandidate = pc.onnegotiationneeded = pc.ontrack = pc.onconnectionstatechange = null;
      pc.close();
    }
    stopLocalMedia();
    makingOffer = false;
    pendingCandidates = [];
    attached.clear();
    published.clear();
    remote.clear();
    confab.tracks = {};
    confab.participants = {};
    confab.selfId = null;
    el.tiles.querySelectorAll('video').forEach((v) => { v.srcObject = null; });
    el.tiles.textContent = '';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', initForm);
  else initForm();
})();
