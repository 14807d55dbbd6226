"""Open Sound Control, for GO from QLab, Bitfocus Companion or anything that speaks OSC.
Parsing is pure; :class:`OscServer` is the thin UDP edge.

Addresses (the first argument is always the operator's token, the shared secret)::

    /coordinator/{city}/go      TOKEN [FROM]     next cue (FROM: only if the cue is still FROM)
    /coordinator/{city}/back    TOKEN            previous cue
    /coordinator/{city}/blank   TOKEN            blank the screens
    /coordinator/{city}/unblank TOKEN
    /coordinator/{city}/goto    TOKEN N          show cue N
    /coordinator/{city}/freeze  TOKEN
    /coordinator/{city}/release TOKEN

A message without a valid token does nothing (and is logged without its arguments). FROM and
N may be integers, whole floats or strings of digits (QLab sends a quoted argument as a
string); any other argument, an extra one, NaN or infinity refuses the message. Refusals are
logged at most once a second, with a count of those not logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from coordinator.protocol import CueCommand

log = logging.getLogger("coordinator.osc")

ACTIONS = {
    "go": "next",
    "back": "prev",
    "blank": "blank",
    "unblank": "unblank",
    "goto": "goto",
    "freeze": "freeze",
    "release": "release",
}
_ADDRESS_RE = re.compile(r"^/coordinator/([a-z0-9-]{1,40})/([a-z]+)$")
MAX_PACKET_BYTES = 1024


class OscError(ValueError):
    """A packet that is not OSC, or not one of our messages."""


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[int | float | str, ...]


def _string(data: bytes, offset: int) -> tuple[str, int]:
    end = data.find(b"\0", offset)
    if end < 0:
        raise OscError("unterminated string")
    text = data[offset:end].decode("utf-8", errors="strict")
    return text, (end + 4) & ~3  # past the NUL, padded to a multiple of 4


def parse_packet(data: bytes) -> list[OscMessage]:
    """The messages of an OSC packet (a message or a bundle of them). Raises OscError."""
    if len(data) > MAX_PACKET_BYTES:
        raise OscError("packet too large")
    try:
        if data.startswith(b"#bundle\0"):
            messages = []
            offset = 16  # "#bundle\0" and the 8-byte time tag
            while offset < len(data):
                (size,) = struct.unpack_from(">i", data, offset)
                if size <= 0 or offset + 4 + size > len(data):
                    raise OscError("bad bundle element size")
                messages.extend(parse_packet(data[offset + 4 : offset + 4 + size]))
                offset += 4 + size
            return messages
        address, offset = _string(data, 0)
        if not address.startswith("/"):
            raise OscError("not an OSC message")
        tags = ","
        if offset < len(data):
            tags, offset = _string(data, offset)
        args: list[int | float | str] = []
        for tag in tags[1:]:
            if tag == "i":
                args.append(struct.unpack_from(">i", data, offset)[0])
                offset += 4
            elif tag == "f":
                args.append(struct.unpack_from(">f", data, offset)[0])
                offset += 4
            elif tag == "s":
                text, offset = _string(data, offset)
                args.append(text)
            else:
                raise OscError(f"unsupported argument type {tag!r}")
        return [OscMessage(address, tuple(args))]
    except (struct.error, UnicodeDecodeError) as exc:
        raise OscError(f"malformed packet: {exc}") from None


def to_command(message: OscMessage) -> tuple[str, CueCommand]:
    """The token and the cue command an OSC message asks for. Raises OscError."""
    match = _ADDRESS_RE.match(message.address)
    if match is None or match.group(2) not in ACTIONS:
        raise OscError(f"unknown address {message.address[:80]!r}")
    city, verb = match.groups()
    if not message.args or not isinstance(message.args[0], str):
        raise OscError("the first argument must be the operator's token")
    token, rest = message.args[0], message.args[1:]
    takes_number = verb in ("go", "goto")
    if len(rest) > (1 if takes_number else 0):
        extra = ", ".join(repr(a) for a in rest[1 if takes_number else 0 :])[:60]
        raise OscError(f"{verb} takes {'one cue number' if takes_number else 'no argument'} "
                       f"after the token, not {extra}")  # fmt: skip
    number = cue_number(rest[0]) if rest else None
    command_id = "osc-" + secrets.token_hex(6)
    if verb == "goto":
        if number is None:
            raise OscError("goto needs a cue number")
        return token, CueCommand(id=command_id, city=city, action="goto", index=number)
    action = ACTIONS[verb]
    return token, CueCommand(
        id=command_id,
        city=city,
        action=action,  # type: ignore[arg-type]  # the values of ACTIONS are cue actions
        expected_from=number,
    )


def cue_number(arg: int | float | str) -> int:
    """A cue number from an OSC argument: an int, a whole finite float, or a string of digits
    (what QLab sends for a quoted argument). Raises OscError for anything else."""
    if isinstance(arg, str):
        if not re.fullmatch(r"[0-9]{1,9}", arg.strip()):
            raise OscError(f"{arg[:20]!r} is not a cue number")
        return int(arg.strip())
    if isinstance(arg, float):
        if not math.isfinite(arg) or not arg.is_integer():
            raise OscError(f"{arg!r} is not a cue number")
        arg = int(arg)
    if arg < 0:
        raise OscError(f"{arg} is not a cue number")
    return arg


class RefusalLog:
    """Logs refused datagrams at most once per ``interval_s``, with how many were refused
    meanwhile: a flood of junk cannot flood the log."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.last_logged_s = -math.inf
        self.unlogged = 0

    def refused(self, now_s: float, source: object, cause: str) -> str | None:
        """The line to log for this refusal, or None while within the interval."""
        if now_s - self.last_logged_s < self.interval_s:
            self.unlogged += 1
            return None
        more = f" (and {self.unlogged} more refused since the last line)" if self.unlogged else ""
        self.last_logged_s, self.unlogged = now_s, 0
        return f"osc refused from {source}: {cause}{more}"


# (token, command) -> "ack" or the refusal's error code, for the log line
Handler = Callable[[str, CueCommand], Awaitable[str]]


class OscServer(asyncio.DatagramProtocol):
    """Receives OSC over UDP and hands each command to ``handler`` (token, command)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.tasks: set[asyncio.Task[None]] = set()
        self.refusals = RefusalLog()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            commands = [to_command(m) for m in parse_packet(data)]
        except OscError as exc:
            line = self.refusals.refused(time.monotonic(), addr[0], str(exc))
            if line is not None:
                log.info("%s", line)
            return
        for token, command in commands:
            task = asyncio.get_running_loop().create_task(self._run(token, command, addr))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, token: str, command: CueCommand, addr: tuple[str | object, ...]) -> None:
        result = await self.handler(token, command)
        log.info("osc %s %s from %s: %s", command.city, command.action, addr[0], result)


def encode_message(address: str, *args: int | float | str) -> bytes:
    """An OSC message as bytes (for tests, and as a reference for integrators)."""

    def pad(raw: bytes) -> bytes:
        raw += b"\0"
        return raw + b"\0" * (-len(raw) % 4)

    tags = "," + "".join(
        "i" if isinstance(a, int) else "f" if isinstance(a, float) else "s" for a in args
    )
    body = pad(address.encode()) + pad(tags.encode())
    for arg in args:
        if isinstance(arg, int):
            body += struct.pack(">i", arg)
        elif isinstance(arg, float):
            body += struct.pack(">f", arg)
        else:
            body += pad(arg.encode())
    return body
