// The public dashboard: every city's reading at a glance, live. The schedule comes with the
// page (the cards tick even if websockets are blocked), the live status from one
// websocket (LiveClient: back-off, since/epoch). What we hold is shown as live only while the
// client is synced; otherwise every badge says "last known" and a banner says we reconnect.
// No framework, no build step, nothing from another site; all text through i18n.js.

import { LiveClient, el, formatDuration } from "/static/client.js";
import {
  PUBLIC_LANGUAGES, languageSwitch, pickLanguage, translateStatic, translator, translatorFor,
} from "/static/i18n.js";
import { Times, localeFor, viewerZone } from "/static/times.js";
import { dayOrder, liveNow, nextUp } from "/static/day-order.js";
import { clock } from "/static/clock.js";
import { renderMoments } from "/static/moments.js";

const $ = (id) => document.getElementById(id);
const HOUR = 3600000;
const STATES = ["scheduled", "preparing", "live", "paused", "delayed", "finished", "cancelled"];
const NOT_STARTED = new Set(["scheduled", "preparing", "delayed"]);

const model = {
  event: null,
  order: [], // city ids, in the config's order
  cities: new Map(), // id -> schedule fields merged with the live status fields
  cues: {}, // id -> {index, count, blank, follows}
  drift: null, // the last /api/drift answer: {reference, cities: {id: {index, cues_ahead, ...}}}
  haveStatus: false, // a snapshot has been received at least once
  connection: "connecting",
  degraded: false, // the server said it cannot take changes now (its store fails over)
  lastUpdate: null, // when we last received a snapshot or event, or caught up
  scheduleVersion: null, // the schedule we hold (/api/cities' schedule_version)
  moments: [], // the event's named instants: {id, name, at_utc}
  liveSince: new Map(), // id -> ms: when we saw the reading go live
};
const cards = new Map(); // id -> {li, ...element references}
let live = null; // the LiveClient, once started
let lang = "en";
let t = translator();
let locale = "en";

// ---- time formatting: one formatter for every page (times.js) -----------------------------

let times = new Times(locale);
const timeIn = (date, zone) => times.timeIn(date, zone);
const zoneName = (date, zone) => times.zoneName(date, zone);
const sameZone = (a, b) => times.sameZone(a, b);
const utcHM = (ms) => times.utcHM(ms);

/** A new formatter when the language or the schedule changes. */
function resetTimes() {
  times = new Times(locale, model.order.map((id) => model.cities.get(id)), model.event ? model.event.date : null);
}

function duration(ms) {
  return formatDuration(Math.max(0, ms), (n) => t("days", { n }));
}

// ---- the model --------------------------------------------------------------------------------

const synced = () => model.connection === "live";
const cityName = (c) => (c.name && (c.name[lang] || c.name.en)) || c.id;
const stateLabel = (state) => (STATES.includes(state) ? t(`state_${state}`) : t("state_unknown"));

/** The start every view shows: the actual one once the reading began, else the announced
 * new time while delayed, else the schedule's. */
function effectiveStart(c) {
  if (c.started_at && !NOT_STARTED.has(c.state)) return Date.parse(c.started_at);
  const expected = c.state === "delayed" && c.expected_start_utc;
  return Date.parse(expected || c.start_utc);
}

/** The end: the actual one once it ended, else the start plus the duration. */
function effectiveEnd(c) {
  const start = effectiveStart(c);
  const ended = c.ended_at && (c.state === "finished" || c.state === "cancelled") ? Date.parse(c.ended_at) : NaN;
  return ended > start ? ended : start + durationMs(c);
}

/** Whether the reading began at another minute than scheduled (then both are shown). */
function startedOffSchedule(c) {
  return Boolean(c.started_at) && !NOT_STARTED.has(c.state) &&
    Math.abs(Date.parse(c.started_at) - Date.parse(c.start_utc)) >= 60000;
}
const durationMs = (c) => Date.parse(c.end_utc) - Date.parse(c.start_utc);

