// Read an ICS feed on stdin with Mozilla's ical.js (Thunderbird's parser) and print what it
// understood as JSON, for tests/test_ical_feed.py.
//
// ical.js has no time zone database of its own: it knows a TZID only through a VTIMEZONE that
// was registered. Every VTIMEZONE of the file is registered (and nothing else), so the times
// printed are what the feed's own VTIMEZONEs say. A TZID without one reads as floating time,
// printed with "floating": true so the test can fail on it.
//
// Output: {"calendar": {...}, "timezones": [tzid...], "events": [{uid, summary, status,
// sequence, description, location, url, start, end, start_tzid, floating}]}, with start and
// end as UTC ISO strings.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(0, "utf8");
const root = new ICAL.Component(ICAL.parse(text));

const timezones = [];
for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
  const zone = new ICAL.Timezone(vtimezone);
  ICAL.TimezoneService.register(zone);
  timezones.push(zone.tzid);
}

function utc(time) {
  return time.convertToZone(ICAL.Timezone.utcTimezone).toJSDate().toISOString();
}

function isFloating(time) {
  return time.zone === ICAL.Timezone.localTimezone || time.zone == null;
}

// Registration happens before the events are read: ical.js looks the TZID up when it parses
// the DTSTART value.
const events = root.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const dtstart = vevent.getFirstProperty("dtstart");
  return {
    uid: event.uid,
    summary: event.summary,
    status: vevent.getFirstPropertyValue("status"),
    sequence: event.sequence,
    description: event.description,
    location: event.location,
    url: vevent.getFirstPropertyValue("url"),
    start: utc(event.startDate),
    end: utc(event.endDate),
    start_tzid: dtstart.getParameter("tzid") ?? null,
    floating: isFloating(event.startDate) || isFloating(event.endDate),
  };
});

const calendar = {
  prodid: root.getFirstPropertyValue("prodid"),
  version: root.getFirstPropertyValue("version"),
  method: root.getFirstPropertyValue("method"),
};

process.stdout.write(JSON.stringify({ calendar, timezones, events }));
