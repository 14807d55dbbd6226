"""The event moved to today: a config whose readings start a chosen number of minutes from the
real now, so the server's own clock (which stamps ``started_at``) and the pages agree."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml


def config_around_now(
    path: Path,
    offsets_min: Mapping[str, int],
    *,
    now: datetime | None = None,
    extra_event: Mapping[str, Any] | None = None,
) -> datetime:
    """Rewrite the config at ``path``: each listed city starts ``offsets_min[id]`` minutes from
    ``now`` (to the minute; cities not listed start a day later). Returns the rounded now."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["event"]["date"] = now.date().isoformat()
    if extra_event:
        data["event"].update(extra_event)
    for city in data["cities"]:
        start = now + timedelta(minutes=offsets_min.get(city["id"], 24 * 60))
        local = start.astimezone(ZoneInfo(city["timezone"]))
        city["start"] = local.strftime("%Y-%m-%dT%H:%M")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return now
