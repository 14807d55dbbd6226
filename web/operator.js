// The surtitle operator's console: /operator/CITY.
//
// Sign in with an operator (or admin) token, kept in sessionStorage, never in the URL. Every
// command carries `from`: the cue index this console shows, so a double press or a stale
// console cannot skip a line (the server answers `conflict` and nothing moves).
import { LiveClient, el } from "/static/client.js";
import { cityFromPath, cueBlocks, cuePlainText, hasText } from "/static/cue-text.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "surtitle-operator-token";
const CITY = cityFromPath("/operator/");
const RESYNC_AFTER_MS = 1500;

let client = null;
let generation = 0; // a sign-out makes the old client's late callbacks harmless
let role = null;
let live = false;
let view = null; // the operator's cue view: index, count, blank, text, next, notes, ...
let city = null; // the city from the snapshot (names, projected languages)
let languages = []; // the script's languages
const script = new Map(); // cue index -> {text, notes, label}, from the script endpoint or as seen
let scriptComplete = false;
let seenVersion = null; // the script version the cue views carry: a new one means a new script
const sent = new Map(); // command id -> {action, from, index}

// -- small helpers -------------------------------------------------------------------------

function say(text, kind = "") {
  const node = $("message");
  node.textContent = text;
  node.className = `message ${kind}`;
}

function projected() {
  const wanted = city && city.surtitles ? city.surtitles.languages : null;
  if (wanted && wanted.length) return wanted;
  return languages.filter((lang) => !city || lang !== city.language);
}

function remember(index, text, notes, label) {
  if (index < 1 || !text) return;
  const known = script.get(index);
  if (known && scriptComplete) return;
  if (known && JSON.stringify(known.text) === JSON.stringify(text) &&
      known.notes === notes && known.label === label) return;
  script.set(index, { text, notes: notes || "", label: label || "" });
  updateRow(index);
}

function cueName(index) {
  const cue = script.get(index);
  const label = cue && cue.label && cue.label !== String(index) ? ` (“${cue.label}”)` : "";
  return `cue ${index}${label}`;
}

function fillTexts(node, texts, langs = languages) {
  node.replaceChildren();
  if (!texts || !hasText(texts, languages)) {
    node.append(el("p", "empty", texts ? "(blank cue: nothing shown)" : "—"));
    return;
  }
  const blocks = cueBlocks(texts, hasText(texts, langs) ? langs : languages);
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
  document.body.dataset.connection = live ? "live" : "offline";
  for (const id of ["go", "back", "blank"]) $(id).disabled = !live || !view;
  $("jump").querySelector("button").disabled = !live || !view;
  if (!view) return;
  const { index, count, blank } = view;
  $("go").disabled = !live || index >= count;
  $("back").disabled = !live || index <= 0;
  $("jump-to").max = String(count);
  $("position").textContent = index === 0
    ? `Before the first cue · ${count} cues`
    : `Cue ${index} of ${count}`;
  $("blank-badge").hidden = !blank;
  $("blank").textContent = blank ? "Unblank" : "Blank";
  $("blank").setAttribute("aria-pressed", String(blank));
  document.body.classList.toggle("is-blank", blank);

  const current = index >= 1 ? { text: view.text, notes: view.notes, label: view.label } : null;
  $("current-label").textContent = index >= 1 ? cueName(index) : "(nothing yet)";
  // The projected language is in the "On screens now" box: here, what is read aloud.
  const spoken = languages.filter((lang) => !projected().includes(lang));
  fillTexts($("current-text"), current ? current.text : null, spoken.length ? spoken : languages);
  fillNotes($("current-notes"), current ? current.notes : "");

  const hasNext = index < count;
  $("next-label").textContent = hasNext ? cueName(index + 1) : "(end of the script)";
  fillTexts($("next-text"), hasNext ? view.next : null);
  fillNotes($("next-notes"), hasNext ? view.next_notes : "");

  const prev = index >= 2 ? script.get(index - 1) : null;
  $("prev-label").textContent = index >= 2 ? cueName(index - 1) : "";
  fillTexts($("prev-text"), prev ? prev.text : null);
  if (index >= 2 && !prev) $("prev-text").firstChild.textContent = "(not known yet)";

  renderScreens();
  renderList();
}

/** Exactly what the public view carries now: nothing while blank or before cue 1. */
function renderScreens() {
  const box = $("screens");
  const out = $("screens-text");
  const langs = projected();
  $("screens-langs").textContent = langs.length ? `(${langs.join(", ")})` : "";
  out.replaceChildren();
  let state;
  if (!live) {
    state = "unknown";
    out.append(el("p", "", "Not connected: the screens keep their last state; presses are not sent."));
  } else if (view.index === 0) {
    state = view.blank ? "blank" : "waiting";
    out.append(el("p", "", view.blank
      ? "Nothing: BLANK (screens dark)."
      : "Nothing yet: the projector shows the QR code for phones."));
  } else if (view.blank) {
    state = "blank";
    out.append(el("p", "", "Nothing: BLANK (screens dark)."));
    if (hasText(view.text, langs)) {
      const after = el("div", "after-unblank");
      after.append(el("p", "", "Unblank shows:"), cueBlocks(view.text, langs));
      out.append(after);
    }
  } else if (!hasText(view.text, langs)) {
    state = "empty";
    out.append(el("p", "", "Nothing: this cue is a blank cue in the script."));
  } else {
    state = "text";
    out.append(cueBlocks(view.text, langs));
  }
  box.dataset.state = state;
}

