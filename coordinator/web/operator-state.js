// What the surtitle operator's console knows, in one object, and the answers it derives from
// it (whom the screens follow, what they show, in which languages). No DOM: operator-render.js
// draws it, operator.js feeds it from the server and sends the operator's commands.
import { screenLanguages } from "/static/cue-text.js";
import { translator } from "/static/i18n.js";

export class ConsoleState {
  /**
   * @param {string} cityId  the city this console cues (from the address)
   * @param {"live"|"rehearsal"} mode  the channel the keys and buttons cue
   */
  constructor(cityId, mode) {
    this.cityId = cityId;
    this.mode = mode;
    this.t = translator(); // the console's words (operator.js sets the chosen language)
    this.reset();
  }

  /** Forget everything the server told us (a sign-out); the city and the mode stay. */
  reset() {
    this.live = false; // the connection is synced: what we hold is the server's state
    // The operator's view of each channel: index, count, blank, text, next, notes, frozen,
    // shown (what its audience sees), follows, languages, version...
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

  /** The city this console's live screens follow, or null (never in rehearsal mode). */
  following() {
    const { view } = this;
    return this.mode === "live" && view && view.follows ? view.follows : null;
  }

  /** What the audience of the channel sees now: the server's `shown`, else the pointer. */
  shownNow() {
    const { view } = this;
    if (!view) return null;
    return view.shown || { index: view.index, blank: view.blank, text: view.text };
  }

  /** The languages this city's screens show of its own script (the displays' rule). */
  projected() {
    return screenLanguages(this.languages, [this.configured()]);
  }

  /** The languages the screens show now: of the followed city's script while following. */
  shownLanguages() {
    const leader = this.following();
    if (!leader) return this.projected();
    const known = this.others.get(leader);
    const available = known && known.languages.length ? known.languages
      : Object.keys(this.shownNow().text || {});
    return screenLanguages(available, [this.configured()]);
  }

  /** This city's configured surtitle languages, or null. */
  configured() {
    const { city } = this;
    return city && city.surtitles ? city.surtitles.languages : null;
  }

  nameOf(id) {
    return this.cityNames.get(id) || id;
  }

  /** The names of the cities whose live screens follow this one. */
  followerNames() {
    return [...this.others].filter(([, o]) => o.follows === this.cityId)
      .map(([id]) => this.nameOf(id));
  }

  /** "cue 12", with the script's own label when it is not the position: cue 12 (“12a”). */
  cueName(index) {
    const cue = this.script.get(index);
    const label = cue && cue.label && cue.label !== String(index) ? cue.label : "";
    return label ? this.t("op_cue_label", { n: index, label }) : this.t("op_cue", { n: index });
  }

  /** Keep a cue's text as seen in a view; whether that changed what we know. */
  remember(index, text, notes, label) {
    if (index < 1 || !text) return false;
    const known = this.script.get(index);
    if (known && this.scriptComplete) return false;
    if (known && JSON.stringify(known.text) === JSON.stringify(text) &&
        known.notes === notes && known.label === label) return false;
    this.script.set(index, { text, notes: notes || "", label: label || "" });
    return true;
  }
}

/** What the console keeps of a city's live channel: whom it follows, its script's languages. */
export function channelSummary(view) {
  return { follows: view.follows || null, languages: view.languages || [] };
}
