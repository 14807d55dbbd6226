"""Follow, freeze and rehearsal, through the real server (both store backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordinator import scripts
from tests.conftest import Tokens
from tests.support.harness import SHIPPED_CONFIG, ServerProcess, WsClient

Open = Callable[..., WsClient]
DEMO = scripts.load_script(SHIPPED_CONFIG.parent / "scripts" / "demo.csv")
HELSINKI_SCRIPT = "n,en,fi\n1,Hello,Hei\n2,Goodbye,Näkemiin\n"


def cue(cmd_id: str, action: str, city: str = "paris", **extra: Any) -> dict[str, Any]:
    return {"type": "cue", "id": cmd_id, "city": city, "action": action, **extra}


def is_cue(city: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "event" and m["kind"] == "cue" and m["city"] == city


def replied(client: WsClient) -> dict[str, Any]:
    return client.recv_until(lambda m: m["type"] in ("ack", "error"))


def staff(ws_client: Open, server: ServerProcess, token: str) -> WsClient:
    client = ws_client(server.ws_url)
    client.hello(token)
    client.recv_until(lambda m: m["type"] == "snapshot")
    return client


def screen(ws_client: Open, server: ServerProcess, channel: str) -> tuple[WsClient, dict[str, Any]]:
    client = ws_client(server.ws_url)
    client.hello(channels=[channel])
    return client, client.recv()


def give_helsinki_a_script(server: ServerProcess, tokens: Tokens) -> None:
    from tests.support.harness import http_request

    status, _, body = http_request(
        "PUT",
        server.url + "/api/cues/helsinki/script",
        headers={"Authorization": f"Bearer {tokens.admin}", "Content-Type": "text/csv"},
        body=HELSINKI_SCRIPT.encode(),
    )
    assert status == 200, body


def test_a_follower_display_shows_the_followed_city_and_stops_when_the_follow_ends(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    give_helsinki_a_script(backend_server, tokens)
    helsinki_screen, _ = screen(ws_client, backend_server, "cues:helsinki")
    paris_op = staff(ws_client, backend_server, tokens.paris_operator)
    admin = staff(ws_client, backend_server, tokens.admin)
    admin.send(cue("f-1", "follow", city="helsinki", target="paris"))
    assert replied(admin)["type"] == "ack"
    followed = helsinki_screen.recv_until(is_cue("helsinki"))
    assert followed["follows"] == "paris"
    paris_op.send(cue("g-1", "next") | {"from": 0})
    assert replied(paris_op)["type"] == "ack"
    mirrored = helsinki_screen.recv_until(is_cue("helsinki"))
    assert (mirrored["index"], mirrored["text"]["fr"]) == (1, DEMO.cues[0].text["fr"])
    # The follower's own operator console can no longer move its screens...
    helsinki_op = staff(ws_client, backend_server, tokens.admin)
    helsinki_op.send(cue("h-1", "next", city="helsinki"))
    refused = replied(helsinki_op)
    assert refused["code"] == "conflict"
    assert "unfollow" in refused["message"]
    # ...until it takes control back, explicitly.
    helsinki_op.send(cue("h-2", "unfollow", city="helsinki"))
    assert replied(helsinki_op)["type"] == "ack"
    own = helsinki_screen.recv_until(is_cue("helsinki"))
    assert own["follows"] is None
    assert own["index"] == 0
    paris_op.send(cue("g-2", "next") | {"from": 1})
    assert replied(paris_op)["type"] == "ack"
    helsinki_screen.expect_silence(0.5)  # Paris's GO no longer reaches Helsinki's screens
    snap = backend_server.get_json("/api/state")
    assert snap["cues"]["helsinki"]["follows"] is None
    assert snap["cues"]["paris"]["index"] == 2


def test_only_the_followers_operator_or_an_admin_sets_a_follow_and_chains_are_refused(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    give_helsinki_a_script(backend_server, tokens)
    paris_op = staff(ws_client, backend_server, tokens.paris_operator)
    paris_op.send(cue("x-1", "follow", city="helsinki", target="paris"))
    assert replied(paris_op)["code"] == "forbidden"
    admin = staff(ws_client, backend_server, tokens.admin)
    admin.send(cue("x-2", "follow", city="helsinki", target="paris"))
    assert replied(admin)["type"] == "ack"
    admin.send(cue("x-3", "follow", city="paris", target="helsinki"))
    assert replied(admin)["code"] == "conflict"
    admin.send(cue("x-4", "follow", city="helsinki", target="lyon"))
    assert replied(admin)["code"] in ("invalid", "not_found")
    admin.send(cue("x-5", "follow", city="helsinki", target="helsinki"))
    assert replied(admin)["code"] == "invalid"


def test_a_frozen_channel_shows_nothing_new_until_release(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    display, _ = screen(ws_client, backend_server, "cues:paris")
    op = staff(ws_client, backend_server, tokens.paris_operator)
    op.send(cue("z-1", "goto", index=2))
    assert replied(op)["type"] == "ack"
    assert display.recv_until(is_cue("paris"))["index"] == 2
    op.send(cue("z-2", "freeze"))
    assert replied(op)["type"] == "ack"
    for n, message in enumerate([cue("z-3", "next"), cue("z-4", "next"), cue("z-5", "blank")]):
        op.send(message)
        got = op.collect(
            {"reply": lambda m: m["type"] in ("ack", "error"), "event": is_cue("paris")}
        )
        reply, event = got["reply"], got["event"]
        assert reply["type"] == "ack", n
        assert event["frozen"] is True  # the operator sees the pointer move...
        assert event["shown"]["index"] == 2  # ...and what the audience still sees
    display.expect_silence(0.5)  # the screens received nothing while frozen
    snap = backend_server.get_json("/api/state")
    assert (snap["cues"]["paris"]["index"], snap["cues"]["paris"]["blank"]) == (2, False)
    op.send(cue("z-6", "unblank"))
    replied(op)
    op.send(cue("z-7", "release"))
    assert replied(op)["type"] == "ack"
    released = display.recv_until(is_cue("paris"))
    assert (released["index"], released["text"]["fr"]) == (4, DEMO.cues[3].text["fr"])
    # A display connecting while frozen gets what the audience sees, not the pointer.
    op.send(cue("z-8", "freeze"))
    replied(op)
    op.send(cue("z-9", "next"))
    replied(op)
    _late, snapshot = screen(ws_client, backend_server, "cues:paris")
    assert snapshot["cues"]["paris"]["index"] == 4
    assert snapshot["cues"]["paris"]["text"]["fr"] == DEMO.cues[3].text["fr"]


def test_rehearsal_gos_never_reach_live_displays(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    live, _ = screen(ws_client, backend_server, "cues:paris")
    everything = ws_client(backend_server.ws_url)
    everything.hello()  # no channel choice: everything but rehearsals
    everything.recv()
    rehearsal, snap = screen(ws_client, backend_server, "rehearsal:paris")
    assert snap["rehearsal"]["paris"]["index"] == 0
    op = staff(ws_client, backend_server, tokens.paris_operator)
    for n in range(3):
        op.send(cue(f"r-{n}", "next", channel="rehearsal") | {"from": n})
        assert replied(op)["type"] == "ack"
    practised = [rehearsal.recv_until(is_cue("paris")) for _ in range(3)]
    assert [p["index"] for p in practised] == [1, 2, 3]
    assert all(p["channel"] == "rehearsal" for p in practised)
    live.expect_silence(0.3)
    everything.expect_silence(0.3)
    snap = backend_server.get_json("/api/state")
    assert snap["cues"]["paris"]["index"] == 0  # the live position never moved
    assert snap["rehearsal"]["paris"]["index"] == 3
    # The live channel moves on its own.
    op.send(cue("l-1", "next"))
    replied(op)
    assert live.recv_until(is_cue("paris"))["index"] == 1
    rehearsal.expect_silence(0.3)


def test_a_viewer_of_everything_keeps_a_contiguous_seq_through_a_freeze(
    backend_server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    viewer = ws_client(backend_server.ws_url)
    welcome = viewer.hello()  # no channels: it checks that seq has no gaps
    viewer.recv()
    op = staff(ws_client, backend_server, tokens.paris_operator)
    for n, message in enumerate([cue("h-1", "freeze"), cue("h-2", "next"), cue("h-3", "release")]):
        op.send(message)
        assert replied(op)["type"] == "ack", n
    seqs: list[int] = []
    hidden: list[dict[str, Any]] = []
    shown: list[dict[str, Any]] = []
    while len(seqs) < 3:
        m = viewer.recv()
        if m["type"] == "event" and m["kind"] == "cue":
            seqs.append(m["seq"])
            (hidden if m.get("hidden") else shown).append(m)
    assert seqs == [welcome["seq"] + 1, welcome["seq"] + 2, welcome["seq"] + 3]
    assert len(hidden) == 2  # the freeze and the move while frozen: numbers only
    assert all("text" not in m and "index" not in m for m in hidden)
    assert shown[0]["index"] == 1  # the release shows the new line
