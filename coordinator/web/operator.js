// The surtitle operator's console: /operator/CITY[?channel=rehearsal].
//
// Sign in with an operator (or admin) token (session.js: kept in sessionStorage, never in the
// URL). Every
// move carries `from`: the cue index this console shows, so a double press or a stale
// console cannot skip a line (the server answers `conflict` and nothing moves).
//
// The console holds two channels of the city: live (what the audience sees) and rehearsal
// (practice, its own position and displays). The Live / Rehearsal switch chooses which one
// the keys and buttons cue; `?channel=rehearsal` in the address keeps that choice across a
// reload. On the live channel it can also freeze the screens (F), follow another city's live
// channel, and take control back (unfollow). It listens to every city's live cue events
// (`cues:*`, public views) to know which cities have a script and who follows whom.
import { el } from "/static/client.js";
import {
  cityFromPath, cueBlocks, cuePlainText, hasText, screenLanguages,
} from "/static/cue-text.js";
import { NOT_VALID, Session, say as sayIn } from "/static/session.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "surtitle-operator-token"; // as saved by earlier versions of this page
const CITY = cityFromPath("/operator/");
const RESYNC_AFTER_MS = 1500;
const MOVES = new Set(["next", "prev", "goto", "blank", "unblank"]);

/** Everything the console knows, in one place. Sign-out forgets it all but the mode. */
class ConsoleState {
  constructor(mode) {
    this.mode = mode; // "live" | "rehearsal": the channel the keys and buttons cue
    this.reset();
  }

  reset() {
    this.live = false; // the connection is synced: what we hold is the server's state
    // The operator's view of each channel: index, count, blank, text, next, notes, frozen,
    // shown (what its audience sees), follows...
    this.views = { live: null, rehearsal: null };
    this.city = null; // this city, from the snapshot (names, surtitle languages)
    this.cityNames = new Map(); // id -> English name, from the snapshot
    this.others = new Map(); // every city with a script -> {follows, languages}: its live channel
    this.languages = []; // the script's languages
    this.script = new Map(); // cue index -> {text, notes, label}, from the endpoint or as seen
    this.scriptComplete = false; // `script` is the whole script, from the script endpoint
    this.seenVersion = null; // the script version the cue views carry: a new one, a new script
    this.sent = new Map(); // command id -> {action, from, index, target, channel}
    this.confirmed = null; // the index our last acknowledged command moved to
    this.listCount = -1; // the rows the script list has drawn (-1: draw them again)
    this.listIndex = -1; // the row the script list marks current (-1: mark it again)
  }

  /** The view of the channel the keys cue, or null before the first snapshot. */
  get view() {
    return this.views[this.mode];
  }
}

const state = new ConsoleState(
  new URLSearchParams(location.search).get("channel") === "rehearsal" ? "rehearsal" : "live",
);

// -- small helpers -------------------------------------------------------------------------

function say(text, kind = "") {
  sayIn($("message"), text, kind);
}

/** The languages this city's screens show of its own script (the displays' rule). */
function projected() {
  return screenLanguages(state.languages, [configured()]);
}

/** The languages the screens show now: of the followed city's script while following. */
function shownLanguages() {
  const leader = following();
  if (!leader) return projected();
  const known = state.others.get(leader);
  const available = known && known.languages.length ? known.languages
    : Object.keys(shownNow().text || {});
  return screenLanguages(available, [configured()]);
}

function configured() {
  return state.city && state.city.surtitles ? state.city.surtitles.languages : null;
}

function remember(index, text, notes, label) {
  if (index < 1 || !text) return;
  const known = state.script.get(index);
  if (known && state.scriptComplete) return;
  if (known && JSON.stringify(known.text) === JSON.stringify(text) &&
      known.notes === notes && known.label === label) return;
  state.script.set(index, { text, notes: notes || "", label: label || "" });
  updateRow(index);
}

function nameOf(id) {
  return state.cityNames.get(id) || id;
}

