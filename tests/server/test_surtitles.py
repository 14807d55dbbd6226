"""Surtitle cues over the real server: the operator advances, every display follows, and never
shows a wrong line. Runs against both store backends."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator import scripts
from tests.conftest import Tokens
from tests.support.harness import ROOT, SHIPPED_CONFIG, ServerProcess, WsClient, http_request

Open = Callable[..., WsClient]
DEMO = scripts.load_script(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")


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


NEW_SCRIPT = (
    "n,en,fr\n1,First line,Première ligne\n2,Second line,Deuxième ligne\n3,Third,Troisième\n"
)


def put_script(
    server: ServerProcess, token: str, body: bytes, content_type: str = "text/csv"
) -> tuple[int, dict[str, Any]]:
    status, _, raw = http_request(
        "PUT",
        server.url + "/api/cues/paris/script",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body=body,
    )
    return status, json.loads(raw)


def test_an_admin_uploads_a_new_script_and_the_position_is_kept(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    op = operator(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("u-1", "goto", index=2))
    op.recv_until(lambda m: m["type"] == "ack")
    screen, _ = display(ws_client, backend_server)
    status, body = put_script(backend_server, tokens.paris_operator, NEW_SCRIPT.encode())
    assert (status, body["code"]) == (403, "forbidden")
    status, body = put_script(backend_server, tokens.admin, b"n,en,fr\n1,Hello,\n")
    assert status == 400
    assert body["code"] == "invalid"
    assert "paris-upload.csv:2" in body["message"]
    status, body = put_script(backend_server, tokens.admin, NEW_SCRIPT.encode())
    assert status == 200, body
    assert body["type"] == "ack"
    assert body["count"] == 3
    shown = screen.recv_until(is_cue())
    assert (shown["index"], shown["count"]) == (2, 3)
    assert shown["text"]["fr"] == "Deuxième ligne"
    # Staff read the whole script with notes; the public cannot.
    status, _, raw = backend_server.get(
        "/api/cues/paris/script", {"Authorization": f"Bearer {tokens.paris_operator}"}
    )
    assert status == 200
    assert [c["text"]["fr"] for c in json.loads(raw)["cues"]][-1] == "Troisième"
    assert backend_server.get("/api/cues/paris/script")[0] == 401
    # The upload survives a restart.
    backend_server.kill()
    backend_server.start()
    snap = backend_server.get_json("/api/state")
    assert (snap["cues"]["paris"]["count"], snap["cues"]["paris"]["text"]["fr"]) == (
        3,
        "Deuxième ligne",
    )


def test_a_subtitle_pair_upload(backend_server: ServerProcess, tokens: Tokens) -> None:
    srt = {
        "en": "1\n00:00:01,000 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\n<i>Bye</i>\n",
        "fr": "1\n00:00:01,000 --> 00:00:02,000\nBonjour\n\n2\n00:00:03,000 --> 00:00:04,000\n<i>Au revoir</i>\n",
    }
    body = json.dumps({"format": "srt", "files": srt}).encode()
    status, reply = put_script(backend_server, tokens.admin, body, "application/json")
    assert status == 200, reply
    assert reply["languages"] == ["en", "fr"]
    srt["fr"] = srt["fr"].split("\n\n")[0] + "\n"  # the French file lost its second cue
    body = json.dumps({"format": "srt", "files": srt}).encode()
    status, reply = put_script(backend_server, tokens.admin, body, "application/json")
    assert status == 400
    assert "paris-upload.fr.srt" in " ".join(reply["problems"])


def test_follow_qr_code_and_unknown_city_pages(server: ServerProcess) -> None:
    status, headers, body = server.get("/cities/paris/follow-qr.svg")
    assert status == 200
    assert headers["content-type"].startswith("image/svg+xml")
    assert body.startswith(b"<?xml")
    assert server.get("/cities/lyon/follow-qr.svg")[0] == 404
    assert server.get("/display/lyon")[0] == 404
