"""``coordinator calendar`` (the static feed) reads the store as ``serve`` does, so the file an
organiser uploads carries every delay, cancellation and schedule edit the live feed has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from tests.conftest import REDIS_URL, Tokens
from tests.support.harness import ROOT, ServerProcess, http_request

Start = Callable[..., ServerProcess]


def calendar_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "calendar", *args],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def make_changes(server: ServerProcess, tokens: Tokens) -> None:
    """A delay (Berlin), a cancellation (Paris) and a schedule edit (Winnipeg at 15:30)."""
    delay = {"id": "d-1", "state": "delayed", "delay_minutes": 20}
    assert server.post_json("/api/cities/berlin/status", delay, tokens.berlin)[0] == 200
    cancel = {"id": "c-1", "state": "cancelled", "note": "Storm"}
    assert server.post_json("/api/cities/paris/status", cancel, tokens.paris)[0] == 200
    status, _, body = http_request(
        "PATCH",
        server.url + "/api/cities/winnipeg",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "application/json"},
        body=json.dumps({"start_local": "2025-09-20T15:30"}).encode(),
    )
    assert status == 200, body


def by_city(body: bytes) -> dict[str, icalendar.Component]:
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    return {str(e["UID"]).split("@")[0].removeprefix("my-hour-2025-"): e for e in events}


@pytest.mark.parametrize("store", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_static_feed_carries_delays_cancellations_and_edits(
    store: str,
    server_factory: Start,
    tokens: Tokens,
    config_path: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    data_dir = tmp_path / "data"
    if store == "sqlite":
        options: tuple[str, ...] = ("--data-dir", str(data_dir))
        server = server_factory(data_dir=data_dir)
    else:
        prefix = request.getfixturevalue("redis_prefix")
        options = ("--redis-url", REDIS_URL, "--redis-prefix", prefix)
        server = server_factory(*options)
    make_changes(server, tokens)

    result = calendar_cli("--config", str(config_path), "--base-url", server.url, *options)

    assert result.returncode == 0, result.stderr.decode()
    # The very feed the running server serves.
    assert result.stdout == server.get("/calendar.ics")[2]
    events = by_city(result.stdout)
    assert str(events["paris"]["STATUS"]) == "CANCELLED"
    assert events["berlin"].decoded("DTSTART") == datetime(2025, 9, 20, 12, 20, tzinfo=UTC)
    assert events["winnipeg"].decoded("DTSTART") == datetime(2025, 9, 20, 20, 30, tzinfo=UTC)
    assert int(str(events["winnipeg"]["SEQUENCE"])) == 1
    # Reading beside the running server changed nothing it shows.
    state = server.get_json("/api/state")
    assert {c["id"]: c["state"] for c in state["cities"]}["paris"] == "cancelled"
    # And once the server has stopped, the file is the same.
    server.stop()
    again = calendar_cli("--config", str(config_path), "--base-url", server.url, *options)
    assert again.stdout == result.stdout


def test_without_a_store_the_config_alone_with_a_note(config_path: Path, tmp_path: Path) -> None:
    result = calendar_cli("--config", str(config_path), "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 0, result.stderr.decode()
    assert b"no event state in the store yet" in result.stderr
    assert not (tmp_path / "none").exists()  # nothing created
    assert len(by_city(result.stdout)) == 7


def test_the_store_options_come_from_the_environment_too(
    server_factory: Start, tokens: Tokens, config_path: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = server_factory(data_dir=data_dir)
    make_changes(server, tokens)
    env = {
        **os.environ,
        "COORDINATOR_CONFIG": str(config_path),
        "COORDINATOR_DATA_DIR": str(data_dir),
    }
    result = calendar_cli("--base-url", server.url, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert str(by_city(result.stdout)["paris"]["STATUS"]) == "CANCELLED"
