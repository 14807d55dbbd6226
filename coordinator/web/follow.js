// The audience's phone page: /follow/CITY[?channel=rehearsal].
//
// Dark, large text, the current cue in one language chosen among the script's languages, in
// one of three text sizes and three themes (normal, dim for a dark square, high contrast).
// Every choice stays in this phone (localStorage); nothing about it is sent to the server. While
// the connection is lost the last line stays, dimmed, under a "reconnecting" banner, so it is
// never mistaken for the current one; once back, the page shows the cue that is current then.
// ?channel=rehearsal follows the city's rehearsal channel, under a RÉPÉTITION · REHEARSAL band.
import { LiveClient, el } from "/static/client.js";
import { clock } from "/static/clock.js";
import { renderMoments } from "/static/moments.js";
import { PUBLIC_LANGUAGES, dictionary, pickLanguage, translator } from "/static/i18n.js";
import {
  audienceChannel, cityFromPath, cueBlocks, hasText, keepAwake, languageName, screenLanguages,
} from "/static/cue-text.js";

const $ = (id) => document.getElementById(id);
const CITY = cityFromPath("/follow/");
const LANG_KEY = "surtitles-lang";
const SIZE_KEY = "surtitles-size";
const THEME_KEY = "surtitles-theme";
const SIZES = ["small", "medium", "large"];
const THEMES = ["normal", "dim", "contrast"];
const CHANNEL = audienceChannel(CITY);

let live = false;
let everLive = false;
let cues = null; // the public cue view
let moments = []; // the event's moments, from the snapshot
let configured = null; // the city's surtitle languages
let chosen = stored(LANG_KEY);
// ?lang=de: the language of the page and, when the script has it, of the text shown.
let urlLanguage = (new URLSearchParams(location.search).get("lang") || "").split(",")[0].trim().toLowerCase() || null;
let size = oneOf(stored(SIZE_KEY), SIZES, "medium");
let theme = oneOf(stored(THEME_KEY), THEMES, "normal");

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage blocked: the choice lasts for this visit only
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // not remembered: fine
  }
}

function oneOf(value, allowed, fallback) {
  return allowed.includes(value) ? value : fallback;
}

function available() {
  return cues && cues.languages && cues.languages.length ? cues.languages : [];
}

/** The one language shown: the reader's choice, else the city's (the rule of the screens). */
function language() {
  return screenLanguages(available(), [urlLanguage ? [urlLanguage] : [], chosen ? [chosen] : [], configured])[0];
}

/** The page's own words: ?lang= when it names one of the public pages' languages, else the
 * language of the text shown when there is a dictionary for it, else the phone's. */
function uiLanguage() {
  if (PUBLIC_LANGUAGES.includes(urlLanguage)) return urlLanguage;
  const shown = language();
  return PUBLIC_LANGUAGES.includes(shown) ? shown : pickLanguage(PUBLIC_LANGUAGES);
}

const translators = new Map();
let lastWords = translator();
/** The translator of the page's language; until a newly needed dictionary is in, the one
 * before it, then a redraw. */
function words() {
  const lang = uiLanguage();
  if (!translators.has(lang)) {
    translators.set(lang, null);
    dictionary(lang).then((dict) => { translators.set(lang, translator(dict)); render(); });
  }
  lastWords = translators.get(lang) || lastWords;
  return lastWords;
}

function choose(lang) {
  chosen = lang;
  store(LANG_KEY, lang);
  if (urlLanguage) { // the address keeps saying what is shown
    urlLanguage = lang;
    const url = new URL(location.href);
    url.searchParams.set("lang", lang);
    history.replaceState(null, "", url);
  }
  render();
}

function chooseSize(next) {
  size = oneOf(next, SIZES, "medium");
  store(SIZE_KEY, size);
  render();
}

function chooseTheme(next) {
  theme = oneOf(next, THEMES, "normal");
  store(THEME_KEY, theme);
  render();
}

/** Text size and theme: applied to the page, labelled in the page's language. */
function renderPrefs(t) {
  document.body.dataset.size = size;
  document.body.dataset.theme = theme;
  $("prefs-label").textContent = t("phone_prefs");
  $("size-label").textContent = t("phone_size");
  $("theme-label").textContent = t("phone_theme");
  $("prefs-note").textContent = t("phone_note");
  for (const node of $("prefs").querySelectorAll("[data-word]")) {
    node.textContent = t(`phone_${node.dataset.word}`);
  }
  for (const button of $("prefs").querySelectorAll("button[data-size]")) {
    button.setAttribute("aria-pressed", String(button.dataset.size === size));
  }
  for (const button of $("prefs").querySelectorAll("button[data-theme]")) {
    button.setAttribute("aria-pressed", String(button.dataset.theme === theme));
  }
}

