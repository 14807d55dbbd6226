"""The calendar feed, read back by real parsers: Home Assistant's strict ``ical``, Mozilla's
ical.js under Node (Thunderbird's parser, which trusts only the feed's own VTIMEZONEs) and
icalendar itself. No mocks: the statuses come from the real rules (``apply_status``)."""

from __future__ import annotations

import bisect
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar, Component, Timezone, vRecur

from coordinator import config, ical_feed, schedule
from coordinator.config import Config, Organizer
from coordinator.rules import Actor, CityStatus, Role, State, apply_status
from tests.support.harness import ROOT, SHIPPED_CONFIG, skip_or_fail

BASE = "https://readings.example.org"
JS_DIR = ROOT / "tests" / "js"
ZONES = {
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "winnipeg": "America/Winnipeg",
    "toronto": "America/Toronto",
    "new-york": "America/New_York",
    "chennai": "Asia/Kolkata",
    "helsinki": "Europe/Helsinki",
}
# Every reading is at 14:00 local time; these are the UTC instants, worked out by hand.
SHIPPED_STARTS = {
    "paris": "2025-09-20T12:00:00Z",  # CEST +02:00
    "berlin": "2025-09-20T12:00:00Z",
    "winnipeg": "2025-09-20T19:00:00Z",  # CDT -05:00
    "toronto": "2025-09-20T18:00:00Z",  # EDT -04:00
    "new-york": "2025-09-20T18:00:00Z",
    "chennai": "2025-09-20T08:30:00Z",  # IST +05:30
    "helsinki": "2025-09-20T11:00:00Z",  # EEST +03:00
}
# 31 October 2026: Europe is back on winter time (25 October), North America not yet (1 Nov).
REDATED_STARTS = {
    "paris": "2026-10-31T13:00:00Z",  # CET +01:00
    "berlin": "2026-10-31T13:00:00Z",
    "winnipeg": "2026-10-31T19:00:00Z",  # CDT -05:00
    "toronto": "2026-10-31T18:00:00Z",  # EDT -04:00
    "new-york": "2026-10-31T18:00:00Z",
    "chennai": "2026-10-31T08:30:00Z",  # IST +05:30
    "helsinki": "2026-10-31T12:00:00Z",  # EET +02:00
}
HOSTILE_NOTE = (
    "Moved indoors.\r\nBEGIN:VEVENT\r\nUID:evil@example.org\r\nEND:VEVENT\r\n"
    "semi; colon: comma, backslash \\ path C:\\New\\Nest literal \\n and \\N;\n"
    + "long line "
    + "x" * 500
    + "\n🎭📚 emoji, தமிழ் வாசிப்பு, Русский текст, «guillemets» — ünïcödé"
)


# -- inputs --------------------------------------------------------------------------------------


def shipped_text() -> str:
    return SHIPPED_CONFIG.read_text(encoding="utf-8")


def shipped() -> Config:
    return config.parse(shipped_text(), source=SHIPPED_CONFIG)


def redated() -> Config:
    """The shipped config moved to Saturday 31 October 2026, every reading still at 14:00."""
    text = shipped_text()
    assert text.count("2025-09-20") == 1 + len(ZONES)  # the event's date and each start
    return config.parse(text.replace("2025-09-20", "2026-10-31"), source=SHIPPED_CONFIG)


def with_city(cfg: Config, city_id: str, **changes: Any) -> Config:
    assert cfg.city(city_id) is not None
    cities = tuple(replace(c, **changes) if c.id == city_id else c for c in cfg.cities)
    return replace(cfg, cities=cities)


def with_event(cfg: Config, **changes: Any) -> Config:
    return replace(cfg, event=replace(cfg.event, **changes))


def with_organizer() -> Config:
    return with_event(shipped(), organizer=Organizer("Art Protest, Paris", "orga@example.org"))


def status_after(
    cfg: Config,
    city_id: str,
    state: State,
    *,
    note: str | None = None,
    delay_minutes: int | None = None,
    now: datetime = datetime(2025, 9, 20, 11, 40, 7, 250_000, tzinfo=UTC),
    current: CityStatus | None = None,
) -> CityStatus:
    """The status the real rules give after an admin's command."""
    city = cfg.city(city_id)
    assert city is not None
    return apply_status(
        current or CityStatus(),
        city=city_id,
        scheduled_start_utc=city.start_utc,
        actor=Actor(Role.ADMIN),
        state=state,
        note=note,
        delay_minutes=delay_minutes,
        now=now,
    )


def utc(text: str) -> datetime:
    return schedule.parse_iso_utc(text)


# -- the parsers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """One VEVENT as a parser understood it; start and end as aware UTC datetimes."""

    uid: str
    summary: str
    status: str
    sequence: int
    description: str
    start: datetime
    end: datetime


def parse_ha(body: bytes) -> dict[str, Parsed]:
    """Home Assistant's ``ical``: strict value checks, resolves TZIDs by their IANA name."""
    cal = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    events: dict[str, Parsed] = {}
    for event in cal.events:
        assert isinstance(event.dtstart, datetime) and isinstance(event.dtend, datetime)
        assert event.status is not None and event.sequence is not None
        events[event.uid] = Parsed(
            uid=event.uid,
            summary=event.summary or "",
            status=event.status.value,
            sequence=event.sequence,
            description=event.description or "",
            start=event.dtstart.astimezone(UTC),
            end=event.dtend.astimezone(UTC),
        )
    assert len(events) == len(cal.events), "duplicate UIDs"
    return events


