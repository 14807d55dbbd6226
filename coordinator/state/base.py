"""The store: one small interface, one file per backend.

A store holds the live state (each city's status and cue position), an ordered event log with
a ``seq`` that rises by one per change, and an ``epoch`` naming that history. It applies
commands atomically through the core's rules and tells its listeners about each new event,
in ``seq`` order, after the event is durable. It knows nothing about sockets.

What a command changes is computed by the pure planning in :mod:`coordinator.plans`, shared
by every backend so the rules cannot drift between them; how each thing is stored is
:mod:`coordinator.state.records`. This module is only the interface and the types that cross it.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coordinator import protocol, scripts
from coordinator.auth import TokenRecord
from coordinator.channels import CueBoard
from coordinator.config import Config
from coordinator.connections import ProcessCounts, total_phones
from coordinator.cue_log import CueLogEntry
from coordinator.cue_state import CueState
from coordinator.overrides import CityOverride, effective
from coordinator.plans import EventKind, Plan, PlannedEvent, plan_cue, plan_schedule, plan_status
from coordinator.protocol import Command, ScheduleCommand, StatusCommand
from coordinator.rules import Actor, CityStatus, RuleError
from coordinator.schedule import iso_utc

# How far back a reconnecting client may ask to be replayed; older gaps get a snapshot.
MAX_REPLAY_EVENTS = 1000


class StoreError(RuntimeError):
    """The store cannot be opened or used; the message says what to do."""


class StoreUnavailable(StoreError):
    """The backend is unreachable right now; commands are refused, not half-applied."""


@dataclass(frozen=True)
class StoredEvent:
    """One change, as kept in the log and sent to clients."""

    seq: int
    kind: EventKind
    city: str
    at: datetime
    data: Mapping[str, Any]
    # What the city's operators receive instead of ``data`` (cue events: the operator's view).
    operator_data: Mapping[str, Any] | None = None
    # False: only the city's operators receive it (moves of a frozen channel).
    audience: bool = True

    def _header(self) -> dict[str, Any]:
        return {
            "type": "event",
            "seq": self.seq,
            "kind": self.kind,
            "city": self.city,
            "at": iso_utc(self.at),
        }

    def message(self) -> dict[str, Any]:
        """The event as the audience receives it."""
        return {**self._header(), **self.data}

    def operator_message(self) -> dict[str, Any]:
        """The event as the city's operators (and other staff of the city) receive it."""
        return {**self.message(), **(self.operator_data or {})}

    def hidden_message(self) -> dict[str, Any]:
        """What a client following every topic gets of an event it may not see (a frozen
        channel's move): its number only, so its seq stays contiguous and a real gap is
        still a gap."""
        return {**self._header(), "channel": self.data.get("channel", "live"), "hidden": True}

    @classmethod
    def planned(cls, event: PlannedEvent, seq: int, at: datetime) -> StoredEvent:
        """A planned event once the store has numbered and timed it."""
        return cls(
            seq=seq,
            kind=event.kind,
            city=event.city,
            at=at,
            data=event.data,
            operator_data=event.operator_data,
            audience=event.audience,
        )

    @property
    def topic(self) -> str:
        """The subscription topic the event is published on (``cues:paris``, ...)."""
        return protocol.topic_of(self.kind, self.city, str(self.data.get("channel", "live")))


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when. Written in the same transaction as the change."""

    seq: int
    at: datetime
    role: str
    actor: str
    city: str
    kind: str
    before: str
    after: str
    note: str
    command_id: str
    # The delay announced by a change to ``delayed`` (None for anything else, and in entries
    # written before it was kept).
    delay_minutes: int | None = None

    @classmethod
    def of_plan(
        cls, plan: Plan, seq: int, actor: Actor, command_id: str, at: datetime
    ) -> AuditEntry:
        """The audit entry of an accepted command, carrying its first event's ``seq``."""
        return cls(
            seq=seq,
            at=at,
            role=actor.role.value,
            actor=actor.name,
            city=plan.city,
            kind=plan.kind,
            before=plan.audit_before,
            after=plan.audit_after,
            note=plan.note,
            command_id=command_id,
            delay_minutes=plan.audit_delay_minutes,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso_utc(self.at),
            "role": self.role,
            "actor": self.actor,
            "city": self.city,
            "kind": self.kind,
            "from": self.before,
            "to": self.after,
            "note": self.note,
            "command_id": self.command_id,
            "delay_minutes": self.delay_minutes,
        }


