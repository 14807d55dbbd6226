// The after-event report (/report): an admin signs in (session.js, storage key "admin-token",
// the one the /admin page keeps, so an organiser coming from there is signed in already), and
// the page shows GET /api/report as one table: every city's times in its own zone and in UTC,
// delays, pauses, cues, peak phones and drift. It reloads the figures when a status changes,
// downloads the CSV with the same token (a bearer header: never the token in an address), and
// prints on one page without the controls (report.css).
import { el, formatDuration } from "/static/client.js";
import { Session, say as sayIn, showConnection } from "/static/session.js";
import {
  STAFF_LANGUAGES, languageSwitch, pickLanguage, translateStatic, translatorFor,
} from "/static/i18n.js";
import { Times, localeFor } from "/static/times.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "admin-token"; // shared with /admin
const HM = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
const HMS = { ...HM, second: "2-digit" };

let lang = pickLanguage(STAFF_LANGUAGES);
let t = await translatorFor(lang, true);
let times = new Times(localeFor(lang));
let report = null; // the last GET /api/report body
let reloading = null; // a reload waiting for a burst of status events to end

const say = (text, kind) => sayIn($("message"), text, kind);

async function authorized(path) {
  const token = session.token();
  if (!token) throw new Error(t("staff_report_wrong_role"));
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).message || message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function load() {
  try {
    report = await (await authorized("/api/report")).json();
    say("");
    render();
  } catch (error) {
    say(t("staff_report_failed", { message: error.message }), "error");
  }
}

const DAY = { weekday: "short", day: "numeric", month: "short" };

/** An instant in the city's zone, and in UTC under it ("–" for none); the day in front when
 * ``day`` is null (always) or when it is not that day (an ISO instant) in the zone. */
function instant(cell, iso, zone, options, day = null) {
  if (!iso) {
    cell.textContent = "–";
    return;
  }
  const date = new Date(iso);
  const showDay = (z) => day === null || times.dayKey(date, z) !== times.dayKey(new Date(day), z);
  const text = (z, name) => (showDay(z) ? `${times.dtf(z, DAY).format(date)}, ` : "") +
    `${times.dtf(z, options).format(date)} ${name}`;
  cell.append(
    el("span", "local", text(zone, times.zoneName(date, zone))),
    el("span", "utc", text("UTC", "UTC")),
  );
}

function delays(city) {
  if (!city.delays_announced) return t("staff_report_no_delay");
  return t("staff_report_delays_value", {
    n: city.delays_announced, last: city.last_delay_minutes, max: city.max_delay_minutes,
  });
}

function paused(city) {
  if (!city.pauses) return t("staff_report_no_pause");
  const d = formatDuration(city.paused_seconds * 1000);
  return t("staff_report_paused_value", { d, n: city.pauses });
}

function drift(city) {
  if (city.id === report.drift_reference) return t("staff_report_reference");
  if (city.max_drift_seconds === null) return "–";
  return t("staff_report_drift_value", { s: city.max_drift_seconds, cue: city.max_drift_cue });
}

function row(city) {
  const tr = el("tr");
  tr.dataset.city = city.id;
  tr.dataset.cancelled = String(city.cancelled);
  const cells = {
    city: city.name,
    scheduled: null,
    started: null,
    ended: null,
    state: t(`state_${city.state}`),
    delays: delays(city),
    paused: paused(city),
    cues: String(city.cues_shown),
    peak: String(city.peak_phones),
    drift: drift(city),
  };
  for (const [field, text] of Object.entries(cells)) {
    const td = el("td", "", text);
    td.dataset.field = field;
    tr.append(td);
  }
  const cell = (field) => tr.querySelector(`[data-field="${field}"]`);
  instant(cell("scheduled"), city.scheduled_start_utc, city.timezone, HM);
  instant(cell("started"), city.actual_start_utc, city.timezone, HMS, city.scheduled_start_utc);
  instant(cell("ended"), city.actual_end_utc, city.timezone, HMS, city.scheduled_start_utc);
  return tr;
}

function render() {
  if (!report) return;
  $("rows").replaceChildren(...report.cities.map(row));
  const at = new Date(report.generated_utc);
  $("generated").textContent = t("staff_report_generated", {
    date: times.longDate(at), time: times.dtf("UTC", HMS).format(at),
  });
}

async function download() {
  try {
    const blob = await (await authorized("/api/report.csv")).blob();
    const url = URL.createObjectURL(blob);
    const link = el("a");
    link.href = url;
    link.download = "report.csv";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    say(t("staff_report_failed", { message: error.message }), "error");
  }
}

const session = new Session({
  storageKey: TOKEN_KEY,
  t: (key, vars) => t(key, vars),
  nodes: {
    form: $("signin"), token: $("token"), signOut: $("signout"), console: $("console"),
    connection: $("connection"),
  },
  refusal: (msg) => (msg.role === "admin" ? null : t("staff_report_wrong_role")),
  onSignOut: (message) => {
    report = null;
    $("rows").replaceChildren();
    say(message, message ? "error" : "");
  },
  client: {
    channels: ["status:*"], // a new status changes the figures; cues and phones do not need it live
    onWelcome: () => load(),
    onEvent: (msg) => {
      if (msg.kind !== "status" || reloading) return;
      reloading = setTimeout(() => { reloading = null; load(); }, 1000);
    },
  },
});

$("refresh").addEventListener("click", () => load());
$("download").addEventListener("click", () => download());
$("print").addEventListener("click", () => window.print());

async function setLanguage(next) {
  t = await translatorFor(next, true);
  lang = next;
  times = new Times(localeFor(lang));
  document.documentElement.lang = lang;
  translateStatic(document, t);
  document.title = t("staff_report_title");
  languageSwitch($("lang-switch"), STAFF_LANGUAGES, lang, setLanguage);
  showConnection($("connection"), session.client ? session.client.connection || "connecting" : "offline", t);
  render();
}

await setLanguage(lang);
session.begin();
