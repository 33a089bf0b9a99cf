// Confab meeting page: the lobby, joining, the meeting, leaving, and
// rejoining by itself after the connection drops.
//
// Plain JavaScript modules, no build step, nothing fetched from the internet.
// It speaks the signaling protocol of /ws (docs/protocol.md): join a room over
// a WebSocket, then one RTCPeerConnection negotiated with "perfect
// negotiation" (peer.js), this client being the polite peer.
//
//   app.js        states, joining, leaving, rejoining, messages; the test hook
//   signaling.js  the WebSocket of one connection
//   peer.js       the RTCPeerConnection: negotiation, received tracks, stats
//   media.js      the local camera, microphone, devices and screen
//   publisher.js  muting, unmuting, sharing: what the buttons do
//   remote.js     the other participants and what is received from them
//   tiles.js      tiles, grid and stage
//   lobby.js, chat.js, people.js, panels.js, speaker.js, dom.js
//
// window.confab is the test hook that automated browser tests drive; the
// buttons call the same functions.
//   state               'idle' | 'joining' | 'joined' | 'reconnecting' | 'error'
//   stateLog            the last states, oldest first
//   selfId, room        own participant id and room once joined
//   lastError           last error code (server code, or 'disconnected') or null
//   participants        {id: {id, name}} of the others in the room
//   tracks              latest server offer's {mid: {participantId, trackId, kind, source}}
//   pc, ws, localStream the RTCPeerConnection, WebSocket and local MediaStream
//   negotiations        count of completed offer/answer exchanges
//   collisions          server offers that arrived while our offer was outstanding
//   negotiationErrors   error strings of failed negotiations
//   reconnects          times the page rejoined by itself after the socket dropped
//   resumes             of those, the times the server resumed the same participant
//   connection          the connection state shown in the header
//   activeSpeaker       id of the participant highlighted as speaking (own id for self), or null
//   audioLevels         the last measured levels {participantId | 'self': 0..1}
//   join(room, name)    what the form does; resolves true once joined, else false
//   leave()             what the Leave button does
//   stats()             resolves {participantId: {framesDecoded, bytesReceived,
//                       sources: {camera|screen: {framesDecoded, bytesReceived}}}}
//   remoteTiles()       ids of the participants that have a tile
//   muteMic(bool), muteCamera(bool)   true mutes / turns off; resolve success
//   shareScreen(), stopScreen()       resolve success
//   sendChat(text)      sends a chat message; false if it could not
//   chatLog()           the shown messages [{name, from, shownFrom, text, time, self}]
//   tileState()         {participantId: {name, mic, cam, mutedMic, mutedCam, video,
//                       speaking, pinned, staged, hasScreen, screenStaged}}
//   localState()        the same for the own tile, with sharing, camLive, micLive
//   pin(participantId | 'local' | 'screen:<id>' | null)
//   openPanel('chat' | 'people' | 'settings' | null)
//   inviteLink(), copyInvite()
//   dropSocket()        closes the WebSocket as a network cut would (no leave)

import { $, h, icon, store, toast } from './dom.js';
import { LocalMedia } from './media.js';
import { Session, socketURL } from './signaling.js';
import { Peer } from './peer.js';
import { Publisher, live } from './publisher.js';
import { Remote } from './remote.js';
import { Tiles } from './tiles.js';
import { Chat, chatProblem } from './chat.js';
import { People } from './people.js';
import { Panels, copyText, inviteLink } from './panels.js';
import { Speaker } from './speaker.js';
import { Lobby, NAME_KEY, setToggle } from './lobby.js';

const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

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
  'disconnected': 'Disconnected from the server.',
  'shutting-down': 'The server is shutting down.',
  'removed': 'You were removed from the meeting.',
  'server-busy': 'The server is busy:',
};
// Error codes that answer a join; others arriving while joining are shown only.
const JOIN_FAILURES = new Set(['name-taken', 'room-full', 'unauthorized', 'bad-request',
  'already-joined', 'rate-limited', 'internal', 'too-large', 'server-busy']);
