"""Schedule edits made while the server runs: overrides of the config file. Pure: no I/O.

An organiser moves a reading, confirms it or names its venue over HTTP (``PATCH
/api/cities/{city}``); the YAML file is never rewritten. Each edit is kept by the store as a
:class:`CityOverride`, the fields it sets, and later edits merge into it. What every part of
the server shows is :func:`effective`: the file's config with the overrides laid over it.

The edit is read with the config's own rules (:class:`coordinator.config.Reader`): a wall time
in the city's zone that a daylight-saving change skips or repeats is refused, as in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from coordinator import schedule
from coordinator.config import City, Config, Reader

# The body's fields, and the venue object's (each one of the config's city fields).
PATCH_FIELDS: dict[str, str] = {
    "start_local": "wall-clock time in the city's zone, no offset: YYYY-MM-DDTHH:MM",
    "duration_minutes": "whole minutes, 1 to 1440",
    "confirmed": "true or false",
    "venue": "an object with any of name, address, access, geo (null clears one)",
}
VENUE_FIELDS: dict[str, str] = {
    "name": "the config's venue: name of the place",
    "address": "street address",
    "access": "how to get there",
    "geo": "[latitude, longitude] in degrees",
}
# The City attribute each venue field sets.
_VENUE_ATTRIBUTES = {"name": "venue", "address": "address", "access": "access", "geo": "geo"}
# The City attributes an override may set, in the order the audit log names them.
ATTRIBUTES = ("start_utc", "duration_minutes", "confirmed", "venue", "address", "access", "geo")


class OverrideError(ValueError):
    """A schedule edit refused: ``faults`` holds every (field, message), the field named as in
    the request body (``start_local``, ``venue.geo``)."""

    def __init__(self, faults: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {message}" for where, message in faults))
        self.faults = faults

    @property
    def field(self) -> str | None:
        return self.faults[0][0] if self.faults else None


@dataclass(frozen=True)
class CityOverride:
    """The City attributes an edit sets (any of :data:`ATTRIBUTES`), with their new values;
    ``None`` for venue, address, access or geo clears it."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, later: CityOverride) -> CityOverride:
        """This override with a later edit laid over it (only the fields it names)."""
        return CityOverride({**self.values, **later.values})

    def apply(self, city: City) -> City:
        """The city as the file says it, with these fields replaced."""
        return replace(city, **dict(self.values)) if self.values else city

    def describe(self, city: City) -> str:
        """The overridden fields' values in ``city``, for the audit log (``from`` and ``to``)."""
        parts = []
        for name in ATTRIBUTES:
            if name in self.values:
                value = getattr(city, name)
                if name == "start_utc":
                    local = schedule.utc_to_local(value, city.timezone)
                    parts.append(f"start {local:%Y-%m-%dT%H:%M} ({schedule.iso_utc(value)})")
                else:
                    parts.append(
                        f"{name} {value!r}" if isinstance(value, str) else f"{name} {value}"
                    )
        return ", ".join(parts)


def effective(config: Config, overrides: Mapping[str, CityOverride]) -> Config:
    """The config every view shows: the file's, with each city's override applied. An
    override of a city the file no longer has is ignored."""
    if not overrides:
        return config
    cities = tuple(overrides[c.id].apply(c) if c.id in overrides else c for c in config.cities)
    return replace(config, cities=cities)


def parse_patch(raw: Any, city: City) -> CityOverride:
    """Read a ``PATCH /api/cities/{city}`` body for ``city`` (its zone reads ``start_local``).

    Raises :class:`OverrideError` naming every bad or unknown field; an empty edit is refused.
    """
    reader = Reader(Path("PATCH"))
    if not isinstance(raw, dict) or not raw:
        raise OverrideError([("", f"send a JSON object with any of {', '.join(PATCH_FIELDS)}")])
    values: dict[str, Any] = {}
    for key in raw:
        if key not in PATCH_FIELDS:
            reader.fail(str(key), f"unknown field (known: {', '.join(PATCH_FIELDS)})")
    if "start_local" in raw:
        start = _start(reader, raw["start_local"], city.timezone)
        if start is not None:
            values["start_utc"] = start
    if "duration_minutes" in raw:
        values["duration_minutes"] = reader.duration("duration_minutes", raw["duration_minutes"])
    if "confirmed" in raw:
        values["confirmed"] = reader.flag("confirmed", raw["confirmed"])
    if "venue" in raw:
        values.update(_venue(reader, raw["venue"]))
    if reader.faults:
        raise OverrideError(reader.faults)
    return CityOverride(values)


def _start(reader: Reader, raw: Any, tz_name: str) -> datetime | None:
    if not isinstance(raw, str):
        reader.fail("start_local", f'{raw!r}: send a local time like "2026-12-05T15:30"')
        return None
    return reader.wall_time("start_local", raw, tz_name)


def _venue(reader: Reader, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        reader.fail("venue", f"must be an object with any of {', '.join(VENUE_FIELDS)}")
        return {}
    found: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"venue.{key}"
        if key not in VENUE_FIELDS:
            reader.fail(where, f"unknown field (known: {', '.join(VENUE_FIELDS)})")
        elif key == "geo":
            before = len(reader.faults)
            geo = reader.geo(where, value)
            if len(reader.faults) == before:
                found["geo"] = geo
        else:
            before = len(reader.faults)
            text = reader.optional_text(where, value)
            if len(reader.faults) == before:
                found[_VENUE_ATTRIBUTES[key]] = text
    return found
