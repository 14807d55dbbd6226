"""The fan-out benchmark in its short form (CI): it must run, and every cue must reach every
viewer. Timings are not asserted here: on a shared machine they are noise; docs/performance.md
has the real figures and how to reproduce them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.harness import ROOT


def test_short_benchmark_delivers_every_cue_to_every_viewer(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fanout.py"),
            "--short",
            "--stalled",
            "--with-status",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    runs = json.loads(out.read_text())["runs"]
    assert [run["spec"]["label"] for run in runs] == ["ours", "ours+status", "ours+status+stalled"]
    for run in runs:
        numbers = run["numbers"]
        viewers = run["spec"]["viewers"]
        assert numbers["connected"] == viewers, run["spec"]["label"]
        assert numbers["expected"] == viewers * run["spec"]["gos"] > 0
        assert numbers["delivered"] == numbers["expected"], (run["spec"]["label"], numbers)
        assert numbers["duplicates"] == 0
        assert numbers["decode_errors"] == 0
        assert numbers["server_errors"] == 0, run["spec"]["label"]
    status_run = runs[1]["numbers"]
    assert status_run["status_sent"] > 0
    assert status_run["status_acked"] == status_run["status_sent"], status_run["status_errors"]