def icaljs_raw(body: bytes) -> dict[str, Any]:
    if shutil.which("node") is None:
        skip_or_fail("node is not installed (needed to run ical.js)")
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        skip_or_fail("ical.js is not installed: run npm ci --prefix tests/js")
    proc = subprocess.run(
        ["node", str(JS_DIR / "parse_ics.mjs")],
        input=body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def parse_icaljs(body: bytes) -> dict[str, Parsed]:
    """Mozilla's ical.js, which knows a TZID only through the feed's own VTIMEZONE."""
    events: dict[str, Parsed] = {}
    for event in icaljs_raw(body)["events"]:
        assert not event["floating"], f"ical.js read {event['uid']} as floating time"
        events[event["uid"]] = Parsed(
            uid=event["uid"],
            summary=event["summary"],
            status=event["status"],
            sequence=event["sequence"],
            description=event["description"],
            start=utc(event["start"]),
            end=utc(event["end"]),
        )
    return events


def parse_icalendar(body: bytes) -> dict[str, Parsed]:
    """icalendar itself: not independent of the generator, but a round-trip check."""
    events: dict[str, Parsed] = {}
    for event in Calendar.from_ical(body).walk("VEVENT"):
        events[str(event["UID"])] = Parsed(
            uid=str(event["UID"]),
            summary=str(event["SUMMARY"]),
            status=str(event["STATUS"]),
            sequence=event.decoded("SEQUENCE"),
            description=str(event["DESCRIPTION"]),
            start=event.decoded("DTSTART").astimezone(UTC),
            end=event.decoded("DTEND").astimezone(UTC),
        )
    return events


parsers = pytest.mark.parametrize(
    "parse",
    [
        pytest.param(parse_ha, id="ha-ical"),
        pytest.param(parse_icaljs, id="ical.js", marks=pytest.mark.node),
        pytest.param(parse_icalendar, id="icalendar"),
    ],
)


def uid(city_id: str, event_id: str = "my-hour-2025") -> str:
    return f"{event_id}-{city_id}@reading-coordinator"


def lines(body: bytes) -> list[bytes]:
    assert body.endswith(b"\r\n")
    return body[:-2].split(b"\r\n")


def unfolded(body: bytes) -> list[str]:
    """Content lines, unfolded (RFC 5545 §3.1)."""
    return body.decode("utf-8").replace("\r\n ", "").splitlines()


# -- an evaluator for the VTIMEZONE, written from RFC 5545 (independent of ical_feed) ----------


def byday_date(year: int, month: int, byday: str) -> date:
    """The day BYDAY (``2SU``, ``-1SU``) names in that month, by listing the month's days."""
    match = re.fullmatch(r"(-?[1-5])(MO|TU|WE|TH|FR|SA|SU)", byday)
    assert match, byday
    weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(match[2])
    days = [
        date(year, month, d)
        for d in range(1, 32)
        if _valid(year, month, d) and date(year, month, d).weekday() == weekday
    ]
    n = int(match[1])
    return days[n - 1] if n > 0 else days[n]


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


class Evaluator:
    """Offsets and names a VTIMEZONE gives: the observance with the latest onset wins; an
    onset is its local DTSTART/RRULE time minus TZOFFSETFROM. Before every onset: no answer."""

    def __init__(self, vtz: Timezone, last_year: int) -> None:
        onsets: list[tuple[datetime, timedelta, str]] = []
        # Read what a client reads: the serialized component.
        for obs in parsed_timezone(vtz).subcomponents:
            start = obs.decoded("DTSTART")
            assert isinstance(start, datetime) and start.tzinfo is None, "DTSTART is local"
            offset_from, offset_to = obs.decoded("TZOFFSETFROM"), obs.decoded("TZOFFSETTO")
            walls = [start]
            until = None
            if "RRULE" in obs:
                rule = obs["RRULE"]
                assert isinstance(rule, vRecur)
                month, byday = int(rule["BYMONTH"][0]), str(rule["BYDAY"][0])
                until = rule.get("UNTIL", [None])[0]
                walls = [
                    datetime.combine(byday_date(y, month, byday), start.time())
                    for y in range(start.year, last_year + 2)
                ]
                assert walls[0] == start, "the RRULE's first instance is DTSTART"
            for wall in walls:
                instant = (wall - offset_from).replace(tzinfo=UTC)
                if until is None or instant <= until:
                    onsets.append((instant, offset_to, str(obs["TZNAME"])))
        onsets.sort()
        self.instants = [t for t, _, _ in onsets]
        self.states = [(offset, name) for _, offset, name in onsets]

    def at(self, instant: datetime) -> tuple[timedelta, str]:
        index = bisect.bisect_right(self.instants, instant) - 1
        assert index >= 0, f"{instant} is before every observance"
        return self.states[index]


def hours(first_year: int, last_year: int) -> list[datetime]:
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    count = int((datetime(last_year + 1, 1, 1, tzinfo=UTC) - start) / timedelta(hours=1))
    return [start + timedelta(hours=h) for h in range(count)]


# Winnipeg goes from CDT to a permanent -05:00 named EST on 1 November 2026 without changing its
# offset; the VTIMEZONE shape has no place for a name-only change, so it keeps saying CDT.
WINNIPEG_RENAMED = datetime(2026, 11, 1, 7, tzinfo=UTC)


def check_hour_by_hour(vtz: Timezone, first_year: int, last_year: int) -> None:
    tz_name = str(vtz["TZID"])
    ours = Evaluator(vtz, last_year)
    # A second opinion: icalendar turns the VTIMEZONE (not the name) into a dateutil tzinfo.
    theirs = parsed_timezone(vtz).to_tz(lookup_tzid=False)
    wrong = []
    for instant in hours(first_year, last_year):
        truth = schedule.view(instant, tz_name)
        expected_name = truth.abbreviation
        if tz_name == "America/Winnipeg" and first_year <= 2026 and instant >= WINNIPEG_RENAMED:
            assert expected_name == "EST"
            expected_name = "CDT"
        offset, name = ours.at(instant)
        if (offset, name) != (truth.local.utcoffset(), expected_name):
            wrong.append(f"{instant:%Y-%m-%dT%H:%MZ}: {offset} {name} vs {truth}")
        if instant.astimezone(theirs).utcoffset() != truth.local.utcoffset():
            wrong.append(f"{instant:%Y-%m-%dT%H:%MZ}: dateutil says {instant.astimezone(theirs)}")
    assert not wrong, f"{tz_name}: {len(wrong)} wrong hours, first {wrong[:3]}"


def parsed_timezone(vtz: Timezone) -> Timezone:
    """The VTIMEZONE as a client reads it: serialized, then parsed."""
    parsed = Timezone.from_ical(vtz.to_ical())
    assert isinstance(parsed, Timezone)
    return parsed


def feed_timezones(body: bytes) -> dict[str, Timezone]:
    found = Calendar.from_ical(body).walk("VTIMEZONE")
    return {str(tz["TZID"]): tz for tz in found if isinstance(tz, Timezone)}


def rrule_text(observance: Component) -> str:
    """The RRULE value as written in the feed."""
    content: str = observance.to_ical().decode()
    (line,) = [line for line in content.split("\r\n") if line.startswith("RRULE:")]
    return line.removeprefix("RRULE:")


# -- instants --------------------------------------------------------------------------------


@parsers
@pytest.mark.parametrize(
    ("make", "starts"),
    [(shipped, SHIPPED_STARTS), (redated, REDATED_STARTS)],
    ids=["2025-09-20", "2026-10-31"],
)
def test_every_reading_at_its_instant(
    parse: Any, make: Any, starts: Mapping[str, str], request: pytest.FixtureRequest
) -> None:
    cfg: Config = make()
    events = parse(ical_feed.build_feed(cfg, {}, base_url=BASE))
    event_id = cfg.event.id
    assert set(events) == {uid(c, event_id) for c in ZONES}
    for city_id, start in starts.items():
        event = events[uid(city_id, event_id)]
        assert event.start == utc(start), city_id
        assert event.end == utc(start) + timedelta(minutes=60), city_id


def test_times_are_written_in_utc_and_each_citys_wall_time_in_the_description() -> None:
    """No TZID: a client never looks a zone up in its own (perhaps older) tz database."""
    body = ical_feed.build_feed(redated(), {}, base_url=BASE)
    content = unfolded(body)
    events = parse_icalendar(body)
    for city_id, start in REDATED_STARTS.items():
        instant = utc(start)
        assert f"DTSTART:{instant:%Y%m%dT%H%M%S}Z" in content, city_id
        assert f"DTEND:{instant + timedelta(minutes=60):%Y%m%dT%H%M%S}Z" in content, city_id
        local = schedule.view(instant, ZONES[city_id])
        when = f"2026-10-31 14:00–15:00 {local.abbreviation} ({ZONES[city_id]})"
        assert f"When: {when}, {instant:%H:%M}–" in events[uid(city_id)].description
        assert f"Quand : {when}, {instant:%H:%M}–" in events[uid(city_id)].description
    assert not any("TZID" in line for line in content)
    cal = Calendar.from_ical(body)
    assert cal.get_used_tzids() == set()
    assert not cal.walk("VTIMEZONE")
    assert "X-WR-TIMEZONE" not in cal


@pytest.mark.node
def test_icaljs_reads_absolute_instants_without_any_vtimezone() -> None:
    """ical.js knows a TZID only through the feed's VTIMEZONEs; in UTC it needs none."""
    body = ical_feed.build_feed(shipped(), {}, base_url=BASE)
    raw = icaljs_raw(body)
    assert raw["timezones"] == []
    assert not any(event["floating"] for event in raw["events"])


# -- VTIMEZONE ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [shipped, redated], ids=["2025-09-20", "2026-10-31"])
def test_vtimezone_shape(make: Any) -> None:
    body = ical_feed.build_feed(make(), {}, base_url=BASE)
    assert b"RDATE" not in body
    for tz_name, vtz in feed_timezones(body).items():
        kinds = [sub.name for sub in vtz.subcomponents]
        assert kinds.count("STANDARD") == 1 and kinds.count("DAYLIGHT") <= 1, (tz_name, kinds)
        assert len(kinds) == len(vtz.subcomponents)
        for obs in vtz.subcomponents:
            assert "RDATE" not in obs
            assert {"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME"} <= set(obs), tz_name
        if tz_name == "Asia/Kolkata":
            (standard,) = vtz.subcomponents
            assert "RRULE" not in standard
            assert standard.decoded("TZOFFSETTO") == timedelta(hours=5, minutes=30)
            continue
        if make is shipped or tz_name != "America/Winnipeg":
            assert kinds == ["STANDARD", "DAYLIGHT"], tz_name
            for obs in vtz.subcomponents:
                rule = rrule_text(obs)
                assert re.fullmatch(r"FREQ=YEARLY;BYDAY=-?[1-5]SU;BYMONTH=(3|10|11)", rule), rule
            standard, daylight = vtz.subcomponents
            # The two observances hand over to each other.
            assert standard.decoded("TZOFFSETFROM") == daylight.decoded("TZOFFSETTO")
            assert daylight.decoded("TZOFFSETFROM") == standard.decoded("TZOFFSETTO")


def test_europe_and_north_america_rules() -> None:
    """The rules as the tz data has them: last Sunday in Europe, second/first in America."""
    paris = ical_feed.vtimezone("Europe/Paris", 2025, 2025).to_ical().decode()
    paris = paris.replace("\r\n", "\n")
    assert (
        "BEGIN:DAYLIGHT\nDTSTART:19700329T020000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in paris
    )
    assert "BEGIN:STANDARD\nDTSTART:19701025T030000\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in (
        paris
    )
    assert "TZOFFSETFROM:+0100\nTZOFFSETTO:+0200" in paris
    new_york = ical_feed.vtimezone("America/New_York", 2025, 2025).to_ical().decode()
    assert "DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in new_york
    assert "DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11" in new_york
    assert "TZID:Asia/Kolkata" in ical_feed.vtimezone("Asia/Kolkata", 2025, 2025).to_ical().decode()


