"""The websocket protocol: client messages parsed and validated once, server messages built.

No I/O. Every rule a message must follow is checked here, at the boundary, and a broken
message becomes a :class:`ProtocolError` whose message names the message type and the field.
The message types are declared in :data:`CLIENT_TYPES` and :data:`SERVER_TYPES`; a test checks
that docs/protocol.md describes each one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coordinator.cue_state import CHANNELS, CUE_ACTIONS, ChannelName, CueAction
from coordinator.overrides import CityOverride
from coordinator.rules import State

MAX_MESSAGE_BYTES = 4096
MAX_DEPTH = 8
MAX_NOTE_CHARS = 280
MAX_ID_CHARS = 64
MAX_INT = 2**53  # beyond this, JavaScript clients cannot hold the number exactly

CLIENT_TYPES = ("hello", "status", "cue", "ping")
SERVER_TYPES = ("welcome", "snapshot", "event", "ack", "error", "pong", "service")
ERROR_CODES = (
    "invalid",
    "unauthorized",
    "forbidden",
    "conflict",
    "not_found",
    "rate_limited",
    "unavailable",
)

_TOPIC_RE = re.compile(r"^(status|cues|rehearsal):(\*|[a-z0-9-]{1,40})$")
# Control characters other than a line break have no business in a note, and lone surrogates
# cannot be encoded as UTF-8 at all; both are refused rather than stored.
_FORBIDDEN_CHARS_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class ProtocolError(Exception):
    """A message that breaks the protocol; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, message: str, *, code: str = "invalid", id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id


@dataclass(frozen=True)
class Hello:
    token: str | None = None
    since: int | None = None
    epoch: str | None = None
    # The subscription topics; the JSON field is "channels". None: every topic.
    topics: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StatusCommand:
    id: str
    city: str
    state: State
    note: str | None = None
    delay_minutes: int | None = None


@dataclass(frozen=True)
class CueCommand:
    id: str
    city: str
    action: CueAction
    index: int | None = None
    expected_from: int | None = None
    channel: ChannelName = "live"
    target: str | None = None  # the city to follow


@dataclass(frozen=True)
class Ping:
    # The client's own clock when it sent the ping, echoed by the pong: with the pong's
    # server_time, one round trip of the client's clock-offset estimate.
    t: float | None = None


@dataclass(frozen=True)
class ScheduleCommand:
    """An admin's schedule edit (``PATCH /api/cities/{city}``): no websocket message carries
    it, but it takes the one command path (token, rate limit, the store's log and audit)."""

    id: str
    city: str
    override: CityOverride


ClientMessage = Hello | StatusCommand | CueCommand | Ping
Command = StatusCommand | CueCommand | ScheduleCommand


# -- parsing -----------------------------------------------------------------------------------


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ProtocolError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a number JSON allows")


