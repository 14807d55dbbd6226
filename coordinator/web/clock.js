// One clock for the whole event. The server's `welcome` and `pong` carry its time; a `ping`
// carries the device's `t`, echoed by the pong. Each round trip is a sample, as in NTP: the
// offset is the server's time minus the middle of the trip, and the sample with the shortest
// trip (the least room for error) wins among the last few. Every clock and countdown of every
// page reads `clock.now()`, so a projector laptop three minutes off still says the right
// "starts in", and two cities' screens agree.

const KEEP = 8; // samples kept: the best of the last few round trips
const STEP_MS = 1000; // a sample this far from the best, beyond both trips' errors: a clock step

class EventClock {
  constructor() {
    this.samples = [];
    this.offsetMs = 0; // add to the device's Date.now() to get the server's time
    this.errorMs = Infinity; // half the best round trip: how wrong the offset can be
  }

  /**
   * One round trip: asked at ``sentMs`` (device time), answered at ``serverTime`` (ISO 8601
   * UTC, the server's clock), received at ``receivedMs`` (device time).
   */
  sample(sentMs, serverTime, receivedMs) {
    const server = Date.parse(serverTime);
    if (!Number.isFinite(server) || !Number.isFinite(sentMs) || receivedMs < sentMs) return;
    const delay = receivedMs - sentMs;
    const next = { offset: server - (sentMs + receivedMs) / 2, delay };
    const best = this.best();
    // The device's clock was set (a laptop waking up, NTP): the old samples are wrong now.
    if (best && Math.abs(next.offset - best.offset) > (next.delay + best.delay) / 2 + STEP_MS) {
      this.samples = [];
    }
    this.samples.push(next);
    if (this.samples.length > KEEP) this.samples.shift();
    const chosen = this.best();
    this.offsetMs = chosen.offset;
    this.errorMs = chosen.delay / 2;
  }

  best() {
    return this.samples.reduce((a, b) => (!a || b.delay < a.delay ? b : a), null);
  }

  /** The event's time, in ms since the epoch: the device's clock, corrected. */
  now() {
    return Date.now() + this.offsetMs;
  }

  /** The event's time as a Date. */
  date() {
    return new Date(this.now());
  }
}

/** The page's one clock, shared by every module (LiveClient feeds it). */
export const clock = new EventClock();

/** A countdown to the tenth of a second: "01:02:03.4" (the sign is the caller's). */
export function formatTenths(ms) {
  const tenths = Math.floor(Math.abs(ms) / 100);
  const s = Math.floor(tenths / 10);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}.${tenths % 10}`;
}
