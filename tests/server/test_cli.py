"""The ``coordinator`` command as an organiser runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import coordinator
from tests.support.harness import ROOT, SHIPPED_CONFIG, ServerProcess, free_port


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_config_prints_the_shipped_schedule() -> None:
    result = run("check-config", str(SHIPPED_CONFIG))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "2025-09-20 14:00 +02:00 CEST" in lines["paris"]
    assert "2025-09-20T12:00:00Z" in lines["paris"]
    assert "2025-09-20T19:00:00Z" in lines["winnipeg"]
    assert "2025-09-20T18:00:00Z" in lines["new-york"]
    assert "+05:30" in lines["chennai"] and "2025-09-20T08:30:00Z" in lines["chennai"]
    assert "2025-09-20 10:30 CEST" in lines["chennai"]  # Paris time column


def test_check_config_for_a_date_when_europe_and_america_differ(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8").replace("2025-09-20", "2026-10-31")
    path = config_path
    path.write_text(text, encoding="utf-8")
    result = run("check-config", str(path))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert (
        "2026-10-31 14:00 +01:00 CET" in lines["paris"] and "2026-10-31T13:00:00Z" in lines["paris"]
    )
    assert "-04:00 EDT" in lines["new-york"] and "2026-10-31T18:00:00Z" in lines["new-york"]
    assert "2026-10-31 19:00 CET" in lines["new-york"]  # five hours apart that week, not six
    assert "2026-10-31T08:30:00Z" in lines["chennai"]


def test_check_config_rejects_nonexistent_and_ambiguous_times(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    text = text.replace('start: "2025-09-20T14:00"', 'start: "2026-03-29T02:30"', 1)  # Paris
    text = text.replace(
        'timezone: America/Toronto\n    start: "2025-09-20T14:00"',
        'timezone: America/Toronto\n    start: "2026-11-01T01:30"',
    )
    path = config_path
    path.write_text(text, encoding="utf-8")
    result = run("check-config", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"{path}: cities[paris].start: 2026-03-29 02:30 does not exist in Europe/Paris"
        in result.stderr
    )
    assert (
        f"{path}: cities[toronto].start: 2026-11-01 01:30 happens twice in America/Toronto"
        in result.stderr
    )


def test_serve_refuses_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "cities.yaml"
    path.write_text("event: {}\n", encoding="utf-8")
    result = run("serve", "--config", str(path), "--port", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "event.id" in result.stderr


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("COORDINATOR_")},
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"coordinator {coordinator.__version__}"


def test_init_writes_a_starter_that_checks_and_never_overwrites(tmp_path: Path) -> None:
    result = run_in(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "config" / "cities.yaml"
    assert written.read_bytes() == SHIPPED_CONFIG.read_bytes()
    assert (tmp_path / "config" / "scripts" / "demo.csv").is_file()
    assert run_in(tmp_path, "check-config").returncode == 0
    written.write_text("# mine\n", encoding="utf-8")
    again = run_in(tmp_path, "init")
    assert again.returncode == 1
    assert "config/cities.yaml already exists" in again.stderr
    assert written.read_text(encoding="utf-8") == "# mine\n"
    other = run_in(tmp_path, "init", "elsewhere")
    assert other.returncode == 0 and (tmp_path / "elsewhere" / "config" / "cities.yaml").is_file()


def test_serve_demo_from_an_empty_folder_uses_the_packaged_example(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    server = ServerProcess(
        SHIPPED_CONFIG,  # unused: argv replaces the harness's command
        empty / "data",
        argv=[sys.executable, "-m", "coordinator", "serve", "--demo", "--port", str(port)],
        cwd=empty,
        port=port,
        env={"COORDINATOR_CONFIG": ""},
    )
    try:
        server.start()
        assert len(server.get_json("/api/cities")["cities"]) == 7
        assert server.get("/operator/paris")[0] == 200
        assert "serving the packaged example event" in server.log()
    finally:
        server.kill()


def test_serve_without_a_config_says_what_to_do(tmp_path: Path) -> None:
    result = run_in(tmp_path, "serve", "--port", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no config/cities.yaml in this folder: run `coordinator init`" in result.stderr
