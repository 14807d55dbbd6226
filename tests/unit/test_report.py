"""coordinator/report.py: the after-event report from status changes, cue logs and peaks."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime, timedelta

from coordinator import config as config_mod
from coordinator.cue_log import CueLogEntry
from coordinator.report import StatusChange, build, report_csv
from tests.support.harness import ROOT

CONFIG = config_mod.load(ROOT / "config" / "cities.yaml")
T0 = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(s: float, before: str, after: str, minutes: int | None = None) -> StatusChange:
    return StatusChange(at(s), "paris", before, after, minutes)


def shown(*pairs: tuple[float, int]) -> list[CueLogEntry]:
    return [CueLogEntry(at(s), index, False) for s, index in pairs]


def test_a_reading_told_from_its_changes() -> None:
    changes = [
        change(-900, "scheduled", "delayed", 10),
        change(-600, "delayed", "delayed", 5),
        change(0, "delayed", "live"),
        change(100, "live", "paused"),
        change(110, "paused", "paused"),  # a new note while paused: still one pause
        change(130, "paused", "live"),
        change(3000, "live", "finished"),
    ]
    paris = build(CONFIG, changes, {}, {"paris": 40}, at(4000)).cities[0]
    assert (paris.actual_start_utc, paris.actual_end_utc) == (at(0), at(3000))
    assert (paris.delays_announced, paris.last_delay_minutes, paris.max_delay_minutes) == (2, 5, 10)
    assert (paris.pauses, paris.paused_seconds) == (1, 30.0)
    assert paris.state == "finished" and not paris.cancelled
    assert paris.peak_phones == 40
    assert paris.scheduled_end_utc - paris.scheduled_start_utc == timedelta(minutes=60)
    as_json = paris.as_json()
    assert as_json["scheduled_start_local"] == "2025-09-20T14:00:00+02:00"
    assert as_json["scheduled_start_utc"] == "2025-09-20T12:00:00Z"


def test_a_pause_still_open_counts_until_now_and_a_city_without_history_is_empty() -> None:
    changes = [change(0, "scheduled", "live"), change(50, "live", "paused")]
    report = build(CONFIG, changes, {}, {}, at(80))
    assert report.cities[0].paused_seconds == 30.0
    berlin = report.cities[1]
    assert berlin.state == "scheduled" and berlin.actual_start_utc is None
    assert berlin.delays_announced == 0 and berlin.last_delay_minutes is None
    assert (berlin.pauses, berlin.paused_seconds, berlin.cues_shown, berlin.peak_phones) == (
        0,
        0.0,
        0,
        0,
    )
    assert berlin.as_json()["actual_start_local"] is None


def test_cues_shown_are_distinct_and_the_largest_drift_keeps_its_sign() -> None:
    logs = {
        "paris": shown((0, 1), (10, 2), (20, 3), (25, 2), (30, 3)),
        "berlin": [*shown((5, 1), (40, 2), (22, 3)), CueLogEntry(at(50), 3, True)],
    }
    report = build(CONFIG, [], logs, {}, at(60))
    paris, berlin = report.cities[0], report.cities[1]
    assert report.drift_reference == "paris"
    assert (paris.cues_shown, berlin.cues_shown) == (3, 3)
    assert (berlin.max_drift_seconds, berlin.max_drift_cue) == (30.0, 2)  # 30 s behind at cue 2
    ahead = build(CONFIG, [], {"paris": shown((60, 1)), "berlin": shown((0, 1))}, {}, at(90))
    assert (ahead.cities[1].max_drift_seconds, ahead.cities[1].max_drift_cue) == (-60.0, 1)
    assert report.cities[2].max_drift_seconds is None


def test_the_csv_is_the_json_one_row_per_city_and_never_a_formula() -> None:
    cancelled = [StatusChange(at(0), "berlin", "scheduled", "cancelled")]
    hostile = dataclasses.replace(
        CONFIG,
        cities=(
            dataclasses.replace(CONFIG.cities[0], name={"en": "=HYPERLINK(1)"}),
            *CONFIG.cities[1:],
        ),
    )
    report = build(hostile, cancelled, {}, {}, at(10))
    rows = list(csv.DictReader(io.StringIO(report_csv(report), newline="")))
    assert [r["id"] for r in rows] == [c.id for c in CONFIG.cities]
    assert rows[0]["name"] == "'=HYPERLINK(1)"
    assert rows[1]["cancelled"] == "true" and rows[1]["state"] == "cancelled"
    assert rows[1]["actual_start_utc"] == "" and rows[1]["paused_seconds"] == "0.0"
    as_json = report.cities[1].as_json()
    for name, value in rows[1].items():
        expected = as_json[name]
        if isinstance(expected, bool):
            expected = "true" if expected else "false"
        assert value == ("" if expected is None else str(expected)), name
