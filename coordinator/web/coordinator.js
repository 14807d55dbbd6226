// The coordinator's page: sign in with a token (session.js: kept in sessionStorage, never in
// the URL), see the city's status and its public note, and move it.
//
// The buttons are the moves the rules allow (the welcome's `transitions`), in the order a
// reading goes; ending and cancelling stand apart and ask first, in a dialog whose default
// button keeps things as they are: a single tap never ends or cancels a reading. The note box
// holds the note everyone sees; what it holds when a button is pressed is what they will see
// (empty clears it: `note: ""`).
import { el, formatDuration } from "/static/client.js";
import { Session, say as sayIn, showConnection } from "/static/session.js";
import {
  STAFF_LANGUAGES, languageSwitch, pickLanguage, translateStatic, translatorFor,
} from "/static/i18n.js";
import { Times, localeFor } from "/static/times.js";
import { clock } from "/static/clock.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "coordinator-token"; // as saved by earlier versions of this page
// The everyday moves, in the order a reading goes; then the two that end it.
const MOVES = ["preparing", "live", "paused", "delayed", "scheduled"];
const FINAL = ["finished", "cancelled"];

let cityId = null;
let transitions = {};
let noteEdited = false; // the note box holds the coordinator's own words, not the server's
let asking = null; // the final state the open dialog asks about
const cities = new Map();
let lang = pickLanguage(STAFF_LANGUAGES);
let t = await translatorFor(lang, true);
let times = new Times(localeFor(lang));
const NOT_STARTED = new Set(["scheduled", "preparing", "delayed"]);

const say = (text, kind) => sayIn($("message"), text, kind);

/** A move's words on its button: an action, from where the reading is. */
function actionLabel(state, from) {
  if (state === "live" && from === "paused") return t("co_do_resume");
  if (state === "delayed" && from === "delayed") return t("co_do_redelay");
  return t(`co_do_${state}`);
}

function render() {
  const city = cities.get(cityId);
  if (!city) return;
  $("city-name").textContent = cityName(city);
  $("city-state").textContent = t(`state_${city.state}`);
  $("city-state").dataset.state = city.state;
  $("city-note").textContent = city.note || "";
  $("city-no-note").hidden = Boolean(city.note);
  if (!noteEdited) $("note").value = city.note || "";
  const began = startedAt(city);
  $("city-start-label").textContent = t(began ? "co_started" : "co_starts");
  const start = new Date(began || city.expected_start_utc || city.start_utc);
  $("city-start").textContent = times.timeIn(start, city.timezone) +
    (!began && city.expected_start_utc ? ` (${t("co_delayed_by", { n: city.delay_minutes })})` : "");
  renderButtons(city);
  tick();
}

function renderButtons(city) {
  const allowed = new Set(transitions[city.state] || []);
  // Staying put is only a move for a delay (a new one replaces it): the note has its buttons.
  const offered = (states) => states.filter((s) => allowed.has(s) && (s !== city.state || s === "delayed"));
  const button = (state) => {
    const node = el("button", "", actionLabel(state, city.state) + (FINAL.includes(state) ? "…" : ""));
    node.type = "button";
    node.dataset.state = state;
    node.addEventListener("click", () => (FINAL.includes(state) ? ask(state) : send(state)));
    return node;
  };
  const moves = offered(MOVES);
  $("actions").replaceChildren(...moves.map(button));
  $("delay-row").hidden = !moves.includes("delayed");
  const finals = offered(FINAL);
  $("final-actions").replaceChildren(...finals.map(button));
  $("final-box").hidden = !finals.length;
}

function cityName(city) {
  return (city.name && (city.name[lang] || city.name.en)) || city.id;
}

/** When the reading actually began, once it has (then every time shown counts from it). */
function startedAt(city) {
  return city.started_at && !NOT_STARTED.has(city.state) ? city.started_at : null;
}

function tick() {
  const city = cities.get(cityId);
  if (!city) return;
  const now = clock.date(); // the event's clock, not this device's
  $("city-clock").textContent = times.clock(now, city.timezone);
  $("city-countdown").textContent = countdown(city, now.getTime());
}

/** "in 00:12:00" before the start; "live for 00:03:37" once begun; "ended at 15:20 CEST". */
function countdown(city, now) {
  const began = startedAt(city);
  if (city.state === "finished" || city.state === "cancelled") {
    const ended = city.ended_at || (city.state === "finished" ? city.updated_at : null);
    return ended ? t("co_ended_at", { time: times.timeIn(new Date(ended), city.timezone) }) : "";
  }
  if (began) {
    const key = city.state === "paused" ? "co_paused_since" : "co_live_for";
    return city.state === "paused"
      ? t(key, { time: times.timeIn(new Date(city.updated_at), city.timezone) })
      : t(key, { d: formatDuration(now - Date.parse(began)) });
  }
  const ms = Date.parse(city.expected_start_utc || city.start_utc) - now;
  return ms >= 0 ? t("co_in", { d: formatDuration(ms) }) : t("co_ago", { d: formatDuration(ms) });
}

