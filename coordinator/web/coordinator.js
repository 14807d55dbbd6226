// The coordinator's page: sign in with a token (session.js: kept in sessionStorage, never in
// the URL), see the city's status, and move it with big buttons for the valid next states only.
import { el, formatDuration, formatTime } from "/static/client.js";
import { Session, say as sayIn } from "/static/session.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "coordinator-token"; // as saved by earlier versions of this page
const LABELS = {
  scheduled: "Scheduled", preparing: "Preparing", live: "Live", paused: "Paused",
  delayed: "Delayed", finished: "Finished", cancelled: "Cancelled",
};

let cityId = null;
let transitions = {};
const cities = new Map();

const say = (text, kind) => sayIn($("message"), text, kind);

function render() {
  const city = cities.get(cityId);
  if (!city) return;
  $("city-name").textContent = city.name.en;
  $("city-state").textContent = LABELS[city.state] || city.state;
  $("city-state").dataset.state = city.state;
  $("city-note").textContent = city.note || "";
  const start = new Date(city.expected_start_utc || city.start_utc);
  $("city-start").textContent = formatTime(start, city.timezone) +
    (city.expected_start_utc ? ` (delayed by ${city.delay_minutes} min)` : "");
  const actions = $("actions");
  actions.replaceChildren();
  for (const state of transitions[city.state] || []) {
    if (state === city.state && state !== "delayed") continue;
    const button = el("button", "", LABELS[state] || state);
    button.type = "button";
    button.dataset.state = state;
    button.addEventListener("click", () => send(state));
    actions.append(button);
  }
  tick();
}

function tick() {
  const city = cities.get(cityId);
  if (!city) return;
  const now = new Date();
  $("city-clock").textContent = formatTime(now, city.timezone);
  const start = Date.parse(city.expected_start_utc || city.start_utc);
  const ms = start - now.getTime();
  $("city-countdown").textContent = ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(ms)} ago`;
}

function send(state) {
  const message = { type: "status", city: cityId, state };
  const note = $("note").value.trim();
  if (note) message.note = note;
  if (state === "delayed") message.delay_minutes = Number($("delay").value);
  session.client.command(message);
  say(`Sending “${LABELS[state]}”…`);
}

const session = new Session({
  storageKey: TOKEN_KEY,
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal: (msg) => msg.role === "coordinator" || msg.role === "admin" ? null
    : "This token cannot change a city's status. Check it and sign in again.",
  onSignOut: (message) => {
    cityId = null;
    say(message, message ? "error" : "");
  },
  client: {
    onWelcome: (msg) => {
      transitions = msg.transitions || {};
      cityId = cityId || msg.city;
    },
    onSnapshot: (msg) => {
      for (const city of msg.cities) cities.set(city.id, city);
      if (session.role === "admin") {
        const pick = $("city-pick");
        $("city-pick-label").hidden = false;
        pick.replaceChildren(...msg.cities.map((c) => {
          const option = el("option", "", c.name.en);
          option.value = c.id;
          return option;
        }));
        cityId = cityId || msg.cities[0].id;
        pick.value = cityId;
      }
      render();
    },
    onEvent: (msg) => {
      const city = cities.get(msg.city);
      if (!city) return;
      if (msg.kind === "status") {
        Object.assign(city, {
          state: msg.state, note: msg.note, delay_minutes: msg.delay_minutes,
          expected_start_utc: msg.expected_start_utc, updated_at: msg.updated_at,
        });
      } else if (msg.kind === "presence") {
        city.online = msg.online;
      }
      if (msg.city === cityId) render();
    },
    onReply: (msg) => {
      if (msg.type === "ack") {
        say("Done: everyone sees it now.", "ok");
        $("note").value = "";
      } else {
        say(`Not done: ${msg.message}`, "error");
      }
    },
  },
});

$("city-pick").addEventListener("change", (e) => { cityId = e.target.value; render(); });
setInterval(tick, 1000);
session.begin();
