// The lobby, before joining: camera and microphone preview with a level
// meter, device pickers, the display name (remembered) and the room (from the
// URL), and joining with the microphone and camera on or off.

import { $, icon, store } from './dom.js';
import { problemText } from './media.js';

export const NAME_KEY = 'confab.name';
const canPickSpeaker = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

export class Lobby {
  // onJoin(room, name): the form was sent. onDevice(kind, id): a device was picked.
  constructor(media, { onJoin, onDevice, onMic, onCamera }) {
    this.media = media;
    this.previewing = false;
    this.el = {
      section: $('lobby'), form: $('join-form'), room: $('room'), name: $('name'), join: $('join'),
      video: $('preview'), off: $('preview-off'), offText: $('preview-off-text'), start: $('preview-start'),
      mic: $('lobby-mic'), camera: $('lobby-camera'), status: $('media-status'), meter: $('meter-bar'),
      selects: { videoinput: $('camera-select'), audioinput: $('mic-select'), audiooutput: $('speaker-select') },
      speakerLabel: $('speaker-label'),
    };
    const el = this.el;
    el.mic.append(icon('mic', 'when-on'), icon('mic-off', 'when-off'));
    el.camera.append(icon('cam', 'when-on'), icon('cam-off', 'when-off'));

    el.room.value = new URLSearchParams(location.search).get('room') || '';
    el.name.value = store.get(NAME_KEY) || '';
    el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      onJoin(el.room.value, el.name.value);
    });
    el.mic.addEventListener('click', () => onMic());
    el.camera.addEventListener('click', () => onCamera());
    el.start.addEventListener('click', () => this.startPreview());
    for (const [kind, select] of Object.entries(el.selects)) {
      select.addEventListener('change', () => onDevice(kind, select.value));
    }
    if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
      navigator.mediaDevices.addEventListener('devicechange', () => this.fillDevices());
    }
    // The level meter's AudioContext may wait for a gesture to run.
    el.section.addEventListener('pointerdown', () => { if (this.audio) this.audio.ctx.resume().catch(() => {}); });
  }

  // startPreview gets the camera and microphone for the preview; joining
  // uses the same tracks. It resolves when the devices are settled.
  async startPreview() {
    this.previewing = true;
    this.render();
    await this.media.prepare();
    await this.fillDevices();
    this.render();
  }

  stopPreview() {
    this.previewing = false;
    this.stopMeter();
    this.render();
  }

  show(on) {
    this.el.section.hidden = !on;
    if (on) this.render();
    else this.stopMeter();
  }

  setFields(room, name) {
    this.el.room.value = room;
    this.el.name.value = name;
  }

  focus() {
    (this.el.room.value ? this.el.name : this.el.room).focus();
  }

  setBusy(busy) {
    this.el.join.disabled = busy;
    this.el.join.textContent = busy ? 'Joining…' : 'Join now';
  }

  // render shows the state of the local media.
  render() {
    const { media, el } = this;
    const cam = media.cam && media.cam.readyState === 'live' ? media.cam : null;
    const current = el.video.srcObject && el.video.srcObject.getVideoTracks()[0];
    if (current !== cam) {
      el.video.srcObject = cam ? new MediaStream([cam]) : null;
      if (cam) el.video.play().catch(() => {});
    }
    el.off.hidden = !!cam;
    el.start.hidden = this.previewing;
    el.offText.textContent = !this.previewing ? 'Preview is off' : media.camOn ? (media.problems.video ? problemText('video', media.problems.video) : 'Starting camera…') : 'Camera is off';
    setToggle(el.mic, !(media.micOn && media.mic), 'Mute microphone', 'Unmute microphone');
    setToggle(el.camera, !cam, 'Turn off camera', 'Turn on camera');

    const problems = [];
    if (media.problems.audio) problems.push(problemText('audio', media.problems.audio));
    if (media.problems.video && media.camOn) problems.push(problemText('video', media.problems.video));
    if (this.previewing && problems.length) {
      const alone = !media.mic && !media.cam;
      const tail = alone ? 'You can still join as a listener.' : !media.mic ? 'You can still join; the others will not hear you.' : 'You can still join with your microphone.';
      el.status.textContent = `${problems.join('. ')}. ${tail}`;
      el.status.hidden = false;
    } else {
      el.status.hidden = true;
      el.status.textContent = '';
    }
    if (this.previewing && media.mic && !el.section.hidden) this.startMeter(media.mic);
    else this.stopMeter();
  }

  // fillDevices lists the devices in the pickers.
  async fillDevices() {
    const devices = await this.media.devices();
    const names = { videoinput: 'Camera', audioinput: 'Microphone', audiooutput: 'Speaker' };
    for (const [kind, select] of Object.entries(this.el.selects)) {
      const list = devices[kind];
      const chosen = kind === 'audiooutput' ? this.media.choice.audiooutput : this.media.inUse(kind);
      const options = list.map((d, i) => new Option(d.label || `${names[kind]} ${i + 1}`, d.deviceId));
      if (!options.length) {
        const none = new Option(`No ${names[kind].toLowerCase()} found`, '');
        options.push(none);
      }
      select.replaceChildren(...options);
      select.disabled = !list.length;
      if (chosen && list.some((d) => d.deviceId === chosen)) select.value = chosen;
    }
    const speaker = canPickSpeaker && devices.audiooutput.length > 0;
    this.el.selects.audiooutput.hidden = !speaker;
    this.el.speakerLabel.hidden = !speaker;
  }

  // --- microphone level meter ---------------------------------------------

  startMeter(track) {
    if (this.audio && this.audio.track === track) return;
    this.stopMeter();
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      const ctx = new Ctx();
      const source = ctx.createMediaStreamSource(new MediaStream([track]));
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      const data = new Float32Array(analyser.fftSize);
      const audio = { ctx, track, frame: 0 };
      const tick = () => {
        analyser.getFloatTimeDomainData(data);
        let sum = 0;
        for (const v of data) sum += v * v;
        const rms = Math.sqrt(sum / data.length);
        const shown = this.media.micOn ? Math.min(100, Math.round(rms * 400)) : 0;
        this.el.meter.style.width = `${shown}%`;
        audio.frame = requestAnimationFrame(tick);
      };
      audio.frame = requestAnimationFrame(tick);
      this.audio = audio;
    } catch (err) {
      console.warn('level meter', err);
    }
  }

  stopMeter() {
    if (!this.audio) return;
    cancelAnimationFrame(this.audio.frame);
    this.audio.ctx.close().catch(() => {});
    this.audio = null;
    this.el.meter.style.width = '0';
  }
}

// setToggle shows a toggle button as pressed (muted, off) or not. Its
// accessible name stays the same ("Mute microphone": pressed means muted); the
// tooltip says what a click will do.
export function setToggle(button, pressed, label, pressedLabel) {
  button.setAttribute('aria-pressed', String(pressed));
  button.title = pressed ? pressedLabel : label;
}
