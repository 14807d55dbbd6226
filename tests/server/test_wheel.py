"""The built wheel, installed in a fresh venv and run from an empty folder, as a new user would.

Slow (a build and an install): marked ``wheel``, left out of the default run, and run by CI's
wheel job (`.ci/run`): `pytest -m wheel tests/server/test_wheel.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.support.harness import ROOT, SHIPPED_CONFIG, ServerProcess, WsClient, free_port

pytestmark = pytest.mark.wheel

WEB = ROOT / "coordinator" / "web"
LOCAL_ONLY = (".git", ".venv*", "*.egg-info", "build", "dist", "data", "node_modules", "*_cache")
PAGES = ["/", "/coordinator", "/admin", "/operator/paris", "/display/paris", "/follow/paris"]


def clean_env() -> dict[str, str]:
    """This machine's environment without the project's variables or this venv's paths."""
    drop = ("COORDINATOR_", "VIRTUAL_ENV", "PYTHONPATH", "REDIS_URL", "WEB_CONCURRENCY")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, capture_output=True, text=True, cwd=cwd, env=clean_env(), timeout=600, check=False
    )
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a fresh venv holding only the built wheel and its dependencies."""
    base = tmp_path_factory.mktemp("wheel")
    # A clean copy: setuptools would take files listed in a stale *.egg-info of the checkout.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LOCAL_ONLY))
    dist = base / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        base,
    )
    (wheel,) = dist.glob("reading_coordinator-*.whl")
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], base)
    return bin_dir


def test_the_installed_command_serves_every_page_the_feed_and_the_websocket(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run(
        [str(installed / "python"), "-c", "import coordinator; print(coordinator.__file__)"], empty
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    port = free_port()
    server = ServerProcess(
        SHIPPED_CONFIG,  # unused: argv replaces the harness's command
        empty / "data",
        argv=[str(installed / "coordinator"), "serve", "--demo", "--port", str(port)],
        cwd=empty,
        port=port,
        env={k: "" for k in os.environ if k.startswith("COORDINATOR_")},
    )
    try:
        server.start(timeout_s=30)
        assert "serving the packaged example event" in server.log()
        for path in PAGES:
            status, headers, _ = server.get(path)
            assert (status, headers["content-type"].split(";")[0]) == (200, "text/html"), path
        for asset in sorted(a for a in WEB.rglob("*") if a.is_file()):
            name = asset.relative_to(WEB).as_posix()  # i18n/fr.js too: folders ship as well
            status, _, body = server.get(f"/static/{name}")
            assert (status, body) == (200, asset.read_bytes()), name
        status, _, body = server.get("/calendar.ics")
        assert status == 200
        assert len(Calendar.from_ical(body).walk("VEVENT")) == 7
        assert server.get("/cities/paris/follow-qr.svg")[0] == 200
        with WsClient(server.ws_url) as viewer:
            assert viewer.hello()["type"] == "welcome"
            snapshot = viewer.recv_until(lambda m: m["type"] == "snapshot")
            assert len(snapshot["cities"]) == 7 and "paris" in snapshot["cues"]
    finally:
        server.kill()


def test_the_installed_command_prints_its_version_and_writes_a_starter(
    installed: Path, tmp_path: Path
) -> None:
    version = run([str(installed / "coordinator"), "--version"], tmp_path)
    assert version.stdout.startswith("coordinator ")
    run([str(installed / "coordinator"), "init"], tmp_path)
    checked = run([str(installed / "coordinator"), "check-config"], tmp_path)
    assert "7 cities, ok" in checked.stdout
    metadata = run(
        [str(installed / "python"), "-c",
         "from importlib.metadata import metadata as m; import json; "
         "print(json.dumps(m('reading-coordinator').json))"],
        tmp_path,
    )  # fmt: skip
    fields = json.loads(metadata.stdout)
    assert fields.get("license_expression") == "MIT"
