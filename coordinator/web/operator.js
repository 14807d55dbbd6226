// The surtitle operator's console: /operator/CITY[?channel=rehearsal].
//
// Sign in with an operator (or admin) token (session.js: kept in sessionStorage, never in the
// URL). Every move carries `from`: the cue index this console shows, so a double press or a
// stale console cannot skip a line (the server answers `conflict` and nothing moves).
//
// The console holds two channels of the city: live (what the audience sees) and rehearsal
// (practice, its own position and displays). The Live / Rehearsal switch chooses which one
// the keys and buttons cue; `?channel=rehearsal` in the address keeps that choice across a
// reload. On the live channel it can also freeze the screens (F), follow another city's live
// channel, and take control back (unfollow). It listens to every city's live cue events
// (`cues:*`, public views) to know which cities have a script and who follows whom.
//
// This module is what the console does: commands, replies, keys, the connection. What it
// knows is one ConsoleState (operator-state.js); operator-render.js draws it.
import { cityFromPath, openedAtLoopback, rehearsalInAddress } from "/static/cue-text.js";
import { render, renderMode, renderTools, updateRow } from "/static/operator-render.js";
import { ConsoleState, channelSummary } from "/static/operator-state.js";
import { Session, say as sayIn, showConnection } from "/static/session.js";
import {
  STAFF_LANGUAGES, languageSwitch, pickLanguage, translateStatic, translatorFor,
} from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "surtitle-operator-token"; // as saved by earlier versions of this page
const CITY = cityFromPath("/operator/");
const RESYNC_AFTER_MS = 1500;
const MOVES = new Set(["next", "prev", "goto", "blank", "unblank"]);

const state = new ConsoleState(CITY, rehearsalInAddress() ? "rehearsal" : "live");
let lang = pickLanguage(STAFF_LANGUAGES);
state.t = await translatorFor(lang, true);
const t = (key, vars) => state.t(key, vars);

// -- small helpers -------------------------------------------------------------------------

function say(text, kind = "") {
  sayIn($("message"), text, kind);
}

/** Keep a cue's text as seen in a view, and redraw its row if that told us something. */
function remember(index, text, notes, label) {
  if (state.remember(index, text, notes, label)) updateRow(state, index);
}

// -- commands ------------------------------------------------------------------------------

function send(action, extra = {}) {
  if (!session.client || !state.view) return;
  if (!state.live) {
    say(t("op_not_sent_offline"), "error");
    return;
  }
  const leader = state.following();
  if (leader && action !== "unfollow" && action !== "follow") {
    say(t("op_not_sent_following", { here: state.nameOf(CITY), there: state.nameOf(leader) }), "conflict");
    return;
  }
  const from = state.view.index;
  const message = { type: "cue", city: CITY, action, ...extra };
  if (MOVES.has(action)) message.from = from; // moves only: freeze or follow cannot "skip"
  if (state.mode === "rehearsal") message.channel = "rehearsal";
  const id = session.client.command(message);
  const { index, target } = extra;
  state.sent.set(id, { action, from, index, target, channel: state.mode });
  say("");
}

function go() {
  if (state.view && !state.following() && state.view.index >= state.view.count) {
    say(t("op_last_cue"), "error");
    return;
  }
  send("next");
}

function back() {
  if (state.view && !state.following() && state.view.index <= 0) {
    say(t("op_already_start"), "error");
    return;
  }
  send("prev");
}

function toggleBlank() {
  if (state.view) send(state.view.blank ? "unblank" : "blank");
}

function toggleFreeze() {
  if (state.view) send(state.view.frozen ? "release" : "freeze");
}

function followTarget() {
  const option = $("follow-target").selectedOptions[0];
  const target = option && !option.disabled ? option.value : "";
  if (!target || state.mode !== "live") return;
  send("follow", { target });
}

function takeBackControl() {
  if (state.mode === "live" && state.view && state.view.follows) send("unfollow");
}

