// Local media: the microphone and camera tracks, the chosen devices, and the
// screen share. It knows nothing of the peer connection; app.js publishes
// what this gives it.

import { store } from './dom.js';

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } };
const DEVICE_KEY = 'confab.devices';

// Why a device could not be used, for a person to read.
export function problemText(kind, err) {
  const what = kind === 'audio' ? 'Microphone' : 'Camera';
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return `${what} blocked: allow it in the browser's site settings`;
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `No ${what.toLowerCase()} found`;
  if (name === 'NotReadableError') return `${what} is in use by another application`;
  if (name === 'NoMediaDevices') return `${what} unavailable: this page needs HTTPS (or localhost) for devices`;
  return `${what} unavailable`;
}

export class LocalMedia {
  constructor() {
    // The live local camera and microphone tracks: the test hook's localStream.
    this.stream = new MediaStream();
    this.mic = null;
    this.cam = null;
    this.micOn = true;     // the microphone is wanted unmuted
    this.camOn = true;     // the camera is wanted on
    this.screen = null;    // the MediaStream of the screen share
    this.problems = { audio: null, video: null }; // the last error getting each
    this.onchange = () => {};
    let saved = {};
    try { saved = JSON.parse(store.get(DEVICE_KEY) || '{}') || {}; } catch (_) { saved = {}; }
    this.choice = { audioinput: saved.audioinput || '', videoinput: saved.videoinput || '', audiooutput: saved.audiooutput || '' };
    this.busy = Promise.resolve();
  }

  // serial runs fn after the media work queued before it.
  serial(fn) {
    const run = this.busy.then(fn);
    this.busy = run.catch(() => {});
    return run;
  }

  constraints(kind) {
    const id = this.choice[kind === 'audio' ? 'audioinput' : 'videoinput'];
    const base = kind === 'audio' ? { echoCancellation: true, noiseSuppression: true, autoGainControl: true } : { ...VIDEO };
    if (id) base.deviceId = { ideal: id };
    return base;
  }

  // prepare gets what is wanted and missing: the microphone always (a muted
  // one is published muted), the camera when it is wanted on. One prompt for
  // both when possible; if that fails, each alone, to learn which one fails.
  prepare() {
    return this.serial(async () => {
      const needMic = !live(this.mic);
      const needCam = this.camOn && !live(this.cam);
      if (!needMic && !needCam) return;
      if (needMic && needCam) {
        try {
          const s = await getUserMedia({ audio: this.constraints('audio'), video: this.constraints('video') });
          this.problems = { audio: null, video: null };
          this.setTrack('audio', s.getAudioTracks()[0]);
          this.setTrack('video', s.getVideoTracks()[0]);
          return;
        } catch (err) {
          console.warn('getUserMedia audio+video', err);
        }
      }
      if (needMic) await this.acquire('audio');
      if (needCam) await this.acquire('video');
    });
  }

  // acquire gets one kind of track; null (and problems[kind] set) on failure.
  async acquire(kind) {
    try {
      const s = await getUserMedia({ [kind]: this.constraints(kind) });
      this.problems[kind] = null;
      const track = kind === 'audio' ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
      this.setTrack(kind, track);
      return track;
    } catch (err) {
      console.warn('getUserMedia', kind, err);
      this.problems[kind] = err;
      this.onchange();
      return null;
    }
  }

  // setTrack makes track the local track of its kind, stopping the old one.
  setTrack(kind, track) {
    const old = kind === 'audio' ? this.mic : this.cam;
    if (old === track) return;
    if (old) {
      old.stop();
      this.stream.removeTrack(old);
    }
    if (kind === 'audio') this.mic = track || null;
    else this.cam = track || null;
    if (track) {
      if (kind === 'audio') track.enabled = this.micOn;
      this.stream.addTrack(track);
      // A device unplugged: the track ends. Forget it; the UI shows it gone.
      track.addEventListener('ended', () => {
        if ((kind === 'audio' ? this.mic : this.cam) !== track) return;
        this.stream.removeTrack(track);
        if (kind === 'audio') this.mic = null; else this.cam = null;
        this.onchange();
      });
    }
    this.onchange();
  }

  // setMicOn mutes (false) or unmutes the microphone track in place.
  setMicOn(on) {
    this.micOn = on;
    if (this.mic) this.mic.enabled = on;
    this.onchange();
  }

  // cameraOn acquires the camera; it resolves the track or null.
  cameraOn() {
    this.camOn = true;
    return this.serial(async () => (live(this.cam) ? this.cam : this.acquire('video')));
  }

  // cameraOff stops the camera, so its light goes off.
  cameraOff() {
    this.camOn = false;
    this.setTrack('video', null);
  }

  // micTrack acquires the microphone if there is none; it resolves the track or null.
  micTrack() {
    return this.serial(async () => (live(this.mic) ? this.mic : this.acquire('audio')));
  }

  // useDevice remembers the choice of a device and, for an input in use,
  // switches to it: it resolves {old, track} (old is already stopped), or null.
  useDevice(kind, deviceId) {
    this.choice[kind] = deviceId;
    store.set(DEVICE_KEY, JSON.stringify(this.choice));
    if (kind === 'audiooutput') return Promise.resolve(null);
    const media = kind === 'audioinput' ? 'audio' : 'video';
    return this.serial(async () => {
      const old = media === 'audio' ? this.mic : this.cam;
      if (!live(old)) return null;
      const track = await this.acquire(media);
      return track ? { old, track } : null;
    });
  }

  // devices lists the devices by kind, with labels once permission is given.
  async devices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    const md = navigator.mediaDevices;
    if (!md || !md.enumerateDevices) return out;
    try {
      for (const d of await md.enumerateDevices()) {
        if (out[d.kind] && d.deviceId) out[d.kind].push(d);
      }
    } catch (err) {
      console.warn('enumerateDevices', err);
    }
    return out;
  }

  // inUse is the device id of the live track of kind (audioinput, videoinput).
  inUse(kind) {
    const t = kind === 'audioinput' ? this.mic : this.cam;
    return (t && t.getSettings && t.getSettings().deviceId) || this.choice[kind];
  }

  // startScreen asks the browser for a screen, window or tab to share.
  async startScreen() {
    const md = navigator.mediaDevices;
    if (!md || !md.getDisplayMedia) throw Object.assign(new Error('screen sharing is not supported by this browser'), { name: 'NotSupportedError' });
    const stream = await md.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: true });
    const [video] = stream.getVideoTracks();
    if (video && 'contentHint' in video) video.contentHint = 'detail';
    this.screen = stream;
    return stream;
  }

  stopScreen() {
    const s = this.screen;
    this.screen = null;
    if (s) s.getTracks().forEach((t) => t.stop());
    return s;
  }

  // stopAll stops every local track (leaving): every device light goes off.
  stopAll() {
    this.stopScreen();
    this.setTrack('audio', null);
    this.setTrack('video', null);
  }
}

function live(track) {
  return !!track && track.readyState === 'live';
}

function getUserMedia(constraints) {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) {
    return Promise.reject(Object.assign(new Error('no media devices'), { name: 'NoMediaDevices' }));
  }
  return md.getUserMedia(constraints);
}
