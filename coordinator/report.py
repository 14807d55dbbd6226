"""The after-event report: what happened in each city, from the histories the store keeps whole.
Pure: the config, the status changes, the cue logs and the peaks in; dataclasses out.

The sources, and why those: the audit log (every accepted status change, with its time and,
for a delay, the minutes announced) and the live channel's cue log are kept whole; the event
log is not (Redis trims its stream, and a client is replayed only the last
``MAX_REPLAY_EVENTS``), so nothing here reads events.

Per city:

- **scheduled start and end**: the config's, in UTC and in the city's time;
- **actual start**: the first change to ``live``; **actual end**: the first change to
  ``finished`` after it (None while it has not happened);
- **delays**: every change to ``delayed`` is one announcement; the report gives how many, the
  minutes of the last one (the delay in force when the reading began) and the largest;
- **paused**: the sum of the intervals from a change to ``paused`` to the next change out of
  it, in seconds (one still open counts until ``now``), and how many pauses;
- **cancelled**: whether the city's last state is ``cancelled``;
- **cues shown**: how many distinct cues the live channel showed (a cue shown twice, going
  back, counts once);
- **peak phones**: the most phones (coordinator/connections.py) connected at once;
- **largest drift**: against the reference city (the first of the config, as ``/api/drift``),
  over every cue both cities showed, the difference between the times each first showed it
  (``drift.first_shown``); the one of the largest size, signed (positive: behind the
  reference), and the cue it was measured at.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coordinator import drift
from coordinator.config import City, Config
from coordinator.cue_log import CueLogEntry, spreadsheet_safe
from coordinator.rules import State
from coordinator.schedule import iso_local, iso_utc, utc_to_local


@dataclass(frozen=True)
class StatusChange:
    """One accepted status change of a city, from the audit log."""

    at: datetime
    city: str
    before: str
    after: str
    delay_minutes: int | None = None


@dataclass(frozen=True)
class CityReport:
    id: str
    name: str
    timezone: str
    scheduled_start_utc: datetime
    scheduled_end_utc: datetime
    actual_start_utc: datetime | None
    actual_end_utc: datetime | None
    state: str
    cancelled: bool
    delays_announced: int
    last_delay_minutes: int | None
    max_delay_minutes: int | None
    pauses: int
    paused_seconds: float
    cues_shown: int
    peak_phones: int
    max_drift_seconds: float | None
    max_drift_cue: int | None

    def as_json(self) -> dict[str, Any]:
        """The city as ``GET /api/report`` gives it: every instant in UTC (``…Z``) and, beside
        each, the city's local time with its offset."""
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            **_instant("scheduled_start", self.scheduled_start_utc, self.timezone),
            **_instant("scheduled_end", self.scheduled_end_utc, self.timezone),
            **_instant("actual_start", self.actual_start_utc, self.timezone),
            **_instant("actual_end", self.actual_end_utc, self.timezone),
            "state": self.state,
            "cancelled": self.cancelled,
            "delays_announced": self.delays_announced,
            "last_delay_minutes": self.last_delay_minutes,
            "max_delay_minutes": self.max_delay_minutes,
            "pauses": self.pauses,
            "paused_seconds": self.paused_seconds,
            "cues_shown": self.cues_shown,
            "peak_phones": self.peak_phones,
            "max_drift_seconds": self.max_drift_seconds,
            "max_drift_cue": self.max_drift_cue,
        }


@dataclass(frozen=True)
class Report:
    generated_utc: datetime
    drift_reference: str
    cities: tuple[CityReport, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_utc": iso_utc(self.generated_utc),
            "drift_reference": self.drift_reference,
            "cities": [city.as_json() for city in self.cities],
        }


def _instant(name: str, at: datetime | None, tz_name: str) -> dict[str, str | None]:
    if at is None:
        return {f"{name}_utc": None, f"{name}_local": None}
    return {f"{name}_utc": iso_utc(at), f"{name}_local": iso_local(utc_to_local(at, tz_name))}


