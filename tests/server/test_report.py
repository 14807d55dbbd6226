"""Who is connected (``GET /api/connections``) and the after-event report (``GET /api/report``,
``/api/report.csv``), on real servers, driven over HTTP and real websockets."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tokens
from tests.support.harness import ServerProcess, WsClient

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def admin_get(server: ServerProcess, path: str, token: str) -> Any:
    return server.get_json(path, {"Authorization": f"Bearer {token}"})


def paris(body: dict[str, Any]) -> dict[str, Any]:
    return dict(next(c for c in body["cities"] if c["id"] == "paris"))


def wait_for(read: Callable[[], Any], check: Callable[[Any], bool], timeout_s: float = 10.0) -> Any:
    """Read until ``check`` holds (the counts are published once a second); fail with the
    last reading."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s}s; last: {value}")
        time.sleep(0.2)


def phones(server: ServerProcess, ws_client: Open, n: int, city: str = "paris") -> list[WsClient]:
    """``n`` audience phones: what /follow/CITY sends."""
    opened = []
    for _ in range(n):
        client = ws_client(server.ws_url)
        assert client.hello(channels=[f"cues:{city}"])["type"] == "welcome"
        client.recv_until(lambda m: m["type"] == "snapshot")
        opened.append(client)
    return opened


def test_connections_are_counted_per_city_and_the_peak_of_phones_is_kept(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    server = backend_server
    four = phones(server, ws_client, 4)
    phones(server, ws_client, 1, city="berlin")
    for token in (tokens.paris, tokens.paris_operator, tokens.admin):
        assert ws_client(server.ws_url).hello(token)["type"] == "welcome"
    dashboard = ws_client(server.ws_url)
    assert dashboard.hello()["type"] == "welcome"  # follows everything: a viewer, no phone

    def read() -> Any:
        return admin_get(server, "/api/connections", tokens.admin)

    body = wait_for(read, lambda b: paris(b)["phones"] == 4 and b["viewers"] == 6)
    assert paris(body) == {"id": "paris", "coordinators": 1, "operators": 1, "phones": 4}
    assert next(c for c in body["cities"] if c["id"] == "berlin")["phones"] == 1
    assert body["processes"] == 1 and body["admins"] == 1 and body["phones"] == 5
    assert [c["id"] for c in body["cities"]][:2] == ["paris", "berlin"]
    assert body["as_of_utc"].endswith("Z")

    for client in four:
        client.close()
    wait_for(read, lambda b: paris(b)["phones"] == 0)
    # The peak is kept after the phones have gone, and across a restart.
    assert paris(admin_get(server, "/api/report", tokens.admin))["peak_phones"] == 4
    server.restart()
    assert paris(admin_get(server, "/api/report", tokens.admin))["peak_phones"] == 4


@pytest.mark.parametrize("path", ["/api/connections", "/api/report", "/api/report.csv"])
def test_only_admins_see_connections_and_the_report(
    server: ServerProcess, tokens: Tokens, path: str
) -> None:
    for token in (tokens.paris, tokens.paris_operator):
        status, _, body = server.get(path, {"Authorization": f"Bearer {token}"})
        assert status == 403
        error = json.loads(body)
        assert error["type"] == "error" and error["code"] == "forbidden"
        assert "for admins" in error["message"]
    status, _, body = server.get(path)
    assert status == 401 and json.loads(body)["code"] == "unauthorized"


def drive_paris(server: ServerProcess, tokens: Tokens) -> None:
    """A reading: two delays, live, three cues, a pause of two seconds, finished."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("delayed", {"delay_minutes": 10}),
        ("delayed", {"delay_minutes": 25}),
        ("delayed", {"delay_minutes": 15}),
        ("live", {}),
    ]
    for n, (state, extra) in enumerate(steps):
        status, body = server.post_json(
            "/api/cities/paris/status", {"id": f"s{n}", "state": state, **extra}, tokens.paris
        )
        assert status == 200, body
    for n in range(3):
        status, body = server.post_json(
            "/api/cues/paris/next", {"id": f"go{n}"}, tokens.paris_operator
        )
        assert status == 200, body
    for n, state in enumerate(["paused", "live", "finished"]):
        status, body = server.post_json(
            "/api/cities/paris/status", {"id": f"t{n}", "state": state}, tokens.paris
        )
        assert status == 200, body
        if state == "paused":
            time.sleep(2)


def test_the_report_tells_what_happened(
    backend_server: ServerProcess, tokens: Tokens, ws_client: Open
) -> None:
    server = backend_server
    drive_paris(server, tokens)
    status, body = server.post_json(
        "/api/cities/berlin/status", {"id": "c", "state": "cancelled"}, tokens.berlin
    )
    assert status == 200, body

    report = admin_get(server, "/api/report", tokens.admin)
    assert report["drift_reference"] == "paris"
    city = paris(report)
    assert city["scheduled_start_utc"] == "2025-09-20T12:00:00Z"
    assert city["scheduled_start_local"] == "2025-09-20T14:00:00+02:00"
    assert city["scheduled_end_utc"] == "2025-09-20T13:00:00Z"
    assert city["actual_start_utc"] is not None and city["actual_end_utc"] is not None
    assert city["actual_start_utc"] <= city["actual_end_utc"]
    assert city["state"] == "finished" and city["cancelled"] is False
    assert (city["delays_announced"], city["last_delay_minutes"], city["max_delay_minutes"]) == (
        3,
        15,
        25,
    )
    assert city["pauses"] == 1
    assert 2.0 <= city["paused_seconds"] <= 4.0  # a real clock runs: two seconds and slack
    assert city["cues_shown"] == 3
    assert city["max_drift_seconds"] == 0.0  # Paris is the reference
    berlin = next(c for c in report["cities"] if c["id"] == "berlin")
    assert berlin["cancelled"] is True and berlin["actual_start_utc"] is None
    assert berlin["cues_shown"] == 0 and berlin["max_drift_seconds"] is None

    status, headers, raw = server.get(
        "/api/report.csv", {"Authorization": f"Bearer {tokens.admin}"}
    )
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == 'attachment; filename="report.csv"'
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert [r["id"] for r in rows] == [c["id"] for c in report["cities"]]
    row = rows[0]
    for name in ("scheduled_start_utc", "actual_start_utc", "actual_end_utc", "state"):
        assert row[name] == city[name]
    assert row["cues_shown"] == "3" and row["delays_announced"] == "3"
    assert row["cancelled"] == "false" and rows[1]["cancelled"] == "true"
    assert float(row["paused_seconds"]) == city["paused_seconds"]
    assert rows[1]["actual_start_utc"] == ""


@pytest.mark.redis
def test_connections_and_peaks_are_summed_over_every_process(
    redis_pair: tuple[ServerProcess, ServerProcess], ws_client: Open, tokens: Tokens
) -> None:
    one, two = redis_pair
    on_one = phones(one, ws_client, 2)
    phones(two, ws_client, 2)
    assert ws_client(two.ws_url).hello(tokens.paris)["type"] == "welcome"

    def read() -> Any:
        return admin_get(one, "/api/connections", tokens.admin)

    body = wait_for(read, lambda b: paris(b)["phones"] == 4 and paris(b)["coordinators"] == 1)
    assert body["processes"] == 2
    for client in on_one:
        client.close()
    wait_for(read, lambda b: paris(b)["phones"] == 2)
    assert paris(admin_get(two, "/api/report", tokens.admin))["peak_phones"] == 4

    two.kill()  # a process that dies stops counting once its counts expire
    body = wait_for(read, lambda b: b["processes"] == 1 and paris(b)["phones"] == 0)
    assert paris(admin_get(one, "/api/report", tokens.admin))["peak_phones"] == 4


def test_a_database_of_an_earlier_version_keeps_its_audit_and_gains_the_delays(
    server_factory: Start, tmp_path: Path, tokens: Tokens
) -> None:
    import sqlite3

    from coordinator.state import sqlite as sqlite_store

    data_dir = tmp_path / "old"
    data_dir.mkdir()
    old_schema = sqlite_store.SCHEMA.replace(", delay_minutes INTEGER);", ");")
    assert old_schema != sqlite_store.SCHEMA
    conn = sqlite3.connect(sqlite_store.database_path(data_dir))
    conn.executescript(old_schema)
    conn.execute("INSERT INTO meta VALUES ('epoch', 'e0'), ('schema', '2')")
    conn.execute(
        "INSERT INTO events VALUES (1, 'status', 'paris', '2025-09-20T11:00:00Z', "
        """'{"state": "delayed", "delay_minutes": 10}', NULL, 1)"""
    )
    conn.execute(
        "INSERT INTO audit VALUES (1, '2025-09-20T11:00:00Z', 'coordinator', 'x', 'paris', "
        "'status', 'scheduled', 'delayed', '', 'old')"
    )
    conn.commit()
    conn.close()

    server = server_factory(data_dir=data_dir)
    status, body = server.post_json(
        "/api/cities/paris/status",
        {"id": "new", "state": "delayed", "delay_minutes": 20},
        tokens.paris,
    )
    assert status == 200, body
    entries = admin_get(server, "/api/log", tokens.admin)["entries"]
    assert [(e["command_id"], e["delay_minutes"]) for e in entries] == [("old", None), ("new", 20)]
    city = paris(admin_get(server, "/api/report", tokens.admin))
    assert (city["delays_announced"], city["last_delay_minutes"]) == (2, 20)