/** The city this console's live screens follow, or null (never in rehearsal mode). */
function following() {
  const { view } = state;
  return state.mode === "live" && view && view.follows ? view.follows : null;
}

/** What the audience of the channel sees now: the server's `shown`, else the pointer. */
function shownNow() {
  const { view } = state;
  if (!view) return null;
  return view.shown || { index: view.index, blank: view.blank, text: view.text };
}

/** "cue 12", or "before the first cue" for 0. */
function cueOrStart(index) {
  return index === 0 ? "before the first cue" : `cue ${index}`;
}

/** The cities whose live screens follow this one. */
function followerNames() {
  return [...state.others].filter(([, o]) => o.follows === CITY).map(([id]) => nameOf(id));
}

function cueName(index) {
  const cue = state.script.get(index);
  const label = cue && cue.label && cue.label !== String(index) ? ` (“${cue.label}”)` : "";
  return `cue ${index}${label}`;
}

function fillTexts(node, texts, langs = state.languages) {
  node.replaceChildren();
  if (!texts || !hasText(texts, state.languages)) {
    node.append(el("p", "empty", texts ? "(blank cue: nothing shown)" : "—"));
    return;
  }
  const blocks = cueBlocks(texts, hasText(texts, langs) ? langs : state.languages);
  for (const block of blocks.children) {
    block.prepend(el("span", "lang-tag", block.dataset.lang.toUpperCase()));
  }
  node.append(blocks);
}

function fillNotes(node, notes) {
  node.textContent = notes || "";
  node.hidden = !notes;
}

// -- rendering -----------------------------------------------------------------------------

function render() {
  const { view } = state;
  document.body.dataset.connection = state.live ? "live" : "offline";
  document.body.dataset.mode = state.mode;
  renderMode();
  const leader = following();
  const off = !state.live || !view || Boolean(leader);
  for (const id of ["go", "back", "blank", "freeze"]) $(id).disabled = off;
  $("jump").querySelector("button").disabled = off;
  document.body.classList.toggle("is-following", Boolean(leader));
  document.body.classList.toggle("is-frozen", Boolean(view && view.frozen));
  renderTools();
  if (!view) return;
  $("go").disabled = off || view.index >= view.count;
  $("back").disabled = off || view.index <= 0;
  renderPosition(view, leader);
  renderBanners();
  renderCards(view, leader);
  renderScreens();
  renderList();
}

/** Where the pointer is, and the badges and toggles that say blank and frozen. */
function renderPosition(view, leader) {
  const { index, count, blank } = view;
  const frozen = Boolean(view.frozen);
  $("jump-to").max = String(count);
  $("position-note").hidden = !leader && !frozen;
  $("position-note").textContent = leader ? "Your own position, not on screens"
    : "Your position, unseen until Release";
  $("position").textContent = index === 0
    ? `Before the first cue · ${count} cues`
    : `Cue ${index} of ${count}`;
  $("blank-badge").hidden = !blank;
  $("blank-badge").textContent = frozen || leader
    ? "BLANK: dark when shown" : "BLANK: screens are dark";
  $("blank").textContent = blank ? "Unblank" : "Blank";
  $("blank").setAttribute("aria-pressed", String(blank));
  document.body.classList.toggle("is-blank", blank);
  $("frozen-badge").hidden = !frozen;
  $("freeze").textContent = frozen ? "Release" : "Freeze";
  $("freeze").setAttribute("aria-pressed", String(frozen));
}