function setMode(next) {
  if (next === state.mode) return;
  state.mode = next;
  const url = new URL(location.href);
  if (state.mode === "rehearsal") url.searchParams.set("channel", "rehearsal");
  else url.searchParams.delete("channel");
  history.replaceState(null, "", url);
  state.listIndex = -1;
  state.confirmed = null;
  say(t(state.mode === "rehearsal" ? "op_now_rehearsal" : "op_now_live"), "ok");
  render(state);
}

function jump(index) {
  const { view } = state;
  if (!view) return;
  if (!Number.isInteger(index) || index < 0 || index > view.count) {
    say(t("op_no_cue", { index, count: view.count }), "error");
    return;
  }
  if (index === view.index) {
    say(t("op_already_cue", { index }));
    return;
  }
  send("goto", { index });
}

const DONE = {
  next: (c) => t("op_done_next", { n: c.from + 1 }),
  prev: (c) => t("op_done_prev", { n: c.from - 1 }),
  goto: (c) => t("op_done_goto", { n: c.index }),
  blank: () => t("op_done_blank"),
  unblank: () => t("op_done_unblank"),
  freeze: () => t("op_done_freeze"),
  release: () => t("op_done_release"),
  follow: (c) => t("op_done_follow", { city: state.nameOf(c.target) }),
  unfollow: () => t("op_done_unfollow"),
};

const TARGET = {
  next: (c) => c.from + 1,
  prev: (c) => c.from - 1,
  goto: (c) => c.index,
};

function onReply(msg) {
  const command = msg.id ? state.sent.get(msg.id) : null;
  if (msg.id) state.sent.delete(msg.id);
  if (msg.type === "ack") {
    if (command) {
      const done = DONE[command.action](command);
      say(t(command.channel === "rehearsal" ? "op_done_rehearsal" : "op_done", { done }), "ok");
      state.confirmed = command.channel === state.mode
        ? (TARGET[command.action] || ((c) => c.from))(command) : null;
    }
    return;
  }
  const known = command ? state.views[command.channel] : null;
  const stale = command && MOVES.has(command.action) && (/someone else moved/.test(msg.message) ||
    (known && known.index !== command.from));
  if (msg.code === "conflict" && stale && !/follows/.test(msg.message)) {
    // Whether the move that beat this press has reached us yet or not, this is true:
    say(t("op_not_moved", { from: command.from }), "conflict");
    resyncSoon(command.from, command.channel);
    return;
  }
  if (msg.code === "conflict") {
    // Refused by the rules: following another city, a chain of follows, the last cue...
    say(t("op_refused", { message: msg.message }), "conflict");
    // A move refused because we missed a change (a follow set elsewhere): catch up.
    if (command && MOVES.has(command.action)) resyncSoon(command.from, command.channel);
    return;
  }
  say(t("op_not_done", { message: msg.message }), "error");
}

/** After a conflict, the move that beat us should arrive as an event; if it does not,
 * reconnect to catch up. */
function resyncSoon(from, channel = "live") {
  const mine = session.generation;
  setTimeout(() => {
    const known = state.views[channel];
    if (!session.current(mine) || !known || known.index !== from) return;
    const { ws } = session.client;
    if (ws) ws.close(); // LiveClient reconnects and catches up
  }, RESYNC_AFTER_MS);
}

// -- keyboard ------------------------------------------------------------------------------

function isTyping(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement || (target && target.isContentEditable);
}

