"""The calendar feed (ICS) of the readings, from the config and the live statuses. No I/O.

One VEVENT per reading, its DTSTART and DTEND in UTC (``...Z``): the instant is the one the
server's tz data gives, whatever tz database a subscriber's calendar has. A ``TZID`` sends
the client to its own copy, and an older one put Winnipeg's December readings an hour off;
the city's own wall time is written in the description instead. :func:`vtimezone` (one
STANDARD and at most one DAYLIGHT observance, each a yearly rule, derived from the tz data) is
no longer in the feed; it is kept, tested, for a feed that would name zones again.
docs/calendar.md explains the choices. The same config and statuses always give the same
bytes, so the ETag is a hash of the bytes and a client that already has them gets a 304.

Serialising is icalendar's; the only thing written here is the TEXT escaping (see
:class:`_Text`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
    vText,
)

from coordinator import schedule
from coordinator.caching import strong_etag
from coordinator.config import City, Config
from coordinator.rules import CityStatus, State

PRODID = "-//Art Protest//Reading coordinator//EN"
UID_DOMAIN = "reading-coordinator"
# A hint only: Google ignores it, Apple and Outlook may honour it (docs/calendar.md).
REFRESH_INTERVAL = timedelta(minutes=15)
CANCELLED_PREFIX = "Cancelled / Annulé — "
# Observances that hold since "ever" start here, as in Google's exports.
ANCHOR_YEAR = 1970

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# RFC 5545 TEXT may hold any character but controls other than HTAB (a line break is escaped).
# Lone surrogates cannot be encoded in UTF-8 at all. A JSON note can carry both.
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_ENTITY_TAG = re.compile(r'\*|(?:W/)?"[^"]*"')


class _Text(vText):
    """TEXT escaped exactly as RFC 5545 §3.3.11 says.

    icalendar 7.3 turns a backslash followed by a capital N into a line break before escaping,
    so a note reading ``C:\\New`` would come back as two lines; everything else it escapes the
    same way. Line breaks are normalised to LF by :func:`_clean` before this runs.
    """

    def to_ical(self) -> bytes:
        escaped = (
            str(self)
            .replace("\\", "\\\\")
            .replace(";", "\\;")
            .replace(",", "\\,")
            .replace("\n", "\\n")
        )
        return escaped.encode("utf-8")


def _clean(text: str) -> str:
    """Text as the feed carries it: CRLF and CR become LF, controls and lone surrogates go."""
    return _UNSAFE_TEXT.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _text(value: str) -> _Text:
    return _Text(_clean(value))


# -- VTIMEZONE ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One change of UTC offset, read from the tz data."""

    at: datetime  # UTC
    offset_from: timedelta
    offset_to: timedelta
    name_to: str
    name_from: str

    @property
    def wall(self) -> datetime:
        """The onset in the wall time before the change (naive), as VTIMEZONE writes it."""
        return (self.at + self.offset_from).replace(tzinfo=None)


@dataclass(frozen=True)
class _Observance:
    kind: type[TimezoneStandard] | type[TimezoneDaylight]
    start: datetime  # naive wall time of the first onset, before the change
    offset_from: timedelta
    offset_to: timedelta
    name: str
    byday: str | None = None  # with month: a yearly rule; None: one onset only
    month: int | None = None
    until: datetime | None = None  # UTC instant of the last onset

    def onsets(self, last_year: int) -> list[tuple[datetime, timedelta]]:
        """UTC instants at which this observance starts, up to ``last_year``, with its offset."""
        walls = [self.start]
        if self.byday is not None and self.month is not None:
            walls = [
                datetime.combine(_rule_day(year, self.month, self.byday), self.start.time())
                for year in range(self.start.year, last_year + 1)
            ]
        instants = [(wall - self.offset_from).replace(tzinfo=UTC) for wall in walls]
        return [(t, self.offset_to) for t in instants if self.until is None or t <= self.until]


def _rule_day(year: int, month: int, byday: str) -> date:
    """The day a BYDAY such as ``2SU`` or ``-1SU`` names in that month."""
    nth, weekday = int(byday[:-2]), _WEEKDAYS.index(byday[-2:])
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7 + 7 * (-nth - 1))