/** The Current, Next and Previous cards: the operator's own pointer. */
function renderCards(view, leader) {
  const { index, count } = view;
  $("current-label").textContent = index >= 1 ? cueName(index) : "(nothing yet)";
  // The projected language is in the "On screens now" box: here, what is read aloud.
  const spoken = state.languages.filter((lang) => !projected().includes(lang));
  fillTexts($("current-text"), index >= 1 ? view.text : null,
    spoken.length ? spoken : state.languages);
  fillNotes($("current-notes"), index >= 1 ? view.notes : "");

  const hasNext = index < count;
  $("next-heading").textContent = leader ? "Your own next cue"
    : view.frozen ? "Next: GO moves to (unseen until Release)" : "Next: GO shows";
  $("next-label").textContent = hasNext ? cueName(index + 1) : "(end of the script)";
  fillTexts($("next-text"), hasNext ? view.next : null);
  fillNotes($("next-notes"), hasNext ? view.next_notes : "");

  const prev = index >= 2 ? state.script.get(index - 1) : null;
  $("prev-label").textContent = index >= 2 ? cueName(index - 1) : "";
  fillTexts($("prev-text"), prev ? prev.text : null);
  if (index >= 2 && !prev) $("prev-text").firstChild.textContent = "(not known yet)";
}

/** Exactly what the audience of this channel sees now (the server's `shown`): the frozen
 * cue while frozen, the followed city's cue while following, else the pointer. */
function renderScreens() {
  const { view } = state;
  const box = $("screens");
  const leader = following();
  const shown = shownNow();
  const langs = shownLanguages();
  const followers = state.mode === "live" ? followerNames() : [];
  const where = state.mode === "rehearsal" ? "On rehearsal screens now"
    : followers.length ? `On screens now (and ${followers.join(", ")}’s)` : "On screens now";
  $("screens-title").textContent = leader
    ? `${where}: ${nameOf(leader)}, ${cueOrStart(shown.index)}`
    : view.frozen ? `${where}, frozen at ${cueOrStart(shown.index)}` : where;
  $("screens-langs").textContent = langs.length ? `(${langs.join(", ")})` : "";
  box.dataset.frozen = String(Boolean(view.frozen));
  box.dataset.following = String(Boolean(leader));
  const [seen, ...nodes] = screensContent(shown, langs, !view.frozen && !leader);
  $("screens-text").replaceChildren(...nodes);
  box.dataset.state = seen;
}

/** What the screens show, as [state, ...nodes]; ``unblankHere``: Unblank acts on what the
 * screens show (not frozen, not following), so the box can say what it brings back. */
function screensContent(shown, langs, unblankHere) {
  const { view } = state;
  if (!state.live) {
    return ["unknown",
      el("p", "", "Not connected: the screens keep their last state; presses are not sent.")];
  }
  if (shown.index === 0) {
    return shown.blank ? ["blank", el("p", "", "Nothing: BLANK (screens dark).")]
      : ["waiting", el("p", "", "Nothing yet: the projector shows the QR code for phones.")];
  }
  if (shown.blank) {
    const dark = el("p", "", "Nothing: BLANK (screens dark).");
    if (!unblankHere || !hasText(view.text, langs)) return ["blank", dark];
    const after = el("div", "after-unblank");
    after.append(el("p", "", "Unblank shows:"), cueBlocks(view.text, langs));
    return ["blank", dark, after];
  }
  if (!hasText(shown.text, langs)) {
    return ["empty", el("p", "", "Nothing: this cue is a blank cue in the script.")];
  }
  return ["text", cueBlocks(shown.text, langs)];
}

/** The header's Live / Rehearsal switch, and the page's title. */
function renderMode() {
  for (const button of $("mode").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === state.mode));
  }
  const display = `/display/${encodeURIComponent(CITY)}`;
  $("go-mode").hidden = state.mode !== "rehearsal";
  $("rehearsal-banner").hidden = state.mode !== "rehearsal";
  $("rehearsal-link").href = `${display}?channel=rehearsal`;
  $("rehearsal-link").textContent = `${display}?channel=rehearsal`;
  $("live-display-link").href = display;
  $("live-display-link").textContent = display;
  $("rehearsal-display-link").href = `${display}?channel=rehearsal`;
  $("rehearsal-display-link").textContent = `${display}?channel=rehearsal`;
  const prefix = state.mode === "rehearsal" ? "REHEARSAL · " : "";
  document.title = `${prefix}Surtitle operator · ${CITY} — My Hour`;
}

