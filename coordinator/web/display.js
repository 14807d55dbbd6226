// The projector page: /display/CITY[?lang=fr,en][&channel=rehearsal].
//
// Black, no controls, no cursor. Shows the current cue in the chosen languages (default: the
// city's surtitle languages from the config, else French), shrunk until it fits the screen.
// Before the first cue it shows the QR code of the city's /follow page.
//
// ?channel=rehearsal shows the city's rehearsal channel instead of the live one, under a
// REHEARSAL watermark that never goes away. A city that follows another shows what its
// channel's events carry (the leader's cue), with a small dim mark naming the leader for the
// technician.
//
// It never shows a stale line as current: while the connection is not live (not yet synced,
// or lost) the screen is black, with only a small dim dot in the corner for the technician.
// Once back, it shows the cue that is current then. Changes are drawn on the next frame, so the
// events of a catch-up after a reconnect are drawn once, as their final state.
import { LiveClient } from "/static/client.js";
import { clock } from "/static/clock.js";
import { renderMoments } from "/static/moments.js";
import { PUBLIC_LANGUAGES, dictionary, translator } from "/static/i18n.js";
import {
  audienceChannel, cityFromPath, cueBlocks, followAddress, hasText, keepAwake, openedAtLoopback,
  screenLanguages,
} from "/static/cue-text.js";

const $ = (id) => document.getElementById(id);
const CITY = cityFromPath("/display/");
const PARAMS = new URLSearchParams(location.search);
const WANTED = (PARAMS.get("lang") || "")
  .split(",").map((s) => s.trim()).filter(Boolean);
const CHANNEL = audienceChannel(CITY);
const MIN_FONT_PX = 10;
const READABLE = 0.05; // of the screen height: the smallest size worth keeping lines whole

let live = false;
let cues = null; // the public cue view: index, count, blank, text, languages
let configured = null; // the city's surtitle languages, from the snapshot
let names = new Map(); // city id -> {en, fr} names, for the follow mark
let drawn = null; // what is on screen, to skip redrawing the same thing
let frame = 0;
let fallback = 0;
let moments = []; // the event's moments, from the snapshot
let publicUrl = null; // the event's public address, from the snapshot
const MOMENTS_WITHIN_MS = 3600000; // the projector shows a moment's countdown its last hour

/** The languages to show: ?lang=, else the config's (the shared rule: screenLanguages). */
function chosenLanguages() {
  return screenLanguages(cues ? cues.languages : null, [WANTED, configured]);
}

function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(draw);
  fallback = setTimeout(draw, 250); // a tab in the background gets no frames
}

function draw() {
  cancelAnimationFrame(frame);
  clearTimeout(fallback);
  frame = 0;
  fallback = 0;
  const languages = chosenLanguages();
  let show = "nothing";
  if (live && cues) {
    if (cues.index === 0) show = cues.blank ? "nothing" : "qr";
    else if (!cues.blank && hasText(cues.text, languages)) show = "text";
  }
  document.body.dataset.connection = live ? "live" : "offline";
  $("link").dataset.state = live ? "live" : "offline";
  const leader = live && cues && cues.follows ? cues.follows : null;
  $("source").hidden = !leader;
  if (leader) {
    const name = names.get(leader);
    $("source").textContent = `↻ ${(name && (name.fr || name.en)) || leader}`;
  }
  const key = show === "text" ? JSON.stringify([cues.index, languages, cues.text]) : show;
  if (key === drawn) return;
  drawn = key;
  document.body.dataset.show = show;
  $("waiting").hidden = show !== "qr";
  const inner = $("cue-inner");
  if (show === "text") {
    inner.replaceChildren(cueBlocks(cues.text, languages));
    inner.dataset.index = String(cues.index);
    document.documentElement.lang = languages[0];
    fit();
  } else {
    inner.replaceChildren();
    delete inner.dataset.index;
  }
  if (show === "qr") drawCaption();
  if (show === "qr" && !$("qr").getAttribute("src")) {
    $("qr").src = `/cities/${encodeURIComponent(CITY)}/follow-qr.svg` +
      (CHANNEL.rehearsal ? "?channel=rehearsal" : "");
  }
}

/**
 * The largest font size (px) at which the cue fits the box without scrolling. The script's own
 * line breaks are kept as lines if that leaves the text readable (at least READABLE of the
 * screen height); otherwise long lines may wrap too. At the smallest size, words may break.
 */
