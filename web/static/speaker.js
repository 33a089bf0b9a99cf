// The active speaker: every 400 ms, the audio level received from each
// participant (and of the own microphone) from getStats; the loudest above a
// threshold is highlighted, and stays so for a moment after falling silent.

const SPEAKING_LEVEL = 0.02; // RMS above which someone counts as speaking
const HOLD = 1200;           // ms the highlight stays after the level falls
const EVERY = 400;

export class Speaker {
  // getPeer(): the Peer while joined. isKnown(id): a participant of the room.
  // micOn(): the own microphone is unmuted. onSpeaker(id): the speaker
  // changed: a participant id, 'self', or null.
  constructor({ getPeer, isKnown, micOn, onSpeaker }) {
    Object.assign(this, { getPeer, isKnown, micOn, onSpeaker });
    this.levels = {};   // the last measured {participantId | 'self': level}
    this.current = null;
    this.timer = null;
  }

  start() {
    this.stop();
    let busy = false;
    let until = 0;
    this.timer = setInterval(async () => {
      const peer = this.getPeer();
      if (!peer || busy) return;
      busy = true;
      try {
        const levels = await peer.audioLevels();
        if (!this.micOn()) delete levels.self;
        this.levels = levels;
        let best = null;
        let bestLevel = SPEAKING_LEVEL;
        for (const [id, level] of Object.entries(levels)) {
          if (level > bestLevel && (id === 'self' || this.isKnown(id))) [best, bestLevel] = [id, level];
        }
        const now = Date.now();
        let next = this.current;
        if (best) [next, until] = [best, now + HOLD];
        else if (now > until) next = null;
        if (next && next !== 'self' && !this.isKnown(next)) next = null;
        this.set(next);
      } catch (err) {
        console.warn('audio levels', err);
      } finally {
        busy = false;
      }
    }, EVERY);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.levels = {};
    this.set(null);
  }

  set(id) {
    if (id === this.current) return;
    this.current = id;
    this.onSpeaker(id);
  }
}