def _bydays(day: date) -> set[str]:
    """The BYDAY values that name ``day`` in its month: its rank, and -1 in the last week."""
    weekday = _WEEKDAYS[day.weekday()]
    names = {f"{(day.day - 1) // 7 + 1}{weekday}"}
    if (day + timedelta(days=7)).month != day.month:
        names.add(f"-1{weekday}")
    return names


def _changes(tz_name: str, start: datetime, end: datetime) -> list[_Change]:
    changes = []
    for at in schedule.transitions(tz_name, start, end):
        before = schedule.view(at - timedelta(seconds=1), tz_name).local
        after = schedule.view(at, tz_name).local
        offset_from, offset_to = before.utcoffset(), after.utcoffset()
        assert offset_from is not None and offset_to is not None  # aware local times
        # A change of name or DST flag alone (Winnipeg, November 2026) moves no instant.
        if offset_from != offset_to:
            changes.append(
                _Change(at, offset_from, offset_to, after.tzname() or "", before.tzname() or "")
            )
    return changes


def _yearly(
    kind: type[TimezoneStandard] | type[TimezoneDaylight], changes: list[_Change], last_year: int
) -> _Observance:
    """One yearly rule that gives every change of one direction, or ValueError."""
    first = changes[0]
    walls = [c.wall for c in changes]
    years = [w.year for w in walls]
    same = all(
        (c.wall.month, c.wall.time(), c.offset_from, c.offset_to, c.name_to)
        == (first.wall.month, first.wall.time(), first.offset_from, first.offset_to, first.name_to)
        for c in changes
    )
    if not same or years != list(range(years[0], years[-1] + 1)):
        raise ValueError("the changes do not follow one yearly rule")
    common = set.intersection(*(_bydays(w.date()) for w in walls))
    if not common:
        raise ValueError("the changes fall on different weekdays of the month")
    # Late-month rules are "last Sunday" in the tz data far more often than "fourth Sunday".
    byday = min(common, key=lambda name: (not name.startswith("-"), name))
    return _Observance(
        kind=kind,
        start=first.wall,
        offset_from=first.offset_from,
        offset_to=first.offset_to,
        name=first.name_to,
        byday=byday,
        month=first.wall.month,
        until=changes[-1].at if years[-1] < last_year else None,
    )


def _observances(tz_name: str, first_year: int, last_year: int) -> list[_Observance]:
    window_start = datetime(first_year, 1, 1, tzinfo=UTC)
    window_end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    changes = _changes(tz_name, window_start, window_end)
    if not changes:
        local = schedule.view(window_start, tz_name).local
        offset = local.utcoffset()
        assert offset is not None
        held = _Observance(
            TimezoneStandard, _held_since(first_year), offset, offset, local.tzname() or ""
        )
        return [held]

    ups = [c for c in changes if c.offset_to > c.offset_from]
    downs = [c for c in changes if c.offset_to < c.offset_from]
    daylight = _yearly(TimezoneDaylight, ups, last_year) if ups else None
    standard = _yearly(TimezoneStandard, downs, last_year) if downs else None
    if daylight is not None and standard is not None:
        # Both rules ran all along: start them in 1970, so the state on 1 January comes from
        # last year's onset, as the tz data has it. Otherwise verification refuses the shape.
        if daylight.start.year == standard.start.year == first_year:
            daylight, standard = _anchored(daylight), _anchored(standard)
        return [standard, daylight]
    # Only one direction changes in these years (DST starts or ends for good): the other
    # observance is the state before the first change, held since 1970.
    first = changes[0]
    held = _Observance(
        TimezoneStandard if daylight is not None else TimezoneDaylight,
        _held_since(first_year),
        first.offset_from,
        first.offset_from,
        first.name_from,
    )
    if daylight is not None:
        return [held, daylight]
    assert standard is not None
    return [standard, held]


def _held_since(first_year: int) -> datetime:
    """DTSTART of an observance without a rule: 1 January 1970 (or before the first year)."""
    return datetime(min(ANCHOR_YEAR, first_year - 1), 1, 1)


def _anchored(observance: _Observance) -> _Observance:
    """The rule started on its 1970 date instead of its first change in the years."""
    assert observance.month is not None and observance.byday is not None
    day = _rule_day(ANCHOR_YEAR, observance.month, observance.byday)
    return replace(observance, start=datetime.combine(day, observance.start.time()))