@pytest.mark.parametrize(
    ("make", "year"), [(shipped, 2025), (redated, 2026)], ids=["2025-09-20", "2026-10-31"]
)
def test_vtimezones_match_the_tz_data_every_hour_of_the_feeds_year(make: Any, year: int) -> None:
    cfg: Config = make()
    assert cfg.event.date.year == year
    for tz_name in sorted({c.timezone for c in cfg.cities}):
        check_hour_by_hour(ical_feed.vtimezone(tz_name, year, year), year, year)


@pytest.mark.parametrize("tz_name", sorted(ZONES.values()))
def test_vtimezone_over_several_years_every_hour(tz_name: str) -> None:
    """2025-2027 crosses Winnipeg's end of clock changes: its rules get an UNTIL."""
    vtz = ical_feed.vtimezone(tz_name, 2025, 2027)
    check_hour_by_hour(vtz, 2025, 2027)
    kinds = [sub.name for sub in vtz.subcomponents]
    assert kinds.count("STANDARD") == 1 and kinds.count("DAYLIGHT") <= 1
    if tz_name == "America/Winnipeg":
        rules = [rrule_text(sub) for sub in vtz.subcomponents]
        assert rules == [
            "FREQ=YEARLY;UNTIL=20251102T070000Z;BYDAY=1SU;BYMONTH=11",
            "FREQ=YEARLY;UNTIL=20260308T080000Z;BYDAY=2SU;BYMONTH=3",
        ]


