// What this page sends: muting and unmuting the microphone and camera,
// sharing the screen, switching devices. The buttons and the test hook call
// these same functions.

import { toast } from './dom.js';
import { problemText } from './media.js';

export function live(track) {
  return !!track && track.readyState === 'live';
}

// serializer runs the functions it is given one after the other.
function serializer() {
  let chain = Promise.resolve();
  return (fn) => {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  };
}

export class Publisher {
  // getPeer(): the Peer while joined, else null. send(msg): send a signaling
  // message. onChange(): the local media changed.
  constructor({ media, getPeer, send, onChange }) {
    Object.assign(this, { media, getPeer, send, onChange });
    this.micOps = serializer();
    this.camOps = serializer();
    this.screenOps = serializer();
    this.locked = new Set(); // sources a moderator muted: not to be unmuted
  }

  // locals lists what to publish on a new peer connection: the same tracks
  // after a rejoin.
  locals() {
    const { media } = this;
    const out = [];
    if (live(media.mic)) out.push({ track: media.mic, source: 'microphone', stream: media.stream, muted: !media.micOn });
    if (live(media.cam)) out.push({ track: media.cam, source: 'camera', stream: media.stream });
    if (media.screen) out.push(...screenLocals(media.screen));
    return out;
  }

  // sendMute tells the others; the track id is the one the server knows,
  // which replaceTrack does not change.
  sendMute(source, muted) {
    const peer = this.getPeer();
    const trackId = peer && peer.publishedId(source);
    if (trackId) this.send({ type: 'mute', trackId, muted });
  }

  // muteMic(true) mutes the microphone: the track sends silence and the
  // others are told. muteMic(false) unmutes it, getting a microphone if
  // there is none yet.
  muteMic(muted) {
    return this.micOps(async () => {
      const { media } = this;
      muted = !!muted;
      if (!muted && this.refused('microphone')) return false;
      if (!muted && !live(media.mic)) {
        media.micOn = true;
        const track = await media.micTrack();
        if (!track) {
          media.micOn = false;
          toast(problemText('audio', media.problems.audio));
          this.onChange();
          return false;
        }
        const peer = this.getPeer();
        if (peer && !peer.has('microphone')) peer.publish([{ track, source: 'microphone', stream: media.stream }]);
        else if (peer) await peer.replace('microphone', track);
      }
      media.setMicOn(!muted);
      this.sendMute('microphone', muted);
      this.onChange();
      return true;
    });
  }

  // muteCamera(true) turns the camera off: the track is stopped (its light
  // goes off) and nothing is sent. muteCamera(false) turns it back on.
  muteCamera(off) {
    return this.camOps(async () => {
      const { media } = this;
      if (off) {
        media.cameraOff();
        const peer = this.getPeer();
        if (peer && peer.has('camera')) {
          await peer.replace('camera', null);
          this.sendMute('camera', true);
        }
        this.onChange();
        return true;
      }
      if (this.refused('camera')) return false;
      const track = await media.cameraOn();
      if (!track) {
        media.camOn = false;
        toast(problemText('video', media.problems.video));
        this.onChange();
        return false;
      }
      const peer = this.getPeer();
      if (peer && peer.has('camera')) {
        await peer.replace('camera', track);
        this.sendMute('camera', false);
      } else if (peer) {
        peer.publish([{ track, source: 'camera', stream: media.stream }]);
      }
      this.onChange();
      return true;
    });
  }

  // shareScreen asks for a screen to share and offers it as new tracks.
  shareScreen() {
    return this.screenOps(async () => {
      const { media } = this;
      if (media.screen) return true;
      if (!this.getPeer()) return false;
      let stream;
      try {
        stream = await media.startScreen();
      } catch (err) {
        if (err.name !== 'NotAllowedError' && err.name !== 'AbortError') toast(`Could not share the screen: ${err.message}`);
        return false;
      }
      const peer = this.getPeer();
      if (!peer) {
        media.stopScreen();
        return false;
      }
      // Stopped with the browser's own "Stop sharing" control.
      const [video] = stream.getVideoTracks();
      if (video) video.addEventListener('ended', () => { if (media.screen === stream) this.stopScreen(); });
      peer.publish(screenLocals(stream));
      this.onChange();
      return true;
    });
  }

  // stopScreen removes the screen tracks; the offer that follows tells the
  // server, which tells the others.
  stopScreen() {
    return this.screenOps(async () => {
      if (!this.media.screen) return false;
      const peer = this.getPeer();
      if (peer) {
        peer.unpublish('screen');
        peer.unpublish('screen-audio');
      }
      this.media.stopScreen();
      this.onChange();
      return true;
    });
  }

  // resync makes the peer connection send what the page has now, and tells
  // the server the mute states: after a resume, as changes made while
  // disconnected reached only the local media.
  async resync() {
    const peer = this.getPeer();
    if (!peer) return;
    const { media } = this;
    for (const [source, track] of [['microphone', media.mic], ['camera', media.cam]]) {
      if (live(track) && !peer.has(source)) {
        peer.publish([{ track, source, stream: media.stream, muted: source === 'microphone' && !media.micOn }]);
        continue;
      }
      if (!peer.has(source)) continue;
      const want = live(track) ? track : null;
      if (peer.sending(source) !== want) await peer.replace(source, want);
      this.sendMute(source, source === 'microphone' ? !(want && media.micOn) : !want);
    }
    if (media.screen && !peer.has('screen')) peer.publish(screenLocals(media.screen));
    if (!media.screen && peer.has('screen')) {
      peer.unpublish('screen');
      peer.unpublish('screen-audio');
    }
  }

  // moderated applies a track-muted about an own track: a moderator muted
  // it (the server no longer forwards it) or allowed it again.
  moderated(trackId, muted) {
    const peer = this.getPeer();
    const entry = peer && [...peer.senders].find(([, s]) => s.trackId === trackId);
    if (!entry) return;
    const source = entry[0];
    const what = { microphone: 'your microphone', camera: 'your camera' }[source] || 'your screen share';
    if (muted) {
      this.locked.add(source);
      if (source === 'microphone') this.media.setMicOn(false);
      if (source === 'camera') this.muteCamera(true);
      toast(`A moderator muted ${what}`);
    } else {
      this.locked.delete(source);
      // Still off here: say so, or the others would see it on.
      if ((source === 'microphone' && !this.media.micOn) || (source === 'camera' && !live(this.media.cam))) {
        this.sendMute(source, true);
      }
      toast(`A moderator allowed ${what} again`);
    }
    this.onChange();
  }

  refused(source) {
    if (!this.locked.has(source)) return false;
    toast(`A moderator muted your ${source}: you cannot turn it back on`);
    return true;
  }

  // changeDevice switches to another camera or microphone, in place: the
  // others keep receiving the same track.
  async changeDevice(kind, deviceId) {
    const switched = await this.media.useDevice(kind, deviceId);
    const peer = this.getPeer();
    if (switched && peer) await peer.replace(kind === 'audioinput' ? 'microphone' : 'camera', switched.track);
    this.onChange();
  }
}

function screenLocals(stream) {
  return stream.getTracks().filter(live).map((track) => ({
    track, stream, source: track.kind === 'video' ? 'screen' : 'screen-audio',
  }));
}
