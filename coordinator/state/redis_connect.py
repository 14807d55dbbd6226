"""How to reach Redis: one URL names one server or a Sentinel group; the TLS options of
``rediss://`` and ``rediss+sentinel://``; and a check before the server starts.

- ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` (``rediss://`` for TLS): one server, read by
  redis-py.
- ``redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]``
  (``rediss+sentinel://`` for TLS to the sentinels and to the data servers): the sentinels are
  asked which server is the primary of ``SERVICE`` on every new connection, so after a
  failover each process finds the new primary by itself. The password is the data servers';
  ``?sentinel_password=...`` is the sentinels' own, when they have one.

Platforms give ``rediss://`` with a certificate of their own CA, often self-signed; the TLS
options say how to trust it (a CA file, or an explicit "do not verify"), and the check turns a
refusal into one line naming the URL and the reason instead of a traceback from the server's
startup.

Retries are short on purpose: one stale connection after a failover is replaced at once, but a
Redis that is gone is reported in well under a second, so commands answer ``unavailable``
quickly and the client's retry (same ``id``) does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from coordinator.state.base import StoreError, StoreUnavailable

# redis-py's errors for a server it cannot reach (or that stopped answering).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Redis unreachable, or refusing (``READONLY``, ``OOM``): :class:`StoreUnavailable`."""
    try:
        yield
    except (*UNAVAILABLE, ResponseError) as exc:
        raise StoreUnavailable("Redis is unreachable") from exc


SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DIRECT_SCHEMES = {"redis": False, "rediss": True, "unix": False}
TLS_PREFIXES = ("rediss://", "rediss+sentinel://")
DEFAULT_SENTINEL_PORT = 26379
CONNECT_TIMEOUT_S = 2.0
SENTINEL_TIMEOUT_S = 1.0
HEALTH_CHECK_S = 10


def tls_options(url: str, ca_file: Path | None, no_verify: bool) -> dict[str, Any]:
    """redis-py's options for a ``rediss://`` or ``rediss+sentinel://`` URL: verify against
    ``ca_file`` (a platform's own CA, the host name checked too), or, with ``no_verify``,
    encrypt without checking the certificate; nothing extra by default (the system's CAs).
    Nothing for a URL without TLS."""
    if not url.startswith(TLS_PREFIXES):
        return {}
    if no_verify:
        return {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    if ca_file is not None:
        return {
            "ssl_ca_certs": str(ca_file),
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
        }
    return {}


def verify(url: str, tls: Mapping[str, Any]) -> None:
    """Check that Redis answers (through the sentinels, over TLS, with the password) before
    the server starts: raises :class:`StoreError` naming the URL (without its password) and
    the reason, e.g. a certificate that does not verify. (The same failure inside the
    server's startup would end in a traceback.)"""
    try:
        target = parse_redis_url(url)
    except ValueError as exc:
        raise StoreError(f"--redis-url {exc}") from None
    asyncio.run(_ping(target, tls))


async def _ping(target: RedisTarget, tls: Mapping[str, Any]) -> None:
    clients = RedisClients(target, tls)
    try:
        await clients.client(CONNECT_TIMEOUT_S).ping()
    except (RedisError, OSError) as exc:
        reason = explain(exc)
        if isinstance(exc, MasterNotFoundError):
            reason = await clients.sentinel_problem() or reason
        raise StoreError(f"cannot reach Redis at {target.describe()}: {reason}") from None
    finally:
        await clients.aclose()


def explain(exc: BaseException) -> str:
    """A failure to reach Redis in one line, with the likely fix (redis-py's own text for a
    missing primary lists every sentinel client's repr)."""
    if isinstance(exc, MasterNotFoundError):
        return (
            "no sentinel named a primary for this service (are the sentinels up, is the "
            "service name right, and does each one see a majority of the others?)"
        )
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text = (
            text.rstrip(".")
            + "; to trust the server's certificate, give its CA with --redis-tls-ca"
        )
    return text


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``--redis-url``. ``sentinels`` is empty for one server named by ``url``."""

    url: str
    tls: bool
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def describe(self) -> str:
        """Where this is, without any password: for messages and logs."""
        if not self.uses_sentinel:
            return safe_url(self.url)
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"the sentinels {hosts} (service {self.service!r})"


def parse_redis_url(url: str) -> RedisTarget:
    """Read a Redis URL; raises ``ValueError`` saying what is wrong with it (never showing
    the password)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or (scheme not in SENTINEL_SCHEMES and scheme not in DIRECT_SCHEMES):
        known = ", ".join(f"{s}://" for s in (*DIRECT_SCHEMES, *SENTINEL_SCHEMES))
        raise ValueError(f"{safe_url(url)}: the scheme must be one of {known}")
    if scheme in DIRECT_SCHEMES:
        return RedisTarget(url=url, tls=DIRECT_SCHEMES[scheme])
    location, _, query = rest.partition("?")
    authority, _, path = location.partition("/")
    userinfo, _, hosts = authority.rpartition("@")
    username, password = _credentials(userinfo)
    where = safe_url(url)
    sentinels = tuple(_host_port(item, where) for item in hosts.split(","))
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        raise ValueError(f"{where}: name the Sentinel service after the hosts, e.g. /mymaster")
    if db_text and not db_text.isdigit():
        raise ValueError(f"{where}: the database after the service must be a number")
    options = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"sentinel_password"})
    if unknown:
        raise ValueError(f"{where}: unknown option {unknown[0]!r} (known: sentinel_password)")
    return RedisTarget(
        url=url,
        tls=SENTINEL_SCHEMES[scheme],
        sentinels=sentinels,
        service=urllib.parse.unquote(service),
        db=int(db_text or 0),
        username=username,
        password=password,
        sentinel_password=options.get("sentinel_password", [None])[-1] or None,
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, has_password, password = userinfo.partition(":")
    return (
        urllib.parse.unquote(user) or None,
        urllib.parse.unquote(password) if has_password else None,
    )


def _host_port(item: str, where: str) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST`` (port 26379) or ``[IPv6]:PORT``."""
    item = item.strip()
    if item.startswith("["):
        host, _, tail = item[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"{where}: a sentinel address is empty; list them as HOST:PORT,HOST:PORT")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"{where}: sentinel {item!r} has no valid port")
    return host, int(port_text or DEFAULT_SENTINEL_PORT)


def safe_url(url: str) -> str:
    """A Redis URL without its password or its query (which may hold one), for messages and
    logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    rest = rest.partition("?")[0]
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}://{rest}"


