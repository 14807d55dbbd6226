"""Schedule edits over HTTP (``PATCH /api/cities/{city}``) on the real server: every view of
the schedule follows (``/api/cities``, ``/``, the ICS, open websockets), the edit survives a
restart on both stores, reaches every process on Redis, and a bad edit names its field."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import icalendar
import pytest

from tests.conftest import Tokens
from tests.support.harness import ServerProcess, WsClient, http_request

Start = Callable[..., ServerProcess]
Open = Callable[..., WsClient]


def patch(server: ServerProcess, city: str, body: Any, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _, raw = http_request(
        "PATCH", f"{server.url}/api/cities/{city}", headers=headers, body=json.dumps(body).encode()
    )
    return status, json.loads(raw) if raw else None


def city_of(server: ServerProcess, city: str) -> dict[str, Any]:
    cities = server.get_json("/api/cities")["cities"]
    return dict(next(c for c in cities if c["id"] == city))


def vevent(server: ServerProcess, city: str) -> icalendar.Component:
    status, _, body = server.get(f"/cities/{city}/calendar.ics")
    assert status == 200
    (event,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
    return event


def utc_of(event: icalendar.Component, key: str) -> datetime:
    value: datetime = event.decoded(key)
    return value.astimezone(UTC)


def is_schedule_event(city: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "event" and m["kind"] == "schedule" and m["city"] == city


def test_moving_berlin_changes_every_view_and_survives_a_restart(
    backend_server: ServerProcess, tokens: Tokens, ws_client: Open
) -> None:
    server = backend_server
    before = vevent(server, "berlin")
    assert utc_of(before, "DTSTART") == datetime(2025, 9, 20, 12, 0, tzinfo=UTC)
    viewer = ws_client(server.ws_url)
    welcome = viewer.hello()
    viewer.recv_until(lambda m: m["type"] == "snapshot")

    status, body = patch(server, "berlin", {"start_local": "2025-09-20T15:30"}, tokens.admin)

    assert status == 200, body
    assert body["start_local"] == "2025-09-20T15:30:00+02:00"
    assert body["start_utc"] == "2025-09-20T13:30:00Z"
    assert body["end_utc"] == "2025-09-20T14:30:00Z"
    assert body == city_of(server, "berlin")  # exactly as /api/cities shows it
    event = viewer.recv_until(is_schedule_event("berlin"))
    assert event["schedule"]["start_utc"] == "2025-09-20T13:30:00Z"
    assert event["schedule_version"] != welcome["schedule_version"]
    assert event["schedule_version"] == server.get_json("/api/cities")["schedule_version"]
    after = vevent(server, "berlin")
    assert utc_of(after, "DTSTART") == datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    assert utc_of(after, "DTEND") == datetime(2025, 9, 20, 14, 30, tzinfo=UTC)
    assert int(str(after["SEQUENCE"])) == int(str(before["SEQUENCE"])) + 1
    _, _, index = server.get("/")
    assert b'datetime="2025-09-20T13:30:00Z">Sat 20 Sep 2025, 15:30 CEST' in index
    audit = server.get_json("/api/log?city=berlin", {"Authorization": f"Bearer {tokens.admin}"})
    (entry,) = [e for e in audit["entries"] if e["kind"] == "schedule"]
    assert entry["role"] == "admin"
    assert "2025-09-20T14:00" in entry["from"] and "2025-09-20T15:30" in entry["to"]
    # Other cities keep the file's times.
    assert city_of(server, "paris")["start_local"] == "2025-09-20T14:00:00+02:00"

    viewer.close()
    server.restart()
    assert city_of(server, "berlin")["start_utc"] == "2025-09-20T13:30:00Z"
    again = vevent(server, "berlin")
    assert utc_of(again, "DTSTART") == datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    assert int(str(again["SEQUENCE"])) == int(str(after["SEQUENCE"]))
    snapshot = ws_client(server.ws_url)
    snapshot.hello()
    snap = snapshot.recv_until(lambda m: m["type"] == "snapshot")
    berlin = next(c for c in snap["cities"] if c["id"] == "berlin")
    assert berlin["start_utc"] == "2025-09-20T13:30:00Z"


def test_later_edits_merge_and_the_venue_is_edited_as_in_the_config(
    server: ServerProcess, tokens: Tokens
) -> None:
    venue = {"name": "Haus der Poesie", "address": "Kulturbrauerei", "geo": [52.54, 13.41]}
    status, body = patch(server, "berlin", {"venue": venue, "confirmed": True}, tokens.admin)
    assert status == 200, body
    status, body = patch(server, "berlin", {"duration_minutes": 90}, tokens.admin)
    assert status == 200, body
    assert body["venue"] == "Haus der Poesie"
    assert body["address"] == "Kulturbrauerei"
    assert body["geo"] == [52.54, 13.41]
    assert body["confirmed"] is True
    assert body["duration_minutes"] == 90
    assert body["start_utc"] == "2025-09-20T12:00:00Z"  # untouched: the file's
    event = vevent(server, "berlin")
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "Haus der Poesie" in str(event["LOCATION"])
    assert utc_of(event, "DTEND") == datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    status, body = patch(server, "berlin", {"venue": {"address": None}}, tokens.admin)
    assert status == 200, body
    assert (body["venue"], body["address"]) == ("Haus der Poesie", None)


def test_an_announced_delay_stays_relative_to_the_new_start(
    server: ServerProcess, tokens: Tokens
) -> None:
    status, _ = server.post_json(
        "/api/cities/berlin/status",
        {"id": "d1", "state": "delayed", "delay_minutes": 10},
        tokens.berlin,
    )
    assert status == 200
    assert patch(server, "berlin", {"start_local": "2025-09-20T15:30"}, tokens.admin)[0] == 200
    state = server.get_json("/api/state")
    berlin = next(c for c in state["cities"] if c["id"] == "berlin")
    assert berlin["state"] == "delayed"
    assert berlin["delay_minutes"] == 10
    assert berlin["start_utc"] == "2025-09-20T13:30:00Z"
    assert berlin["expected_start_utc"] == "2025-09-20T13:40:00Z"
    assert utc_of(vevent(server, "berlin"), "DTSTART") == datetime(2025, 9, 20, 13, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        # Europe/Berlin skips 02:00-03:00 on 29 March 2026 and repeats 02:00-03:00 on 25 October.
        ({"start_local": "2026-03-29T02:30"}, "start_local", "does not exist"),
        ({"start_local": "2026-10-25T02:30"}, "start_local", "happens twice"),
        ({"start_local": "half past three"}, "start_local", "not a local time"),
        ({"start_local": "2025-09-20T15:30+02:00"}, "start_local", "offset"),
        ({"start_local": 1530}, "start_local", "local time"),
        ({"duration_minutes": 0}, "duration_minutes", "1 to 1440"),
        ({"duration_minutes": "60"}, "duration_minutes", "whole minutes"),
        ({"confirmed": "yes"}, "confirmed", "true or false"),
        ({"venue": "Haus"}, "venue", "object"),
        ({"venue": {"geo": [100, 0]}}, "venue.geo", "latitude"),
        ({"venue": {"floor": 2}}, "venue.floor", "unknown field"),
        ({"venue": {"name": 5}}, "venue.name", "text"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_bad_edit_is_refused_naming_its_field(
    server: ServerProcess, tokens: Tokens, body: dict[str, Any], field: str, words: str
) -> None:
    status, error = patch(server, "berlin", body, tokens.admin)
    assert status == 400, error
    assert error["type"] == "error" and error["code"] == "invalid"
    assert error["field"] == field
    assert words in error["message"]
    assert city_of(server, "berlin")["start_utc"] == "2025-09-20T12:00:00Z"


def test_every_problem_is_named_and_who_may_edit(server: ServerProcess, tokens: Tokens) -> None:
    status, error = patch(server, "berlin", {"duration_minutes": 0, "confirmed": 1}, tokens.admin)
    assert status == 400
    assert len(error["problems"]) == 2
    assert patch(server, "berlin", {}, tokens.admin)[0] == 400
    assert patch(server, "berlin", [1], tokens.admin)[0] == 400
    move = {"start_local": "2025-09-20T15:30"}
    status, error = patch(server, "berlin", move, tokens.berlin)
    assert (status, error["code"]) == (403, "forbidden")
    assert patch(server, "berlin", move, tokens.berlin_operator)[0] == 403
    assert patch(server, "berlin", move, None)[0] == 401
    assert patch(server, "berlin", move, "not-a-token")[0] == 401
    status, error = patch(server, "lyon", move, tokens.admin)
    assert (status, error["code"]) == (404, "not_found")
    assert city_of(server, "berlin")["start_utc"] == "2025-09-20T12:00:00Z"


@pytest.mark.redis
def test_an_edit_on_one_process_reaches_another_within_a_second(
    redis_pair: tuple[ServerProcess, ServerProcess], tokens: Tokens, ws_client: Open
) -> None:
    first, second = redis_pair
    viewer = ws_client(second.ws_url)
    viewer.hello()
    viewer.recv_until(lambda m: m["type"] == "snapshot")

    assert patch(first, "berlin", {"start_local": "2025-09-20T15:30"}, tokens.admin)[0] == 200

    viewer.recv_until(is_schedule_event("berlin"), timeout_s=1.0)
    deadline = time.monotonic() + 1.0
    while city_of(second, "berlin")["start_utc"] != "2025-09-20T13:30:00Z":
        assert time.monotonic() < deadline, "the other process still shows the old start"
        time.sleep(0.05)
    assert utc_of(vevent(second, "berlin"), "DTSTART") == datetime(2025, 9, 20, 13, 30, tzinfo=UTC)
    second.restart()  # a process that starts later reads the override from Redis
    assert city_of(second, "berlin")["start_utc"] == "2025-09-20T13:30:00Z"