function mergeSchedule(cities) {
  const ids = cities.map((c) => c.id);
  const same = ids.length === model.order.length && ids.every((id, i) => id === model.order[i]);
  for (const c of cities) model.cities.set(c.id, { ...model.cities.get(c.id), ...c });
  if (!same) {
    model.order = ids;
    for (const id of [...model.cities.keys()]) if (!ids.includes(id)) model.cities.delete(id);
  }
  resetTimes();
  return !same;
}

/** A status event's status fields (state, note, delay, started_at...): all but the envelope. */
function statusFields(msg) {
  const { type, seq, kind, city, at, ...fields } = msg;
  return fields;
}

function noteLiveSince(id, state, at) {
  if (state !== "live") model.liveSince.delete(id);
  else if (!model.liveSince.has(id) && at) model.liveSince.set(id, Date.parse(at));
}

// ---- rendering --------------------------------------------------------------------------------

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function buildCard(id) {
  const li = el("li", "city");
  li.dataset.city = id;
  li.id = `city-${id}`; // the calendar entries link here
  const r = { li };
  const head = el("div", "card-head");
  r.name = el("h3", "city-name");
  r.status = el("p", "status");
  head.append(r.name, r.status);

  r.clockLabel = el("span", "label");
  r.clockTime = el("time", "local-now");
  r.clock = el("p", "clock");
  r.clock.append(r.clockLabel, " ", r.clockTime);

  r.times = el("dl", "times");
  r.dtCity = el("dt");
  r.ddCity = el("dd", "start-local");
  r.dtViewer = el("dt");
  r.ddViewer = el("dd", "start-viewer");
  const rows = [el("div", "time-row"), el("div", "time-row")];
  rows[0].append(r.dtCity, " ", r.ddCity);
  rows[1].append(r.dtViewer, " ", r.ddViewer);
  r.times.append(...rows);
  r.tbc = el("p", "tbc");

  r.countdown = el("p", "countdown");
  r.delay = el("p", "delay-info");
  r.place = el("div", "place");
  r.note = el("p", "note");
  r.updated = el("p", "updated muted");
  r.cues = el("p", "cues");
  r.follows = el("p", "cue-follows");
  r.drift = el("p", "drift");
  r.calendar = el("a", "cal-link");
  r.calendar.href = `/cities/${encodeURIComponent(id)}/calendar.ics`;
  const links = el("p", "card-links");
  links.append(r.calendar);
  li.append(head, r.clock, r.countdown, r.times, r.tbc, r.delay, r.place, r.note, r.updated, r.cues,
    r.follows, r.drift, links);
  cards.set(id, r);
  return li;
}

function buildCards() {
  cards.clear();
  $("cities").replaceChildren(...model.order.map(buildCard));
  for (const id of model.order) updateCard(id);
  orderCards();
}

// ---- the order of the day: cards, and "now / next" at the top -----------------------------

const knownStatuses = () => synced() && model.haveStatus;
const allCities = () => model.order.map((id) => model.cities.get(id));

/** Live cards first, then what comes, by start; what is over last (day-order.js). */
function orderCards() {
  const wanted = dayOrder(allCities(), effectiveStart, knownStatuses());
  const list = $("cities");
  const have = [...list.children].map((li) => li.dataset.city);
  if (have.join() === wanted.join()) return;
  const focused = document.activeElement;
  list.append(...wanted.map((id) => cards.get(id).li).filter(Boolean));
  if (focused && focused !== document.activeElement && list.contains(focused)) focused.focus();
}

const listOf = (names) => new Intl.ListFormat(locale, { type: "conjunction" }).format(names);