def test_winnipeg_in_2026_keeps_summer_time_for_good() -> None:
    """In this tz data Winnipeg stops changing clocks after March 2026: winter time (CST) holds
    until the March change, summer offset -05:00 after it."""
    vtz = ical_feed.vtimezone("America/Winnipeg", 2026, 2026)
    standard, daylight = vtz.subcomponents
    assert (standard.name, "RRULE" in standard) == ("STANDARD", False)
    assert standard.decoded("TZOFFSETTO") == timedelta(hours=-6)
    assert daylight.name == "DAYLIGHT"
    assert daylight.decoded("DTSTART") == datetime(2026, 3, 8, 2, 0)
    assert daylight.decoded("TZOFFSETTO") == timedelta(hours=-5)
    check_hour_by_hour(vtz, 2026, 2026)
    # From 2027 there is nothing left to change.
    later = ical_feed.vtimezone("America/Winnipeg", 2027, 2028)
    assert [sub.name for sub in later.subcomponents] == ["STANDARD"]
    check_hour_by_hour(later, 2027, 2028)


def test_vtimezone_refuses_what_the_shape_cannot_say() -> None:
    # Casablanca in this tz data: +00 for Ramadan (February-March), then +00 for good from
    # September 2026: two changes the same way in one year.
    with pytest.raises(ValueError, match="Africa/Casablanca in 2026-2026"):
        ical_feed.vtimezone("Africa/Casablanca", 2026, 2026)
    with pytest.raises(ValueError, match="first_year"):
        ical_feed.vtimezone("Europe/Paris", 2027, 2026)
    with pytest.raises(schedule.UnknownTimeZone):
        ical_feed.vtimezone("Mars/Olympus_Mons", 2026, 2026)