/** Following and frozen: what the screens do, and the one button that undoes it. */
function renderBanners() {
  const { view } = state;
  const leader = following();
  $("follow-banner").hidden = !leader;
  if (leader) {
    const shown = shownNow();
    $("follow-title").textContent = `FOLLOWING ${nameOf(leader).toUpperCase()}`;
    $("follow-text").textContent = `${nameOf(CITY)}’s screens and phones show ${nameOf(leader)} ` +
      `(${cueOrStart(shown.index)}), moved by ${nameOf(leader)}’s operator. GO, Back, Blank, ` +
      "Jump and Freeze are off here. Take back control shows your own position: " +
      (view.index === 0 ? "before the first cue (the QR code)." : `cue ${view.index}.`);
  }
  const frozen = Boolean(view.frozen) && !leader;
  $("frozen-banner").hidden = !frozen;
  if (frozen) {
    const shown = shownNow();
    const held = cueOrStart(shown.index);
    const at = cueOrStart(view.index);
    $("frozen-text").textContent = `The screens hold ${held}${shown.blank ? " (blank)" : ""} ` +
      `while you move unseen. Release shows ${at}${view.blank ? " (blank)" : ""}.`;
  }
}

/** Follow another city / who follows us / take back control. */
function renderTools() {
  $("tools-city").textContent = nameOf(CITY);
  const rehearsal = state.mode === "rehearsal";
  $("follow-tools").hidden = rehearsal;
  $("rehearsal-tools").hidden = !rehearsal;
  const leader = state.views.live ? state.views.live.follows : null;
  const followers = followerNames();
  $("followers").hidden = !followers.length;
  $("followers").textContent = followers.length
    ? `${followers.join(", ")} ${followers.length > 1 ? "follow" : "follows"} ${nameOf(CITY)}: ` +
      "your GO moves their screens too (and your Freeze holds them)."
    : "";

  const select = $("follow-target");
  const candidates = [...state.others.keys()].filter((id) => id !== CITY)
    .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const wanted = select.value;
  const options = candidates.map((id) => {
    const chain = state.others.get(id).follows;
    const name = chain ? `${nameOf(id)} (follows ${nameOf(chain)})` : nameOf(id);
    const option = el("option", "", name);
    option.value = id;
    option.disabled = Boolean(chain) || id === leader;
    return option;
  });
  const key = options.map((o) => `${o.value}:${o.textContent}:${o.disabled}`).join("|");
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    select.replaceChildren(...options);
    const keep = options.find((o) => o.value === wanted && !o.disabled) ||
      options.find((o) => !o.disabled) || options[0];
    if (keep) keep.selected = true; // even a greyed-out one: an empty box would say nothing
  }
  const target = select.value && !select.selectedOptions[0]?.disabled ? select.value : "";
  const blocked = !candidates.length ? `No other city has a surtitle script to follow.`
    : followers.length ? `${nameOf(CITY)} cannot follow while others follow it.`
      : leader ? `${nameOf(CITY)} follows ${nameOf(leader)} now: take back control first.`
        : !target ? "Every other city follows someone: nothing to follow." : "";
  const offline = !state.live || !state.views.live;
  $("follow").disabled = offline || Boolean(blocked);
  select.disabled = offline || Boolean(followers.length) || Boolean(leader) || !candidates.length;
  $("follow").textContent = target && !blocked ? `Follow ${nameOf(target)}` : "Follow";
  $("follow-help").textContent = blocked ||
    `${nameOf(CITY)}’s screens and phones will show ${nameOf(target)}’s cues at once, as ` +
    `${nameOf(target)}’s operator moves; your GO is off until you take back control.`;
}

/** The script list: one row per cue (0 too), the pointer's row marked and in view, and
 * while frozen the row the screens hold. */