/** Ask before a move that ends the reading for everyone (finished, cancelled). */
function ask(state) {
  const city = cities.get(cityId);
  if (!city) return;
  asking = state;
  const name = cityName(city);
  $("confirm-title").textContent = t(`co_ask_${state}`, { city: name });
  $("confirm-text").textContent = t(session.role === "admin" ? "co_ask_admin" : "co_ask_final");
  $("confirm-yes").textContent = t(`co_yes_${state}`);
  $("confirm-no").textContent = t(`co_no_${state}`);
  if (!$("confirm").open) $("confirm").showModal();
  $("confirm-no").focus(); // a reflex Enter keeps things as they are
}

function send(state, note = $("note").value.trim()) {
  const city = cities.get(cityId);
  if (!city || !session.client) return;
  const message = { type: "status", city: cityId, state };
  // The box is what everyone will see: sent when it differs, "" included (it clears).
  if (note !== (city.note || "")) message.note = note;
  if (state === "delayed") message.delay_minutes = Number($("delay").value);
  session.client.command(message);
  say(t("co_sending"));
}

/** The note alone: the same state, a new note ("" clears it). */
function sendNote(note) {
  const city = cities.get(cityId);
  if (!city || !session.client) return;
  const message = { type: "status", city: cityId, state: city.state, note };
  if (city.state === "delayed") message.delay_minutes = city.delay_minutes;
  session.client.command(message);
  say(t("co_sending"));
}

const session = new Session({
  storageKey: TOKEN_KEY,
  t: (key, vars) => t(key, vars),
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal: (msg) => msg.role === "coordinator" || msg.role === "admin" ? null : t("co_wrong_role"),
  onSignOut: (message) => {
    cityId = null;
    noteEdited = false;
    if ($("confirm").open) $("confirm").close();
    say(message, message ? "error" : "");
  },
  client: {
    heartbeatMs: 10000, // a dead network shows as "reconnecting" within 10 s
    onConnection: (state) => {
      // Back in sync: what the page shows is true now; an old error about it would not be.
      if (state === "live" && $("message").classList.contains("error")) say("");
    },
    onWelcome: (msg) => {
      transitions = msg.transitions || {};
      cityId = cityId || msg.city;
    },
    onSnapshot: (msg) => {
      for (const city of msg.cities) cities.set(city.id, city);
      times = new Times(localeFor(lang), msg.cities);
      if (session.role === "admin") {
        const pick = $("city-pick");
        $("city-pick-label").hidden = false;
        pick.replaceChildren(...msg.cities.map((c) => {
          const option = el("option", "", cityName(c));
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
        const { type, seq, kind, city: id, at, ...fields } = msg;
        Object.assign(city, fields);
      } else if (msg.kind === "presence") {
        city.online = msg.online;
      } else if (msg.kind === "schedule" && msg.schedule) {
        Object.assign(city, msg.schedule); // an admin moved the reading: its new time at once
      }
      if (msg.city === cityId) render();
    },
    onReply: (msg) => {
      if (msg.type === "ack") {
        say(t("co_done"), "ok");
        noteEdited = false;
        render();
      } else {
        say(t("co_not_done", { message: msg.message }), "error");
      }
    },
  },
});

$("city-pick").addEventListener("change", (e) => {
  cityId = e.target.value;
  noteEdited = false;
  render();
});
$("note").addEventListener("input", () => { noteEdited = true; });
$("note-save").addEventListener("click", () => sendNote($("note").value.trim()));
$("note-clear").addEventListener("click", () => {
  $("note").value = "";
  sendNote("");
});
$("confirm-no").addEventListener("click", () => $("confirm").close());
$("confirm-yes").addEventListener("click", () => {
  const state = asking;
  $("confirm").close();
  if (state) send(state);
});
$("confirm").addEventListener("close", () => { asking = null; });
/** Every text in ``next``: the page's own, the buttons, the dialog's if open. */
async function setLanguage(next) {
  t = await translatorFor(next, true);
  lang = next;
  times = new Times(localeFor(lang), [...cities.values()]);
  document.documentElement.lang = lang;
  translateStatic(document, t);
  document.title = t("co_title");
  languageSwitch($("lang-switch"), STAFF_LANGUAGES, lang, setLanguage);
  if (asking) ask(asking);
  showConnection($("connection"), session.client ? session.client.connection || "connecting" : "offline", t);
  render();
}

await setLanguage(lang);
setInterval(tick, 1000);
session.begin();
