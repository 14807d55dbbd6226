"""Load and validate the event description (``config/cities.yaml``) into frozen dataclasses.

Every problem is reported at once, each naming the file, the city and the field, so an
organiser fixes the file in one pass. The fields are declared once in :data:`EVENT_FIELDS`,
:data:`CITY_FIELDS` and :data:`SURTITLE_FIELDS`; a test checks that docs/config.md names them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from coordinator import schedule

CITY_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")

EVENT_FIELDS: dict[str, str] = {
    "id": "required; letters, digits, '-', '_'; used in calendar UIDs, so never change it",
    "title": "required; text by language, e.g. {en: ..., fr: ...}",
    "date": "required; the event's date, YYYY-MM-DD",
    "public_url": "optional; the dashboard's public address, used for calendar links",
    "organizer": "optional; {name, email}; adds ORGANIZER and METHOD:PUBLISH to the feed",
    "description": "optional; text by language, shown in the calendar entry",
    "moments": "optional; named instants every screen counts down to: a list of moments",
}
MOMENT_FIELDS: dict[str, str] = {
    "id": "required; [a-z0-9-], unique among the moments",
    "name": "required; text by language, e.g. {en: The last line, read together}",
    "at": "required; wall-clock time in the moment's zone, no offset: YYYY-MM-DDTHH:MM",
    "timezone": "required; the IANA zone of `at` (UTC is one)",
}
CITY_FIELDS: dict[str, str] = {
    "id": "required; [a-z0-9-], unique",
    "name": "required; text by language",
    "timezone": "required; IANA name, e.g. Europe/Paris",
    "start": "required; wall-clock time in the city's zone, no offset: YYYY-MM-DDTHH:MM",
    "duration_minutes": "required; whole minutes, 1 to 1440",
    "confirmed": "optional, default false; false shows time and venue as to be confirmed",
    "venue": "optional; name of the place",
    "address": "optional; street address",
    "access": "optional; how to get there",
    "geo": "optional; [latitude, longitude] in degrees",
    "readers": "optional; list of names",
    "language": "optional, default en; language read aloud",
    "surtitles": "optional; see the surtitles fields",
}
SURTITLE_FIELDS: dict[str, str] = {
    "languages": "required; languages shown on the surtitle screens, e.g. [fr]",
    "script": "optional; a path relative to this file, or one path per language {en: ..., fr: ...}",
}


class ConfigError(ValueError):
    """The config file is wrong. ``problems`` holds one line per problem, each self-contained."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Organizer:
    name: str
    email: str


@dataclass(frozen=True)
class Surtitles:
    languages: tuple[str, ...]
    # One file holding every language (CSV, TSV, YAML) or one file per language (SRT, VTT).
    script: Path | Mapping[str, Path] | None = None


@dataclass(frozen=True)
class City:
    id: str
    name: Mapping[str, str]
    timezone: str
    start_utc: datetime
    duration_minutes: int
    confirmed: bool = False
    venue: str | None = None
    address: str | None = None
    access: str | None = None
    geo: tuple[float, float] | None = None
    readers: tuple[str, ...] = ()
    language: str = "en"
    surtitles: Surtitles | None = None

    @property
    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class Moment:
    """An instant the organiser names ("the last line, read together in every city"): every
    dashboard, projector and phone counts down to it on the one event clock."""

    id: str
    name: Mapping[str, str]
    at_utc: datetime


@dataclass(frozen=True)
class Event:
    id: str
    title: Mapping[str, str]
    date: date
    public_url: str | None = None
    organizer: Organizer | None = None
    description: Mapping[str, str] = field(default_factory=dict)
    moments: tuple[Moment, ...] = ()


@dataclass(frozen=True)
class Config:
    event: Event
    cities: tuple[City, ...]
    path: Path | None = None

    def city(self, city_id: str) -> City | None:
        """The city with this exact id, or None."""
        for city in self.cities:
            if city.id == city_id:
                return city
        return None

    @property
    def city_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cities)