@parsers
def test_a_zone_the_shape_cannot_say_is_written_in_utc(parse: Any) -> None:
    cfg = config.parse(
        """
event: {id: casa-2026, title: {en: "Reading, Casablanca"}, date: 2026-03-01}
cities:
  - {id: casablanca, name: {en: Casablanca}, timezone: Africa/Casablanca,
     start: "2026-03-01T14:00", duration_minutes: 45}
  - {id: paris, name: {en: Paris}, timezone: Europe/Paris,
     start: "2026-03-01T14:00", duration_minutes: 45}
""",
        source=SHIPPED_CONFIG,
    )
    body = ical_feed.build_feed(cfg, {}, base_url=BASE)
    content = unfolded(body)
    assert "DTSTART:20260301T140000Z" in content  # Casablanca is on +00 during Ramadan
    assert "DTSTART:20260301T130000Z" in content  # every reading is in UTC
    assert feed_timezones(body) == {}
    assert Calendar.from_ical(body).get_missing_tzids() == set()
    events = parse(body)
    assert events[uid("casablanca", "casa-2026")].start == utc("2026-03-01T14:00:00Z")
    assert events[uid("paris", "casa-2026")].start == utc("2026-03-01T13:00:00Z")


@parsers
def test_a_delay_into_a_repeated_hour_is_written_in_utc(parse: Any) -> None:
    """01:30 happens twice in New York on 1 November 2026; parsers disagree on which one a
    local time means, so such a reading is written in UTC."""
    start = schedule.local_to_utc(datetime(2026, 11, 1, 0, 30), "America/New_York")
    cfg = with_city(shipped(), "new-york", start_utc=start, duration_minutes=60)
    status = status_after(cfg, "new-york", State.DELAYED, delay_minutes=60)
    body = ical_feed.build_feed(cfg, {"new-york": status}, base_url=BASE)
    content = unfolded(body)
    assert "DTSTART:20261101T053000Z" in content  # 01:30 EDT, the first 01:30
    assert "DTEND:20261101T063000Z" in content  # 01:30 EST, the second one
    event = parse(body)[uid("new-york")]
    assert (event.start, event.end) == (utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:30:00Z"))


# -- identity and changes --------------------------------------------------------------------


def test_uids_are_stable_across_builds_and_config_edits() -> None:
    first = parse_icalendar(ical_feed.build_feed(shipped(), {}, base_url=BASE))
    again = parse_icalendar(ical_feed.build_feed(shipped(), {}, base_url=BASE))
    moved = with_city(shipped(), "paris", venue="Place de la République")
    after_edit = ical_feed.build_feed(moved, {}, base_url="https://other.example.net")
    assert set(first) == set(again) == set(parse_icalendar(after_edit))
    assert set(first) == {uid(c) for c in ZONES}
    assert "Place de la République" in parse_icalendar(after_edit)[uid("paris")].description
    # Calendar.new() would put a random UID on the VCALENDAR: only the VEVENTs have one.
    body = ical_feed.build_feed(shipped(), {}, base_url=BASE)
    assert sum(line.startswith("UID:") for line in unfolded(body)) == len(ZONES)
    assert "UID" not in Calendar.from_ical(body)


def test_same_state_gives_the_same_bytes() -> None:
    cfg = shipped()
    delayed = status_after(cfg, "paris", State.DELAYED, delay_minutes=30, note="Rain.")
    statuses = {"paris": delayed, "berlin": CityStatus(state=State.PREPARING)}
    body = ical_feed.build_feed(cfg, statuses, base_url=BASE)
    assert ical_feed.build_feed(shipped(), dict(reversed(statuses.items())), base_url=BASE) == body
    # A state the calendar does not show (preparing, a status time) changes nothing.
    assert ical_feed.build_feed(cfg, {}, base_url=BASE) == ical_feed.build_feed(
        cfg, {"berlin": CityStatus(state=State.PREPARING)}, base_url=BASE
    )


@parsers
def test_a_delay_moves_the_reading_and_bumps_sequence(parse: Any) -> None:
    cfg = shipped()
    now = datetime(2025, 9, 20, 11, 40, 7, 250_000, tzinfo=UTC)
    status = status_after(cfg, "paris", State.DELAYED, delay_minutes=30, now=now)
    assert (status.calendar_revision, status.calendar_changed_at) == (1, now)
    body = ical_feed.build_feed(cfg, {"paris": status}, base_url=BASE)
    events = parse(body)
    paris = events[uid("paris")]
    assert paris.start == utc("2025-09-20T12:30:00Z")
    assert paris.end == utc("2025-09-20T13:30:00Z")
    assert paris.sequence == 1
    scheduled = cfg.city("paris")
    assert scheduled is not None
    assert paris.status == ("CONFIRMED" if scheduled.confirmed else "TENTATIVE")  # unchanged
    assert "Delayed by 30 min (scheduled 14:00)." in paris.description
    assert "Retardée de 30 min (prévue à 14:00)." in paris.description
    berlin = events[uid("berlin")]
    assert (berlin.start, berlin.sequence) == (utc("2025-09-20T12:00:00Z"), 0)
    content = unfolded(body)
    assert "DTSTART:20250920T123000Z" in content
    assert "LAST-MODIFIED:20250920T114007Z" in content
    assert "DTSTAMP:20250920T114007Z" in content


@parsers
def test_a_second_delay_replaces_the_first_and_bumps_sequence_again(parse: Any) -> None:
    cfg = shipped()
    first = status_after(cfg, "toronto", State.DELAYED, delay_minutes=30)
    later = datetime(2025, 9, 20, 17, 50, tzinfo=UTC)
    second = status_after(cfg, "toronto", State.DELAYED, delay_minutes=45, now=later, current=first)
    event = parse(ical_feed.build_feed(cfg, {"toronto": second}, base_url=BASE))[uid("toronto")]
    assert event.start == utc("2025-09-20T18:45:00Z")
    assert event.sequence == 2


@parsers
def test_a_cancellation_keeps_the_event_marked_cancelled(parse: Any) -> None:
    cfg = shipped()
    status = status_after(cfg, "berlin", State.CANCELLED, note="Storm warning.")
    body = ical_feed.build_feed(cfg, {"berlin": status}, base_url=BASE)
    events = parse(body)
    assert len(events) == len(ZONES)
    berlin = events[uid("berlin")]
    assert berlin.status == "CANCELLED"
    assert berlin.summary.startswith("Cancelled / Annulé — Berlin")
    assert berlin.sequence == 1
    assert berlin.start == utc("2025-09-20T12:00:00Z")
    assert "This reading is cancelled." in berlin.description
    assert "Note: Storm warning." in berlin.description
    assert "Note : Storm warning." in berlin.description
    assert "STATUS:CANCELLED" in unfolded(body)
    for city in cfg.cities:
        if city.id != "berlin":
            expected = "CONFIRMED" if city.confirmed else "TENTATIVE"
            assert events[uid(city.id)].status == expected, city.id


def test_last_modified_of_the_feed() -> None:
    cfg = shipped()
    # Nothing changed yet: the fixed instant, 1 January of the year before the event.
    assert ical_feed.feed_last_modified(cfg, {}) == datetime(2024, 1, 1, tzinfo=UTC)
    body = ical_feed.build_feed(cfg, {}, base_url=BASE)
    assert "LAST-MODIFIED:20240101T000000Z" in unfolded(body)
    early = status_after(cfg, "paris", State.DELAYED, delay_minutes=5)
    late = status_after(
        cfg, "berlin", State.CANCELLED, now=datetime(2025, 9, 20, 12, 5, 1, 999, tzinfo=UTC)
    )
    statuses = {"paris": early, "berlin": late}
    assert ical_feed.feed_last_modified(cfg, statuses) == datetime(
        2025, 9, 20, 12, 5, 1, tzinfo=UTC
    )
    assert ical_feed.feed_last_modified(cfg, statuses, city_ids=["paris"]) == datetime(
        2025, 9, 20, 11, 40, 7, tzinfo=UTC
    )


# -- content ---------------------------------------------------------------------------------


ONE_CITY = """
event:
  id: bal-2026
  title: {en: "Reading, at last", fr: "Lecture, enfin"}
  date: 2026-06-20
  description: {en: "About the reading.", fr: "À propos de la lecture."}
cities:
  - id: lyon
    name: {en: Lyons, fr: Lyon}
    timezone: Europe/Paris
    start: "2026-06-20T18:30"
    duration_minutes: 90
    confirmed: true
    venue: "Place des Terreaux"
    address: "1, place des Terreaux; Lyon"
    access: "Métro A, Hôtel de Ville"
    geo: [45.7674, 4.8336]
    readers: [Anna, Bo]
  - id: bern
    name: {en: Bern, fr: Berne}
    timezone: Europe/Zurich
    start: "2026-06-20T18:30"
    duration_minutes: 90
"""


def test_calendar_properties() -> None:
    body = ical_feed.build_feed(config.parse(ONE_CITY), {}, base_url=BASE + "/")
    content = unfolded(body)
    assert content[:4] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Art Protest//Reading coordinator//EN",
        "CALSCALE:GREGORIAN",
    ]
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M" in content
    assert "X-PUBLISHED-TTL:PT15M" in content
    # NAME and X-WR-CALNAME are TEXT: the comma is escaped.
    assert r"NAME:Reading\, at last" in content
    assert r"X-WR-CALNAME:Reading\, at last" in content
    assert f"URL:{BASE}/" in content
    assert not any(line.startswith(("METHOD", "X-WR-TIMEZONE", "ORGANIZER")) for line in content)


