// How every page names a time: one formatter, so the dashboard, the consoles and the screens
// say "14:00 CEST" the same way (never "GMT+2" on one page and "CEST" on another).
//
// Zone names: the server's tz database abbreviation (the schedule's `abbreviation`: CEST, CDT,
// IST) while the zone's offset is the one it had at the city's start; otherwise a name the
// browser knows in English ("CET", "EST"), and only then "GMT+1".

const HM = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
const HMS = { ...HM, second: "2-digit" };

export class Times {
  /**
   * @param {string} locale  e.g. "fr-FR": the words of dates ("samedi 31 octobre")
   * @param {object[]} [cities]  schedule entries ({timezone, utc_offset, abbreviation})
   * @param {string|null} [eventDate]  "2025-09-20": other days are named in front of a time
   */
  constructor(locale, cities = [], eventDate = null) {
    this.locale = locale;
    this.cities = cities;
    this.eventDate = eventDate;
    this.formats = new Map();
  }

  dtf(zone, options, loc = this.locale) {
    const key = `${loc}|${zone}|${JSON.stringify(options)}`;
    let f = this.formats.get(key);
    if (!f) {
      f = new Intl.DateTimeFormat(loc, { timeZone: zone, ...options });
      this.formats.set(key, f);
    }
    return f;
  }

  part(date, zone, options, type, loc) {
    const found = this.dtf(zone, options, loc).formatToParts(date).find((p) => p.type === type);
    return found ? found.value : "";
  }

  /** "+02:00" for a zone at an instant (computed by the browser, so it follows DST). */
  offsetAt(date, zone) {
    const name = this.part(date, zone, { timeZoneName: "longOffset" }, "timeZoneName", "en-US");
    const m = /([+-])(\d{2}):(\d{2})/.exec(name);
    return m ? `${m[1]}${m[2]}:${m[3]}` : "+00:00";
  }

  /** The zone's short name at an instant (see the top of this file). */
  zoneName(date, zone) {
    if (zone === "UTC") return "UTC";
    for (const c of this.cities) {
      if (c.abbreviation && this.sameZone(c.timezone, zone) && this.offsetAt(date, zone) === c.utc_offset) {
        return c.abbreviation;
      }
    }
    let name = "";
    for (const loc of [this.locale, "en-US", "en-GB", "en-IN"]) {
      name = this.part(date, zone, { timeZoneName: "short" }, "timeZoneName", loc);
      if (!/^(GMT|UTC)[+−-]/.test(name)) return name;
    }
    return this.part(date, zone, { timeZoneName: "short" }, "timeZoneName");
  }

  /** Whether two IANA names are one zone (browsers say Asia/Calcutta for Asia/Kolkata). */
  sameZone(a, b) {
    const canonical = (zone) => this.dtf(zone, {}, "en-US").resolvedOptions().timeZone;
    return a === b || canonical(a) === canonical(b);
  }

  dayKey(date, zone) {
    return this.dtf(zone, { year: "numeric", month: "2-digit", day: "2-digit" }, "en-CA").format(date);
  }

  /** "14:00 CEST", with the day in front when it is not the event's day in that zone. */
  timeIn(date, zone) {
    let text = `${this.dtf(zone, HM).format(date)} ${this.zoneName(date, zone)}`;
    if (this.eventDate && this.dayKey(date, zone) !== this.eventDate) {
      text = `${this.dtf(zone, { weekday: "short", day: "numeric", month: "short" }).format(date)}, ${text}`;
    }
    return text;
  }

  /** "14:00:05 CEST": a clock. */
  clock(date, zone) {
    return `${this.dtf(zone, HMS).format(date)} ${this.zoneName(date, zone)}`;
  }

  /** "14:00:05", without the zone. */
  hms(date, zone) {
    return this.dtf(zone, HMS).format(date);
  }

  /** "14:00" in UTC. */
  utcHM(ms) {
    return this.dtf("UTC", HM).format(new Date(ms));
  }

  /** "samedi 31 octobre 2026". */
  longDate(date) {
    return this.dtf("UTC", { dateStyle: "full" }).format(date);
  }
}

/** The viewer's own zone, as the browser names it. */
export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** The locale for a page language: the browser's own variant of it ("fr-CA"), else the code. */
export function localeFor(lang) {
  const tags = navigator.languages || [navigator.language];
  return tags.find((tag) => tag && tag.toLowerCase().split("-")[0] === lang) || lang;
}
