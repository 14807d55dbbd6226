"""Access tokens: created once, stored only as hashes, compared in constant time.

A token is 32 random bytes (``secrets.token_urlsafe``). Because it is long and random, a plain
SHA-256 of it is enough to store (a slow password hash protects short human secrets; it buys
nothing here). The secrets file is re-read when it changes on disk, so ``coordinator token
add`` and ``revoke`` take effect on a running server without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from coordinator.logs import Throttled
from coordinator.rules import Actor, Role

DEFAULT_SECRETS = Path("config/secrets.yaml")
STAFF_ROLES = (Role.COORDINATOR, Role.OPERATOR, Role.ADMIN)


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


def add_token(path: Path, role: Role, city: str | None, label: str = "") -> tuple[str, TokenRecord]:
    """Create a token; returns the token (shown once) and the stored record (hash only)."""
    if role in (Role.COORDINATOR, Role.OPERATOR) and not city:
        raise ValueError(f"a {role} token needs --city")
    if role is Role.ADMIN and city:
        raise ValueError("an admin token is not bound to a city")
    token = secrets.token_urlsafe(32)
    record = TokenRecord(
        id="t-" + secrets.token_hex(4),
        role=role,
        city=city,
        hash=hash_token(token),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        label=label,
    )
    write_records(path, [*read_records(path), record])
    return token, record


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove a token by id; False when there was none."""
    records = read_records(path)
    kept = [r for r in records if r.id != token_id]
    if len(kept) == len(records):
        return False
    write_records(path, kept)
    return True


class TokenBook:
    """The tokens a running server accepts, re-read whenever the secrets file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._records: list[TokenRecord] = []
        self._loaded = False
        self._warnings = Throttled(logging.getLogger("coordinator"))
        self.reload()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def reload(self) -> None:
        """Re-read the file if it changed. A file that does not parse (caught half-written,
        or broken by hand) keeps the last good tokens in force, with a warning, and is read
        again on the next check: a moment's bad file must not lock every coordinator out."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        try:
            self._records = read_records(self.path)
        except SecretsError as exc:
            if not self._loaded:
                raise
            self._warnings.note("secrets_unreadable", reason=str(exc)[:200])
            return
        self._stamp = stamp
        self._loaded = True

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of a presented token, or None. Checked against every record, in
        constant time for each, so the answer's timing says nothing about near misses."""
        self.reload()
        presented = hash_token(token)
        found = None
        for record in self._records:
            if hmac.compare_digest(presented, record.hash):
                found = record
        return found

    def is_valid(self, record: TokenRecord) -> bool:
        """Whether a token accepted earlier is still there (not revoked)."""
        self.reload()
        return any(r.id == record.id for r in self._records)
