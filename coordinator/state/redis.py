"""The scale-out store: state, events and idempotency keys in Redis, shared by every process.

- Each command is applied with optimistic locking (``WATCH`` the sequence counter, read, check
  the rules in Python, then ``MULTI``/``EXEC`` the new state, the event and the audit entry), so
  the core's rules hold across processes and two GOs with the same ``from`` advance once.
- Events go to a Redis Stream whose entry ids are ``{seq}-0``: the stream's order is the
  protocol's order, and ``since`` is answered with one ``XRANGE``. Every process reads the stream
  and fans out to its own clients. The stream is trimmed to about :data:`STREAM_MAXLEN` entries.
- The epoch lives in Redis. When Redis comes back empty, the first process to notice writes back
  the last state it knew under a new epoch (clients then take a fresh snapshot), logging loudly.
- When Redis is unreachable, commands fail with ``unavailable`` and viewers keep the last state
  this process knew (and are told the service is degraded); the reader reconnects with back-off
  and catches up from the stream.
- With Sentinel (:mod:`~coordinator.state.redis_connect`) every new connection goes to the
  current primary, so after a failover the processes carry on by themselves: the reader
  resumes from the last entry it delivered. An acknowledgement, and every event a viewer gets,
  is on enough replicas first (:mod:`~coordinator.state.redis_replication`), so a failover
  undoes nothing anyone was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError, ResponseError, WatchError

from coordinator.channels import LIVE, REHEARSAL, cue_key
from coordinator.config import Config
from coordinator.connections import ProcessCounts
from coordinator.cue_log import CueLogEntry
from coordinator.cue_state import CueState
from coordinator.overrides import CityOverride
from coordinator.plans import Plan, command_key
from coordinator.protocol import Command, CueCommand
from coordinator.rules import Actor, CityStatus
from coordinator.schedule import iso_utc
from coordinator.state import records
from coordinator.state.base import (
    MAX_REPLAY_EVENTS,
    AuditEntry,
    Outcome,
    ScriptUpload,
    Snapshot,
    Store,
    StoredEvent,
    StoreError,
    StoreUnavailable,
)
from coordinator.state.redis_connect import (
    UNAVAILABLE,
    RedisClients,
    explain,
    parse_redis_url,
    reachable,
)
from coordinator.state.redis_counts import CountBook
from coordinator.state.redis_presence import PresenceBook
from coordinator.state.redis_replication import WAIT_TIMEOUT_MS, NotReplicated, ReplicaRule
from coordinator.state.redis_tokens import TokenKeys, TokenMethods

log = logging.getLogger("coordinator.redis")

STREAM_MAXLEN = 10_000
COMMAND_TTL_S = 24 * 3600
HEARTBEAT_S = 5.0
PROCESS_TTL_S = 20
READ_BLOCK_MS = 1000
RETRY_MIN_S, RETRY_MAX_S = 0.1, 0.5  # the reader's reconnection back-off


def default_prefix(config: Config) -> str:
    return f"coordinator:{config.event.id}:"


class RedisStore(TokenMethods, Store):
    """Shared state for several processes or hosts. ``min_replicas``: how many replicas must
    hold a change before it is acknowledged (None: 1 while the primary has one online).
    Raises :class:`StoreError` for an unusable URL or CA file."""

    def __init__(
        self,
        config: Config,
        url: str,
        prefix: str | None = None,
        tls: Mapping[str, Any] | None = None,
        *,
        min_replicas: int | None = None,
    ) -> None:
        super().__init__(config)
        try:
            self.target = parse_redis_url(url)
        except ValueError as exc:
            raise StoreError(f"--redis-url {exc}") from None
        self.replicas = ReplicaRule(min_replicas)
        self.prefix = prefix if prefix is not None else default_prefix(config)
        self.process_id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.epoch = ""
        # redis-py's asyncio client is loosely typed; these are aioredis.Redis instances.
        # redis-py's ssl_* options for rediss:// and rediss+sentinel:// (tls_options)
        self._clients = RedisClients(self.target, tls or {})
        self._redis: Any = None
        self._reader_redis: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_id = "0-0"
        # The last state this process knew: served while Redis is away, written back if Redis
        # comes back empty. Kept up to date from the stream.
        self._seq = 0
        self._statuses: dict[str, CityStatus] = {}
        self._cue_states: dict[str, CueState] = {}
        self._online: dict[str, bool] = {}
        self.presence = PresenceBook(self)
        self.counts = CountBook(self)
        self.token_keys = TokenKeys(self)
        self.available = False

    def key(self, name: str) -> str:
        return self.prefix + name

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        wait_s = WAIT_TIMEOUT_MS / 1000
        self._redis = self._clients.client(socket_timeout_s=wait_s + 2)
        self._reader_redis = self._clients.client(
            socket_timeout_s=READ_BLOCK_MS / 1000 + wait_s + 3
        )
        try:
            await self._redis.ping()
            await self.replicas.recheck(self._redis)
            await self._ensure_epoch()
            await self._load()
        except UNAVAILABLE as exc:
            raise StoreError(
                f"cannot reach Redis at {self.target.describe()}: {explain(exc)}"
            ) from None
        policy = await self._maxmemory_policy()
        if policy not in (None, "noeviction"):
            log.warning(
                "Redis maxmemory-policy is %s: Redis may evict the event's state. "
                "Set maxmemory-policy noeviction (docs/deploy.md).",
                policy,
            )
        self.available = True
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="redis-reader"),
            asyncio.create_task(self._heartbeat_loop(), name="redis-heartbeat"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.presence.leave()
        with contextlib.suppress(Exception):
            await self.counts.leave()
        await self._clients.aclose()

    async def ready(self) -> bool:
        """Whether changes can be taken now: the stream reader confirms them (it is not
        waiting out an outage or a failover) and the primary answers a PING within a second."""
        if not self.available:
            return False
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), 1.0))
        except (*UNAVAILABLE, RedisError, TimeoutError):
            return False

    async def _maxmemory_policy(self) -> str | None:
        try:
            assert self._redis is not None
            answer = await self._redis.config_get("maxmemory-policy")
        except RedisError:
            return None  # CONFIG may be disabled on managed Redis
        value = answer.get("maxmemory-policy")
        return str(value) if value is not None else None

    @property
    def redis(self) -> Any:
        assert self._redis is not None, "store is not open"
        return self._redis

    async def _ensure_epoch(self) -> None:
        """Adopt the epoch in Redis, or create one (and write back what we knew) if missing."""
        current = await self.redis.get(self.key("epoch"))
        if current is not None:
            new_epoch = str(current)
            if self.epoch and new_epoch != self.epoch:
                log.warning(
                    "the event history in Redis changed epoch %s -> %s", self.epoch, new_epoch
                )
            self.epoch = new_epoch
            return
        candidate = secrets.token_hex(8)
        created = await self.redis.set(self.key("epoch"), candidate, nx=True)
        if created:
            if self._seq or self._statuses or self._cue_states:
                log.error(
                    "REDIS LOST THE EVENT STATE (empty after a restart?). Writing back the last "
                    "state this process knew (seq %d) under a new epoch %s; clients resync.",
                    self._seq,
                    candidate,
                )
                await self._write_back()
            else:
                log.info("new event history in Redis, epoch %s", candidate)
            self.epoch = candidate
        else:
            again = await self.redis.get(self.key("epoch"))
            self.epoch = str(again) if again else candidate

    async def _write_back(self) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("seq"), self._seq)
        for city, status in self._statuses.items():
            pipe.hset(self.key("status"), city, records.encode_status(status))
        for key, cue in self._cue_states.items():
            pipe.hset(self.key("cue"), key, records.encode_cue_state(cue))
        for city, override in self.overrides.items():
            pipe.hset(self.key("overrides"), city, records.encode_override(override))
        await pipe.execute()

    async def _load(self) -> None:
        """Read the whole state into this process's cache."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key("epoch"))
        pipe.get(self.key("seq"))
        pipe.hgetall(self.key("status"))
        pipe.hgetall(self.key("cue"))
        pipe.hgetall(self.key("overrides"))
        epoch, seq, statuses, cue_states, overrides = await pipe.execute()
        self.epoch = str(epoch) if epoch else self.epoch
        self._seq = int(seq or 0)
        self._statuses = {k: records.decode_status(v) for k, v in statuses.items()}
        self._cue_states = {k: records.decode_cue_state(v) for k, v in cue_states.items()}
        self.set_overrides({k: records.decode_override(v) for k, v in overrides.items()})
        self._online = await self.presence.online_map()
        self._last_id = f"{self._seq}-0"

    # -- reading ------------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        return Snapshot(
            epoch=self.epoch,
            seq=self._seq,
            statuses=dict(self._statuses),
            online=dict(self._online),
            board=self.board(self._cue_states),
        )

    async def events_since(self, seq: int) -> list[StoredEvent] | None:
        if seq > self._seq or self._seq - seq > MAX_REPLAY_EVENTS:
            return None
        if seq == self._seq:
            return []
        try:
            entries = await self.redis.xrange(self.key("events"), min=f"{seq + 1}-0", max="+")
        except UNAVAILABLE:
            return None
        events = [records.event_from_fields(fields) for _, fields in entries]
        if not events or events[0].seq != seq + 1:
            return None  # trimmed away: the client needs a snapshot
        return [e for e in events if e.seq <= self._seq]

    async def audit(self, city: str | None = None) -> list[AuditEntry]:
        try:
            rows = await self.redis.lrange(self.key("audit"), 0, -1)
        except UNAVAILABLE as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        entries = [records.decode_audit(r) for r in rows]
        return [e for e in entries if city is None or e.city == city]

    async def cue_log(self, city: str) -> list[CueLogEntry]:
        try:
            rows = await self.redis.lrange(self.key(f"cuelog:{city}"), 0, -1)
        except UNAVAILABLE as exc:
            raise StoreUnavailable("Redis is unreachable") from exc
        return [records.decode_cue_log(row) for row in rows]

    # -- writing ------------------------------------------------------------------------------

    async def apply(self, command: Command, actor: Actor, now: datetime) -> Outcome:
        try:
            return await self._apply(command, actor, now)
        except UNAVAILABLE as exc:
            self.replicas.forget()
            raise StoreUnavailable(
                "the shared store (Redis) is unreachable; nothing was changed, try again"
            ) from exc
        except ResponseError as exc:  # READONLY after a failover, OOM at maxmemory, ...
            raise StoreUnavailable(
                f"the shared store (Redis) refused the write ({exc}); nothing was changed"
            ) from exc

    async def _apply(self, command: Command, actor: Actor, now: datetime) -> Outcome:
        cmd_key = self.key("cmd:" + command_key(actor, command.id))
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.key("seq"), self.key("epoch"))
                    if await pipe.get(self.key("epoch")) is None:
                        await pipe.reset()
                        await self._ensure_epoch()
                        continue
                    seen = await pipe.get(cmd_key)
                    if seen is not None:
                        await pipe.reset()
                        return await self._confirmed(cmd_key, int(seen), [])
                    raw_status = await pipe.hget(self.key("status"), command.city)
                    raw_cues = await pipe.hgetall(self.key("cue"))
                    seq = int(await pipe.get(self.key("seq")) or 0)
                    raw_override = await pipe.hget(self.key("overrides"), command.city)
                    status = records.decode_status(raw_status) if raw_status else CityStatus()
                    cue_states = {k: records.decode_cue_state(v) for k, v in raw_cues.items()}
                    override = records.decode_override(raw_override) if raw_override else None
                    if isinstance(command, CueCommand):
                        await self._follow_script(command.city)
                        if command.target:
                            await self._follow_script(command.target)
                    plan = self.plan(command, actor, now, status, cue_states, override)  # may raise
                    pipe.multi()
                    events = self._queue_events(pipe, plan, seq, now)
                    self._queue_state(pipe, plan, events[0].seq, actor, command.id, now)
                    pipe.set(cmd_key, events[0].seq, ex=COMMAND_TTL_S)
                    await pipe.execute()
                except WatchError:
                    continue  # someone else appended first: read again and re-check the rules
                if plan.override is not None:  # at once here; other processes follow the stream
                    self.set_overrides({**self.overrides, plan.city: plan.override})
                return await self._confirmed(cmd_key, events[0].seq, events)

    async def _confirmed(self, cmd_key: str, seq: int, events: list[StoredEvent]) -> Outcome:
        """The outcome once the command is on enough replicas. The idempotency key travels
        with the change, so it tells whether the primary we reach now (after a failover,
        perhaps) has the command, and under which seq. Raises ``StoreUnavailable``."""
        if not await self.replicas.need(self.redis):
            return Outcome(seq=seq, events=events)
        (stored,) = await self.replicas.confirm(
            self.redis, self.alive_key, PROCESS_TTL_S, lambda pipe: pipe.get(cmd_key)
        )
        if stored is None:
            raise StoreUnavailable(
                "the change was lost in a Redis failover before a replica had it; "
                "nothing is applied, try again"
            )
        if int(stored) != seq:  # lost, then applied again by a retry elsewhere
            return Outcome(seq=int(stored), events=[])
        return Outcome(seq=seq, events=events)

    def _queue_events(
        self, pipe: Any, plan: Plan, last_seq: int, now: datetime
    ) -> list[StoredEvent]:
        """Append the plan's events after ``last_seq``, in one transaction with the state."""
        events = []
        for seq, planned in enumerate(plan.events, start=last_seq + 1):
            event = StoredEvent.planned(planned, seq, now)
            fields: dict[str, Any] = {
                "seq": seq,
                "kind": event.kind,
                "city": event.city,
                "at": iso_utc(now),
                "data": records.encode_event_data(event.data),
                "audience": records.encode_audience(event.audience),
            }
            staff = records.encode_event_staff(event.operator_data)
            if staff is not None:
                fields["staff"] = staff
            pipe.xadd(
                self.key("events"),
                fields,
                id=f"{seq}-0",
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
            events.append(event)
        pipe.set(self.key("seq"), events[-1].seq)
        return events

    def _queue_state(
        self, pipe: Any, plan: Plan, seq: int, actor: Actor, command_id: str, now: datetime
    ) -> None:
        if plan.status is not None:
            pipe.hset(self.key("status"), plan.city, records.encode_status(plan.status))
        if plan.cue_key is not None and plan.cue_state is not None:
            pipe.hset(self.key("cue"), plan.cue_key, records.encode_cue_state(plan.cue_state))
        if plan.override is not None:
            pipe.hset(self.key("overrides"), plan.city, records.encode_override(plan.override))
        for city, index, blank in plan.cue_log:
            pipe.rpush(self.key(f"cuelog:{city}"), records.encode_cue_log(now, index, blank))
        entry = AuditEntry.of_plan(plan, seq, actor, command_id, now)
        pipe.rpush(self.key("audit"), records.encode_audit(entry))

    # -- uploaded scripts ---------------------------------------------------------------------

    async def save_script(self, city: str, upload: ScriptUpload) -> None:
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(self.key("scripts"), city, records.encode_script_upload(upload))
            pipe.hset(self.key("script_version"), city, upload.version)
            await pipe.execute()
            (version,) = await self.replicas.confirm(
                self.redis,
                self.alive_key,
                PROCESS_TTL_S,
                lambda pipe: pipe.hget(self.key("script_version"), city),
            )
        except UNAVAILABLE as exc:
            raise StoreUnavailable("Redis is unreachable; the script was not saved") from exc
        except ResponseError as exc:  # read-only after a failover, full under noeviction
            raise StoreUnavailable(f"Redis cannot take the script now ({exc}); not saved") from exc
        if version != upload.version:
            raise StoreUnavailable("the script was lost in a Redis failover; upload it again")

    async def stored_scripts(self) -> dict[str, ScriptUpload]:
        rows = await self.redis.hgetall(self.key("scripts"))
        return {city: records.decode_script_upload(data) for city, data in rows.items()}

    async def _follow_script(self, city: str, version: str | None = None) -> None:
        """Load the uploaded script of ``city`` when another process replaced it."""
        if version is None:
            version = await self.redis.hget(self.key("script_version"), city)
        local = self.scripts.get(city)
        if not version or (local is not None and local.version == version):
            return
        raw = await self.redis.hget(self.key("scripts"), city)
        if raw is None:
            return
        try:
            self.set_script(city, records.decode_script_upload(raw).parse(city))
        except Exception:
            log.exception("cannot load the uploaded script of %s", city)

    # -- tokens: coordinator/state/redis_tokens.py (TokenMethods: the rest) ------------------

    async def open_tokens(self) -> None:
        """A client for the token commands only: no reader, no heartbeat, no presence."""
        self._redis = self._clients.client(socket_timeout_s=WAIT_TIMEOUT_MS / 1000 + 2)
        try:
            await self._redis.ping()
        except UNAVAILABLE as exc:
            raise StoreError(
                f"cannot reach Redis at {self.target.describe()}: {explain(exc)}"
            ) from None

    async def stored_overrides(self) -> dict[str, CityOverride]:
        rows = await self.redis.hgetall(self.key("overrides"))
        return {city: records.decode_override(data) for city, data in rows.items()}

    # -- presence: coordinator/state/redis_presence.py --------------------------------------

    async def set_presence(self, city: str, online: bool, now: datetime) -> StoredEvent | None:
        try:
            return await self.presence.record(city, online, now)
        except (*UNAVAILABLE, ResponseError):  # presence waits for the store to write
            return None

    # -- connection counts and peaks: coordinator/state/redis_counts.py -----------------------

    async def publish_counts(self, counts: ProcessCounts) -> None:
        with reachable():
            await self.counts.publish(counts)

    async def all_counts(self) -> list[ProcessCounts]:
        with reachable():
            return await self.counts.all()

    async def raise_peaks(self, phones: Mapping[str, int]) -> None:
        with reachable():
            await self.counts.raise_peaks(phones)

    async def peaks(self) -> dict[str, int]:
        with reachable():
            return await self.counts.peaks()

    @property
    def alive_key(self) -> str:
        """This process's heartbeat key (also the small write of replication checks)."""
        return self.key(f"alive:{self.process_id}")

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.redis.set(self.alive_key, 1, ex=PROCESS_TTL_S)
                await self.replicas.recheck(self.redis)
                await self.presence.reap_dead_processes()
            except UNAVAILABLE:
                pass
            except RedisError as exc:
                log.warning("presence heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_S)

    # -- the stream reader --------------------------------------------------------------------

    async def _read_loop(self) -> None:
        """Follow the stream and hand each event to the listeners, in order, forever."""
        delay_s = RETRY_MIN_S
        while True:
            try:
                entries = await self._read_confirmed()
                if not self.available:
                    await self._recovered()
                delay_s = RETRY_MIN_S
                for entry_id, fields in entries:
                    await self._deliver(entry_id, records.event_from_fields(fields))
                if not entries:
                    await self._check_epoch()
            except asyncio.CancelledError:
                raise
            except NotReplicated as exc:  # WAIT took its time; replicas were counted again
                await self._unavailable(exc)
            except UNAVAILABLE as exc:
                self.replicas.forget()
                await self._unavailable(exc)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
            except Exception:
                log.exception("stream reader failed; retrying")
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)

    async def _unavailable(self, exc: Exception) -> None:
        if self.available:
            log.error("Redis is unavailable (%s); serving the last known state", explain(exc))
        await self._set_available(False)

    async def _read_confirmed(self) -> list[tuple[str, dict[str, str]]]:
        """The next entries after the last delivered one, once they are on enough replicas:
        read and confirmed on one connection, so a failover in between cannot make us
        deliver what the new primary does not have."""
        assert self._reader_redis is not None
        (answer,) = await self.replicas.confirm(
            self._reader_redis,
            self.alive_key,
            PROCESS_TTL_S,
            lambda pipe: pipe.xread(
                {self.key("events"): self._last_id}, block=READ_BLOCK_MS, count=500
            ),
        )
        return [entry for _, entries in answer or [] for entry in entries]

    async def _deliver(self, entry_id: str, event: StoredEvent) -> None:
        if event.kind == "schedule" and event.seq > self._seq:
            # Read before the entry counts as delivered: Redis away now, it is read again.
            self.set_overrides(await self.stored_overrides())
        self._last_id = entry_id
        if event.seq <= self._seq:
            return
        own_view = event.operator_data or {}
        if event.kind == "cue" and own_view.get("version"):
            # The city's own script (a follower's data shows the leader's).
            await self._follow_script(event.city, str(own_view["version"]))
        self._remember(event)
        await self._publish(event)

    async def _recovered(self) -> None:
        log.warning("Redis is available again; catching up from %s", self._last_id)
        await self.replicas.recheck(self.redis)
        await self._check_epoch(recovering=True)
        await self._set_available(True)

    async def _check_epoch(self, *, recovering: bool = False) -> None:
        """Notice a Redis that came back empty or was replaced, or (after an outage or a
        failover) whose history ends before what this process delivered, and resync."""
        before, behind = self.epoch, False
        await self._ensure_epoch()
        if recovering:
            stored = int(await self.redis.get(self.key("seq")) or 0)
            behind = stored < self._seq
            if behind:
                log.error("the Redis history ends at seq %d, before seq %d that this process "
                          "delivered (lost in a failover?); every client resyncs", stored, self._seq)  # fmt: skip
        if self.epoch != before or behind:
            await self._load()
            await self._notify_reset()

    def _remember(self, event: StoredEvent) -> None:
        self._seq = event.seq
        data = event.data
        if event.kind == "status":
            self._statuses[event.city] = records.status_from_record(data)
        elif event.kind == "cue" and event.operator_data is not None:
            key = cue_key(event.city, REHEARSAL if data.get("channel") == REHEARSAL else LIVE)
            self._cue_states[key] = records.cue_state_from_record(event.operator_data["state"])
        elif event.kind == "presence":
            self._online[event.city] = bool(data["online"])
