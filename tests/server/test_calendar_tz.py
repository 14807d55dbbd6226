"""The calendar's instants do not depend on the subscriber's tz database.

A calendar client that looks a ``TZID`` up in its own, older tz database placed Winnipeg's
December reading an hour off: the server's tz data (pytz 2026f) has Manitoba on -05:00 for good
from November 2026, older databases keep CST (-06:00). The feed from a real server is parsed
by icalendar in a subprocess whose only tz database is a real older one: the system's
zoneinfo (``PYTHONTZPATH``; 2025b on this machine), which still has Winnipeg on CST then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator import schedule
from tests.support.harness import ServerProcess, skip_or_fail

OLD_ZONEINFO = Path("/usr/share/zoneinfo")
READING_DAY = "2026-12-05"

# Run with the older database only: zoneinfo reads PYTHONTZPATH first (the tzdata package is a
# fallback for zones it lacks; Winnipeg is there). It reports that database's offset too.
PARSE = """
import json, sys, zoneinfo
from datetime import UTC, datetime
import icalendar
probe = datetime(2026, 12, 5, 20, 0, tzinfo=UTC).astimezone(zoneinfo.ZoneInfo("America/Winnipeg"))
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
events = {
    str(e["UID"]): [e.decoded(k).astimezone(UTC).isoformat() for k in ("DTSTART", "DTEND")]
    for e in cal.walk("VEVENT")
}
print(json.dumps({"winnipeg_offset_s": probe.utcoffset().total_seconds(), "events": events}))
"""


def old_tz_version() -> str:
    """The older database's version line (``# version 2025b``), or fail/skip without one."""
    zi = OLD_ZONEINFO / "tzdata.zi"
    if not (OLD_ZONEINFO / "America" / "Winnipeg").is_file() or not zi.is_file():
        skip_or_fail(f"no system tz database at {OLD_ZONEINFO} (apt-get install tzdata)")
    return zi.read_text(encoding="utf-8").splitlines()[0].removeprefix("# version ").strip()


def parse_with_old_tz(body: bytes) -> dict[str, object]:
    env = {**os.environ, "PYTHONTZPATH": str(OLD_ZONEINFO)}
    proc = subprocess.run(
        [sys.executable, "-c", PARSE],
        input=body,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    parsed: dict[str, object] = json.loads(proc.stdout)
    return parsed


@pytest.fixture
def december_config(config_path: Path) -> Path:
    """The shipped config with every reading on 5 December 2026, Winnipeg's first winter on
    -05:00 in the server's tz data."""
    text = config_path.read_text(encoding="utf-8").replace("2025-09-20", READING_DAY)
    config_path.write_text(text, encoding="utf-8")
    return config_path


def test_winnipeg_in_december_is_the_same_instant_with_an_older_tz_database(
    server_factory: Callable[..., ServerProcess], december_config: Path
) -> None:
    version = old_tz_version()
    server = server_factory(config=december_config)
    cities = {c["id"]: c for c in server.get_json("/api/cities")["cities"]}
    winnipeg = cities["winnipeg"]
    # The server's data: 14:00 on -05:00 is 19:00 UTC.
    assert winnipeg["start_local"] == f"{READING_DAY}T14:00:00-05:00"
    status, _, body = server.get("/calendar.ics")
    assert status == 200

    parsed = parse_with_old_tz(body)

    # The subprocess really has the older data (else this test proves nothing).
    assert parsed["winnipeg_offset_s"] == -6 * 3600, f"tz {version} is not older here"
    events = parsed["events"]
    assert isinstance(events, dict)
    for city_id, city in cities.items():
        start, end = events[f"my-hour-2025-{city_id}@reading-coordinator"]
        assert schedule.parse_iso_utc(start) == schedule.parse_iso_utc(city["start_utc"]), city_id
        assert schedule.parse_iso_utc(end) == schedule.parse_iso_utc(city["end_utc"]), city_id
    assert schedule.parse_iso_utc(
        events["my-hour-2025-winnipeg@reading-coordinator"][0]
    ) == datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
