// The public page: the schedule from /api/cities, each reading in its city's time, the
// viewer's time and a countdown. No framework, no build step, nothing from another site.

import { LiveClient } from "/static/client.js";

const list = document.getElementById("cities");
const LABELS = {
  scheduled: "Scheduled", preparing: "Preparing", live: "Live", paused: "Paused",
  delayed: "Delayed", finished: "Finished", cancelled: "Cancelled",
};

function fmtTime(date, timeZone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  }).format(date);
}

function fmtCountdown(ms) {
  const sign = ms < 0 ? -1 : 1;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const body = (d ? `${d}d ` : "") + `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return sign < 0 ? `started ${body} ago` : `in ${body}`;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render(cities) {
  list.replaceChildren();
  for (const city of cities) {
    const start = new Date(city.start_utc);
    const li = el("li", "city");
    li.dataset.city = city.id;
    li.append(el("h2", "city-name", city.name.en));
    const local = el("p", "start-local", `${fmtTime(start, city.timezone)} (${city.utc_offset})`);
    li.append(local);
    li.append(el("p", "start-viewer muted", `Your time: ${fmtTime(start)}`));
    if (!city.confirmed) li.append(el("p", "tbc", "to be confirmed"));
    if (city.venue) li.append(el("p", "venue", city.venue));
    if (city.address) li.append(el("p", "address muted", city.address));
    const status = el("p", "status", "");
    li.append(status);
    const note = el("p", "note");
    li.append(note);
    const cd = el("p", "countdown");
    cd.dataset.start = city.start_utc;
    li.append(cd);
    list.append(li);
  }
  tick();
}

function tick() {
  const now = Date.now();
  document.getElementById("viewer-now").textContent = fmtTime(new Date(now));
  for (const cd of document.querySelectorAll(".countdown")) {
    cd.textContent = fmtCountdown(Date.parse(cd.dataset.start) - now);
  }
}

function showStatus(city) {
  const li = list.querySelector(`[data-city="${city.id}"]`);
  if (!li) return;
  const status = li.querySelector(".status");
  status.dataset.state = city.state;
  status.textContent = LABELS[city.state] || city.state;
  li.querySelector(".note").textContent = city.note || "";
}

async function main() {
  document.getElementById("viewer-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const response = await fetch("/api/cities");
  const data = await response.json();
  document.getElementById("title").textContent = data.event.title.en;
  render(data.cities);
  setInterval(tick, 1000);
  const live = new LiveClient({
    onSnapshot: (msg) => msg.cities.forEach(showStatus),
    onEvent: (msg) => { if (msg.kind === "status") showStatus({ id: msg.city, ...msg }); },
  });
  live.connect();
}

main();
