// The WebSocket of the signaling protocol (docs/protocol.md): one JSON object
// per text frame. A Session is one connection; the page makes a new one to
// rejoin after the connection drops.

// Session owns one WebSocket and a queue that runs the handling of its
// messages one at a time, in order.
export class Session {
  constructor() {
    this.ws = null;
    this.peer = null;       // the Peer once joined
    this.pending = null;    // resolves the join attempt: 'joined' or {code, detail}
    this.joined = false;
    this.closed = false;
    this.chain = Promise.resolve();
  }

  // open connects to url. onMessage gets each decoded message, onClose the
  // close event of a socket that had opened. Rejects if it cannot connect
  // within timeout ms.
  open(url, { onMessage, onClose, timeout = 10000 }) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      this.ws = ws;
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) { reject(new Error('connection timed out')); ws.close(); }
      }, timeout);
      ws.onopen = () => { opened = true; clearTimeout(timer); resolve(this); };
      ws.onerror = () => { if (!opened) { clearTimeout(timer); reject(new Error('cannot connect')); } };
      ws.onmessage = (e) => {
        let msg;
        try { msg = JSON.parse(e.data); } catch (_) { return; }
        if (msg && typeof msg === 'object' && typeof msg.type === 'string') onMessage(msg);
      };
      ws.onclose = (e) => {
        this.closed = true;
        clearTimeout(timer);
        if (!opened) reject(new Error('connection closed'));
        else onClose(e);
      };
    });
  }

  // send sends msg if the socket is open; it tells whether it could.
  send(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  // enqueue runs fn after all the work queued before it.
  enqueue(fn) {
    this.chain = this.chain.then(fn).catch((err) => console.error('signaling', err));
    return this.chain;
  }

  // settle ends the join attempt, if one is waiting, with result.
  settle(result) {
    const resolve = this.pending;
    this.pending = null;
    if (resolve) resolve(result);
  }

  close(code = 1000, reason = '') {
    this.closed = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code, reason);
  }
}

export function socketURL() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${location.host}/ws`;
}