/** "Live now: Paris" and "Next: Chennai, at 16:10 CET your time (in 00:39:12)". */
function renderGlance(now) {
  const box = $("glance");
  if (!model.order.length) return;
  box.hidden = false;
  const known = knownStatuses();
  const live = known ? liveNow(allCities().filter((c) => c)) : [];
  const nowLine = $("now-live");
  nowLine.hidden = !known;
  nowLine.dataset.live = String(live.length > 0);
  const names = live.map((c) => (c.state === "paused" ? t("glance_paused", { city: cityName(c) }) : cityName(c)));
  setText(nowLine, live.length ? t("glance_live", { cities: listOf(names) }) : t("glance_none_live"));
  const next = nextUp(allCities(), effectiveStart, durationMs, now, known);
  const nextLine = $("now-next");
  if (!next.cities.length) {
    setText(nextLine, t("glance_no_next"));
    return;
  }
  const vars = {
    cities: listOf(next.cities.map(cityName)),
    time: timeIn(new Date(next.start), viewerZone),
    d: duration(next.start - now),
  };
  setText(nextLine, t(next.start > now ? "glance_next" : "glance_next_due", vars));
}

/** A start time in one zone; when delayed, the new time then the old one struck through. */
function startCell(dd, c, zone) {
  const nodes = [];
  const scheduled = new Date(c.start_utc);
  if (startedOffSchedule(c)) {
    const old = el("del", "", timeIn(scheduled, zone));
    old.prepend(el("span", "visually-hidden", `${t("was")} `));
    nodes.push(el("span", "visually-hidden", `${t("began_word")} `));
    nodes.push(el("strong", "new-time", timeIn(new Date(c.started_at), zone)), " ", old);
  } else if (c.state === "delayed" && c.expected_start_utc) {
    const old = el("del", "", timeIn(scheduled, zone));
    old.prepend(el("span", "visually-hidden", `${t("was")} `));
    nodes.push(el("span", "visually-hidden", `${t("now_word")} `));
    nodes.push(el("strong", "new-time", timeIn(new Date(c.expected_start_utc), zone)), " ", old);
  } else {
    nodes.push(el("span", "", timeIn(scheduled, zone)));
  }
  dd.replaceChildren(...nodes);
}

function updateCard(id) {
  const r = cards.get(id);
  const c = model.cities.get(id);
  if (!r || !c) return;
  const live = synced();
  const known = model.haveStatus && STATES.includes(c.state);
  r.li.dataset.state = live && known ? c.state : "unknown";
  setText(r.name, cityName(c));

  r.status.dataset.state = live && known ? c.state : "unknown";
  if (known && !live) r.status.dataset.lastState = c.state;
  else delete r.status.dataset.lastState;
  setText(r.status, !known ? t("state_unknown") : live ? stateLabel(c.state) : t("last_known", { state: stateLabel(c.state) }));

  setText(r.clockLabel, t("local_time"));
  setText(r.dtCity, t("in_city", { city: cityName(c) }));
  setText(r.dtViewer, t("viewer"));
  startCell(r.ddCity, c, c.timezone);
  startCell(r.ddViewer, c, viewerZone);

  const delayed = known && c.state === "delayed" && c.expected_start_utc;
  const began = known && startedOffSchedule(c);
  r.delay.hidden = !delayed && !began;
  if (delayed) {
    const at = new Date(c.expected_start_utc);
    setText(r.delay, t("delayed_by", { n: c.delay_minutes, time: timeIn(at, c.timezone) }));
  } else if (began) {
    setText(r.delay, t("started_at", {
      time: timeIn(new Date(c.started_at), c.timezone), scheduled: timeIn(new Date(c.start_utc), c.timezone),
    }));
  }

  r.tbc.hidden = c.confirmed;
  setText(r.tbc, t("time_venue_tbc"));
  const place = [];
  if (c.venue) place.push(el("p", "venue", c.venue));
  else if (c.confirmed) place.push(el("p", "venue tbc", t("venue_tbc")));
  if (c.address) place.push(el("p", "address", c.address));
  if (c.access) place.push(el("p", "access", t("getting_there", { access: c.access })));
  if (c.geo && c.geo.length === 2) {
    const map = el("a", "map-link", t("map"));
    map.href = `geo:${c.geo[0]},${c.geo[1]}`;
    place.push(el("p", "map"));
    place[place.length - 1].append(map);
  }
  r.place.replaceChildren(...place);
  r.place.hidden = !place.length;

  setText(r.note, c.note || "");
  r.note.hidden = !c.note;
  r.updated.hidden = !(known && c.updated_at);
  if (!r.updated.hidden) setText(r.updated, t("updated", { time: timeIn(new Date(c.updated_at), c.timezone) }));

  const cue = model.cues[id];
  r.cues.hidden = !cue;
  if (cue) {
    let text = cue.index > 0 ? t("cues", { index: cue.index, count: cue.count }) : t("cues_ready", { count: cue.count });
    if (cue.blank) text += ` ${t("cues_blank")}`;
    setText(r.cues, text);
  }
  const leader = cue && cue.follows ? model.cities.get(cue.follows) : null;
  r.follows.hidden = !leader;
  if (leader) setText(r.follows, t("cue_follows", { city: cityName(leader) }));
  renderDrift(id);

  setText(r.calendar, t("add_to_calendar"));
  r.calendar.setAttribute("aria-label", t("add_to_calendar_aria", { city: cityName(c) }));
  tickCard(id, clock.now());
}