function renderList() {
  const { view } = state;
  const list = $("script-list");
  if (state.listCount !== view.count) {
    state.listCount = view.count;
    state.listIndex = -1;
    list.replaceChildren(...Array.from({ length: view.count + 1 }, (_, i) => listRow(i)));
    for (let i = 0; i <= view.count; i++) updateRow(i);
  }
  const held = view.frozen && !following() ? String(shownNow().index) : "";
  if (list.dataset.shown !== held) {
    for (const item of list.querySelectorAll("[data-shown]")) delete item.dataset.shown;
    const row = held ? list.querySelector(`li[data-index="${held}"]`) : null;
    if (row) row.dataset.shown = "true";
    list.dataset.shown = held;
  }
  if (state.listIndex !== view.index) {
    for (const row of list.querySelectorAll("[aria-current]")) row.removeAttribute("aria-current");
    const row = list.querySelector(`li[data-index="${view.index}"]`);
    if (row) {
      row.setAttribute("aria-current", "step");
      const top = row.offsetTop - list.offsetTop - list.clientHeight / 3;
      list.scrollTop = Math.max(0, top);
    }
    state.listIndex = view.index;
  }
}

function listRow(index) {
  const item = el("li");
  item.dataset.index = String(index);
  const button = el("button", "cue-row");
  button.type = "button";
  button.dataset.index = String(index);
  item.append(button);
  return item;
}

function updateRow(index) {
  const button = $("script-list").querySelector(`button[data-index="${index}"]`);
  if (!button) return;
  const cue = state.script.get(index);
  button.replaceChildren();
  const number = el("span", "row-n", String(index));
  button.append(number);
  const body = el("span", "row-text");
  if (index === 0) {
    body.append(el("span", "muted", "Before the first cue (QR code on the projector)"));
  } else if (!cue) {
    body.append(el("span", "muted", "(text not loaded)"));
  } else if (!hasText(cue.text, state.languages)) {
    body.append(el("span", "muted", "— blank cue —"));
  } else {
    body.append(cueBlocks(cue.text, state.languages));
  }
  if (cue && cue.label && cue.label !== String(index)) {
    number.append(el("span", "row-label", cue.label));
  }
  if (cue && cue.notes) body.append(el("span", "row-notes", cue.notes));
  button.append(body);
  const plain = cue ? cuePlainText(cue.text[state.languages[0]] || "") : "";
  button.setAttribute("aria-label", `Jump to cue ${index}${plain ? `: ${plain}` : ""}`);
}

// -- commands ------------------------------------------------------------------------------

function send(action, extra = {}) {
  if (!session.client || !state.view) return;
  if (!state.live) {
    say("Not connected: nothing was sent. Wait for “connected”, then press again.", "error");
    return;
  }
  const leader = following();
  if (leader && action !== "unfollow" && action !== "follow") {
    say(`⚠ Not sent: ${nameOf(CITY)}’s screens follow ${nameOf(leader)}. Take back control ` +
      "first (the button in the yellow box).", "conflict");
    return;
  }
  const from = state.view.index; // the cue this console shows: a stale press cannot skip
  const message = { type: "cue", city: CITY, action, ...extra };
  if (MOVES.has(action)) message.from = from; // moves only: freeze or follow cannot "skip"
  if (state.mode === "rehearsal") message.channel = "rehearsal";
  const id = session.client.command(message);
  const { index, target } = extra;
  state.sent.set(id, { action, from, index, target, channel: state.mode });
  say("");
}

function go() {
  if (state.view && !following() && state.view.index >= state.view.count) {
    say("This is the last cue: GO has nothing to show.", "error");
    return;
  }
  send("next");
}