def test_event_properties() -> None:
    cfg = config.parse(ONE_CITY, source=SHIPPED_CONFIG)
    body = ical_feed.build_feed(cfg, {}, base_url=BASE)
    lyon, bern = IcsCalendarStream.calendar_from_ics(body.decode()).events
    assert lyon.summary == "Lyons — Reading, at last"
    assert lyon.status is not None and lyon.status.value == "CONFIRMED"
    assert bern.status is not None and bern.status.value == "TENTATIVE"
    assert lyon.geo is not None and (lyon.geo.lat, lyon.geo.lng) == (45.7674, 4.8336)
    assert lyon.location == "Place des Terreaux, 1, place des Terreaux; Lyon"
    assert lyon.url == f"{BASE}/#city-lyon"
    assert lyon.transparency == "TRANSPARENT"
    assert lyon.description == "\n".join(
        [
            "Reading, at last — Lyons",
            "About the reading.",
            "When: 2026-06-20 18:30–20:00 CEST (Europe/Paris), 16:30–18:00 UTC.",
            "Venue: Place des Terreaux",
            "Address: 1, place des Terreaux; Lyon",
            "Access: Métro A, Hôtel de Ville",
            "Readers: Anna, Bo",
            f"On the day, the live dashboard is the source of truth: {BASE}/",
            "",
            "Lecture, enfin — Lyon",
            "À propos de la lecture.",
            "Quand : 2026-06-20 18:30–20:00 CEST (Europe/Paris), 16:30–18:00 UTC.",
            "Lieu : Place des Terreaux",
            "Adresse : 1, place des Terreaux; Lyon",
            "Accès : Métro A, Hôtel de Ville",
            "Lu par : Anna, Bo",
            f"Le jour même, le tableau de bord en direct fait foi : {BASE}/",
        ]
    )
    assert bern.description is not None
    assert "\nTime and venue to be confirmed.\n" in bern.description
    assert "\nHoraire et lieu à confirmer.\n" in bern.description
    assert bern.location == "Bern"
    assert bern.geo is None
    content = unfolded(body)
    assert "GEO:45.7674;4.8336" in content
    assert r"LOCATION:Place des Terreaux\, 1\, place des Terreaux\; Lyon" in content
    assert r"DESCRIPTION:About the reading.\n\nÀ propos de la lecture." in content
    assert sum(line.startswith("GEO:") for line in content) == 1