let listCount = -1;
let listIndex = -1;

function renderList() {
  const list = $("script-list");
  if (listCount !== view.count) {
    listCount = view.count;
    listIndex = -1;
    const rows = [];
    for (let i = 0; i <= view.count; i++) {
      const item = el("li");
      item.dataset.index = String(i);
      const button = el("button", "cue-row");
      button.type = "button";
      button.dataset.index = String(i);
      item.append(button);
      rows.push(item);
    }
    list.replaceChildren(...rows);
    for (let i = 0; i <= view.count; i++) updateRow(i);
  }
  if (listIndex !== view.index) {
    for (const item of list.querySelectorAll("[aria-current]")) item.removeAttribute("aria-current");
    const row = list.querySelector(`li[data-index="${view.index}"]`);
    if (row) {
      row.setAttribute("aria-current", "step");
      const top = row.offsetTop - list.offsetTop - list.clientHeight / 3;
      list.scrollTop = Math.max(0, top);
    }
    listIndex = view.index;
  }
}

function updateRow(index) {
  const button = $("script-list").querySelector(`button[data-index="${index}"]`);
  if (!button) return;
  const cue = script.get(index);
  button.replaceChildren();
  const number = el("span", "row-n", String(index));
  button.append(number);
  const body = el("span", "row-text");
  if (index === 0) {
    body.append(el("span", "muted", "Before the first cue (QR code on the projector)"));
  } else if (!cue) {
    body.append(el("span", "muted", "(text not loaded)"));
  } else if (!hasText(cue.text, languages)) {
    body.append(el("span", "muted", "— blank cue —"));
  } else {
    body.append(cueBlocks(cue.text, languages));
  }
  if (cue && cue.label && cue.label !== String(index)) {
    number.append(el("span", "row-label", cue.label));
  }
  if (cue && cue.notes) body.append(el("span", "row-notes", cue.notes));
  button.append(body);
  const plain = cue ? cuePlainText(cue.text[languages[0]] || "") : "";
  button.setAttribute("aria-label", `Jump to cue ${index}${plain ? `: ${plain}` : ""}`);
}

// -- commands ------------------------------------------------------------------------------

function send(action, extra = {}) {
  if (!client || !view) return;
  if (!live) {
    say("Not connected: nothing was sent. Wait for “connected”, then press again.", "error");
    return;
  }
  const from = view.index;
  const id = client.command({ type: "cue", city: CITY, action, from, ...extra });
  sent.set(id, { action, from, index: extra.index });
  say("");
}

function go() {
  if (view && view.index >= view.count) {
    say("This is the last cue: GO has nothing to show.", "error");
    return;
  }
  send("next");
}

function back() {
  if (view && view.index <= 0) {
    say("Already before the first cue.", "error");
    return;
  }
  send("prev");
}

function toggleBlank() {
  if (view) send(view.blank ? "unblank" : "blank");
}

function jump(index) {
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
  blank: () => "Screens blanked",
  unblank: () => "Screens showing again",
};

const TARGET = {
  next: (c) => c.from + 1,
  prev: (c) => c.from - 1,
  goto: (c) => c.index,
  blank: (c) => c.from,
  unblank: (c) => c.from,
};
let confirmed = null; // the index our last acknowledged command moved to

function onReply(msg) {
  const command = msg.id ? sent.get(msg.id) : null;
  if (msg.id) sent.delete(msg.id);
  if (msg.type === "ack") {
    if (command) {
      say(`✓ ${DONE[command.action](command)}`, "ok");
      confirmed = TARGET[command.action](command);
    }
    return;
  }
  if (msg.code === "unauthorized" && role === null) {
    signOut("This token is not valid. Check it and sign in again.");
    return;
  }
  if (msg.code === "conflict" && command) {
    // Whether the move that beat this press has reached us yet or not, this is true:
    say(`⚠ Not moved: the cue was no longer at ${command.from} (a double press, or another ` +
      "console). The console shows where it is now: check the screens box, press again if " +
      "needed.", "conflict");
    resyncSoon(command.from);
    return;
  }
  say(`⚠ Not done: ${msg.message}`, "error");
}

/** After a conflict, the move that beat us should arrive as an event; if it does not,
 * reconnect to catch up. */
