"""Local wall time <-> UTC, across daylight-saving rules that differ between continents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coordinator import schedule


@pytest.mark.parametrize(
    ("wall", "zone", "expected_utc"),
    [
        # 20 September 2025: Europe and North America both on summer time.
        ("2025-09-20T14:00", "Europe/Paris", "2025-09-20T12:00:00Z"),
        ("2025-09-20T14:00", "America/New_York", "2025-09-20T18:00:00Z"),
        ("2025-09-20T14:00", "America/Winnipeg", "2025-09-20T19:00:00Z"),
        ("2025-09-20T14:00", "Asia/Kolkata", "2025-09-20T08:30:00Z"),
        ("2025-09-20T14:00", "Europe/Helsinki", "2025-09-20T11:00:00Z"),
        # 31 October 2026: Europe back on winter time (25 Oct), North America not yet (1 Nov).
        ("2026-10-31T14:00", "Europe/Paris", "2026-10-31T13:00:00Z"),
        ("2026-10-31T14:00", "America/New_York", "2026-10-31T18:00:00Z"),
        ("2026-10-31T14:00", "America/Toronto", "2026-10-31T18:00:00Z"),
        ("2026-10-31T14:00", "America/Winnipeg", "2026-10-31T19:00:00Z"),
        ("2026-10-31T14:00", "Europe/Helsinki", "2026-10-31T12:00:00Z"),
        # India keeps +05:30 all year.
        ("2026-10-31T14:00", "Asia/Kolkata", "2026-10-31T08:30:00Z"),
        ("2026-01-15T09:15", "Asia/Kolkata", "2026-01-15T03:45:00Z"),
    ],
)
def test_local_to_utc(wall: str, zone: str, expected_utc: str) -> None:
    instant = schedule.local_to_utc(datetime.fromisoformat(wall), zone)
    assert schedule.iso_utc(instant) == expected_utc
    assert instant.tzinfo is not None and instant.utcoffset() == timedelta(0)


def test_round_trip_gives_back_the_wall_time() -> None:
    wall = datetime(2026, 10, 31, 14, 0)
    instant = schedule.local_to_utc(wall, "America/New_York")
    assert schedule.utc_to_local(instant, "America/New_York").replace(tzinfo=None) == wall


def test_view_shows_offset_and_abbreviation_on_both_sides_of_a_change() -> None:
    instant = datetime(2026, 10, 31, 18, 0, tzinfo=UTC)
    paris = schedule.view(instant, "Europe/Paris")
    new_york = schedule.view(instant, "America/New_York")
    assert (paris.utc_offset, paris.abbreviation) == ("+01:00", "CET")
    assert (new_york.utc_offset, new_york.abbreviation) == ("-04:00", "EDT")
    assert schedule.iso_local(paris.local) == "2026-10-31T19:00:00+01:00"
    chennai = schedule.view(instant, "Asia/Kolkata")
    assert (chennai.utc_offset, chennai.abbreviation) == ("+05:30", "IST")
    assert schedule.iso_local(chennai.local) == "2026-10-31T23:30:00+05:30"


@pytest.mark.parametrize(
    ("wall", "zone"),
    [
        ("2026-03-29T02:30", "Europe/Paris"),  # clocks jump 02:00 -> 03:00
        ("2026-03-08T02:30", "America/New_York"),
        ("2026-03-29T03:30", "Europe/Helsinki"),  # 03:00 -> 04:00 there
    ],
)
def test_nonexistent_local_time_is_refused(wall: str, zone: str) -> None:
    with pytest.raises(schedule.NonexistentLocalTime, match="does not exist"):
        schedule.local_to_utc(datetime.fromisoformat(wall), zone)


@pytest.mark.parametrize(
    ("wall", "zone"),
    [
        ("2026-10-25T02:30", "Europe/Paris"),  # 03:00 -> 02:00, 02:30 happens twice
        ("2026-11-01T01:30", "America/New_York"),
        ("2026-11-01T01:30", "America/Toronto"),
    ],
)
def test_ambiguous_local_time_is_refused(wall: str, zone: str) -> None:
    with pytest.raises(schedule.AmbiguousLocalTime, match="happens twice"):
        schedule.local_to_utc(datetime.fromisoformat(wall), zone)


def test_unknown_zone() -> None:
    with pytest.raises(schedule.UnknownTimeZone):
        schedule.local_to_utc(datetime(2025, 9, 20, 14), "Europe/Pari")
    assert not schedule.is_known_zone("CEST ")
    assert schedule.is_known_zone("America/Winnipeg")


def test_aware_wall_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        schedule.local_to_utc(datetime(2025, 9, 20, 14, tzinfo=UTC), "Europe/Paris")


def test_format_offset() -> None:
    assert schedule.format_offset(timedelta(hours=5, minutes=30)) == "+05:30"
    assert schedule.format_offset(timedelta(hours=-5)) == "-05:00"
    assert schedule.format_offset(timedelta(hours=-3, minutes=-30)) == "-03:30"
    assert schedule.format_offset(None) == "+00:00"
