"""The HTTP surface of a real server: health, the schedule API, the first page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.harness import ServerProcess


def test_healthz(server: ServerProcess) -> None:
    status, _, body = server.get("/healthz")
    assert (status, body) == (200, b"ok")


def test_api_cities_fields(server: ServerProcess) -> None:
    data = server.get_json("/api/cities")
    assert data["event"]["id"] == "my-hour-2025"
    assert data["event"]["title"]["fr"]
    cities = {c["id"]: c for c in data["cities"]}
    assert len(cities) == 7
    for city in cities.values():
        for key in (
            "id",
            "name",
            "timezone",
            "start_local",
            "start_utc",
            "end_utc",
            "utc_offset",
            "confirmed",
            "venue",
            "address",
        ):
            assert key in city, key
        assert city["start_utc"].endswith("Z") and city["end_utc"].endswith("Z")
        assert re.fullmatch(r"[+-]\d\d:\d\d", city["utc_offset"])
        # start_local and start_utc name the same instant.
        local = datetime.fromisoformat(city["start_local"])
        utc = datetime.fromisoformat(city["start_utc"].replace("Z", "+00:00"))
        assert local == utc
        end = datetime.fromisoformat(city["end_utc"].replace("Z", "+00:00"))
        assert end - utc == timedelta(minutes=60)
    paris = cities["paris"]
    assert paris["start_local"] == "2025-09-20T14:00:00+02:00"
    assert paris["start_utc"] == "2025-09-20T12:00:00Z"
    assert paris["utc_offset"] == "+02:00" and paris["confirmed"] is True
    assert paris["venue"] == "Square Robert-Schuman"
    assert cities["chennai"]["utc_offset"] == "+05:30"
    assert cities["chennai"]["start_utc"] == "2025-09-20T08:30:00Z"
    assert cities["winnipeg"]["start_local"] == "2025-09-20T14:00:00-05:00"
    assert cities["new-york"]["start_local"] == "2025-09-20T14:00:00-04:00"
    assert cities["berlin"]["confirmed"] is False and cities["berlin"]["venue"] is None
    # By default the other view is the first city's (Paris) time.
    assert cities["new-york"]["in_zone"]["start_local"] == "2025-09-20T20:00:00+02:00"


def test_api_cities_in_the_viewers_zone(server: ServerProcess) -> None:
    data = server.get_json("/api/cities?tz=America/Vancouver")
    paris = next(c for c in data["cities"] if c["id"] == "paris")
    assert paris["in_zone"] == {
        "zone": "America/Vancouver",
        "start_local": "2025-09-20T05:00:00-07:00",
        "end_local": "2025-09-20T06:00:00-07:00",
        "utc_offset": "-07:00",
        "abbreviation": "PDT",
    }
    status, _, body = server.get("/api/cities?tz=Nowhere/Else")
    assert status == 400 and json.loads(body)["field"] == "tz"


def test_index_lists_the_schedule_without_javascript(server: ServerProcess) -> None:
    status, headers, body = server.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = body.decode()
    for name in ("Paris", "Berlin", "Winnipeg", "Toronto", "New York", "Chennai", "Helsinki"):
        assert name in text
    assert "14:00 CEST" in text


def test_demo_moves_the_event_to_just_after_now(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    demo: ServerProcess = server_factory("--demo", data_dir=tmp_path / "demo-data")
    cities = demo.get_json("/api/cities")["cities"]
    starts = [datetime.fromisoformat(c["start_utc"].replace("Z", "+00:00")) for c in cities]
    first = min(starts)
    now = datetime.now(UTC)
    assert now < first < now + timedelta(minutes=30)
    by_id = dict(zip([c["id"] for c in cities], starts, strict=True))
    assert by_id["winnipeg"] - by_id["paris"] == timedelta(hours=7)  # gaps kept