def _verify(tz_name: str, observances: list[_Observance], first_year: int, last_year: int) -> None:
    """Raise ValueError unless the observances give the tz data's offset at every instant of
    the years, counted in UTC. Both are step functions, so comparing them at every step of
    either (and at the start) compares them everywhere."""
    window_start = datetime(first_year, 1, 1, tzinfo=UTC)
    window_end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    onsets = sorted(o for obs in observances for o in obs.onsets(last_year + 1))
    steps = {window_start, *schedule.transitions(tz_name, window_start, window_end)}
    steps.update(t for t, _ in onsets if window_start <= t < window_end)
    for step in sorted(steps):
        in_force = [offset for t, offset in onsets if t <= step]
        expected = schedule.view(step, tz_name).local.utcoffset()
        if not in_force or in_force[-1] != expected:
            raise ValueError(
                f"{tz_name} in {first_year}-{last_year}: the offsets do not fit one yearly "
                f"STANDARD and one yearly DAYLIGHT rule (first mismatch at {step:%Y-%m-%dT%H:%MZ})"
            )


def vtimezone(tz_name: str, first_year: int, last_year: int) -> Timezone:
    """The VTIMEZONE of ``tz_name``, right at every instant of ``first_year``..``last_year``.

    Shape: one STANDARD and at most one DAYLIGHT, each ``RRULE:FREQ=YEARLY;BYMONTH=m;BYDAY=nXX``
    (with UNTIL when the rule ends within the years), no RDATE; DTSTART is the onset in the wall
    time before the change, in 1970 for rules that ran all through the years. A zone without
    changes in those years (Asia/Kolkata) gets one STANDARD without RRULE; a zone that starts
    or stops daylight saving in those years gets a rule for the change that happens and a
    plain observance for the state before it. The result is checked against the tz data.

    Raises ValueError when the offsets cannot be written so (two different changes in the same
    direction in one year, as Africa/Casablanca in 2026), and
    :class:`coordinator.schedule.UnknownTimeZone` for a bad name.
    """
    if first_year > last_year:
        raise ValueError(f"first_year {first_year} is after last_year {last_year}")
    try:
        observances = _observances(tz_name, first_year, last_year)
    except schedule.UnknownTimeZone:
        raise
    except ValueError as exc:
        raise ValueError(f"{tz_name} in {first_year}-{last_year}: {exc}") from None
    _verify(tz_name, observances, first_year, last_year)
    component = Timezone()
    component.add("tzid", tz_name)
    for obs in observances:
        sub = obs.kind()
        sub.add("dtstart", obs.start)
        if obs.byday is not None:
            rule: dict[str, object] = {"freq": "YEARLY", "bymonth": obs.month, "byday": obs.byday}
            if obs.until is not None:
                rule["until"] = obs.until
            sub.add("rrule", rule)
        sub.add("tzoffsetfrom", obs.offset_from)
        sub.add("tzoffsetto", obs.offset_to)
        sub.add("tzname", obs.name)
        component.add_component(sub)
    return component


# -- the feed ------------------------------------------------------------------------------------


def _pick(texts: Mapping[str, str], language: str) -> str:
    """The text in ``language``, else English, else the first one given."""
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


def _changed_at(cfg: Config, status: CityStatus) -> datetime:
    """LAST-MODIFIED and DTSTAMP of a reading, to the second.

    A reading that never changed since the config was loaded has no change instant of its own;
    it gets 1 January of the year before the event, 00:00 UTC: fixed, so the same config gives
    the same bytes after a restart, and in the past for a feed published a year ahead or less.
    """
    changed = status.calendar_changed_at
    if changed is None:
        return datetime(cfg.event.date.year - 1, 1, 1, tzinfo=UTC)
    return changed.astimezone(UTC).replace(microsecond=0)


def _select(cfg: Config, city_ids: Sequence[str] | None) -> list[City]:
    if city_ids is None:
        return list(cfg.cities)
    unknown = [c for c in city_ids if cfg.city(c) is None]
    if unknown:
        raise ValueError(f"unknown city id(s): {', '.join(unknown)}")
    return [c for c in cfg.cities if c.id in city_ids]


