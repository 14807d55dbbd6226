"""Hostile test 17 (docs/security.md): catch-up replays. Anonymous clients that ask, in a
loop, for the last 900 events must not slow a coordinator's commands; a phone or a console
on a slow link must catch up from 1,000 missed events instead of being dropped mid-replay."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import Tokens
from tests.hostile.loops import running
from tests.hostile.slow_link import SlowLink
from tests.hostile.tools import assert_intact, control_viewer
from tests.support.harness import ServerProcess, WsClient, http_request
from tests.support.messages import cue, status

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]
# The load runs on the same two (shared) cores as the server and the measuring client, so
# an idle baseline of 3 ms would make the bound nothing but scheduling noise: the baseline
# counts as at least 20 ms, what the issue measured on its machine (22 ms).
BASELINE_FLOOR_S = 0.020
FAST_STAFF = ("--limit", "staff_rate_per_s=100000", "--limit", "staff_burst=100000")


def _upload_script(server: ServerProcess, admin: str, text_chars: int) -> None:
    """Paris's script with cues of ``text_chars`` characters a language (a real play's long
    speeches): each GO then weighs what it does in a show."""
    rows = ["n,en,fr"]
    for n in range(1, 11):
        en = (f"Line {n} of a long speech. " * text_chars)[:text_chars]
        fr = (f"Réplique {n}, une longue tirade. " * text_chars)[:text_chars]
        rows.append(f'{n},"{en}","{fr}"')
    code, _, body = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/csv"},
        body="\n".join(rows).encode(),
    )
    assert code == 200, body[:300]


def _history(server: ServerProcess, ws_client: Open, operator_token: str, count: int) -> int:
    """``count`` cue events (GO and back, pipelined); returns the last seq."""
    operator = ws_client(server.ws_url)
    operator.hello(operator_token)
    for n in range(count):
        operator.send(cue(f"h{n}", "paris", "next" if n % 2 == 0 else "prev"))
    last = 0
    for _ in range(count):
        reply = operator.recv_until(lambda m: m["type"] in ("ack", "error"), timeout_s=30)
        assert reply["type"] == "ack", reply
        last = max(last, reply["seq"])
    operator.close()
    return last


def _ack_times(coordinator: WsClient, rounds: int, prefix: str) -> list[float]:
    """Seconds from sending a status change to its ack, one command at a time."""
    times = []
    for n in range(rounds):
        state = ("preparing", "scheduled")[n % 2]
        started = time.monotonic()
        coordinator.send(status(f"{prefix}{n}", "paris", state))
        reply = coordinator.recv_until(lambda m: m["type"] in ("ack", "error"), timeout_s=30)
        times.append(time.monotonic() - started)
        assert reply["type"] == "ack", reply
        time.sleep(0.05)
    return times


def test_twenty_anonymous_clients_replaying_in_a_loop_do_not_slow_a_coordinator(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    server = server_factory(*FAST_STAFF)
    _history(server, ws_client, tokens.paris_operator, 950)
    with control_viewer(server) as viewer:
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        baseline = _ack_times(coordinator, 30, "b")
        # Half ask for 900 events back, half for 80 (within a viewer's replay bound).
        with running("replay", server.ws_url, 20, 6.0, "900,80") as served:
            time.sleep(2.0)  # the loops are under way
            during = _ack_times(coordinator, 15, "d")
        p50_before, p50_during = statistics.median(baseline), statistics.median(during)
        print(
            f"coordinator ack p50: baseline {p50_before * 1000:.1f} ms, with 20 replaying "
            f"clients {p50_during * 1000:.1f} ms (max {max(during) * 1000:.1f} ms); "
            f"{served['served']} catch-ups served"
        )
        assert p50_during < 3 * max(p50_before, BASELINE_FLOOR_S), (p50_before, p50_during)
        assert served["served"] >= 20, "the replaying clients were not served"
        expected = [f"{p}{n}" for p, k in (("b", 30), ("d", 15)) for n in range(k)]
        audit = [f"h{n}" for n in range(950)] + expected
        assert_intact(server, viewer, tokens.admin, expected_audit=audit)


def test_a_phone_on_a_2_mbit_link_and_a_console_catch_up_from_1000_missed_events(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    server = server_factory(*FAST_STAFF)
    # Long speeches (2,500 characters a language): 1,000 events are then more than the
    # kernel's socket buffers on loopback (4 MiB) hold, as they would be on a phone's link.
    _upload_script(server, tokens.admin, 2500)
    epoch = ws_client(server.ws_url).hello()["epoch"]
    last = _history(server, ws_client, tokens.paris_operator, 1001)
    outcomes = {}
    links = {"phone": (None, 250_000), "console": (tokens.paris_operator, 1_250_000)}
    for name, (token, bytes_per_s) in links.items():  # 2 Mbit/s; a venue's 10 Mbit/s
        link = SlowLink(server.port, bytes_per_s=bytes_per_s).start()
        try:
            since = last - 1000
            started = time.monotonic()
            with connect(f"ws://127.0.0.1:{link.port}/ws", open_timeout=10, max_size=None) as ws:
                hello: dict[str, Any] = {"type": "hello", "since": since, "epoch": epoch}
                if token:
                    hello["token"] = token
                ws.send(json.dumps(hello))
                assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
                seqs, kind = _read_all(ws, last)
                outcomes[name] = (kind, len(seqs), round(time.monotonic() - started, 2))
                if kind == "replay":
                    assert seqs == list(range(since + 1, last + 1)), name
                # Caught up, it is live: the next event reaches it.
                code, ack = server.post_json(
                    "/api/cities/helsinki/status",
                    {"id": f"after-{name}", "state": "preparing"},
                    tokens.admin,
                )
                assert code == 200, ack
                assert _read_all(ws, ack["seq"])[0][-1:] == [ack["seq"]]
                last = ack["seq"]
        finally:
            link.stop()
    print(f"catch-up (kind, frames, seconds): {outcomes}")
    assert outcomes["phone"][0] == "snapshot"  # 1,000 back is past a viewer's replay bound
    assert outcomes["console"][0] == "replay"  # staff keep the full bound
    assert "event=ws_too_slow" not in server.log()


def _read_all(ws: Any, until: int) -> tuple[list[int], str]:
    """Event seqs read until ``until``, and whether a snapshot or a replay brought them."""
    seqs: list[int] = []
    kind = "replay"
    while True:
        try:
            message = json.loads(ws.recv(timeout=20))
        except ConnectionClosed as closed:
            raise AssertionError(f"dropped after {len(seqs)} events: {closed}") from None
        if message["type"] == "snapshot":
            kind = "snapshot"
            if message["seq"] >= until:
                return seqs, kind
        if message["type"] == "event":
            seqs.append(message["seq"])
            if message["seq"] >= until:
                return seqs, kind
