// The shared websocket client of every page: hello with since/epoch, reconnection with
// exponential back-off and jitter, gap detection, and commands that survive a reconnect
// (re-sent with the same id, which the server applies once).

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;

export class LiveClient {
  /**
   * @param {object} options
   * @param {() => (string|null)} [options.token]  read at each (re)connect
   * @param {string[]|null} [options.channels]  e.g. ["cues:paris"]; null: everything
   * @param {(msg: object) => void} [options.onWelcome]
   * @param {(msg: object) => void} [options.onSnapshot]
   * @param {(msg: object) => void} [options.onEvent]
   * @param {(msg: object) => void} [options.onReply]  ack and error messages
   * @param {(state: string) => void} [options.onConnection]  "connecting" | "live" | "reconnecting"
   */
  constructor(options) {
    this.options = options;
    this.seq = null;
    this.epoch = null;
    this.ws = null;
    this.attempt = 0;
    this.pending = new Map();
    this.nextId = 1;
    this.stopped = false;
    this.synced = false;
  }

  connect() {
    this.stopped = false;
    this._setConnection(this.attempt === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const hello = { type: "hello" };
      const token = this.options.token ? this.options.token() : null;
      if (token) hello.token = token;
      if (this.seq !== null) { hello.since = this.seq; hello.epoch = this.epoch; }
      if (this.options.channels) hello.channels = this.options.channels;
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("message", (e) => this._onMessage(JSON.parse(e.data)));
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.synced = false;
      if (this.stopped) return;
      this._setConnection("reconnecting");
      const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay / 2 + Math.random() * delay / 2);
    });
  }

  close() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  /** Send a command; it gets an id, and is re-sent after a reconnect until answered. */
  command(message) {
    const id = message.id || `${Date.now().toString(36)}-${this.nextId++}`;
    const full = { ...message, id };
    this.pending.set(id, full);
    if (this.ws && this.synced) this.ws.send(JSON.stringify(full));
    return id;
  }

  _setConnection(state) {
    this.connection = state;
    if (this.options.onConnection) this.options.onConnection(state);
  }

  _onMessage(msg) {
    const o = this.options;
    switch (msg.type) {
      case "welcome":
        if (this.epoch !== null && msg.epoch !== this.epoch) this.seq = null;
        this.epoch = msg.epoch;
        if (o.onWelcome) o.onWelcome(msg);
        break;
      case "snapshot":
        this.seq = msg.seq;
        this.epoch = msg.epoch;
        this._synced();
        if (o.onSnapshot) o.onSnapshot(msg);
        break;
      case "event":
        if (this.seq !== null && msg.seq <= this.seq) return; // already seen
        if (!o.channels && this.seq !== null && msg.seq !== this.seq + 1) {
          // A gap: never show a partial state as live. Reconnect and catch up with since.
          this.ws.close();
          return;
        }
        this.seq = msg.seq;
        if (!this.synced) this._synced();
        if (o.onEvent) o.onEvent(msg);
        break;
      case "ack":
      case "error":
        if (msg.id) this.pending.delete(msg.id);
        if (o.onReply) o.onReply(msg);
        break;
      default:
        break;
    }
    // A replay with nothing missed sends no event: welcome's seq equal to ours means in step.
    if (msg.type === "welcome" && this.seq !== null && msg.seq === this.seq) this._synced();
  }

  _synced() {
    if (this.synced) return;
    this.synced = true;
    this.attempt = 0;
    this._setConnection("live");
    for (const message of this.pending.values()) this.ws.send(JSON.stringify(message));
  }
}

/** Format a UTC instant in a zone, 24-hour clock, with the zone's short name. */
export function formatTime(date, timeZone, locale) {
  return new Intl.DateTimeFormat(locale, {
    timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  }).format(date);
}

/** "in 01:02:03" / "started 00:05:00 ago" style countdown parts: [sign, text]. */
export function formatDuration(ms) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (d ? `${d}d ` : "") + `${pad(h)}:${pad(m)}:${pad(s)}`;
}

/** Create an element with a class and text (text only: never HTML). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