@dataclass(frozen=True)
class _Reading:
    city: City
    status: CityStatus

    @property
    def start_utc(self) -> datetime:
        """When it began, once it has; until then the scheduled start plus the delay."""
        if self.status.started_at is not None:
            return self.status.started_at
        return self.city.start_utc + timedelta(minutes=self.status.delay_minutes)

    @property
    def end_utc(self) -> datetime:
        """When it ended, once it has; until then its start plus its duration."""
        if self.status.ended_at is not None and self.status.ended_at > self.start_utc:
            return self.status.ended_at
        return self.start_utc + timedelta(minutes=self.city.duration_minutes)


def build_feed(
    cfg: Config,
    statuses: Mapping[str, CityStatus],
    *,
    base_url: str,
    city_ids: Sequence[str] | None = None,
) -> bytes:
    """The ICS feed of the readings (``city_ids``: only those cities, in config order).

    ``statuses`` maps city id to its live status (a missing city is on schedule). Links use
    ``cfg.event.public_url``, else ``base_url`` (e.g. ``https://example.org``). Every
    DTSTART and DTEND is in UTC, so no VTIMEZONE is written. Raises ValueError for an unknown
    city id.
    """
    base = (cfg.event.public_url or base_url).rstrip("/")
    readings = [_Reading(c, statuses.get(c.id, CityStatus())) for c in _select(cfg, city_ids)]
    events = [_vevent(cfg, r, base) for r in readings]

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if cfg.event.organizer is not None:
        cal.add("method", "PUBLISH")
    title = _pick(cfg.event.title, "en")
    if city_ids is not None and len(readings) == 1:
        title = f"{title} ({_pick(readings[0].city.name, 'en')})"
    # icalendar's calendar_name would write these unescaped: a comma in a title is TEXT.
    cal.add("name", _text(title))
    cal.add("x-wr-calname", _text(title))
    if cfg.event.description:
        texts = [
            cfg.event.description[lang] for lang in ("en", "fr") if lang in cfg.event.description
        ]
        cal.add("description", _text("\n\n".join(texts) or _pick(cfg.event.description, "en")))
    cal.add("url", f"{base}/")
    cal.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    # An X- property has no registered type: without vDuration it would read "0:15:00".
    cal.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    for event in events:
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body


def _vevent(cfg: Config, reading: _Reading, base: str) -> Event:
    city, status = reading.city, reading.status
    cancelled = status.state is State.CANCELLED
    name = _pick(city.name, "en")
    changed = _changed_at(cfg, status)

    event = Event()
    event.add("uid", f"{cfg.event.id}-{city.id}@{UID_DOMAIN}")
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("sequence", status.calendar_revision)
    event.add("dtstart", reading.start_utc.astimezone(UTC))
    event.add("dtend", reading.end_utc.astimezone(UTC))
    summary = f"{name} — {_pick(cfg.event.title, 'en')}"
    event.add("summary", _text(CANCELLED_PREFIX + summary if cancelled else summary))
    if cancelled:
        event.add("status", "CANCELLED")
    else:
        event.add("status", "CONFIRMED" if city.confirmed else "TENTATIVE")
    event.add("transp", "TRANSPARENT")
    place = ", ".join(p for p in (city.venue, city.address) if p)
    event.add("location", _text(place or name))
    if city.geo is not None:
        event.add("geo", city.geo)
    event.add("description", _text(_description(cfg, reading, base)))
    event.add("url", f"{base}/#city-{city.id}")
    if cfg.event.organizer is not None:
        organizer = vCalAddress(f"mailto:{cfg.event.organizer.email}")
        organizer.params["CN"] = _clean(cfg.event.organizer.name)
        event.add("organizer", organizer)
    return event


