"""The JSON shapes of the schedule that clients read (``/api/cities``, snapshots, pages).

Pure functions of the config: no I/O. Field names here are a contract (docs/protocol.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from coordinator import schedule
from coordinator.config import City, Config, Event
from coordinator.rules import CityStatus


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "title": dict(event.title),
        "date": event.date.isoformat(),
        "description": dict(event.description),
        "public_url": event.public_url,
        "moments": moments_json(event),
    }


def moments_json(event: Event) -> list[dict[str, Any]]:
    """The named instants every screen counts down to (docs/config.md)."""
    return [
        {"id": m.id, "name": dict(m.name), "at_utc": schedule.iso_utc(m.at_utc)}
        for m in event.moments
    ]


def schedule_version(config: Config) -> str:
    """A short fingerprint of the schedule clients hold (``/api/cities``): another config, or
    the same edited, gives another version, so an open page knows to read it again."""
    text = json.dumps(cities_json(config), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def city_json(city: City, other_zone: str | None = None) -> dict[str, Any]:
    """A city's schedule fields: its own local time, UTC, and optionally another zone's view."""
    start = schedule.view(city.start_utc, city.timezone)
    end = schedule.view(city.end_utc, city.timezone)
    data: dict[str, Any] = {
        "id": city.id,
        "name": dict(city.name),
        "timezone": city.timezone,
        "start_local": schedule.iso_local(start.local),
        "end_local": schedule.iso_local(end.local),
        "utc_offset": start.utc_offset,
        "abbreviation": start.abbreviation,
        "start_utc": schedule.iso_utc(city.start_utc),
        "end_utc": schedule.iso_utc(city.end_utc),
        "duration_minutes": city.duration_minutes,
        "confirmed": city.confirmed,
        "venue": city.venue,
        "address": city.address,
        "access": city.access,
        "geo": list(city.geo) if city.geo else None,
        "readers": list(city.readers),
        "language": city.language,
        "surtitles": (
            {"languages": list(city.surtitles.languages)} if city.surtitles is not None else None
        ),
    }
    if other_zone is not None:
        data["in_zone"] = instant_pair_json(city.start_utc, city.end_utc, other_zone)
    return data


def instant_pair_json(start_utc: datetime, end_utc: datetime, zone: str) -> dict[str, str]:
    start = schedule.view(start_utc, zone)
    end = schedule.view(end_utc, zone)
    return {
        "zone": zone,
        "start_local": schedule.iso_local(start.local),
        "end_local": schedule.iso_local(end.local),
        "utc_offset": start.utc_offset,
        "abbreviation": start.abbreviation,
    }


def cities_json(config: Config, other_zone: str | None = None) -> dict[str, Any]:
    """The body of ``GET /api/cities``."""
    return {
        "event": event_json(config.event),
        "cities": [city_json(c, other_zone) for c in config.cities],
    }


def cities_body(config: Config, other_zone: str | None = None) -> dict[str, Any]:
    """The body of ``GET /api/cities``: the schedule and its ``schedule_version``."""
    return {**cities_json(config, other_zone), "schedule_version": schedule_version(config)}


def schedule_table(config: Config, reference_zone: str) -> list[tuple[str, str, str, str]]:
    """Rows for ``coordinator check-config``: city, local start with offset, UTC, reference time."""
    rows = []
    for city in config.cities:
        local = schedule.view(city.start_utc, city.timezone)
        ref = schedule.view(city.start_utc, reference_zone)
        rows.append(
            (
                city.id,
                f"{local.local:%Y-%m-%d %H:%M} {local.utc_offset} {local.abbreviation}"
                f" ({city.timezone})",
                schedule.iso_utc(city.start_utc),
                f"{ref.local:%Y-%m-%d %H:%M} {ref.abbreviation}",
            )
        )
    return rows


def status_fields(status: CityStatus) -> dict[str, Any]:
    """A city's live status as clients see it (in snapshots and status events)."""
    return {
        "state": status.state.value,
        "note": status.note,
        "delay_minutes": status.delay_minutes,
        "expected_start_utc": (
            schedule.iso_utc(status.expected_start_utc) if status.expected_start_utc else None
        ),
        "updated_at": schedule.iso_utc(status.updated_at) if status.updated_at else None,
        "calendar_revision": status.calendar_revision,
        "calendar_changed_at": (
            schedule.iso_utc(status.calendar_changed_at) if status.calendar_changed_at else None
        ),
        "started_at": schedule.iso_utc(status.started_at) if status.started_at else None,
        "ended_at": schedule.iso_utc(status.ended_at) if status.ended_at else None,
    }


def snapshot_message(
    config: Config,
    *,
    epoch: str,
    seq: int,
    statuses: Mapping[str, CityStatus],
    online: Mapping[str, bool],
    cue_views: Mapping[str, Mapping[str, Any]],
    version: str | None = None,
) -> dict[str, Any]:
    """The ``snapshot`` message: every city's schedule and live status, every cue channel, the
    moments, and the schedule's ``version`` (computed here unless the caller holds it)."""
    cities = []
    for city in config.cities:
        item = city_json(city)
        item.update(status_fields(statuses.get(city.id, CityStatus())))
        item["online"] = bool(online.get(city.id, False))
        cities.append(item)
    return {
        "type": "snapshot",
        "epoch": epoch,
        "seq": seq,
        "schedule_version": version or schedule_version(config),
        "public_url": config.event.public_url,
        "moments": moments_json(config.event),
        "cities": cities,
        "cues": {city: dict(view) for city, view in cue_views.items()},
    }