@dataclass(frozen=True)
class Snapshot:
    epoch: str
    seq: int
    statuses: Mapping[str, CityStatus]
    online: Mapping[str, bool]
    board: CueBoard


@dataclass(frozen=True)
class Outcome:
    """The result of an accepted command: ``seq`` of its first event, and the events it made.
    ``events`` is empty when the command id was seen before (a retry): it is acknowledged
    again with its original ``seq`` and changes nothing."""

    seq: int
    events: list[StoredEvent]


@dataclass(frozen=True)
class ScriptUpload:
    """A script uploaded over HTTP, kept by the store so it survives restarts and reaches
    every process: its file format (csv, tsv, yaml, srt, vtt), its text (one per language for
    SRT/VTT) and its version."""

    format: str
    files: Mapping[str, str]
    version: str

    def parse(self, city: str) -> scripts.Script:
        return scripts.parse_upload(self.format, self.files, name=f"{city}-upload")


Listener = Callable[[StoredEvent], Awaitable[None]]
ResetListener = Callable[[], Awaitable[None]]
AvailabilityListener = Callable[[bool], Awaitable[None]]


class Store(abc.ABC):
    """The interface every backend implements; see the module docstring for the promises."""

    def __init__(self, config: Config) -> None:
        # The config as the file says it, the schedule edits stored over it (by city), and
        # the effective config every part of the process reads (``config``): one value,
        # replaced whole when an override arrives, this process's or (Redis) another's.
        self.file_config = config
        self.overrides: dict[str, CityOverride] = {}
        self.config = config
        self.scripts: dict[str, scripts.Script] = {}
        self._listeners: list[Listener] = []
        self._reset_listeners: list[ResetListener] = []
        self._availability_listeners: list[AvailabilityListener] = []
        # False while commands cannot be taken (the backend is unreachable, or cannot
        # confirm changes): viewers are told, /readyz answers 503.
        self.available = True
        self._local_counts = ProcessCounts()
        self._peaks_raised: dict[str, int] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and load; raise :class:`StoreError` with a clear message when impossible."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """Whether the store can take commands now (``/readyz``); the embedded one always can
        while it is open."""
        return True

    # -- reading ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def snapshot(self) -> Snapshot:
        """The whole current state, consistent with ``seq``."""

    @abc.abstractmethod
    async def events_since(self, seq: int) -> list[StoredEvent] | None:
        """Events after ``seq`` in order, or None when they are no longer kept (or ``seq`` is
        ahead of this history): the client then needs a snapshot."""

    @abc.abstractmethod
    async def audit(self, city: str | None = None) -> list[AuditEntry]: ...

    @abc.abstractmethod
    async def cue_log(self, city: str) -> list[CueLogEntry]: ...

    # -- writing ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def apply(self, command: Command, actor: Actor, now: datetime) -> Outcome:
        """Apply a command atomically through the rules, or raise ``RuleError`` and change
        nothing. The event is durable before this returns and before listeners hear of it."""

    @abc.abstractmethod
    async def save_script(self, city: str, upload: ScriptUpload) -> None:
        """Keep an uploaded script (replacing the config's) for every process and restart."""

    @abc.abstractmethod
    async def stored_scripts(self) -> dict[str, ScriptUpload]:
        """The uploaded scripts, by city."""

    @abc.abstractmethod
    async def stored_overrides(self) -> dict[str, CityOverride]:
        """The schedule overrides, by city, as stored now (``coordinator calendar`` reads
        them without taking them)."""

    @abc.abstractmethod
    async def set_presence(self, city: str, online: bool, now: datetime) -> StoredEvent | None:
        """Record that a city's coordinator came online or went offline (None: no change)."""

    # -- connection counts and the phones' peaks (GET /api/connections, the report) ------------

    async def share_counts(self, counts: ProcessCounts) -> None:
        """Publish this process's connection counts for :meth:`all_counts`, then raise each
        city's stored peak of phones to the phones connected now over every process (written
        only when a number passes what this process last raised it to). Raises
        :class:`StoreUnavailable` when the store cannot take it."""
        await self.publish_counts(counts)
        phones = total_phones(await self.all_counts())
        higher = {city: n for city, n in phones.items() if n > self._peaks_raised.get(city, 0)}
        if higher:
            await self.raise_peaks(higher)
            self._peaks_raised.update(higher)

    async def publish_counts(self, counts: ProcessCounts) -> None:
        """Keep this process's counts where :meth:`all_counts` finds them."""
        self._local_counts = counts

    async def all_counts(self) -> list[ProcessCounts]:
        """The last published counts of every live process sharing this store (one backend
        serves one process: its own)."""
        return [self._local_counts]

    @abc.abstractmethod
    async def raise_peaks(self, phones: Mapping[str, int]) -> None:
        """Keep, per city, the larger of the stored peak and ``phones[city]``; survives
        restarts and, over Redis, is shared by every process."""

    @abc.abstractmethod
    async def peaks(self) -> dict[str, int]:
        """The peak number of phones seen, by city (a city never seen with one is absent)."""

    # -- tokens (records.py: only hashes are kept) ---------------------------------------------

    async def open_tokens(self) -> None:
        """Open only what the token methods need, beside a server that may be running on the
        same store (the ``coordinator token`` commands); :meth:`close` closes it."""
        await self.open()

    @abc.abstractmethod
    async def tokens(self) -> list[TokenRecord]:
        """Every token in force, with when each was last used."""

    @abc.abstractmethod
    async def tokens_version(self) -> str:
        """A value that changes whenever a token is added or revoked (not when one is used)."""

    @abc.abstractmethod
    async def save_token(self, record: TokenRecord) -> None:
        """Add a token (its id is new)."""

    @abc.abstractmethod
    async def delete_token(self, token_id: str, now: datetime) -> bool:
        """Revoke a token for good (its id is remembered, so an import never brings it
        back); False when no token has that id."""

    @abc.abstractmethod
    async def import_tokens(self, records: list[TokenRecord]) -> list[TokenRecord]:
        """Add the records whose id the store has never held (in force or revoked); returns
        those added."""

    @abc.abstractmethod
    async def touch_tokens(self, used: Mapping[str, str]) -> None:
        """Record when tokens were last used (id -> ISO instant); unknown ids are ignored."""

    # -- listening ----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every new event, in ``seq`` order."""
        self._listeners.append(listener)

    async def _publish(self, event: StoredEvent) -> None:
        for listener in self._listeners:
            await listener(event)

    def on_reset(self, listener: ResetListener) -> None:
        """Call ``listener`` when the history is replaced (a new epoch): every client must
        then take a fresh snapshot."""
        self._reset_listeners.append(listener)

    async def _notify_reset(self) -> None:
        for listener in self._reset_listeners:
            await listener()

    def on_availability(self, listener: AvailabilityListener) -> None:
        """Call ``listener(available)`` each time :attr:`available` changes."""
        self._availability_listeners.append(listener)

    async def _set_available(self, available: bool) -> None:
        if available == self.available:
            return
        self.available = available
        for listener in self._availability_listeners:
            await listener(available)

    # -- shared helpers -----------------------------------------------------------------------

    def set_overrides(self, overrides: Mapping[str, CityOverride]) -> None:
        """Take the stored schedule overrides: ``config`` becomes the file's with them."""
        self.overrides = dict(overrides)
        self.config = effective(self.file_config, self.overrides)

    def set_script(self, city: str, script: scripts.Script | None) -> None:
        """Install (or remove) a city's cue script; positions are kept by the store."""
        if script is None:
            self.scripts.pop(city, None)
        else:
            self.scripts[city] = script

    def plan(
        self,
        command: Command,
        actor: Actor,
        now: datetime,
        status: CityStatus,
        cue_states: Mapping[str, CueState],
        override: CityOverride | None = None,
    ) -> Plan:
        """Check and compute a command's effect from the current state (pure); raises
        ``RuleError``. ``cue_states`` holds every channel's stored state, by cue key;
        ``override`` the command's city's stored schedule override (read with the state)."""
        file_city = self.file_config.city(command.city)
        if file_city is None:
            raise RuleError("not_found", f"no city {command.city!r} in this event")
        # The override read with the state wins over this process's copy, which may not have
        # heard of another process's edit yet.
        stored = dict(self.overrides)
        if override is not None:
            stored[command.city] = override
        if isinstance(command, StatusCommand):
            city = stored[command.city].apply(file_city) if command.city in stored else file_city
            return plan_status(command, actor, now, status, city.start_utc)
        if isinstance(command, ScheduleCommand):
            return plan_schedule(command, actor, now, status, self.file_config, stored)
        return plan_cue(command, actor, CueBoard(cue_states, dict(self.scripts)), self.city_ids)

    @property
    def city_ids(self) -> frozenset[str]:
        return frozenset(self.config.city_ids)

    def board(self, cue_states: Mapping[str, CueState]) -> CueBoard:
        surtitled = frozenset(c.id for c in self.config.cities if c.surtitles is not None)
        return CueBoard(dict(cue_states), dict(self.scripts), surtitled)
