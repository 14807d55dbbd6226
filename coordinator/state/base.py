"""The store: one small interface, one file per backend.

A store holds the live state (each city's status and cue position), an ordered event log with
a ``seq`` that rises by one per change, and an ``epoch`` naming that history. It applies
commands atomically through the core's rules and tells its listeners about each new event,
in ``seq`` order, after the event is durable. It knows nothing about sockets.

The pure planning functions here (:func:`plan_status`, :func:`plan_cue`) are shared by every
backend, so the rules cannot drift between them.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from coordinator import cues, protocol, views
from coordinator.channels import Channels, plan_cue_command, summary
from coordinator.config import Config
from coordinator.protocol import Command, CueCommand, StatusCommand
from coordinator.rules import Actor, CityStatus, RuleError, State, apply_status
from coordinator.schedule import iso_utc, parse_iso_utc

EventKind = Literal["status", "presence", "cue"]
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
    # What the city's staff receive instead of ``data`` (cue events: the operator's view).
    staff: Mapping[str, Any] | None = None
    # False: only the city's staff receive it (moves of a frozen channel).
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

    def staff_message(self) -> dict[str, Any]:
        """The event as the city's staff receive it."""
        return {**self.message(), **(self.staff or {})}

    def hidden_message(self) -> dict[str, Any]:
        """What a client following every channel gets of an event it may not see (a frozen
        channel's move): its number only, so its seq stays contiguous and a real gap is
        still a gap."""
        return {**self._header(), "channel": self.data.get("channel", "live"), "hidden": True}

    @property
    def channel(self) -> str:
        return protocol.channel_of(self.kind, self.city, str(self.data.get("channel", "live")))


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
        }


@dataclass(frozen=True)
class Snapshot:
    epoch: str
    seq: int
    statuses: Mapping[str, CityStatus]
    online: Mapping[str, bool]
    channels: Channels


@dataclass(frozen=True)
class Outcome:
    """The result of an accepted command: ``seq`` of its first event, and the events it made.
    ``events`` is empty when the command id was seen before (a retry): it is acknowledged
    again with its original ``seq`` and changes nothing."""

    seq: int
    events: list[StoredEvent]


@dataclass(frozen=True)
class PlannedEvent:
    kind: EventKind
    city: str
    data: dict[str, Any]
    staff: dict[str, Any] | None = None
    audience: bool = True

    def stored(self, seq: int, at: datetime) -> StoredEvent:
        return StoredEvent(
            seq=seq,
            kind=self.kind,
            city=self.city,
            at=at,
            data=self.data,
            staff=self.staff,
            audience=self.audience,
        )