function back() {
  if (state.view && !following() && state.view.index <= 0) {
    say("Already before the first cue.", "error");
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
  say(state.mode === "rehearsal"
    ? "Rehearsal: your presses move the rehearsal screens only, never the audience’s."
    : "Live: your presses move what the audience sees.", "ok");
  render();
}

function jump(index) {
  const { view } = state;
  if (!view) return;
  if (!Number.isInteger(index) || index < 0 || index > view.count) {
    say(`No cue ${index}: choose 0 to ${view.count}.`, "error");
    return;
  }
  if (index === view.index) {
    say(`Cue ${index} is already the current cue.`);
    return;
  }
  send("goto", { index });
}

const DONE = {
  next: (c) => `GO → cue ${c.from + 1}`,
  prev: (c) => `Back → cue ${c.from - 1}`,
  goto: (c) => `Jumped to cue ${c.index}`,
  blank: () => "Blanked",
  unblank: () => "Unblanked",
  freeze: () => "Screens frozen: move unseen, then Release (F)",
  release: () => "Released: the screens show your position",
  follow: (c) => `Following ${nameOf(c.target)}: the screens show its cues`,
  unfollow: () => "Control taken back: the screens show your own position",
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
      const prefix = command.channel === "rehearsal" ? "Rehearsal: " : "";
      say(`✓ ${prefix}${DONE[command.action](command)}`, "ok");
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
    say(`⚠ Not moved: the cue was no longer at ${command.from} (a double press, or another ` +
      "console). The console shows where it is now: check the screens box, press again if " +
      "needed.", "conflict");
    resyncSoon(command.from, command.channel);
    return;
  }
  if (msg.code === "conflict") {
    // Refused by the rules: following another city, a chain of follows, the last cue...
    say(`⚠ Refused: ${msg.message}`, "conflict");
    // A move refused because we missed a change (a follow set elsewhere): catch up.
    if (command && MOVES.has(command.action)) resyncSoon(command.from, command.channel);
    return;
  }
  say(`⚠ Not done: ${msg.message}`, "error");
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
    if (state.view) { state.listCount = -1; render(); }
    return;
  }
  note.hidden = false;
  note.textContent = "The whole script could not be loaded" +
    (reply ? ` (${reply.status})` : " (no network)") + ": a cue's text appears here once the " +
    "console has seen it. Every cue can still be clicked to jump to it.";
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
      say("The script was replaced: the list shows the new one.", "ok");
    }
  }
  state.views[channel] = next;
  if (channel === "live") {
    state.others.set(CITY, channelSummary(next));
  }
  if (channel !== state.mode) {
    renderTools();
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
  render();
}

const session = new Session({
  storageKey: TOKEN_KEY,
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal,
  onStart: () => { $("signin-message").textContent = ""; },
  onSignOut: forget,
  client: {
    channels: ["cues:*", `rehearsal:${CITY}`],
    heartbeatMs: 5000, // a dead network shows as "reconnecting" within about 10 s
    maxDelayMs: 5000, // and the console comes back within 5 s of the server
    onConnection: (connection) => {
      state.live = connection === "live";
      if (!state.live && $("message").classList.contains("ok")) say(""); // an old "✓" would mislead
      render();
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

/** What the console keeps of a city's live channel: whom it follows, its script's languages. */
function channelSummary(view) {
  return { follows: view.follows || null, languages: view.languages || [] };
}

/** Why a welcome's token may not cue this city's surtitles, or null. */
function refusal(msg) {
  if (msg.role === "admin" || (msg.role === "operator" && msg.city === CITY)) return null;
  if (msg.role === "operator") {
    return `This token is for the surtitles of ${msg.city}, not ${CITY}.`;
  }
  if (msg.role === "public") return NOT_VALID;
  return "This token cannot cue surtitles: use an operator token.";
}

function onSnapshot(msg) {
  state.city = msg.cities.find((c) => c.id === CITY) || state.city;
  state.cityNames = new Map(msg.cities.map((c) => [c.id, c.name.en]));
  if (state.city) $("city-name").textContent = `· ${state.city.name.en}`;
  state.others.clear();
  for (const [id, other] of Object.entries(msg.cues || {})) {
    state.others.set(id, channelSummary(other));
  }
  const cues = msg.cues ? msg.cues[CITY] : null;
  if (!cues) {
    say(`${CITY} has no surtitle script on this server.`, "error");
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
    renderTools();
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
$("follow-target").addEventListener("change", renderTools);
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
renderMode();
session.begin();