def _description(cfg: Config, reading: _Reading, base: str) -> str:
    """English, then French: what, where, who, any change, and where to look on the day."""
    city, status = reading.city, reading.status
    scheduled = schedule.utc_to_local(city.start_utc, city.timezone)
    blocks = []
    for lang in ("en", "fr"):
        en = lang == "en"
        lines = [f"{_pick(cfg.event.title, lang)} — {_pick(city.name, lang)}"]
        if lang in cfg.event.description:
            lines.append(cfg.event.description[lang])
        if status.state is State.CANCELLED:
            lines.append("This reading is cancelled." if en else "Cette lecture est annulée.")
        lines.append(_when_line(reading, en))
        lines.extend(_timing_lines(city, status, scheduled, en))
        if not city.confirmed:
            lines.append(
                "Time and venue to be confirmed." if en else "Horaire et lieu à confirmer."
            )
        labels = (
            ("Venue", "Address", "Access", "Readers", "Note")
            if en
            else ("Lieu", "Adresse", "Accès", "Lu par", "Note")
        )
        readers = ", ".join(city.readers)
        for label, value in zip(
            labels, (city.venue, city.address, city.access, readers, status.note), strict=True
        ):
            if value:
                lines.append(f"{label}{'' if en else ' '}: {value}")
        lines.append(
            f"On the day, the live dashboard is the source of truth: {base}/"
            if en
            else f"Le jour même, le tableau de bord en direct fait foi : {base}/"
        )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _when_line(reading: _Reading, en: bool) -> str:
    """The reading's time in its city's zone and in UTC, as the server's tz data says: the
    zone the UTC DTSTART no longer names (``When: 2025-09-20 14:00-15:00 CEST
    (Europe/Paris), 12:00-13:00 UTC.``)."""
    tz_name = reading.city.timezone
    start = schedule.view(reading.start_utc, tz_name)
    end = schedule.utc_to_local(reading.end_utc, tz_name)
    utc_start, utc_end = reading.start_utc.astimezone(UTC), reading.end_utc.astimezone(UTC)
    local = f"{start.local:%Y-%m-%d %H:%M}–{end:%H:%M} {start.abbreviation}".rstrip()
    times = f"{local} ({tz_name}), {utc_start:%H:%M}–{utc_end:%H:%M} UTC."
    return f"When: {times}" if en else f"Quand : {times}"


def _timing_lines(city: City, status: CityStatus, scheduled: datetime, en: bool) -> list[str]:
    """What happened to the time: the actual start and end once known, else the delay."""
    hhmm = f"{scheduled:%H:%M}"
    if status.started_at is not None:
        began = f"{schedule.utc_to_local(status.started_at, city.timezone):%H:%M}"
        lines = [
            f"Started at {began} (scheduled {hhmm})."
            if en
            else f"Commencée à {began} (prévue à {hhmm})."
        ]
        if status.ended_at is not None:
            end = f"{schedule.utc_to_local(status.ended_at, city.timezone):%H:%M}"
            lines.append(f"Ended at {end}." if en else f"Terminée à {end}.")
        return lines
    if status.delay_minutes:
        minutes = status.delay_minutes
        return [
            f"Delayed by {minutes} min (scheduled {hhmm})."
            if en
            else f"Retardée de {minutes} min (prévue à {hhmm})."
        ]
    return []


def feed_last_modified(
    cfg: Config, statuses: Mapping[str, CityStatus], *, city_ids: Sequence[str] | None = None
) -> datetime:
    """The newest LAST-MODIFIED in the feed (UTC, to the second): the HTTP Last-Modified."""
    return max(
        (_changed_at(cfg, statuses.get(c.id, CityStatus())) for c in _select(cfg, city_ids)),
        default=_changed_at(cfg, CityStatus()),
    )


# The feed's strong entity tag is the one every cached body uses.
etag = strong_etag


def not_modified(
    etag: str,
    last_modified: datetime,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110 §13.1.2, §13.1.3).

    If-None-Match wins when present: ``*`` or any listed tag equal to ``etag`` by the weak
    comparison (``W/`` ignored). Otherwise If-Modified-Since: not modified when
    ``last_modified``, to the second, is not after that date. A date that does not parse gives
    False: a full answer is always safe, a wrong 304 freezes a client's copy.
    """
    if if_none_match is not None and if_none_match.strip():
        ours = etag.removeprefix("W/")
        tags = _ENTITY_TAG.findall(if_none_match)
        return any(tag == "*" or tag.removeprefix("W/") == ours for tag in tags)
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:  # "-0000": UTC with no claim about local time
        since = since.replace(tzinfo=UTC)
    return last_modified.astimezone(UTC).replace(microsecond=0) <= since


__all__ = [
    "build_feed",
    "etag",
    "feed_last_modified",
    "not_modified",
    "vtimezone",
]
