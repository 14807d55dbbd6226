"""The one command path: every command, from a websocket, HTTP or OSC, goes through here.

:meth:`CommandService.execute` checks the token (known, not revoked), takes one unit of that
token's rate limit, hands the command to the store, and returns an :class:`Ack`, or raises
:class:`CommandError` with a protocol error code. The rate limit is per token and shared by
every path on this process, so a leaked token cannot flood by switching transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordinator import protocol
from coordinator.auth import TokenBook, TokenRecord
from coordinator.clock import SteadyClock
from coordinator.limits import Limits, TokenBucket
from coordinator.protocol import Command
from coordinator.rules import Actor, Role, RuleError
from coordinator.state.base import Store, StoreUnavailable

PUBLIC = Actor(role=Role.PUBLIC)


@dataclass(frozen=True)
class Ack:
    """An accepted command: its id and the seq of the (first) event it made."""

    id: str
    seq: int

    def message(self) -> dict[str, Any]:
        return protocol.ack_message(self.id, self.seq)


class CommandError(Exception):
    """A refused command: a protocol error ``code`` (docs/protocol.md) and a message that
    names what is wrong."""

    def __init__(self, code: str, message: str, command_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = command_id

    def as_message(self) -> dict[str, Any]:
        """The ``error`` message the websocket protocol sends."""
        return error_message(self.id, self.code, self.message)


def error_message(command_id: str | None, code: str, message: str) -> dict[str, Any]:
    """The protocol's one error shape, on the websocket and over HTTP."""
    return {"type": "error", "id": command_id, "code": code, "message": message}


class CommandService:
    """Authentication, the per-token rate limit, and execution through the store."""

    def __init__(self, store: Store, tokens: TokenBook, limits: Limits) -> None:
        self.store = store
        self.tokens = tokens
        self.limits = limits
        self._buckets: dict[str, TokenBucket] = {}
        self.clock = SteadyClock()  # a change's time: the cue log's times never run back

    def authenticate(self, token: str | None) -> TokenRecord | None:
        """The record of a known, unrevoked token; None for no token or an unknown one."""
        if not token:
            return None
        return self.tokens.lookup(token)

    async def authenticate_fresh(self, token: str | None) -> TokenRecord | None:
        """:meth:`authenticate`, and for a token not known here a look at the store (shared by
        every miss meanwhile): a token made a moment ago on another process signs in at once,
        on the websocket and over HTTP alike."""
        if not token:
            return None
        return await self.tokens.lookup_fresh(token)

    def take_rate(self, record: TokenRecord) -> bool:
        """Spend one unit of the token's shared rate; False when it is used up."""
        bucket = self._buckets.get(record.id)
        if bucket is None:
            bucket = TokenBucket(self.limits.staff_rate_per_s, self.limits.staff_burst)
            self._buckets[record.id] = bucket
        return bucket.take()

    async def execute(self, command: Command, record: TokenRecord | None) -> Ack:
        """Run one command for a token holder (None: an anonymous client). Raises
        :class:`CommandError`: ``unauthorized`` (revoked), ``rate_limited``, the rules'
        codes, or ``unavailable`` when the store cannot take it (nothing was changed)."""
        if record is not None:
            if not self.tokens.is_valid(record):
                raise CommandError("unauthorized", "this token has been revoked", command.id)
            if not self.take_rate(record):
                raise CommandError("rate_limited", "too many commands; slow down", command.id)
        actor = record.actor() if record is not None else PUBLIC
        try:
            outcome = await self.store.apply(command, actor, self.clock.now())
        except RuleError as exc:
            raise CommandError(exc.code, exc.message, command.id) from None
        except StoreUnavailable as exc:
            raise CommandError("unavailable", str(exc), command.id) from None
        return Ack(command.id, outcome.seq)
