"""Hostile test 6 (docs/security.md): protocol fuzzing with hypothesis against a real server.

Every frame gets exactly one well-formed answer (``ack``, ``error`` with a documented code, or
``pong``), the connection stays open, the server never crashes, and afterwards the state and
the audit log break none of the rules: only Paris changed (the fuzzing tokens are Paris's),
every move in the audit log was allowed for its role, notes are short and clean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from coordinator.protocol import ERROR_CODES
from coordinator.rules import TRANSITIONS, State
from tests.conftest import Tokens
from tests.hostile.fuzz_strategies import frames
from tests.hostile.tools import assert_intact, audit_log, city_of, control_viewer
from tests.support.harness import ServerProcess, WsClient

Start = Callable[..., ServerProcess]

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _answer(client: WsClient) -> dict[str, Any]:
    """The one reply to the last frame (events broadcast meanwhile are skipped)."""
    return client.recv_until(lambda m: m["type"] != "event", timeout_s=5)


def _sent_id(payload: str | bytes) -> str | None:
    if isinstance(payload, bytes):
        return None
    try:
        parsed = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("id"), str):
        return str(parsed["id"])
    return None


def check_well_formed(payload: str | bytes, reply: dict[str, Any]) -> None:
    assert reply["type"] in ("ack", "error", "pong"), reply
    if reply["type"] == "error":
        assert reply["code"] in ERROR_CODES, reply
        assert reply["code"] != "rate_limited", "the fuzz server's rate limits are raised"
        assert isinstance(reply["message"], str) and reply["message"], reply
        assert reply["id"] is None or isinstance(reply["id"], str), reply
        sent = _sent_id(payload)
        if reply["id"] is not None:
            assert reply["id"] == sent, (payload, reply)
    elif reply["type"] == "ack":
        assert reply["id"] == _sent_id(payload), (payload, reply)
        assert isinstance(reply["seq"], int) and reply["seq"] > 0


def test_fuzzed_frames_each_get_one_well_formed_answer_and_state_keeps_its_rules(
    server_factory: Start, tokens: Tokens
) -> None:
    server = server_factory(
        "--limit", "staff_rate_per_s=100000", "--limit", "staff_burst=100000",
        "--limit", "viewer_rate_per_s=100000", "--limit", "viewer_burst=100000",
    )  # fmt: skip
    before = server.get_json("/api/state")
    answers: dict[str, int] = {}
    with control_viewer(server) as viewer:
        clients = {
            "coordinator": WsClient(server.ws_url),
            "operator": WsClient(server.ws_url),
            "public": WsClient(server.ws_url),
        }
        try:
            for role, client in clients.items():
                token = {"coordinator": tokens.paris, "operator": tokens.paris_operator}.get(role)
                assert client.hello(token)["type"] == "welcome"
                client.recv_until(lambda m: m["type"] == "snapshot")

            @settings(
                max_examples=600,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            )
            @given(payload=frames(), role=st.sampled_from(sorted(clients)))
            # Valid commands, always tried first, so every run exercises the accepting path.
            @example(
                payload='{"type":"status","id":"ok-1","city":"paris","state":"preparing"}',
                role="coordinator",
            )
            @example(
                payload='{"type":"cue","id":"ok-2","city":"paris","action":"next"}', role="operator"
            )
            def one_frame(payload: str | bytes, role: str) -> None:
                size = len(payload if isinstance(payload, bytes) else payload.encode())
                assume(size < 15 * 1024)  # beyond the frame limit is test 5's
                client = clients[role]
                client.conn.send(payload)
                reply = _answer(client)
                check_well_formed(payload, reply)
                key = reply["type"] if reply["type"] != "error" else reply["code"]
                answers[key] = answers.get(key, 0) + 1

            one_frame()
            # Still in step: one answer per frame, nothing left over.
            for client in clients.values():
                client.send({"type": "ping"})
                assert _answer(client)["type"] == "pong"
        finally:
            for client in clients.values():
                client.close()
        print("fuzz answers:", answers)
        assert answers.get("ack", 0) > 0 and answers.get("invalid", 0) > 0, answers
        entries = audit_log(server, tokens.admin)
        _check_rules(entries, tokens)
        after = server.get_json("/api/state")
        _check_state(before, after)
        assert_intact(
            server,
            viewer,
            tokens.admin,
            expected_audit=[e["command_id"] for e in entries],
            before=before,
            changed_cities=("paris",),
        )


def _check_rules(entries: list[dict[str, Any]], tokens: Tokens) -> None:
    allowed_actors = {tokens.records["paris"].id, tokens.records["paris_operator"].id}
    for entry in entries:
        assert entry["city"] == "paris", entry
        assert entry["actor"] in allowed_actors, entry
        assert len(entry["note"]) <= 280 and not CONTROL.search(entry["note"]), entry
        if entry["kind"] == "status":
            assert entry["role"] == "coordinator", entry
            assert State(entry["to"]) in TRANSITIONS[State(entry["from"])], entry
        else:
            assert entry["role"] == "operator", entry


def _check_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    json.dumps(after, allow_nan=False)  # nothing non-standard ever reaches a browser
    paris = city_of(after, "paris")
    assert paris["state"] in {s.value for s in State}
    assert len(paris["note"]) <= 280 and not CONTROL.search(paris["note"])
    assert 0 <= (paris["delay_minutes"] or 0) <= 1440
    for city, cue in after["cues"].items():
        assert 0 <= cue["index"] <= cue["count"], (city, cue)
        if city != "paris":
            assert cue == before["cues"][city], city


# Found by the fuzzing above: an id holding a lone surrogate (valid JSON, `"\ud800"`, but no
# UTF-8 text) was echoed in the answer, which then could not be sent: the frame went
# unanswered. Each of these must get its one answer, and the connection go on.
UNENCODABLE_IDS = [
    '{"type": "status", "id": "b\\ud800", "city": "chennai", "state": "live"}',
    '{"type": "status", "id": "a\\udfff", "city": "paris", "state": "live", "note": {}}',
    '{"type": "cue", "id": "\\ud800", "city": "paris", "action": "next"}',
    '{"type": "status", "id": "c\\u0007", "city": "paris", "state": "preparing"}',
]


@pytest.mark.parametrize("payload", UNENCODABLE_IDS)
def test_an_id_that_is_no_text_gets_its_answer_and_the_connection_goes_on(
    server_factory: Start, tokens: Tokens, payload: str
) -> None:
    server = server_factory()
    client = WsClient(server.ws_url)
    try:
        assert client.hello(tokens.paris)["type"] == "welcome"
        client.recv_until(lambda m: m["type"] == "snapshot")
        client.conn.send(payload)
        reply = _answer(client)
        assert reply["type"] == "error" and reply["code"] == "invalid", reply
        assert reply["id"] is None  # not text: not echoed
        assert reply["message"].startswith(("status.id", "cue.id")), reply
        client.conn.send('{"type": "ping"}')
        assert _answer(client)["type"] == "pong"
        assert city_of(server.get_json("/api/state"), "paris")["state"] == "scheduled"
    finally:
        client.close()