const MAX_BUTTONS = 3; // more languages than this: one menu, not rows of buttons

/** The script's languages to choose from: buttons, or a menu when there are many (five
 * buttons took three rows of a phone's screen). */
function renderLanguages() {
  const nav = $("langs");
  const langs = available();
  nav.hidden = langs.length < 2;
  const current = language();
  const menu = langs.length > MAX_BUTTONS;
  const have = [...nav.querySelectorAll("[data-lang]")].map((b) => b.dataset.lang).join(",");
  if (have !== langs.join(",") || Boolean(nav.querySelector("select")) !== menu) {
    nav.replaceChildren(...(menu ? [languageMenu(langs)] : langs.map(languageButton)));
  }
  for (const button of nav.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === current));
  }
  const select = nav.querySelector("select");
  if (select) select.value = current;
}

function languageButton(lang) {
  const button = el("button", "", languageName(lang));
  button.type = "button";
  button.lang = lang;
  button.dataset.lang = lang;
  button.addEventListener("click", () => choose(lang));
  return button;
}

function languageMenu(langs) {
  const select = el("select", "follow-lang-menu");
  select.id = "lang-menu";
  for (const lang of langs) {
    const option = el("option", "", languageName(lang));
    option.value = lang;
    option.lang = lang;
    option.dataset.lang = lang;
    select.append(option);
  }
  select.addEventListener("change", () => choose(select.value));
  return select;
}

function render() {
  const lang = language();
  const t = words();
  document.documentElement.lang = lang;
  document.body.dataset.connection = live ? "live" : "offline";
  renderLanguages();
  $("langs").setAttribute("aria-label", t("phone_languages"));
  const menu = $("lang-menu");
  if (menu) menu.setAttribute("aria-label", t("phone_languages"));
  renderPrefs(t);

  const banner = $("banner");
  banner.hidden = live;
  banner.textContent = t(everLive ? "phone_reconnecting" : "phone_connecting");

  const cue = $("cue");
  const hint = $("hint");
  cue.classList.toggle("stale", !live);
  if (!cues) {
    cue.replaceChildren();
    hint.hidden = !live;
    hint.textContent = t("phone_missing");
    document.body.dataset.show = "nothing";
    return;
  }
  // Before the first cue: "the surtitles will appear here". During the reading, a blanked
  // screen or a blank cue: a quiet "waiting for the next line", never an empty page.
  let show = "nothing";
  if (cues.index === 0 && !cues.blank) show = "waiting";
  else if (cues.index > 0 && !cues.blank && hasText(cues.text, [lang])) show = "text";
  else if (cues.index > 0) show = "blank";
  if (!live && !everLive) show = "nothing";
  document.body.dataset.show = show;
  hint.hidden = show !== "waiting" && !(show === "blank" && live);
  hint.textContent = t(show === "blank" ? "phone_blank" : "phone_waiting");
  hint.classList.toggle("quiet", show === "blank");
  if (show === "text") {
    cue.replaceChildren(cueBlocks(cues.text, [lang]));
    cue.dataset.index = String(cues.index);
  } else {
    cue.replaceChildren();
    delete cue.dataset.index;
  }
}

const client = new LiveClient({
  channels: [CHANNEL.topic],
  heartbeatMs: 10000,
  onConnection: (state) => {
    live = state === "live";
    if (live) everLive = true;
    render();
  },
  onSnapshot: (msg) => {
    const city = (msg.cities || []).find((c) => c.id === CITY);
    if (city) {
      $("city").textContent = `· ${city.name[language()] || city.name.en}`;
      if (city.surtitles) configured = city.surtitles.languages;
    }
    cues = CHANNEL.inSnapshot(msg);
    moments = msg.moments || [];
    render();
  },
  onEvent: (msg) => {
    if (!CHANNEL.owns(msg)) return;
    cues = msg;
    render();
  },
});

for (const button of $("prefs").querySelectorAll("button[data-size]")) {
  button.addEventListener("click", () => chooseSize(button.dataset.size));
}
for (const button of $("prefs").querySelectorAll("button[data-theme]")) {
  button.addEventListener("click", () => chooseTheme(button.dataset.theme));
}
// The settings close when the audience taps elsewhere (on the text, say).
document.addEventListener("click", (e) => {
  if ($("prefs").open && !$("prefs").contains(e.target)) $("prefs").open = false;
});
if (CHANNEL.rehearsal) {
  $("rehearsal").hidden = false;
  document.title = `RÉPÉTITION · REHEARSAL — ${document.title}`;
}
document.addEventListener("visibilitychange", keepAwake);
document.addEventListener("click", keepAwake, { once: true });
setInterval(() => renderMoments($("moments"), moments, clock.now(), uiLanguage(), words()), 100);
translators.set(uiLanguage(), translator(await dictionary(uiLanguage())));
render();
client.connect();
