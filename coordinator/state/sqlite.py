"""The embedded store: one SQLite file in the data directory, no other service.

WAL mode with ``synchronous=FULL``: a change is on disk before it is acknowledged or broadcast.
All database work runs on one dedicated thread (SQLite connections belong to the thread that
made them, and one writer keeps ``seq`` strictly ordered); an asyncio lock makes "commit, then
tell the listeners" one step, so listeners hear events in ``seq`` order.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from coordinator.auth import TokenRecord
from coordinator.config import Config
from coordinator.cue_log import CueLogEntry
from coordinator.cue_state import CueState
from coordinator.overrides import CityOverride
from coordinator.plans import Plan, command_key, presence_plan
from coordinator.protocol import Command
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

T = TypeVar("T")
BUSY_TIMEOUT_S = 0.25
DB_NAME = "coordinator.sqlite3"
SCHEMA_VERSION = "2"
_SELECT_EVENTS = "SELECT seq, kind, city, at, data, staff, audience FROM events"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, city TEXT NOT NULL,
    at TEXT NOT NULL, data TEXT NOT NULL, staff TEXT, audience INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS city_status (city TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cue_state (channel TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, role TEXT NOT NULL, actor TEXT NOT NULL,
    city TEXT NOT NULL, kind TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL,
    note TEXT NOT NULL, command_id TEXT NOT NULL, delay_minutes INTEGER);
CREATE TABLE IF NOT EXISTS cue_log (
    seq INTEGER PRIMARY KEY, city TEXT NOT NULL, at TEXT NOT NULL,
    idx INTEGER NOT NULL, blank INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS cue_log_city ON cue_log (city, seq);
CREATE TABLE IF NOT EXISTS scripts (city TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS peaks (city TEXT PRIMARY KEY, phones INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, data TEXT NOT NULL, last_used TEXT);
CREATE TABLE IF NOT EXISTS revoked_tokens (id TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS overrides (city TEXT PRIMARY KEY, data TEXT NOT NULL);
"""
# The token commands wait this long for a server's write to finish (they run beside it).
TOKENS_BUSY_TIMEOUT_S = 5.0


def database_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def verify(data_dir: Path) -> None:
    """Check that an existing database can be read, before the server starts.

    Raises :class:`StoreError` naming the file and what to do; a missing file is fine (a new
    event starts empty), a damaged one is not: starting empty would silently lose the state.
    """
    path = database_path(data_dir)
    if not path.exists():
        return
    for where in (data_dir, path):
        if not os.access(where, os.W_OK):
            raise StoreError(
                f"{where}: not writable by this user. The database is not necessarily "
                "damaged: give the server's user write access to the directory and the file "
                "(it writes a -wal and a -shm file beside it); do not move it away."
            )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
            if result is None or result[0] != "ok":
                raise sqlite3.DatabaseError(str(result[0] if result else "no answer"))
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "meta" not in tables or "events" not in tables:
                raise sqlite3.DatabaseError("not a coordinator database (tables missing)")
            _check_rows(conn, tables)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"{path}: cannot read the database ({exc}). The server will not start empty over "
            "it. Restore a backup (docs/deploy.md, 'Backup and restore') or move the file "
            "away to start a new, empty event history."
        ) from None