// Codes whose server-supplied detail helps the reader.
const WITH_DETAIL = new Set(['bad-request', 'unauthorized', 'negotiation-failed', 'internal', 'server-busy']);
// Join failures that retrying will not cure.
const FATAL_ON_REJOIN = new Set(['room-full', 'unauthorized', 'bad-request']);

let session = null;   // the current Session: WebSocket and Peer
let intent = null;    // {room, name}: the meeting the user wants to be in; null after leave
let resumeToken = null; // from joined: lets a new connection take over this participant
let keptPeer = null;  // the peer connection kept while reconnecting, for a resume

// joinedPeer is the peer connection while joined, else null.
function joinedPeer() {
  if (confab.state !== 'joined' || !session || !session.peer || session.peer.closed) return null;
  return session.peer;
}
// currentPeer is the peer connection in use, also the one kept while
// reconnecting (its media may keep flowing), else null.
function currentPeer() {
  const peer = (session && session.peer) || keptPeer;
  return peer && !peer.closed ? peer : null;
}

// ---------------------------------------------------------------------------
// Page parts
// ---------------------------------------------------------------------------

const ui = {
  meeting: $('meeting'), banner: $('banner'), error: $('error'), notice: $('notice'),
  roomLabel: $('room-label'), conn: $('conn'), connText: $('conn-text'), alone: $('alone'),
  mic: $('mic'), camera: $('camera'), screen: $('screen'), leave: $('leave'), invite: $('invite'),
  chatToggle: $('chat-toggle'), peopleToggle: $('participants-toggle'), settingsToggle: $('settings'),
  devices: $('devices'), joinButton: $('join'), settingsBody: $('settings-body'),
};

const media = new LocalMedia();
const tiles = new Tiles({ layout: $('layout'), stage: $('stage'), strip: $('tiles') });
const remote = new Remote({
  tiles,
  audioBox: $('audio-sinks'),
  soundBox: ui.meeting,
  getPeer: currentPeer,
  selfId: () => confab.selfId,
  sinkId: () => media.choice.audiooutput,
  onChange: () => renderPeople(),
});
const publisher = new Publisher({
  media,
  getPeer: joinedPeer,
  send: (msg) => session && session.send(msg),
  onChange: () => renderAll(),
});
const speaker = new Speaker({
  getPeer: joinedPeer,
  isKnown: (id) => remote.isKnown(id),
  micOn: () => media.micOn,
  onSpeaker: (id) => tiles.setSpeaking(id === 'self' ? 'local' : id),
});
const chat = new Chat({ log: $('chat-log'), form: $('chat-form'), input: $('chat-input'), badge: $('chat-badge'), empty: $('chat-empty'), send: sendChat });
const people = new People({ list: $('people-list'), count: $('people-count'), toggleCount: $('participants-count') });
const panels = new Panels({
  chat: { panel: $('chat-panel'), toggle: ui.chatToggle },
  people: { panel: $('people-panel'), toggle: ui.peopleToggle },
  settings: { panel: $('settings-panel'), toggle: ui.settingsToggle },
}, onPanel);
const lobby = new Lobby(media, {
  onJoin: (room, name) => join(room, name),
  onDevice: changeDevice,
  onMic: () => publisher.muteMic(live(media.mic) && media.micOn),
  onCamera: () => publisher.muteCamera(live(media.cam)),
});
media.onchange = () => renderAll();

// ---------------------------------------------------------------------------
// Test hook
// ---------------------------------------------------------------------------