class RedisClients:
    """The clients of one store, built from one target: each is a redis-py asyncio client
    that, with Sentinel, follows the primary from one failover to the next."""

    def __init__(self, target: RedisTarget, tls: Mapping[str, Any]) -> None:
        self.target = target
        self.tls = dict(tls) if target.tls else {}  # redis-py's ssl_* options (tls_options)
        self._sentinel: Sentinel | None = None
        self._clients: list[Any] = []

    def client(self, socket_timeout_s: float) -> Any:
        """A new client (its own connection pool) whose commands time out after
        ``socket_timeout_s``: longer than any blocking command it sends."""
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout_s,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "health_check_interval": HEALTH_CHECK_S,
            "decode_responses": True,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            **self.tls,
        }
        if not self.target.uses_sentinel:
            made = aioredis.Redis.from_url(self.target.url, **options)
        else:
            made = self._sentinels().master_for(
                self.target.service,
                db=self.target.db,
                username=self.target.username,
                password=self.target.password,
                ssl=self.target.tls,
                **options,
            )
        self._clients.append(made)
        return made

    def _sentinels(self) -> Sentinel:
        if self._sentinel is None:
            tls = {"ssl": True, **self.tls} if self.target.tls else {}
            self._sentinel = Sentinel(  # type: ignore[no-untyped-call]  # unannotated upstream
                list(self.target.sentinels),
                # An answer counts only from a sentinel that sees a majority of those listed,
                # so one cut off from the others cannot send us to an old primary.
                min_other_sentinels=len(self.target.sentinels) // 2,
                sentinel_kwargs={
                    "socket_timeout": SENTINEL_TIMEOUT_S,
                    "socket_connect_timeout": SENTINEL_TIMEOUT_S,
                    "password": self.target.sentinel_password,
                    "decode_responses": True,
                    # One unreachable sentinel must not delay asking the next one.
                    "retry": Retry(NoBackoff(), 0),
                    **tls,
                },
            )
        return self._sentinel

    async def sentinel_problem(self) -> str | None:
        """Why the first sentinel that fails fails (a refused connection, a certificate),
        which redis-py's "no master found" does not say; None when each one answers."""
        for sentinel in self._sentinels().sentinels:
            where = sentinel.connection_pool.connection_kwargs
            try:
                await sentinel.ping()
            except (RedisError, OSError) as exc:
                return f"sentinel {where['host']}:{where['port']}: {explain(exc)}"
        return None

    async def aclose(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()
        if self._sentinel is not None:
            with contextlib.suppress(Exception):
                await self._sentinel.aclose()