// ---- drift: how far each surtitled city is from the reference -----------------------------

/** The reference city: the first city (in the config's order) that runs surtitles. */
function driftReference() {
  return model.order.find((id) => model.cues[id]) || null;
}

function driftText(id) {
  const d = model.drift;
  const cue = model.cues[id];
  if (!d || !cue || !synced() || !d.cities) return "";
  const ref = d.reference;
  const refCity = model.cities.get(ref);
  const mine = d.cities[id];
  const theirs = d.cities[ref];
  if (!mine || !theirs || !refCity) return "";
  // The reference is named as soon as another city runs surtitles (the server lists a city's
  // drift only once both have begun).
  if (id === ref) return Object.keys(model.cues).some((c) => c !== ref) ? t("drift_reference") : "";
  if (cue.follows === ref) return ""; // it shows the reference's own cue: no drift to tell
  if (mine.index === 0 || theirs.index === 0) return ""; // before either has begun (docs)
  const city = cityName(refCity);
  const ahead = mine.cues_ahead;
  const n = Math.abs(ahead);
  let text = ahead === 0 ? t("drift_level", { city })
    : t(`drift_${ahead < 0 ? "behind" : "ahead"}_${n === 1 ? "one" : "many"}`, { n, city });
  const s = mine.seconds_behind;
  if (typeof s === "number") {
    const minutes = Math.round(Math.abs(s) / 60);
    const agrees = (s > 0 && ahead < 0) || (s < 0 && ahead > 0);
    let time;
    if (Math.abs(s) < 60) time = t("drift_under_minute");
    else if (agrees) time = t("drift_min", { n: minutes });
    else time = t(s > 0 ? "drift_min_behind" : "drift_min_ahead", { n: minutes });
    text += ` · ${time}`;
  }
  return text;
}

function renderDrift(id) {
  const r = cards.get(id);
  if (!r) return;
  const text = driftText(id);
  r.drift.hidden = !text;
  setText(r.drift, text);
}

let driftTimer = 0;
let driftAsked = 0;
/** Ask /api/drift again shortly (a burst of GOs makes one request). */
function scheduleDrift() {
  clearTimeout(driftTimer);
  driftTimer = setTimeout(fetchDrift, 300);
}

async function fetchDrift() {
  const reference = driftReference();
  if (!reference || !synced()) return; // no request while the server is unreachable
  const mine = ++driftAsked;
  let data;
  try {
    const reply = await fetch(`/api/drift?reference=${encodeURIComponent(reference)}`, { cache: "no-store" });
    if (!reply.ok) return;
    data = await reply.json();
  } catch {
    return; // the next cue event asks again
  }
  if (mine !== driftAsked) return; // a later answer is on its way
  model.drift = data;
  for (const id of model.order) renderDrift(id);
}

