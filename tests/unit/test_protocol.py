"""Parsing client messages: one clear error per broken message, naming type and field."""

from __future__ import annotations

import json
import re

import pytest

from coordinator import protocol
from coordinator.protocol import CueCommand, Hello, Ping, ProtocolError, StatusCommand
from coordinator.rules import State
from tests.support.harness import ROOT


def parse(obj: object) -> protocol.ClientMessage:
    return protocol.parse_client_message(obj if isinstance(obj, str) else json.dumps(obj))


def test_valid_messages() -> None:
    assert parse({"type": "ping"}) == Ping()
    assert parse(
        {"type": "hello", "token": "abc", "since": 41, "channels": ["cues:paris"]}
    ) == Hello(token="abc", since=41, topics=("cues:paris",))
    assert parse(
        {"type": "status", "id": "c-17", "city": "paris", "state": "delayed", "delay_minutes": 15}
    ) == StatusCommand(id="c-17", city="paris", state=State.DELAYED, delay_minutes=15)
    assert parse(
        {"type": "cue", "id": "o-5", "city": "paris", "action": "next", "from": 11}
    ) == CueCommand(id="o-5", city="paris", action="next", expected_from=11)


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        (
            '{"type": "status", "id": "a", "city": "paris", "state": "live", "delay_minutes": NaN}',
            "NaN",
        ),
        ('{"type": "ping", "type": "ping"}', "duplicate key 'type'"),
        ("[" * 20 + "]" * 20, "nested deeper"),
        ('{"type": "hello", "since": -1}', r"hello\.since: must be at least 0"),
        ('{"type": "hello", "since": 1e400}', "integer|number"),
        (
            '{"type": "hello", "since": 123456789012345678901234567890}',
            r"hello\.since: must be at most",
        ),
        ('{"type": "hello", "channels": ["everything"]}', r"hello\.channels"),
        ('{"type": "status", "id": "a", "city": "Paris", "state": "live"}', r"status\.city"),
        (
            '{"type": "status", "id": "a", "city": ["paris"], "state": "live"}',
            r"status\.city: must be a string",
        ),
        (
            '{"type": "status", "id": "a", "city": "paris", "state": "live", "note": "\\ud800"}',
            r"status\.note: .*surrogate",
        ),
        (
            '{"type": "status", "id": "a", "city": "paris", "state": "live", "note": "a\\u0007b"}',
            r"status\.note: .*control",
        ),
        (
            '{"type": "status", "id": "a", "city": "paris", "state": "live", "extra": 1}',
            r"status\.extra: unknown field",
        ),
        ('{"type": "cue", "id": "a", "city": "paris", "action": "goto"}', r"cue\.index: missing"),
        (
            '{"type": "cue", "id": "a", "city": "paris", "action": "next", "index": 3}',
            r"cue\.index: only allowed",
        ),
        ('{"type": "cue", "id": "a", "city": "paris", "action": "jump"}', r"cue\.action"),
        ('"just a string"', "JSON object"),
        ('{"id": "a"}', "missing field 'type'"),
    ],
)
def test_invalid_messages_name_the_problem(raw: str, pattern: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_message(raw)
    assert info.value.code == "invalid"
    assert re.search(pattern, info.value.message), info.value.message


def test_note_keeps_line_breaks_and_is_bounded() -> None:
    msg = parse(
        {"type": "status", "id": "a", "city": "paris", "state": "live", "note": "line 1\r\nline 2"}
    )
    assert isinstance(msg, StatusCommand)
    assert msg.note == "line 1\nline 2"
    with pytest.raises(ProtocolError, match="longer than 280"):
        parse({"type": "status", "id": "a", "city": "paris", "state": "live", "note": "x" * 281})


def test_size_limit() -> None:
    with pytest.raises(ProtocolError, match="limit is 4096"):
        parse({"type": "hello", "token": "x" * 5000})


def test_the_error_carries_the_command_id() -> None:
    with pytest.raises(ProtocolError) as info:
        parse({"type": "status", "id": "c-9", "city": "paris", "state": "nope"})
    assert info.value.id == "c-9"


def test_channels_filter() -> None:
    assert protocol.wants(None, "status:paris")
    assert protocol.wants(("cues:paris",), "cues:paris")
    assert not protocol.wants(("cues:paris",), "status:paris")
    assert not protocol.wants(("cues:paris",), "cues:berlin")
    assert protocol.wants(("status:*",), "status:berlin")


def test_docs_describe_every_message_type_and_error_code() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    for name in (*protocol.CLIENT_TYPES, *protocol.SERVER_TYPES, *protocol.ERROR_CODES):
        assert f"`{name}`" in doc, f"docs/protocol.md does not describe `{name}`"


def test_a_ping_may_carry_the_clients_time() -> None:
    """``t`` is echoed by the pong, for the client's round-trip clock estimate."""
    assert parse({"type": "ping", "t": 1764582652123}) == Ping(t=1764582652123)
    assert parse({"type": "ping", "t": 1764582652123.25}) == Ping(t=1764582652123.25)
    for bad, problem in ((-1, "at least 0"), ("now", "a number"), (True, "a number")):
        with pytest.raises(ProtocolError, match=rf"ping\.t: .*{problem}"):
            parse({"type": "ping", "t": bad})
    with pytest.raises(ProtocolError, match=r"ping\.x: unknown field"):
        parse({"type": "ping", "x": 1})
