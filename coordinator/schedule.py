"""Wall-clock time <-> UTC instants. The only module of the project that touches pytz.

Every instant the rest of the code holds is an aware ``datetime`` in UTC. Local time exists only
to read the config (a city's ``start`` is the wall time in its own zone) and to show a reading to
someone. Local times that a daylight-saving change skips or repeats are refused, never shifted:
publishing the wrong hour of a protest reading is worse than refusing to start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytz


class LocalTimeError(ValueError):
    """A wall-clock time that cannot name one instant in its zone."""


class NonexistentLocalTime(LocalTimeError):
    """The wall time is skipped by a spring-forward change in that zone."""


class AmbiguousLocalTime(LocalTimeError):
    """The wall time happens twice, because of a fall-back change in that zone."""


class UnknownTimeZone(ValueError):
    """The name is not an IANA time zone."""


def zone(name: str) -> pytz.BaseTzInfo:
    """Return the pytz zone for an IANA name, or raise :class:`UnknownTimeZone`."""
    if name != name.strip() or not name:
        raise UnknownTimeZone(f"unknown time zone {name!r}")
    try:
        return pytz.timezone(name)
    except pytz.UnknownTimeZoneError:
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


def is_known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone that pytz knows."""
    try:
        zone(name)
    except UnknownTimeZone:
        return False
    return True


def local_to_utc(wall: datetime, tz_name: str) -> datetime:
    """Turn a naive wall-clock time in ``tz_name`` into an aware UTC instant.

    Raises :class:`NonexistentLocalTime` or :class:`AmbiguousLocalTime` when a daylight-saving
    change skips or repeats that wall time, and :class:`UnknownTimeZone` for a bad zone name.
    """
    if wall.tzinfo is not None:
        raise ValueError("wall time must be naive (no offset): it is read in the city's zone")
    tz = zone(tz_name)
    try:
        # is_dst=None makes pytz refuse instead of guessing.
        aware = tz.localize(wall, is_dst=None)
    except pytz.NonExistentTimeError:
        raise NonexistentLocalTime(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {tz_name} "
            "(the clocks skip it when daylight saving time starts)"
        ) from None
    except pytz.AmbiguousTimeError:
        raise AmbiguousLocalTime(
            f"{wall:%Y-%m-%d %H:%M} happens twice in {tz_name} "
            "(the clocks repeat it when daylight saving time ends)"
        ) from None
    return aware.astimezone(UTC)


def utc_to_local(instant: datetime, tz_name: str) -> datetime:
    """Return the aware local time in ``tz_name`` of a UTC instant (for display only)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be aware")
    return instant.astimezone(zone(tz_name))


def format_offset(offset: timedelta | None) -> str:
    """Format a UTC offset as ``+05:30`` / ``-05:00``."""
    total_min = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if total_min >= 0 else "-"
    hours, minutes = divmod(abs(total_min), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def iso_utc(instant: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second: ``2025-09-20T12:00:00Z``."""
    return instant.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(local: datetime) -> str:
    """ISO 8601 with the numeric offset: ``2025-09-20T14:00:00+02:00``."""
    return local.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class LocalView:
    """An instant as shown in one zone."""

    zone: str
    local: datetime
    utc_offset: str
    abbreviation: str

    def as_dict(self) -> dict[str, str]:
        return {
            "zone": self.zone,
            "local": iso_local(self.local),
            "utc_offset": self.utc_offset,
            "abbreviation": self.abbreviation,
        }


def view(instant: datetime, tz_name: str) -> LocalView:
    """Show a UTC instant in ``tz_name``: local time, offset and zone abbreviation."""
    local = utc_to_local(instant, tz_name)
    return LocalView(
        zone=tz_name,
        local=local,
        utc_offset=format_offset(local.utcoffset()),
        abbreviation=local.tzname() or "",
    )


def parse_iso_utc(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries an offset (``Z`` allowed) into aware UTC."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return parsed.astimezone(UTC)


def transitions(tz_name: str, start_utc: datetime, end_utc: datetime) -> list[datetime]:
    """The UTC instants in ``[start_utc, end_utc)`` at which ``tz_name`` changes its UTC offset,
    its daylight-saving flag or its abbreviation, as the tz database pytz ships records them.

    A change of abbreviation or flag alone counts (America/Winnipeg going from CDT to a
    permanent -05:00 in November 2026 keeps its offset). Read the state on each side with
    :func:`utc_to_local` at the instant and just before it. A fixed-offset zone (``UTC``,
    ``Etc/GMT-3``) has none. pytz's table ends in 2037. Raises :class:`UnknownTimeZone`.
    """
    if start_utc.tzinfo is None or end_utc.tzinfo is None:
        raise ValueError("start_utc and end_utc must be aware")
    # DstTzInfo zones keep their table as naive UTC datetimes; static zones have no table.
    table: list[datetime] = getattr(zone(tz_name), "_utc_transition_times", [])
    instants = (naive.replace(tzinfo=UTC) for naive in table)
    return [t for t in instants if start_utc <= t < end_utc]