function timing(c, now) {
  const known = model.haveStatus && STATES.includes(c.state);
  const start = effectiveStart(c);
  if (!known || !synced()) {
    // Not live data: only what the schedule says, never a claim about what is happening.
    return now < start ? t("starts_in", { d: duration(start - now) }) : "";
  }
  if (NOT_STARTED.has(c.state)) {
    if (now > start + durationMs(c)) return t("past_no_news");
    if (now < start) return t(c.state === "delayed" ? "new_start_in" : "starts_in", { d: duration(start - now) });
    if (now - start < 60000) return t("due_now");
    return t("overdue", { d: duration(now - start) });
  }
  if (c.state === "live") {
    const since = c.started_at ? Date.parse(c.started_at)
      : model.liveSince.get(c.id) ?? Date.parse(c.updated_at || c.start_utc);
    return t("live_for", { d: duration(now - since) });
  }
  if (c.state === "paused" && c.updated_at) return t("paused_for", { d: duration(now - Date.parse(c.updated_at)) });
  const ended = c.ended_at || c.updated_at;
  if (c.state === "finished" && ended) return t("ended_at", { time: timeIn(new Date(ended), c.timezone) });
  return "";
}

function tickCard(id, now) {
  const r = cards.get(id);
  const c = model.cities.get(id);
  if (!r || !c) return;
  const date = new Date(now);
  setText(r.clockTime, times.clock(date, c.timezone));
  r.clockTime.dateTime = date.toISOString();
  setText(r.countdown, timing(c, now));
}

// ---- the timeline -----------------------------------------------------------------------------

const timeline = { t0: 0, t1: 0, step: 1 };

function buildTimeline() {
  const box = $("timeline");
  if (!model.order.length) return;
  const cities = model.order.map((id) => model.cities.get(id));
  const starts = cities.map((c) => Math.min(Date.parse(c.start_utc), effectiveStart(c)));
  const ends = cities.map((c) => Math.max(effectiveEnd(c), Date.parse(c.start_utc) + durationMs(c)));
  timeline.t0 = Math.floor(Math.min(...starts) / HOUR) * HOUR - HOUR;
  timeline.t1 = Math.ceil(Math.max(...ends) / HOUR) * HOUR + HOUR;
  const span = timeline.t1 - timeline.t0;
  const pct = (ms) => `${((ms - timeline.t0) / span) * 100}%`;

  const rows = el("ol", "tl-rows");
  const sorted = [...cities].sort((a, b) => effectiveStart(a) - effectiveStart(b));
  const live = synced();
  for (const c of sorted) {
    const known = model.haveStatus && STATES.includes(c.state);
    const row = el("li", "tl-row");
    row.dataset.city = c.id;
    row.dataset.state = known && live ? c.state : "unknown";
    const label = el("span", "tl-label");
    const stateText = !known ? "" : live ? stateLabel(c.state) : t("stale_short", { state: stateLabel(c.state) });
    label.append(el("span", "tl-name", cityName(c)), el("span", "tl-state", stateText));
    const track = el("span", "tl-track");
    const start = effectiveStart(c);
    const end = effectiveEnd(c);
    if (Math.abs(start - Date.parse(c.start_utc)) >= 60000) {
      const ghost = el("span", "tl-ghost");
      ghost.style.left = pct(Date.parse(c.start_utc));
      ghost.style.width = `${(durationMs(c) / span) * 100}%`;
      track.append(ghost);
    }
    const bar = el("span", "tl-bar");
    bar.style.left = pct(start);
    bar.style.width = `${((end - start) / span) * 100}%`;
    bar.append(el("span", "visually-hidden", t("timeline_bar", { start: utcHM(start), end: utcHM(end), state: stateText || t("state_unknown") })));
    track.append(bar);
    row.append(label, track);
    rows.append(row);
  }

  const axis = el("div", "tl-axis");
  axis.setAttribute("aria-hidden", "true");
  const axisTrack = el("div", "tl-axis-track");
  const hours = span / HOUR;
  const width = Math.max(100, (box.clientWidth || 320) - 120);
  timeline.step = [1, 2, 3, 4, 6, 12, 24].find((s) => (width / hours) * s >= 44) || 24;
  for (let ms = timeline.t0 + HOUR; ms < timeline.t1; ms += HOUR) {
    if (new Date(ms).getUTCHours() % timeline.step) continue;
    const tick = el("span", "tl-tick", utcHM(ms));
    tick.style.left = pct(ms);
    axisTrack.append(tick);
  }
  const nowMark = el("span", "tl-now-label", t("now_label"));
  axisTrack.append(nowMark);
  axis.append(el("span", "tl-axis-label", "UTC"), axisTrack);
  box.style.setProperty("--hours", String(hours));
  box.replaceChildren(rows, axis);
  $("timeline-section").hidden = false;
  tickTimeline(clock.now());
}