def build(
    config: Config,
    changes: Sequence[StatusChange],
    cue_logs: Mapping[str, Sequence[CueLogEntry]],
    peaks: Mapping[str, int],
    now: datetime,
) -> Report:
    """The report of every city of ``config``, in its order. ``changes`` in the order they
    were accepted (the audit log's); ``cue_logs`` the live channel's, by city (a city without
    one showed no cue); ``now`` ends a pause still open."""
    reference = config.cities[0].id
    reference_times = drift.first_shown(cue_logs.get(reference, ()))
    cities = tuple(
        _city_report(
            city,
            [c for c in changes if c.city == city.id],
            cue_logs.get(city.id, ()),
            reference_times,
            peaks.get(city.id, 0),
            now,
        )
        for city in config.cities
    )
    return Report(generated_utc=now, drift_reference=reference, cities=cities)


def _city_report(
    city: City,
    changes: list[StatusChange],
    log: Sequence[CueLogEntry],
    reference_times: Mapping[int, datetime],
    peak_phones: int,
    now: datetime,
) -> CityReport:
    start = next((c.at for c in changes if c.after == State.LIVE), None)
    end = next(
        (c.at for c in changes if c.after == State.FINISHED and start and c.at >= start), None
    )
    delays = [c.delay_minutes for c in changes if c.after == State.DELAYED]
    minutes = [d for d in delays if d is not None]
    pauses, paused_s = _paused(changes, now)
    state = changes[-1].after if changes else State.SCHEDULED.value
    times = drift.first_shown(log)
    drift_s, drift_cue = _largest_drift(times, reference_times)
    return CityReport(
        id=city.id,
        name=city.name.get("en") or next(iter(city.name.values()), city.id),
        timezone=city.timezone,
        scheduled_start_utc=city.start_utc,
        scheduled_end_utc=city.start_utc + timedelta(minutes=city.duration_minutes),
        actual_start_utc=start,
        actual_end_utc=end,
        state=state,
        cancelled=state == State.CANCELLED,
        delays_announced=len(delays),
        last_delay_minutes=minutes[-1] if minutes else None,
        max_delay_minutes=max(minutes) if minutes else None,
        pauses=pauses,
        paused_seconds=paused_s,
        cues_shown=len(times),
        peak_phones=peak_phones,
        max_drift_seconds=drift_s,
        max_drift_cue=drift_cue,
    )


def _paused(changes: Sequence[StatusChange], now: datetime) -> tuple[int, float]:
    """How many pauses, and their total length in seconds (to the tenth)."""
    count, total, since = 0, timedelta(), None
    for change in changes:
        if change.after == State.PAUSED and since is None:
            count, since = count + 1, change.at
        elif change.after != State.PAUSED and since is not None:
            total += max(timedelta(), change.at - since)
            since = None
    if since is not None:
        total += max(timedelta(), now - since)
    return count, round(total.total_seconds(), 1)


def _largest_drift(
    times: Mapping[int, datetime], reference_times: Mapping[int, datetime]
) -> tuple[float | None, int | None]:
    best: tuple[float, int] | None = None
    for cue, at in times.items():
        if cue not in reference_times:
            continue
        seconds = round((at - reference_times[cue]).total_seconds(), 1)
        if best is None or abs(seconds) > abs(best[0]):
            best = (seconds, cue)
    return (best[0], best[1]) if best else (None, None)


CSV_FIELDS = (
    "id", "name", "timezone",
    "scheduled_start_utc", "scheduled_start_local", "scheduled_end_utc", "scheduled_end_local",
    "actual_start_utc", "actual_start_local", "actual_end_utc", "actual_end_local",
    "state", "cancelled", "delays_announced", "last_delay_minutes", "max_delay_minutes",
    "pauses", "paused_seconds", "cues_shown", "peak_phones", "max_drift_seconds",
    "max_drift_cue",
)  # fmt: skip


def report_csv(report: Report) -> str:
    """One row per city under a header row: the JSON's fields, times ISO 8601 (UTC with a
    ``Z``; local with the offset), ``true``/``false``, empty for none; every text cell made
    :func:`~coordinator.cue_log.spreadsheet_safe` (a city's name is the config's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for city in report.cities:
        row = city.as_json()
        writer.writerow([_cell(row[name]) for name in CSV_FIELDS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return str(value)