function resyncSoon(from) {
  const mine = generation;
  setTimeout(() => {
    if (mine !== generation || !client || !view || view.index !== from) return;
    if (client.ws) client.ws.close(); // LiveClient reconnects and catches up
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
  const mine = generation;
  const note = $("script-note");
  let reply;
  try {
    reply = await fetch(`/api/cues/${encodeURIComponent(CITY)}/script`, {
      headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
    });
  } catch {
    reply = null;
  }
  if (mine !== generation) return;
  if (reply && reply.ok) {
    const data = await reply.json();
    if (mine !== generation) return;
    if (Array.isArray(data.languages) && data.languages.length) languages = data.languages;
    script.clear();
    for (const cue of data.cues || []) {
      const index = cue.index ?? cue.number;
      script.set(index, { text: cue.text || {}, notes: cue.notes || "", label: cue.label || "" });
    }
    scriptComplete = true;
    note.hidden = true;
    if (view) { listCount = -1; render(); }
    return;
  }
  note.hidden = false;
  note.textContent = "The whole script could not be loaded" +
    (reply ? ` (${reply.status})` : " (no network)") + ": a cue's text appears here once the " +
    "console has seen it. Every cue can still be clicked to jump to it.";
}

// -- connection ----------------------------------------------------------------------------

function applyView(next) {
  if (next.version && next.version !== seenVersion) {
    const replaced = seenVersion !== null;
    seenVersion = next.version;
    if (replaced) { // an admin uploaded a new script: forget the old text
      script.clear();
      scriptComplete = false;
      listCount = -1;
      loadScript(sessionStorage.getItem(TOKEN_KEY));
      say("The script was replaced: the list shows the new one.", "ok");
    }
  }
  view = next;
  // A confirmation of ours goes once the cue has moved on from it (another console, a GO).
  if (confirmed !== null && next.index !== confirmed && $("message").classList.contains("ok")) {
    say("");
    confirmed = null;
  }
  if (next.languages && next.languages.length && !scriptComplete) languages = next.languages;
  if (!languages.length && next.languages) languages = next.languages;
  remember(next.index, next.text, next.notes, next.label);
  remember(next.index + 1, next.next, next.next_notes, next.next_label);
  render();
}

function start(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  const mine = ++generation;
  const ours = (fn) => (msg) => { if (mine === generation) fn(msg); };
  $("signin-message").textContent = "";
  client = new LiveClient({
    token: () => sessionStorage.getItem(TOKEN_KEY),
    channels: [`cues:${CITY}`],
    heartbeatMs: 5000, // a dead network shows as "reconnecting" within about 10 s
    maxDelayMs: 5000, // and the console comes back within 5 s of the server
    onConnection: ours((state) => {
      live = state === "live";
      const node = $("connection");
      node.dataset.state = state;
      node.textContent = { live: "connected", connecting: "connecting…", reconnecting: "reconnecting…" }[state];
      if (!live && $("message").classList.contains("ok")) say(""); // an old "✓" would mislead
      render();
    }),
    onWelcome: ours((msg) => {
      const allowed = msg.role === "admin" || (msg.role === "operator" && msg.city === CITY);
      if (!allowed) {
        signOut(msg.role === "operator"
          ? `This token is for the surtitles of ${msg.city}, not ${CITY}.`
          : msg.role === "public"
            ? "This token is not valid. Check it and sign in again."
            : "This token cannot cue surtitles: use an operator token.");
        return;
      }
      const first = role === null;
      role = msg.role;
      showConsole(true);
      if (!scriptComplete) loadScript(sessionStorage.getItem(TOKEN_KEY));
      if (first) $("console").focus();
    }),
    onSnapshot: ours((msg) => {
      city = msg.cities.find((c) => c.id === CITY) || city;
      if (city) $("city-name").textContent = `· ${city.name.en}`;
      const cues = msg.cues ? msg.cues[CITY] : null;
      if (!cues) {
        say(`${CITY} has no surtitle script on this server.`, "error");
        return;
      }
      applyView(cues);
    }),
    onEvent: ours((msg) => {
      if (msg.kind === "cue" && msg.city === CITY) applyView(msg);
    }),
    onReply: ours(onReply),
  });
  client.connect();
}

function showConsole(visible) {
  $("signin").hidden = visible;
  $("console").hidden = !visible;
  $("signout").hidden = !visible;
}

function signOut(message = "") {
  generation += 1;
  sessionStorage.removeItem(TOKEN_KEY);
  if (client) client.close();
  client = null;
  role = null;
  live = false;
  view = null;
  script.clear();
  scriptComplete = false;
  seenVersion = null;
  sent.clear();
  listCount = -1;
  $("script-list").replaceChildren();
  showConsole(false);
  $("connection").dataset.state = "offline";
  $("connection").textContent = "offline";
  $("signin-message").textContent = message;
  say("");
  $("token").focus();
}

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) start(token);
});
$("signout").addEventListener("click", () => signOut());
$("go").addEventListener("click", go);
$("back").addEventListener("click", back);
$("blank").addEventListener("click", toggleBlank);
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
document.title = `Surtitle operator · ${CITY} — My Hour`;

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