def _check_depth(value: Any, depth: int = 1) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def decode_json(text: str | bytes) -> Any:
    """Parse strict JSON: bounded size and depth, no NaN/Infinity, no duplicate keys."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
    return decode_json_document(text)


def decode_json_document(text: str | bytes) -> Any:
    """Strict JSON as :func:`decode_json`, without the message size limit (for uploads whose
    size the caller bounds)."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError(f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeError) as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    _check_depth(value)
    return value


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client frame into a typed message, or raise :class:`ProtocolError`."""
    raw = decode_json(text)
    if not isinstance(raw, dict):
        raise ProtocolError("a message must be a JSON object with a 'type'")
    return parse_client_object(raw)


def echoable_id(value: Any) -> str | None:
    """The id an answer may repeat: a text id, or None. A lone surrogate is valid JSON
    (``"\\ud800"``) but no UTF-8 text, so an answer repeating it could not be sent at all;
    control characters are refused in ids as in notes."""
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS or _FORBIDDEN_CHARS_RE.search(value):
        return None
    return value


def parse_client_object(raw: dict[str, Any]) -> ClientMessage:
    """Validate an already decoded message object (also used for HTTP command bodies)."""
    msg_type = raw.get("type")
    command_id = echoable_id(raw.get("id"))
    reader = _Fields(raw, str(msg_type), command_id)
    if msg_type == "hello":
        reader.only("type", "token", "since", "epoch", "channels")
        topics = reader.topics("channels")
        return Hello(
            token=reader.text("token", required=False, max_chars=256),
            since=reader.integer("since", required=False, minimum=0),
            epoch=reader.text("epoch", required=False, max_chars=64),
            topics=topics,
        )
    if msg_type == "status":
        reader.only("type", "id", "city", "state", "note", "delay_minutes")
        state_name = reader.text("state", max_chars=32)
        try:
            state = State(state_name)
        except ValueError:
            raise reader.error(
                "state", f"{state_name!r} is not one of {', '.join(s.value for s in State)}"
            ) from None
        return StatusCommand(
            id=reader.command_id(),
            city=reader.city(),
            state=state,
            note=reader.note("note"),
            delay_minutes=reader.integer("delay_minutes", required=False, minimum=1, maximum=1440),
        )
    if msg_type == "cue":
        reader.only("type", "id", "city", "action", "index", "from", "channel", "target")
        action = reader.text("action", max_chars=16)
        if action not in CUE_ACTIONS:
            raise reader.error("action", f"{action!r} is not one of {', '.join(CUE_ACTIONS)}")
        index = reader.integer("index", required=action == "goto", minimum=0)
        if index is not None and action != "goto":
            raise reader.error("index", "only allowed with action 'goto'")
        channel = reader.text("channel", required=False, max_chars=16) or "live"
        if channel not in CHANNELS:
            raise reader.error("channel", f"{channel!r} is not one of {', '.join(CHANNELS)}")
        target = reader.city_field("target", required=action == "follow")
        if target is not None and action != "follow":
            raise reader.error("target", "only allowed with action 'follow'")
        if channel != "live" and action in ("follow", "unfollow"):
            raise reader.error("channel", "only live channels follow other cities")
        return CueCommand(
            id=reader.command_id(),
            city=reader.city(),
            action=action,  # checked against CUE_ACTIONS above
            index=index,
            expected_from=reader.integer("from", required=False, minimum=0),
            channel=channel,
            target=target,
        )
    if msg_type == "ping":
        reader.only("type", "t")
        return Ping(t=reader.number("t"))
    if msg_type is None:
        raise ProtocolError("missing field 'type'", id=command_id)
    raise ProtocolError(
        f"unknown message type {str(msg_type)[:40]!r} (expected one of {', '.join(CLIENT_TYPES)})",
        id=command_id,
    )


class _Fields:
    """Reads typed fields out of a message object; errors name the type and the field."""

    def __init__(self, raw: dict[str, Any], msg_type: str, command_id: str | None) -> None:
        self.raw = raw
        self.msg_type = msg_type
        self.id = command_id

    def error(self, field: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.msg_type}.{field}: {problem}", id=self.id)

    def only(self, *allowed: str) -> None:
        for key in self.raw:
            if key not in allowed:
                raise self.error(key, f"unknown field (allowed: {', '.join(allowed)})")

    def text(self, field: str, *, required: bool = True, max_chars: int) -> Any:
        value = self.raw.get(field)
        if value is None:
            if required:
                raise self.error(field, "missing")
            return None
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, not {type(value).__name__}")
        if len(value) > max_chars:
            raise self.error(field, f"longer than {max_chars} characters")
        if _FORBIDDEN_CHARS_RE.search(value):
            raise self.error(field, "contains a control character or an unpaired surrogate")
        return value

    def integer(
        self,
        field: str,
        *,
        required: bool,
        minimum: int | None = None,
        maximum: int = MAX_INT,
    ) -> int | None:
        value = self.raw.get(field)
        if value is None:
            if required:
                raise self.error(field, "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, f"must be an integer, not {type(value).__name__}")
        if minimum is not None and value < minimum:
            raise self.error(field, f"must be at least {minimum}")
        if value > maximum:
            raise self.error(field, f"must be at most {maximum}")
        return value

    def number(self, field: str) -> float | None:
        """An optional finite number, 0 to 2**53 (JSON has no NaN: decode_json refused it)."""
        value = self.raw.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(field, f"must be a number, not {type(value).__name__}")
        if value < 0:
            raise self.error(field, "must be at least 0")
        if value > MAX_INT:
            raise self.error(field, f"must be at most {MAX_INT}")
        return value

    def command_id(self) -> str:
        value = self.text("id", max_chars=MAX_ID_CHARS)
        if not value.strip():
            raise self.error("id", "must not be empty")
        return str(value)

    def city(self) -> str:
        value = self.city_field("city", required=True)
        assert value is not None
        return value

    def city_field(self, field: str, *, required: bool) -> str | None:
        value = self.text(field, required=required, max_chars=40)
        if value is None:
            return None
        if not re.fullmatch(r"[a-z0-9-]{1,40}", value):
            raise self.error(field, f"{value!r} is not a city id")
        return str(value)

    def note(self, field: str) -> str | None:
        value = self.raw.get(field)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, not {type(value).__name__}")
        if _FORBIDDEN_CHARS_RE.search(value.replace("\r\n", "\n")):
            raise self.error(field, "contains a control character or an unpaired surrogate")
        note = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
        if len(note) > MAX_NOTE_CHARS:
            raise self.error(field, f"longer than {MAX_NOTE_CHARS} characters")
        return note

    def topics(self, field: str) -> tuple[str, ...] | None:
        value = self.raw.get(field)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > 32:
            raise self.error(field, 'must be a list such as ["cues:paris", "status:*"]')
        for item in value:
            if not isinstance(item, str) or not _TOPIC_RE.match(item):
                raise self.error(
                    field,
                    f"{str(item)[:60]!r} is not a topic (status:CITY, cues:CITY, rehearsal:CITY, or :*)",
                )
        return tuple(value)


# -- server messages ---------------------------------------------------------------------------


def encode(message: dict[str, Any]) -> str:
    """Serialise a server message once; the same text goes to every recipient."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def error_message(error: ProtocolError) -> dict[str, Any]:
    return {"type": "error", "id": error.id, "code": error.code, "message": error.message}