function tickTimeline(now) {
  const box = $("timeline");
  const inside = now >= timeline.t0 && now <= timeline.t1;
  box.dataset.now = inside ? "in" : "out";
  if (inside) box.style.setProperty("--now", `${((now - timeline.t0) / (timeline.t1 - timeline.t0)) * 100}%`);
  setText($("timeline-caption"), t(inside ? "timeline_caption" : "timeline_now_outside", { time: utcHM(now) }));
}

// ---- page-wide parts --------------------------------------------------------------------------

function renderConnection() {
  const node = $("connection");
  const state = model.connection === "live" && model.degraded ? "degraded" : model.connection;
  document.body.dataset.connection = model.connection;
  node.dataset.state = state;
  const time = model.lastUpdate ? times.hms(model.lastUpdate, viewerZone) : "";
  let text = t("conn_connecting");
  if (state === "live") text = t("conn_live");
  else if (state === "degraded") text = t("conn_degraded");
  else if (state === "reconnecting") text = model.haveStatus ? t("conn_reconnecting", { time }) : t("conn_reconnecting_empty");
  setText(node, text);
  setText($("last-updated"), model.lastUpdate ? t("last_update", { time }) : t("last_update_none"));
}

function renderStatuses() {
  for (const id of model.order) updateCard(id);
  orderCards();
  buildTimeline();
  renderConnection();
  renderGlance(clock.now());
}

function renderAll() {
  document.documentElement.lang = lang;
  translateStatic(document, t);
  languageSwitch($("lang-switch"), PUBLIC_LANGUAGES, lang, setLanguage);
  if (model.event) {
    const title = model.event.title[lang] || model.event.title.en || "";
    setText($("title"), title);
    document.title = t("page_title", { title });
    const date = new Date(`${model.event.date}T12:00:00Z`);
    setText($("event-date"), t("event_date", { date: times.longDate(date) }));
  }
  // Browsers may name a zone by an old alias (Asia/Calcutta): say it as the config does.
  const alias = model.order.map((id) => model.cities.get(id).timezone).find((z) => sameZone(z, viewerZone));
  const name = zoneName(clock.date(), viewerZone);
  const zone = alias || viewerZone;
  setText($("viewer-zone"), name === zone ? name : `${name} (${zone})`); // not "UTC (UTC)"
  if (model.order.length) buildCards();
  buildTimeline();
  renderConnection();
  tick();
}

let tickTimer = null;
function tick() {
  clearTimeout(tickTimer);
  const now = clock.now();
  setText($("viewer-now"), times.hms(new Date(now), viewerZone));
  for (const id of model.order) tickCard(id, now);
  if (model.order.length) tickTimeline(now);
  renderGlance(now);
  // On the event clock's second, so every screen turns its seconds at the same instant.
  tickTimer = setTimeout(tick, 1000 - (now % 1000) + 20);
}

const announcements = [];
function announce(text) {
  if (!announcements.length) {
    queueMicrotask(() => {
      setText($("announcer"), announcements.join(" "));
      announcements.length = 0;
    });
  }
  announcements.push(text);
}

async function setLanguage(next) {
  const wanted = PUBLIC_LANGUAGES.includes(next) ? next : "en";
  const translate = await translatorFor(wanted);
  lang = wanted;
  t = translate;
  locale = localeFor(lang);
  resetTimes();
  renderAll();
}

// ---- live updates -----------------------------------------------------------------------------

