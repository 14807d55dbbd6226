"""Hostile test 15, the short form CI runs (docs/security.md): 200 viewers for 20 seconds while
six coordinators and an operator work. The full soak is ``python -m tests.hostile.soak --viewers 2000
--minutes 5``; both check that no event is lost or out of order and that the server's memory
stays within the bound."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tests.hostile.soak import RSS_GROWTH_BOUND_KIB, raise_open_files, soak, start_server
from tests.support.harness import run_async, skip_or_fail

VIEWERS = 200
SECONDS = 20.0


def test_a_short_soak_loses_nothing_and_holds_its_memory(tmp_path: Path) -> None:
    if raise_open_files() < VIEWERS * 2 + 200:
        skip_or_fail("the open files limit is too low for the soak")
    server, staff = start_server(tmp_path, VIEWERS)
    try:
        report = run_async(soak(server, staff, viewers=VIEWERS, seconds=SECONDS))
    finally:
        server.stop()
    print("soak:", json.dumps(asdict(report)))
    assert not report.errors, report.errors
    assert report.connections_held == VIEWERS
    assert report.events_published >= 30  # the staff really worked
    assert report.events_delivered >= report.events_published * VIEWERS
    assert report.events_lost == 0
    assert report.out_of_order == 0
    assert report.rss_growth_kib <= RSS_GROWTH_BOUND_KIB, report
    assert report.ok
