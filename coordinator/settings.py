"""The one environment contract: every setting of ``coordinator serve``, once.

Each setting has a field on :class:`Settings`, a default, and at most one environment
variable (:data:`ENVIRONMENT`). The CLI builds its ``serve`` defaults from
:meth:`Settings.from_env`; ``--workers`` hands each worker process its settings back through
:meth:`Settings.to_env`, so what a variable means is written here and nowhere else. A test
checks that docs/deploy.md names every variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from coordinator.limits import Limits

DEFAULT_CONFIG = Path("config/cities.yaml")
DEFAULT_DATA_DIR = Path("data")
DEFAULT_PORT = 8000
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable or option."""


@dataclass(frozen=True)
class Settings:
    """Everything ``serve`` needs to start; built by the CLI, by ``from_env`` or by tests."""

    config_path: Path = DEFAULT_CONFIG
    data_dir: Path = DEFAULT_DATA_DIR
    secrets_path: Path | None = None
    redis_url: str | None = None
    redis_prefix: str | None = None
    redis_tls_ca: Path | None = None  # a CA file to verify a rediss:// server's certificate
    redis_tls_no_verify: bool = False  # rediss:// without checking the certificate (warns)
    redis_min_replicas: int | None = None  # None: 1 while the primary has a replica online
    demo: bool = False
    demo_lead: timedelta = timedelta(minutes=10)
    limits: Limits = field(default_factory=Limits)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names links may use (no event.public_url)
    osc_port: int | None = None  # UDP; off unless set
    osc_host: str = "127.0.0.1"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    log_level: str = "info"
    log_format: str = "text"
    # Peers whose X-Forwarded-For/-Proto/-Host are believed (uvicorn's own default).
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The defaults overridden by every variable of :data:`ENVIRONMENT` that is set and
        not empty. Raises :class:`SettingsError` naming a variable whose value is unusable."""
        values: dict[str, Any] = {}
        for name, var in ENVIRONMENT.items():
            raw = env.get(var.name, "")
            if raw:
                try:
                    values[name] = var.parse(raw)
                except ValueError as exc:
                    raise SettingsError(f"${var.name}: {exc}") from None
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The variables that make :meth:`from_env` give these settings back (defaults
        omitted); ``demo_lead`` is not carried, it has no variable."""
        default = Settings()
        env = {}
        for name, var in ENVIRONMENT.items():
            value = getattr(self, name)
            if value != getattr(default, name):
                env[var.name] = var.format(value)
        return env

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with the given fields replaced (the CLI's options over the environment)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"no setting {sorted(unknown)[0]!r}")
        return replace(self, **changes)

    def problems(self) -> list[str]:
        """What stops these settings from serving, each naming the option; empty when fine."""
        found = []
        if self.workers < 1:
            found.append("--workers must be at least 1")
        if self.workers > 1 and self.osc_port is not None:
            found.append("--osc-port works with one process (each would bind the port)")
        if self.workers > 1 and not self.redis_url:
            found.append(
                "--workers above 1 needs --redis-url: processes share their state in Redis"
            )
        if self.redis_min_replicas is not None and self.redis_min_replicas < 0:
            found.append(f"--redis-min-replicas {self.redis_min_replicas}: use 0 or more")
        if not 0 <= self.port < 65536:
            found.append(f"--port {self.port}: use 0-65535 (0: any free port)")
        if self.log_level not in LOG_LEVELS:
            found.append(f"--log-level {self.log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            found.append(f"--log-format {self.log_format!r}: use one of {', '.join(LOG_FORMATS)}")
        found.extend(self._redis_tls_problems())
        found.extend(
            f"--forwarded-allow-ips {entry!r}: use IP addresses or networks (10.0.0.0/8), or *"
            for entry in self.forwarded_allow_ips
            if not _is_address_or_network(entry)
        )
        return found

    def _redis_tls_problems(self) -> list[str]:
        found = []
        tls = (self.redis_url or "").startswith(("rediss://", "rediss+sentinel://"))
        if self.redis_tls_ca is not None and not tls:
            found.append("--redis-tls-ca needs a rediss:// or rediss+sentinel:// --redis-url")
        if self.redis_tls_no_verify and not tls:
            found.append(
                "--redis-tls-no-verify needs a rediss:// or rediss+sentinel:// --redis-url"
            )
        if self.redis_tls_ca is not None and self.redis_tls_no_verify:
            found.append("--redis-tls-ca and --redis-tls-no-verify: choose one")
        if self.redis_tls_ca is not None and not self.redis_tls_ca.is_file():
            found.append(f"--redis-tls-ca {self.redis_tls_ca}: no such file")
        return found

    def with_platform_workers(self, workers_given: bool) -> tuple[Settings, str | None]:
        """A platform's ``WEB_CONCURRENCY`` (not an explicit ``--workers``) above 1 without
        Redis means one process, and a line saying why: platforms set it on every dyno, and
        refusing would stop a documented deploy at boot. An explicit ``--workers`` is left for
        :meth:`problems` to refuse."""
        if workers_given or self.workers <= 1 or self.redis_url:
            return self, None
        note = (
            f"${ENVIRONMENT['workers'].name}={self.workers} ignored: several processes share "
            f"their state in Redis (set ${ENVIRONMENT['redis_url'].name}); serving with one"
        )
        return self.with_changes(workers=1), note


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: its name, how its text becomes the field's value and back,
    and what it sets (for ``--help`` and the docs test)."""

    name: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str]
    help: str


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"{text!r}: use 1 (on) or 0 (off)")
    return text == "1"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _hosts(text: str) -> tuple[str, ...]:
    return tuple(host.lower() for host in _csv(text))


def _limits(text: str) -> Limits:
    return Limits().with_overrides(list(_csv(text)))


def _log_level(text: str) -> str:
    return text.lower()


def _is_address_or_network(entry: str) -> bool:
    if entry == "*":
        return True
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _flag_text(value: bool) -> str:
    return "1" if value else "0"


ENVIRONMENT: dict[str, EnvVar] = {
    "config_path": EnvVar("COORDINATOR_CONFIG", Path, str, "the event's config file"),
    "data_dir": EnvVar(
        "COORDINATOR_DATA_DIR", Path, str, "where the embedded store keeps its database"
    ),
    "secrets_path": EnvVar("COORDINATOR_SECRETS", Path, str, "the token hashes file"),
    "redis_url": EnvVar("REDIS_URL", str, str, "share state over Redis at this URL"),
    "redis_prefix": EnvVar("COORDINATOR_REDIS_PREFIX", str, str, "prefix of every Redis key"),
    "redis_tls_ca": EnvVar(
        "COORDINATOR_REDIS_TLS_CA", Path, str, "CA file that signed the rediss:// certificate"
    ),
    "redis_tls_no_verify": EnvVar(
        "COORDINATOR_REDIS_TLS_NO_VERIFY", _flag, _flag_text, "1: rediss:// unverified (warns)"
    ),
    "redis_min_replicas": EnvVar(
        "COORDINATOR_REDIS_MIN_REPLICAS",
        _whole_number,
        str,
        "Redis replicas that must hold a change before it is acknowledged",
    ),
    "demo": EnvVar("COORDINATOR_DEMO", _flag, _flag_text, "1: start the event soon"),
    "limits": EnvVar(
        "COORDINATOR_LIMITS", _limits, Limits.as_env, "limits as NAME=VALUE,NAME=VALUE"
    ),
    "allowed_origins": EnvVar(
        "COORDINATOR_ALLOWED_ORIGINS", _csv, ",".join, "other origins allowed to connect"
    ),
    "allowed_hosts": EnvVar(
        "COORDINATOR_ALLOWED_HOSTS", _hosts, ",".join, "host names links may be drawn from"
    ),
    "osc_port": EnvVar("COORDINATOR_OSC_PORT", _whole_number, str, "UDP port for OSC"),
    "osc_host": EnvVar("COORDINATOR_OSC_HOST", str, str, "address of the OSC listener"),
    "host": EnvVar("HOST", str, str, "address to listen on"),
    "port": EnvVar("PORT", _whole_number, str, "port to listen on"),
    "workers": EnvVar("WEB_CONCURRENCY", _whole_number, str, "server processes on this host"),
    "log_level": EnvVar("COORDINATOR_LOG_LEVEL", _log_level, str, "debug, info, warning, error"),
    "log_format": EnvVar("COORDINATOR_LOG_FORMAT", str.lower, str, "text, or json (a line each)"),
    "forwarded_allow_ips": EnvVar(
        "FORWARDED_ALLOW_IPS", _csv, ",".join, "proxies whose X-Forwarded-* headers are believed"
    ),
}
