"""Hostile tests 1-3 (docs/security.md): touching another city, the wrong role, revoked tokens,
tokens in URLs, and the Origin check. Each runs against a real ``coordinator serve`` with a
control viewer connected throughout, and ends by checking the state and the audit log."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

from tests.conftest import Tokens
from tests.hostile.tools import RawWs, assert_intact, audit_log, city_of, control_viewer
from tests.support.harness import ServerProcess, WsClient, http_request
from tests.support.messages import status

Open = Callable[..., WsClient]
Start = Callable[..., ServerProcess]

REFUSALS = {"invalid", "forbidden", "not_found"}

# Every way we could think of to name Berlin without being Berlin's coordinator.
BERLIN_LOOKALIKES: list[Any] = [
    "berlin",
    "Berlin",
    "BERLIN",
    "berlin ",
    " berlin",
    "berlin\u200b",  # zero-width space
    "\u200bberlin",
    "berlin\u0000",
    "ｂｅｒｌｉｎ",  # fullwidth
    "berlın",  # dotless i
    "berlİn",  # dotted capital I
    unicodedata.normalize("NFD", "berlín"),
    unicodedata.normalize("NFC", "berlín"),
    "bеrlin",  # Cyrillic e
    "berlin\n",
    "berlin/../paris",
    "paris,berlin",
    "*",
    "",
    ["berlin"],
    ["paris", "berlin"],
    {"id": "berlin"},
    7,
    0,
    True,
    None,
    1.5,
]


def _reply(client: WsClient) -> dict[str, Any]:
    return client.recv_until(lambda m: m["type"] in ("ack", "error"))


def test_a_coordinator_cannot_touch_another_city_in_any_spelling(
    server_factory: Start, ws_client: Open, tokens: Tokens
) -> None:
    # Rate limits are test 7's business: here every attempt must reach the rules.
    server = server_factory("--limit", "staff_rate_per_s=1000", "--limit", "staff_burst=1000")
    with control_viewer(server) as viewer:
        paris = ws_client(server.ws_url)
        assert paris.hello(tokens.paris)["role"] == "coordinator"
        operator = ws_client(server.ws_url)
        assert operator.hello(tokens.paris_operator)["role"] == "operator"
        before = server.get_json("/api/state")
        frames: list[str] = []
        for n, city in enumerate(BERLIN_LOOKALIKES):
            frames.append(json.dumps(status(f"x{n}", city)))
            frames.append(json.dumps(status(f"xd{n}", city, "delayed", delay_minutes=30)))
        frames += [
            # Duplicate keys: whichever one a layer reads, refused as a whole.
            '{"type":"status","id":"dup1","city":"paris","state":"cancelled","city":"berlin"}',
            '{"type":"status","id":"dup2","city":"berlin","state":"cancelled","city":"paris"}',
            '{"type":"status","id":"dup3","id":"dup3","city":"berlin","state":"cancelled"}',
            '{"type":"status","type":"status","id":"dup4","city":"berlin","state":"live"}',
            # The city smuggled in other fields or shapes.
            '{"type":"status","id":"n1","city":"paris","state":"cancelled","target":"berlin"}',
            '{"type":"status","id":"n2","city":{"city":"berlin"},"state":"cancelled"}',
            '{"type":"status","id":["n3"],"city":"berlin","state":"cancelled"}',
            '{"type":"status","id":"n4","city":"berlin","state":["cancelled"]}',
            '{"type":"status","id":"n5","city":"\\u0062erlin","state":"cancelled"}',
            '{"type":"status","id":"n6","city":"berlin\\ud800","state":"cancelled"}',
            '[{"type":"status","id":"n7","city":"berlin","state":"cancelled"}]',
            json.dumps({"type": "hello", "token": tokens.berlin}),  # a second hello: no re-login
            '{"type":"status","id":"n8","city":"berlin","state":"live"}',
        ]
        for n, frame in enumerate(frames):
            paris.send(frame)
            reply = _reply(paris)
            assert reply["type"] == "error", (frame, reply)
            assert reply["code"] in REFUSALS, (frame, reply)
            if n % 10 == 0:
                # Cues: Paris's operator on Berlin's channel, under the same disguises.
                operator.send(frame.replace('"status"', '"cue"').replace('"state"', '"action"'))
                cue_reply = _reply(operator)
                assert cue_reply["type"] == "error" and cue_reply["code"] in REFUSALS, cue_reply
        for n, city in enumerate(["berlin", "BERLIN", "ｂｅｒｌｉｎ"]):
            operator.send(
                json.dumps({"type": "cue", "id": f"o{n}", "city": city, "action": "next"})
            )
            cue_reply = _reply(operator)
            assert cue_reply["type"] == "error" and cue_reply["code"] in REFUSALS, cue_reply
        # Over HTTP: another city in the path, in the body, or disguised in the path.
        for path, body in [
            ("/api/cities/berlin/status", {"id": "h1", "state": "cancelled"}),
            ("/api/cities/paris/status", {"id": "h2", "state": "cancelled", "city": "berlin"}),
            ("/api/cities/paris/status", {"id": "h3", "state": "cancelled", "city": ["berlin"]}),
            ("/api/cities/BERLIN/status", {"id": "h4", "state": "cancelled"}),
            ("/api/cities/berlin%20/status", {"id": "h5", "state": "cancelled"}),
            ("/api/cities/%EF%BD%82erlin/status", {"id": "h6", "state": "cancelled"}),
            ("/api/cities/paris%2F..%2Fberlin/status", {"id": "h7", "state": "cancelled"}),
        ]:
            code, answer = _post(server, path, body, tokens.paris)
            assert code in (400, 403, 404, 405), (path, code, answer)
        # Paris is still Paris's to change, on the same connection.
        paris.send(status("own-1", "paris", "preparing"))
        assert _reply(paris)["type"] == "ack"
        after = server.get_json("/api/state")
        assert city_of(after, "berlin") == city_of(before, "berlin")
        assert after["cues"] == before["cues"]
        assert_intact(
            server,
            viewer,
            tokens.admin,
            expected_audit=["own-1"],
            before=before,
            changed_cities=("paris",),
        )


def _post(server: ServerProcess, path: str, body: Any, token: str) -> tuple[int, Any]:
    status, _, raw = http_request(
        "POST",
        server.url + path,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        body=json.dumps(body).encode(),
    )
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw[:200]


def test_each_role_is_refused_what_it_may_not_do(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        before = server.get_json("/api/state")
        public = ws_client(server.ws_url)
        public.hello()
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        operator = ws_client(server.ws_url)
        operator.hello(tokens.paris_operator)
        cue = {"type": "cue", "city": "paris", "action": "next"}
        cases: list[tuple[WsClient, dict[str, Any], str]] = [
            (public, {"type": "status", "id": "p1", "city": "paris", "state": "live"}, "unauthorized"),
            (public, {**cue, "id": "p2"}, "unauthorized"),
            (coordinator, {**cue, "id": "c1"}, "forbidden"),  # cues are the operator's
            (coordinator, {**cue, "id": "c2", "action": "goto", "index": 3}, "forbidden"),
            (operator, {"type": "status", "id": "o1", "city": "paris", "state": "live"}, "forbidden"),
            (operator, {"type": "status", "id": "o2", "city": "paris", "state": "cancelled"}, "forbidden"),
        ]  # fmt: skip
        for client, message, code in cases:
            client.send(message)
            reply = _reply(client)
            assert (reply["type"], reply["code"]) == ("error", code), (message, reply)
        # The admin-only and operator-only HTTP paths.
        for token, method, path, expected in [
            (tokens.paris, "GET", "/api/log", {403}),
            (tokens.paris_operator, "GET", "/api/log.csv", {403}),
            (tokens.paris, "GET", "/api/cues/paris/script", {403}),
            # Berlin has no script: "no such script" may come before "not yours".
            (tokens.paris_operator, "GET", "/api/cues/berlin/script", {403, 404}),
            (tokens.paris, "PUT", "/api/cues/paris/script", {403}),
            (tokens.paris_operator, "PUT", "/api/cues/paris/script", {403}),
            (tokens.paris, "PATCH", "/api/cities/paris", {403}),
            (tokens.paris_operator, "PATCH", "/api/cities/paris", {403}),
            ("", "PATCH", "/api/cities/paris", {401}),
            ("", "GET", "/api/log", {401}),
            ("not-a-token", "GET", "/api/log", {401}),
        ]:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
            status, _, _ = http_request(
                method, server.url + path, headers=headers, body=b"n,en\n1,x\n" if method == "PUT" else None
            )  # fmt: skip
            assert status in expected, (token[:6], method, path, status)
        assert_intact(server, viewer, tokens.admin, expected_audit=[], before=before)


def test_a_revoked_token_stops_at_once_on_open_connections_and_new_ones(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        coordinator = ws_client(server.ws_url)
        coordinator.hello(tokens.paris)
        coordinator.send(status("r-0", "paris", "preparing"))
        assert _reply(coordinator)["type"] == "ack"
        result = server.token_cli("revoke", tokens.records["paris"].id)
        assert result.returncode == 0, result.stderr
        # The open connection is told within a second, and its next command is refused.
        assert _reply(coordinator)["message"] == "this token has been revoked"
        coordinator.send(status("r-1", "paris", "live"))
        assert _reply(coordinator)["code"] == "unauthorized"
        # A new connection with the revoked token is a public viewer.
        again = ws_client(server.ws_url)
        again.send({"type": "hello", "token": tokens.paris})
        assert again.recv()["code"] == "unauthorized"
        assert again.recv()["role"] == "public"
        again.send(status("r-2", "paris", "live"))
        assert _reply(again)["code"] == "unauthorized"
        assert (
            server.post_json(
                "/api/cities/paris/status", {"id": "r-3", "state": "live"}, tokens.paris
            )[0]
            == 401
        )
        # The other tokens still work.
        assert (
            server.post_json(
                "/api/cities/berlin/status", {"id": "b-1", "state": "preparing"}, tokens.berlin
            )[0]
            == 200
        )
        assert_intact(server, viewer, tokens.admin, expected_audit=["r-0", "b-1"])


def test_a_token_in_the_url_authenticates_nothing(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        for query in (f"?token={tokens.admin}", f"?access_token={tokens.paris}"):
            client = ws_client(server.ws_url + query)
            welcome = client.hello()
            assert welcome["role"] == "public"
            client.send(status("u-1", "paris", "live"))
            assert _reply(client)["code"] == "unauthorized"
        for path in (f"/api/log?token={tokens.admin}", f"/api/log?access_token={tokens.admin}"):
            assert server.get(path)[0] == 401
        # The subprotocol header is no way in either.
        raw = RawWs(server.port, headers={"Sec-WebSocket-Protocol": tokens.admin})
        assert raw.handshake() == 101
        raw.send_json({"type": "hello"})
        assert raw.recv_json()["role"] == "public"
        raw.close()
        assert_intact(server, viewer, tokens.admin, expected_audit=[])


def _every_token(tokens: Tokens) -> list[str]:
    return [
        tokens.paris,
        tokens.berlin,
        tokens.paris_operator,
        tokens.berlin_operator,
        tokens.admin,
    ]


def test_tokens_never_reach_the_log_when_used_properly(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    for n, token in enumerate(_every_token(tokens)):
        client = ws_client(server.ws_url)
        client.hello(token)
        client.send({"type": "ping"})
        client.recv_until(lambda m: m["type"] == "pong")
        client.close()
        server.post_json("/api/cities/paris/status", {"id": f"t{n}", "state": "preparing"}, token)
    server.get("/api/log", {"Authorization": f"Bearer {tokens.admin}"})
    bad = ws_client(server.ws_url)
    bad.hello("a-wrong-token-that-is-not-stored")
    server.stop()  # flush every line
    text = server.log()
    for token in [*_every_token(tokens), "a-wrong-token-that-is-not-stored"]:
        assert token not in text
    assert "event=ws_close" in text and "role=admin" in text  # the log was written


def test_a_token_put_in_a_url_by_mistake_is_never_logged(
    server: ServerProcess, ws_client: Open, tokens: Tokens
) -> None:
    client = ws_client(server.ws_url + f"?token={tokens.paris}")
    client.hello()
    client.close()
    refused = RawWs(
        server.port, path=f"/ws?token={tokens.berlin}", headers={"Origin": "https://evil.example"}
    )
    refused.handshake()
    refused.close()
    server.get(f"/api/state?token={tokens.admin}")
    server.get(f"/nowhere?token={tokens.admin}")
    server.stop()
    text = server.log()
    for token in (tokens.paris, tokens.berlin, tokens.admin):
        assert token not in text, [line for line in text.splitlines() if token in line]


# -- 3. Origin ---------------------------------------------------------------------------------


def _upgrade(server: ServerProcess, origin: str | None) -> int:
    headers = {} if origin is None else {"Origin": origin}
    raw = RawWs(server.port, headers=headers)
    try:
        status = raw.handshake()
        if status == 101:
            raw.send_json({"type": "hello"})
            assert raw.recv_json()["type"] == "welcome"
        return status
    finally:
        raw.close()


def test_foreign_origins_are_refused_before_accept_and_missing_ones_admitted(
    server_factory: Start, tokens: Tokens
) -> None:
    server = server_factory("--allowed-origin", "https://readings.example.org")
    own = f"http://127.0.0.1:{server.port}"
    with control_viewer(server) as viewer:
        refused = [
            "https://evil.example",
            "null",
            "",
            f"{own}.evil.example",
            f"http://127.0.0.1:{server.port + 1}",
            f"http://evil.example/{own}",
            f"ftp://127.0.0.1:{server.port}",
            f"http://localhost:{server.port}",
            "https://readings.example.org.evil.example",
            "https://evil-readings.example.org",
            "http://readings.example.org",  # the scheme is part of an origin
            "https://readings.example.org:8443",
            "*",
        ]
        for origin in refused:
            status = _upgrade(server, origin)
            assert status == 403, (origin, status)
        # A header no HTTP parser should take: refused one way or the other, never upgraded.
        assert _upgrade(server, f"{own}\u0000") in (400, 403)
        admitted = [
            None,  # not a browser page: a script or a bot may connect
            own,
            own + "/",
            f"HTTP://127.0.0.1:{server.port}",
            "https://readings.example.org",
            "https://READINGS.example.org",
        ]
        for allowed in admitted:
            assert _upgrade(server, allowed) == 101, allowed
        assert_intact(server, viewer, tokens.admin, expected_audit=[])
        assert "reason=origin" in server.log()


def test_a_refused_upgrade_ends_the_connection_and_changes_nothing(
    server: ServerProcess, tokens: Tokens
) -> None:
    with control_viewer(server) as viewer:
        raw = RawWs(server.port, headers={"Origin": "https://evil.example"})
        assert raw.handshake() == 403
        assert raw.at_eof_within(5) is not None  # closed, nothing more to say
        raw.close()
        assert audit_log(server, tokens.admin) == []
        assert_intact(server, viewer, tokens.admin, expected_audit=[])
