// The organiser's page (/admin): everything an organiser does on the event day, from a
// browser, with an admin token (session.js: typed, or from an invite link; kept in the tab's
// sessionStorage under "admin-token", which /report reads too).
//
// Sections: access tokens with invite links (admin-tokens.js), scripts checked before they are
// uploaded (admin-scripts.js), the schedule (admin-schedule.js), who is connected (polled from
// GET /api/connections every few seconds while the page is shown), and downloads fetched with
// the token in a header and saved from a Blob (admin-api.js). Every HTTP call sends the token in
// an Authorization header; one answered 401 signs the page out, as a refused websocket does.
import { el } from "/static/client.js";
import { Session, say as sayIn, showConnection } from "/static/session.js";
import {
  STAFF_LANGUAGES, languageSwitch, pickLanguage, translateStatic, translatorFor,
} from "/static/i18n.js";
import { localeFor } from "/static/times.js";
import { Api } from "/static/admin-api.js";
import { TokensSection } from "/static/admin-tokens.js";
import { ScriptsSection } from "/static/admin-scripts.js";
import { ScheduleSection } from "/static/admin-schedule.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "admin-token"; // shared with /report
const CONNECTIONS_EVERY_MS = 5000;

let lang = pickLanguage(STAFF_LANGUAGES);
let t = await translatorFor(lang, true);
let names = new Map(); // city id -> its name by language
let connections = null; // the last answer of /api/connections
let polling = null;

const say = (text, kind) => sayIn($("message"), text, kind);

const page = {
  t: () => t,
  api: null,
  say,
  cityName: (id) => {
    const name = names.get(id);
    return (name && (name[lang] || name.en)) || id;
  },
  /** A UTC instant in the organiser's own time, or "" for none. */
  when: (iso) => {
    if (!iso) return "";
    return new Intl.DateTimeFormat(localeFor(lang), {
      dateStyle: "medium", timeStyle: "short",
    }).format(new Date(iso));
  },
  ask,
  onCities: (cities) => {
    names = new Map(cities.map((c) => [c.id, c.name]));
    tokens.setCities(cities);
    scripts.setCities(cities);
    renderConnections();
  },
};

const session = new Session({
  storageKey: TOKEN_KEY,
  t: (key, vars) => t(key, vars),
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal: (msg) => {
    if (msg.role === "admin") return null;
    return t(msg.role === "public" ? "staff_not_valid" : "ad_wrong_role");
  },
  onStart: () => { $("signin-message").textContent = ""; },
  onSignOut: (message) => {
    stopPolling();
    tokens.forgetInvite();
    if ($("confirm").open) $("confirm").close();
    $("signin-message").textContent = message;
    say("");
  },
  client: {
    heartbeatMs: 10000,
    onWelcome: (msg, first) => {
      if (!first) return;
      schedule.load();
      startPolling(); // the tokens too
    },
    onEvent: (msg) => {
      // A schedule edit made anywhere (another organiser, the CLI): show it at once.
      if (msg.kind === "schedule") schedule.load();
    },
  },
});

page.api = new Api(() => session.token(), () => session.signOut(t("staff_revoked")));
const tokens = new TokensSection(page);
const scripts = new ScriptsSection(page);
const schedule = new ScheduleSection(page);

/** Ask a yes/no question in the dialog; its default (focused) button keeps things as they are. */
function ask(title, text) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const dialog = $("confirm");
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener("close", onClose);
      $("confirm-yes").removeEventListener("click", onYes);
      resolve(answer);
    };
    const onClose = () => done(dialog.returnValue === "yes");
    const onYes = () => dialog.close("yes");
    dialog.addEventListener("close", onClose);
    $("confirm-yes").addEventListener("click", onYes);
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-no").focus();
  });
}
$("confirm-no").addEventListener("click", () => $("confirm").close("no"));

// -- who is connected ----------------------------------------------------------------------

/** Who is connected, and the tokens' "last used": every few seconds while the page is shown. */
async function loadConnections() {
  if (!session.client || document.visibilityState === "hidden") return;
  tokens.load();
  try {
    connections = await page.api.call("GET", "/api/connections");
  } catch (failure) {
    connections = { error: failure.message };
  }
  renderConnections();
}

function renderConnections() {
  if (!connections) return;
  if (connections.error) {
    $("connections-as-of").textContent = t("ad_failed", { message: connections.error });
    return;
  }
  const time = new Intl.DateTimeFormat(localeFor(lang), { timeStyle: "medium" });
  $("connections-as-of").textContent = t("ad_as_of", {
    time: time.format(new Date(connections.as_of_utc || Date.now())),
    n: connections.processes ?? 1,
  });
  $("connections-list").replaceChildren(...(connections.cities || []).map((city) => {
    const row = el("tr");
    row.dataset.city = city.id;
    const name = el("th", "", page.cityName(city.id));
    name.scope = "row";
    row.append(
      name,
      el("td", "coordinators", String(city.coordinators ?? 0)),
      el("td", "operators", String(city.operators ?? 0)),
      el("td", "phones", String(city.phones ?? 0)),
    );
    return row;
  }));
  $("connections-viewers").textContent = connections.viewers === undefined ? "" : t("ad_viewers", {
    viewers: connections.viewers, admins: connections.admins ?? 0,
  });
}

function startPolling() {
  stopPolling();
  loadConnections();
  polling = setInterval(loadConnections, CONNECTIONS_EVERY_MS);
}

function stopPolling() {
  if (polling !== null) clearInterval(polling);
  polling = null;
  connections = null;
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && polling !== null) loadConnections();
});

// -- downloads -----------------------------------------------------------------------------

async function download(path, fallback) {
  $("download-error").textContent = "";
  try {
    await page.api.download(path, fallback);
  } catch (failure) {
    $("download-error").textContent = t("ad_failed", { message: failure.message });
  }
}
$("download-log").addEventListener("click", () => download("/api/log.csv", "audit-log.csv"));
$("download-report").addEventListener("click", () => download("/api/report.csv", "report.csv"));

// -- language ------------------------------------------------------------------------------

async function setLanguage(next) {
  t = await translatorFor(next, true);
  lang = next;
  document.documentElement.lang = lang;
  translateStatic(document, t);
  document.title = t("ad_title");
  languageSwitch($("lang-switch"), STAFF_LANGUAGES, lang, setLanguage);
  showConnection($("connection"), session.client ? session.client.connection || "connecting" : "offline", t);
  tokens.render();
  schedule.render();
  if (scripts.checked) scripts.render();
  renderConnections();
}

await setLanguage(lang);
session.begin();
