"""Hostile tests 7 and 8 (docs/security.md): command floods meet rate limits, and a viewer
that stops reading while GO is pressed does not slow anyone else down."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Tokens
from tests.hostile.tools import (
    ControlViewer,
    RawWs,
    assert_intact,
    control_viewer,
)
from tests.support.harness import ServerProcess, WsClient, http_request
from tests.support.messages import p99, status

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]


def _replies(client: WsClient, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(replies) < count:
        assert time.monotonic() < deadline, f"{len(replies)} of {count} replies"
        message = client.recv_until(lambda m: m["type"] in ("ack", "error"), timeout_s=10)
        replies.append(message)
    return replies


# -- 7. rate limits ----------------------------------------------------------------------------


def test_a_staff_flood_gets_rate_limited_errors_not_a_disconnect(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        started = time.monotonic()
        flood = 300
        for n in range(flood):
            coordinator.send(
                status(f"f{n}", "paris", ("preparing", "scheduled")[n % 2], note=f"#{n}")
            )
        replies = _replies(coordinator, flood)
        elapsed = time.monotonic() - started
        acked = [r["id"] for r in replies if r["type"] == "ack"]
        limited = [r for r in replies if r["type"] == "error"]
        assert {r["code"] for r in limited} == {"rate_limited"}
        assert [r["id"] for r in replies] == [f"f{n}" for n in range(flood)]  # one each, in order
        # Burst 20, then 5 a second.
        assert 20 <= len(acked) <= 20 + 5 * elapsed + 2, (len(acked), elapsed)
        # Still connected, and served again once it slows down.
        time.sleep(0.5)
        coordinator.send(status("after", "paris", "preparing", note="calm"))
        assert _replies(coordinator, 1)[0]["type"] == "ack"
        # The bucket is the token's: a second connection with the same token shares it.
        coordinator2 = ws_client(server.ws_url)
        coordinator2.hello(tokens.paris)
        for n in range(40):
            (coordinator, coordinator2)[n % 2].send(status(f"s{n}", "paris", "preparing"))
        both = _replies(coordinator, 20) + _replies(coordinator2, 20)
        assert sum(r["type"] == "ack" for r in both) <= 20 + 5 * 2 + 2
        # Other staff are not affected by Paris's flood.
        berlin = ws_client(server.ws_url)
        berlin.hello(tokens.berlin)
        berlin.send(status("b1", "berlin", "preparing"))
        assert _replies(berlin, 1)[0]["type"] == "ack"
        both_acked = [r["id"] for r in both if r["type"] == "ack"]
        assert_intact(
            server,
            viewer,
            tokens.admin,
            expected_audit=[*acked, "after", *sorted(both_acked, key=lambda i: int(i[1:])), "b1"],
        )


def test_an_anonymous_flood_is_closed_after_its_strikes(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        flooder = ws_client(server.ws_url)
        flooder.hello()
        for _ in range(100):
            try:
                flooder.send({"type": "ping"})
            except Exception:
                break  # closed under us: that is the point
        codes: list[str] = []
        pongs = 0
        close = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                message = flooder.recv(2)
            except TimeoutError:
                continue
            except Exception as exc:
                close = getattr(getattr(exc, "rcvd", None), "code", None)
                break
            if message["type"] == "pong":
                pongs += 1
            elif message["type"] == "error":
                codes.append(message["code"])
        assert close == 1008
        assert pongs <= 10 + 2 and codes == ["rate_limited"] * 3, (pongs, codes)
        # Junk floods count the same (binary frames, bad JSON).
        junk = ws_client(server.ws_url)
        junk.hello()
        for _ in range(50):
            try:
                junk.conn.send(b"\0" * 10)
                junk.send("{oops")
            except Exception:
                break
        assert junk.wait_closed() == 1008
        assert "event=ws_abuse" in server.log()
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def test_an_http_flood_with_a_token_is_rate_limited_too(
    server: ServerProcess, tokens: Tokens
) -> None:
    codes: list[int] = []
    for n in range(60):
        status, _, _ = http_request(
            "POST",
            server.url + "/api/cities/paris/status",
            headers={"Authorization": f"Bearer {tokens.paris}", "Content-Type": "application/json"},
            body=f'{{"id": "h{n}", "state": "{("preparing", "scheduled")[n % 2]}"}}'.encode(),
        )
        codes.append(status)
    assert set(codes) <= {200, 429}
    assert codes.count(429) > 0, "60 commands in a burst of 20 were all accepted"


# -- 8. a stalled viewer while GO is pressed ---------------------------------------------------


def _upload_long_cues(server: ServerProcess, admin: str) -> None:
    """A script whose cues are long (8 KiB a language): each GO is a 16 KiB frame, so a
    stalled socket fills its kernel buffers (up to 4 MiB on loopback) in a few hundred GOs."""
    rows = ["n,en,fr"]
    for n in range(1, 11):
        rows.append(f"{n},{f'Line {n}. ' * 1000},{f'Réplique {n}. ' * 700}")
    status, _, body = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/csv"},
        body="\n".join(rows).encode(),
    )
    assert status == 200, body[:300]


def _press_go(operator: WsClient, rounds: int, prefix: str) -> dict[int, float]:
    """GO and back again, as fast as the acks come; returns seq -> time sent."""
    sent: dict[int, float] = {}
    for n in range(rounds):
        start = time.monotonic()
        action = "next" if n % 2 == 0 else "prev"
        operator.send({"type": "cue", "id": f"{prefix}{n}", "city": "paris", "action": action})
        reply = _replies(operator, 1)[0]
        assert reply["type"] == "ack", reply
        sent[reply["seq"]] = start
    return sent


def _latencies(viewers: list[ControlViewer], sent: dict[int, float]) -> list[float]:
    last = max(sent)
    for viewer in viewers:
        viewer.wait_for_seq(last)
    return [v.arrivals[seq] - t for v in viewers for seq, t in sent.items()]


def test_a_stalled_viewer_does_not_slow_the_others_and_is_dropped(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    interval, timeout = 2.0, 2.0
    server = server_factory(
        # The operator here presses GO as fast as the server answers: rate limits are test 7's.
        "--limit", "staff_rate_per_s=10000", "--limit", "staff_burst=10000",
        "--limit", "max_outbox_frames=16",
        "--limit", f"ping_interval_s={interval}", "--limit", f"ping_timeout_s={timeout}",
    )  # fmt: skip
    viewers = [ControlViewer(server.ws_url).start() for _ in range(4)]
    try:
        _upload_long_cues(server, tokens.admin)
        operator = ws_client(server.ws_url)
        operator.hello(tokens.paris_operator)
        baseline = _latencies(viewers, _press_go(operator, 200, "a"))
        # A phone that completes the handshake, says hello, then never reads again.
        stalled = RawWs(server.port, rcvbuf=2048)
        assert stalled.handshake() == 101
        stalled.send_json({"type": "hello"})
        during = _latencies(viewers, _press_go(operator, 600, "b"))
        print(
            f"latency p50/p99/max ms: baseline {statistics.median(baseline) * 1000:.1f}/"
            f"{p99(baseline) * 1000:.1f}/{max(baseline) * 1000:.1f}, with a stalled viewer "
            f"{statistics.median(during) * 1000:.1f}/{p99(during) * 1000:.1f}/"
            f"{max(during) * 1000:.1f}"
        )
        # Loopback on 2 shared cores is noisy: bounds, not equality.
        # (A fan-out that awaited each send in turn would hold everyone for the whole ping
        # timeout, 4 s here.)
        assert p99(during) < max(0.25, 3 * p99(baseline)), (p99(baseline), p99(during))
        assert max(during) < 2.0
        for viewer in viewers:
            viewer.assert_complete(server, replay=False)
        # The stalled one overflowed its queue and was let go (1013); whether its socket is
        # released too is the next test's question.
        assert "event=ws_too_slow" in server.log()
        stalled.close()
        assert_intact(
            server,
            viewers[0],
            tokens.admin,
            expected_audit=[e["command_id"] for e in _audit_commands(server, tokens)],
            replay=False,  # 800 cue frames of 16 KiB: a replay is what test 8 stalls on
        )
    finally:
        for viewer in viewers:
            viewer.stop()


def test_a_stalled_viewer_is_let_go_and_its_socket_released(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    interval, timeout = 3.0, 3.0
    server = server_factory(
        "--limit", "staff_rate_per_s=10000", "--limit", "staff_burst=10000",
        "--limit", "max_outbox_frames=16",
        "--limit", f"ping_interval_s={interval}", "--limit", f"ping_timeout_s={timeout}",
    )  # fmt: skip
    _upload_long_cues(server, tokens.admin)
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    stalled = RawWs(server.port, rcvbuf=2048)
    assert stalled.handshake() == 101
    stalled.send_json({"type": "hello"})
    stalled_at = time.monotonic()
    _press_go(operator, 600, "r")  # fills the kernel's buffers, then the queue: overflow
    assert "event=ws_too_slow" in server.log()
    # Within the ping timeout at the latest the server must have ended the connection: the
    # endpoint finished (ws_close logged) and the stream ends once drained.
    budget = interval + timeout + 3 - (time.monotonic() - stalled_at)
    deadline = time.monotonic() + max(budget, 1.0)
    while time.monotonic() < deadline and "role=public" not in _closes(server):
        time.sleep(0.1)
    assert "role=public" in _closes(server), "the stalled connection is still held"
    assert stalled.at_eof_within(5) is not None
    stalled.close()


def _closes(server: ServerProcess) -> str:
    return "\n".join(line for line in server.log().splitlines() if "event=ws_close" in line)


def _audit_commands(server: ServerProcess, tokens: Tokens) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.get_json(
        "/api/log", {"Authorization": f"Bearer {tokens.admin}"}
    )["entries"]
    return [e for e in entries if not e["command_id"].startswith("probe-")]


def test_a_slow_viewer_that_reads_again_gets_every_event_or_is_told_to_reconnect(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    server = server_factory(
        "--limit", "staff_rate_per_s=10000", "--limit", "staff_burst=10000",
    )  # fmt: skip
    _upload_long_cues(server, tokens.admin)
    operator = ws_client(server.ws_url)
    operator.hello(tokens.paris_operator)
    # A phone on a bad network: it reads nothing for a while (its buffers fill, the server's
    # writes to it have to wait), then it reads again.
    slow = RawWs(server.port, rcvbuf=2048)
    assert slow.handshake() == 101
    slow.send_json({"type": "hello"})
    sent = _press_go(operator, 300, "s")
    last = max(sent)
    seqs: list[int] = []
    told_to_reconnect = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            frame = slow.read_frame(2)
        except TimeoutError:
            break  # quiet: it has everything it will get
        if frame is None:
            break
        opcode, payload = frame
        if opcode == 0x8:
            told_to_reconnect = True
            break
        if opcode == 0x1:
            message = json.loads(payload)
            if message["type"] == "event":
                seqs.append(message["seq"])
    slow.close()
    if not told_to_reconnect:
        assert seqs and seqs[-1] == last, (
            f"still connected, but silently stopped at seq {seqs[-1] if seqs else None} of {last}"
        )
        assert seqs == list(range(seqs[0], last + 1))
