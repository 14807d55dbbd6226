"""Surtitle cues over the real server: the operator advances, every display follows, and never
shows a wrong line. Runs against both store backends."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator import cues
from tests.conftest import Tokens
from tests.harness import ROOT, SHIPPED_CONFIG, ServerProcess, WsClient

Open = Callable[..., WsClient]
DEMO = cues.load_script(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")


def cue(
    cmd_id: str,
    action: str,
    city: str = "paris",
    *,
    index: int | None = None,
    from_: int | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "cue", "id": cmd_id, "city": city, "action": action}
    if index is not None:
        message["index"] = index
    if from_ is not None:
        message["from"] = from_
    return message


def is_cue(city: str = "paris") -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "event" and m["kind"] == "cue" and m["city"] == city


def operator(ws_client: Open, server: ServerProcess, token: str) -> WsClient:
    client = ws_client(server.ws_url)
    welcome = client.hello(token)
    assert welcome["role"] == "operator"
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def display(
    ws_client: Open, server: ServerProcess, **hello: Any
) -> tuple[WsClient, dict[str, Any]]:
    client = ws_client(server.ws_url)
    client.hello(channels=["cues:paris"], **hello)
    first = client.recv()
    return client, first


def test_next_reaches_a_display_with_the_french_line(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    screen, snap = display(ws_client, backend_server)
    assert snap["type"] == "snapshot"
    assert snap["cues"]["paris"]["index"] == 0
    assert snap["cues"]["paris"]["count"] == len(DEMO.cues)
    assert snap["cues"]["paris"]["text"] == {}
    assert "next" not in snap["cues"]["paris"]  # the public does not get the preview
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("o-1", "next", from_=0))
    got = op.collect({"ack": lambda m: m["type"] in ("ack", "error"), "event": is_cue()})
    assert got["ack"]["type"] == "ack", got["ack"]
    event = screen.recv_until(is_cue())
    assert event["index"] == 1
    assert event["text"]["fr"] == DEMO.cues[0].text["fr"]
    assert event["text"]["en"] == DEMO.cues[0].text["en"]
    assert event["blank"] is False
    assert "next" not in event
    assert "notes" not in event
    # The operator sees the next line and the operator notes.
    mine = got["event"]
    assert mine["next"]["fr"] == DEMO.cues[1].text["fr"]
    assert mine["notes"] == DEMO.cues[0].notes


def test_a_surtitle_phone_receives_no_status_traffic(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    screen, _ = display(ws_client, backend_server)
    backend_server.post_json(
        "/api/cities/paris/status", {"id": "s1", "state": "live"}, tokens.paris
    )
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("o-1", "next"))
    first = screen.recv_until(lambda m: m["type"] == "event")
    assert first["kind"] == "cue"  # the status and presence events were not sent to it


def test_a_double_go_with_the_same_from_advances_once(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    one = operator(ws_client, backend_server, tokens.paris_operator)
    two = operator(ws_client, backend_server, tokens.paris_operator)
    one.send(cue("a-1", "next", from_=0))
    two.send(cue("b-1", "next", from_=0))
    replies = [
        one.recv_until(lambda m: m["type"] in ("ack", "error")),
        two.recv_until(lambda m: m["type"] in ("ack", "error")),
    ]
    assert sorted(r["type"] for r in replies) == ["ack", "error"]
    refused = next(r for r in replies if r["type"] == "error")
    assert refused["code"] == "conflict"
    assert backend_server.get_json("/api/state")["cues"]["paris"]["index"] == 1
    # A retry of the accepted press (same id) is acknowledged again and moves nothing.
    accepted = next(r for r in replies if r["type"] == "ack")
    again = one if accepted["id"] == "a-1" else two
    again.send(cue(accepted["id"], "next", from_=0))
    assert again.recv_until(lambda m: m["type"] == "ack")["seq"] == accepted["seq"]
    assert backend_server.get_json("/api/state")["cues"]["paris"]["index"] == 1


def test_an_operator_of_paris_cannot_cue_berlin_and_a_coordinator_cannot_cue(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("x-1", "next", city="berlin"))
    assert op.recv_until(lambda m: m["type"] == "error")["code"] == "forbidden"
    coordinator = ws_client(backend_server.ws_url)
    coordinator.hello(tokens.paris)
    coordinator.send(cue("x-2", "next"))
    assert coordinator.recv_until(lambda m: m["type"] == "error")["code"] == "forbidden"
    viewer = ws_client(backend_server.ws_url)
    viewer.hello()
    viewer.send(cue("x-3", "next"))
    assert viewer.recv_until(lambda m: m["type"] == "error")["code"] == "unauthorized"
    assert backend_server.get_json("/api/state")["cues"]["paris"]["index"] == 0


def test_blank_and_unblank(backend_server: ServerProcess, ws_client: Open, tokens: Tokens) -> None:
    screen, _ = display(ws_client, backend_server)
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("b-1", "goto", index=3))
    assert screen.recv_until(is_cue())["text"]["fr"] == DEMO.cues[2].text["fr"]
    op.send(cue("b-2", "blank"))
    blanked = screen.recv_until(is_cue())
    assert blanked["blank"] is True
    assert blanked["text"] == {}  # nothing to show even for a display that ignores the flag
    op.send(cue("b-3", "unblank"))
    back = screen.recv_until(is_cue())
    assert back["blank"] is False
    assert back["index"] == 3
    assert back["text"]["fr"] == DEMO.cues[2].text["fr"]


def test_edges_of_the_script(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("e-1", "prev"))
    assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["code"] == "conflict"
    op.send(cue("e-2", "goto", index=len(DEMO.cues) + 1))
    assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["code"] == "invalid"
    op.send(cue("e-3", "goto", index=len(DEMO.cues)))
    assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
    op.send(cue("e-4", "next"))
    assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["code"] == "conflict"


def test_the_position_survives_a_restart_and_a_reconnecting_display_gets_the_current_cue(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    op = operator(ws_client, backend_server, tokens.paris_operator)
    for n in range(4):
        op.send(cue(f"r-{n}", "next", from_=n))
        assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack"
    op.send(cue("r-blank", "blank"))
    op.recv_until(lambda m: m["type"] == "ack")
    op.close()
    backend_server.kill()
    backend_server.start()
    screen, snap = display(ws_client, backend_server)
    assert snap["type"] == "snapshot"
    state = snap["cues"]["paris"]
    assert (state["index"], state["blank"], state["text"]) == (4, True, {})
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("r-unblank", "unblank"))
    shown = screen.recv_until(is_cue())
    assert (shown["index"], shown["text"]["fr"]) == (4, DEMO.cues[3].text["fr"])
    # A display that lost its connection comes back with since and sees the current cue.
    last_seq = shown["seq"]
    screen.close()
    op.send(cue("r-5", "next", from_=4))
    op.recv_until(lambda m: m["type"] == "ack")
    again = ws_client(backend_server.ws_url)
    welcome = again.hello(channels=["cues:paris"], since=last_seq, epoch=snap["epoch"])
    assert welcome["type"] == "welcome"
    current = again.recv_until(lambda m: m["type"] in ("event", "snapshot"))
    view = current if current["type"] == "event" else current["cues"]["paris"]
    assert view["index"] == 5
    assert view["text"]["fr"] == DEMO.cues[4].text["fr"]


def test_cue_log_exports(backend_server: ServerProcess, ws_client: Open, tokens: Tokens) -> None:
    op = operator(ws_client, backend_server, tokens.paris_operator)
    for n, message in enumerate([cue("l-1", "next"), cue("l-2", "next"), cue("l-3", "blank")]):
        op.send(message)
        assert op.recv_until(lambda m: m["type"] in ("ack", "error"))["type"] == "ack", n
    status, headers, body = backend_server.get("/api/cues/paris/log.csv")
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(r["index"], r["blank"]) for r in rows] == [
        ("1", "false"),
        ("2", "false"),
        ("2", "true"),
    ]
    assert rows[0]["fr"] == DEMO.cues[0].text["fr"]
    assert rows[0]["time_utc"].endswith("Z")
    status, headers, body = backend_server.get("/api/cues/paris/log.vtt?lang=fr")
    assert status == 200
    assert headers["content-type"].startswith("text/vtt")
    text = body.decode()
    assert text.startswith("WEBVTT")
    assert "00:00:00.000 --> " in text
    assert DEMO.cues[0].text["fr"].splitlines()[0] in text
    status, _, _ = backend_server.get("/api/cues/paris/log.vtt?lang=xx")
    assert status == 400
    status, _, _ = backend_server.get("/api/cues/berlin/log.csv")
    assert status == 404


def test_cues_check_command(tmp_path: Path) -> None:
    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coordinator", "cues", "check", *map(str, files)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip

    good = run(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")
    assert good.returncode == 0
    assert f"{len(DEMO.cues)} cues" in good.stdout
    broken = tmp_path / "broken.csv"
    broken.write_text("n,en,fr\n1,Hello,Bonjour\n2,Again,\n", encoding="utf-8")
    bad = run(broken)
    assert bad.returncode == 1
    assert f"{broken}:3:" in bad.stdout
    assert "Traceback" not in bad.stderr
