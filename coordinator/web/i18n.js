// Every text of the public page, in English and French. No framework: a dictionary per
// language, {name} placeholders, and data-i18n attributes for the texts written in the HTML.
// French typography: a no-break space (\u00a0) before ":", and a narrow one inside « ».

export const LANGUAGES = ["en", "fr"];

export const DICT = {
  en: {
    skip: "Skip to the readings",
    page_title: "{title} — live",
    event_date: "{date}, seven cities, one reading",
    your_time: "Your time:",
    language: "Language",
    conn_connecting: "Connecting to live updates…",
    conn_live: "Live updates: connected",
    conn_degraded: "Connected, but the service is recovering from a fault: statuses below are the last known, and new changes may take a moment to arrive.",
    conn_reconnecting: "Reconnecting… Statuses below are the last known, received at {time} (your time): they may be out of date.",
    conn_reconnecting_empty: "Reconnecting… No live status received yet: only the schedule is shown.",
    readings: "The readings",
    state_scheduled: "Scheduled",
    state_preparing: "Getting ready",
    state_live: "Live",
    state_paused: "Paused",
    state_delayed: "Delayed",
    state_finished: "Finished",
    state_cancelled: "Cancelled",
    state_unknown: "Status unknown",
    last_known: "Last known: {state}",
    stale_short: "{state}?",
    local_time: "Local time:",
    in_city: "In {city}:",
    viewer: "Your time:",
    was: "was",
    now_word: "now",
    tbc: "to be confirmed",
    venue_tbc: "Venue to be confirmed",
    time_venue_tbc: "Time and venue to be confirmed",
    getting_there: "Getting there: {access}",
    map: "Open in a map app",
    starts_in: "Starts in {d}",
    new_start_in: "New start in {d}",
    due_now: "Due to start now",
    overdue: "Not started yet (due {d} ago)",
    past_no_news: "Its time has passed: no news received",
    live_for: "Live for {d}",
    paused_for: "Paused for {d}",
    ended_at: "Ended at {time}",
    delayed_by: "Delayed by {n} min: new time {time}",
    updated: "Updated at {time}",
    cues: "Surtitles: cue {index} of {count}",
    cues_ready: "Surtitles: ready, {count} cues",
    cues_blank: "(screen blank)",
    cue_follows: "Follows {city}: shows its surtitles",
    drift_behind_one: "1 cue behind {city}",
    drift_behind_many: "{n} cues behind {city}",
    drift_ahead_one: "1 cue ahead of {city}",
    drift_ahead_many: "{n} cues ahead of {city}",
    drift_level: "Level with {city}",
    drift_min: "{n} min",
    drift_min_behind: "{n} min behind",
    drift_min_ahead: "{n} min ahead",
    drift_under_minute: "< 1 min",
    drift_reference: "Reference for the other cities’ drift",
    add_to_calendar: "Add to calendar",
    add_to_calendar_aria: "Add to calendar: {city}",
    days: "{n} d",
    timeline_title: "The day at a glance (UTC)",
    timeline_caption: "One bar per reading on a UTC axis; the vertical line is now ({time} UTC).",
    timeline_now_outside: "Now ({time} UTC) is outside this day.",
    timeline_bar: "{start}–{end} UTC, {state}",
    now_label: "now",
    subscribe_title: "Calendar",
    subscribe_webcal: "Subscribe in your calendar app",
    subscribe_copy: "Or copy this address into your calendar (“add by URL”):",
    subscribe_hint: "On the day, this page is the live source: calendar apps refresh subscriptions only every few hours (Google Calendar every 8 to 24 hours).",
    last_update: "Last update received at {time} (your time).",
    last_update_none: "No live update received yet.",
    bots: "For scripts and bots:",
    announce_status: "{city}: {state}.",
  },
  fr: {
    skip: "Aller aux lectures",
    page_title: "{title} — en direct",
    event_date: "{date}, sept villes, une lecture",
    your_time: "Votre heure\u00a0:",
    language: "Langue",
    conn_connecting: "Connexion aux mises à jour en direct…",
    conn_live: "Mises à jour en direct\u00a0: connecté",
    conn_degraded: "Connecté, mais le service se remet d’une panne\u00a0: les états ci-dessous sont les derniers connus, et les nouveaux changements peuvent tarder un peu.",
    conn_reconnecting: "Reconnexion… Les états ci-dessous sont les derniers connus, reçus à {time} (votre heure)\u00a0: ils peuvent être dépassés.",
    conn_reconnecting_empty: "Reconnexion… Aucun état en direct reçu pour l’instant\u00a0: seul le programme est affiché.",
    readings: "Les lectures",
    state_scheduled: "Prévue",
    state_preparing: "En préparation",
    state_live: "En direct",
    state_paused: "En pause",
    state_delayed: "Retardée",
    state_finished: "Terminée",
    state_cancelled: "Annulée",
    state_unknown: "État inconnu",
    last_known: "Dernier état connu\u00a0: {state}",
    stale_short: "{state}\u00a0?",
    local_time: "Heure locale\u00a0:",
    in_city: "À {city}\u00a0:",
    viewer: "Chez vous\u00a0:",
    was: "au lieu de",
    now_word: "désormais",
    tbc: "à confirmer",
    venue_tbc: "Lieu à confirmer",
    time_venue_tbc: "Heure et lieu à confirmer",
    getting_there: "Accès\u00a0: {access}",
    map: "Ouvrir dans une application de cartes",
    starts_in: "Début dans {d}",
    new_start_in: "Nouveau début dans {d}",
    due_now: "Début prévu maintenant",
    overdue: "Pas encore commencée (prévue il y a {d})",
    past_no_news: "Son horaire est passé\u00a0: aucune nouvelle reçue",
    live_for: "En direct depuis {d}",
    paused_for: "En pause depuis {d}",
    ended_at: "Terminée à {time}",
    delayed_by: "Retardée de {n}\u00a0min\u00a0: nouvelle heure {time}",
    updated: "Mis à jour à {time}",
    cues: "Surtitres\u00a0: titre {index} sur {count}",
    cues_ready: "Surtitres\u00a0: prêts, {count} titres",
    cues_blank: "(écran noir)",
    cue_follows: "Suit {city}\u00a0: affiche ses surtitres",
    drift_behind_one: "1 titre de retard sur {city}",
    drift_behind_many: "{n} titres de retard sur {city}",
    drift_ahead_one: "1 titre d’avance sur {city}",
    drift_ahead_many: "{n} titres d’avance sur {city}",
    drift_level: "Au même point que {city}",
    drift_min: "{n}\u00a0min",
    drift_min_behind: "{n}\u00a0min de retard",
    drift_min_ahead: "{n}\u00a0min d’avance",
    drift_under_minute: "<\u00a01\u00a0min",
    drift_reference: "Référence pour l’écart des autres villes",
    add_to_calendar: "Ajouter à l’agenda",
    add_to_calendar_aria: "Ajouter à l’agenda\u00a0: {city}",
    days: "{n}\u00a0j",
    timeline_title: "La journée d’un coup d’œil (UTC)",
    timeline_caption: "Une barre par lecture sur un axe en UTC\u00a0; le trait vertical marque l’instant présent ({time} UTC).",
    timeline_now_outside: "L’instant présent ({time} UTC) est hors de cette journée.",
    timeline_bar: "{start}–{end} UTC, {state}",
    now_label: "maintenant",
    subscribe_title: "Agenda",
    subscribe_webcal: "S’abonner dans votre application d’agenda",
    subscribe_copy: "Ou copiez cette adresse dans votre agenda («\u202fajouter par URL\u202f»)\u00a0:",
    subscribe_hint: "Le jour même, c’est cette page qui est à jour en direct\u00a0: les agendas ne rafraîchissent les abonnements que toutes les quelques heures (Google Agenda toutes les 8 à 24\u00a0heures).",
    last_update: "Dernière mise à jour reçue à {time} (votre heure).",
    last_update_none: "Aucune mise à jour en direct reçue pour l’instant.",
    bots: "Pour les scripts et les robots\u00a0:",
    announce_status: "{city}\u00a0: {state}.",
  },
};

const STORE_KEY = "dashboard-lang";

/** The language to show: ?lang= in the address, then the visitor's last choice, then the
 * browser's preferred languages, then English. */
export function pickLanguage() {
  const wanted = [new URLSearchParams(location.search).get("lang")];
  try { wanted.push(localStorage.getItem(STORE_KEY)); } catch { /* storage may be off */ }
  wanted.push(...(navigator.languages || [navigator.language]));
  for (const tag of wanted) {
    const lang = (tag || "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(lang)) return lang;
  }
  return "en";
}

export function rememberLanguage(lang) {
  try { localStorage.setItem(STORE_KEY, lang); } catch { /* storage may be off */ }
}

/** A translator for one language: t("starts_in", {d: "01:00:00"}). */
export function translator(lang) {
  const dict = DICT[lang] || DICT.en;
  return (key, vars) => {
    const text = dict[key] ?? DICT.en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
  };
}

/** Translate the texts written in the HTML: data-i18n (text) and data-i18n-label (aria-label). */
export function translateStatic(root, t) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
}
