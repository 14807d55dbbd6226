"""Access tokens: created once, stored only as hashes, compared in constant time.

A token is 32 random bytes (``secrets.token_urlsafe``). Because it is long and random, a plain
SHA-256 of it is enough to store (a slow password hash protects short human secrets; it buys
nothing here). Tokens live in the store, beside the rest of the state, so every process and
host sees the same set; :class:`TokenBook` is a process's cached copy of it, refreshed a few
times a second, so looking a token up never waits for the store.

A secrets file (``secrets.yaml``, the format of earlier versions) is only an input now: its
records that the store has never held are imported once, when a server (or a ``coordinator
token`` command) starts; later edits of the file are not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from coordinator.logs import Throttled
from coordinator.rules import Actor, Role

if TYPE_CHECKING:
    from coordinator.state.base import Store

DEFAULT_SECRETS = Path("config/secrets.yaml")
STAFF_ROLES = (Role.COORDINATOR, Role.OPERATOR, Role.ADMIN)
# How often a process asks the store whether the tokens changed (a revocation reaches every
# process within this, plus the time to read the set again).
REFRESH_S = 0.25
# A token's last use is written at most this often (per process), never once per command.
TOUCH_EVERY_S = 60.0
# An unknown token presented at hello makes the process look at the store again at most this
# often, so a token created on another process a moment ago works at once.
MISS_RECHECK_S = 0.05
MAX_LABEL = 200


class SecretsError(ValueError):
    """The secrets file cannot be read or is malformed."""


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: Role
    city: str | None
    hash: str
    created: str
    label: str = ""
    last_used: str | None = None  # an ISO 8601 instant in UTC; None: never used

    def actor(self) -> Actor:
        return Actor(role=self.role, city=self.city, name=self.id)

    def as_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "role": self.role.value,
            "city": self.city,
            "hash": self.hash,
            "created": self.created,
        }
        if self.label:
            data["label"] = self.label
        return data


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def secrets_path_from_env(explicit: Path | None) -> Path:
    """The secrets file: the explicit path, else ``$COORDINATOR_SECRETS``, else the default."""
    if explicit is not None:
        return explicit
    env = os.environ.get("COORDINATOR_SECRETS")
    return Path(env) if env else DEFAULT_SECRETS


def read_records(path: Path) -> list[TokenRecord]:
    """All token records of a secrets file; a missing file holds none."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SecretsError(f"{path}: cannot read secrets file: {exc}") from None
    if raw is None:
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens", []), list):
        raise SecretsError(f"{path}: expected a mapping with a 'tokens' list")
    records = []
    for position, item in enumerate(raw.get("tokens") or [], start=1):
        try:
            role = Role(item["role"])
            if role is Role.PUBLIC:
                raise ValueError("public needs no token")
            records.append(
                TokenRecord(
                    id=str(item["id"]),
                    role=role,
                    city=item.get("city"),
                    hash=str(item["hash"]),
                    created=str(item.get("created", "")),
                    label=str(item.get("label", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SecretsError(f"{path}: tokens[{position}]: malformed entry ({exc})") from None
    return records


def write_records(path: Path, records: list[TokenRecord]) -> None:
    """Replace the secrets file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(
        {"tokens": [r.as_yaml() for r in records]}, sort_keys=False, allow_unicode=True
    )
    header = "# Token hashes for the reading coordinator. Never commit this file.\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(header + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_token(role: Role, city: str | None, label: str = "") -> tuple[str, TokenRecord]:
    """A new token and its record (hash only), not yet stored. Raises ValueError for a role
    and city that do not go together (the message names what is missing)."""
    if role not in STAFF_ROLES:
        raise ValueError(f"no tokens for the {role} role")
    if role in (Role.COORDINATOR, Role.OPERATOR) and not city:
        raise ValueError(f"a {role} token needs --city")
    if role is Role.ADMIN and city:
        raise ValueError("an admin token is not bound to a city")
    if len(label) > MAX_LABEL:
        raise ValueError(f"a label is at most {MAX_LABEL} characters")
    token = secrets.token_urlsafe(32)
    record = TokenRecord(
        id="t-" + secrets.token_hex(4),
        role=role,
        city=city,
        hash=hash_token(token),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        label=label,
    )
    return token, record


def add_token(path: Path, role: Role, city: str | None, label: str = "") -> tuple[str, TokenRecord]:
    """Create a token in a secrets file (one to import); returns the token (shown once) and
    the record written (hash only)."""
    token, record = new_token(role, city, label)
    write_records(path, [*read_records(path), record])
    return token, record


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove a token by id from a secrets file; False when there was none."""
    records = read_records(path)
    kept = [r for r in records if r.id != token_id]
    if len(kept) == len(records):
        return False
    write_records(path, kept)
    return True


RevokedListener = Callable[[frozenset[str]], Awaitable[None]]


class TokenBook:
    """The tokens a running process accepts: the store's set, cached here and refreshed every
    :data:`REFRESH_S` (one small read: the set's version), so a lookup never waits for the
    store and a change made anywhere reaches this process within a second."""

    def __init__(self, secrets_path: Path | None = None) -> None:
        """Reads the secrets file to import (at :meth:`start`) now, so a broken file stops
        the start with its :class:`SecretsError`."""
        self.secrets_path = secrets_path
        self._to_import = read_records(secrets_path) if secrets_path is not None else []
        self._store: Store | None = None
        self._records: list[TokenRecord] = []
        self._version: str | None = None
        self._checked = -MISS_RECHECK_S
        self._refreshing: asyncio.Lock | None = None
        self._touched: dict[str, float] = {}  # token id -> when this process last wrote it
        self._used: dict[str, str] = {}  # uses not yet written: token id -> ISO instant
        self._listeners: list[RevokedListener] = []
        self._task: asyncio.Task[None] | None = None
        self._warnings = Throttled(logging.getLogger("coordinator"))

    async def start(self, store: Store, *, follow: bool = True) -> None:
        """Import the secrets file's new records into ``store``, read the set, and (with
        ``follow``) keep following it until :meth:`stop`."""
        self._store = store
        self._refreshing = asyncio.Lock()
        if self.secrets_path is not None and self.secrets_path.exists():
            added = await store.import_tokens(self._to_import)
            logging.getLogger("coordinator").info(
                "%s: imported %d token(s) the store did not hold; the store is now the source "
                "of tokens and later edits of this file are not read (use `coordinator token` "
                "or /api/tokens)",
                self.secrets_path,
                len(added),
            )
        self._to_import = []
        await self.refresh()
        if follow:
            self._task = asyncio.create_task(self._follow(), name="tokens")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._flush_usage()

    def on_revoked(self, listener: RevokedListener) -> None:
        """Call ``listener(ids)`` with the ids of tokens that were in force and no longer are."""
        self._listeners.append(listener)

    async def refresh(self) -> None:
        """Read the set again if its version changed, and tell the listeners of revocations.
        Raises the store's errors."""
        assert self._store is not None and self._refreshing is not None, "not started"
        async with self._refreshing:
            self._checked = time.monotonic()
            version = await self._store.tokens_version()
            if version == self._version:
                return
            records = await self._store.tokens()
            if version == "0" and not records and self._records:
                records, version = await self._write_back()
            before = {r.id for r in self._records}
            self._records, self._version = records, version
            gone = frozenset(before - {r.id for r in records})
        if gone:
            for listener in self._listeners:
                await listener(gone)

    async def _write_back(self) -> tuple[list[TokenRecord], str]:
        """The store holds no token and has never counted a change: it lost its data (Redis
        restarted empty). Rather than sign every organiser out mid-event, write back the set
        this process knew, as the store writes back the last state it knew."""
        assert self._store is not None
        logging.getLogger("coordinator").error(
            "THE STORE LOST ITS TOKENS (Redis empty after a restart?): writing back the %d "
            "this process knew",
            len(self._records),
        )
        await self._store.import_tokens(self._records)
        return await self._store.tokens(), await self._store.tokens_version()

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self._flush_usage()
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away: keep the last set, say so (throttled)
                self._warnings.note("tokens_unreadable", reason=str(exc)[:200])

    async def _flush_usage(self) -> None:
        if self._used and self._store is not None:
            used, self._used = self._used, {}
            await self._store.touch_tokens(used)

    def _note_use(self, record: TokenRecord) -> None:
        now = time.monotonic()
        if now - self._touched.get(record.id, -TOUCH_EVERY_S) >= TOUCH_EVERY_S:
            self._touched[record.id] = now
            self._used[record.id] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of a presented token, or None. Checked against every record, in
        constant time for each, so the answer's timing says nothing about near misses."""
        presented = hash_token(token)
        found = None
        for record in self._records:
            if hmac.compare_digest(presented, record.hash):
                found = record
        if found is not None:
            self._note_use(found)
        return found

    async def lookup_fresh(self, token: str) -> TokenRecord | None:
        """:meth:`lookup`, and for a token not known here, a look at the store that begins
        after the miss (so a token created anywhere before it is found), shared by every miss
        meanwhile: at most one every :data:`MISS_RECHECK_S`, whatever the number of unknown
        tokens presented."""
        found = self.lookup(token)
        if found is not None or self._store is None or self._refreshing is None:
            return found
        missed = time.monotonic()
        wait_s = self._checked + MISS_RECHECK_S - missed
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        with contextlib.suppress(Exception):
            if self._checked < missed:
                await self.refresh()
            else:  # one began since the miss: wait for it to end
                async with self._refreshing:
                    pass
        return self.lookup(token)

    def is_valid(self, record: TokenRecord) -> bool:
        """Whether a token accepted earlier is still there (not revoked)."""
        valid = any(r.id == record.id for r in self._records)
        if valid:
            self._note_use(record)
        return valid