function onSnapshot(msg) {
  if (msg.schedule_version && msg.schedule_version !== model.scheduleVersion) {
    // The server has another schedule than the page (a restart with an edited config): the
    // snapshot brings the cities; the event's title and date come with /api/cities.
    model.scheduleVersion = msg.schedule_version;
    fetchSchedule();
  }
  if (msg.moments) model.moments = msg.moments;
  const rebuilt = mergeSchedule(msg.cities);
  for (const c of msg.cities) noteLiveSince(c.id, c.state, c.updated_at);
  model.cues = {};
  for (const [id, cue] of Object.entries(msg.cues || {})) model.cues[id] = cue;
  model.haveStatus = true;
  model.lastUpdate = clock.date();
  if (rebuilt) buildCards();
  renderStatuses();
  scheduleDrift();
}

function onEvent(msg) {
  const c = model.cities.get(msg.city);
  model.lastUpdate = clock.date();
  if (!c) return;
  if (msg.kind === "status") {
    noteLiveSince(msg.city, msg.state, msg.at || msg.updated_at);
    Object.assign(c, statusFields(msg));
    announce([t("announce_status", { city: cityName(c), state: stateLabel(c.state) }), c.note || ""].join(" ").trim());
    updateCard(msg.city);
    orderCards();
    buildTimeline();
    renderGlance(clock.now());
  } else if (msg.kind === "presence") {
    c.online = msg.online;
  } else if (msg.kind === "schedule" && msg.schedule) {
    // An admin edited the schedule: the city's new times, length and venue, drawn at once.
    Object.assign(c, msg.schedule);
    if (msg.schedule_version) {
      model.scheduleVersion = msg.schedule_version;
      if (live) live.scheduleVersion = msg.schedule_version; // a reconnect needs no new snapshot
    }
    resetTimes();
    updateCard(msg.city);
    orderCards();
    buildTimeline();
    renderGlance(clock.now());
  } else if (msg.kind === "cue" && msg.channel !== "rehearsal") {
    model.cues[msg.city] = { index: msg.index, count: msg.count, blank: msg.blank, follows: msg.follows || null };
    updateCard(msg.city);
    scheduleDrift();
  }
  renderConnection();
}

function onConnection(state) {
  model.connection = state;
  if (state === "live") {
    model.lastUpdate = clock.date();
    scheduleDrift();
  }
  renderStatuses();
}

/** The schedule: from the page itself (the server puts /api/cities' JSON in data-schedule),
 * so the cards are drawn before the first paint; else from /api/cities, drawn when it comes. */
function takeSchedule(data) {
  model.event = data.event;
  model.scheduleVersion = data.schedule_version || model.scheduleVersion;
  model.moments = data.event.moments || [];
  mergeSchedule(data.cities);
}

async function fetchSchedule() {
  try {
    takeSchedule(await (await fetch("/api/cities")).json());
    renderAll();
  } catch {
    // The server-rendered list stays; the websocket snapshot will bring the data.
  }
}

async function main() {
  const servedAt = $("served-at"); // the server's note for visitors without JavaScript
  if (servedAt) servedAt.hidden = true;
  $("viewer-clock").hidden = false;
  const inline = $("cities").dataset.schedule;
  if (inline) takeSchedule(JSON.parse(inline));
  await setLanguage(pickLanguage(PUBLIC_LANGUAGES));
  const webcal = $("sub-webcal");
  webcal.href = `webcal://${location.host}/calendar.ics`;
  $("sub-webcal-line").hidden = false;
  const url = $("sub-url");
  url.href = `${location.protocol}//${location.host}/calendar.ics`;
  url.textContent = url.href;
  if ("ResizeObserver" in window) {
    let width = 0;
    new ResizeObserver(([entry]) => {
      const w = Math.round(entry.contentRect.width);
      if (Math.abs(w - width) > 40) { width = w; buildTimeline(); }
    }).observe($("timeline"));
  }
  if (!inline) fetchSchedule();
  const onService = (degraded) => { model.degraded = degraded; renderConnection(); };
  live = new LiveClient({
    onSnapshot, onEvent, onConnection, onService, heartbeatMs: 10000,
    scheduleVersion: model.scheduleVersion,
  });
  live.connect();
  setInterval(() => renderMoments($("moments"), model.moments, clock.now(), lang, t), 100);
}

main();