def test_public_url_wins_over_the_request_base() -> None:
    cfg = with_event(shipped(), public_url="https://myhour.example.com")
    body = ical_feed.build_feed(cfg, {}, base_url="http://127.0.0.1:8000")
    assert b"127.0.0.1" not in body
    assert "URL:https://myhour.example.com/#city-paris" in unfolded(body)


@parsers
def test_method_and_organizer_only_with_an_organizer(parse: Any) -> None:
    assert b"METHOD" not in ical_feed.build_feed(shipped(), {}, base_url=BASE)
    body = ical_feed.build_feed(with_organizer(), {}, base_url=BASE)
    content = unfolded(body)
    assert content.count("METHOD:PUBLISH") == 1
    organizer = 'ORGANIZER;CN="Art Protest, Paris":mailto:orga@example.org'
    assert content.count(organizer) == len(ZONES)
    assert len(parse(body)) == len(ZONES)
    if parse is parse_icaljs:
        assert icaljs_raw(body)["calendar"]["method"] == "PUBLISH"
    if parse is parse_ha:
        cal = IcsCalendarStream.calendar_from_ics(body.decode())
        assert cal.method == "PUBLISH"
        assert {str(e.organizer.uri) for e in cal.events if e.organizer} == {
            "mailto:orga@example.org"
        }


def test_one_city_feed() -> None:
    body = ical_feed.build_feed(shipped(), {}, base_url=BASE, city_ids=["chennai"])
    events = parse_ha(body)
    assert list(events) == [uid("chennai")]
    assert feed_timezones(body) == {}
    bern = ical_feed.build_feed(config.parse(ONE_CITY), {}, base_url=BASE, city_ids=["bern"])
    assert r"NAME:Reading\, at last (Bern)" in unfolded(bern)
    with pytest.raises(ValueError, match="atlantis"):
        ical_feed.build_feed(shipped(), {}, base_url=BASE, city_ids=["atlantis"])


# -- hostile text and bytes ------------------------------------------------------------------


@parsers
def test_a_hostile_note_round_trips_and_breaks_nothing(parse: Any) -> None:
    cfg = shipped()
    statuses = {
        "paris": status_after(cfg, "paris", State.DELAYED, delay_minutes=15, note=HOSTILE_NOTE),
        "chennai": status_after(cfg, "chennai", State.CANCELLED, note=HOSTILE_NOTE),
    }
    body = ical_feed.build_feed(cfg, statuses, base_url=BASE)
    events = parse(body)
    assert set(events) == {uid(c) for c in ZONES}
    assert unfolded(body).count("BEGIN:VEVENT") == len(ZONES)
    # Line breaks come back as LF, the only form TEXT has; everything else exactly.
    note = HOSTILE_NOTE.replace("\r\n", "\n")
    for city_id in ("paris", "chennai"):
        description = events[uid(city_id)].description
        assert f"\nNote: {note}\n" in description
        assert f"\nNote : {note}\n" in description
        # All parsers read the same text.
        assert description == parse_icalendar(body)[uid(city_id)].description
    assert events[uid("paris")].start == utc("2025-09-20T12:15:00Z")
    assert events[uid("chennai")].status == "CANCELLED"
    check_bytes(body)


@parsers
def test_controls_and_lone_surrogates_are_dropped(parse: Any) -> None:
    """TEXT cannot carry control characters; a JSON note can carry lone surrogates, which
    UTF-8 cannot encode. Both go, the rest stays."""
    cfg = shipped()
    note = "bell\x07 nul\x00 esc\x1b[31m del\x7f tab\tkept \ud83c broken \r lone CR"
    status = status_after(cfg, "helsinki", State.PREPARING, note=note)
    body = ical_feed.build_feed(cfg, {"helsinki": status}, base_url=BASE)
    description = parse(body)[uid("helsinki")].description
    assert "Note: bell nul esc[31m del tab\tkept  broken \n lone CR\n" in description
    check_bytes(body)


def check_bytes(body: bytes) -> None:
    """RFC 5545 §3.1: CRLF, lines of at most 75 octets, folds never inside a UTF-8 sequence;
    UTF-8 without a BOM."""
    assert not body.startswith(b"\xef\xbb\xbf")
    body.decode("utf-8")
    assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")
    for line in lines(body):
        assert len(line) <= 75, line
        line.decode("utf-8")  # raises on a sequence split by a fold