const confab = {
  state: 'idle',
  stateLog: [],
  selfId: null,
  room: null,
  lastError: null,
  get participants() { return remote.participants; },
  get tracks() { return currentPeer() ? currentPeer().tracks : {}; },
  get pc() { return currentPeer() ? currentPeer().pc : null; },
  get ws() { return session ? session.ws : null; },
  get localStream() { return media.stream; },
  negotiations: 0,
  collisions: 0,
  negotiationErrors: [],
  reconnects: 0,
  resumes: 0,
  connection: '',
  get activeSpeaker() { return speaker.current === 'self' ? confab.selfId : speaker.current; },
  get audioLevels() { return speaker.levels; },
  join,
  leave,
  stats: async () => (currentPeer() ? currentPeer().stats() : {}),
  remoteTiles,
  muteMic: (muted) => publisher.muteMic(muted),
  muteCamera: (off) => publisher.muteCamera(off),
  shareScreen: () => publisher.shareScreen(),
  stopScreen: () => publisher.stopScreen(),
  sendChat,
  chatLog: () => chat.log(),
  tileState,
  localState,
  pin: (key) => tiles.pin(key),
  openPanel: (name) => panels.open(name),
  inviteLink: () => inviteLink(confab.room),
  copyInvite,
  dropSocket,
};
window.confab = confab;

function initControls() {
  const label = (text) => h('span', { class: 'ctl-text', text });
  ui.mic.prepend(icon('mic', 'when-on'), icon('mic-off', 'when-off'), label('Mic'));
  ui.camera.prepend(icon('cam', 'when-on'), icon('cam-off', 'when-off'), label('Camera'));
  ui.screen.prepend(icon('screen'), label('Present'));
  ui.leave.prepend(icon('leave'), label('Leave'));
  ui.chatToggle.prepend(icon('chat'), label('Chat'));
  ui.peopleToggle.prepend(icon('people'), label('People'));
  ui.invite.prepend(icon('link'), label('Invite'));
  ui.settingsToggle.prepend(icon('settings'), label('Devices'));
  $('chat-send').append(icon('send'));
  document.querySelectorAll('[data-close]').forEach((b) => b.append(icon('close')));

  ui.mic.addEventListener('click', () => publisher.muteMic(live(media.mic) && media.micOn));
  ui.camera.addEventListener('click', () => publisher.muteCamera(live(media.cam)));
  ui.screen.addEventListener('click', () => (media.screen ? publisher.stopScreen() : publisher.shareScreen()));
  ui.leave.addEventListener('click', () => leave());
  for (const b of [ui.invite, $('alone-invite'), $('people-invite')]) b.addEventListener('click', () => copyInvite());
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    ui.screen.disabled = true;
    ui.screen.title = 'This browser cannot share its screen';
  }
  window.addEventListener('online', () => { if (wakeUp) wakeUp(); });
  // Closing the tab: leave at once, or the server would wait for a resume.
  window.addEventListener('pagehide', () => { if (session && session.joined) session.send({ type: 'leave' }); });
}

// ---------------------------------------------------------------------------
// States and messages for the reader
// ---------------------------------------------------------------------------

function setState(state) {
  confab.state = state;
  confab.stateLog.push(state);
  if (confab.stateLog.length > 50) confab.stateLog.shift();
  document.body.dataset.state = state;
  const inMeeting = state === 'joined' || state === 'reconnecting';
  lobby.show(!inMeeting);
  ui.meeting.hidden = !inMeeting;
  lobby.setBusy(state === 'joining');
  ui.roomLabel.hidden = !inMeeting;
  ui.roomLabel.textContent = inMeeting ? confab.room : '';
  document.title = inMeeting ? `${confab.room} – Confab` : 'Confab';
  if (inMeeting) {
    clearMessages();
    tiles.layout();
  } else {
    panels.open(null);
  }
  if (state !== 'reconnecting') ui.banner.hidden = true;
  updateConnection();
  renderPeople();
}