def _check_rows(conn: sqlite3.Connection, tables: set[str]) -> None:
    """Read every row the server will read, as it will read it: quick_check only checks the
    file's structure, and a row with broken bytes or JSON would fail later, mid-event."""
    conn.text_factory = lambda raw: raw.decode("utf-8")  # strict: broken bytes raise
    for (data,) in conn.execute("SELECT data FROM city_status"):
        records.decode_status(data)
    for (data,) in conn.execute("SELECT data FROM cue_state"):
        records.decode_cue_state(data)
    for (data,) in conn.execute("SELECT data FROM scripts"):
        records.decode_script_upload(data)
    if "overrides" in tables:  # a database from before schedule edits has none yet
        for (data,) in conn.execute("SELECT data FROM overrides"):
            records.decode_override(data)
    for row in conn.execute(_SELECT_EVENTS):
        _event_from_row(row)
    for at, idx, blank in conn.execute("SELECT at, idx, blank FROM cue_log"):
        records.cue_log_entry(at, idx, blank)
    for row in conn.execute("SELECT * FROM audit"):
        records.audit_from_columns(row)
    if "tokens" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}:
        for data, last_used in conn.execute("SELECT data, last_used FROM tokens"):
            records.decode_token(data, last_used)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Columns added since a database was created (CREATE TABLE IF NOT EXISTS keeps an old
    table as it was)."""
    audit_columns = {row[1] for row in conn.execute("PRAGMA table_info(audit)")}
    if "delay_minutes" not in audit_columns:
        conn.execute("ALTER TABLE audit ADD COLUMN delay_minutes INTEGER")


class SqliteStore(Store):
    """The embedded default backend."""

    def __init__(self, config: Config, data_dir: Path) -> None:
        super().__init__(config)
        self.data_dir = data_dir
        self.path = database_path(data_dir)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._online: dict[str, bool] = {}
        self.epoch = ""

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the database thread. A database that cannot take the work right now
        (disk full, locked by another process past the busy timeout, turned read-only) raises
        :class:`StoreUnavailable`: the transaction was rolled back, nothing changed."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(
                f"the database cannot take it right now ({exc}); try again"
            ) from None

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        verify(self.data_dir)
        try:
            self.epoch = await self._run(self._open_sync)
            self.set_overrides(await self._run(self._overrides_sync))
        except (sqlite3.Error, StoreUnavailable) as exc:
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from None

    async def open_tokens(self) -> None:
        """The database for the token commands, beside a running server: no epoch, no
        presence written. SQLite's WAL lets this second connection write while the server
        holds the data dir's lock (which only keeps a second *server* away)."""
        try:
            await self._run(self._connect_sync, TOKENS_BUSY_TIMEOUT_S)
        except (sqlite3.Error, StoreUnavailable) as exc:
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from None

    def _connect_sync(self, timeout_s: float) -> sqlite3.Connection:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=timeout_s)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        _add_missing_columns(conn)
        self._conn = conn
        return conn

    def _open_sync(self) -> str:
        # A writer in another process holds the lock: wait a moment, not the default 5 s, on
        # the one database thread every snapshot and command shares.
        conn = self._connect_sync(BUSY_TIMEOUT_S)
        row = conn.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
        if row is not None:
            self._mark_all_offline_sync()
            return str(row[0])
        epoch = secrets.token_hex(8)
        with self._transaction() as c:
            c.execute("INSERT INTO meta VALUES ('epoch', ?)", (epoch,))
            c.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        return epoch

    def _mark_all_offline_sync(self) -> None:
        """No connection survives a restart: log "offline" for every city last seen online,
        so a client replaying with ``since`` ends up with the same presence as a snapshot."""
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT city, data FROM events WHERE seq IN "
            "(SELECT MAX(seq) FROM events WHERE kind = 'presence' GROUP BY city)"
        ).fetchall()
        for city, data in rows:
            if records.decode_event_data(data).get("online"):
                self._presence_sync(city, False, datetime.now(UTC))

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    def _transaction(self) -> _Transaction:
        assert self._conn is not None, "store is not open"
        return _Transaction(self._conn)

    # -- reading ------------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        async with self._lock:
            return await self._run(self._snapshot_sync)

    def _snapshot_sync(self) -> Snapshot:
        assert self._conn is not None
        conn = self._conn
        seq = self._seq_sync()
        statuses = {
            city: records.decode_status(data)
            for city, data in conn.execute("SELECT city, data FROM city_status")
        }
        return Snapshot(
            epoch=self.epoch,
            seq=seq,
            statuses=statuses,
            online=dict(self._online),
            board=self.board(self._cue_states_sync()),
        )

    def _cue_states_sync(self) -> dict[str, CueState]:
        assert self._conn is not None
        rows = self._conn.execute("SELECT channel, data FROM cue_state")  # channel: the cue key
        return {key: records.decode_cue_state(data) for key, data in rows}

    def _seq_sync(self) -> int:
        assert self._conn is not None
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    async def events_since(self, seq: int) -> list[StoredEvent] | None:
        return await self._run(self._events_since_sync, seq)

    def _events_since_sync(self, seq: int) -> list[StoredEvent] | None:
        assert self._conn is not None
        current = self._seq_sync()
        if seq > current or current - seq > MAX_REPLAY_EVENTS:
            return None
        rows = self._conn.execute(_SELECT_EVENTS + " WHERE seq > ? ORDER BY seq", (seq,))
        return [_event_from_row(row) for row in rows]

    async def audit(self, city: str | None = None) -> list[AuditEntry]:
        return await self._run(self._audit_sync, city)

    def _audit_sync(self, city: str | None) -> list[AuditEntry]:
        assert self._conn is not None
        query = "SELECT * FROM audit"
        params: tuple[str, ...] = ()
        if city is not None:
            query += " WHERE city = ?"
            params = (city,)
        return [
            records.audit_from_columns(r)
            for r in self._conn.execute(query + " ORDER BY seq", params)
        ]

    async def cue_log(self, city: str) -> list[CueLogEntry]:
        return await self._run(self._cue_log_sync, city)

    def _cue_log_sync(self, city: str) -> list[CueLogEntry]:
        assert self._conn is not None
        rows = self._conn.execute(
            "SELECT at, idx, blank FROM cue_log WHERE city = ? ORDER BY seq", (city,)
        )
        return [records.cue_log_entry(at, idx, blank) for at, idx, blank in rows]

    # -- writing ------------------------------------------------------------------------------

    async def apply(self, command: Command, actor: Actor, now: datetime) -> Outcome:
        async with self._lock:
            outcome = await self._run(self._apply_sync, command, actor, now)
            if any(event.kind == "schedule" for event in outcome.events):
                self.set_overrides(await self._run(self._overrides_sync))
            for event in outcome.events:
                await self._publish(event)
            return outcome

    def _apply_sync(self, command: Command, actor: Actor, now: datetime) -> Outcome:
        assert self._conn is not None
        key = command_key(actor, command.id)
        with self._transaction() as conn:
            row = conn.execute("SELECT seq FROM commands WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return Outcome(seq=int(row[0]), events=[])
            status_row = conn.execute(
                "SELECT data FROM city_status WHERE city = ?", (command.city,)
            ).fetchone()
            status = records.decode_status(status_row[0]) if status_row else CityStatus()
            override = self._overrides_sync().get(command.city)
            plan = self.plan(command, actor, now, status, self._cue_states_sync(), override)
            events = self._append_sync(conn, plan, now)
            self._write_plan_sync(conn, plan, events[0].seq, actor, command.id, now)
            conn.execute("INSERT INTO commands VALUES (?, ?)", (key, events[0].seq))
        return Outcome(seq=events[0].seq, events=events)

    def _append_sync(
        self, conn: sqlite3.Connection, plan: Plan, now: datetime
    ) -> list[StoredEvent]:
        seq = self._seq_sync()
        events = []
        for planned in plan.events:
            seq += 1
            event = StoredEvent.planned(planned, seq, now)
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    event.kind,
                    event.city,
                    iso_utc(now),
                    records.encode_event_data(event.data),
                    records.encode_event_staff(event.operator_data),
                    records.encode_audience(event.audience),
                ),
            )
            events.append(event)
        return events

    def _write_plan_sync(
        self,
        conn: sqlite3.Connection,
        plan: Plan,
        seq: int,
        actor: Actor,
        command_id: str,
        now: datetime,
    ) -> None:
        if plan.status is not None:
            conn.execute(
                "INSERT OR REPLACE INTO city_status VALUES (?, ?)",
                (plan.city, records.encode_status(plan.status)),
            )
        if plan.cue_key is not None and plan.cue_state is not None:
            conn.execute(
                "INSERT OR REPLACE INTO cue_state VALUES (?, ?)",
                (plan.cue_key, records.encode_cue_state(plan.cue_state)),
            )
        if plan.override is not None:
            conn.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?, ?)",
                (plan.city, records.encode_override(plan.override)),
            )
        for offset, (city, index, blank) in enumerate(plan.cue_log):
            conn.execute(
                "INSERT INTO cue_log VALUES (?, ?, ?, ?, ?)",
                (seq + offset, city, records.encode_cue_log_time(now), index, int(blank)),
            )
        entry = AuditEntry.of_plan(plan, seq, actor, command_id, now)
        conn.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            records.audit_columns(entry),
        )

    async def save_script(self, city: str, upload: ScriptUpload) -> None:
        await self._run(self._save_script_sync, city, upload)

    def _save_script_sync(self, city: str, upload: ScriptUpload) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scripts VALUES (?, ?)",
                (city, records.encode_script_upload(upload)),
            )

    async def stored_scripts(self) -> dict[str, ScriptUpload]:
        return await self._run(self._stored_scripts_sync)

    def _stored_scripts_sync(self) -> dict[str, ScriptUpload]:
        assert self._conn is not None
        rows = self._conn.execute("SELECT city, data FROM scripts")
        return {city: records.decode_script_upload(data) for city, data in rows}

    async def raise_peaks(self, phones: Mapping[str, int]) -> None:
        if phones:
            await self._run(self._raise_peaks_sync, dict(phones))

    def _raise_peaks_sync(self, phones: dict[str, int]) -> None:
        with self._transaction() as c:
            c.executemany(
                "INSERT INTO peaks VALUES (?, ?) ON CONFLICT (city) "
                "DO UPDATE SET phones = max(phones, excluded.phones)",
                list(phones.items()),
            )

    async def peaks(self) -> dict[str, int]:
        return await self._run(self._peaks_sync)

    def _peaks_sync(self) -> dict[str, int]:
        assert self._conn is not None
        return {city: int(n) for city, n in self._conn.execute("SELECT city, phones FROM peaks")}

    async def stored_overrides(self) -> dict[str, CityOverride]:
        return await self._run(self._overrides_sync)

    def _overrides_sync(self) -> dict[str, CityOverride]:
        assert self._conn is not None
        rows = self._conn.execute("SELECT city, data FROM overrides")
        return {city: records.decode_override(data) for city, data in rows}

    async def set_presence(self, city: str, online: bool, now: datetime) -> StoredEvent | None:
        async with self._lock:
            if self._online.get(city, False) == online:
                return None
            event = await self._run(self._presence_sync, city, online, now)
            self._online[city] = online  # once it is on disk
            await self._publish(event)
            return event

    def _presence_sync(self, city: str, online: bool, now: datetime) -> StoredEvent:
        with self._transaction() as conn:
            return self._append_sync(conn, presence_plan(city, online), now)[0]

    # -- tokens -------------------------------------------------------------------------------

    async def tokens(self) -> list[TokenRecord]:
        return await self._run(self._tokens_sync)

    def _tokens_sync(self) -> list[TokenRecord]:
        assert self._conn is not None
        rows = self._conn.execute("SELECT data, last_used FROM tokens ORDER BY rowid")
        return [records.decode_token(data, last_used) for data, last_used in rows]

    async def tokens_version(self) -> str:
        return await self._run(self._tokens_version_sync)

    def _tokens_version_sync(self) -> str:
        assert self._conn is not None
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'tokens_version'").fetchone()
        return str(row[0]) if row else "0"

    def _bump_tokens_sync(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta VALUES ('tokens_version', '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    async def save_token(self, record: TokenRecord) -> None:
        await self._run(self._import_sync, [record])

    async def import_tokens(self, found: list[TokenRecord]) -> list[TokenRecord]:
        return await self._run(self._import_sync, found)

    def _import_sync(self, found: list[TokenRecord]) -> list[TokenRecord]:
        added = []
        with self._transaction() as conn:
            for record in found:
                seen = conn.execute(
                    "SELECT 1 FROM tokens WHERE id = ? UNION SELECT 1 FROM revoked_tokens "
                    "WHERE id = ?",
                    (record.id, record.id),
                ).fetchone()
                if seen is None:
                    conn.execute(
                        "INSERT INTO tokens VALUES (?, ?, NULL)",
                        (record.id, records.encode_token(record)),
                    )
                    added.append(record)
            if added:
                self._bump_tokens_sync(conn)
        return added

    async def delete_token(self, token_id: str, now: datetime) -> bool:
        return await self._run(self._delete_token_sync, token_id, now)

    def _delete_token_sync(self, token_id: str, now: datetime) -> bool:
        with self._transaction() as conn:
            gone = conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0
            if gone:
                conn.execute(
                    "INSERT OR REPLACE INTO revoked_tokens VALUES (?, ?)", (token_id, iso_utc(now))
                )
                self._bump_tokens_sync(conn)
        return gone

    async def touch_tokens(self, used: Mapping[str, str]) -> None:
        await self._run(self._touch_sync, dict(used))

    def _touch_sync(self, used: dict[str, str]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE tokens SET last_used = ? WHERE id = ?",
                [(at, token_id) for token_id, at in used.items()],
            )


def _event_from_row(row: tuple[Any, ...]) -> StoredEvent:
    seq, kind, city, at, data, staff, audience = row
    return records.decode_event(
        seq=seq, kind=kind, city=city, at=at, data=data, staff=staff, audience=audience
    )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on any exception)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