def iso_ms(instant: datetime) -> str:
    """ISO 8601 in UTC to the millisecond: ``2025-09-20T12:00:00.250Z`` (the clock fields)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def pong_message(ping: Ping, now: datetime) -> dict[str, Any]:
    """The answer to a ping: the server's time, and the ping's ``t`` when it had one."""
    message: dict[str, Any] = {"type": "pong", "server_time": iso_ms(now)}
    if ping.t is not None:
        message["t"] = ping.t
    return message


def ack_message(command_id: str, seq: int) -> dict[str, Any]:
    return {"type": "ack", "id": command_id, "seq": seq}


def service_message(available: bool) -> dict[str, Any]:
    """Whether this server can take commands now (``ok``) or not (``degraded``: its store is
    unreachable or failing over; what the client holds stays the last known state)."""
    return {"type": "service", "state": "ok" if available else "degraded"}


def topic_of(kind: str, city: str, cue_channel: str = "live") -> str:
    """The topic an event is published on: live cue changes on ``cues:CITY``, rehearsal ones
    on ``rehearsal:CITY``, the rest on ``status:CITY``."""
    if kind != "cue":
        return f"status:{city}"
    return f"{'rehearsal' if cue_channel == 'rehearsal' else 'cues'}:{city}"


def wants(topics: tuple[str, ...] | None, topic: str) -> bool:
    """Whether a client that asked for ``topics`` receives events of ``topic``. Without a
    choice a client gets everything but rehearsals, which only go to those who ask."""
    if topics is None:
        return not topic.startswith("rehearsal:")
    family = topic.split(":", 1)[0]
    return topic in topics or f"{family}:*" in topics