function fit() {
  const box = $("cue");
  const inner = $("cue-inner");
  if (!inner.firstChild) return;
  const fits = () => box.scrollHeight <= box.clientHeight && box.scrollWidth <= box.clientWidth &&
    inner.scrollWidth <= inner.clientWidth;
  const largest = () => {
    let hi = Math.max(MIN_FONT_PX, Math.floor(Math.min(innerHeight * 0.12, innerWidth * 0.065)));
    let lo = MIN_FONT_PX;
    inner.style.fontSize = `${hi}px`;
    if (fits()) return hi;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      inner.style.fontSize = `${mid}px`;
      if (fits()) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  inner.classList.remove("squeezed");
  inner.classList.add("keep-lines");
  let size = largest();
  if (size < innerHeight * READABLE) {
    inner.classList.remove("keep-lines");
    size = largest();
  }
  inner.style.fontSize = `${size}px`;
  if (!fits()) inner.classList.add("squeezed"); // break long words rather than overflow
}

let resizeTimer = 0;
function onResize() {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(fit, 50);
}

const client = new LiveClient({
  channels: [CHANNEL.topic],
  heartbeatMs: 5000,
  maxDelayMs: 5000, // a projector should come back quickly
  onConnection: (state) => {
    live = state === "live";
    if (!live) draw(); // black at once; never wait for a frame to hide a line
    else schedule();
  },
  onSnapshot: (msg) => {
    const city = (msg.cities || []).find((c) => c.id === CITY);
    if (city && city.surtitles) configured = city.surtitles.languages;
    names = new Map((msg.cities || []).map((c) => [c.id, c.name || {}]));
    moments = msg.moments || [];
    publicUrl = msg.public_url || null;
    showFollowAddress();
    cues = CHANNEL.inSnapshot(msg);
    schedule();
  },
  onEvent: (msg) => {
    if (!CHANNEL.owns(msg)) return;
    cues = msg;
    schedule();
  },
});

/** The phone page's address under the QR code, and a plain warning for the technician when
 * the code leads nowhere: this page opened at a loopback address, and no public_url set. */
function showFollowAddress() {
  $("follow-url").textContent = followAddress(CITY, publicUrl, CHANNEL.rehearsal).replace(/^https?:\/\//, "");
  const warn = openedAtLoopback() && !publicUrl;
  $("qr-warning").hidden = !warn;
  if (warn) {
    // In the projector's first language only: it is for the technician, and must stay short.
    $("qr-warning").textContent = wordsIn(captionLanguages()[0])("screen_loopback", { address: location.host });
  }
}

if (CHANNEL.rehearsal) {
  $("watermark").hidden = false;
  document.body.classList.add("rehearsal");
  document.title = `RÉPÉTITION · REHEARSAL — ${document.title}`;
}
// The projector's own words (the QR caption, the moments): in the languages it shows, each
// from its dictionary, with English after them for visitors.
const translators = new Map();
let dictionariesIn = 0; // how many dictionaries have arrived: the caption is redrawn for each
const english = translator(await dictionary("en")); // until a caption's own language is in
function wordsIn(lang) {
  if (!translators.has(lang)) {
    translators.set(lang, english);
    dictionary(lang).then((dict) => {
      translators.set(lang, translator(dict));
      dictionariesIn += 1;
      drawCaption();
      showFollowAddress();
    });
  }
  return translators.get(lang);
}

/** The languages of the projector's captions: its own (those with a dictionary), then English. */
function captionLanguages() {
  const own = chosenLanguages().filter((lang) => PUBLIC_LANGUAGES.includes(lang));
  return [...new Set([...own, "en"])].slice(0, 3);
}

let captionKey = "";
function drawCaption() {
  const langs = captionLanguages();
  const key = `${langs.join(",")}|${dictionariesIn}`;
  if (key === captionKey) return;
  captionKey = key;
  const nodes = [];
  langs.forEach((lang, i) => {
    if (i) nodes.push(" ", Object.assign(document.createElement("span"), { className: "sep", textContent: "/" }), " ");
    nodes.push(Object.assign(document.createElement("span"), { lang, textContent: wordsIn(lang)("screen_surtitles") }));
  });
  for (const node of nodes) if (node.className === "sep") node.setAttribute("aria-hidden", "true");
  $("waiting-text").replaceChildren(...nodes);
  $("qr").alt = wordsIn(langs[0])("screen_qr_alt");
}

/** The moments' countdown, on the event clock, in the projector's first language. */
function tickMoments() {
  const lang = captionLanguages()[0];
  renderMoments($("moments"), live ? moments : [], clock.now(), lang, wordsIn(lang), MOMENTS_WITHIN_MS);
}

setInterval(tickMoments, 100);
window.addEventListener("resize", onResize);
document.addEventListener("visibilitychange", keepAwake);
keepAwake();
showFollowAddress();
draw();
client.connect();
