// The audience's phone page: /follow/CITY.
//
// Dark, large text, the current cue in one language chosen among the script's languages. The
// choice stays in this phone (localStorage); nothing about it is sent to the server. While the
// connection is lost the last line stays, dimmed, under a "reconnecting" banner, so it is never
// mistaken for the current one; once back, the page shows the cue that is current then.
import { LiveClient, el } from "/static/client.js";
import { cityFromPath, cueBlocks, hasText, languageName } from "/static/cue-text.js";

const $ = (id) => document.getElementById(id);
const CITY = cityFromPath("/follow/");
const LANG_KEY = "surtitles-lang";

const TEXTS = {
  fr: {
    connecting: "Connexion…",
    reconnecting: "Reconnexion… Cette ligne n’est peut-être plus la bonne.",
    waiting: "Les surtitres s’afficheront ici dès le début de la lecture.",
    missing: "Pas de surtitres pour cette ville.",
  },
  en: {
    connecting: "Connecting…",
    reconnecting: "Reconnecting… this line may be out of date.",
    waiting: "The surtitles will appear here when the reading starts.",
    missing: "No surtitles for this city.",
  },
};

let live = false;
let everLive = false;
let cues = null; // the public cue view
let configured = null; // the city's surtitle languages
let chosen = storedLanguage();

function storedLanguage() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null; // storage blocked: the choice lasts for this visit only
  }
}

function available() {
  return cues && cues.languages && cues.languages.length ? cues.languages : [];
}

function language() {
  const langs = available();
  if (chosen && langs.includes(chosen)) return chosen;
  const first = (configured || []).find((lang) => langs.includes(lang));
  if (first) return first;
  if (langs.includes("fr")) return "fr";
  return langs[0] || chosen || "fr";
}

function words() {
  return TEXTS[language()] || TEXTS.en;
}

function choose(lang) {
  chosen = lang;
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // not remembered: fine
  }
  render();
}

function renderLanguages() {
  const nav = $("langs");
  const langs = available();
  nav.hidden = langs.length < 2;
  const current = language();
  const have = [...nav.children].map((b) => b.dataset.lang).join(",");
  if (have !== langs.join(",")) {
    nav.replaceChildren(...langs.map((lang) => {
      const button = el("button", "", languageName(lang));
      button.type = "button";
      button.lang = lang;
      button.dataset.lang = lang;
      button.addEventListener("click", () => choose(lang));
      return button;
    }));
  }
  for (const button of nav.children) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === current));
  }
}

function render() {
  const lang = language();
  const t = words();
  document.documentElement.lang = lang;
  document.body.dataset.connection = live ? "live" : "offline";
  renderLanguages();

  const banner = $("banner");
  banner.hidden = live;
  banner.textContent = everLive ? t.reconnecting : t.connecting;

  const cue = $("cue");
  const hint = $("hint");
  cue.classList.toggle("stale", !live);
  if (!cues) {
    cue.replaceChildren();
    hint.hidden = !live;
    hint.textContent = t.missing;
    document.body.dataset.show = "nothing";
    return;
  }
  let show = "nothing";
  if (cues.index === 0 && !cues.blank) show = "waiting";
  else if (cues.index > 0 && !cues.blank && hasText(cues.text, [lang])) show = "text";
  if (!live && !everLive) show = "nothing";
  document.body.dataset.show = show;
  hint.hidden = show !== "waiting";
  hint.textContent = t.waiting;
  if (show === "text") {
    cue.replaceChildren(cueBlocks(cues.text, [lang]));
    cue.dataset.index = String(cues.index);
  } else {
    cue.replaceChildren();
    delete cue.dataset.index;
  }
}

async function keepAwake() {
  // A phone held to follow the reading should not lock mid-sentence. Best effort.
  if (document.visibilityState !== "visible" || !navigator.wakeLock) return;
  try {
    await navigator.wakeLock.request("screen");
  } catch {
    // not allowed (battery saver, no gesture yet): nothing to do
  }
}

const client = new LiveClient({
  channels: [`cues:${CITY}`],
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
    cues = msg.cues ? msg.cues[CITY] || null : null;
    render();
  },
  onEvent: (msg) => {
    if (msg.kind !== "cue" || msg.city !== CITY) return;
    cues = msg;
    render();
  },
});

document.addEventListener("visibilitychange", keepAwake);
document.addEventListener("click", keepAwake, { once: true });
render();
client.connect();