def test_bytes_are_clean() -> None:
    cfg = redated()
    statuses = {c: status_after(cfg, c, State.CANCELLED, note=HOSTILE_NOTE) for c in ZONES}
    body = ical_feed.build_feed(cfg, statuses, base_url=BASE)
    folded = [line for line in lines(body) if line.startswith(b" ")]
    assert len(folded) > 50  # the checks below really see folds, among them in Tamil text
    check_bytes(body)
    check_bytes(ical_feed.build_feed(shipped(), {}, base_url=BASE))


# -- conditional GET ---------------------------------------------------------------------------


def test_etag_is_strong_and_follows_the_bytes() -> None:
    body = ical_feed.build_feed(shipped(), {}, base_url=BASE)
    tag = ical_feed.etag(body)
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert tag == ical_feed.etag(ical_feed.build_feed(shipped(), {}, base_url=BASE))
    moved = with_city(shipped(), "paris", venue="Place de la République")
    assert tag != ical_feed.etag(ical_feed.build_feed(moved, {}, base_url=BASE))


TAG = '"0123456789abcdef0123456789abcdef"'
LAST = datetime(2025, 9, 20, 11, 40, 7, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("if_none_match", "if_modified_since", "expected"),
    [
        (None, None, False),
        (TAG, None, True),
        (f"W/{TAG}", None, True),
        (f'"other", {TAG}', None, True),
        ("*", None, True),
        ('"other"', None, False),
        ('"0123456789abcdef0123456789abcdee"', None, False),
        # If-None-Match wins over the date, both ways.
        ('"other"', "Sat, 20 Sep 2025 12:00:00 GMT", False),
        (TAG, "Sat, 01 Jan 2000 00:00:00 GMT", True),
        ("", "Sat, 20 Sep 2025 11:40:07 GMT", True),
        (None, "Sat, 20 Sep 2025 11:40:07 GMT", True),  # same second
        (None, "Sat, 20 Sep 2025 12:00:00 GMT", True),  # after
        (None, "Sat, 20 Sep 2025 11:40:06 GMT", False),  # before
        (None, "Sat, 20 Sep 2025 13:40:07 +0200", True),
        # The two obsolete forms, which a recipient must still accept (RFC 9110 §5.6.7).
        (None, "Saturday, 20-Sep-25 11:40:07 GMT", True),
        (None, "Sat Sep 20 11:40:06 2025", False),
        (None, "yesterday", False),
        (None, "", False),
    ],
)
def test_not_modified(
    if_none_match: str | None, if_modified_since: str | None, expected: bool
) -> None:
    assert ical_feed.not_modified(TAG, LAST, if_none_match, if_modified_since) is expected


def test_schedule_lists_every_change_of_a_zone_including_a_rename() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    changes = schedule.transitions("America/Winnipeg", start, end)
    assert changes == [datetime(2026, 3, 8, 8, tzinfo=UTC), WINNIPEG_RENAMED]
    renamed_from = schedule.view(WINNIPEG_RENAMED - timedelta(seconds=1), "America/Winnipeg")
    renamed_to = schedule.view(WINNIPEG_RENAMED, "America/Winnipeg")
    assert (renamed_from.utc_offset, renamed_from.abbreviation) == ("-05:00", "CDT")
    assert (renamed_to.utc_offset, renamed_to.abbreviation) == ("-05:00", "EST")
    assert len(schedule.transitions("Europe/Paris", start, end)) == 4
    assert schedule.transitions("Etc/GMT-3", start, end) == []
    with pytest.raises(ValueError, match="aware"):
        schedule.transitions("Europe/Paris", datetime(2026, 1, 1), end)


@parsers
def test_once_live_the_calendar_shows_the_actual_start(parse: Any) -> None:
    """A reading delayed by 30 min that starts at 14:32: the calendar says so, and no longer
    the delayed time."""
    cfg = shipped()
    delayed = status_after(cfg, "paris", State.DELAYED, delay_minutes=30)
    at = datetime(2025, 9, 20, 12, 32, 41, tzinfo=UTC)
    live = status_after(cfg, "paris", State.LIVE, now=at, current=delayed)
    paris = parse(ical_feed.build_feed(cfg, {"paris": live}, base_url=BASE))[uid("paris")]
    assert paris.start == utc("2025-09-20T12:32:41Z")
    assert paris.end == utc("2025-09-20T13:32:41Z")
    assert paris.sequence == delayed.calendar_revision + 1
    assert "Started at 14:32 (scheduled 14:00)." in paris.description
    assert "Commencée à 14:32 (prévue à 14:00)." in paris.description
    assert "Delayed by" not in paris.description
    ended = datetime(2025, 9, 20, 13, 20, tzinfo=UTC)
    finished = status_after(cfg, "paris", State.FINISHED, now=ended, current=live)
    paris = parse(ical_feed.build_feed(cfg, {"paris": finished}, base_url=BASE))[uid("paris")]
    assert (paris.start, paris.end) == (utc("2025-09-20T12:32:41Z"), utc("2025-09-20T13:20:00Z"))
    assert "Ended at 15:20." in paris.description
    assert "Terminée à 15:20." in paris.description


def test_calendar_entries_link_to_the_citys_card() -> None:
    body = ical_feed.build_feed(shipped(), {}, base_url=BASE)
    assert f"URL:{BASE}/#city-paris" in unfolded(body)
