"""The calendar feed as calendar apps fetch it from the real server: headers, conditional
requests, and a feed that follows delays and cancellations."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import icalendar

from tests.conftest import Tokens
from tests.support.harness import ROOT, SHIPPED_CONFIG, ServerProcess


def events_by_uid(body: bytes) -> dict[str, icalendar.Component]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def paris(body: bytes) -> icalendar.Component:
    return next(e for uid, e in events_by_uid(body).items() if "paris" in uid)


def utc(value: icalendar.Component, key: str) -> datetime:
    instant: datetime = value.decoded(key)
    return instant.astimezone(UTC)


def test_feed_headers_and_one_event_per_reading(server: ServerProcess) -> None:
    status, headers, body = server.get("/calendar.ics")
    assert status == 200
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["etag"].startswith('"')
    assert headers["last-modified"].endswith("GMT")
    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert len(events_by_uid(body)) == 7
    status, _, one = server.get("/cities/chennai/calendar.ics")
    assert status == 200
    events = events_by_uid(one)
    assert len(events) == 1
    (chennai,) = events.values()
    assert utc(chennai, "DTSTART") == datetime(2025, 9, 20, 8, 30, tzinfo=UTC)
    assert server.get("/cities/lyon/calendar.ics")[0] == 404


def test_conditional_requests(server: ServerProcess, tokens: Tokens) -> None:
    _, headers, body = server.get("/calendar.ics")
    etag, modified = headers["etag"], headers["last-modified"]
    status, again, empty = server.get("/calendar.ics", {"If-None-Match": etag})
    assert (status, empty) == (304, b"")
    assert again["etag"] == etag
    assert server.get("/calendar.ics", {"If-Modified-Since": modified})[0] == 304
    assert server.get("/calendar.ics", {"If-Modified-Since": "not a date"})[0] == 200
    # If-None-Match wins over a date that would allow a 304.
    assert (
        server.get("/calendar.ics", {"If-None-Match": '"other"', "If-Modified-Since": modified})[0]
        == 200
    )
    # A change makes the old copy stale.
    server.post_json(
        "/api/cities/paris/status",
        {"id": "c1", "state": "delayed", "delay_minutes": 30},
        tokens.paris,
    )
    status, fresh, changed = server.get("/calendar.ics", {"If-None-Match": etag})
    assert status == 200
    assert fresh["etag"] != etag
    assert changed != body


def test_a_delay_and_a_cancellation_reach_the_feed(server: ServerProcess, tokens: Tokens) -> None:
    before = paris(server.get("/calendar.ics")[2])
    assert utc(before, "DTSTART") == datetime(2025, 9, 20, 12, 0, tzinfo=UTC)
    sequence = int(before.decoded("SEQUENCE", 0))
    server.post_json(
        "/api/cities/paris/status",
        {"id": "c1", "state": "delayed", "delay_minutes": 30},
        tokens.paris,
    )
    delayed = paris(server.get("/calendar.ics")[2])
    assert utc(delayed, "DTSTART") == datetime(2025, 9, 20, 12, 30, tzinfo=UTC)
    assert utc(delayed, "DTEND") == datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    assert int(delayed.decoded("SEQUENCE")) == sequence + 1
    assert str(delayed["UID"]) == str(before["UID"])
    server.post_json(
        "/api/cities/paris/status",
        {"id": "c2", "state": "cancelled", "note": "storm; see you soon"},
        tokens.paris,
    )
    cancelled = paris(server.get("/calendar.ics")[2])
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert "Cancelled" in str(cancelled["SUMMARY"])
    assert int(cancelled.decoded("SEQUENCE")) == sequence + 2
    assert "storm; see you soon" in str(cancelled["DESCRIPTION"])


def test_uids_and_bytes_are_stable_across_a_restart(server: ServerProcess, tokens: Tokens) -> None:
    server.post_json(
        "/api/cities/berlin/status",
        {"id": "c1", "state": "delayed", "delay_minutes": 10},
        tokens.berlin,
    )
    _, headers, body = server.get("/calendar.ics")
    server.kill()
    server.start()
    _, again_headers, again = server.get("/calendar.ics")
    assert again == body
    assert again_headers["etag"] == headers["etag"]
    assert set(events_by_uid(again)) == set(events_by_uid(body))


def test_calendar_command_writes_the_feed(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "calendar", "--config", str(SHIPPED_CONFIG), "--city", "paris"],
        capture_output=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = events_by_uid(result.stdout)
    assert len(events) == 1
    bad = subprocess.run(
        [sys.executable, "-m", "coordinator", "calendar", "--city", "lyon"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "no city 'lyon'" in bad.stderr