def load(path: str | Path) -> Config:
    """Read and validate a config file. Raises :class:`ConfigError` naming every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    return parse(text, source=path)


def parse(text: str, source: Path | str = "<config>") -> Config:
    """Validate config text; ``source`` names the file in messages and anchors relative paths."""
    source_path = Path(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    return Reader(source_path).read(raw)


class Reader:
    """Collects problems while reading so all of them are reported together."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.problems: list[str] = []
        # The same problems as (field, message), for a reader that names fields itself (a
        # schedule edit over HTTP: coordinator/overrides.py).
        self.faults: list[tuple[str, str]] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")
        self.faults.append((where, message))

    def read(self, raw: Any) -> Config:
        if not isinstance(raw, dict):
            raise ConfigError(
                [f"{self.source}: the file must be a mapping with 'event' and 'cities'"]
            )
        for key in raw:
            if key not in ("event", "cities"):
                self.fail(str(key), "unknown top-level field (expected 'event' and 'cities')")
        event = self.read_event(raw.get("event"))
        cities = self.read_cities(raw.get("cities"))
        if self.problems or event is None:
            raise ConfigError(self.problems)
        return Config(event=event, cities=tuple(cities), path=self.source)

    # -- event --------------------------------------------------------------------------------

    def read_event(self, raw: Any) -> Event | None:
        if not isinstance(raw, dict):
            self.fail("event", "missing, or not a mapping")
            return None
        self.unknown_fields("event", raw, EVENT_FIELDS)
        event_id = raw.get("id")
        if not isinstance(event_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", event_id):
            self.fail("event.id", "required: 1 to 64 letters, digits, '-' or '_'")
        title = self.texts("event.title", raw.get("title"), required=True)
        day = raw.get("date")
        if isinstance(day, datetime) or not isinstance(day, date):
            if isinstance(day, str):
                try:
                    day = date.fromisoformat(day)
                except ValueError:
                    self.fail("event.date", f"{day!r} is not a date (YYYY-MM-DD)")
            else:
                self.fail("event.date", "required: a date (YYYY-MM-DD)")
        public_url = raw.get("public_url")
        if public_url is not None and (
            not isinstance(public_url, str) or not re.match(r"^https?://[^\s/]+", public_url)
        ):
            self.fail("event.public_url", "must be an http(s) address, e.g. https://example.org")
            public_url = None
        organizer = None
        if "organizer" in raw:
            org = raw["organizer"]
            if (
                isinstance(org, dict)
                and isinstance(org.get("name"), str)
                and isinstance(org.get("email"), str)
                and re.fullmatch(r"[^@\s]+@[^@\s]+", org["email"])
            ):
                organizer = Organizer(name=org["name"], email=org["email"])
            else:
                self.fail("event.organizer", "must be {name: text, email: address}")
        description = self.texts("event.description", raw.get("description"), required=False)
        moments = self.moments(raw.get("moments"))
        if self.problems or not isinstance(event_id, str) or not isinstance(day, date):
            return None
        return Event(
            id=event_id,
            title=title,
            date=day,
            public_url=public_url.rstrip("/") if public_url else None,
            organizer=organizer,
            description=description,
            moments=moments,
        )

    def moments(self, raw: Any) -> tuple[Moment, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail("event.moments", "must be a list of {id, name, at, timezone}")
            return ()
        found: list[Moment] = []
        for position, item in enumerate(raw, start=1):
            moment = self.moment(position, item)
            if moment is not None and moment.id in {m.id for m in found}:
                self.fail(f"event.moments[#{position}].id", f"duplicate id {moment.id!r}")
            elif moment is not None:
                found.append(moment)
        return tuple(found)

    def moment(self, position: int, raw: Any) -> Moment | None:
        if not isinstance(raw, dict):
            self.fail(f"event.moments[#{position}]", "not a mapping")
            return None
        moment_id = raw.get("id")
        if not isinstance(moment_id, str) or not CITY_ID_RE.match(moment_id):
            self.fail(f"event.moments[#{position}].id", f"{moment_id!r}: use a-z, 0-9 and '-'")
            return None
        where = f"event.moments[{moment_id}]"
        before = len(self.problems)
        self.unknown_fields(where, raw, MOMENT_FIELDS)
        name = self.texts(f"{where}.name", raw.get("name"), required=True)
        tz_name = raw.get("timezone")
        if not isinstance(tz_name, str) or not schedule.is_known_zone(tz_name):
            self.fail(f"{where}.timezone", f"unknown time zone {tz_name!r} (use an IANA name)")
            tz_name = None
        at_utc = self.wall_time(f"{where}.at", raw.get("at"), tz_name)
        if len(self.problems) > before or at_utc is None:
            return None
        return Moment(id=moment_id, name=name, at_utc=at_utc)

    # -- cities -------------------------------------------------------------------------------

    def read_cities(self, raw: Any) -> list[City]:
        if not isinstance(raw, list) or not raw:
            self.fail("cities", "missing, or not a non-empty list")
            return []
        cities: list[City] = []
        seen: set[str] = set()
        for position, item in enumerate(raw, start=1):
            city = self.read_city(position, item)
            if city is None:
                continue
            if city.id in seen:
                self.fail(f"cities[{city.id}].id", f"duplicate id {city.id!r}")
                continue
            seen.add(city.id)
            cities.append(city)
        return cities

    def read_city(self, position: int, raw: Any) -> City | None:
        if not isinstance(raw, dict):
            self.fail(f"cities[#{position}]", "not a mapping")
            return None
        city_id = raw.get("id")
        if not isinstance(city_id, str) or not CITY_ID_RE.match(city_id):
            self.fail(
                f"cities[#{position}].id",
                f"{city_id!r} is not a valid id: use a-z, 0-9 and '-' (at most 40 characters)",
            )
            return None
        where = f"cities[{city_id}]"
        before = len(self.problems)
        self.unknown_fields(where, raw, CITY_FIELDS)
        name = self.texts(f"{where}.name", raw.get("name"), required=True)

        tz_name = raw.get("timezone")
        if not isinstance(tz_name, str) or not schedule.is_known_zone(tz_name):
            self.fail(f"{where}.timezone", f"unknown time zone {tz_name!r} (use an IANA name)")
            tz_name = None

        start_utc = self.wall_time(f"{where}.start", raw.get("start"), tz_name)

        duration = self.duration(f"{where}.duration_minutes", raw.get("duration_minutes"))
        confirmed = self.flag(f"{where}.confirmed", raw.get("confirmed", False))

        venue = self.optional_text(f"{where}.venue", raw.get("venue"))
        address = self.optional_text(f"{where}.address", raw.get("address"))
        access = self.optional_text(f"{where}.access", raw.get("access"))
        geo = self.geo(f"{where}.geo", raw.get("geo"))

        readers_raw = raw.get("readers", [])
        if not isinstance(readers_raw, list) or not all(
            isinstance(r, str) and r.strip() for r in readers_raw
        ):
            self.fail(f"{where}.readers", "must be a list of names")
            readers_raw = []

        language = raw.get("language", "en")
        if not isinstance(language, str) or not LANGUAGE_RE.match(language):
            self.fail(f"{where}.language", f"{language!r} is not a language code such as en or fr")

        surtitles = self.surtitles(f"{where}.surtitles", raw.get("surtitles"))

        if len(self.problems) > before or start_utc is None or tz_name is None:
            return None
        assert duration is not None
        return City(
            id=city_id,
            name=name,
            timezone=tz_name,
            start_utc=start_utc,
            duration_minutes=duration,
            confirmed=bool(confirmed),
            venue=venue,
            address=address,
            access=access,
            geo=geo,
            readers=tuple(readers_raw),
            language=str(language),
            surtitles=surtitles,
        )

    def wall_time(self, where: str, raw: Any, tz_name: str | None) -> datetime | None:
        """A wall-clock time in ``tz_name`` (a city's start, a moment) as a UTC instant."""
        if isinstance(raw, datetime):
            wall = raw
        elif isinstance(raw, str):
            try:
                wall = datetime.fromisoformat(raw)
            except ValueError:
                self.fail(where, f"{raw!r} is not a local time like 2025-09-20T14:00")
                return None
        else:
            self.fail(where, 'required: a local time like "2025-09-20T14:00"')
            return None
        if wall.tzinfo is not None:
            self.fail(
                where, f"{raw!r} has a UTC offset; write the wall-clock time in its zone only"
            )
            return None
        if tz_name is None:
            return None
        try:
            return schedule.local_to_utc(wall, tz_name)
        except schedule.LocalTimeError as exc:
            self.fail(where, f"{exc}; choose another time")
            return None

    def surtitles(self, where: str, raw: Any) -> Surtitles | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.fail(where, "must be a mapping with 'languages' (and optionally 'script')")
            return None
        self.unknown_fields(where, raw, SURTITLE_FIELDS)
        languages = raw.get("languages")
        if (
            not isinstance(languages, list)
            or not languages
            or not all(isinstance(x, str) and LANGUAGE_RE.match(x) for x in languages)
        ):
            self.fail(f"{where}.languages", "must be a non-empty list of language codes, e.g. [fr]")
            return None
        script: Path | dict[str, Path] | None = None
        raw_script = raw.get("script")
        base = self.source.parent
        if isinstance(raw_script, str):
            script = self.script_path(f"{where}.script", base, raw_script)
        elif isinstance(raw_script, dict) and raw_script:
            script = {}
            for lang, rel in raw_script.items():
                if (
                    not isinstance(lang, str)
                    or not LANGUAGE_RE.match(lang)
                    or not isinstance(rel, str)
                ):
                    self.fail(
                        f"{where}.script", "per-language form is {en: file.srt, fr: file.srt}"
                    )
                    continue
                path = self.script_path(f"{where}.script.{lang}", base, rel)
                if path is not None:
                    script[lang] = path
        elif raw_script is not None:
            self.fail(f"{where}.script", "must be a path or {language: path}")
        return Surtitles(languages=tuple(languages), script=script)

    def script_path(self, where: str, base: Path, rel: str) -> Path | None:
        path = (base / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        if not path.is_file():
            self.fail(where, f"file {rel!r} not found (paths are relative to the config file)")
            return None
        return path

    # -- small shapes -------------------------------------------------------------------------

    def unknown_fields(self, where: str, raw: dict[Any, Any], known: Mapping[str, str]) -> None:
        for key in raw:
            if key not in known:
                self.fail(f"{where}.{key}", f"unknown field (known: {', '.join(known)})")

    def texts(self, where: str, raw: Any, *, required: bool) -> dict[str, str]:
        if raw is None and not required:
            return {}
        if isinstance(raw, str) and raw.strip():
            return {"en": raw}
        if (
            isinstance(raw, dict)
            and raw
            and all(
                isinstance(k, str) and LANGUAGE_RE.match(k) and isinstance(v, str) and v.strip()
                for k, v in raw.items()
            )
        ):
            return dict(raw)
        self.fail(where, "must be text by language, e.g. {en: Paris, fr: Paris}")
        return {}

    def duration(self, where: str, raw: Any) -> int | None:
        """A reading's length: whole minutes, 1 to 1440."""
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1440:
            self.fail(where, f"{raw!r} must be whole minutes, 1 to 1440")
            return None
        return raw

    def flag(self, where: str, raw: Any) -> bool:
        if not isinstance(raw, bool):
            self.fail(where, f"{raw!r} must be true or false")
            return False
        return raw

    def optional_text(self, where: str, raw: Any) -> str | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            return raw.strip() or None
        self.fail(where, f"{raw!r} must be text")
        return None

    def geo(self, where: str, raw: Any) -> tuple[float, float] | None:
        if raw is None:
            return None
        if (
            isinstance(raw, list)
            and len(raw) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw)
            and -90 <= raw[0] <= 90
            and -180 <= raw[1] <= 180
        ):
            return (float(raw[0]), float(raw[1]))
        self.fail(where, "must be [latitude, longitude] in degrees")
        return None


def shifted_for_demo(config: Config, now: datetime, lead: timedelta) -> Config:
    """Move the whole event so the first reading starts ``lead`` after ``now``.

    Every city moves by the same amount, so the gaps between readings stay as configured.
    """
    first = min(c.start_utc for c in config.cities)
    target = (now.astimezone(UTC) + lead).replace(second=0, microsecond=0)
    delta = target - first
    cities = tuple(replace(c, start_utc=c.start_utc + delta) for c in config.cities)
    moments = tuple(replace(m, at_utc=m.at_utc + delta) for m in config.event.moments)
    event = replace(config.event, date=target.date(), moments=moments)
    return replace(config, event=event, cities=cities)
