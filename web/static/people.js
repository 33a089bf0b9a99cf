// The participant list: everyone in the room, you first, with their
// microphone and camera state.

import { h, icon, initial } from './dom.js';

export class People {
  constructor({ list, count, toggleCount }) {
    this.list = list;
    this.count = count;
    this.toggleCount = toggleCount;
  }

  // render shows people: [{id, name, self, mic, cam, screen}] (mic and cam
  // are on, off or none).
  render(people) {
    const n = String(people.length);
    this.count.textContent = n;
    this.toggleCount.textContent = n;
    const rows = people.map((p) => {
      const name = p.self ? `${p.name} (you)` : p.name;
      const states = [];
      if (p.mic !== 'on') states.push(h('span', { class: 'ind', title: p.mic === 'off' ? 'Microphone muted' : 'No microphone' }, icon('mic-off')));
      if (p.cam !== 'on') states.push(h('span', { class: 'ind', title: p.cam === 'off' ? 'Camera off' : 'No camera' }, icon('cam-off')));
      if (p.screen) states.push(h('span', { class: 'ind on', title: 'Presenting' }, icon('screen')));
      const label = [name, p.mic === 'on' ? '' : 'microphone off', p.cam === 'on' ? '' : 'camera off', p.screen ? 'presenting' : '']
        .filter(Boolean).join(', ');
      return h('li', { class: 'person', dataset: { id: p.id || 'self' }, 'aria-label': label },
        h('span', { class: 'person-avatar', 'aria-hidden': 'true', text: initial(p.name) }),
        h('span', { class: 'person-name', text: name }),
        h('span', { class: 'person-state', 'aria-hidden': 'true' }, ...states));
    });
    this.list.replaceChildren(...rows);
  }
}