function onKeyDown(e) {
  if ($("console").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target;
  if (isTyping(target)) {
    if (e.key === "Escape") { target.blur(); $("console").focus(); }
    return; // GO keys never fire while typing a cue number
  }
  const onButton = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
  let handled = true;
  switch (e.key) {
    case " ":
    case "ArrowRight":
    case "PageDown":
      if (!e.repeat) go();
      break;
    case "Enter":
      if (onButton) { handled = false; break; } // Enter presses the focused button
      if (!e.repeat) go();
      break;
    case "ArrowLeft":
    case "PageUp":
      if (!e.repeat) back();
      break;
    case "b":
    case "B":
      if (!e.repeat) toggleBlank();
      break;
    case "f":
    case "F":
      if (!e.repeat) toggleFreeze();
      break;
    case "g":
    case "G":
      $("jump-to").focus();
      $("jump-to").select();
      break;
    default:
      handled = false;
  }
  if (handled) e.preventDefault(); // no page scroll, no click on a focused button
}

// Space "clicks" a focused button on keyup: it is GO here, handled on keydown.
function onKeyUp(e) {
  if (e.key === " " && !isTyping(e.target) && !$("console").hidden) e.preventDefault();
}

// -- the script list -----------------------------------------------------------------------

async function loadScript(token) {
  const mine = session.generation;
  const note = $("script-note");
  let reply;
  try {
    reply = await fetch(`/api/cues/${encodeURIComponent(CITY)}/script`, {
      headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
    });
  } catch {
    reply = null;
  }
  if (mine !== session.generation) return;
  if (reply && reply.ok) {
    const data = await reply.json();
    if (mine !== session.generation) return;
    if (Array.isArray(data.languages) && data.languages.length) state.languages = data.languages;
    state.script.clear();
    for (const cue of data.cues || []) {
      const { text, notes, label } = cue;
      const known = { text: text || {}, notes: notes || "", label: label || "" };
      state.script.set(cue.index ?? cue.number, known);
    }
    state.scriptComplete = true;
    note.hidden = true;
    if (state.view) { state.listCount = -1; render(state); }
    return;
  }
  note.hidden = false;
  note.textContent = t("op_script_failed", { why: reply ? reply.status : t("op_no_network") });
}

// -- connection ----------------------------------------------------------------------------

function applyView(next, channel = "live") {
  if (next.version && next.version !== state.seenVersion) {
    const replaced = state.seenVersion !== null;
    state.seenVersion = next.version;
    if (replaced) { // an admin uploaded a new script: forget the old text
      state.script.clear();
      state.scriptComplete = false;
      state.listCount = -1;
      loadScript(session.token());
      say(t("op_script_replaced"), "ok");
    }
  }
  state.views[channel] = next;
  if (channel === "live") {
    state.others.set(CITY, channelSummary(next));
  }
  if (channel !== state.mode) {
    renderTools(state);
    return;
  }
  // A confirmation of ours goes once the cue has moved on from it (another console, a GO).
  const moved = state.confirmed !== null && next.index !== state.confirmed;
  if (moved && $("message").classList.contains("ok")) {
    say("");
    state.confirmed = null;
  }
  const langs = next.languages;
  if ((langs && langs.length && !state.scriptComplete) || (!state.languages.length && langs)) {
    state.languages = langs;
  }
  remember(next.index, next.text, next.notes, next.label);
  remember(next.index + 1, next.next, next.next_notes, next.next_label);
  render(state);
}

const session = new Session({
  storageKey: TOKEN_KEY,
  t,
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal,
  onStart: () => { $("signin-message").textContent = ""; },
  onSignOut: forget,
  client: {
    channels: ["cues:*", `rehearsal:${CITY}`],
    heartbeatMs: 5000, // a dead network shows as "reconnecting" within 5 s
    maxDelayMs: 5000, // and the console comes back within 5 s of the server
    onConnection: (connection) => {
      const wasLive = state.live;
      state.live = connection === "live";
      if (!state.live && $("message").classList.contains("ok")) say(""); // an old "✓" would mislead
      // Back in sync: the console shows what is true now; an old red message would not be.
      if (state.live && !wasLive && !$("message").classList.contains("ok")) say("");
      render(state);
    },
    onWelcome: (msg, first) => {
      $("mode").hidden = false;
      if (!state.scriptComplete) loadScript(session.token());
      if (first) $("console").focus();
    },
    onSnapshot,
    onEvent,
    onReply,
  },
});

/** Why a welcome's token may not cue this city's surtitles, or null. */
function refusal(msg) {
  if (msg.role === "admin" || (msg.role === "operator" && msg.city === CITY)) return null;
  if (msg.role === "operator") return t("op_wrong_city", { city: msg.city, here: CITY });
  if (msg.role === "public") return t("staff_not_valid");
  return t("op_wrong_role");
}

/** A console opened at a loopback address, with no public_url: the projector links it gives
 * would show a QR code no phone can use. Said plainly, under the links. */
function showQrWarning(publicUrl) {
  const warn = openedAtLoopback() && !publicUrl;
  $("qr-warning").hidden = !warn;
  $("qr-warning").textContent = warn ? t("op_qr_loopback", { address: location.host }) : "";
}

function onSnapshot(msg) {
  state.publicUrl = msg.public_url || null;
  showQrWarning(state.publicUrl);
  state.city = msg.cities.find((c) => c.id === CITY) || state.city;
  state.cityNames = new Map(msg.cities.map((c) => [c.id, c.name.en]));
  if (state.city) $("city-name").textContent = `· ${state.city.name.en}`;
  state.others.clear();
  for (const [id, other] of Object.entries(msg.cues || {})) {
    state.others.set(id, channelSummary(other));
  }
  const cues = msg.cues ? msg.cues[CITY] : null;
  if (!cues) {
    say(t("op_no_script", { city: CITY }), "error");
    return;
  }
  const rehearsal = msg.rehearsal ? msg.rehearsal[CITY] : null;
  if (rehearsal) applyView(rehearsal, "rehearsal");
  applyView(cues, "live");
}

function onEvent(msg) {
  if (msg.kind !== "cue") return;
  const channel = msg.channel === "rehearsal" ? "rehearsal" : "live";
  if (msg.city === CITY) {
    applyView(msg, channel);
  } else if (channel === "live") {
    state.others.set(msg.city, channelSummary(msg));
    renderTools(state);
  }
}

/** After a sign-out (or a refused token): forget the console's knowledge, show the sign-in. */
function forget(message) {
  state.reset();
  $("script-list").replaceChildren();
  $("mode").hidden = true;
  $("signin-message").textContent = message;
  say("");
  $("token").focus();
}

$("go").addEventListener("click", go);
$("back").addEventListener("click", back);
$("blank").addEventListener("click", toggleBlank);
$("freeze").addEventListener("click", toggleFreeze);
$("release").addEventListener("click", toggleFreeze);
$("unfollow").addEventListener("click", takeBackControl);
$("follow-form").addEventListener("submit", (e) => {
  e.preventDefault();
  followTarget();
});
$("follow-target").addEventListener("change", () => renderTools(state));
for (const button of $("mode").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    setMode(button.dataset.mode);
    // The keys cue again at once; Enter does not re-press the switch.
    $("console").focus({ preventScroll: true });
  });
}
$("jump").addEventListener("submit", (e) => {
  e.preventDefault();
  const raw = $("jump-to").value.trim();
  if (raw === "") return;
  jump(Number(raw));
  $("jump-to").value = "";
  $("jump-to").blur();
  $("console").focus();
});
$("script-list").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-index]");
  if (button) jump(Number(button.dataset.index));
});
document.addEventListener("keydown", onKeyDown);
document.addEventListener("keyup", onKeyUp);

/** Every text in ``next``: the page's own, and all that the state draws. */
async function setLanguage(next) {
  state.t = await translatorFor(next, true);
  lang = next;
  document.documentElement.lang = lang;
  translateStatic(document, t);
  languageSwitch($("lang-switch"), STAFF_LANGUAGES, lang, setLanguage);
  showConnection($("connection"), session.client ? session.client.connection || "connecting" : "offline", t);
  renderMode(state);
  if (state.publicUrl !== undefined) showQrWarning(state.publicUrl);
  state.listCount = -1; // the script rows say "Jump to cue…" in the new language too
  if (state.view) render(state);
  else renderTools(state);
}

await setLanguage(lang);
session.begin();