@dataclass(frozen=True)
class Plan:
    """What one accepted command changes; a backend writes all of it atomically: the events
    (numbered in order from the next seq), the new state, the cue log lines, and one audit
    entry carrying the first event's seq."""

    events: list[PlannedEvent]
    city: str
    kind: str
    audit_before: str
    audit_after: str
    note: str
    status: CityStatus | None = None
    cue_key: str | None = None
    cue_state: cues.CueState | None = None
    cue_log: list[tuple[str, int, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class ScriptUpload:
    """A script uploaded over HTTP, kept by the store so it survives restarts and reaches
    every process: its format, its text (one per language for SRT/VTT) and its version."""

    kind: str
    files: Mapping[str, str]
    version: str

    def parse(self, city: str) -> cues.Script:
        return cues.parse_upload(self.kind, self.files, name=f"{city}-upload")

    def as_json(self) -> str:
        return json.dumps({"kind": self.kind, "files": dict(self.files), "version": self.version})

    @classmethod
    def from_json(cls, text: str | bytes) -> ScriptUpload:
        data = json.loads(text)
        return cls(kind=data["kind"], files=data["files"], version=data["version"])


Listener = Callable[[StoredEvent], Awaitable[None]]
ResetListener = Callable[[], Awaitable[None]]


class Store(abc.ABC):
    """The interface every backend implements; see the module docstring for the promises."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.scripts: dict[str, cues.Script] = {}
        self._listeners: list[Listener] = []
        self._reset_listeners: list[ResetListener] = []

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
    async def cue_log(self, city: str) -> list[cues.CueLogEntry]: ...

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
    async def set_presence(self, city: str, online: bool, now: datetime) -> StoredEvent | None:
        """Record that a city's coordinator came online or went offline (None: no change)."""

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

    # -- shared helpers -----------------------------------------------------------------------

    def set_script(self, city: str, script: cues.Script | None) -> None:
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
        cue_states: Mapping[str, cues.CueState],
    ) -> Plan:
        """Check and compute a command's effect from the current state (pure); raises
        ``RuleError``. ``cue_states`` holds every channel's stored state, by channel key."""
        city = self.config.city(command.city)
        if city is None:
            raise RuleError("not_found", f"no city {command.city!r} in this event")
        if isinstance(command, StatusCommand):
            return plan_status(command, actor, now, status, city.start_utc)
        return plan_cue(command, actor, Channels(cue_states, dict(self.scripts)), self.city_ids)

    @property
    def city_ids(self) -> frozenset[str]:
        return frozenset(self.config.city_ids)

    def channels(self, cue_states: Mapping[str, cues.CueState]) -> Channels:
        return Channels(dict(cue_states), dict(self.scripts))


def command_key(actor: Actor, command_id: str) -> str:
    """Idempotency key: the same ``id`` from the same token is one command."""
    return f"{actor.role.value}:{actor.name}:{command_id}"


def plan_status(
    command: StatusCommand,
    actor: Actor,
    now: datetime,
    current: CityStatus,
    scheduled_start_utc: datetime,
) -> Plan:
    new = apply_status(
        current,
        city=command.city,
        scheduled_start_utc=scheduled_start_utc,
        actor=actor,
        state=command.state,
        note=command.note,
        delay_minutes=command.delay_minutes,
        now=now,
    )
    return Plan(
        events=[PlannedEvent(kind="status", city=command.city, data=views.status_fields(new))],
        city=command.city,
        kind="status",
        audit_before=current.state.value,
        audit_after=new.state.value,
        note=new.note,
        status=new,
    )


def plan_cue(
    command: CueCommand, actor: Actor, channels: Channels, known_cities: frozenset[str]
) -> Plan:
    cue_plan = plan_cue_command(command, actor, channels, known_cities)
    action = command.action + (f" {command.target}" if command.target else "")
    return Plan(
        events=[
            PlannedEvent(kind="cue", city=e.city, data=e.data, staff=e.staff, audience=e.audience)
            for e in cue_plan.events
        ],
        city=command.city,
        kind="cue" if command.channel == "live" else f"cue {command.channel}",
        audit_before=summary(cue_plan.before),
        audit_after=summary(cue_plan.after),
        note=action,
        cue_key=cue_plan.key,
        cue_state=cue_plan.after,
        cue_log=cue_plan.log,
    )


def presence_plan(city: str, online: bool) -> Plan:
    return Plan(
        events=[PlannedEvent(kind="presence", city=city, data={"online": online})],
        city=city,
        kind="presence",
        audit_before="",
        audit_after="",
        note="",
    )


# -- serialisation shared by the backends ------------------------------------------------------


def _iso_or_none(value: datetime | None) -> str | None:
    return iso_utc(value) if value else None


def _dt_or_none(value: str | None) -> datetime | None:
    return parse_iso_utc(value) if value else None


def status_to_record(status: CityStatus) -> dict[str, Any]:
    """Everything a backend keeps of a status, as JSON-ready data."""
    return {
        "state": status.state.value,
        "note": status.note,
        "delay_minutes": status.delay_minutes,
        "expected_start_utc": _iso_or_none(status.expected_start_utc),
        "updated_at": _iso_or_none(status.updated_at),
        "calendar_revision": status.calendar_revision,
        "calendar_changed_at": _iso_or_none(status.calendar_changed_at),
    }


def status_from_record(data: Mapping[str, Any]) -> CityStatus:
    return CityStatus(
        state=State(data["state"]),
        note=str(data.get("note", "")),
        delay_minutes=int(data.get("delay_minutes", 0)),
        expected_start_utc=_dt_or_none(data.get("expected_start_utc")),
        updated_at=_dt_or_none(data.get("updated_at")),
        calendar_revision=int(data.get("calendar_revision", 0)),
        calendar_changed_at=_dt_or_none(data.get("calendar_changed_at")),
    )