function updateConnection() {
  const pcState = confab.pc ? confab.pc.connectionState : '';
  let text = '';
  let kind = '';
  if (confab.state === 'joining') [text, kind] = ['Connecting…', 'wait'];
  else if (confab.state === 'reconnecting') [text, kind] = ['Reconnecting…', 'bad'];
  else if (confab.state === 'joined') {
    if (pcState === 'connected') [text, kind] = ['Connected', 'ok'];
    else if (pcState === 'disconnected' || pcState === 'failed') [text, kind] = ['Media interrupted…', 'bad'];
    else [text, kind] = ['Connecting media…', 'wait'];
  }
  confab.connection = text;
  ui.conn.hidden = !text;
  ui.conn.dataset.conn = kind;
  ui.connText.textContent = text;
}

function errorText(code, detail) {
  const text = ERROR_TEXT[code];
  if (!text) return detail ? `Error (${code}): ${detail}` : `Error: ${code}`;
  return detail && WITH_DETAIL.has(code) ? `${text} ${detail}` : text;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

function clearMessages() {
  showError('');
  showNotice('');
}

function validate(room, name) {
  if (!ROOM_RE.test(room)) return 'Room must be 1–64 characters of A-Z a-z 0-9 _ . -';
  const n = [...name].length;
  if (n < 1 || n > 64) return 'Name must be 1–64 characters';
  // As the server's unicode.IsPrint: no control, format, unassigned or
  // private characters, and no space but the ASCII one.
  if (/[\p{C}\p{Zl}\p{Zp}]/u.test(name) || /[^\P{Zs} ]/u.test(name)) return 'Name must contain printable characters only';
  return null;
}

// ---------------------------------------------------------------------------
// Joining, leaving, rejoining
// ---------------------------------------------------------------------------

// join(room, name) does what the form does. It resolves to true once
// "joined" arrives, false on an error (state 'error', lastError set).
async function join(room, name) {
  room = String(room ?? '').trim();
  name = String(name ?? '').trim();
  if (confab.state === 'joining' || confab.state === 'joined' || confab.state === 'reconnecting') return false;
  lobby.setFields(room, name);
  clearMessages();
  const invalid = validate(room, name);
  if (invalid) {
    confab.lastError = 'bad-request';
    setState('error');
    showError(invalid);
    return false;
  }
  const want = { room, name };
  intent = want;
  confab.room = room;
  setState('joining');
  lobby.previewing = true;
  await media.prepare();
  if (intent !== want) return false;
  const result = await connectAndJoin(want);
  if (result === 'joined') return true;
  if (intent === want) failJoin(result.code, result.detail);
  return false;
}

// connectAndJoin opens a new connection and joins; it resolves 'joined' or
// {code, detail}.
async function connectAndJoin(want) {
  const sess = new Session();
  try {
    await sess.open(socketURL(), { onMessage: (m) => onMessage(sess, m), onClose: () => onClose(sess) });
  } catch (_) {
    return { code: 'disconnected', detail: 'Could not connect to the server.' };
  }
  if (intent !== want) {
    sess.close();
    return { code: 'left' };
  }
  session = sess;
  const reply = new Promise((resolve) => { sess.pending = resolve; });
  const timer = setTimeout(() => sess.settle({ code: 'disconnected', detail: 'The server did not answer.' }), 15000);
  const msg = { type: 'join', room: want.room, name: want.name };
  const token = new URLSearchParams(location.search).get('token');
  if (token) msg.token = token;
  if (resumeToken) msg.resume = resumeToken;
  sess.send(msg);
  const result = await reply;
  clearTimeout(timer);
  if (result !== 'joined' && session === sess) {
    session = null;
    sess.close();
  }
  return result;
}

function failJoin(code, detail) {
  intent = null;
  dropKept();
  confab.lastError = code;
  if (confab.state === 'reconnecting') teardownMeeting();
  setState('error');
  showError(errorText(code, detail));
}

// leave is what the Leave button does: say goodbye, hang up, turn the
// devices off and go back to the lobby.
function leave() {
  endMeeting({ bye: true, notice: 'You left the meeting.' });
}

// endMeeting hangs up (saying leave if bye), and goes back to the lobby
// showing notice or error; the devices go off if the meeting had begun.
function endMeeting({ bye = false, notice = '', error = '' }) {
  const sess = session;
  const was = confab.state;
  intent = null;
  session = null;
  dropKept();
  if (sess) {
    if (bye && sess.joined) sess.send({ type: 'leave' });
    sess.settle({ code: 'left' });
    if (sess.peer) sess.peer.close();
    sess.close(1000, 'left');
  }
  teardownMeeting();
  clearMessages();
  if (was === 'joined' || was === 'reconnecting') {
    media.stopAll();
    lobby.stopPreview();
    showNotice(notice);
  }
  setState(error ? 'error' : 'idle');
  showError(error);
}

// dropSocket cuts the WebSocket without leaving, as a network failure would.
function dropSocket() {
  if (!session || !session.ws) return false;
  session.ws.close(4000, 'dropped');
  return true;
}

// dropKept gives up resuming: the kept peer connection closes.
function dropKept() {
  resumeToken = null;
  if (keptPeer) keptPeer.close();
  keptPeer = null;
}

function teardownMeeting() {
  speaker.stop();
  remote.clear();
  tiles.clear();
  chat.clear();
  confab.selfId = null;
}

function onMessage(sess, msg) {
  if (sess !== session) return;
  sess.enqueue(() => (sess === session ? handle(sess, msg) : undefined));
}

function onClose(sess) {
  if (sess !== session) return;
  session = null;
  if (confab.state === 'joined' && intent && !sess.pending) {
    // The server may keep this participant for a while: keep the peer
    // connection (media may well keep flowing) to resume it.
    keptPeer = sess.peer;
    startReconnect(sess.shuttingDown ? 'The server is restarting.' : 'Connection lost.');
    return;
  }
  if (sess.peer) sess.peer.close();
  sess.settle({ code: 'disconnected', detail: 'The connection to the server closed.' });
}

// startReconnect shows that the page is reconnecting and connects again:
// the server resumes the same participant if it still can, else the page
// joins the same room with the same name and media, retrying with backoff.
function startReconnect(why) {
  const want = intent;
  speaker.stop();
  setState('reconnecting');
  reconnectLoop(want, why);
}

let wakeUp = null; // ends the current wait early (the browser is back online)

function pause(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); wakeUp = null; resolve(); };
    const timer = setTimeout(done, ms);
    wakeUp = done;
  });
}

