// Every page's words: one dictionary file per language in i18n/ (en.js, fr.js, de.js, fi.js,
// ta.js) for the public pages, and one per staff language (staff-en.js, staff-fr.js) for the
// consoles; {name} placeholders, and data-i18n attributes for the texts written in the HTML.
//
// The public pages (dashboard, phones, projector) speak the five languages of the event's
// cities; the staff consoles (keys co_, op_, staff_, and ad_ for the organiser's page) English
// and French. A test fails when a dictionary lacks a key its pages need, a placeholder differs
// from English, or a public page uses a console's key (it never loads those).
//
// A page loads its own language's dictionary only, on demand, and a console the staff one too
// (a test keeps every dictionary complete, so there is no fallback to load): the dashboard
// stays under 100 KB in any language, and a phone never downloads the consoles' texts.

export const PUBLIC_LANGUAGES = ["en", "fr", "de", "fi", "ta"];
export const STAFF_LANGUAGES = ["en", "fr"];
export const STAFF_KEY = /^(co|op|staff|ad)_/;
/** Each language's name in itself, for the switches. */
export const LANGUAGE_NAMES = { en: "English", fr: "Français", de: "Deutsch", fi: "Suomi", ta: "தமிழ்" };

const STORE_KEY = "dashboard-lang"; // as saved by earlier versions of the dashboard
const loaded = new Map();

function load(name) {
  if (!loaded.has(name)) loaded.set(name, import(`/static/i18n/${name}.js`).then((m) => m.default));
  return loaded.get(name);
}

/** The dictionary of ``lang`` (English for a language without one); with ``staff``, the
 * consoles' texts too (a console's page: English or French). */
export async function dictionary(lang, staff = false) {
  const known = PUBLIC_LANGUAGES.includes(lang) ? lang : "en";
  if (!staff) return load(known);
  const consoles = STAFF_LANGUAGES.includes(known) ? known : "en";
  const [common, own] = await Promise.all([load(known), load(`staff-${consoles}`)]);
  return { ...common, ...own };
}

/** The language to show among ``allowed``: ?lang= in the address, then the visitor's last
 * choice, then the browser's preferred languages, then English. */
export function pickLanguage(allowed = PUBLIC_LANGUAGES) {
  const wanted = [new URLSearchParams(location.search).get("lang")];
  try { wanted.push(localStorage.getItem(STORE_KEY)); } catch { /* storage may be off */ }
  wanted.push(...(navigator.languages || [navigator.language]));
  for (const tag of wanted) {
    const lang = (tag || "").toLowerCase().split("-")[0];
    if (allowed.includes(lang)) return lang;
  }
  return "en";
}

export function rememberLanguage(lang) {
  try { localStorage.setItem(STORE_KEY, lang); } catch { /* storage may be off */ }
}

/** A translator over a dictionary: t("starts_in", {d: "01:00:00"}); the key itself for a
 * missing one (or before any dictionary is loaded: pages wait for theirs before drawing). */
export function translator(dict = {}) {
  return (key, vars) => {
    const text = dict[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
  };
}

/** The translator of ``lang``, once its dictionary (with ``staff``, a console's) is loaded. */
export async function translatorFor(lang, staff = false) {
  return translator(await dictionary(lang, staff));
}

/** Translate the texts written in the HTML: data-i18n (text), data-i18n-label (aria-label)
 * and data-i18n-placeholder. */
export function translateStatic(root, t) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
}

/**
 * The language switch: one button per language in ``nav`` (named in its own language,
 * ``aria-pressed`` on the current one). A press remembers the choice, puts ?lang= in the
 * address (a shared link keeps the language) and calls ``onChoose(lang)``.
 */
export function languageSwitch(nav, languages, current, onChoose) {
  if (nav.children.length !== languages.length) {
    nav.replaceChildren(...languages.map((lang) => {
      const button = document.createElement("button");
      button.type = "button";
      button.lang = lang;
      button.dataset.lang = lang;
      button.textContent = LANGUAGE_NAMES[lang] || lang;
      button.addEventListener("click", () => {
        rememberLanguage(lang);
        const url = new URL(location.href);
        url.searchParams.set("lang", lang);
        history.replaceState(null, "", url);
        onChoose(lang);
      });
      return button;
    }));
  }
  for (const button of nav.children) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === current));
  }
  nav.hidden = false;
}
