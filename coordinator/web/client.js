// The shared websocket client of every page: hello with since/epoch, reconnection with
// exponential back-off and jitter, gap detection, and commands that survive a reconnect
// (re-sent with the same id, which the server applies once).
//
// "Synced" (connection state "live") means the page holds the server's whole state: after a
// snapshot, or once a replay has reached the seq the welcome announced. Until then the state
// is "connecting" or "reconnecting", and pages must not present what they hold as live.
//
// It also feeds the page's one clock (clock.js) from the server's `welcome` and `pong` times,
// and when the welcome announces another schedule than the one this client saw (the server
// came back with an edited config), it asks for a fresh snapshot rather than a replay.
import { clock } from "/static/clock.js";

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const OPEN_TIMEOUT_MS = 10000; // an opening handshake lost in a dead network: try again
const CLOCK_PINGS = 4; // round trips measured right after each sync, for the clock
const CLOCK_PING_GAP_MS = 300;

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
   * @param {(degraded: boolean) => void} [options.onService]  the server can (false) or cannot
   *   (true) take commands now, e.g. while its store fails over: what the page holds is then
   *   the last known state, and commands wait (they are re-sent until answered)
   * @param {number} [options.minDelayMs]  first reconnect back-off (default 500), doubling...
   * @param {number} [options.maxDelayMs]  ...up to this (default 30000)
   * @param {number} [options.heartbeatMs]  0 (default): off. Otherwise send a ping every half
   *   of it while synced, and treat the connection as lost when a ping gets no answer in time
   *   (a phone in a tunnel keeps a dead socket "open" for minutes): a dead network is
   *   noticed within heartbeatMs.
   * @param {string|null} [options.scheduleVersion]  the schedule the page already holds (the
   *   dashboard's, from the page); a welcome with another one brings a fresh snapshot
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
    this.connection = null;
    this.degraded = false;
    this.minDelayMs = options.minDelayMs ?? MIN_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? MAX_DELAY_MS;
    this.heartbeatMs = options.heartbeatMs || 0;
    this._target = null; // the seq the welcome announced: synced once a replay reaches it
    this._retry = null;
    this._beat = null;
    this._pingSent = null;
    this._helloSent = null;
    this._now = false; // reconnect without waiting (a resync, the network back)
    this.scheduleVersion = options.scheduleVersion || null;
    this._wake = () => this.wake();
    // Back online, or shown again (a phone out of a pocket): do not wait out the back-off.
    window.addEventListener("online", this._wake);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.wake();
    });
  }

  /** Reconnect now if disconnected; a connection that may be dead gets a ping to prove it. */
  wake() {
    if (this.stopped) return;
    if (!this.ws && this._retry !== null) {
      clearTimeout(this._retry);
      this._retry = null;
      this.connect();
    } else if (this.ws && this.synced && this._pingSent === null) {
      this._ping(); // a dead socket is then found within heartbeatMs, not minutes
    }
  }

  connect() {
    this.stopped = false;
    clearTimeout(this._retry);
    this._retry = null;
    this._setConnection(this.attempt === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    this._target = null;
    // A handshake sent into a dead network may never be answered nor refused.
    const opening = setTimeout(() => { if (ws.readyState === WebSocket.CONNECTING) this._drop(ws); }, OPEN_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      clearTimeout(opening);
      if (this.ws !== ws) return;
      const hello = { type: "hello" };
      const token = this.options.token ? this.options.token() : null;
      if (token) hello.token = token;
      if (this.seq !== null) { hello.since = this.seq; hello.epoch = this.epoch; }
      if (this.options.channels) hello.channels = this.options.channels;
      this._helloSent = Date.now();
      ws.send(JSON.stringify(hello));
      // The server answers messages in order, after the catch-up it sends for hello: this
      // pong marks the end of a replay even when none of it was on this client's channels.
      ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
    });
    ws.addEventListener("message", (e) => {
      if (this.ws !== ws) return;
      this._pingSent = null;
      this._onMessage(JSON.parse(e.data));
    });
    ws.addEventListener("close", () => { clearTimeout(opening); this._drop(ws); });
  }

  close() {
    this.stopped = true;
    clearTimeout(this._retry);
    this._retry = null;
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

  _drop(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    this.synced = false;
    this._stopHeartbeat();
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
    if (this.stopped) return;
    this._setConnection("reconnecting");
    const delay = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    this.attempt += 1;
    const wait = this._now ? 0 : delay / 2 + Math.random() * delay / 2;
    this._now = false;
    this._retry = setTimeout(() => this.connect(), wait);
  }

  _setDegraded(degraded) {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    if (this.options.onService) this.options.onService(degraded);
  }

  _setConnection(state) {
    this.connection = state;
    if (this.options.onConnection) this.options.onConnection(state);
  }

  _onMessage(msg) {
    const o = this.options;
    switch (msg.type) {
      case "welcome":
        if (msg.server_time && this._helloSent !== null) {
          clock.sample(this._helloSent, msg.server_time, Date.now());
        }
        if (this.epoch !== null && msg.epoch !== this.epoch) this.seq = null;
        this.epoch = msg.epoch;
        if (msg.schedule_version && this.scheduleVersion && msg.schedule_version !== this.scheduleVersion &&
            this.seq !== null) {
          // Another schedule than ours (an edited config): a replay would not bring it.
          this.scheduleVersion = msg.schedule_version;
          this.seq = null;
          this._now = true;
          this.ws.close();
          return;
        }
        if (msg.schedule_version) this.scheduleVersion = msg.schedule_version;
        if (this.seq !== null && msg.seq < this.seq) {
          // The server's history is behind ours (restored from a backup?): what we hold
          // cannot be trusted. Forget it and reconnect for a snapshot.
          this.seq = null;
          this.ws.close();
          return;
        }
        this._target = msg.seq;
        this._setDegraded(false); // a server that cannot take commands says so after catch-up
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
        // Everything: synced once the replay reaches the welcome's seq. Some channels only:
        // their events skip numbers, so the first one (or the pong) has to do.
        if (!this.synced && (o.channels || this._target === null || msg.seq >= this._target)) {
          this._synced();
        }
        // A hidden event (a frozen channel's move, for its operators only) just keeps the
        // numbering contiguous: nothing to show.
        if (o.onEvent && !msg.hidden) o.onEvent(msg);
        break;
      case "pong":
        if (msg.server_time && typeof msg.t === "number") clock.sample(msg.t, msg.server_time, Date.now());
        if (!this.synced && this._target !== null && this.seq !== null) this._synced();
        break;
      case "service":
        this._setDegraded(msg.state === "degraded");
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
    this._startHeartbeat();
    this._clockPings(this.ws);
    for (const message of this.pending.values()) this.ws.send(JSON.stringify(message));
  }

  /** A few round trips right after a sync: the clock's offset from the best of them. */
  _clockPings(ws) {
    for (let i = 1; i <= CLOCK_PINGS; i++) {
      setTimeout(() => {
        if (this.ws === ws && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
        }
      }, i * CLOCK_PING_GAP_MS);
    }
  }

  _ping() {
    this._pingSent = performance.now();
    this.ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
  }

  // A ping every half period; one unanswered for half a period means the connection is lost.
  // Whenever the network dies, it is noticed within heartbeatMs.
  _startHeartbeat() {
    this._stopHeartbeat();
    if (!this.heartbeatMs) return;
    const ws = this.ws;
    const half = this.heartbeatMs / 2;
    this._beat = setInterval(() => {
      if (this.ws !== ws) return;
      if (this._pingSent !== null) {
        if (performance.now() - this._pingSent >= half - 50) this._drop(ws); // no answer: lost
        return;
      }
      this._ping();
    }, half);
  }

  _stopHeartbeat() {
    clearInterval(this._beat);
    this._beat = null;
    this._pingSent = null;
  }
}

/** Format a UTC instant in a zone, 24-hour clock, with the zone's short name. */
export function formatTime(date, timeZone, locale) {
  return new Intl.DateTimeFormat(locale, {
    timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  }).format(date);
}

/** A duration (its size: the sign is the caller's) as "01:02:03", with whole days before it
 * as ``days(n)`` says them ("2d 01:02:03" by default). */
export function formatDuration(ms, days = (n) => `${n}d`) {
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const pad = (n) => String(n).padStart(2, "0");
  return (d ? `${days(d)} ` : "") + `${pad(h)}:${pad(m)}:${pad(s)}`;
}

/** Create an element with a class and text (text only: never HTML). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