async function reconnectLoop(want, why) {
  const started = Date.now();
  let last = null;
  for (let attempt = 1; intent === want; attempt++) {
    ui.banner.textContent = attempt === 1 ? `${why} Reconnecting…` : `${why} Reconnecting… (attempt ${attempt})`;
    ui.banner.hidden = false;
    // The old session may hold the name until the server notices it is
    // gone: retry that soon; anything else with growing pauses.
    const delay = last === 'name-taken' ? 1000 : Math.min(10000, 250 * 2 ** (attempt - 1));
    await pause(delay * (0.8 + 0.4 * Math.random()));
    if (intent !== want) return;
    const result = await connectAndJoin(want);
    if (result === 'joined' || intent !== want) return;
    last = result.code;
    if (FATAL_ON_REJOIN.has(last) || (last === 'name-taken' && Date.now() - started > 90000)) {
      failJoin(last, result.detail);
      media.stopAll();
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Signaling messages
// ---------------------------------------------------------------------------

function handle(sess, msg) {
  const peer = sess.peer;
  switch (msg.type) {
    case 'joined': return onJoined(sess, msg);
    case 'error': return onServerError(sess, msg);
    case 'offer': return peer && peer.onOffer(msg);
    case 'answer': return peer && peer.onAnswer(msg);
    case 'candidate': return peer && peer.onCandidate(msg);
    case 'participant-joined': return remote.add(msg.participant, true);
    case 'participant-left': return remote.remove(msg.participantId);
    case 'track-published': return remote.setPublished(msg.participantId, msg.track);
    case 'track-unpublished': return remote.unsetPublished(msg.participantId, msg.trackId);
    case 'track-muted':
      if (msg.participantId === confab.selfId) return publisher.moderated(msg.trackId, !!msg.muted);
      return remote.setMuted(msg.participantId, msg.trackId, msg.muted);
    case 'chat': return chat.add(msg, confab.selfId);
    default: return undefined; // unknown types are ignored
  }
}

function onServerError(sess, msg) {
  const code = String(msg.code || 'internal');
  console.warn('server error', code, msg.message);
  confab.lastError = code;
  if (code === 'negotiation-failed') confab.negotiationErrors.push(`server: ${msg.message || code}`);
  if (code === 'removed' && sess.joined) {
    endMeeting({ error: `You were removed from the meeting: ${msg.message || 'by a moderator'}.` });
    confab.lastError = code;
    return;
  }
  if (code === 'shutting-down') {
    sess.shuttingDown = true; // the server closes the connection next: rejoin
    return;
  }
  if (sess.pending && JOIN_FAILURES.has(code)) {
    sess.settle({ code, detail: msg.message });
    return;
  }
  toast(errorText(code, msg.message));
}

async function onJoined(sess, msg) {
  if (!sess.pending || !intent) {
    sess.send({ type: 'leave' });
    return;
  }
  const rejoin = confab.state === 'reconnecting';
  resumeToken = typeof msg.resumeToken === 'string' && msg.resumeToken ? msg.resumeToken : null;
  if (rejoin && keptPeer && !keptPeer.closed && msg.self && msg.self.id === confab.selfId) {
    await onResumed(sess, msg);
    return;
  }
  if (keptPeer) keptPeer.close(); // a new participant: the old connection is gone
  keptPeer = null;
  confab.selfId = msg.self && msg.self.id;
  confab.room = msg.room || intent.room;
  confab.lastError = null;
  store.set(NAME_KEY, intent.name);
  const url = new URL(location.href);
  url.searchParams.set('room', confab.room);
  history.replaceState(null, '', url);

  remote.clear();
  if (!rejoin) {
    tiles.clear();
    chat.clear();
  }
  tiles.ensure('local', { name: `${intent.name} (you)`, local: true });
  for (const p of msg.participants || []) remote.add(p, false);
  sess.joined = true;
  if (rejoin) confab.reconnects++;
  setState('joined');
  startPeer(sess, Array.isArray(msg.iceServers) ? msg.iceServers : []);
  renderLocal();
  speaker.start();
  sess.settle('joined');
  if (rejoin) toast('Reconnected');
}

// onResumed carries on as the same participant on a new connection: the
// same peer connection, the room as it is now.
async function onResumed(sess, msg) {
  const peer = keptPeer;
  keptPeer = null;
  sess.peer = peer;
  sess.joined = true;
  remote.sync(Array.isArray(msg.participants) ? msg.participants : []);
  confab.reconnects++;
  confab.resumes++;
  setState('joined');
  await peer.reattach(sess);
  await publisher.resync();
  renderLocal();
  speaker.start();
  sess.settle('joined');
  toast('Reconnected');
}

// startPeer makes the session's peer connection and publishes the local
// media: after a rejoin, the same tracks.
function startPeer(sess, iceServers) {
  const peer = new Peer({
    iceServers,
    session: sess,
    counters: confab,
    onRemote: () => remote.render(),
    onState: updateConnection,
    onError: (text) => toast(`${ERROR_TEXT['negotiation-failed']} ${text}`),
    isKnown: (id) => remote.isKnown(id),
  });
  sess.peer = peer;
  publisher.locked.clear(); // what a moderator muted ended with the old session
  try {
    peer.start(publisher.locals());
  } catch (err) {
    peer.fail('peer connection', err);
  }
}

// changeDevice switches to another camera, microphone or speaker.
async function changeDevice(kind, deviceId) {
  if (kind === 'audiooutput') {
    media.useDevice(kind, deviceId);
    remote.setSinks();
    return;
  }
  await publisher.changeDevice(kind, deviceId);
}

// ---------------------------------------------------------------------------
// Own tile, controls, participant list, panels
// ---------------------------------------------------------------------------

function micState() {
  if (!live(media.mic)) return 'none';
  return media.micOn ? 'on' : 'off';
}

function camState() {
  if (live(media.cam)) return 'on';
  return media.camOn ? 'none' : 'off';
}

function renderAll() {
  if (confab.state === 'joined' || confab.state === 'reconnecting') renderLocal();
  else lobby.render();
}

function renderLocal() {
  if (!tiles.get('local')) return;
  tiles.setState('local', { mic: micState(), cam: camState() });
  tiles.setVideo('local', live(media.cam) ? media.cam : null);
  if (media.screen) {
    tiles.ensure('screen:local', { name: 'You', kind: 'screen', local: true });
    tiles.setVideo('screen:local', media.screen.getVideoTracks()[0] || null);
  } else {
    tiles.remove('screen:local');
  }
  setToggle(ui.mic, micState() !== 'on', 'Mute microphone', 'Unmute microphone');
  setToggle(ui.camera, camState() !== 'on', 'Turn off camera', 'Turn on camera');
  setToggle(ui.screen, !!media.screen, 'Share your screen', 'Stop sharing your screen');
  ui.screen.querySelector('.ctl-text').textContent = media.screen ? 'Stop' : 'Present';
  renderPeople();
}

function renderPeople() {
  const list = [];
  if (intent && confab.selfId) {
    list.push({ id: confab.selfId, name: intent.name, self: true, mic: micState(), cam: camState(), screen: !!media.screen });
  }
  list.push(...remote.list());
  people.render(list);
  ui.alone.hidden = !(confab.state === 'joined' && Object.keys(remote.participants).length === 0);
}

// onPanel follows the side panels: the chat counts unread messages while
// closed; the device pickers move from the lobby form into their panel.
function onPanel(name) {
  chat.setOpen(name === 'chat');
  if (name === 'settings') {
    ui.settingsBody.append(ui.devices);
    lobby.fillDevices();
  } else if (ui.devices.parentNode !== ui.joinButton.parentNode) {
    ui.joinButton.before(ui.devices);
  }
  if (name === 'chat') $('chat-input').focus();
}

async function copyInvite() {
  const link = inviteLink(confab.room);
  await copyText(link, 'Invite link copied');
  return link;
}

// ---------------------------------------------------------------------------
// Chat and tile state (test hook)
// ---------------------------------------------------------------------------

function sendChat(text) {
  text = String(text ?? '');
  const problem = chatProblem(text);
  if (problem) {
    toast(problem);
    return false;
  }
  if (confab.state !== 'joined' || !session || !session.send({ type: 'chat', text })) {
    toast('Not connected: the message was not sent');
    return false;
  }
  return true;
}

function remoteTiles() {
  return [...document.querySelectorAll('#layout .tile[data-participant-id]')].map((t) => t.dataset.participantId);
}

function tileState() {
  const out = {};
  for (const id of Object.keys(remote.participants)) {
    const s = tiles.state(id);
    if (!s) continue;
    const screen = tiles.state(`screen:${id}`);
    out[id] = { ...s, hasScreen: !!(screen && screen.video), screenStaged: !!(screen && screen.staged) };
  }
  return out;
}

function localState() {
  const s = tiles.state('local');
  return s && { ...s, sharing: !!media.screen, camLive: live(media.cam), micLive: live(media.mic) };
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

initControls();
setState('idle');
lobby.focus();
lobby.startPreview();
